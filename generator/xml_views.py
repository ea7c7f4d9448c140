"""From the IR to the view values of the generated XML facts (``xmlschema.py``).

FHIR XML needs facts the JSON form does not: the order of each type's elements (out of order is
an error), which elements are XML attributes (``Element.id``, ``Extension.url``, primitives'
``value``), which hold XHTML (``Narrative.div``) and which hold whole resources (``contained``).
:class:`~fhirgen.fhirxml.XmlSchema` works them out from the model
(:meth:`~fhirgen.fhirxml.XmlSchema.from_model`); this module turns its answers into rows of plain
data, one per element name of each type and backbone, that the template prints and that
:class:`~fhirgen.fhirxml.XmlTables` reads back at run time. So reading, validating and writing XML
with a generated package needs no definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fhirxml import XmlElementInfo, XmlSchema
from .ir import Model
from .views import py_literal

__all__ = ["XmlSchemaView", "build_xml_views"]


@dataclass(frozen=True)
class XmlTypeView:
    name: str  # type name or backbone path
    rows: tuple[str, ...]  # one Python tuple literal per element name, in element order


@dataclass(frozen=True)
class XmlSchemaView:
    header: tuple[str, ...]
    fields: tuple[str, ...]  # the row layout (XmlElementInfo's fields), for the docstring
    resources: tuple[str, ...]  # concrete resource types, sorted
    types: tuple[XmlTypeView, ...]  # sorted by name


def _row(row: tuple[object, ...]) -> str:
    return "(" + ", ".join(py_literal(value) for value in row) + ")"


def build_xml_views(model: Model, header: tuple[str, ...]) -> XmlSchemaView:
    schema = XmlSchema.from_model(model)
    names = sorted({item.name for type_def in model.types for item in type_def.all_types()})
    types = tuple(
        XmlTypeView(name, tuple(_row(row) for row in schema.rows(name))) for name in names
    )
    resources = tuple(
        sorted(
            type_def.name
            for type_def in model.types
            if type_def.is_resource and not type_def.abstract
        )
    )
    return XmlSchemaView(header, tuple(XmlElementInfo.__slots__), resources, types)
