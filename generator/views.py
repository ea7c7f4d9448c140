"""From the IR to view values: everything a template prints, prepared in Python.

Templates only loop and print; every decision (which module a type lives in, which attributes a
class declares rather than inherits, type hints, defaults, literals, docstrings, imports) is made
here. Untrusted text from the definitions reaches generated code only through :func:`py_literal`
(``repr`` of a ``str``) or :func:`docstring` (escaped), and names only through ``fhirgen.naming``.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

from . import naming
from .ir import Element, Model, TypeDef, TypeRef, ValueSetDef

__all__ = ["AttributeView", "ClassView", "ModuleView", "PackageView", "build_views", "docstring"]

#: Python type of each FHIR primitive's value (everything else is ``str``).
PRIMITIVE_PY_TYPES = {
    "boolean": "bool",
    "integer": "int",
    "unsignedInt": "int",
    "positiveInt": "int",
    "integer64": "int",
    "decimal": "Decimal",
}

#: Types with no class of their own: the abstract roots map onto the runtime base.
DATATYPES_MODULE = "datatypes"
RESOURCE_ROOT = "Resource"


def docstring(text: str | None, width: int = 92) -> str:
    """Body of a triple-quoted docstring: wrapped, with backslashes and quotes made inert."""
    if not text:
        return ""
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").replace("\r", "\n").split("\n\n")]
    wrapped = "\n\n".join(
        textwrap.fill(" ".join(p.split()), width=width, break_long_words=False,
                      break_on_hyphens=False)
        for p in paragraphs
        if p
    )
    safe = wrapped.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    safe = "".join(c if c >= " " or c == "\n" else f"\\x{ord(c):02x}" for c in safe)
    if safe.endswith('"'):
        safe = safe[:-1] + '\\"'
    return safe


def py_literal(value: Any) -> str:
    """A Python literal of plain data (str, int, bool, None, tuples/lists/dicts of those)."""
    if isinstance(value, (str, int, bool)) or value is None:
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "(" + "".join(py_literal(v) + ", " for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no literal for {type(value).__name__}")


@dataclass(frozen=True)
class AttributeView:
    name: str
    annotation: str
    default: str
    doc: str


@dataclass(frozen=True)
class FieldView:
    """One ``Field(...)`` entry of a class's ``_fields`` (rendered as a Python expression)."""

    expression: str


@dataclass(frozen=True)
class ClassView:
    name: str
    base: str
    doc: str
    resource_type: str | None
    attributes: tuple[AttributeView, ...]
    fields: tuple[FieldView, ...]
    base_fields: str  # expression of the inherited fields tuple, "()" for the root
    source: str  # FHIR path or URL, for a comment
    references: frozenset[str] = frozenset()  # names used: classes, literal types, RESOURCES


@dataclass(frozen=True)
class ModuleView:
    filename: str
    doc: str
    imports: tuple[tuple[str, ...], ...]  # groups of import lines, each group sorted
    classes: tuple[ClassView, ...]
    exports: tuple[str, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class LiteralView:
    name: str
    url: str
    codes: tuple[str, ...]
    codes_literal: str
    doc: str = ""


@dataclass(frozen=True)
class PackageView:
    header: tuple[str, ...]
    modules: tuple[ModuleView, ...]
    literals: tuple[LiteralView, ...]
    exports: tuple[tuple[str, str], ...]  # (module, class name), sorted by name
    resources: tuple[tuple[str, str, str], ...]  # (resourceType, module, class name)
    fhir_version: str
    targets: tuple[str, ...]
    examples: tuple[tuple[str, str, str], ...] = field(default=())  # (test id, path, class)


# ----------------------------------------------------------------------------- placement


def _module_of(type_def: TypeDef, model: Model) -> str:
    if type_def.is_resource or _is_resource_root(type_def, model):
        return naming.module_name(type_def.name)
    return DATATYPES_MODULE


def _is_resource_root(type_def: TypeDef, model: Model) -> bool:
    seen = type_def
    while seen.base:
        if seen.base == RESOURCE_ROOT or seen.name == RESOURCE_ROOT:
            return True
        try:
            seen = model.type(seen.base)
        except KeyError:
            return False
    return seen.name == RESOURCE_ROOT


def _has_class(type_def: TypeDef) -> bool:
    return not type_def.is_primitive


# ------------------------------------------------------------------------------- classes


@dataclass(frozen=True)
class _Context:
    model: Model
    literal_names: dict[str, str]  # value set URL -> Literal type name
    module: str


def _annotation(type_ref: TypeRef, element: Element, ctx: _Context) -> str:
    target = _target_type(type_ref, element, ctx.model)
    if target.is_primitive:
        binding = element.binding
        if (
            binding is not None
            and binding.strength == "required"
            and binding.value_set in ctx.literal_names
            and type_ref.code == "code"
        ):
            return ctx.literal_names[binding.value_set]
        return PRIMITIVE_PY_TYPES.get(target.name, "str")
    return naming.class_name(target.name)


def _target_type(type_ref: TypeRef, element: Element, model: Model) -> TypeDef:
    if element.backbone:
        return model.type(element.backbone)
    return model.type(type_ref.code)


def _element_doc(element: Element, type_ref: TypeRef | None) -> str:
    card = f"{element.min}..{'*' if element.max is None else element.max}"
    facts = [card]
    if element.is_modifier:
        facts.append("modifier")
    if element.is_summary:
        facts.append("summary")
    if element.binding and element.binding.value_set:
        facts.append(f"{element.binding.strength} binding {element.binding.value_set}")
    if type_ref is not None and type_ref.target_profiles:
        facts.append("to " + " | ".join(type_ref.target_types))
    head = element.short or element.name
    body = element.definition or ""
    return docstring(f"{head} ({', '.join(facts)}).\n\n{body}")


def _field_expression(
    json_name: str, attr: str, element: Element, target: TypeDef, ctx: _Context
) -> str:
    """``Field(json name, attribute, kind, is list, model, primitive, ext attribute[, resources])``."""
    is_list = "True" if element.is_array else "False"
    if target.is_primitive:
        ext = None if element.is_xml_attribute else naming.extension_attribute(json_name)
        return (
            f"Field({json_name!r}, {attr!r}, PRIMITIVE, {is_list}, Element, {target.name!r}, "
            f"{ext!r})"
        )
    if _is_resource_root(target, ctx.model):
        return f"Field({json_name!r}, {attr!r}, RESOURCE, {is_list}, None, None, None, RESOURCES)"
    return f"Field({json_name!r}, {attr!r}, COMPLEX, {is_list}, {naming.class_name(target.name)})"


def _class_view(type_def: TypeDef, ctx: _Context) -> ClassView:
    model = ctx.model
    base_def = model.type(type_def.base) if type_def.base else None
    inherited = {e.name for e in base_def.elements} if base_def else set()
    attributes: list[AttributeView] = []
    fields: list[FieldView] = []
    references: set[str] = set()
    for element in type_def.elements:
        if element.name in inherited or (not element.types and not element.backbone):
            continue
        for json_name, type_ref in element.json_names():
            target = _target_type(type_ref, element, model)
            attr = naming.attribute_name(json_name)
            hint = _annotation(type_ref, element, ctx)
            doc = _element_doc(element, type_ref)
            if hint in ctx.literal_names.values() or not target.is_primitive:
                references.add(hint)
            if element.is_array:
                attributes.append(
                    AttributeView(attr, f"list[{hint}]", "field(default_factory=list)", doc)
                )
            else:
                attributes.append(AttributeView(attr, f"{hint} | None", "None", doc))
            if target.is_primitive:
                references.add("Element")
            if target.is_primitive and not element.is_xml_attribute:
                ext = naming.extension_attribute(json_name)
                ext_doc = docstring(f"Extensions and id of ``{json_name}`` (JSON ``_{json_name}``).")
                if element.is_array:
                    attributes.append(
                        AttributeView(
                            ext, "list[Element | None]", "field(default_factory=list)", ext_doc
                        )
                    )
                else:
                    attributes.append(AttributeView(ext, "Element | None", "None", ext_doc))
            if not target.is_primitive and _is_resource_root(target, model):
                references.add("RESOURCES")
            fields.append(FieldView(_field_expression(json_name, attr, element, target, ctx)))
    base_name = naming.class_name(base_def.name) if base_def else "FhirModel"
    if base_def:
        references.add(base_name)
    definition = type_def.definition if type_def.definition != type_def.short else None
    doc = docstring("\n\n".join(p for p in (type_def.short, definition) if p))
    return ClassView(
        name=naming.class_name(type_def.name),
        base=base_name,
        doc=doc,
        resource_type=type_def.name if type_def.is_resource and not type_def.abstract else None,
        attributes=tuple(attributes),
        fields=tuple(fields),
        base_fields=f"{base_name}._fields" if base_def else "()",
        source=(type_def.url or type_def.name) if not type_def.is_backbone else type_def.name,
        references=frozenset(references),
    )


def _inheritance_order(types: list[TypeDef], model: Model) -> list[TypeDef]:
    """Bases before subclasses, otherwise by name (backbones right after their owner)."""
    names = {t.name for t in types}

    def depth(type_def: TypeDef) -> int:
        level = 0
        current = type_def
        while current.base and current.base in names:
            level += 1
            current = model.type(current.base)
        return level

    owners = sorted((t for t in types if not t.is_backbone), key=lambda t: (depth(t), t.name))
    ordered: list[TypeDef] = []
    for owner in owners:
        ordered.append(owner)
        ordered.extend(owner.backbones)
    return ordered


def _imports(
    module: str, views: tuple[ClassView, ...], ctx: _Context, homes: dict[str, str]
) -> tuple[tuple[str, ...], ...]:
    """Import lines a module needs, as data: standard library, fhirgen, this package."""
    expressions = " ".join(f.expression for view in views for f in view.fields)
    runtime = {"Field"} | {
        kind for kind in ("COMPLEX", "PRIMITIVE", "RESOURCE") if f"{kind}," in expressions
    }
    runtime |= {"FhirModel" for view in views if view.base == "FhirModel"}
    uses_field = any(a.default.startswith("field(") for view in views for a in view.attributes)
    stdlib = {"from dataclasses import dataclass" + (", field" if uses_field else "")}
    if any(view.resource_type for view in views):
        stdlib.add("from typing import ClassVar")
    if any("Decimal" in a.annotation for view in views for a in view.attributes):
        stdlib.add("from decimal import Decimal")
    defined = {view.name for view in views}
    local: dict[str, set[str]] = {}
    literal_names = set(ctx.literal_names.values())
    for name in sorted(set().union(*(view.references for view in views)) - defined):
        if name == "RESOURCES":
            local.setdefault("_registry", set()).add(name)
        elif name in literal_names:
            local.setdefault("valuesets", set()).add(name)
        else:
            local.setdefault(homes[name], set()).add(name)
    return (
        ("from __future__ import annotations",),
        tuple(sorted(stdlib)),
        (f"from fhirgen.runtime.model import {', '.join(sorted(runtime))}",),
        tuple(f"from .{mod} import {', '.join(sorted(names))}" for mod, names in sorted(local.items())),
    )


# ------------------------------------------------------------------------------ package


def _literals(model: Model, class_names: set[str]) -> tuple[LiteralView, ...]:
    taken = set(class_names)
    result = []
    for value_set in model.value_sets:
        if not _literal_worthy(value_set, model):
            continue
        name = naming.value_set_type_name(value_set.name, value_set.url, taken)
        taken.add(name)
        codes = tuple(sorted({c.code for c in value_set.concepts if not c.abstract}))
        result.append(
            LiteralView(
                name,
                value_set.url,
                codes,
                ", ".join(repr(c) for c in codes),
                docstring(f"Codes of {value_set.url}"),
            )
        )
    return tuple(result)


def _literal_worthy(value_set: ValueSetDef, model: Model) -> bool:
    """A value set becomes a Literal type when some required ``code`` element binds it."""
    if not value_set.expanded or not value_set.concepts:
        return False
    for type_def in model.types:
        for owner in type_def.all_types():
            for element in owner.elements:
                binding = element.binding
                if (
                    binding is not None
                    and binding.strength == "required"
                    and binding.value_set == value_set.url
                    and element.type_codes == ("code",)
                ):
                    return True
    return False


def header_lines(model: Model, source: str | None = None) -> tuple[str, ...]:
    packages = ", ".join(f"{name}@{version}" for name, version in model.packages) or "local definitions"
    lines = [
        f"Generated by fhirgen from {packages} (FHIR {model.fhir_version or 'unknown'}).",
        "Do not edit: change the generator or its templates and run `fhirgen generate`.",
    ]
    if source:
        lines.append(f"Source: {source}")
    return tuple(lines)


def build_views(model: Model, examples: tuple[tuple[str, str], ...] = ()) -> PackageView:
    """All view values of one generated package. *examples*: (path, resourceType) pairs."""
    class_types = [t for t in model.types if _has_class(t)]
    class_names = {naming.class_name(b.name) for t in class_types for b in t.all_types()}
    naming.check_unique(
        (naming.class_name(b.name), b.name) for t in class_types for b in t.all_types()
    )
    literals = _literals(model, class_names)
    literal_names = {lit.url: lit.name for lit in literals}

    grouped: dict[str, list[TypeDef]] = {}
    for type_def in class_types:
        grouped.setdefault(_module_of(type_def, model), []).append(type_def)

    homes = {
        naming.class_name(b.name): module
        for module, types in grouped.items()
        for t in types
        for b in t.all_types()
    }
    modules = []
    exports: list[tuple[str, str]] = []
    resources: list[tuple[str, str, str]] = []
    for module in sorted(grouped):
        ctx = _Context(model, literal_names, module)
        ordered = _inheritance_order(grouped[module], model)
        classes = tuple(_class_view(t, ctx) for t in ordered)
        sources = tuple(t.url or t.name for t in ordered if not t.is_backbone)
        doc = (
            "FHIR complex datatypes and their base types."
            if module == DATATYPES_MODULE
            else f"FHIR resource {ordered[0].name}."
        )
        modules.append(
            ModuleView(
                filename=f"{module}.py",
                doc=doc,
                imports=tuple(g for g in _imports(module, classes, ctx, homes) if g),
                classes=classes,
                exports=tuple(sorted(c.name for c in classes)),
                sources=sources if module != DATATYPES_MODULE else (),
            )
        )
        exports.extend((module, c.name) for c in classes)
        resources.extend(
            (c.resource_type, module, c.name) for c in classes if c.resource_type is not None
        )
    example_views = tuple(
        (_test_id(path), path, naming.class_name(resource_type))
        for path, resource_type in examples
        if resource_type in {r[0] for r in resources}
    )
    return PackageView(
        header=header_lines(model),
        modules=tuple(modules),
        literals=literals,
        exports=tuple(sorted(exports, key=lambda e: e[1])),
        resources=tuple(sorted(resources)),
        fhir_version=model.fhir_version,
        targets=model.targets,
        examples=example_views,
    )


def _test_id(path: str) -> str:
    """A readable pytest id for an example file (rendered as a literal, never as a name)."""
    return path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
