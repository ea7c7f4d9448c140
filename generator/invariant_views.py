"""From the IR to the view values of the generated invariants module (``invariants.py``).

Every constraint of every type and backbone element of the model is compiled to Python by
``fhirgen.fhirpath`` (a constraint the compiler cannot handle fails generation with its key and
reason: nothing is skipped silently) and grouped where the walk evaluates it:

* the constraints on a type's root element (``per-1`` on Period, ``dom-3`` on every resource)
  go into ``INV_<Type>``, evaluated by the type's validator on each of its objects;
* the constraints on an element (``txt-1`` on ``Narrative.div``) go into
  ``INV_<Type>_<element>``, evaluated on each value of the element.

Three kinds of constraint are not evaluated where they are listed, each for a stated reason:

* ``ele-1`` with the expression of the base Element: the validators' walk enforces it already,
  with the same key (an element with neither value nor children: an empty object, an empty array,
  an object with only ``id``); ``tests/test_invariants.py`` checks the compiled ele-1 against the
  walk on mutated resources, so a change of its expression in a future version is compiled and
  evaluated like any other constraint;
* constraints repeated on an element from the element's own type (``ext-1`` listed on every
  ``extension`` element): the type's validator evaluates them on the same value;
* constraints of a backbone element listed in its parent (they are the backbone's root
  constraints, evaluated by its validator).

Names: ``inv_`` + the key (``inv_dom_3``); two different expressions under one key get the
defining type's name appended. Text from the definitions reaches the output only through
:func:`~fhirgen.views.py_literal` or the compiler's docstrings.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from . import naming
from .fhirpath import CompiledInvariant, FhirPathCompileError, compile_constraint, type_table
from .fhirpath import _definer as definer
from .ir import CORE_SD, Constraint, Element, Model, TypeDef
from .views import py_literal

__all__ = ["ELE_1", "InvariantPackageView", "build_invariant_views", "element_group", "root_group"]

#: ele-1 as the base Element defines it in R5: enforced by the walk (see the module docstring).
ELE_1 = ("ele-1", "hasValue() or (children().count() > id.count())")


@dataclass(frozen=True)
class GroupView:
    name: str  # INV_Period
    type: str  # FHIR type of the values (Period, xhtml)
    path: str  # definition path for type lookups
    checks: tuple[str, ...]  # Invariant(...) expressions


@dataclass(frozen=True)
class InvariantPackageView:
    header: tuple[str, ...]
    functions: tuple[str, ...]  # compiled sources
    groups: tuple[GroupView, ...]
    type_elements: str  # dict literal of the TypeTable's elements
    type_bases: str  # dict literal of the TypeTable's bases
    value_sets: tuple[tuple[str, str], ...]  # (URL, ValueSet expression) memberOf() reads
    uses_value_sets: bool
    undecidable: tuple[str, ...] = ()  # keys that may be undecidable offline (resolve, memberOf)
    roots: dict[str, str] = field(default_factory=dict)  # type name -> group name
    elements: dict[tuple[str, str], str] = field(default_factory=dict)  # (owner, json name)


def root_group(view: InvariantPackageView | None, type_name: str) -> str | None:
    return None if view is None else view.roots.get(type_name)


def element_group(view: InvariantPackageView | None, owner: str, json_name: str) -> str | None:
    return None if view is None else view.elements.get((owner, json_name))


def _structural(constraint: Constraint) -> bool:
    return (constraint.key, " ".join((constraint.expression or "").split())) == ELE_1


def _from_own_type(element: Element, constraint: Constraint) -> bool:
    if element.backbone:
        return True
    codes = {t.code for t in element.types}
    return len(codes) == 1 and constraint.source == CORE_SD + next(iter(codes))


class _Compiler:
    def __init__(self, model: Model) -> None:
        self.model = model
        self.sources: dict[str, str] = {}  # function name -> source
        self.functions: list[str] = []
        self.value_sets: set[str] = set()
        self.undecidable: set[str] = set()

    def compile(self, type_def: TypeDef, where: str, constraint: Constraint,
                on_element: bool = False) -> CompiledInvariant:
        assert constraint.expression is not None
        context = definer(constraint.source, where)
        if on_element and where.startswith(context + "."):
            # an element's own constraint (txt-1 on Narrative.div): its values are the focus
            context = where
        try:
            compiled = compile_constraint(
                constraint.key, constraint.expression, context, self.model,
                severity=constraint.severity, human=constraint.human, evaluated_on=where,
            )
        except FhirPathCompileError as exc:
            raise FhirPathCompileError(
                exc.key, f"{exc.reason} (constraint on {where}: {constraint.expression!r})"
            ) from exc
        name = compiled.name
        seen = self.sources.get(name)
        if seen is not None and seen != compiled.source:
            # Another expression under the same key: name it after the defining type too.
            renamed = f"{compiled.name}__{naming.class_name(context.split('.')[0])}"
            source = compiled.source.replace(f"def {compiled.name}(", f"def {renamed}(", 1)
            compiled = replace(compiled, name=renamed, source=source)
            seen = self.sources.get(renamed)
            if seen is not None and seen != source:
                raise ValueError(f"{constraint.key}: two expressions become {renamed}")
        if compiled.name not in self.sources:
            self.sources[compiled.name] = compiled.source
            self.functions.append(compiled.source)
        self.value_sets.update(compiled.value_sets)
        if compiled.uses_resolve:
            self.undecidable.add(constraint.key)
        return compiled

    def check(self, compiled: CompiledInvariant, constraint: Constraint) -> str:
        human = " ".join(constraint.human.split())
        source = f" (defined in {constraint.source})" if constraint.source else ""
        return (
            f"Invariant({compiled.name}, {py_literal(constraint.key)}, "
            f"{py_literal(constraint.severity)}, {py_literal(human + source)}"
            + (", uses_resolve=True" if compiled.uses_resolve else "")
            + ")"
        )


def _checks(compiler: _Compiler, type_def: TypeDef, where: str,
            constraints: tuple[Constraint, ...], on_element: bool = False) -> tuple[str, ...]:
    checks: list[str] = []
    seen: set[tuple[str, str]] = set()
    for constraint in constraints:
        if not constraint.expression or _structural(constraint):
            continue
        if (constraint.key, constraint.expression) in seen:
            continue
        seen.add((constraint.key, constraint.expression))
        compiled = compiler.compile(type_def, where, constraint, on_element)
        checks.append(compiler.check(compiled, constraint))
    return tuple(checks)


def build_invariant_views(model: Model, header: tuple[str, ...]) -> InvariantPackageView:
    compiler = _Compiler(model)
    groups: list[GroupView] = []
    roots: dict[str, str] = {}
    elements: dict[tuple[str, str], str] = {}
    for type_def in model.types:
        if type_def.is_primitive:
            continue
        for owner in type_def.all_types():
            checks = _checks(compiler, owner, owner.name, owner.constraints)
            if checks:
                name = "INV_" + naming.class_name(owner.name)
                type_code = owner.name if not owner.is_backbone else (owner.base or "BackboneElement")
                groups.append(GroupView(name, type_code, owner.name, checks))
                roots[owner.name] = name
            for element in owner.elements:
                kept = tuple(c for c in element.constraints if not _from_own_type(element, c))
                checks = _checks(compiler, owner, element.path, kept, on_element=True)
                if not checks:
                    continue
                for json_name, type_ref in element.json_names():
                    suffix = naming.attribute_name(json_name).rstrip("_")
                    name = f"INV_{naming.class_name(owner.name)}_{suffix}"
                    groups.append(GroupView(name, type_ref.code, element.path, checks))
                    elements[(owner.name, json_name)] = name
    table = type_table(model)
    return InvariantPackageView(
        header=header,
        functions=tuple(compiler.functions),
        groups=tuple(groups),
        type_elements=_dict_literal(table.elements),
        type_bases=_dict_literal(table.bases),
        value_sets=tuple((url, _value_set(model, url)) for url in sorted(compiler.value_sets)),
        uses_value_sets=bool(compiler.value_sets),
        undecidable=tuple(sorted(compiler.undecidable)),
        roots=roots,
        elements=elements,
    )


def _value_set(model: Model, url: str) -> str:
    from .validator_views import value_set_expression

    value_set = model.value_set(url)
    if value_set is None:
        return f"ValueSet({py_literal(url)}, None)"
    return value_set_expression(value_set)


def _dict_literal(mapping: object) -> str:
    items = sorted(mapping.items())  # type: ignore[attr-defined]
    return "{" + "".join(f"{py_literal(k)}: {py_literal(v)}, " for k, v in items) + "}"
