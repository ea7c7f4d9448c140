"""FHIR XML <-> FHIR JSON-shaped dicts, driven by the intermediate model (``fhirgen.ir``).

FHIR defines one information model with two wire forms. This module maps the XML form onto the
JSON form (the shape ``json.loads`` gives), so everything after parsing sees one tree:

* :class:`XmlSchema` answers, for a type or backbone path and an element's JSON name, what the XML
  needs: array or single, type code (a choice element's suffix names its type: ``valueString`` is
  a ``string``), primitive or not and the primitive's JSON kind (number/boolean/string), the
  backbone path, XML attribute representation (``xmlAttr``: ``Element.id``, ``Extension.url``,
  primitives' ``value``), XHTML (``Narrative.div``, a type whose ``value`` has the ``xhtml``
  representation) and resource-typed elements (``contained``, ``Bundle.entry.resource``: the
  resource sits in an element named by its type). Build it from a :class:`~fhirgen.ir.Model`
  (:meth:`XmlSchema.from_model`) or lazily from a definitions index (:meth:`XmlSchema.from_index`:
  the model of each resource type met is built when first needed).
* :func:`read_resource_xml` parses FHIR XML with a hardened lxml parser (no DTD, no entities, no
  network; a DOCTYPE is refused) and walks the tree with the current element path and source line
  at hand, giving the exact dict ``json.loads`` gives for the equivalent FHIR JSON: ``resourceType``
  first, elements in document order (XML attributes before child elements), primitive values
  converted per JSON kind (a number is an ``int`` unless its lexical form has ``.``, ``e`` or
  ``E``, then a ``float``, as ``json.loads`` does), ``_name`` objects for primitives' ids and
  extensions (with ``null`` placeholders in arrays, each of the two arrays present only when one of
  its items is not null), arrays for repeating elements even with one item, and the XHTML ``div``
  as the string FHIR JSON carries (``<div xmlns="http://www.w3.org/1999/xhtml">...</div>``).
* :func:`write_resource_xml` writes a JSON-shaped dict as FHIR XML (UTF-8, declaration, FHIR
  namespace, two-space indentation that never touches XHTML content).

Reading is strict but simple: unknown elements or attributes, a wrong namespace, text where FHIR
has none, a repeated single element, a primitive with neither value nor id/extension and a value
that is not of its JSON kind raise :class:`XmlReadError`, which names the element path (FHIRPath
style, ``ImagingSelection.instance[0].uid``) and the source line. Element order is not checked here.

* :func:`read_resource_xml_for_validation` is the same walk for validation: every problem is an
  :class:`~fhirgen.runtime.issues.Issue` (never an exception), the walk goes on, and the XML-only
  rules are checked too (element order, empty elements); it returns an :class:`XmlReading` whose
  tree the generated validators walk and whose :meth:`XmlReading.locate` gives issues the line
  and column of their element. :class:`XmlTables` is the schema a generated package carries
  (``xmlschema.py``), so generated models need no definitions to read or write XML.
* The XHTML narrative is read as written in the document when it stands alone (declares its own
  default namespace) and written as the JSON string has it, so JSON -> XML -> JSON keeps it.

Known difference between a JSON resource and its XML round trip: a ``div`` that does not stand
alone (a prefix, text around it) comes back in lxml's serialisation, the same XHTML written
differently.

The run-time half (reading, validation reading, writing, :class:`XmlTables`) lives in
``fhirgen.runtime.xmlio``, so generated packages need neither the definitions nor the model; its
names are re-exported here. This module adds :class:`XmlSchema`, built from the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .ir import IRError, Model, TypeDef, TypeRef, build_model
from .runtime.xmlio import (
    FHIR_NS,
    XHTML_NS,
    XmlElementInfo,
    XmlReadError,
    XmlReading,
    XmlSchemaError,
    XmlSchemaLike,
    XmlTables,
    XmlWriteError,
    hardened_parser,
    read_resource_xml,
    read_resource_xml_for_validation,
    write_resource_xml,
)

if TYPE_CHECKING:  # pragma: no cover - typing only (the loader imports this module lazily)
    from .ir import Element
    from .loader import DefinitionIndex

__all__ = [
    "FHIR_NS",
    "XHTML_NS",
    "XmlElementInfo",
    "XmlReadError",
    "XmlReading",
    "XmlSchema",
    "XmlSchemaError",
    "XmlSchemaLike",
    "XmlTables",
    "XmlWriteError",
    "hardened_parser",
    "read_resource_xml",
    "read_resource_xml_for_validation",
    "write_resource_xml",
]


def _is_xhtml(type_def: TypeDef) -> bool:
    """A primitive whose ``value`` is represented as XHTML (the ``xhtml`` type)."""
    return (
        any(e.name == "value" and "xhtml" in e.representation for e in type_def.elements)
        or type_def.name == "xhtml"
    )


class XmlSchema:
    """Element facts for FHIR XML, per type (or backbone path) and element JSON name."""

    def __init__(self, types: Sequence[TypeDef], index: DefinitionIndex | None = None) -> None:
        self._types: dict[str, TypeDef] = {}
        self._tables: dict[str, dict[str, XmlElementInfo]] = {}
        self._index = index
        self._failed: dict[str, str] = {}
        self._add_types(types)

    @classmethod
    def from_model(cls, model: Model) -> XmlSchema:
        """A schema of exactly the types of *model* (a resource type outside it is an error)."""
        return cls(model.types)

    @classmethod
    def from_index(cls, index: DefinitionIndex) -> XmlSchema:
        """A schema that builds, when first met, the model of each resource type from *index*.

        Reading a StructureDefinition so builds the model of ``StructureDefinition`` (which
        holds ``ElementDefinition`` and every datatype they use); a ``contained`` resource or a
        Bundle entry adds its own type's model.
        """
        return cls((), index)

    def _add_types(self, types: Sequence[TypeDef]) -> None:
        for type_def in types:
            for item in type_def.all_types():
                self._types.setdefault(item.name, item)

    def type(self, name: str) -> TypeDef:
        """The type (or backbone) named *name*, built from the index if needed."""
        found = self._types.get(name)
        if found is not None:
            return found
        owner = name.split(".", 1)[0]
        if self._index is not None and owner not in self._types and owner not in self._failed:
            try:
                self._add_types(build_model(self._index, [owner]).types)
            except IRError as exc:
                self._failed[owner] = str(exc)
        found = self._types.get(name)
        if found is None:
            raise XmlSchemaError(self._failed.get(owner) or f"type {name!r} is not in the schema")
        return found

    def is_resource_type(self, name: str) -> bool:
        """Whether *name* is a concrete resource type the schema knows (or can build)."""
        return self.resource_problem(name) is None

    def resource_problem(self, name: str) -> tuple[str, str] | None:
        """None for a concrete resource type; else ``("unknown" | "not-resource", message)``."""
        try:
            type_def = self.type(name)
        except XmlSchemaError as exc:
            return "unknown", f"unknown resource type {name!r}: {exc}"
        if not type_def.is_resource or type_def.abstract:
            return "not-resource", f"{name!r} is not a resource type"
        return None

    def rows(self, type_name: str) -> tuple[tuple[Any, ...], ...]:
        """The elements of a type as plain tuples (:class:`XmlElementInfo` fields, in order):
        what ``fhirgen generate`` writes into a models package for :class:`XmlTables`."""
        return tuple(
            tuple(getattr(info, field) for field in XmlElementInfo.__slots__)
            for info in self.elements(type_name).values()
        )

    def elements(self, type_name: str) -> Mapping[str, XmlElementInfo]:
        """Every element name of a type or backbone path, in the type's element order."""
        table = self._tables.get(type_name)
        if table is None:
            owner = self.type(type_name)
            table = {}
            for order, element in enumerate(owner.elements):
                if element.slice_name:
                    continue
                for json_name, type_ref in element.json_names():
                    table[json_name] = self._info(owner, element, json_name, type_ref, order)
            self._tables[type_name] = table
        return table

    def element(self, type_name: str, name: str) -> XmlElementInfo | None:
        """The element *name* (a JSON name) of *type_name*, or ``None``."""
        return self.elements(type_name).get(name)

    def _info(
        self, owner: TypeDef, element: Element, name: str, type_ref: TypeRef, order: int
    ) -> XmlElementInfo:
        info = XmlElementInfo(
            name=name,
            path=element.path,
            type_code=type_ref.code,
            kind="complex",
            is_array=element.is_array,
            order=order,
            xml_attr=element.is_xml_attribute,
        )
        if owner.is_primitive and element.name == "value" and owner.primitive is not None:
            # A primitive's own value: its JSON kind is the owning primitive's.
            return replace(
                info, kind="primitive", json_kind=owner.primitive.json_kind, content_type=owner.name
            )
        if element.backbone:
            return replace(info, content_type=element.backbone)
        if not type_ref.code:
            raise XmlSchemaError(f"element {element.path} has no type")
        target = self.type(type_ref.code)
        if target.is_primitive and target.primitive is not None:
            kind = "xhtml" if _is_xhtml(target) else "primitive"
            return replace(
                info, kind=kind, json_kind=target.primitive.json_kind, content_type=target.name
            )
        if target.is_resource:
            return replace(info, kind="resource", content_type=target.name)
        if info.xml_attr:
            raise XmlSchemaError(f"element {element.path} is an XML attribute but not primitive")
        return replace(info, content_type=target.name)
