"""The intermediate representation (IR): what the generator knows about FHIR types, as frozen data.

Everything after loading works on this model and nothing else; it is built by pure functions from
a :class:`~fhirgen.loader.DefinitionIndex` and never refers back to the raw JSON.

Shape
-----
A :class:`Model` is the closure of the requested target types: the targets, their base types, and
every type their elements use, transitively (``Extension.value[x]`` alone reaches most datatypes),
plus the value sets their required and extensible bindings name.

A :class:`TypeDef` is one FHIR type, as its StructureDefinition's snapshot says (one that has only
a differential gets a snapshot from :mod:`fhirgen.snapshot` in :func:`build_model`): a primitive
(``string``, with its regex and JSON kind in :class:`PrimitiveInfo`), a complex datatype
(``Coding``), a resource (``ImagingSelection``) or a backbone element (``ImagingSelection.instance``).
Backbone elements are types of their own, named by their path and listed, in specification order
and flattened over all nesting levels, in the owning type's ``backbones``. A type's ``elements`` are
its direct children in specification order, including the inherited ones (``id``, ``extension``,
``meta`` ...): each :class:`Element` records its ``base_path``, so a renderer can tell what a class
inherits without consulting the base type.

An :class:`Element` carries the facts the later stages need: cardinality (``max`` is ``None`` for
``*``; ``base_max`` decides the JSON shape, array or single value, since profiles may narrow
``max`` but never the shape), the allowed types as :class:`TypeRef` (code, target profiles,
profiles), choice-ness (``value[x]``), the binding (:class:`Binding`), the invariants
(:class:`Constraint`: key, severity, human text, FHIRPath expression), modifier/summary/mustSupport
flags, ``fixed[x]``/``pattern[x]``/``minValue[x]``/``maxValue[x]`` as (type, value) pairs, a content
reference (an element that reuses another backbone's definition, as ``Questionnaire.item.item``
does) and the XML representation (``xmlAttr``, ``xhtml``).

FHIRPath system types (``http://hl7.org/fhirpath/System.String`` on ``Element.id``, ``Extension.url``
and primitives' ``value``) are replaced by the FHIR type their ``structuredefinition-fhir-type``
extension names; ``TypeRef.system`` keeps the original.

Names are paths and FHIR type codes only: Python names are decided later, in ``fhirgen.naming``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .loader import DefinitionIndex

__all__ = [
    "Binding",
    "Concept",
    "Constraint",
    "Element",
    "IRError",
    "Model",
    "PrimitiveInfo",
    "Profile",
    "Slicing",
    "TypeDef",
    "TypeRef",
    "ValueSetDef",
    "build_model",
    "build_profiles",
    "build_type",
    "closure",
]

CORE_SD = "http://hl7.org/fhir/StructureDefinition/"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."

#: JSON representation of primitive values (FHIR JSON, "Primitive types"): these are JSON numbers,
#: ``boolean`` is true/false, every other primitive (integer64 included) is a JSON string. The
#: StructureDefinitions do not state this, so it is the one table of its kind here.
JSON_NUMBER_PRIMITIVES = frozenset({"decimal", "integer", "unsignedInt", "positiveInt"})
JSON_BOOLEAN_PRIMITIVES = frozenset({"boolean"})

_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]*\Z")
_PACKAGE = re.compile(r"[A-Za-z0-9@][A-Za-z0-9._@/-]*\Z")


class IRError(Exception):
    """Definitions that do not make a consistent model (missing type, no snapshot, ...)."""


@dataclass(frozen=True, slots=True)
class TypeRef:
    """One allowed type of an element."""

    code: str
    target_profiles: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    system: str | None = None  # the FHIRPath system type it replaced, if any

    @property
    def target_types(self) -> tuple[str, ...]:
        """Target type names of a Reference/canonical (last segment of each target profile)."""
        return tuple(url.rsplit("/", 1)[-1] for url in self.target_profiles)


@dataclass(frozen=True, slots=True)
class Binding:
    strength: str  # required | extensible | preferred | example
    value_set: str | None  # canonical URL without |version
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Constraint:
    key: str
    severity: str  # error | warning
    human: str
    expression: str | None
    source: str | None = None  # URL of the definition that introduced it
    requirements: str | None = None


@dataclass(frozen=True, slots=True)
class Slicing:
    """Slicing rules of a sliced element (profiles)."""

    discriminators: tuple[tuple[str, str], ...]  # (type, path)
    rules: str  # closed | open | openAtEnd
    ordered: bool = False
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Element:
    path: str  # snapshot path, e.g. "ImagingSelection.instance.imageRegion2D.coordinate"
    name: str  # last path segment without "[x]", e.g. "coordinate", "value"
    min: int
    max: int | None  # None means "*"
    base_path: str
    base_max: int | None
    types: tuple[TypeRef, ...]
    is_choice: bool = False
    element_id: str = ""
    short: str | None = None
    definition: str | None = None
    comment: str | None = None
    requirements: str | None = None
    binding: Binding | None = None
    constraints: tuple[Constraint, ...] = ()
    condition: tuple[str, ...] = ()
    is_modifier: bool = False
    is_summary: bool = False
    must_support: bool = False
    fixed: tuple[str, Any] | None = None  # (type code, value)
    pattern: tuple[str, Any] | None = None
    min_value: tuple[str, Any] | None = None
    max_value: tuple[str, Any] | None = None
    max_length: int | None = None
    content_reference: str | None = None  # path of the reused backbone, e.g. "Questionnaire.item"
    backbone: str | None = None  # path of the nested type this element's values have
    representation: tuple[str, ...] = ()
    slice_name: str | None = None
    slicing: Slicing | None = None
    base_min: int | None = None  # min of the base definition (profiles narrow it)

    @property
    def is_array(self) -> bool:
        """JSON shape: an array when the base definition allows more than one value."""
        return self.base_max is None or self.base_max > 1

    @property
    def is_required(self) -> bool:
        return self.min > 0

    @property
    def is_xml_attribute(self) -> bool:
        return "xmlAttr" in self.representation

    @property
    def type_codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.types)

    def json_names(self) -> tuple[tuple[str, TypeRef], ...]:
        """The JSON property names this element may appear under, with the type each implies."""
        if not self.is_choice:
            return tuple((self.name, t) for t in self.types[:1]) or ((self.name, TypeRef("")),)
        return tuple((self.name + t.code[0].upper() + t.code[1:], t) for t in self.types)


@dataclass(frozen=True, slots=True)
class PrimitiveInfo:
    regex: str | None
    json_kind: str  # "string" | "number" | "boolean"
    fhirpath_type: str  # "System.String", "System.Decimal", ...


@dataclass(frozen=True, slots=True)
class TypeDef:
    name: str  # type name ("ImagingSelection") or backbone path ("ImagingSelection.instance")
    kind: str  # primitive-type | complex-type | resource | logical | backbone
    base: str | None  # base type name ("DomainResource"), "BackboneElement" for backbones
    elements: tuple[Element, ...]
    url: str | None = None
    version: str | None = None
    abstract: bool = False
    derivation: str | None = None
    short: str | None = None
    definition: str | None = None
    constraints: tuple[Constraint, ...] = ()
    primitive: PrimitiveInfo | None = None
    backbones: tuple[TypeDef, ...] = ()
    owner: str | None = None  # for backbones: the type that defines them

    @property
    def is_backbone(self) -> bool:
        return self.kind == "backbone"

    @property
    def is_primitive(self) -> bool:
        return self.kind == "primitive-type"

    @property
    def is_resource(self) -> bool:
        return self.kind == "resource"

    def element(self, name: str) -> Element:
        for element in self.elements:
            if element.name == name:
                return element
        raise KeyError(f"{self.name} has no element {name!r}")

    def all_types(self) -> tuple[TypeDef, ...]:
        """This type followed by its backbone types."""
        return (self, *self.backbones)


@dataclass(frozen=True, slots=True)
class Concept:
    system: str | None
    code: str
    display: str | None = None
    version: str | None = None
    abstract: bool = False
    inactive: bool = False


@dataclass(frozen=True, slots=True)
class ValueSetDef:
    url: str
    name: str | None
    version: str | None
    concepts: tuple[Concept, ...]
    expanded: bool  # False: no expansion could be had offline (concepts then empty or partial)
    source: str = ""  # "expansion" | "compose" | "unavailable"

    def codes(self) -> frozenset[str]:
        return frozenset(c.code for c in self.concepts)


@dataclass(frozen=True, slots=True)
class Model:
    """The closure of the target types: every type they need and the value sets they bind."""

    fhir_version: str
    packages: tuple[tuple[str, str], ...]  # (name, version) of the packages the definitions came from
    targets: tuple[str, ...]
    types: tuple[TypeDef, ...]  # sorted by name; backbones are inside their owners
    value_sets: tuple[ValueSetDef, ...]  # sorted by URL

    def type(self, name: str) -> TypeDef:
        for type_def in self.types:
            if type_def.name == name:
                return type_def
        owner = name.split(".", 1)[0]
        if "." in name:
            for backbone in self.type(owner).backbones:
                if backbone.name == name:
                    return backbone
        raise KeyError(f"type {name!r} is not in the model")

    def value_set(self, url: str) -> ValueSetDef | None:
        url = url.split("|", 1)[0]
        for value_set in self.value_sets:
            if value_set.url == url:
                return value_set
        return None

    def type_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.types)


# --------------------------------------------------------------------------- building elements


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _max(value: Any) -> int | None:
    if value is None or value == "*":
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise IRError(f"invalid max cardinality {value!r}") from exc


def _extension_value(items: Iterable[dict[str, Any]], url: str) -> Any:
    for ext in items or ():
        if ext.get("url") == url:
            for key, value in ext.items():
                if key.startswith("value"):
                    return value
    return None


def _type_ref(raw: dict[str, Any]) -> TypeRef:
    code = raw.get("code")
    if not isinstance(code, str):
        raise IRError(f"type without code: {raw!r}")
    system = None
    if code.startswith(SYSTEM_PREFIX):
        fhir_type = _extension_value(raw.get("extension", ()), FHIR_TYPE_EXT)
        system = code
        code = fhir_type if isinstance(fhir_type, str) else code
    return TypeRef(
        code=code,
        target_profiles=tuple(raw.get("targetProfile", ())),
        profiles=tuple(raw.get("profile", ())),
        system=system,
    )


def _typed_value(raw: dict[str, Any], prefix: str) -> tuple[str, Any] | None:
    for key, value in raw.items():
        if key.startswith(prefix) and len(key) > len(prefix) and key[len(prefix)].isupper():
            return key[len(prefix) :], value
    return None


def _constraint(raw: dict[str, Any]) -> Constraint:
    return Constraint(
        key=str(raw.get("key", "")),
        severity=str(raw.get("severity", "error")),
        human=str(raw.get("human", "")),
        expression=_text(raw.get("expression")),
        source=_text(raw.get("source")),
        requirements=_text(raw.get("requirements")),
    )


def _binding(raw: dict[str, Any] | None) -> Binding | None:
    if not raw:
        return None
    value_set = _text(raw.get("valueSet"))
    return Binding(
        strength=str(raw.get("strength", "")),
        value_set=value_set.split("|", 1)[0] if value_set else None,
        description=_text(raw.get("description")),
    )


def _slicing(raw: dict[str, Any] | None) -> Slicing | None:
    if not raw:
        return None
    return Slicing(
        discriminators=tuple(
            (str(d.get("type", "")), str(d.get("path", ""))) for d in raw.get("discriminator", ())
        ),
        rules=str(raw.get("rules", "open")),
        ordered=bool(raw.get("ordered", False)),
        description=_text(raw.get("description")),
    )


def _element(raw: dict[str, Any], backbone: str | None) -> Element:
    path = raw["path"]
    last = path.rsplit(".", 1)[-1]
    is_choice = last.endswith("[x]")
    base = raw.get("base") or {}
    content_reference = _text(raw.get("contentReference"))
    if content_reference:
        content_reference = content_reference.split("#", 1)[-1]
    types = tuple(_type_ref(t) for t in raw.get("type", ()))
    fixed = _typed_value(raw, "fixed")
    fixed_code = _fixed_code(types, fixed)
    return Element(
        path=path,
        name=last[:-3] if is_choice else last,
        min=int(raw.get("min", 0)),
        max=_max(raw.get("max", "*")),
        base_path=str(base.get("path", path)),
        base_max=_max(base.get("max", raw.get("max", "*"))),
        types=types,
        is_choice=is_choice,
        element_id=str(raw.get("id", path)),
        short=_text(raw.get("short")),
        definition=_text(raw.get("definition")),
        comment=_text(raw.get("comment")),
        requirements=_text(raw.get("requirements")),
        binding=_binding(raw.get("binding")),
        constraints=tuple(_constraint(c) for c in raw.get("constraint", ())),
        condition=tuple(raw.get("condition", ())),
        is_modifier=bool(raw.get("isModifier", False)),
        is_summary=bool(raw.get("isSummary", False)),
        must_support=bool(raw.get("mustSupport", False)),
        fixed=fixed_code,
        pattern=_fixed_code(types, _typed_value(raw, "pattern")),
        min_value=_fixed_code(types, _typed_value(raw, "minValue")),
        max_value=_fixed_code(types, _typed_value(raw, "maxValue")),
        max_length=raw.get("maxLength") if isinstance(raw.get("maxLength"), int) else None,
        content_reference=content_reference,
        backbone=content_reference or backbone,
        representation=tuple(raw.get("representation", ())),
        slice_name=_text(raw.get("sliceName")),
        slicing=_slicing(raw.get("slicing")),
        base_min=int(base.get("min", raw.get("min", 0))),
    )


def _fixed_code(
    types: tuple[TypeRef, ...], found: tuple[str, Any] | None
) -> tuple[str, Any] | None:
    """Map a ``fixedXxx`` suffix back to the element's own type code (case as FHIR spells it)."""
    if found is None:
        return None
    suffix, value = found
    for type_ref in types:
        if type_ref.code.lower() == suffix.lower():
            return type_ref.code, value
    return suffix, value


# ------------------------------------------------------------------------------ building types


def _snapshot(sd: dict[str, Any]) -> list[dict[str, Any]]:
    elements = (sd.get("snapshot") or {}).get("element")
    if not elements:
        raise IRError(
            f"{sd.get('url')}: StructureDefinition has no snapshot "
            "(build_model makes one from a differential: fhirgen.snapshot)"
        )
    return list(elements)


def _children(elements: Sequence[dict[str, Any]], parent: str) -> list[dict[str, Any]]:
    """Direct children of *parent* among snapshot elements, in order, without slices."""
    depth = parent.count(".") + 1
    return [
        e
        for e in elements
        if e["path"].startswith(parent + ".")
        and e["path"].count(".") == depth
        and not e.get("sliceName")
        and ":" not in str(e.get("id", ""))  # children of a slice belong to the slice
    ]


def _is_backbone(raw: dict[str, Any], elements: Sequence[dict[str, Any]]) -> bool:
    if raw.get("contentReference"):
        return False
    codes = {t.get("code") for t in raw.get("type", ())}
    return bool(codes & {"BackboneElement", "Element"}) and any(
        e["path"].startswith(raw["path"] + ".") for e in elements
    )


def _primitive_info(sd: dict[str, Any], elements: Sequence[dict[str, Any]]) -> PrimitiveInfo:
    name = sd["type"]
    value = next((e for e in elements if e["path"] == f"{name}.value"), None)
    regex = None
    fhirpath_type = "System.String"
    if value is not None:
        for raw_type in value.get("type", ()):
            regex = _extension_value(raw_type.get("extension", ()), REGEX_EXT)
            code = raw_type.get("code", "")
            if code.startswith(SYSTEM_PREFIX):
                fhirpath_type = code[len("http://hl7.org/fhirpath/") :]
    if isinstance(regex, str):
        try:
            re.compile(regex)
        except re.error as exc:  # it would be generated as is and fail when imported
            raise IRError(f"{name}: the regex of its value is not a valid regular expression "
                          f"({exc}): {regex!r}") from exc
    if name in JSON_NUMBER_PRIMITIVES:
        json_kind = "number"
    elif name in JSON_BOOLEAN_PRIMITIVES:
        json_kind = "boolean"
    else:
        json_kind = "string"
    return PrimitiveInfo(regex=regex if isinstance(regex, str) else None, json_kind=json_kind,
                         fhirpath_type=fhirpath_type)


def build_type(sd: dict[str, Any]) -> TypeDef:
    """Build the :class:`TypeDef` of one StructureDefinition (with its backbone types)."""
    elements = _snapshot(sd)
    root = elements[0]
    type_name = str(sd.get("type") or root["path"].split(".", 1)[0])
    kind = str(sd.get("kind", ""))
    base_url = _text(sd.get("baseDefinition"))
    derivation = _text(sd.get("derivation"))
    base = base_url.rsplit("/", 1)[-1] if base_url else None
    if derivation == "constraint":
        # A profile is its base type, constrained: its elements keep the base type's paths.
        base = type_name

    backbones: list[TypeDef] = []

    def build_children(parent_path: str) -> tuple[Element, ...]:
        result = []
        for raw in _children(elements, parent_path):
            backbone = None
            if _is_backbone(raw, elements):
                backbone = raw["path"]
                codes = [t.get("code") for t in raw.get("type", ())]
                backbones.append(
                    TypeDef(
                        name=raw["path"],
                        kind="backbone",
                        base="BackboneElement" if "BackboneElement" in codes else "Element",
                        elements=(),  # filled below, once children are built
                        short=_text(raw.get("short")),
                        definition=_text(raw.get("definition")),
                        constraints=tuple(_constraint(c) for c in raw.get("constraint", ())),
                        owner=type_name,
                        url=_text(sd.get("url")),
                        version=_text(sd.get("version")),
                    )
                )
                index = len(backbones) - 1
                children = build_children(raw["path"])
                backbones[index] = _replace_elements(backbones[index], children)
            result.append(_element(raw, backbone))
        return tuple(result)

    own_elements = build_children(root["path"])
    return TypeDef(
        name=type_name if derivation != "constraint" else str(sd.get("name") or type_name),
        kind=kind,
        base=base,
        elements=own_elements,
        url=_text(sd.get("url")),
        version=_text(sd.get("version")),
        abstract=bool(sd.get("abstract", False)),
        derivation=derivation,
        short=_text(root.get("short")),
        definition=_text(root.get("definition")) or _text(sd.get("description")),
        constraints=tuple(_constraint(c) for c in root.get("constraint", ())),
        primitive=_primitive_info(sd, elements) if kind == "primitive-type" else None,
        backbones=tuple(backbones),
    )


def _replace_elements(type_def: TypeDef, elements: tuple[Element, ...]) -> TypeDef:
    from dataclasses import replace

    return replace(type_def, elements=elements)


# ------------------------------------------------------------------------------------- closure


def _type_sd(index: DefinitionIndex, name: str, needed_by: str) -> dict[str, Any]:
    sd = index.structure_definition(name)
    if sd is None:
        raise IRError(f"type {name!r} (needed by {needed_by}) has no StructureDefinition in the definitions")
    return sd


def closure(index: DefinitionIndex, targets: Sequence[str]) -> tuple[str, ...]:
    """Names of the target types and every type they need (bases, element types), sorted."""
    seen: dict[str, None] = {}
    pending = [(name, "the targets") for name in targets]
    while pending:
        name, needed_by = pending.pop()
        if name in seen:
            continue
        sd = _type_sd(index, name, needed_by)
        type_name = str(sd.get("type") or name) if sd.get("derivation") != "constraint" else name
        seen[type_name] = None
        base = _text(sd.get("baseDefinition"))
        if base:
            pending.append((base.rsplit("/", 1)[-1], type_name))
        for raw in _snapshot(sd):
            for raw_type in raw.get("type", ()):
                code = _type_ref(raw_type).code
                if code.startswith(SYSTEM_PREFIX) or code in seen:
                    continue
                pending.append((code, raw["path"]))
    return tuple(sorted(seen))


def all_core_types(index: DefinitionIndex) -> tuple[str, ...]:
    """Every type the definitions specialise (resources, datatypes, primitives), sorted."""
    names = {
        str(sd["type"])
        for sd in index.structure_definitions()
        if sd.get("derivation") in ("specialization", None)
        and sd.get("kind") in ("resource", "complex-type", "primitive-type")
        and sd.get("url", "").startswith(CORE_SD)
        and sd.get("url", "") == CORE_SD + str(sd.get("type"))
    }
    return tuple(sorted(names))


# ----------------------------------------------------------------------------------- value sets


def _concepts_from_expansion(contains: Iterable[dict[str, Any]]) -> list[Concept]:
    result: list[Concept] = []
    for item in contains:
        if "code" in item:
            result.append(
                Concept(
                    system=_text(item.get("system")),
                    code=str(item["code"]),
                    display=_text(item.get("display")),
                    version=_text(item.get("version")),
                    abstract=bool(item.get("abstract", False)),
                    inactive=bool(item.get("inactive", False)),
                )
            )
        result.extend(_concepts_from_expansion(item.get("contains", ())))
    return result


def _code_system_concepts(cs: dict[str, Any]) -> list[Concept]:
    url = _text(cs.get("url"))

    def walk(items: Iterable[dict[str, Any]]) -> Iterable[Concept]:
        for item in items:
            yield Concept(system=url, code=str(item["code"]), display=_text(item.get("display")))
            yield from walk(item.get("concept", ()))

    return list(walk(cs.get("concept", ())))


def _value_set(index: DefinitionIndex, url: str) -> ValueSetDef:
    vs = index.get(url)
    if vs is None or vs.get("resourceType") != "ValueSet":
        return ValueSetDef(url=url, name=None, version=None, concepts=(), expanded=False,
                           source="unavailable")
    name, version = _text(vs.get("name")), _text(vs.get("version"))
    expansion = vs.get("expansion")
    if expansion and "contains" in expansion:
        concepts = _concepts_from_expansion(expansion["contains"])
        return ValueSetDef(url, name, version, tuple(concepts), True, "expansion")
    # No shipped expansion: expand the simple case, whole code systems we have, with no filters.
    concepts = []
    compose = vs.get("compose") or {}
    for include in compose.get("include", ()):
        system = _text(include.get("system"))
        if include.get("filter") or include.get("valueSet") or not system:
            return ValueSetDef(url, name, version, (), False, "unavailable")
        if include.get("concept"):
            concepts.extend(
                Concept(system=system, code=str(c["code"]), display=_text(c.get("display")))
                for c in include["concept"]
            )
            continue
        cs = index.get(system)
        if cs is None or cs.get("content") not in ("complete", None):
            return ValueSetDef(url, name, version, (), False, "unavailable")
        concepts.extend(_code_system_concepts(cs))
    if compose.get("exclude"):
        return ValueSetDef(url, name, version, (), False, "unavailable")
    return ValueSetDef(url, name, version, tuple(concepts), True, "compose")


# --------------------------------------------------------------------------------------- model


def build_model(index: DefinitionIndex, targets: Sequence[str]) -> Model:
    """Build the model of *targets* (type names) and everything they need.

    StructureDefinitions with only a differential get a snapshot first
    (:func:`fhirgen.snapshot.ensure_snapshots`, from their base's); ``closure`` and
    ``build_type`` on their own need snapshots.
    """
    if not targets:
        raise IRError("no target types given")
    from .snapshot import ensure_snapshots  # snapshot imports this module (IRError)

    index = ensure_snapshots(index)
    names = closure(index, targets)
    types = tuple(build_type(_type_sd(index, name, "the closure")) for name in names)
    bound: set[str] = set()
    for type_def in types:
        for owner in type_def.all_types():
            for element in owner.elements:
                binding = element.binding
                if binding and binding.value_set and binding.strength in ("required", "extensible"):
                    bound.add(binding.value_set)
    value_sets = tuple(_value_set(index, url) for url in sorted(bound))
    versions = sorted({t.version for t in types if t.version})
    packages = tuple(sorted({(p.name, p.version) for p in index.packages}))
    # These texts are printed into generated headers and literals: plain tokens only.
    for version in versions:
        if not _VERSION.match(version):
            raise IRError(f"StructureDefinition version {version!r} is not a plain version")
    for name, version in packages:
        if not _PACKAGE.match(name) or not _VERSION.match(version):
            raise IRError(f"package {name!r}@{version!r} is not a plain package id and version")
    return Model(
        fhir_version=versions[-1] if versions else "",
        packages=packages,
        targets=tuple(targets),
        types=types,
        value_sets=value_sets,
    )


def element_index(model: Model) -> Mapping[str, Element]:
    """Every element of every type by path (handy for tests and diffs)."""
    result: dict[str, Element] = {}
    for type_def in model.types:
        for owner in type_def.all_types():
            for element in owner.elements:
                result[element.path] = element
    return result


# ------------------------------------------------------------------------------------ profiles


@dataclass(frozen=True, slots=True)
class Profile:
    """A constraint profile on a type (``derivation = constraint``), for profile validators.

    ``elements`` is its whole snapshot in order, slices and their children included, each an
    :class:`Element` whose ``element_id`` places it (``ImagingSelection.instance.imageRegion2D:point
    .coordinate``) and whose ``base_path``/``base_min``/``base_max`` say what it narrows. Elements
    inside datatypes appear only where the profile unfolded them (``ImagingSelection.code.coding``).
    ``value_sets`` are those of the profile's required and extensible bindings, expanded as
    :attr:`Model.value_sets` are.
    """

    url: str
    name: str
    type: str  # the constrained type ("ImagingSelection")
    base_definition: str
    version: str | None
    title: str | None
    description: str | None
    elements: tuple[Element, ...]
    value_sets: tuple[ValueSetDef, ...] = ()

    @property
    def root(self) -> Element:
        return self.elements[0]

    def children(self, element_id: str) -> tuple[Element, ...]:
        """Direct children of the element *element_id* (not its slices), in snapshot order."""
        prefix = element_id + "."
        return tuple(
            e for e in self.elements
            if e.element_id.startswith(prefix) and "." not in e.element_id[len(prefix):]
            and ":" not in e.element_id[len(prefix):]
        )

    def slices(self, element_id: str) -> tuple[Element, ...]:
        """The slices of the element *element_id*, in snapshot order."""
        prefix = element_id + ":"
        return tuple(
            e for e in self.elements
            if e.element_id.startswith(prefix) and "." not in e.element_id[len(prefix):]
        )

    def element_by_id(self, element_id: str) -> Element | None:
        return next((e for e in self.elements if e.element_id == element_id), None)


def build_profiles(index: DefinitionIndex, urls: Sequence[str]) -> tuple[Profile, ...]:
    """The :class:`Profile` of each canonical URL in *urls* (snapshots made from differentials
    first, as :func:`build_model` does). A URL that is not a constraint profile in the
    definitions is an :class:`IRError` naming it."""
    from .snapshot import ensure_snapshots

    if not urls:
        return ()
    index = ensure_snapshots(index)
    return tuple(_build_profile(index, url) for url in urls)


def _build_profile(index: DefinitionIndex, url: str) -> Profile:
    sd = index.get(url)
    if sd is None or sd.get("resourceType") != "StructureDefinition":
        raise IRError(f"profile {url}: no StructureDefinition with this URL in the definitions")
    if sd.get("derivation") != "constraint":
        raise IRError(f"{url} is not a constraint profile (derivation is {sd.get('derivation')!r})")
    raw_elements = _snapshot(sd)
    elements = tuple(
        _element(raw, raw["path"] if _is_backbone(raw, raw_elements) else None)
        for raw in raw_elements
    )
    bound = sorted({
        e.binding.value_set for e in elements
        if e.binding and e.binding.value_set and e.binding.strength in ("required", "extensible")
    })
    name = _text(sd.get("name"))
    if not name or not name.isidentifier():
        raise IRError(f"profile {url}: its name {name!r} is not a plain identifier")
    return Profile(
        url=str(sd["url"]),
        name=name,
        type=str(sd.get("type") or elements[0].path),
        base_definition=str(sd.get("baseDefinition", "")),
        version=_text(sd.get("version")),
        title=_text(sd.get("title")),
        description=_text(sd.get("description")),
        elements=elements,
        value_sets=tuple(_value_set(index, vs) for vs in bound),
    )
