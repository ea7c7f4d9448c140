"""FHIR XML <-> FHIR JSON-shaped dicts at run time: reading (strict, and for validation) and writing.

This is the half of FHIR XML support a generated package needs at run time, without the
definitions or the intermediate model: the schema comes as an :class:`XmlTables` (the rows a
generated ``xmlschema.py`` carries) or any :class:`XmlSchemaLike`; ``fhirgen.fhirxml`` adds
:class:`~fhirgen.fhirxml.XmlSchema`, the same answers built from the model, for the generator and
for definitions read from XML. See ``fhirgen.fhirxml`` for the mapping between the two forms.

* :func:`read_resource_xml` parses FHIR XML with a hardened lxml parser (no DTD, no entities, no
  network; a DOCTYPE is refused) into the dict ``json.loads`` gives for the equivalent FHIR JSON,
  raising :class:`XmlReadError` at the first problem;
* :func:`read_resource_xml_for_validation` is the same walk for validation: every problem is an
  :class:`~fhirgen.runtime.issues.Issue`, the walk goes on, the XML-only rules are checked;
* :func:`write_resource_xml` writes a JSON-shaped dict as canonical FHIR XML.
"""

from __future__ import annotations

import bisect
import math
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, Self

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from .issues import Issue
from .limits import DEFAULT_LIMITS

__all__ = [
    "FHIR_NS",
    "XHTML_NS",
    "XmlElementInfo",
    "XmlReadError",
    "XmlReading",
    "XmlSchemaError",
    "XmlSchemaLike",
    "XmlTables",
    "XmlWriteError",
    "hardened_parser",
    "read_resource_xml",
    "read_resource_xml_for_validation",
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

    def __init__(
        self, message: str, path: str | None = None, line: int | None = None,
        col: int | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.col = col
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


class XmlSchemaLike(Protocol):
    """What reading and writing ask of a schema (:class:`XmlSchema` or :class:`XmlTables`)."""

    def elements(self, type_name: str) -> Mapping[str, XmlElementInfo]: ...

    def element(self, type_name: str, name: str) -> XmlElementInfo | None: ...

    def resource_problem(self, name: str) -> tuple[str, str] | None: ...


class XmlTables:
    """The XML facts of a generated models package, as ``fhirgen generate`` wrote them.

    A generated package's ``xmlschema.py`` holds, per type and backbone path, one row per element
    name (the fields of :class:`XmlElementInfo`, in order), and the package's concrete resource
    types; this class answers the same questions as :class:`XmlSchema` from those rows, so reading
    and writing XML with generated models needs no definitions at run time.
    """

    __slots__ = ("_resources", "_rows", "_tables")

    def __init__(
        self, resources: Iterable[str], rows: Mapping[str, tuple[tuple[Any, ...], ...]]
    ) -> None:
        self._resources = frozenset(resources)
        self._rows = rows
        self._tables: dict[str, dict[str, XmlElementInfo]] = {}

    def elements(self, type_name: str) -> Mapping[str, XmlElementInfo]:
        table = self._tables.get(type_name)
        if table is None:
            rows = self._rows.get(type_name)
            if rows is None:
                raise XmlSchemaError(f"type {type_name!r} is not in these models")
            table = self._tables[type_name] = {row[0]: XmlElementInfo(*row) for row in rows}
        return table

    def element(self, type_name: str, name: str) -> XmlElementInfo | None:
        return self.elements(type_name).get(name)

    def resource_problem(self, name: str) -> tuple[str, str] | None:
        if name in self._resources:
            return None
        if name in self._rows:
            return "not-resource", f"{name!r} is not a resource type"
        return "unknown", f"unknown resource type {name!r}: not in these models"

    def is_resource_type(self, name: str) -> bool:
        return name in self._resources


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


#: An XML 1.1 declaration (libxml2 reads XML 1.0 only).
_XML11 = re.compile(rb"\s*<\?xml\s+version\s*=\s*[\"']1\.1[\"']")
#: Character references XML 1.1 allows and XML 1.0 does not: C0 controls other than tab, LF, CR.
_XML11_REF = re.compile(rb"&#(?:x0*([0-9A-Fa-f]{1,2})|0*([0-9]{1,2}));")
#: Where such a character stands while libxml2 parses (Supplementary Private Use Area-A).
_XML11_BASE = 0xF0000
#: Placeholders back to the characters they stand for.
_XML11_RESTORE = {_XML11_BASE + code: code for code in range(1, 32) if code not in (9, 10, 13)}


def _xml11_as_xml10(data: bytes) -> tuple[bytes, bool]:
    """An XML 1.1 document as one libxml2 reads: its references to C0 control characters (legal
    in 1.1 only) become private-use placeholders, which :func:`restore_xml11` turns back after
    the walk. Other documents, and 1.1 ones without such references, are returned unchanged."""
    if not _XML11.match(data) or any(chr(c).encode("utf-8") in data for c in _XML11_RESTORE):
        return data, False
    changed = False

    def placeholder(match: re.Match[bytes]) -> bytes:
        nonlocal changed
        code = int(match.group(1), 16) if match.group(1) else int(match.group(2))
        if _XML11_BASE + code not in _XML11_RESTORE:
            return match.group(0)
        changed = True
        return f"&#x{_XML11_BASE + code:X};".encode("ascii")

    converted = _XML11_REF.sub(placeholder, data)
    return converted, changed


def restore_xml11(value: Any) -> Any:
    """*value* (a tree read from an XML 1.1 document) with its control characters restored."""
    if isinstance(value, str):
        return value.translate(_XML11_RESTORE)
    if isinstance(value, dict):
        return {key: restore_xml11(item) for key, item in value.items()}
    if isinstance(value, list):
        return [restore_xml11(item) for item in value]
    return value


def _parse_document(data: bytes | str) -> etree._Element:
    """Parse *data* with the hardened parser; refuse any DOCTYPE. An XML 1.1 document is read as
    XML 1.0 once its control-character references stand aside (:func:`_xml11_as_xml10`)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    data, _ = _xml11_as_xml10(data)
    _refuse_doctype(data)
    try:
        root = etree.fromstring(data, hardened_parser())
    except etree.XMLSyntaxError as exc:
        position = getattr(exc, "position", None) or (exc.lineno, None)
        raise XmlReadError(
            f"not well-formed XML ({exc.msg})", line=position[0], col=position[1]
        ) from None
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


class _IntText(int):
    """An integer read from XML that keeps its written text (``007``, ``+5``): checks need it."""

    text: str

    def __new__(cls, text: str) -> Self:
        number = super().__new__(cls, int(text))
        number.text = text
        return number

    def __str__(self) -> str:
        return self.text

    def __reduce__(self) -> tuple[type[_IntText], tuple[str]]:
        return (type(self), (self.text,))


class _DecimalText(Decimal):
    """A number read from XML that keeps its written text (``00.1``, ``1e4``): checks need it."""

    text: str

    def __new__(cls, text: str) -> Self:
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __str__(self) -> str:
        return self.text

    def __reduce__(self) -> tuple[type[_DecimalText], tuple[str]]:
        return (type(self), (self.text,))


#: What a number attribute may look like for validation to read it as a number (its primitive's
#: own rules then judge it: ``1e4`` is a number but not an integer, ``00.1`` not a decimal).
_LOOSE_NUMBER = re.compile(r"[-+]?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LOOSE_INTEGER = re.compile(r"[-+]?[0-9]+")
#: Attributes of one element read at most: FHIR XML elements carry one to three (value, id, url;
#: namespace declarations are not attributes). lxml's ``attrib.items()`` looks each value up by
#: name, so 200,000 attributes took minutes; more than this many are refused unread.
MAX_ATTRIBUTES = 64

_SKIP: Any = object()  # an element that was reported and is left out of the tree


class _Reader:
    """One walk over a FHIR XML tree, building the JSON-shaped dict.

    Strict (``issues`` is None): the first problem raises :class:`XmlReadError`. Collecting (a
    list given): every problem becomes an :class:`~fhirgen.runtime.issues.Issue` and the walk goes
    on (an unknown or misplaced element is left out, the first of a repeated single element kept,
    a value that is not of its kind kept as text for the validator to see), the XML-only rules
    (element order, empty elements) are checked too, and :attr:`where` maps each location
    (FHIRPath) to its element, for positions.
    """

    def __init__(
        self,
        schema: XmlSchemaLike,
        parse_float: Callable[[str], Any],
        issues: list[Issue] | None = None,
        source: _Positions | None = None,
    ) -> None:
        self.schema = schema
        self.parse_float = parse_float
        self.issues = issues
        self.source = source
        self.where: dict[str, etree._Element] = {}
        self.issue_elements: list[etree._Element | None] = []
        #: Problems past ``DEFAULT_LIMITS.max_issues``: counted, not kept (a million unknown
        #: elements would otherwise make a million issues, each to be placed).
        self.dropped = 0

    @property
    def collecting(self) -> bool:
        return self.issues is not None

    def _problem(
        self,
        message: str,
        path: str | None,
        element: etree._Element | None,
        *,
        rule: str = "xml-shape",
        code: str = "structure",
        severity: str = "error",
        expression: str | None = None,
        key: str | None = None,
    ) -> None:
        line = element.sourceline if element is not None else None
        if self.issues is None:
            raise XmlReadError(message, path, line)
        if len(self.issues) >= DEFAULT_LIMITS.max_issues:
            self.dropped += 1
            return
        where = expression if expression is not None else path
        self.issues.append(Issue(severity, code, rule, message, where or "", line, key=key))
        self.issue_elements.append(element)

    def resource(self, element: etree._Element, path: str | None) -> dict[str, Any] | None:
        namespace, name = _split_tag(element.tag)
        where = path or name
        if namespace != FHIR_NS:
            self._problem(
                f"element <{name}> is in namespace {namespace or '(none)'!r}, not {FHIR_NS!r}",
                where,
                element,
                rule="xml-namespace",
                severity="error" if path else "fatal",
            )
            return None
        problem = self.schema.resource_problem(name)
        if problem is not None:
            status, message = problem
            if not self.collecting or path is None or status != "unknown":
                self._problem(message, where, element, rule="unknown-resource",
                              code="not-supported", severity="error" if path else "fatal")
                return None
            # A resource type these models do not have: kept as a stub, so the validator
            # says so (a warning) and its id still resolves `#id` references.
            return self._stub(element, name)
        result: dict[str, Any] = {"resourceType": name}
        if self.collecting:
            self.where.setdefault(where, element)
        self._content(element, name, where, result, is_root=path is None)
        return result

    @staticmethod
    def _stub(element: etree._Element, name: str) -> dict[str, Any]:
        stub: dict[str, Any] = {"resourceType": name}
        for child in _element_children(element):
            if child.tag == f"{{{FHIR_NS}}}id" and isinstance(child.get("value"), str):
                stub["id"] = child.get("value")
                break
        return stub

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
            self._problem(str(exc), path, element, rule="unknown-resource", code="not-supported")
            return
        self._attributes(element, table, path, result, is_root)
        self._no_text(element.text, path, element)
        found: dict[str, list[Any]] = {}
        highest: XmlElementInfo | None = None
        for child in _element_children(element):
            namespace, name = _split_tag(child.tag)
            info = table.get(name)
            child_path = f"{path}.{name}"
            if info is None or info.xml_attr:
                self._problem(f"unknown element <{name}>", child_path, child,
                              rule="unknown-property", expression=path, key=name)
                self._no_text(child.tail, path, child)
                continue
            expected = XHTML_NS if info.kind == "xhtml" else FHIR_NS
            if namespace != expected and not (self.collecting and info.kind == "xhtml"):
                # (collecting: XHTML in another namespace is kept, and the xhtml rules say so)
                self._problem(
                    f"element <{name}> is in namespace {namespace or '(none)'!r}, not {expected!r}",
                    child_path,
                    child,
                    rule="xml-namespace",
                )
                self._no_text(child.tail, path, child)
                continue
            label_path = f"{path}.{_label(info)}"
            items = found.setdefault(name, [])
            item_path = f"{label_path}[{len(items)}]" if info.is_array else label_path
            if self.collecting:
                if highest is not None and info.order < highest.order:
                    self._problem(
                        f"Element '{name}' is out of order (found after '{highest.name}'): "
                        "FHIR XML keeps the order of the StructureDefinition",
                        item_path, child, rule="xml-order",
                    )
                elif highest is None or info.order > highest.order:
                    highest = info
            if not info.is_array and items:
                self._problem(f"element <{name}> may appear only once", item_path, child,
                              rule="cardinality")
                self._no_text(child.tail, path, child)
                continue
            if self.collecting:
                self.where.setdefault(item_path, child)
                if label_path != child_path:  # a choice: its JSON name too (issues' keys)
                    self.where.setdefault(child_path, child)
            value = self._value(child, info, item_path)
            if value is not _SKIP:
                items.append(value)
            self._no_text(child.tail, path, child)
        for name, items in found.items():
            if items:
                _store(result, table[name], items)

    def _attributes(
        self,
        element: etree._Element,
        table: Mapping[str, XmlElementInfo],
        path: str,
        result: dict[str, Any],
        is_root: bool,
    ) -> None:
        count = len(element.keys())  # linear, unlike reading the values
        if count > MAX_ATTRIBUTES:
            self._problem(f"{count:,} attributes on one element (FHIR XML has a few): not read",
                          path, element, rule="unknown-property")
            return
        for key, text in element.attrib.items():
            namespace, name = _split_tag(key)
            if is_root and namespace == XSI_NS and name == "schemaLocation":
                continue
            info = table.get(name) if namespace is None else None
            if info is None or not info.xml_attr:
                self._problem(f"unknown attribute {name!r}", path, element,
                              rule="unknown-property")
                continue
            where = path if name == "value" else f"{path}.{name}"  # a primitive's value: itself
            result[name] = self._convert(text, info, where, element)

    def _convert(
        self, text: str, info: XmlElementInfo, path: str, element: etree._Element
    ) -> Any:
        if not self.collecting:
            return _convert(text, info.json_kind, path, element.sourceline, self.parse_float)
        if info.json_kind == "boolean":
            if text in ("true", "false"):
                return text == "true"
            self._problem(f"Boolean values must be 'true' or 'false', not {text!r}", path,
                          element, rule="primitive", code="value")
            return text  # the validator sees a string where a boolean belongs: reported once
        if info.json_kind == "number":
            if _LOOSE_INTEGER.fullmatch(text):
                return _IntText(text)
            if _LOOSE_NUMBER.fullmatch(text):
                return self.parse_float(text)
            self._problem(f"The value {text!r} is not a valid {info.content_type or 'number'}",
                          path, element, rule="primitive", code="value")
            return text
        return text

    def _no_text(self, text: str | None, path: str, element: etree._Element) -> None:
        if text and text.strip():
            self._problem(f"text {text.strip()[:40]!r} is not allowed here", path, element)

    def _value(self, element: etree._Element, info: XmlElementInfo, path: str) -> Any:
        if info.kind == "xhtml":
            return _Primitive(self._xhtml(element), None)
        if info.kind == "primitive":
            return self._primitive(element, info, path)
        if info.kind == "resource":
            return self._wrapped_resource(element, path)
        result: dict[str, Any] = {}
        if self.collecting and not element.attrib and not any(
            True for _child in _element_children(element)
        ):
            self._problem("Element must have some content (an empty element is not allowed)",
                          path, element)
            return result  # kept: the rules of what it lacks (cardinality) still apply
        self._content(element, str(info.content_type), path, result)
        return result

    def _xhtml(self, element: etree._Element) -> str:
        """The XHTML as FHIR JSON carries it: as written in the document when it stands alone
        (declares its own default namespace), else serialised with that declaration added."""
        raw = self.source.raw(element) if self.source is not None else None
        if raw is not None:
            try:
                alone = etree.fromstring(raw.encode("utf-8"), hardened_parser())
            except etree.XMLSyntaxError:
                alone = None
            if alone is not None and alone.tag == element.tag and alone.prefix is None:
                return raw
        return _xhtml_string(element)

    def _primitive(self, element: etree._Element, info: XmlElementInfo, path: str) -> _Primitive:
        content: dict[str, Any] = {}
        self._content(element, str(info.content_type), path, content)
        value = content.pop("value", None)
        if value is None and not content:
            self._problem("a primitive element needs a value, an id or extensions", path, element)
            return _Primitive(None, {})
        return _Primitive(value, content or None)

    def _wrapped_resource(self, element: etree._Element, path: str) -> Any:
        if element.attrib:
            self._problem("a resource container has no attributes", path, element)
        self._no_text(element.text, path, element)
        children = list(_element_children(element))
        if len(children) != 1:
            self._problem(f"expected one resource element inside, found {len(children)}", path,
                          element)
            if not children:
                return _SKIP
        self._no_text(children[0].tail, path, children[0])
        found = self.resource(children[0], path)
        return _SKIP if found is None else found


def _label(info: XmlElementInfo) -> str:
    """The element's name in FHIRPath locations: a choice as ``value.ofType(Quantity)``."""
    if info.path.endswith("[x]"):
        base = info.path.rsplit(".", 1)[-1][:-3]
        return f"{base}.ofType({info.type_code})"
    return info.name


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
    data: bytes | str, schema: XmlSchemaLike, *, parse_float: Callable[[str], Any] = float
) -> dict[str, Any]:
    """Read one FHIR XML resource into the dict ``json.loads`` gives for its JSON form.

    *parse_float* turns a number with ``.``, ``e`` or ``E`` into a value, as in ``json.loads``
    (``decimal.Decimal`` or the runtime's ``FhirDecimal`` keep a decimal's precision).
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    root = _parse_document(data)
    result = _Reader(schema, parse_float, source=_Positions(data, root)).resource(root, None)
    assert result is not None  # strict reading raises instead
    if _xml11_as_xml10(data)[1]:
        result = restore_xml11(result)
    return result


# ------------------------------------------------------------------------------ validation


#: A start tag from its ``<`` to its ``>`` (quoted attribute values may hold ``>``).
_START_TAG = re.compile(rb"<[^>\"']*(?:(?:\"[^\"]*\"|'[^']*')[^>\"']*)*>")
_END_TAG = re.compile(rb"</[^>]*>")


class _Positions:
    """Where elements are in the source bytes, worked out only when first asked.

    Line and column are the ones the HL7 reference validator reports: just after the ``>`` of the
    start tag (its SAX locator's position), the line being that of the ``>``. lxml gives lines
    only, so the tags are found once with the standard library's expat (the document has already
    been parsed by the hardened parser, without DOCTYPE), in document order, lxml's order too.
    The same scan gives an element's source text (:meth:`raw`: the XHTML narrative is kept as
    written). Without it (an encoding other than UTF-8), elements get lxml's line alone.
    """

    def __init__(self, data: bytes, root: etree._Element | None) -> None:
        self._data = data
        self._root = root
        self._spans: list[tuple[int, int, int]] | None = None  # start, start-tag end, end
        self._order: dict[Any, int] = {}
        self._newlines: list[int] | None = None
        #: The last column worked out (line start, byte offset, column): the next one on the
        #: same line further on decodes only the bytes between (a one-line document of
        #: megabytes would otherwise be decoded once per issue).
        self._last_col = (-1, 0, 0)

    def _scan(self) -> list[tuple[int, int, int]]:
        from xml.parsers import expat

        if self._spans is not None:
            return self._spans
        self._spans = []
        if self._root is None:
            return self._spans
        encoding = (self._root.getroottree().docinfo.encoding or "UTF-8").upper()
        if encoding not in ("UTF-8", "UTF8"):
            return self._spans
        data = self._data
        spans: list[list[int]] = []
        stack: list[list[int]] = []
        parser = expat.ParserCreate()

        def start(*_: Any) -> None:
            begin = parser.CurrentByteIndex
            match = _START_TAG.match(data, begin)
            span = [begin, match.end() if match else begin, -1]
            spans.append(span)
            stack.append(span)

        def end(*_: Any) -> None:
            span = stack.pop()
            at = parser.CurrentByteIndex
            if at <= span[1]:  # <x/>: expat reports the end after the start tag
                span[2] = span[1]
            else:
                match = _END_TAG.match(data, at)
                span[2] = match.end() if match else at

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        try:
            parser.Parse(data, True)
        except expat.ExpatError:
            return self._spans
        elements = list(self._root.iter(etree.Element))
        if len(elements) != len(spans):
            return self._spans
        self._spans = [(a, b, c) for a, b, c in spans]
        self._order = {element: i for i, element in enumerate(elements)}
        return self._spans

    def of(self, element: etree._Element | None) -> tuple[int | None, int | None]:
        """(line, column) of *element* (column None when it cannot be had)."""
        if element is None:
            return None, None
        spans = self._scan()
        index = self._order.get(element)
        if index is None:
            return element.sourceline, None
        end = spans[index][1]
        if self._newlines is None:
            self._newlines = [match.start() for match in re.finditer(b"\n", self._data)]
        line = bisect.bisect_left(self._newlines, end)  # newlines before the end of the tag
        line_start = self._newlines[line - 1] + 1 if line else 0
        last_start, last_end, last_col = self._last_col
        if last_start == line_start and last_end <= end:
            col = last_col + len(self._data[last_end:end].decode("utf-8", "replace"))
        else:
            col = len(self._data[line_start:end].decode("utf-8", "replace")) + 1
        self._last_col = (line_start, end, col)
        return line + 1, col

    def raw(self, element: etree._Element) -> str | None:
        """The element's source text (line ends normalised as XML does), or None."""
        spans = self._scan()
        index = self._order.get(element)
        if index is None:
            return None
        begin, _, end = spans[index]
        try:
            text = self._data[begin:end].decode("utf-8")
        except UnicodeDecodeError:
            return None
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # as XML parsers do
        # a carriage return the writer kept as a character reference (see write_resource_xml)
        return text.replace("&#13;", "\r").replace("&#xD;", "\r").replace("&#xd;", "\r")


class XmlReading:
    """What :func:`read_resource_xml_for_validation` found: the tree, XML issues, positions.

    ``tree`` is the dict ``json.loads`` would give for the JSON form (``None`` when the document
    could not be read as a resource: not well-formed, DOCTYPE, wrong root); ``issues`` are the
    XML-only problems, in document order, with their line (column via :meth:`locate`).
    :meth:`locate` gives any issue (the validator's too) the line and column of the element its
    FHIRPath location names.
    """

    def __init__(
        self,
        tree: dict[str, Any] | None,
        issues: list[Issue],
        data: bytes,
        root: etree._Element | None = None,
        where: dict[str, etree._Element] | None = None,
        elements: list[etree._Element | None] | None = None,
        positions: _Positions | None = None,
    ) -> None:
        self.tree = tree
        self.issues = issues
        self._where = where or {}
        self._elements = dict(zip(map(id, issues), elements or ()))
        self._positions = positions or _Positions(data, root)

    def __iter__(self) -> Iterator[Any]:
        """``tree, issues = reading``."""
        return iter((self.tree, self.issues))

    def _element_of(self, issue: Issue) -> etree._Element | None:
        if id(issue) in self._elements:
            return self._elements[id(issue)]
        expression = issue.expression
        if issue.key is not None:
            found = self._where.get(f"{expression}.{issue.key}")
            if found is not None:
                return found
        while expression:
            found = self._where.get(expression)
            if found is not None:
                return found
            expression = _parent_path(expression)
        return None

    def locate(self, issues: Iterable[Issue]) -> list[Issue]:
        """*issues* with the line and column of their element (where the issue has none)."""
        located = []
        for issue in issues:
            if issue.col is None:
                element = self._element_of(issue)
                if element is not None:
                    line, col = self._positions.of(element)
                    issue = issue.at(line if line is not None else issue.line, col)
            located.append(issue)
        return located


_LAST_SEGMENT = re.compile(r"(?:\.ofType\([A-Za-z0-9]+\)|\[[0-9]+\]|\.[^.\[\]()]+)\Z")


def _parent_path(expression: str) -> str:
    """``X.a[0].b`` -> ``X.a[0]`` -> ``X.a`` -> ``X`` -> ``""``."""
    match = _LAST_SEGMENT.search(expression)
    return expression[: match.start()] if match else ""


def read_resource_xml_for_validation(
    data: bytes | str, schema: XmlSchemaLike, *, parse_float: Callable[[str], Any] = _DecimalText
) -> XmlReading:
    """Read one FHIR XML resource for validation: the JSON-shaped tree plus the XML-only issues.

    Nothing raises: a document that is not well-formed, declares a DOCTYPE or entities (never
    expanded, never fetched), nests too deeply (libxml2's limit without huge-tree mode, 256
    levels) or is not a FHIR resource gives one fatal issue and no tree. Otherwise every problem
    is an :class:`~fhirgen.runtime.issues.Issue` and the walk goes on: element order per the
    StructureDefinition (``xml-order``), unknown elements and attributes (``unknown-property``,
    on the parent, as the JSON validator reports unknown properties), text where FHIR has none,
    empty elements and wrong namespaces (``xml-shape``, ``xml-namespace``), a repeated single
    element (``cardinality``; the first is kept), the lexical form of ``value`` attributes per
    JSON kind (``primitive``: ``true``/``false``; numbers as written, kept with their text so the
    primitive's own rules judge ``1e4`` as an integer or ``00.1`` as a decimal), an encoding other
    than UTF-8. Comments and processing instructions are allowed anywhere and skipped.

    Returns an :class:`XmlReading` (``tree, issues = reading`` also works).
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    issues: list[Issue] = []
    try:
        root = _parse_document(data)
    except XmlReadError as exc:
        line, col, message = exc.line, exc.col, exc.message
        if line is None and "DOCTYPE" in message:
            at = data.find(b"<!DOCTYPE")
            if at >= 0:
                line = data.count(b"\n", 0, at) + 1
                col = at - (data.rfind(b"\n", 0, at) + 1) + 1
            message += " (entities are never expanded, external ones never fetched)"
        issue = Issue("fatal", "structure", "xml-syntax", message, "", line, col)
        return XmlReading(None, [issue], data)
    except (etree.LxmlError, ValueError) as exc:  # an unsupported encoding declaration, ...
        issue = Issue("fatal", "structure", "xml-syntax", f"cannot read the XML ({exc})", "")
        return XmlReading(None, [issue], data)
    encoding = root.getroottree().docinfo.encoding or "UTF-8"
    if data.startswith((b"\xfe\xff", b"\xff\xfe")) or b"\x00" in data[:4]:
        encoding = "UTF-16"  # no declaration: lxml reports its default, not what it decoded
    elements: list[etree._Element | None] = []
    if encoding.upper() not in ("UTF-8", "UTF8"):
        issues.append(Issue("error", "structure", "xml-syntax",
                            f"FHIR XML must be encoded in UTF-8, not {encoding!r}", ""))
        elements.append(None)
    source = _Positions(data, root)
    reader = _Reader(schema, parse_float, issues, source)
    reader.issue_elements = elements
    try:
        tree = reader.resource(root, None)
    except RecursionError:
        issues.append(Issue("fatal", "structure", "xml-syntax",
                            "The resource is nested too deeply to be read", ""))
        elements.append(None)
        tree = None
    if reader.dropped:
        issues.append(Issue("error", "too-costly", "limit-issues",
                            f"{reader.dropped:,} more XML issue(s) not reported: at most "
                            f"{DEFAULT_LIMITS.max_issues:,} per resource", ""))
        elements.append(None)
    if tree is not None and _xml11_as_xml10(data)[1]:
        tree = restore_xml11(tree)
    return XmlReading(tree, issues, data, root, reader.where, elements, source)


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


_VERBATIM = "fhirgen-verbatim"


def _stands_alone(text: str, element: etree._Element) -> bool:
    """XHTML text that can go into the document as it is: just the ``div``, declaring the XHTML
    namespace as its default (nothing before or after it, no prefix)."""
    return (
        text.startswith("<div")
        and text.endswith(("</div>", "/>"))
        and element.prefix is None
        and "<!--" not in text
    )


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

    def __init__(self, schema: XmlSchemaLike | None) -> None:
        self.schema = schema
        self.verbatim: list[str] = []  # XHTML texts written as they are, by placeholder number
        self.token = uuid.uuid4().hex

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
        if self.schema is not None and self.schema.resource_problem(type_name) is not None:
            # A resource type the schema does not have (a contained resource the models keep
            # as UnknownResource): written as received, XML attributes guessed the FHIR way.
            plain = _Writer(None)
            plain.verbatim, plain.token = self.verbatim, self.token
            plain._content(element, resource, None, path or type_name, is_resource=True)
            return element
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
        self,
        obj: Mapping[str, Any],
        table: Mapping[str, XmlElementInfo] | None,
        path: str,
        is_resource: bool,
    ) -> list[str]:
        names: dict[str, None] = {}
        for key in obj:
            if key == "resourceType" and is_resource:  # (an element of that name is written)
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
        for name in self._names(obj, table, path, is_resource):
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
            element = _parse_xhtml(value, path)
            if _stands_alone(value, element):  # written as it is: the JSON text survives
                placeholder = etree.SubElement(parent, element.tag, nsmap={None: XHTML_NS})
                placeholder.set(_VERBATIM, f"{self.token}-{len(self.verbatim)}")
                self.verbatim.append(value)
            else:
                parent.append(element)
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


def write_resource_xml(
    resource: Mapping[str, Any], schema: XmlSchemaLike | None = None
) -> bytes:
    """Write a JSON-shaped resource as FHIR XML (UTF-8 bytes, with declaration).

    Without *schema*, keys are written in dict order and XML attributes are guessed the way FHIR
    defines them: ``id`` of any object but a resource, ``url`` of an extension (an object under
    ``extension``/``modifierExtension``, or one with no other elements than ``url``, ``id``,
    ``extension`` and one ``value[x]``). With *schema*, elements are
    written in the type's element order, attributes are those the definitions mark ``xmlAttr``,
    and unknown keys raise :class:`XmlWriteError`.
    """
    writer = _Writer(schema)
    try:
        root = writer.resource(resource, None, None)
    except ValueError as exc:
        if isinstance(exc, XmlWriteError):
            raise
        # lxml refuses what XML 1.0 cannot carry at all (control characters, even as references)
        raise XmlWriteError(f"the resource cannot be written as XML 1.0: {exc}") from exc
    _indent(root)
    body: bytes = etree.tostring(root, encoding="UTF-8")
    if writer.verbatim:
        placeholder = re.compile(
            rb'<div xmlns="http://www.w3.org/1999/xhtml" '
            + _VERBATIM.encode() + rb'="' + writer.token.encode() + rb'-([0-9]+)"/>'
        )
        body = placeholder.sub(  # a carriage return survives XML as a character reference
            lambda match: writer.verbatim[int(match.group(1))]
            .replace("\r", "&#13;")
            .encode("utf-8"),
            body,
        )
    return XML_DECLARATION + body + b"\n"
