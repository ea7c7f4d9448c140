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
import ast
import copy
import dataclasses
import hashlib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fhirpath import CompiledInvariant, compile_constraint
from .ir import Constraint, Model
from .loader import DefinitionError
from .regex_dfa import compile_search_dfa
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
    walk: str  # the source of ``_walk``, the checker specialised to the rules (see _walk_source)
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
    compiled_rules = compile_rules(rules, model)
    for rule, compiled in zip(rules.rules, compiled_rules, strict=True):
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
    walk = _walk_source(rules, compiled_rules)
    return ImagingModuleView(header, rules.url, rules.version, tuple(functions), tuple(lines),
                             walk, value_sets, sop_classes)


# ------------------------------------------------------------------------ the generated walk
#
# The interpreted checker (fhirgen.runtime.imaging.ImagingRules.reference_checker) asks each
# site's group on each object holding its element, site after site: for a bench resource that
# is a Python call per rule per value, and a walk down to the instances per site. The walk the
# generator writes instead goes over the resource once and asks the JSON forms of each site
# inline, reading each value once for all the forms of its site. What they do not all pass
# goes to the site's group (the exact path), afterwards and in the order of the sites.

#: The walk's own variables (``_walk_source``): a JSON form naming a global of one of these
#: names is called rather than inlined, where the name would mean the variable. Any other global
#: (``fp``, ``VALUE_SETS``, ``_RE_...``, builtins) means the same in the walk, in the same module.
_WALK_NAMES = re.compile(r"ok|late|node|path|out|sites|exact|check|[ceiprxy][0-9]+(_[0-9]+)?"
                         r"|_t[0-9_].*|_WALK_.*|_passed_.*")
_SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass(frozen=True)
class _Form:
    """A JSON form (``fhirgen.fhirpath.specialise``) taken apart to be asked inline: whether
    its focus must be an object, the values it reads off the focus ``d`` (in order), the tests
    of their kinds, and the verdict; ``stops`` when a part of it may raise ``fp.NeedsNodes``
    (which the form catches, leaving the value to the rule's function)."""

    name: str
    on_object: bool
    reads: tuple[tuple[str, ast.expr], ...]
    guards: tuple[ast.expr, ...]
    verdict: ast.expr
    stops: bool


@dataclass(frozen=True)
class _WalkSite:
    """One site as :meth:`fhirgen.runtime.imaging.ImagingRules.sites` makes it: its index, the
    steps to the objects holding the element, the element's JSON name (``None``: the resource),
    its rules' keys, the JSON form of each rule (its name, or ``None``), and the parts of those
    there are (``None``: called, not inlined). ``partly`` is the index of the group of its rules
    without JSON form in the walk's table (``exact_groups``), when it has both kinds;
    ``focus_free`` when none of those reads its focus (:func:`_focus_free`)."""

    index: int
    steps: tuple[str, ...]
    name: str | None
    keys: tuple[str, ...]
    path: str
    names: tuple[str | None, ...]
    forms: tuple[tuple[str, _Form | None], ...]
    partly: int | None = None
    focus_free: bool = False

    @property
    def formless(self) -> tuple[str, ...]:
        """The keys of its rules without JSON form."""
        return tuple(key for key, name in zip(self.keys, self.names, strict=True) if name is None)


def _json_form(compiled: CompiledInvariant) -> tuple[str, _Form | None, dict[str, str]] | None:
    """The JSON form the rule's function is marked with (``@fp.json_form(name)``): its name,
    its parts when it has the shape the specialiser writes (else ``None``: the walk calls it),
    and the regular expressions of the source (constant name -> pattern). ``None`` when the
    rule has no JSON form."""
    module = ast.parse(compiled.source)
    functions = {node.name: node for node in module.body if isinstance(node, ast.FunctionDef)}
    function = functions.get(compiled.name)
    name = None
    for decorator in function.decorator_list if function is not None else ():
        if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "fp.json_form" \
                and len(decorator.args) == 1 and isinstance(decorator.args[0], ast.Name):
            name = decorator.args[0].id
    if name is None or name not in functions:
        return None
    regexes = {}
    for node in module.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Call) \
                and ast.unparse(node.value.func) == "fp.compiled_regex" \
                and len(node.value.args) == 1 and isinstance(node.value.args[0], ast.Constant) \
                and isinstance(node.value.args[0].value, str):
            regexes[node.targets[0].id] = node.value.args[0].value
    return name, _form_parts(functions[name]), regexes


def _form_parts(function: ast.FunctionDef) -> _Form | None:
    """The parts of a JSON form written as ``specialise._decide`` writes it::

        [try:]
            [if d.__class__ is dict:]
                vN = <read of d> ...
                [if <guards>:]
                    return <verdict>
        [except fp.NeedsNodes: pass]
        return fp.Undecided.GENERAL

    or ``None`` for any other shape, or a global the walk's variables would hide."""
    body = list(function.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if not body or ast.unparse(body[-1]) != "return fp.Undecided.GENERAL":
        return None
    body = body[:-1]
    stops = False
    if len(body) == 1 and isinstance(body[0], ast.Try):
        attempt = body[0]
        handler = attempt.handlers[0] if len(attempt.handlers) == 1 else None
        if handler is None or attempt.orelse or attempt.finalbody or handler.type is None \
                or ast.unparse(handler.type) != "fp.NeedsNodes" or handler.name is not None \
                or len(handler.body) != 1 or not isinstance(handler.body[0], ast.Pass):
            return None
        body, stops = list(attempt.body), True
    on_object = False
    if len(body) == 1 and isinstance(body[0], ast.If) and not body[0].orelse \
            and ast.unparse(body[0].test) == "d.__class__ is dict":
        body, on_object = list(body[0].body), True
    reads: list[tuple[str, ast.expr]] = []
    while body and isinstance(body[0], ast.Assign) and len(body[0].targets) == 1 \
            and isinstance(body[0].targets[0], ast.Name):
        reads.append((body[0].targets[0].id, body[0].value))
        body = body[1:]
    guards: list[ast.expr] = []
    if len(body) == 1 and isinstance(body[0], ast.If) and not body[0].orelse:
        test = body[0].test
        guards = list(test.values) if isinstance(test, ast.BoolOp) \
            and isinstance(test.op, ast.And) else [test]
        body = list(body[0].body)
    if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
        return None
    verdict = body[0].value
    expressions = [value for _, value in reads] + guards + [verdict]
    own = {"d"} | {var for var, _ in reads} | {
        node.target.id for e in expressions for node in ast.walk(e)
        if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name)}
    for expression in expressions:
        for node in ast.walk(expression):
            if isinstance(node, _SCOPES):
                return None
            if isinstance(node, ast.Name) and node.id not in own \
                    and _WALK_NAMES.fullmatch(node.id):
                return None
    return _Form(function.name, on_object, tuple(reads), tuple(guards), verdict, stops)


def without_captures(pattern: str) -> str | None:
    """*pattern* with its capturing groups made non-capturing, or ``None`` when that could
    change what it matches (it refers to a group: ``\\1``, ``(?P=name)``, ``(?(1)...)``; verbose
    mode, where a comment may hold brackets) or it has no such group. ``re`` keeps the marks
    of every capturing group as it goes, so an UID pattern searches about a third faster
    without; whether it matches is the same (nothing reads the groups)."""
    if re.search(r"\\[0-9]|\(\?P=|\(\?\(|\(\?[a-zA-Z-]*x", pattern):
        return None
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            start = i + 1 + (pattern[i + 1:i + 2] == "^")
            if pattern[start:start + 1] == "]":  # a ] first in a set is itself
                out.append(pattern[i:start + 1])
                i = start + 1
                continue
        elif char == "(" and pattern[i + 1:i + 2] != "?":
            out.append("(?:")
            i += 1
            continue
        out.append(char)
        i += 1
    result = "".join(out)
    try:  # only named groups still capture, or something was misread: keep the pattern
        compiled = re.compile(result, re.DOTALL)
        if result == pattern or compiled.groups != len(compiled.groupindex):
            return None
    except re.error:
        return None
    return result


class _Rename(ast.NodeTransformer):
    """Variables renamed (``d`` to the walk's value, ``v0`` to the walk's read of it ...)."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.copy_location(ast.Name(self.names.get(node.id, node.id), node.ctx), node)


class _Known(ast.NodeTransformer):
    """What is known where the walk asks a form (the value is not ``None``: the walk skipped
    those), folded in: ``y is None`` is ``False``, then ``not``, ``and``/``or`` and ``if``
    of constants as Python evaluates them. Only what Python itself would skip is dropped, and
    every value stays what it was (``x or False`` is kept: it may be ``None``)."""

    def __init__(self, not_none: frozenset[str]) -> None:
        self.not_none = not_none

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Is, ast.IsNot)) \
                and isinstance(node.left, ast.Name) and node.left.id in self.not_none \
                and isinstance(node.comparators[0], ast.Constant) \
                and node.comparators[0].value is None:
            return ast.Constant(isinstance(node.ops[0], ast.IsNot))
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and isinstance(node.operand, ast.Constant):
            return ast.Constant(not node.operand.value)
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.expr:
        self.generic_visit(node)
        stops = isinstance(node.op, ast.Or)  # the truth that ends an `or` (falsity: `and`)
        values: list[ast.expr] = []
        for value in node.values:
            if isinstance(value, ast.Constant) and not values and bool(value.value) is stops:
                return value  # decided before anything is evaluated
            if isinstance(value, ast.Constant) and bool(value.value) is not stops \
                    and value is not node.values[-1]:
                continue  # Python goes on to the next operand
            values.append(value)
        return values[0] if len(values) == 1 else ast.BoolOp(node.op, values)

    def visit_IfExp(self, node: ast.IfExp) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.test, ast.Constant):
            return node.body if node.test.value else node.orelse
        return node


def _is_none_test(node: ast.expr, negated: bool) -> str | None:
    """The name *N* of ``N is None`` (``N is not None`` with *negated*), else None."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1 \
            and isinstance(node.ops[0], ast.IsNot if negated else ast.Is) \
            and isinstance(node.left, ast.Name) and isinstance(node.comparators[0], ast.Constant) \
            and node.comparators[0].value is None:
        return node.left.id
    return None


def _is_str_test(node: ast.expr) -> str | None:
    """The name *N* of ``N.__class__ is str``, else None."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Is) \
            and isinstance(node.left, ast.Attribute) and node.left.attr == "__class__" \
            and isinstance(node.left.value, ast.Name) and isinstance(node.comparators[0], ast.Name) \
            and node.comparators[0].id == "str":
        return node.left.value.id
    return None


def _not_none_if(node: ast.expr, truth: bool) -> frozenset[str]:
    """The names known not to be ``None`` where *node* has the truth *truth* (``N is not None``
    true, ``N is None`` false, ``N.__class__ is str`` true, through ``not``, ``and``, ``or``)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _not_none_if(node.operand, not truth)
    if isinstance(node, ast.BoolOp):
        parts = [_not_none_if(value, truth) for value in node.values]
        if isinstance(node.op, ast.And) is truth:  # every operand has that truth
            return frozenset().union(*parts)
        return frozenset.intersection(*parts)  # one of them has it
    name = _is_none_test(node, negated=truth)
    if name is None and truth:
        name = _is_str_test(node)
    return frozenset() if name is None else frozenset({name})


class _Searches(ast.NodeTransformer):
    """The memos of the walk's verdicts, and its regular expressions asked as automata.

    ``RE.search(t) is not None`` of a regular expression of the walk, asked of a text *t* the
    forms make sure is a ``str`` there, is rewritten to ask the walk's search test of RE
    (*searches*: ``fhirgen.runtime.imaging.search_matcher``, the C automaton of the search when
    the extension is at hand, else ``RE.search``; truthy exactly when ``search`` finds a
    match), first of the last text that passed it in this resource (``_passed_RE``)::

        (t == _passed_RE or ((_passed_RE := t) is t if SEARCH(t) else False))

    ``True`` or ``False``, as the comparison was, whatever the test returns. The memo: the
    instances of a series share their SOP Class, whose UID is searched for each, and the
    verdict is a function of the text alone, so the same text passes again; it still pays with
    the automaton (one comparison against a call), and much more without the extension.

    The extension's test returns False for a value that is no ``str``, where ``search`` raises
    ``TypeError``; so a search is rewritten only where *t* is a ``str`` for certain: a guard of
    the forms (all asked before any verdict) says ``t.__class__ is str``, or says ``t is None
    or t.__class__ is str`` and the verdict asks the search only where ``t`` is not ``None``
    (``t is not None and ...``, ``not (t is not None and ...) or ...``, ``None if t is None
    else ...``: the shapes ``fhirgen.fhirpath.specialise`` writes). Any other search is left
    as it is (the regular expression's own ``search``).

    ``fp.coding_member(v, VALUE_SETS, URL)`` (``memberOf()`` of a Coding's JSON object) is
    asked first of the last value that was a member in this resource, the same way::

        (v == _passed_member_H or ((_passed_member_H := v) is v
                                   if fp.coding_member(v, VALUE_SETS, URL) else False))

    Its verdict is a function of the JSON value: the type of each part it reads (an object, an
    array, a string, null), the keys, and the strings compared and hashed. Two JSON values
    that are equal (``==``) have the same keys, and parts of the same type where those are
    strings, null, objects or arrays (only numbers and booleans are equal across types, and
    it reads none), so they get the same verdict. A value that is no object (which it refuses,
    raising ``fp.NeedsNodes``) never equals the object remembered."""

    def __init__(self, searches: dict[str, str]) -> None:
        self.searches = searches  # the walk's regular expression -> its search test
        self.used: set[str] = set()  # the memos the rewritten tests keep
        self.normal: set[str] = set()  # the literals of _WALK_NORMAL
        self.strings: frozenset[str] = frozenset()
        self.nullable: frozenset[str] = frozenset()
        self.facts: frozenset[str] = frozenset()

    def rewrite(self, verdict: ast.expr, guards: Sequence[ast.expr]) -> ast.expr:
        """*verdict* (renamed, folded) with its searches rewritten, the *guards* of the forms
        asked before it."""
        strings, nullable = set(), set()
        for guard in guards:
            name = _is_str_test(guard)
            if name is not None:
                strings.add(name)
            elif isinstance(guard, ast.BoolOp) and isinstance(guard.op, ast.Or) \
                    and len(guard.values) == 2:
                name = _is_none_test(guard.values[0], negated=False)
                if name is not None and _is_str_test(guard.values[1]) == name:
                    nullable.add(name)
        assigned = {node.target.id for tree in (verdict, *guards) for node in ast.walk(tree)
                    if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name)}
        self.strings = frozenset(strings - assigned)
        self.nullable = frozenset(nullable - assigned)
        self.facts = frozenset()
        result: ast.expr = self.visit(verdict)
        return result

    def _with_facts(self, node: ast.expr, facts: frozenset[str]) -> ast.expr:
        before = self.facts
        self.facts = before | facts
        try:
            result: ast.expr = self.visit(node)
        finally:
            self.facts = before
        return result

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.expr:
        truth = isinstance(node.op, ast.Or)  # an operand is asked when those before are not this
        known: frozenset[str] = frozenset()
        values = []
        for index, value in enumerate(node.values):
            visited = self._with_facts(value, known)
            if truth and index:
                visited = self._normal(node.values[index - 1], visited)
            values.append(visited)
            known |= _not_none_if(value, not truth)
        return ast.copy_location(ast.BoolOp(node.op, values), node)

    def _normal(self, before: ast.expr, value: ast.expr) -> ast.expr:
        """``v == L or fp.normalised(v) == L`` (``v ~ L``, as the specialiser writes it) of a
        text *v* that is a ``str`` or ``None``: the second operand, asked only when ``v != L``,
        skips ``fp.normalised`` when *v* is in ``_WALK_NORMAL`` (each literal of the walk's
        ``~`` whose normalised form is itself, chosen at import by ``fp.normalised`` itself:
        then ``fp.normalised(v) == v != L``)::

            v == L or (v not in _WALK_NORMAL and fp.normalised(v) == L)"""
        text = _source(before)
        match = re.fullmatch(r"(\w+) == ('[^'\\]*')", text)
        if match is None or _source(value) != f"fp.normalised({match[1]}) == {match[2]}":
            return value
        name = match[1]
        if name not in self.strings and name not in self.nullable:
            return value  # maybe not hashable
        self.normal.add(ast.literal_eval(match[2]))
        return ast.parse(f"({name} not in _WALK_NORMAL and {_source(value)})", mode="eval").body

    def visit_IfExp(self, node: ast.IfExp) -> ast.expr:
        return ast.copy_location(ast.IfExp(
            self.visit(node.test),
            self._with_facts(node.body, _not_none_if(node.test, True)),
            self._with_facts(node.orelse, _not_none_if(node.test, False))), node)

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        if not (_source(node.func) == "fp.coding_member" and len(node.args) == 3
                and not node.keywords and isinstance(node.args[0], ast.Name)
                and _source(node.args[1]) == "VALUE_SETS" and isinstance(node.args[2], ast.Constant)
                and isinstance(node.args[2].value, str)):
            return node
        value = node.args[0].id
        memo = "_passed_member_" + hashlib.sha1(node.args[2].value.encode()).hexdigest()[:12]
        self.used.add(memo)
        return ast.parse(f"({value} == {memo} or (({memo} := {value}) is {value} "
                         f"if {_source(node)} else False))", mode="eval").body

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        call = node.left
        if not (len(node.ops) == 1 and isinstance(node.ops[0], ast.IsNot)
                and isinstance(node.comparators[0], ast.Constant)
                and node.comparators[0].value is None and isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute) and call.func.attr == "search"
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id in self.searches
                and len(call.args) == 1 and isinstance(call.args[0], ast.Name)
                and not call.keywords):
            return node
        regex, text = call.func.value.id, call.args[0].id
        if text not in self.strings and not (text in self.nullable and text in self.facts):
            return node
        search = self.searches[regex]
        memo = "_passed" + regex.removeprefix("_WALK")
        self.used.add(memo)
        return ast.parse(f"({text} == {memo} or (({memo} := {text}) is {text} "
                         f"if {search}({text}) else False))", mode="eval").body


def _renamed(expression: ast.expr, names: dict[str, str], not_none: frozenset[str]) -> ast.expr:
    """*expression* with its variables renamed and what is known folded in."""
    result: ast.expr = _Known(not_none).visit(_Rename(names).visit(copy.deepcopy(expression)))
    return result


def _text(expression: ast.expr, names: dict[str, str], not_none: frozenset[str]) -> str:
    """*expression* with its variables renamed and what is known folded in, as source."""
    return _source(_renamed(expression, names, not_none))


def _source(expression: ast.expr) -> str:
    return ast.unparse(ast.fix_missing_locations(expression))


def _parenthesised(text: str) -> str:
    """*text* in parentheses, unless it is one name, call or parenthesised whole already."""
    if re.fullmatch(r"[\w.]+", text):
        return text
    if text.startswith("(") and text.endswith(")"):
        try:
            if ast.dump(ast.parse(text[1:-1], mode="eval")) == ast.dump(ast.parse(text, mode="eval")):
                return text
        except SyntaxError:
            pass
    return f"({text})"


def _pass_lines(site: _WalkSite, item: str, regexes: dict[str, str],
                searches: _Searches | None = None) -> list[str]:
    """Lines setting ``ok`` to whether every JSON form of *site* passes the value *item* (not
    ``None``): the values the forms read, read once, the tests of their kinds, then each
    verdict (only ``True`` passes, as in ``Invariants``); a form of another shape is called.
    *regexes* renames regular expressions to the walk's own (``without_captures``), whose
    searches *searches* rewrites."""
    inline = [form for _, form in site.forms if form is not None]
    calls = [name for name, form in site.forms if form is None]
    if len({form.on_object for form in inline}) > 1:  # not one focus kind: call them all
        inline, calls = [], [name for name, _ in site.forms]
    reads: dict[str, str] = {}  # read's source -> its variable
    read_lines: list[str] = []
    terms: list[str] = []
    guards: list[ast.expr] = []  # the terms, as trees
    verdicts: list[ast.expr] = []
    known = frozenset({item})
    for k, form in enumerate(inline):
        names = {"d": item, **regexes}
        for expression in [value for _, value in form.reads] + list(form.guards) + [form.verdict]:
            for node in ast.walk(expression):
                if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
                    names[node.target.id] = f"_t{site.index}_{k}_{node.target.id.lstrip('_')}"
        for var, value in form.reads:
            source = _text(value, names, known)
            if source != item and source not in reads:
                reads[source] = f"{item}_{len(reads)}"
                read_lines.append(f"{reads[source]} = {source}")
            names[var] = item if source == item else reads[source]
        for guard in form.guards:
            tree = _renamed(guard, names, known)
            text = _source(tree)
            if text != "True" and _parenthesised(text) not in terms:
                terms.append(_parenthesised(text))
                guards.append(tree)
        verdicts.append(_renamed(form.verdict, names, known))
    tests = []  # every term is asked before any verdict: what they make sure of holds there
    for verdict in verdicts:
        text = _source(verdict if searches is None else searches.rewrite(verdict, guards))
        if text != "True":
            tests.append(f"{_parenthesised(text)} is True")
    test = " and ".join(terms + tests + [f"{name}({item}) is True" for name in calls])
    lines = read_lines + [f"ok = {test or 'True'}"]
    if inline and inline[0].on_object:
        lines = ["ok = False", f"if {item}.__class__ is dict:"] + [f"    {line}" for line in lines]
    if any(form.stops for form in inline):
        lines = ["try:"] + [f"    {line}" for line in lines] + [
            "except fp.NeedsNodes:", "    ok = False"]
    return lines


def _walk_sites(rules: ImagingRules, compiled: Sequence[CompiledInvariant]
                ) -> tuple[list[_WalkSite], dict[str, str]]:
    """The sites as the run time groups the rules (``ImagingRules.sites``: by element path,
    in the order of the file), with their JSON forms; and the regular expressions they use."""
    grouped: dict[str, list[tuple[ImagingRule, CompiledInvariant]]] = {}
    for rule, invariant in zip(rules.rules, compiled, strict=True):
        grouped.setdefault(rule.path, []).append((rule, invariant))
    sites = []
    regexes: dict[str, str] = {}
    partly = len(grouped)  # the index of the next group of rules without JSON form
    for index, (path, members) in enumerate(grouped.items()):
        found = [_json_form(invariant) for _, invariant in members]
        for form in found:
            regexes.update(form[2] if form is not None else {})
        site = _WalkSite(
            index, tuple(path.split(".")[1:-1]), path.rpartition(".")[2] if "." in path else None,
            tuple(rule.key for rule, _ in members), path,
            tuple(form[0] if form is not None else None for form in found),
            tuple((form[0], form[1]) for form in found if form is not None))
        if site.forms and site.formless:
            free = all(_focus_free(rule, invariant)
                       for (rule, invariant), form in zip(members, found, strict=True)
                       if form is None)
            site = dataclasses.replace(site, partly=partly, focus_free=free)
            partly += 1
        sites.append(site)
    return sites, regexes


def _focus_free(rule: ImagingRule, compiled: CompiledInvariant) -> bool:
    """Whether the rule's function never reads its focus (its first parameter is named nowhere
    in its body: ``%resource.frameOfReferenceUid.exists()``), resolves nothing and has no hint
    (whose wrapper reads it): then its verdict is the same for every value of a resource, the
    function's other arguments (``%resource``, ``%rootResource``) being those of the resource."""
    if rule.hint is not None or compiled.uses_resolve:
        return False
    module = ast.parse(compiled.source)
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and node.name == compiled.name:
            if node.decorator_list or not node.args.args:
                return False
            focus = node.args.args[0].arg
            return not any(isinstance(name, ast.Name) and name.id == focus
                           for statement in node.body for name in ast.walk(statement))
    return False


def _walk_source(rules: ImagingRules, compiled: Sequence[CompiledInvariant]) -> str:
    """The source of ``_walk(sites)``, the checker of one severity's sites specialised to the
    rules: one pass over the resource, down the steps the sites sit below (each array walked
    once for all the sites on and below it), each site's JSON forms asked inline on each of
    its values. A value they do not all pass is noted with the index of its group, the object
    holding it and its location, and handed after the walk to its site's group (``replay``:
    the exact path, site by site, each site's in the order found), as the interpreted walk
    would have called it. Where a site's forms pass but a rule there has none, the value goes
    to the group of those rules alone (``without_forms``), unless those rules never read
    their focus: then the walk asks them once of the resource (``resource_passes``) and hands
    the values over only when they do not pass.

    Each regular expression of the forms is searched by ``_WALK_SEARCH_RE_...``
    (``search_matcher``): the C automaton of its search (``_WALK_DFA_RE_...``, from
    ``fhirgen.regex_dfa.compile_search_dfa``) when the extension is at hand, else the
    regular expression; the verdicts remember the last text and SOP Class that passed, and skip
    normalising a ``~`` literal (:class:`_Searches`)."""
    sites, regexes = _walk_sites(rules, compiled)
    constants, renamed, searches = [], {}, {}
    for name, pattern in sorted(regexes.items()):
        faster = without_captures(pattern)
        walk_name = name
        if faster is not None:
            walk_name = renamed[name] = f"_WALK{name}"
            constants.append(f"{walk_name} = fp.compiled_regex({faster!r})  # {name}, "
                             "without capturing groups")
        tables = compile_search_dfa(pattern if faster is None else faster, re.DOTALL)
        dfa = "None"
        if tables is not None:
            dfa = f"_WALK_DFA{name}"
            constants.append(f"{dfa}: Tables = {tables!r}  # its search, as a DFA")
        searches[walk_name] = f"_WALK_SEARCH{name}"
        constants.append(f"{searches[walk_name]} = search_matcher({dfa}, {walk_name})  "
                         f"# truthy when {walk_name}.search(text) finds a match")
    expected = "".join(
        f"    ({site.steps!r}, {site.name!r}, ({', '.join(str(n) for n in site.names)},)),\n"
        for site in sites)
    partly = tuple(site.index for site in sites if site.partly is not None)
    lines = [
        "def _walk(sites: tuple[Site, ...]) -> Validator:",
        '    """The checker of these sites (``RULES.sites(severity)``), specialised to the rules: one',
        "    pass over the resource asking each site's JSON forms inline; what they do not all pass",
        '    goes to its group afterwards, site by site (``replay``)."""',
        "    expect_sites(sites, _WALK_SITES)",
        f"    exact = exact_groups(sites, {partly!r})",
        "",
        "    def check(node: dict[str, Any], path: Loc, out: IssueList) -> None:",
        "        late: list[Late] = []",
    ]
    emit = _Emit(renamed, _Searches(searches))
    body = _level_lines(sites, (), "node", "path", 0, emit)
    if emit.searches.normal:
        constants.append(
            "# The literals of the walk's ~ that are their own normalised form (as fp.normalised "
            f"finds them here)\n_WALK_NORMAL = frozenset(text for text in "
            f"{tuple(sorted(emit.searches.normal))!r} if fp.normalised(text) == text)")
    lines += [f"        {memo}: object = None  # the last "
              + (f"text that passed {memo[7:]}" if memo.startswith("_passed_RE")
                 else "value that was a member (memberOf)")
              for memo in sorted(emit.searches.used)]
    lines += [f"        r{site.partly}: bool | None = None  # {', '.join(site.formless)}: no "
              "focus read, so asked once of this resource (True: passed)"
              for site in sites if site.focus_free]
    lines += [f"        {line}" for line in body]
    lines += [
        "        if late:",
        "            replay(late, exact, out)",
        "",
        "    return check",
    ]
    return ("# Each site of the walk: (steps, element, each rule's JSON form or None), as "
            f"RULES.sites() makes them.\n_WALK_SITES = (\n{expected})\n"
            + "".join(f"{line}\n" for line in constants) + "\n\n" + "\n".join(lines) + "\n")


@dataclass
class _Emit:
    """What the lines of the walk are written with: the regular expressions renamed to the
    walk's own (constant -> constant), and the rewriting of their searches."""

    regexes: dict[str, str]
    searches: _Searches

    def passing(self, site: _WalkSite, item: str) -> list[str]:
        return _pass_lines(site, item, self.regexes, self.searches)


def _level_lines(sites: list[_WalkSite], steps: tuple[str, ...], parent: str, where: str,
                 depth: int, emit: _Emit) -> list[str]:
    """The walk at the objects *steps* below the resource (*parent*, at *where*): the sites
    there, then each step further down, each object of it in turn. A site on the element a
    step goes down is asked in the same loop over its values."""
    below: list[str] = []
    for site in sites:
        if len(site.steps) > len(steps) and site.steps[:len(steps)] == steps \
                and site.steps[len(steps)] not in below:
            below.append(site.steps[len(steps)])
    lines: list[str] = []
    fused: dict[str, _WalkSite] = {}
    for site in sites:
        if site.steps != steps:
            continue
        if site.name in below and site.forms and not site.formless:
            fused[site.name] = site  # asked in the loop below
        else:
            lines += _site_lines(site, parent, where, emit)
    for name in below:
        k = depth + 1
        value, index, item = f"e{k}", f"i{k}", f"p{k}"
        inner = _level_lines(sites, steps + (name,), item, f"at({where}, {name!r}, {index})", k,
                             emit)
        asked = fused.get(name)
        lines.append(f"# the objects of {'.'.join(('ImagingSelection',) + steps + (name,))}"
                     + (f", and {', '.join(asked.keys)} on each value" if asked else ""))
        lines.append(f"{value} = {parent}.get({name!r})")
        loop = [(f"for {index}, {item} in enumerate({value}) if {value}.__class__ is list "
                 f"else ((None, {value}),):")]
        if asked is None:
            lines += loop + [f"    if {item}.__class__ is not dict:", "        continue"]
        else:
            late = f"late.append(({asked.index}, {parent}, {where}))"
            asking = f"c{asked.index}"
            lines += [
                (f"{asking} = {parent}.get({'_' + name!r}) is None  # {', '.join(asked.keys)} "
                 "still to ask"),
                f"if not {asking}:",
                f"    {late}",
            ] + loop + [
                f"    if {item} is None:",
                "        continue",
                f"    if {asking}:",
            ] + [f"        {line}" for line in emit.passing(asked, item)] + [
                "        if not ok:",
                f"            {late}",
                f"            {asking} = False",
                f"    if {item}.__class__ is not dict:",
                "        continue",
            ]
        lines += [f"    {line}" for line in inner]
    return lines


def _site_lines(site: _WalkSite, parent: str, where: str, emit: _Emit) -> list[str]:
    """The lines asking *site* on the object *parent* (at *where*): its JSON forms on each
    value; a value they do not all pass goes to its group. Where a rule has no JSON form,
    the values its forms all pass go to the group of those rules alone (``partly``), and
    without forms at all every value goes to the group."""
    late = f"late.append(({site.index}, {parent}, {where}))"
    rest = [f"late.append(({site.partly}, {parent}, {where}))"]
    if site.focus_free:  # the rules without form give every value of the resource one verdict
        known = f"r{site.partly}"
        rest = [f"if {known} is None:",
                f"    {known} = resource_passes(exact[{site.partly}][2], out)",
                f"if not {known}:", f"    {rest[0]}"]
    keys = ", ".join(site.keys)
    if site.formless:
        keys += f" (without JSON form: {', '.join(site.formless)})"
    lines = [f"# {keys} on {site.path}"]
    if not site.forms:  # every value takes the exact path
        if site.name is None:
            return lines + [late]
        return lines + [(f"if {parent}.get({site.name!r}) is not None or "
                         f"{parent}.get({'_' + site.name!r}) is not None:"), f"    {late}"]
    if site.name is None:
        lines += emit.passing(site, parent) + ["if not ok:", f"    {late}"]
        return lines + (["else:"] + [f"    {line}" for line in rest]
                        if site.partly is not None else [])
    name = site.name
    value, item = f"x{site.index}", f"y{site.index}"
    lines += [
        f"{value} = {parent}.get({name!r})",
        f"if {parent}.get({'_' + name!r}) is not None:",
        f"    {late}",
        f"elif {value}.__class__ is list:",
        f"    for {item} in {value}:",
        f"        if {item} is None:",
        "            continue",
    ] + [f"        {line}" for line in emit.passing(site, item)] + [
        "        if not ok:",
        f"            {late}",
        "            break",
    ]
    if site.partly is not None:  # the forms passed every value: the rules without remain
        lines += ["    else:"] + [f"        {line}" for line in rest]
    lines += [f"elif {value} is not None:"] + [
        f"    {line}" for line in emit.passing(site, value)] + ["    if not ok:", f"        {late}"]
    if site.partly is not None:
        lines += ["    else:"] + [f"        {line}" for line in rest]
    return lines


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
