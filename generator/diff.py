"""What changed between two definition sets, element by element, and in the generated files.

:func:`diff_models` is pure: two :class:`~fhirgen.ir.Model` values in, a frozen
:class:`DefinitionDiff` out. It compares the closure of the targets, type by type and element by
element (backbone elements included, keyed by type name and element path):

* types added or removed (``type``); a type's base and kind (``base``, ``kind``);
* elements added or removed (``element``; the value says cardinality and types);
* ``cardinality`` (``min..max``), ``type`` codes added or removed, ``targetProfile`` and
  ``profile`` URLs added or removed (the value is ``Code(url)``);
* ``binding`` added or removed, ``binding.strength`` and ``binding.valueSet`` changed,
  ``binding.expansion`` (where the codes come from: ``expansion``, ``compose``, ``unavailable``) and
  ``code`` added or removed in the bound value set's expansion (required and extensible
  bindings: the ones the model carries value sets for);
* invariants by key: ``invariant`` added or removed, ``invariant.expression``,
  ``invariant.severity`` and ``invariant.human`` changed (root invariants of a type are reported
  on the type itself);
* ``fixed``, ``pattern``, ``minValue``, ``maxValue``, ``maxLength`` (values as sorted JSON) and
  the ``isModifier``, ``isSummary`` and ``mustSupport`` flags.

:func:`diff_generations` adds what that means for the output: both sides are generated in memory
(:func:`generate_files`, the same render as ``fhirgen generate``, nothing written) and the two
``{path: text}`` maps compared, file by file (added, removed, changed with line counts).

:func:`render_text` and :func:`render_json` print a diff; both are deterministic (types sorted by
name, elements in specification order, the JSON with sorted keys).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .ir import Constraint, Element, Model, TypeDef, ValueSetDef, build_model
from .loader import load_index
from .render import GenerateConfig, generate

__all__ = [
    "Change",
    "DefinitionDiff",
    "FileChange",
    "diff_files",
    "diff_generations",
    "diff_models",
    "generate_files",
    "render_json",
    "render_text",
]


@dataclass(frozen=True, slots=True)
class Change:
    """One difference. ``where`` is an element path, or the type name for type-level changes."""

    type: str  # the type (or profile) it belongs to, e.g. "ImagingSelection"
    where: str  # "ImagingSelection.instance.uid", or "ImagingSelection" for the type itself
    aspect: str  # "element", "cardinality", "type", "binding.strength", "code", "invariant", ...
    change: str  # "added" | "removed" | "changed"
    detail: str | None = None  # invariant key, code, type code ... (what, within the aspect)
    old: str | None = None
    new: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "where": self.where,
            "aspect": self.aspect,
            "change": self.change,
            "detail": self.detail,
            "old": self.old,
            "new": self.new,
        }


@dataclass(frozen=True, slots=True)
class FileChange:
    """One generated file that a regeneration adds, removes or changes."""

    path: str  # as the caller names it, e.g. "generated/imagingselection.py"
    change: str  # "added" | "removed" | "changed"
    lines_added: int = 0
    lines_removed: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "change": self.change,
            "linesAdded": self.lines_added,
            "linesRemoved": self.lines_removed,
        }


@dataclass(frozen=True, slots=True)
class DefinitionDiff:
    """Everything that differs; empty tuples when the two sides are the same."""

    targets: tuple[str, ...]
    old_packages: tuple[tuple[str, str], ...]
    new_packages: tuple[tuple[str, str], ...]
    changes: tuple[Change, ...]
    files: tuple[FileChange, ...] = ()

    @property
    def has_differences(self) -> bool:
        return bool(self.changes or self.files)

    def changes_of(self, type_name: str) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.type == type_name)


# ------------------------------------------------------------------------------ model diffing


def _cardinality(element: Element) -> str:
    return f"{element.min}..{'*' if element.max is None else element.max}"


def _summary(element: Element) -> str:
    types = ", ".join(element.type_codes) or (
        f"see {element.content_reference}" if element.content_reference else "no type"
    )
    return f"{_cardinality(element)} {types}"


def _value(value: tuple[str, Any] | None) -> str | None:
    if value is None:
        return None
    code, raw = value
    return f"{code} {json.dumps(raw, sort_keys=True, ensure_ascii=False)}"


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _type_urls(element: Element, attribute: str) -> set[str]:
    return {f"{t.code}({url})" for t in element.types for url in getattr(t, attribute)}


def _added_removed(
    type_name: str, where: str, aspect: str, old: Iterable[str], new: Iterable[str]
) -> list[Change]:
    old_set, new_set = set(old), set(new)
    return [
        Change(type_name, where, aspect, "removed", detail=x) for x in sorted(old_set - new_set)
    ] + [Change(type_name, where, aspect, "added", detail=x) for x in sorted(new_set - old_set)]


def _constraint_changes(
    type_name: str, where: str, old: Sequence[Constraint], new: Sequence[Constraint]
) -> list[Change]:
    old_by_key = {c.key: c for c in old}
    new_by_key = {c.key: c for c in new}
    changes: list[Change] = []
    for key in sorted(old_by_key.keys() | new_by_key.keys()):
        before, after = old_by_key.get(key), new_by_key.get(key)
        if before is None and after is not None:
            changes.append(
                Change(type_name, where, "invariant", "added", key, None, after.expression)
            )
        elif after is None and before is not None:
            changes.append(Change(type_name, where, "invariant", "removed", key, before.expression))
        elif before is not None and after is not None:
            for field in ("expression", "severity", "human"):
                a, b = getattr(before, field), getattr(after, field)
                if a != b:
                    changes.append(
                        Change(type_name, where, f"invariant.{field}", "changed", key, a, b)
                    )
    return changes


def _codes(value_set: ValueSetDef | None) -> dict[str, str | None]:
    if value_set is None:
        return {}
    return {c.code: c.system for c in value_set.concepts}


def _binding_changes(
    type_name: str, old_el: Element, new_el: Element, old: Model, new: Model
) -> list[Change]:
    where = new_el.path
    a, b = old_el.binding, new_el.binding
    if a is None and b is None:
        return []
    if a is None and b is not None:
        return [
            Change(type_name, where, "binding", "added", None, None, f"{b.strength} {b.value_set}")
        ]
    if b is None and a is not None:
        return [Change(type_name, where, "binding", "removed", None, f"{a.strength} {a.value_set}")]
    assert a is not None and b is not None
    changes = []
    if a.strength != b.strength:
        changes.append(
            Change(type_name, where, "binding.strength", "changed", None, a.strength, b.strength)
        )
    if a.value_set != b.value_set:
        changes.append(
            Change(type_name, where, "binding.valueSet", "changed", None, a.value_set, b.value_set)
        )
    old_vs = old.value_set(a.value_set) if a.value_set else None
    new_vs = new.value_set(b.value_set) if b.value_set else None
    if old_vs is not None and new_vs is not None and old_vs.source != new_vs.source:
        # codes then differ because one side cannot be expanded offline, say so first
        changes.append(
            Change(
                type_name, where, "binding.expansion", "changed", None, old_vs.source, new_vs.source
            )
        )
    old_codes, new_codes = _codes(old_vs), _codes(new_vs)
    for code in sorted(old_codes.keys() - new_codes.keys()):
        changes.append(Change(type_name, where, "code", "removed", code, old_codes[code], None))
    for code in sorted(new_codes.keys() - old_codes.keys()):
        changes.append(Change(type_name, where, "code", "added", code, None, new_codes[code]))
    return changes


_VALUES = (
    ("fixed", "fixed"),
    ("pattern", "pattern"),
    ("minValue", "min_value"),
    ("maxValue", "max_value"),
)
_FLAGS = (
    ("isModifier", "is_modifier"),
    ("isSummary", "is_summary"),
    ("mustSupport", "must_support"),
)


def _element_changes(
    type_name: str, a: Element, b: Element, old: Model, new: Model
) -> list[Change]:
    where = b.path
    changes: list[Change] = []
    if (a.min, a.max) != (b.min, b.max):
        changes.append(
            Change(
                type_name, where, "cardinality", "changed", None, _cardinality(a), _cardinality(b)
            )
        )
    changes += _added_removed(type_name, where, "type", a.type_codes, b.type_codes)
    changes += _added_removed(
        type_name,
        where,
        "targetProfile",
        _type_urls(a, "target_profiles"),
        _type_urls(b, "target_profiles"),
    )
    changes += _added_removed(
        type_name, where, "profile", _type_urls(a, "profiles"), _type_urls(b, "profiles")
    )
    if a.content_reference != b.content_reference:
        changes.append(
            Change(
                type_name,
                where,
                "contentReference",
                "changed",
                None,
                a.content_reference,
                b.content_reference,
            )
        )
    changes += _binding_changes(type_name, a, b, old, new)
    changes += _constraint_changes(type_name, where, a.constraints, b.constraints)
    for label, attribute in _VALUES:
        before, after = _value(getattr(a, attribute)), _value(getattr(b, attribute))
        if before != after:
            kind = "added" if before is None else "removed" if after is None else "changed"
            changes.append(Change(type_name, where, label, kind, None, before, after))
    if a.max_length != b.max_length:
        changes.append(
            Change(
                type_name,
                where,
                "maxLength",
                "changed",
                None,
                None if a.max_length is None else str(a.max_length),
                None if b.max_length is None else str(b.max_length),
            )
        )
    for label, attribute in _FLAGS:
        if getattr(a, attribute) != getattr(b, attribute):
            changes.append(
                Change(
                    type_name,
                    where,
                    label,
                    "changed",
                    None,
                    _flag(getattr(a, attribute)),
                    _flag(getattr(b, attribute)),
                )
            )
    return changes


def _elements(type_def: TypeDef) -> dict[str, Element]:
    """Every element of a type and its backbones, by path, in specification order."""
    result: dict[str, Element] = {}
    order = {type_def.name: 0}
    for owner in type_def.all_types():
        for element in owner.elements:
            result[element.path] = element
            order.setdefault(element.path, len(order))
    # backbones are listed after their owner: put children right after their parent
    return dict(sorted(result.items(), key=lambda item: _spec_key(item[0], order)))


def _spec_key(path: str, order: Mapping[str, int]) -> tuple[int, ...]:
    parts = path.split(".")
    return tuple(order.get(".".join(parts[: i + 1]), 0) for i in range(1, len(parts)))


def _type_changes(a: TypeDef, b: TypeDef, old: Model, new: Model) -> list[Change]:
    name = b.name
    changes: list[Change] = []
    for label in ("kind", "base"):
        if getattr(a, label) != getattr(b, label):
            changes.append(
                Change(name, name, label, "changed", None, getattr(a, label), getattr(b, label))
            )
    changes += _constraint_changes(name, name, a.constraints, b.constraints)
    old_elements, new_elements = _elements(a), _elements(b)
    paths = list(new_elements) + [p for p in old_elements if p not in new_elements]
    for path in paths:
        before, after = old_elements.get(path), new_elements.get(path)
        if before is None and after is not None:
            changes.append(Change(name, path, "element", "added", None, None, _summary(after)))
        elif after is None and before is not None:
            changes.append(Change(name, path, "element", "removed", None, _summary(before), None))
        elif before is not None and after is not None:
            changes += _element_changes(name, before, after, old, new)
    return changes


def diff_models(old: Model, new: Model) -> DefinitionDiff:
    """Every difference between two models, types sorted by name, elements in spec order."""
    old_types = {t.name: t for t in old.types}
    new_types = {t.name: t for t in new.types}
    changes: list[Change] = []
    for name in sorted(old_types.keys() | new_types.keys()):
        a, b = old_types.get(name), new_types.get(name)
        if a is None and b is not None:
            changes.append(Change(name, name, "type", "added", None, None, b.kind))
        elif b is None and a is not None:
            changes.append(Change(name, name, "type", "removed", None, a.kind, None))
        elif a is not None and b is not None:
            changes += _type_changes(a, b, old, new)
    targets = tuple(dict.fromkeys((*old.targets, *new.targets)))
    return DefinitionDiff(targets, old.packages, new.packages, tuple(changes))


# ------------------------------------------------------------------------------ file diffing


def diff_files(
    old: Mapping[str, str], new: Mapping[str, str], roots: Mapping[str, str] | None = None
) -> tuple[FileChange, ...]:
    """Generated files added, removed or changed, sorted by path.

    Keys are ``ROOT/relative`` as :func:`fhirgen.render.generate` makes them; *roots* maps a ROOT
    (``models``, ``tests``) to the folder name to show (``generated``, ``tests/generated``).
    """

    def shown(key: str) -> str:
        root, _, rel = key.partition("/")
        return f"{roots[root]}/{rel}" if roots and root in roots else key

    result = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if before is None:
            result.append(FileChange(shown(key), "added", len((after or "").splitlines()), 0))
        elif after is None:
            result.append(FileChange(shown(key), "removed", 0, len(before.splitlines())))
        else:
            plus = minus = 0
            for line in difflib.unified_diff(
                before.splitlines(), after.splitlines(), lineterm="", n=0
            ):
                if line.startswith("+") and not line.startswith("+++"):
                    plus += 1
                elif line.startswith("-") and not line.startswith("---"):
                    minus += 1
            result.append(FileChange(shown(key), "changed", plus, minus))
    return tuple(sorted(result, key=lambda f: f.path))


def generate_files(
    definitions: Path,
    targets: Sequence[str],
    *,
    examples_folder: str | None = None,
    import_name: str = "fhirgen.models",
) -> tuple[Model, dict[str, str]]:
    """The model and every generated file of one definitions source, in memory.

    *examples_folder* is the project-relative folder the generated tests would name examples by
    (``definitions``): the examples of a definitions folder are named as if that folder were the
    project's definitions, so two sides compare file by file wherever they are on disk (as
    ``fhirgen generate`` would write them after ``fhirgen fetch``). Without it, no example tests
    are generated (as for a package file, whose examples no test can open).
    """
    index = load_index([definitions])
    model = build_model(index, tuple(targets))
    examples: list[tuple[str, str]] = []
    documents: dict[str, dict[str, Any]] = {}
    if examples_folder is not None and Path(definitions).is_dir():
        documents = {f"{examples_folder}/{name}": resource for name, resource in index.examples}
        examples = [(path, str(resource.get("resourceType"))) for path, resource in documents.items()]
    config = GenerateConfig(
        import_name=import_name,
        examples=tuple(sorted(set(examples))),
        example_documents=tuple(sorted(documents.items())),
        tests=examples_folder is not None,
    )
    return model, generate(model, config)


def diff_generations(
    old: Path,
    new: Path,
    targets: Sequence[str],
    *,
    examples_folder: str | None = None,
    import_name: str = "fhirgen.models",
    roots: Mapping[str, str] | None = None,
) -> DefinitionDiff:
    """:func:`diff_models` of both sides, plus the generated files that differ."""
    old_model, old_files = generate_files(
        old, targets, examples_folder=examples_folder, import_name=import_name
    )
    new_model, new_files = generate_files(
        new, targets, examples_folder=examples_folder, import_name=import_name
    )
    result = diff_models(old_model, new_model)
    return DefinitionDiff(
        result.targets,
        result.old_packages,
        result.new_packages,
        result.changes,
        diff_files(old_files, new_files, roots),
    )


# ---------------------------------------------------------------------------------- reports


def _packages(packages: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{name}@{version}" for name, version in packages) or "(no package)"


def _line(change: Change) -> str:
    what = change.aspect + (f" {change.detail}" if change.detail else "")
    if change.change == "changed":
        return f"~ {what}: {change.old} -> {change.new}"
    sign = "+" if change.change == "added" else "-"
    value = change.new if change.change == "added" else change.old
    return f"{sign} {what}" + (f": {value}" if value else "")


def render_text(diff: DefinitionDiff, old_label: str = "OLD", new_label: str = "NEW") -> str:
    """A readable report: per type, per element, one line per change; then the files."""
    lines = [f"fhirgen diff {old_label} -> {new_label} (targets: {', '.join(diff.targets)})"]
    if diff.old_packages != diff.new_packages:
        lines.append(f"packages: {_packages(diff.old_packages)} -> {_packages(diff.new_packages)}")
    current_type = current_where = None
    for change in diff.changes:
        if change.type != current_type:
            lines += ["", change.type]
            current_type, current_where = change.type, None
        if change.where != current_where:
            if change.where != change.type:
                lines.append(f"  {change.where}")
            current_where = change.where
        indent = "    " if change.where != change.type else "  "
        lines.append(indent + _line(change))
    if diff.files:
        lines += ["", "generated files:"]
        for file in diff.files:
            counts = f" (+{file.lines_added} -{file.lines_removed})"
            lines.append(f"  {file.change:8} {file.path}{counts}")
    types = len({c.type for c in diff.changes})
    lines += [
        "",
        f"fhirgen: {len(diff.changes)} definition change(s) in {types} type(s); "
        f"{len(diff.files)} generated file(s) change"
        if diff.has_differences
        else "fhirgen: no differences",
    ]
    return "\n".join(lines) + "\n"


def render_json(diff: DefinitionDiff, old_label: str = "OLD", new_label: str = "NEW") -> str:
    """The diff as one JSON document (sorted keys, indent 2): stable for scripts and CI."""
    document = {
        "old": {"source": old_label, "packages": [list(p) for p in diff.old_packages]},
        "new": {"source": new_label, "packages": [list(p) for p in diff.new_packages]},
        "targets": list(diff.targets),
        "changes": [c.as_json() for c in diff.changes],
        "files": [f.as_json() for f in diff.files],
        "summary": {
            "changes": len(diff.changes),
            "types": len({c.type for c in diff.changes}),
            "files": len(diff.files),
            "differences": diff.has_differences,
        },
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
