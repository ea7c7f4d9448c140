"""FHIR XML for generated models: validation, reading and writing through the JSON-shaped tree.

A generated package holds its XML facts in ``xmlschema.py`` (``XML_SCHEMA``, an
:class:`~fhirgen.runtime.xmlio.XmlTables`); the algorithms are in :mod:`fhirgen.runtime.xmlio`:

* :func:`validate_xml_with` reads the XML for validation (XML-only issues collected, never raised)
  and runs the package's validators on the tree it gives, so XML and JSON are judged by the same
  rules. Issues the XML reading already reported are not repeated by the JSON-shape checks (a
  ``value="abc"`` on an integer is one issue, about the XML, not a second about a JSON string).
  Line and column are worked out only when the issues are read.
* :func:`to_xml` writes a model as canonical FHIR XML; :func:`from_xml` builds a model from it
  (validated first, or read leniently by :func:`read_lenient` with ``validate=False``).
"""

from __future__ import annotations

import importlib
from typing import Any

from .issues import Issue
from .jsonio import FhirDecimal
from .validate import Result, ValidationError, Validator, run
from .xmlio import (
    XmlReading,
    XmlSchemaLike,
    read_resource_xml,
    read_resource_xml_for_validation,
    write_resource_xml,
)

__all__ = [
    "XmlResult",
    "from_xml",
    "looks_like_xml",
    "package_xml_schema",
    "read_lenient",
    "to_xml",
    "validate_xml_with",
]


class XmlResult(Result):
    """A :class:`~fhirgen.runtime.validate.Result` whose positions come from the XML document."""

    __slots__ = ("_reading",)

    def __init__(self, issues: list[Issue], resource_type: str | None, file: str | None,
                 reading: XmlReading | None) -> None:
        super().__init__(issues, resource_type, file)
        self._reading = reading if issues else None

    @property
    def issues(self) -> list[Issue]:
        if self._reading is not None:
            self._issues = self._reading.locate(self._issues)
            self._reading = None
        return self._issues


def validate_xml_with(data: str | bytes | bytearray, validators: dict[str, Validator],
                      schema: XmlSchemaLike, *, file: str | None = None) -> XmlResult:
    """Validate one FHIR XML resource: XML-only rules, then every rule of the validators."""
    reading = read_resource_xml_for_validation(bytes(data) if isinstance(data, bytearray)
                                               else data, schema)
    if reading.tree is None:
        return XmlResult(list(reading.issues), None, file, reading)
    result = run(reading.tree, validators, file=file)
    reported = {issue.expression for issue in reading.issues}
    issues = list(reading.issues) + [
        issue for issue in result.issues
        if not (issue.rule == "json-shape" and issue.key is None and issue.expression in reported)
    ]
    return XmlResult(issues, result.resource_type, file, reading)


def package_xml_schema(package: str) -> Any:
    """The ``xmlschema`` module generated beside the models of *package*."""
    return importlib.import_module(f"{package}.xmlschema")


def _package_of(model_or_class: Any) -> str:
    module = model_or_class.__module__ if isinstance(model_or_class, type) else type(
        model_or_class).__module__
    return str(module).rpartition(".")[0]


def to_xml(model: Any) -> bytes:
    """Canonical FHIR XML of a generated resource model (UTF-8 bytes with the declaration).

    Element order of the StructureDefinitions, the FHIR namespace, ``id``/``url``/``value`` as
    attributes, primitive extensions as child ``extension`` elements, the narrative as embedded
    XHTML, contained resources wrapped in their type's element; two-space indentation that never
    touches XHTML content.
    """
    if getattr(model, "resource_type", None) is None:
        raise TypeError("only resources are written as FHIR XML documents")
    schema = package_xml_schema(_package_of(model)).XML_SCHEMA
    return write_resource_xml(model.to_tree(), schema)


def from_xml(cls: Any, data: str | bytes | bytearray, *, validate: bool = True) -> Any:
    """Build a model of *cls* (a generated resource class, or a package's registry) from XML.

    With *validate* (the default), the package's validators judge the XML first and
    :class:`~fhirgen.runtime.validate.ValidationError` carrying the outcome is raised on errors.
    """
    package = cls._package if hasattr(cls, "_package") else _package_of(cls)
    module = package_xml_schema(package)
    raw = bytes(data) if isinstance(data, bytearray) else data
    if validate:
        result = module.validate_xml(raw)
        if not result.ok:
            raise ValidationError(result)
        tree = read_resource_xml(raw, module.XML_SCHEMA, parse_float=FhirDecimal)
    else:
        tree = read_lenient(raw, module.XML_SCHEMA)
    if isinstance(cls, type):  # a resource class: from_json checks the resourceType
        return getattr(cls, "from_json")(tree, validate=False)  # noqa: B009 - mypy sees a bare type
    return cls.from_tree(tree)


def read_lenient(data: str | bytes, schema: XmlSchemaLike) -> Any:
    """The JSON-shaped tree of FHIR XML as far as it can be read: what the XML rules object to
    (element order, unknown elements, empty elements ...) is left out or taken as found, as the
    validating reader does, instead of stopping at the first problem. XML that cannot be read at
    all (not well-formed, a DOCTYPE) raises :class:`~fhirgen.runtime.xmlio.XmlReadError`."""
    from .xmlio import XmlReadError

    reading = read_resource_xml_for_validation(data, schema)
    if reading.tree is None:
        first = next((i for i in reading.issues if i.is_error), None)
        raise XmlReadError(first.message if first else "the XML could not be read",
                           first.expression if first else None, first.line if first else None)
    return reading.tree


def looks_like_xml(data: bytes) -> bool:
    """Whether content is XML rather than JSON: its first non-blank character is ``<``."""
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    return text.startswith(b"<")
