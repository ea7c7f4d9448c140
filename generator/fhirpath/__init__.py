"""FHIRPath for the generator: parse the StructureDefinitions' invariants, compile them to Python.

* :func:`parse` (``fhirgen.fhirpath.parser``): FHIRPath text -> the frozen AST of
  ``fhirgen.fhirpath.ast``.
* :func:`compile_constraint` (``fhirgen.fhirpath.compiler``): one constraint -> a
  :class:`CompiledInvariant`, the source of a small named function over the hand-written runtime
  ``fhirgen.runtime.fhirpath``; :class:`FhirPathCompileError` names the key and the reason when an
  expression is outside what the compiler supports.
* :func:`invariants_for`: every invariant a validator of one type (or backbone element) evaluates,
  compiled, ready for ``fhirgen.validator_views``.
* :func:`type_table`: the element types of a model as the runtime's
  :class:`~fhirgen.runtime.fhirpath.TypeTable` (navigation without static knowledge:
  ``descendants()``, ``resolve()``, ``%resource`` of any type).
"""

from __future__ import annotations

from ..ir import CORE_SD, Model, TypeDef
from ..runtime.fhirpath import TypeTable
from .ast import Expr
from .compiler import (
    RUNTIME_IMPORT,
    SUPPORTED_FUNCTIONS,
    CompiledInvariant,
    FhirPathCompileError,
    compile_constraint,
    compile_expression,
)
from .parser import FhirPathSyntaxError, parse

__all__ = [
    "RUNTIME_IMPORT",
    "SUPPORTED_FUNCTIONS",
    "CompiledInvariant",
    "Expr",
    "FhirPathCompileError",
    "FhirPathSyntaxError",
    "compile_constraint",
    "compile_expression",
    "invariants_for",
    "parse",
    "type_table",
]


def _definer(source: str | None, fallback: str) -> str:
    """The context a constraint's expression was written for: the type of the definition that
    introduced it (``ele-1`` from Element), else where it sits."""
    if source and source.startswith(CORE_SD):
        name = source[len(CORE_SD):]
        if name.isidentifier():
            return name
    return fallback


def invariants_for(type_def: TypeDef, model: Model | None = None) -> list[CompiledInvariant]:
    """The invariants of *type_def* (a type or a backbone element), compiled.

    First those of the type itself (its root element, evaluated on each object of the type), then
    those of each element in specification order (evaluated on each value of the element; their
    :attr:`~CompiledInvariant.context` is the element's path). A constraint inherited from another
    definition (``ele-1`` from Element, ``dom-3`` from DomainResource) is compiled for the type
    that defined it, so the same key always gives the same function; each (key, expression) is
    listed once per place it applies. Constraints without an expression are left out (they are
    not machine-checkable); anything else that does not compile raises
    :class:`FhirPathCompileError`.
    """
    out: list[CompiledInvariant] = []
    sources: dict[str, str] = {}

    def add(constraint_context: str, where: str, constraint) -> None:  # type: ignore[no-untyped-def]
        if not constraint.expression:
            return
        compiled = compile_constraint(
            constraint.key, constraint.expression, _definer(constraint.source, constraint_context),
            model, severity=constraint.severity, human=constraint.human,
        )
        seen = sources.setdefault(compiled.name, compiled.source)
        if seen != compiled.source:
            raise FhirPathCompileError(
                constraint.key, f"two different invariants become {compiled.name} in {type_def.name}"
            )
        out.append(_at(compiled, where))

    for constraint in type_def.constraints:
        add(type_def.name, type_def.name, constraint)
    for element in type_def.elements:
        for constraint in element.constraints:
            add(element.path, element.path, constraint)
    return out


def _at(compiled: CompiledInvariant, where: str) -> CompiledInvariant:
    from dataclasses import replace

    return replace(compiled, context=where)


def type_table(model: Model) -> TypeTable:
    """The element types of every type and backbone element of *model*, for the runtime."""
    elements: dict[str, tuple[str, str]] = {}
    bases: dict[str, str] = {}
    for type_def in model.types:
        if type_def.base and not type_def.is_backbone:
            bases[type_def.name] = type_def.base
        for owner in type_def.all_types():
            for element in owner.elements:
                path = f"{owner.name}.{element.name}"
                if element.backbone:
                    code = element.types[0].code if element.types else "BackboneElement"
                    elements[path] = (code, element.backbone)
                elif element.is_choice:
                    elements[path] = ("*", "")
                elif element.types:
                    code = element.types[0].code
                    elements[path] = (code, code)
    return TypeTable(elements, bases)
