"""fhirgen's imaging rules: DICOM-aware checks of ImagingSelection beyond the base specification.

The FHIR R5 ImagingSelection definitions state rules in prose (``requirements`` such as "The
number of values must be a multiple of two") and defer to DICOM for others (graphic types, UID
syntax, the SOP Class registry). No base invariant checks them. They are kept as data, apart from
the official definitions, in ``definitions/fhirgen-imaging-rules/``:

* ``StructureDefinition-fhirgen-imaging-rules.json``: a constraint on ImagingSelection (a
  differential only, canonical under the fhirgen namespace, ``version`` 1.0.0) whose elements
  carry the rules as FHIRPath ``constraint`` entries: ``key`` (``isr-N``), ``severity`` (the
  default, ``warning``), ``human``, ``expression``, ``source`` (a link to the cited text) and
  ``requirements`` (the cited text, quoted). A constraint may carry the extension
  :data:`HINT_URL` naming a run-time helper of ``fhirgen.runtime.dicom`` that adds what was found
  to the failure message (``closest-sop-class``: the nearest known SOP Class);
* ``ValueSet-dicom-sop-classes.json``: every SOP Class of the DICOM UID registry, as pydicom
  publishes it, with an expansion, for ``memberOf()``. It is made, never typed, by
  ``python -m fhirgen.imaging sop-classes --output definitions/fhirgen-imaging-rules/ValueSet-dicom-sop-classes.json``
  (``pip install 'fhirgen[dicom]'``); ``--check`` says whether the committed file is what the
  installed pydicom gives.

Why a folder of its own: ``fhirgen fetch`` owns only the package folders its manifest names, and
the manifest's integrity checks list only those; the loader indexes this folder with the rest of
``definitions/`` but nothing of the base model refers to its canonical URLs (a fhirgen namespace;
the value set is not the URL core binds ``sopClass`` to), so the rules reach the validators only
through :func:`find_rules` / :func:`load_rules`, never by accident.

Generation: :func:`find_rules` finds the folder among the definitions sources
(``fhirgen.pipeline``), :func:`build_imaging_view` compiles every rule against the model and
``templates/imaging_rules.py.jinja`` writes ``imaging_rules.py`` into the generated package; it
is evaluated at run time by ``fhirgen.runtime.imaging`` (``fhirgen validate --imaging-rules``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fhirpath import CompiledInvariant, compile_constraint
from .ir import Constraint, Model
from .loader import DefinitionError
from .views import py_literal

__all__ = [
    "HINT_URL",
    "RULES_FOLDER",
    "RULES_URL",
    "SOP_CLASSES_URL",
    "ImagingRule",
    "ImagingRules",
    "ImagingRulesError",
    "build_imaging_view",
    "compile_rules",
    "find_rules",
    "load_rules",
    "sop_class_value_set",
]

#: The folder of ``definitions/`` holding the rules and their value set.
RULES_FOLDER = "fhirgen-imaging-rules"
NAMESPACE = "http://fhirgen.example.org/fhir"
RULES_URL = f"{NAMESPACE}/StructureDefinition/fhirgen-imaging-rules"
SOP_CLASSES_URL = f"{NAMESPACE}/ValueSet/dicom-sop-classes"
#: Extension on a constraint naming a helper of ``fhirgen.runtime.dicom`` (a ``valueCode``).
HINT_URL = f"{NAMESPACE}/StructureDefinition/imaging-rule-hint"
#: How DICOM UIDs are written as FHIR codes (``urn:oid:1.2.840...``) and under which system.
UID_SYSTEM = "urn:ietf:rfc:3986"
#: A fixed expansion timestamp (FHIR requires one; a clock would change the file on every run).
TIMESTAMP = "2026-11-27T00:00:00Z"
HINTS = frozenset({"closest-sop-class"})
SEVERITIES = frozenset({"error", "warning"})


class ImagingRulesError(DefinitionError):
    """A rules file that cannot be used (unreadable, not the expected StructureDefinition, a
    constraint without key, severity, human or expression): unusable definitions."""


@dataclass(frozen=True)
class ImagingRule:
    """One rule: the element path it sits on, the constraint, and its run-time hint if any."""

    path: str  # "ImagingSelection.instance.imageRegion2D"
    constraint: Constraint
    hint: str | None = None  # a helper of fhirgen.runtime.dicom ("closest-sop-class")

    @property
    def key(self) -> str:
        return self.constraint.key


@dataclass(frozen=True)
class ImagingRules:
    """The rules file read: its canonical URL and version, the rules in file order, and the
    value sets of the folder (URL -> ValueSet resource)."""

    url: str
    version: str
    rules: tuple[ImagingRule, ...]
    value_sets: Mapping[str, dict[str, Any]]

    def sop_classes(self) -> dict[str, str]:
        """SOP Class UID -> name, from the expansion of :data:`SOP_CLASSES_URL`."""
        value_set = self.value_sets.get(SOP_CLASSES_URL)
        if value_set is None:
            return {}
        return {
            str(c["code"]).removeprefix("urn:oid:"): str(c.get("display", ""))
            for c in value_set.get("expansion", {}).get("contains", ())
        }

    def expansions(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """(system, code) pairs of each expanded value set, for ``memberOf()``."""
        return {
            url: tuple((str(c.get("system", "")), str(c["code"]))
                       for c in vs.get("expansion", {}).get("contains", ()))
            for url, vs in sorted(self.value_sets.items())
            if "expansion" in vs
        }


# ------------------------------------------------------------------------------- loading


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ImagingRulesError(f"{path.name}: cannot be read as JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ImagingRulesError(f"{path.name}: not a FHIR resource")
    return value


def _rule(path: str, raw: Any, where: str) -> ImagingRule:
    if not isinstance(raw, dict):
        raise ImagingRulesError(f"{where}: a constraint is not an object")
    missing = [k for k in ("key", "severity", "human", "expression")
               if not isinstance(raw.get(k), str) or not raw[k].strip()]
    if missing:
        raise ImagingRulesError(f"{where}: constraint {raw.get('key', '?')} has no {', '.join(missing)}")
    if raw["severity"] not in SEVERITIES:
        raise ImagingRulesError(f"{where}: {raw['key']} has severity {raw['severity']!r}")
    hints = [e.get("valueCode") for e in raw.get("extension", ())
             if isinstance(e, dict) and e.get("url") == HINT_URL]
    if any(h not in HINTS for h in hints) or len(hints) > 1:
        raise ImagingRulesError(f"{where}: {raw['key']} names an unknown hint {hints}")
    constraint = Constraint(
        key=raw["key"], severity=raw["severity"], human=raw["human"],
        expression=raw["expression"], source=raw.get("source"),
        requirements=raw.get("requirements"),
    )
    return ImagingRule(path, constraint, hints[0] if hints else None)


def load_rules(folder: Path) -> ImagingRules:
    """Read the rules StructureDefinition and the value sets of *folder*.

    Raises :class:`ImagingRulesError` naming the file and the problem when the folder is not a
    usable rules folder (no rules StructureDefinition, a duplicated key, a constraint missing a
    part)."""
    sd_path = folder / "StructureDefinition-fhirgen-imaging-rules.json"
    if not sd_path.is_file():
        raise ImagingRulesError(f"{folder}: no StructureDefinition-fhirgen-imaging-rules.json")
    sd = _read_json(sd_path)
    if sd.get("resourceType") != "StructureDefinition" or sd.get("derivation") != "constraint" \
            or sd.get("type") != "ImagingSelection":
        raise ImagingRulesError(f"{sd_path.name}: not a constraint StructureDefinition on "
                                "ImagingSelection")
    rules: list[ImagingRule] = []
    for element in sd.get("differential", {}).get("element", ()):
        path = element.get("path") if isinstance(element, dict) else None
        if not isinstance(path, str) or not (path == "ImagingSelection"
                                             or path.startswith("ImagingSelection.")):
            raise ImagingRulesError(f"{sd_path.name}: element path {path!r} is not in ImagingSelection")
        for raw in element.get("constraint", ()):
            rules.append(_rule(path, raw, f"{sd_path.name} {path}"))
    keys = [r.key for r in rules]
    doubled = sorted({k for k in keys if keys.count(k) > 1})
    if doubled:
        raise ImagingRulesError(f"{sd_path.name}: keys used twice: {', '.join(doubled)}")
    value_sets = {}
    for path in sorted(folder.glob("ValueSet-*.json")):
        resource = _read_json(path)
        if resource.get("resourceType") == "ValueSet" and isinstance(resource.get("url"), str):
            value_sets[resource["url"]] = resource
    return ImagingRules(str(sd.get("url")), str(sd.get("version")), tuple(rules), value_sets)


def compile_rules(rules: ImagingRules, model: Model | None = None,
                  severity: str | None = None) -> list[CompiledInvariant]:
    """Each rule compiled by the invariant compiler, in file order, with its default severity or
    *severity* (``error``/``warning``) for all. The context is the element path the rule sits
    on; a rule the compiler cannot handle raises ``FhirPathCompileError`` with its key."""
    if severity is not None and severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r} is not error or warning")
    return [
        compile_constraint(
            rule.key, rule.constraint.expression or "", rule.path, model,
            severity=severity or rule.constraint.severity, human=rule.constraint.human,
        )
        for rule in rules.rules
    ]


def find_rules(definitions: Sequence[Path | str]) -> ImagingRules | None:
    """The rules of the first definitions folder that has a :data:`RULES_FOLDER` (``None`` when
    none has: other definitions, a package file, the test fixtures)."""
    for source in definitions:
        folder = Path(source) / RULES_FOLDER
        if folder.is_dir():
            return load_rules(folder)
    return None


# ------------------------------------------------------------------- generated module view


@dataclass(frozen=True)
class ImagingModuleView:
    """What ``templates/imaging_rules.py.jinja`` prints (literals already rendered)."""

    header: tuple[str, ...]
    url: str
    version: str
    functions: tuple[str, ...]  # compiled sources
    rules: tuple[str, ...]  # Rule(...) expressions, in file order
    value_sets: tuple[tuple[str, str], ...]  # (URL, ValueSet(...) expression) memberOf() reads
    sop_classes: tuple[tuple[str, str], ...]  # (UID literal, name literal)


def _element_type(model: Model, path: str) -> str:
    """The FHIR type of the values at definition *path* (the resource type for the root)."""
    owner, _, name = path.rpartition(".")
    if not owner:
        return path
    for element in model.type(owner).elements:
        if element.name == name:
            if element.backbone:
                return element.types[0].code if element.types else "BackboneElement"
            if len(element.types) == 1:
                return element.types[0].code
    raise ImagingRulesError(f"{path}: not an element of one type in the model")


def build_imaging_view(rules: ImagingRules, model: Model,
                       header: tuple[str, ...]) -> ImagingModuleView:
    """The generated module's view: every rule compiled against *model* (static types), where it
    sits, and the value sets and SOP Class names its rules and hints read."""
    functions: list[str] = []
    lines: list[str] = []
    used: set[str] = set()
    for rule, compiled in zip(rules.rules, compile_rules(rules, model), strict=True):
        functions.append(compiled.source)
        used.update(compiled.value_sets)
        human = " ".join(rule.constraint.human.split())
        cite = f" (fhirgen imaging rule; source: {rule.constraint.source})" \
            if rule.constraint.source else " (fhirgen imaging rule)"
        lines.append(
            f"Rule({py_literal(rule.path)}, {py_literal(_element_type(model, rule.path))}, "
            f"{compiled.name}, {py_literal(rule.key)}, {py_literal(rule.constraint.severity)}, "
            f"{py_literal(human + cite)}"
            + (f", hint={py_literal(rule.hint)}" if rule.hint else "") + ")"
        )
    expansions = rules.expansions()
    missing = sorted(used - set(expansions))
    if missing:
        raise ImagingRulesError(f"memberOf() of a value set the rules folder does not expand: "
                                f"{', '.join(missing)}")
    value_sets = tuple(
        (url, f"ValueSet({py_literal(url)}, ("
              + "".join(f"({py_literal(s)}, {py_literal(c)}), " for s, c in sorted(expansions[url]))
              + "))")
        for url in sorted(used)
    )
    hinted = any(rule.hint == "closest-sop-class" for rule in rules.rules)
    sop_classes = tuple(
        (py_literal(uid), py_literal(name)) for uid, name in sorted(rules.sop_classes().items())
    ) if hinted else ()
    return ImagingModuleView(header, rules.url, rules.version, tuple(functions), tuple(lines),
                             value_sets, sop_classes)


# ---------------------------------------------------------------- SOP Class value set


def sop_class_value_set() -> dict[str, Any]:
    """A ValueSet of every SOP Class of pydicom's UID registry (``pydicom.uid.UID_dictionary``,
    entries of type ``SOP Class``, generated by pydicom from DICOM PS3.6 Table A-1), with an
    expansion; retired classes are kept, marked ``inactive`` (a retired class is still known)."""
    import pydicom
    from pydicom.uid import UID_dictionary  # type: ignore[attr-defined]

    classes = sorted(
        (uid, str(entry[0]), bool(entry[3]))
        for uid, entry in UID_dictionary.items()
        if entry[1] == "SOP Class"
    )
    contains = []
    for uid, name, retired in classes:
        item: dict[str, Any] = {"system": UID_SYSTEM, "code": f"urn:oid:{uid}", "display": name}
        if retired:
            item["inactive"] = True
        contains.append(item)
    return {
        "resourceType": "ValueSet",
        "id": "dicom-sop-classes",
        "url": SOP_CLASSES_URL,
        "version": pydicom.__version__,
        "name": "DicomSopClasses",
        "title": "DICOM SOP Classes (UID registry, as pydicom publishes it)",
        "status": "active",
        "description": (
            "Every SOP Class of the DICOM UID registry (PS3.6 Annex A, Table A-1), as "
            f"pydicom {pydicom.__version__} publishes it (pydicom.uid.UID_dictionary, entries "
            "of type 'SOP Class'; retired ones inactive), written as FHIR writes DICOM UIDs: "
            f"system {UID_SYSTEM}, code urn:oid:<UID>. Made by `python -m fhirgen.imaging "
            "sop-classes`; used by the fhirgen imaging rules, not by the base specification."
        ),
        "compose": {"include": [{
            "system": UID_SYSTEM,
            "concept": [{"code": c["code"], "display": c["display"]} for c in contains],
        }]},
        "expansion": {
            "identifier": f"urn:fhirgen:dicom-sop-classes:pydicom-{pydicom.__version__}",
            "timestamp": TIMESTAMP,
            "total": len(contains),
            "parameter": [
                {"name": "pydicom-version", "valueString": pydicom.__version__},
                {"name": "made-by", "valueString": "python -m fhirgen.imaging sop-classes"},
            ],
            "contains": contains,
        },
    }


def value_set_text(value_set: Mapping[str, Any]) -> str:
    """The file text of a value set as committed (indent 2, UTF-8, final newline)."""
    return json.dumps(value_set, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fhirgen.imaging sop-classes [--output FILE | --check FILE]``."""
    parser = argparse.ArgumentParser(prog="python -m fhirgen.imaging",
                                     description="Make the value sets of fhirgen's imaging rules.")
    commands = parser.add_subparsers(dest="command", required=True)
    sop = commands.add_parser("sop-classes", help="the DICOM SOP Class ValueSet, from pydicom")
    target = sop.add_mutually_exclusive_group()
    target.add_argument("--output", type=Path, help="write it to FILE (default: standard output)")
    target.add_argument("--check", type=Path, help="exit 1 if FILE differs from what pydicom gives")
    args = parser.parse_args(argv)
    try:
        text = value_set_text(sop_class_value_set())
    except ImportError:
        print("error: pydicom is needed (pip install 'fhirgen[dicom]')", file=sys.stderr)
        return 2
    if args.check is not None:
        current = args.check.read_text(encoding="utf-8") if args.check.is_file() else ""
        if current != text:
            print(f"{args.check}: not what pydicom gives; re-run with --output", file=sys.stderr)
            return 1
        return 0
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
