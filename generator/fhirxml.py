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

Known, inherent differences between a JSON resource and its XML round trip: XML normalises
whitespace in attribute values, so a line break inside an XHTML attribute in a JSON ``div`` comes
back as a space, and the ``div`` string comes back in lxml's serialisation (``"`` instead of
``&quot;`` in text, ...), the same XHTML written differently.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from .ir import IRError, Model, TypeDef, TypeRef, build_model

if TYPE_CHECKING:  # pragma: no cover - typing only (the loader imports this module lazily)
    from .ir import Element
    from .loader import DefinitionIndex

__all__ = [
    "FHIR_NS",
    "XHTML_NS",
    "XmlElementInfo",
    "XmlReadError",
    "XmlSchema",
    "XmlSchemaError",
    "XmlWriteError",
    "hardened_parser",
    "read_resource_xml",
    "write_resource_xml",
]

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
INDENT = "  "

#: The JSON number grammar (RFC 8259): what a FHIR number may look like in XML too.
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
#: Keys of an extension-like object that make ``url`` an XML attribute when writing without schema.
_EXTENSION_KEYS = ("extension", "modifierExtension")


class XmlReadError(ValueError):
    """FHIR XML that cannot be read: not well-formed, hostile, or not shaped as FHIR says."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        where = ", ".join(
            part for part in (path, f"line {line}" if line is not None else None) if part
        )
        super().__init__(f"{where}: {message}" if where else message)


class XmlWriteError(ValueError):
    """A JSON-shaped resource that cannot be written as FHIR XML."""


class XmlSchemaError(LookupError):
    """A type the schema does not know and cannot build."""


# ------------------------------------------------------------------------------------- schema


@dataclass(frozen=True, slots=True)
class XmlElementInfo:
    """What reading and writing need to know of one element name of one type."""

    name: str  # JSON and XML name; a choice element's name carries its type ("valueString")
    path: str  # the IR element path ("Extension.value[x]", "StructureDefinition.snapshot")
    type_code: str  # "string", "Coding", "BackboneElement", "Resource", ...
    kind: str  # "primitive" | "complex" | "resource" | "xhtml"
    is_array: bool
    order: int  # position of the element in its type (choice names share it)
    json_kind: str | None = None  # primitives: "string" | "number" | "boolean"
    content_type: str | None = None  # type name or backbone path of the content (primitives too)
    xml_attr: bool = False  # written as an XML attribute (id=, url=, value=)


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
        try:
            type_def = self.type(name)
        except XmlSchemaError:
            return False
        return type_def.is_resource and not type_def.abstract

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


# ------------------------------------------------------------------------------------- parsing


def hardened_parser() -> etree.XMLParser:
    """An lxml parser that loads no DTD, resolves no entity and never touches the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
    )


class _DoctypeFound(Exception):
    pass


class _RootReached(Exception):
    pass


class _PrologScan:
    """An lxml parser target that stops at the DOCTYPE or at the root element, whichever first."""

    def doctype(self, *_: Any) -> None:
        raise _DoctypeFound

    def start(self, *_: Any) -> None:
        raise _RootReached

    def end(self, *_: Any) -> None:  # pragma: no cover - never reached: start() stops first
        pass

    def data(self, *_: Any) -> None:
        pass

    def close(self) -> None:
        return None


def _refuse_doctype(data: bytes) -> None:
    """Refuse a DOCTYPE before its entities can be used (an entity bomb never starts)."""
    scanner = etree.XMLParser(
        target=_PrologScan(), resolve_entities=False, no_network=True, load_dtd=False
    )
    try:
        etree.fromstring(data, scanner)
    except _DoctypeFound:
        raise XmlReadError("DOCTYPE is not allowed in FHIR XML") from None
    except (_RootReached, etree.XMLSyntaxError):
        pass  # syntax errors are reported by the real parse


def _parse_document(data: bytes | str) -> etree._Element:
    """Parse *data* with the hardened parser; refuse any DOCTYPE."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    _refuse_doctype(data)
    try:
        root = etree.fromstring(data, hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise XmlReadError(f"not well-formed XML ({exc.msg})", line=exc.lineno) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlReadError("DOCTYPE is not allowed in FHIR XML")
    return root


def _split_tag(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        namespace, local = tag[1:].split("}", 1)
        return namespace, local
    return None, tag


def _element_children(element: etree._Element) -> Iterator[etree._Element]:
    """Child elements, without processing instructions (comments are removed when parsing)."""
    for child in element:
        if isinstance(child.tag, str):
            yield child
        elif not isinstance(child, etree._ProcessingInstruction):
            raise XmlReadError("entity references are not allowed", line=child.sourceline)


def _convert(
    text: str,
    json_kind: str | None,
    path: str,
    line: int | None,
    parse_float: Callable[[str], Any] = float,
) -> Any:
    """The JSON value of a primitive's lexical form (*parse_float* as in ``json.loads``)."""
    if json_kind == "boolean":
        if text in ("true", "false"):
            return text == "true"
        raise XmlReadError(f"{text!r} is not a boolean (true or false)", path, line)
    if json_kind == "number":
        if not _JSON_NUMBER.fullmatch(text):
            raise XmlReadError(f"{text!r} is not a number", path, line)
        return parse_float(text) if any(c in text for c in ".eE") else int(text)
    return text


def _xhtml_string(element: etree._Element) -> str:
    """The XHTML element as FHIR JSON carries it: default namespace, declared on the element."""
    copy = etree.Element(element.tag, dict(element.attrib), nsmap={None: XHTML_NS})
    _copy_content(element, copy)
    return str(etree.tostring(copy, encoding=str, with_tail=False))


def _copy_content(source: etree._Element, target: etree._Element) -> None:
    target.text = source.text
    for child in source:
        if not isinstance(child.tag, str):
            if isinstance(child, etree._ProcessingInstruction):
                if len(target):
                    target[-1].tail = (target[-1].tail or "") + (child.tail or "")
                else:
                    target.text = (target.text or "") + (child.tail or "")
                continue
            raise XmlReadError("entity references are not allowed", line=child.sourceline)
        copy = etree.SubElement(target, child.tag, dict(child.attrib))
        _copy_content(child, copy)
        copy.tail = child.tail


@dataclass(slots=True)
class _Primitive:
    value: Any
    extra: dict[str, Any] | None  # the ``_name`` object (id, extension), if any


class _Reader:
    """One walk over a FHIR XML tree, building the JSON-shaped dict."""

    def __init__(self, schema: XmlSchema, parse_float: Callable[[str], Any]) -> None:
        self.schema = schema
        self.parse_float = parse_float

    def resource(self, element: etree._Element, path: str | None) -> dict[str, Any]:
        namespace, name = _split_tag(element.tag)
        where = path or name
        if namespace != FHIR_NS:
            raise XmlReadError(
                f"element <{name}> is in namespace {namespace or '(none)'!r}, not {FHIR_NS!r}",
                where,
                element.sourceline,
            )
        try:
            type_def = self.schema.type(name)
        except XmlSchemaError as exc:
            raise XmlReadError(
                f"unknown resource type {name!r}: {exc}", where, element.sourceline
            ) from None
        if not type_def.is_resource or type_def.abstract:
            raise XmlReadError(f"{name!r} is not a resource type", where, element.sourceline)
        result: dict[str, Any] = {"resourceType": name}
        self._content(element, name, path or name, result, is_root=path is None)
        return result

    def _content(
        self,
        element: etree._Element,
        type_name: str,
        path: str,
        result: dict[str, Any],
        is_root: bool = False,
    ) -> None:
        try:
            table = self.schema.elements(type_name)
        except XmlSchemaError as exc:
            raise XmlReadError(str(exc), path, element.sourceline) from None
        self._attributes(element, table, path, result, is_root)
        self._no_text(element.text, path, element.sourceline)
        found: dict[str, list[Any]] = {}
        for child in _element_children(element):
            namespace, name = _split_tag(child.tag)
            info = table.get(name)
            child_path = f"{path}.{name}"
            if info is None or info.xml_attr:
                raise XmlReadError(f"unknown element <{name}>", child_path, child.sourceline)
            expected = XHTML_NS if info.kind == "xhtml" else FHIR_NS
            if namespace != expected:
                raise XmlReadError(
                    f"element <{name}> is in namespace {namespace or '(none)'!r}, not {expected!r}",
                    child_path,
                    child.sourceline,
                )
            items = found.setdefault(name, [])
            if info.is_array:
                child_path = f"{child_path}[{len(items)}]"
            elif items:
                raise XmlReadError(
                    f"element <{name}> may appear only once", child_path, child.sourceline
                )
            items.append(self._value(child, info, child_path))
            self._no_text(child.tail, path, child.sourceline)
        for name, items in found.items():
            _store(result, table[name], items)

    def _attributes(
        self,
        element: etree._Element,
        table: Mapping[str, XmlElementInfo],
        path: str,
        result: dict[str, Any],
        is_root: bool,
    ) -> None:
        for key, text in element.attrib.items():
            namespace, name = _split_tag(key)
            if is_root and namespace == XSI_NS and name == "schemaLocation":
                continue
            info = table.get(name) if namespace is None else None
            if info is None or not info.xml_attr:
                raise XmlReadError(f"unknown attribute {name!r}", path, element.sourceline)
            where = path if name == "value" else f"{path}.{name}"  # a primitive's value: itself
            result[name] = _convert(
                text, info.json_kind, where, element.sourceline, self.parse_float
            )

    @staticmethod
    def _no_text(text: str | None, path: str, line: int | None) -> None:
        if text and text.strip():
            raise XmlReadError(f"text {text.strip()[:40]!r} is not allowed here", path, line)

    def _value(self, element: etree._Element, info: XmlElementInfo, path: str) -> Any:
        if info.kind == "xhtml":
            return _Primitive(_xhtml_string(element), None)
        if info.kind == "primitive":
            return self._primitive(element, info, path)
        if info.kind == "resource":
            return self._wrapped_resource(element, path)
        result: dict[str, Any] = {}
        self._content(element, str(info.content_type), path, result)
        return result

    def _primitive(self, element: etree._Element, info: XmlElementInfo, path: str) -> _Primitive:
        content: dict[str, Any] = {}
        self._content(element, str(info.content_type), path, content)
        value = content.pop("value", None)
        if value is None and not content:
            raise XmlReadError(
                "a primitive element needs a value, an id or extensions", path, element.sourceline
            )
        return _Primitive(value, content or None)

    def _wrapped_resource(self, element: etree._Element, path: str) -> dict[str, Any]:
        if element.attrib:
            raise XmlReadError("a resource container has no attributes", path, element.sourceline)
        self._no_text(element.text, path, element.sourceline)
        children = list(_element_children(element))
        if len(children) != 1:
            raise XmlReadError(
                f"expected one resource element inside, found {len(children)}",
                path,
                element.sourceline,
            )
        self._no_text(children[0].tail, path, children[0].sourceline)
        return self.resource(children[0], path)


def _store(result: dict[str, Any], info: XmlElementInfo, items: list[Any]) -> None:
    """Put the values read for one element name into *result*, as FHIR JSON shapes them."""
    name = info.name
    if info.kind not in ("primitive", "xhtml"):
        result[name] = items if info.is_array else items[0]
        return
    values = [item.value for item in items]
    extras = [item.extra for item in items]
    if info.is_array:
        if any(v is not None for v in values):
            result[name] = values
        if any(e is not None for e in extras):
            result["_" + name] = extras
        return
    if values[0] is not None:
        result[name] = values[0]
    if extras[0] is not None:
        result["_" + name] = extras[0]


def read_resource_xml(
    data: bytes | str, schema: XmlSchema, *, parse_float: Callable[[str], Any] = float
) -> dict[str, Any]:
    """Read one FHIR XML resource into the dict ``json.loads`` gives for its JSON form.

    *parse_float* turns a number with ``.``, ``e`` or ``E`` into a value, as in ``json.loads``
    (``decimal.Decimal`` or the runtime's ``FhirDecimal`` keep a decimal's precision).
    """
    root = _parse_document(data)
    return _Reader(schema, parse_float).resource(root, None)


# ------------------------------------------------------------------------------------- writing


def _lexical(value: Any, path: str) -> str:
    """The XML attribute text of a JSON primitive value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise XmlWriteError(f"{path}: {value!r} is not a FHIR number")
        return repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise XmlWriteError(f"{path}: {value} is not a FHIR number")
        text = getattr(value, "text", None)  # the runtime's FhirDecimal keeps its written text
        return text if isinstance(text, str) else str(value)
    if isinstance(value, str):
        return value
    raise XmlWriteError(f"{path}: {type(value).__name__} is not a JSON primitive value")


def _parse_xhtml(text: Any, path: str) -> etree._Element:
    if not isinstance(text, str):
        raise XmlWriteError(f"{path}: the XHTML must be a string")
    try:
        element = _parse_document(text.encode("utf-8"))
    except XmlReadError as exc:
        raise XmlWriteError(f"{path}: not well-formed XHTML ({exc})") from None
    if element.tag != f"{{{XHTML_NS}}}div":
        raise XmlWriteError(f"{path}: the XHTML must be a <div> in namespace {XHTML_NS}")
    return element


def _aligned(values: Any, extras: Any, path: str) -> list[tuple[Any, Any]]:
    """Pair an array of primitive values with its ``_name`` array (``null`` placeholders)."""
    values = values if values is not None else []
    extras = extras if extras is not None else []
    if not isinstance(values, list) or not isinstance(extras, list):
        raise XmlWriteError(f"{path}: a value and its '_' form must both be arrays")
    if values and extras and len(values) != len(extras):
        raise XmlWriteError(f"{path}: the value array and its '_' array differ in length")
    length = max(len(values), len(extras))
    return [
        (values[i] if i < len(values) else None, extras[i] if i < len(extras) else None)
        for i in range(length)
    ]


def _looks_like_extension(obj: Mapping[str, Any]) -> bool:
    """An object with Extension's elements only: ``url``, ``id``, ``extension``, one value[x]."""
    others = [key.removeprefix("_") for key in obj if key not in ("url", "id", "extension")]
    return len(set(others)) <= 1 and all(
        key.startswith("value") and key[5:6].isupper() for key in others
    )


class _Writer:
    """Build the lxml tree of a JSON-shaped resource (schema-driven when a schema is given)."""

    def __init__(self, schema: XmlSchema | None) -> None:
        self.schema = schema

    def resource(
        self, resource: Mapping[str, Any], parent: etree._Element | None, path: str | None
    ) -> etree._Element:
        type_name = resource.get("resourceType") if isinstance(resource, Mapping) else None
        if not isinstance(type_name, str) or not type_name:
            raise XmlWriteError(f"{path or 'resource'}: no resourceType")
        tag = f"{{{FHIR_NS}}}{type_name}"
        if parent is None:
            element = etree.Element(tag, nsmap={None: FHIR_NS})
        else:
            element = etree.SubElement(parent, tag)
        self._content(element, resource, type_name, path or type_name, is_resource=True)
        return element

    def _table(self, type_name: str | None, path: str) -> Mapping[str, XmlElementInfo] | None:
        if self.schema is None or type_name is None:
            return None
        try:
            return self.schema.elements(type_name)
        except XmlSchemaError as exc:
            raise XmlWriteError(f"{path}: {exc}") from None

    def _names(
        self, obj: Mapping[str, Any], table: Mapping[str, XmlElementInfo] | None, path: str
    ) -> list[str]:
        names: dict[str, None] = {}
        for key in obj:
            if key == "resourceType":
                continue
            names.setdefault(key.removeprefix("_"), None)
        if table is None:
            return list(names)
        unknown = [name for name in names if name not in table]
        if unknown:
            raise XmlWriteError(f"{path}: unknown element(s) {', '.join(unknown)}")
        return sorted(names, key=lambda name: table[name].order)

    def _content(
        self,
        element: etree._Element,
        obj: Mapping[str, Any],
        type_name: str | None,
        path: str,
        is_resource: bool = False,
        is_extension: bool = False,
    ) -> None:
        if not isinstance(obj, Mapping):
            raise XmlWriteError(f"{path}: expected an object")
        table = self._table(type_name, path)
        for name in self._names(obj, table, path):
            info = table[name] if table is not None else None
            value, extra = obj.get(name), obj.get("_" + name)
            child_path = f"{path}.{name}"
            if self._is_attribute(name, obj, info, is_resource, is_extension):
                if value is not None:
                    element.set(name, _lexical(value, child_path))
                continue
            if isinstance(value, list) or isinstance(extra, list):
                for i, (item, item_extra) in enumerate(_aligned(value, extra, child_path)):
                    self._item(element, name, item, item_extra, info, f"{child_path}[{i}]")
            else:
                self._item(element, name, value, extra, info, child_path)

    @staticmethod
    def _is_attribute(
        name: str,
        obj: Mapping[str, Any],
        info: XmlElementInfo | None,
        is_resource: bool,
        is_extension: bool,
    ) -> bool:
        if info is not None:
            return info.xml_attr
        if name == "id":
            return not is_resource
        if name == "url" and not is_resource:
            return is_extension or _looks_like_extension(obj)
        return False

    def _item(
        self,
        parent: etree._Element,
        name: str,
        value: Any,
        extra: Any,
        info: XmlElementInfo | None,
        path: str,
    ) -> None:
        kind = info.kind if info is not None else None
        if kind == "xhtml" or (kind is None and name == "div" and isinstance(value, str)):
            parent.append(_parse_xhtml(value, path))
            return
        if kind == "resource" or (
            kind is None and isinstance(value, Mapping) and "resourceType" in value
        ):
            if not isinstance(value, Mapping):
                raise XmlWriteError(f"{path}: expected a resource")
            wrapper = etree.SubElement(parent, f"{{{FHIR_NS}}}{name}")
            self.resource(value, wrapper, path)
            return
        child = etree.SubElement(parent, f"{{{FHIR_NS}}}{name}")
        if kind == "complex" or (kind is None and isinstance(value, Mapping)):
            if extra is not None:
                raise XmlWriteError(f"{path}: only primitives have a '_{name}' form")
            content_type = info.content_type if info is not None else None
            self._content(child, value, content_type, path, is_extension=name in _EXTENSION_KEYS)
            return
        self._primitive(child, value, extra, info, path)

    def _primitive(
        self,
        element: etree._Element,
        value: Any,
        extra: Any,
        info: XmlElementInfo | None,
        path: str,
    ) -> None:
        if value is None and extra is None:
            raise XmlWriteError(f"{path}: null without a '_' form")
        if extra is not None:
            if not isinstance(extra, Mapping):
                raise XmlWriteError(f"{path}: the '_' form must be an object")
            unknown = sorted(set(extra) - {"id", "extension"})
            if unknown:
                raise XmlWriteError(f"{path}: unknown element(s) {', '.join(unknown)}")
            if "id" in extra:
                element.set("id", _lexical(extra["id"], f"{path}.id"))
        if value is not None:
            if isinstance(value, (Mapping, list)):
                raise XmlWriteError(f"{path}: expected a primitive value")
            element.set("value", _lexical(value, path))
        extension_info = None
        if info is not None and self.schema is not None:
            extension_info = self.schema.element(str(info.content_type), "extension")
        extensions = (extra or {}).get("extension", [])
        if not isinstance(extensions, list):
            raise XmlWriteError(f"{path}.extension: expected an array")
        for i, extension in enumerate(extensions):
            self._item(
                element, "extension", extension, None, extension_info, f"{path}.extension[{i}]"
            )


def _indent(element: etree._Element, level: int = 0) -> None:
    """Indent FHIR elements in place; XHTML content is left exactly as it is."""
    children = [child for child in element if isinstance(child.tag, str)]
    if not children or not element.tag.startswith(f"{{{FHIR_NS}}}"):
        return
    element.text = "\n" + INDENT * (level + 1)
    for child in children:
        child.tail = "\n" + INDENT * (level + 1)
        _indent(child, level + 1)
    children[-1].tail = "\n" + INDENT * level


def write_resource_xml(resource: Mapping[str, Any], schema: XmlSchema | None = None) -> bytes:
    """Write a JSON-shaped resource as FHIR XML (UTF-8 bytes, with declaration).

    Without *schema*, keys are written in dict order and XML attributes are guessed the way FHIR
    defines them: ``id`` of any object but a resource, ``url`` of an extension (an object under
    ``extension``/``modifierExtension``, or one with no other elements than ``url``, ``id``,
    ``extension`` and one ``value[x]``). With *schema*, elements are
    written in the type's element order, attributes are those the definitions mark ``xmlAttr``,
    and unknown keys raise :class:`XmlWriteError`.
    """
    root = _Writer(schema).resource(resource, None, None)
    _indent(root)
    body: bytes = etree.tostring(root, encoding="UTF-8")
    return XML_DECLARATION + body + b"\n"
