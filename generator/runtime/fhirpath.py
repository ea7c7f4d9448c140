"""FHIRPath semantics over parsed FHIR JSON, for invariants compiled by ``fhirgen.fhirpath``.

Compiled invariants (``def inv_ele_1(node, resource, root): return ...``) are Python expressions
over the functions of this module: there is no interpreter here, only the operations. Every
FHIRPath value is a collection, a Python ``list``; its items are

* :class:`Node`: one element of the resource tree as ``fhirgen.runtime.jsonio.loads`` (or the
  validator's parser) gives it: ``data`` is the JSON value (a dict for complex types and
  resources; ``str``/``int``/``bool``/``Decimal`` for primitives, ``None`` for a primitive that
  has only its ``_name`` object), ``ext`` that ``_name`` object, ``type`` the FHIR type code when
  known, ``path`` the element definition path used to look types up in a :class:`TypeTable`,
  ``parent`` the node it was reached from;
* system values: ``str``, ``bool``, ``int``, ``Decimal``, :class:`Temporal` (dates, date-times,
  times with their precision) and :class:`Quantity`.

Types of elements come, in this order, from the type hint the compiler gives (known statically
from the definitions), a choice element's JSON suffix (``valueString`` is a ``string``), a
resource's ``resourceType``, the :class:`TypeTable` a node carries (built from the definitions by
``fhirgen.fhirpath.type_table``), and last from the JSON value itself (a string is a ``string``).

Semantics follow FHIRPath N1 as FHIR R5 uses it: empty collections propagate through operators and
most functions; ``and``/``or``/``xor``/``implies``/``not`` are three-valued (``None`` is empty);
an operand that must be a single item raises :class:`FhirPathEvalError` when it has more;
comparing dates and times of different precisions gives empty when they agree as far as both go;
quantities compare when their units are the same. :func:`result` turns a collection into the
invariant's verdict: ``True``, ``False`` or ``None`` (empty).
"""

from __future__ import annotations

import enum
import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .jsonio import FhirDecimal

__all__ = [
    "FhirPathEvalError",
    "Node",
    "Quantity",
    "Temporal",
    "TypeTable",
    "result",
]

Collection = list[Any]
Lambda = Callable[[Any, int], Collection]

class Undecided(enum.Enum):
    """What the JSON form of an invariant (see :func:`json_form`) returns when the JSON value is
    not of the kinds it reads: only the general compilation can tell."""

    GENERAL = "general"


class NeedsNodes(Exception):
    """Raised in a JSON form where a part of the invariant needs the general compilation."""


def needs_nodes() -> Any:
    """Stop a JSON form (see :class:`NeedsNodes`): the invariant's function decides."""
    raise NeedsNodes


Invariant = Callable[["Node", "Node", "Node"], "bool | None"]
JsonForm = Callable[[Any], "bool | None | Undecided"]


def json_form(form: JsonForm) -> Callable[[Invariant], Invariant]:
    """Mark a compiled invariant with its JSON form: a function of the focus's JSON value alone
    giving the same verdict, or :attr:`Undecided.GENERAL`. The evaluation
    (``fhirgen.runtime.invariants``) then builds no node for values the form decides."""

    def mark(function: Invariant) -> Invariant:
        function.json = form  # type: ignore[attr-defined]
        return function

    return mark


#: The classes of JSON numbers the parsers give (``bool`` is not one): the specialised compilation
#: (``fhirgen.fhirpath.specialise``) compares these directly, anything else goes the general way.
NUMBER_CLASSES: frozenset[Any] = frozenset({int, float, Decimal, FhirDecimal})


class FhirPathEvalError(ValueError):
    """An expression that cannot be evaluated on this input (a list where one item is needed,
    operands of incompatible types, an invalid regular expression ...)."""


# =============================================================================== types

#: Built-in type hierarchy of FHIR R5 for when no :class:`TypeTable` is given.
_BUILTIN_BASES: dict[str, str] = {
    "code": "string", "id": "string", "markdown": "string",
    "url": "uri", "canonical": "uri", "oid": "uri", "uuid": "uri",
    "positiveInt": "integer", "unsignedInt": "integer",
    "Age": "Quantity", "Count": "Quantity", "Distance": "Quantity", "Duration": "Quantity",
    "MoneyQuantity": "Quantity", "SimpleQuantity": "Quantity",
    "BackboneElement": "Element", "BackboneType": "DataType", "DataType": "Element",
    "PrimitiveType": "DataType", "Element": "Base", "Resource": "Base",
    "DomainResource": "Resource", "Bundle": "Resource", "Binary": "Resource",
    "Parameters": "Resource",
}
PRIMITIVES = frozenset({
    "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id", "instant",
    "integer", "integer64", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt",
    "uri", "url", "uuid", "xhtml",
})
#: Complex datatypes (R5) that may appear as the type suffix of a choice element.
_DATATYPES = frozenset({
    "Address", "Age", "Annotation", "Attachment", "Availability", "CodeableConcept",
    "CodeableReference", "Coding", "ContactDetail", "ContactPoint", "Contributor", "Count",
    "DataRequirement", "Distance", "Dosage", "Duration", "Expression", "ExtendedContactDetail",
    "HumanName", "Identifier", "Meta", "Money", "ParameterDefinition", "Period", "Quantity",
    "Range", "Ratio", "RatioRange", "Reference", "RelatedArtifact", "SampledData", "Signature",
    "Timing", "TriggerDefinition", "UsageContext", "VirtualServiceDetail", "MonetaryComponent",
})
_SUFFIX_TYPES = {t[0].upper() + t[1:]: t for t in PRIMITIVES} | {t: t for t in _DATATYPES}
QUANTITY_TYPES = frozenset({"Quantity", "Age", "Count", "Distance", "Duration", "MoneyQuantity",
                            "SimpleQuantity"})
_SYSTEM_TYPES = frozenset({"Boolean", "String", "Integer", "Long", "Decimal", "Date", "DateTime",
                           "Time", "Quantity"})


class TypeTable:
    """Element types of a set of definitions, for navigation without static knowledge.

    ``elements`` maps an element path (``Patient.contact``, ``HumanName.family``,
    ``Observation.value`` for ``value[x]``) to ``(type code, next path)``: the next path is the
    type's name for datatypes and resources (``HumanName``), the element's own path for backbone
    elements, the reused path for content references, and ``""`` for choice elements (code
    ``"*"``: the JSON suffix names the type). ``bases`` maps each type to its base type.
    """

    __slots__ = ("bases", "elements")

    def __init__(self, elements: Mapping[str, tuple[str, str]], bases: Mapping[str, str]) -> None:
        self.elements = elements
        self.bases = bases

    def base(self, type_name: str) -> str | None:
        return self.bases.get(type_name) or _BUILTIN_BASES.get(type_name)


class Node:
    """One element of the JSON tree (see the module docstring)."""

    __slots__ = ("data", "ext", "parent", "path", "table", "type")

    def __init__(self, data: Any, ext: Any = None, type: str | None = None,
                 path: str | None = None, parent: Node | None = None,
                 table: TypeTable | None = None) -> None:
        if type is None and isinstance(data, dict):
            resource_type = data.get("resourceType")
            if isinstance(resource_type, str):
                type = path = resource_type
        self.data = data
        self.ext = ext if isinstance(ext, dict) else None
        self.type = type
        self.path = path if path is not None else type
        self.parent = parent
        self.table = table

    @classmethod
    def resource(cls, data: dict[str, Any], table: TypeTable | None = None,
                 parent: Node | None = None) -> Node:
        """The node of a resource (its type from ``resourceType``)."""
        return cls(data, parent=parent, table=table)

    def __repr__(self) -> str:
        return f"Node({self.type or '?'}, {self.data!r})"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def type_of(item: Any) -> str | None:
    """The FHIR type code of a node (or the FHIRPath system type of a system value)."""
    if isinstance(item, Node):
        if item.type is not None:
            return item.type
        data = item.data
        if isinstance(data, bool):
            return "boolean"
        if isinstance(data, int):
            return "integer"
        if isinstance(data, Decimal):
            return "decimal"
        if isinstance(data, str):
            return "string"
        return None
    if isinstance(item, bool):
        return "Boolean"
    if isinstance(item, int):
        return "Integer"
    if isinstance(item, Decimal):
        return "Decimal"
    if isinstance(item, str):
        return "String"
    if isinstance(item, Temporal):
        return {"date": "Date", "datetime": "DateTime", "time": "Time"}[item.kind]
    if isinstance(item, Quantity):
        return "Quantity"
    return None


def _ancestors(type_name: str, table: TypeTable | None) -> Iterable[str]:
    seen = 0
    current: str | None = type_name
    while current is not None and seen < 32:
        yield current
        seen += 1
        current = table.base(current) if table is not None else _BUILTIN_BASES.get(current)
        if (current is None and seen == 1 and type_name[:1].isupper()
                and type_name not in _DATATYPES and type_name not in QUANTITY_TYPES):
            current = "DomainResource"  # a resource type the table does not know: the usual base


def is_type(item: Any, type_name: str) -> bool:
    """``item is type_name`` (subtypes included; ``FHIR.`` and ``System.`` qualifiers)."""
    namespace, _, name = type_name.rpartition(".")
    if isinstance(item, Node):
        if namespace == "System":
            return False
        actual = type_of(item)
        if actual is None:
            return name in ("Element", "Base") and isinstance(item.data, dict)
        if actual == name:
            return True
        if item.type is None and isinstance(item.data, str) and name in PRIMITIVES:
            return False  # an untyped string is only known to be a string
        return name in _ancestors(actual, item.table)
    if namespace == "FHIR":
        return False
    actual = type_of(item)
    if actual == name:
        return True
    lowered = {"Boolean": "boolean", "String": "string", "Integer": "integer",
               "Decimal": "decimal", "Date": "date", "DateTime": "dateTime", "Time": "time"}
    return namespace == "" and lowered.get(actual or "") == name


# ========================================================================= navigation


def _node(parent: Node, name: str, value: Any, ext: Any, type_hint: str | None,
          suffix_type: str | None) -> Node:
    path = f"{parent.path}.{name}" if parent.path else None
    type_name = suffix_type or type_hint
    table = parent.table
    if suffix_type is not None:
        path = suffix_type
    elif table is not None and path is not None:
        entry = table.elements.get(path)
        if entry is not None:
            code, next_path = entry
            if type_name is None:
                type_name = code
            path = next_path or path
        elif type_name is not None:
            path = type_name
    elif type_name is not None and type_name not in ("BackboneElement", "Element"):
        path = type_name
    if isinstance(value, dict):
        resource_type = value.get("resourceType")
        if isinstance(resource_type, str):
            type_name = path = resource_type
    return Node(value, ext, type_name, path, parent, table)


def indexed_pairs(value: Any, ext: Any) -> Iterable[tuple[int | None, Any, Any]]:
    """(index, value, _ext) of a JSON property and its ``_name`` twin, arrays aligned (index
    ``None`` for a single value); positions with neither value nor ``_name`` object are skipped."""
    if isinstance(value, list) or isinstance(ext, list):
        values = value if isinstance(value, list) else []
        exts = ext if isinstance(ext, list) else []
        for i in range(max(len(values), len(exts))):
            item = values[i] if i < len(values) else None
            item_ext = exts[i] if i < len(exts) else None
            if item is not None or isinstance(item_ext, dict):
                yield i, item, item_ext
    elif value is not None or isinstance(ext, dict):
        yield None, value, ext


def _pairs(value: Any, ext: Any) -> Iterable[tuple[Any, Any]]:
    """(value, _ext) pairs of a JSON property and its ``_name`` twin (arrays aligned)."""
    for _index, item, item_ext in indexed_pairs(value, ext):
        yield item, item_ext


def _is_choice_key(key: str, name: str) -> str | None:
    if len(key) > len(name) and key.startswith(name) and key[len(name)].isupper():
        return _SUFFIX_TYPES.get(key[len(name):])
    return None


def _children_named(node: Node, name: str, type_hint: str | None, out: Collection) -> None:
    data = node.data
    if not isinstance(data, dict):
        # a primitive: its id and extensions live in its `_name` object
        if node.ext is not None and name in ("id", "extension"):
            for value, _ in _pairs(node.ext.get(name), None):
                out.append(_node(node, name, value, None, "string" if name == "id" else None,
                                 None))
        return
    if name in data or "_" + name in data:
        for value, ext in _pairs(data.get(name), data.get("_" + name)):
            out.append(_node(node, name, value, ext, type_hint, None))
        return
    table = node.table
    if table is not None and node.path is not None:
        entry = table.elements.get(f"{node.path}.{name}")
        if entry is not None and entry[0] != "*":
            return  # known, not a choice: absent
    for key in data:
        twin = key[:1] == "_"
        real = key[1:] if twin else key
        if twin and real in data:
            continue  # met with its value
        suffix_type = _is_choice_key(real, name)
        if suffix_type is not None:
            # a primitive choice may have only its `_name` object (an extension, no value)
            for value, ext in _pairs(data.get(real), data.get("_" + real)):
                out.append(_node(node, name, value, ext, None, suffix_type))
            return


def child(coll: Collection, name: str, type_hint: str | None = None) -> Collection:
    """``coll.name``: the children called *name* of every node (arrays flattened; a choice
    element found by its JSON suffix)."""
    out: Collection = []
    for item in coll:
        if isinstance(item, Node):
            _children_named(item, name, type_hint, out)
    return out


def type_filter(coll: Collection, name: str) -> Collection:
    """A leading type name (``Patient.name``, ``CodeSystem.content``): the focus if it is of that
    type, else its children called *name* (FHIR element names are never capitalised, so in
    practice the focus or nothing)."""
    if any(isinstance(item, Node) and is_type(item, name) for item in coll):
        return [item for item in coll if is_type(item, name)]
    return child(coll, name)


def _choice_split(node: Node, key: str) -> tuple[str, str] | None:
    """(element name, type) when the table says *key* is a choice element's JSON name."""
    table = node.table
    if table is None or node.path is None or f"{node.path}.{key}" in table.elements:
        return None
    for end in range(len(key) - 1, 0, -1):
        if key[end].isupper():
            entry = table.elements.get(f"{node.path}.{key[:end]}")
            suffix_type = _SUFFIX_TYPES.get(key[end:])
            if entry is not None and entry[0] == "*" and suffix_type is not None:
                return key[:end], suffix_type
    return None


def _all_children(node: Node, out: Collection) -> None:
    data = node.data
    if not isinstance(data, dict):
        if node.ext is not None:
            for key in ("id", "extension"):
                _children_named(node, key, None, out)
        return
    seen: set[str] = set()
    for key in data:
        name = key[1:] if key[:1] == "_" else key
        if name == "resourceType" or name in seen:
            continue
        seen.add(name)
        split = _choice_split(node, name)
        for value, ext in _pairs(data.get(name), data.get("_" + name)):
            if split is None:
                out.append(_node(node, name, value, ext, None, None))
            else:
                out.append(_node(node, split[0], value, ext, None, split[1]))


def children(coll: Collection) -> Collection:
    out: Collection = []
    for item in coll:
        if isinstance(item, Node):
            _all_children(item, out)
    return out


def descendants(coll: Collection) -> Collection:
    out: Collection = []
    pending = children(coll)
    while pending:
        out.extend(pending)
        pending = children(pending)
    return out


def index(coll: Collection, at: Collection) -> Collection:
    position = _single_int(at)
    if position is None or position < 0 or position >= len(coll):
        return []
    return [coll[position]]


# ============================================================================ values


class Temporal:
    """A FHIRPath Date, DateTime or Time with its precision.

    ``parts`` are (year, month, day, hour, minute, second) for dates and date-times and (hour,
    minute, second) for times, as far as they were given; ``second`` is a ``Decimal`` (seconds
    and fractions count as one precision, as FHIRPath compares them); ``tz`` is the offset in
    minutes or ``None``. ``text`` is the written form (``toString``).
    """

    __slots__ = ("kind", "parts", "text", "tz")

    def __init__(self, kind: str, parts: tuple[Any, ...], tz: int | None, text: str) -> None:
        self.kind = kind
        self.parts = parts
        self.tz = tz
        self.text = text

    def __repr__(self) -> str:
        return f"@{'T' if self.kind == 'time' else ''}{self.text}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Temporal) and compare_temporal(self, other) == 0

    def __hash__(self) -> int:
        return hash(self.text)

    @property
    def precision(self) -> int:
        return len(self.parts)


_DATE_TEXT = re.compile(
    r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?"
    r"(?:(T)(?:([0-9]{2})(?::([0-9]{2})(?::([0-9]{2}(?:\.[0-9]+)?))?)?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?)?\Z"
)
_TIME_TEXT = re.compile(r"([0-9]{2})(?::([0-9]{2})(?::([0-9]{2}(?:\.[0-9]+)?))?)?\Z")


def _zone(text: str | None) -> int | None:
    if not text:
        return None
    if text == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    return sign * (int(text[1:3]) * 60 + int(text[4:6]))


def parse_temporal(text: str, kind: str | None = None) -> Temporal | None:
    """A date/date-time (``kind`` ``date``/``datetime`` or None: either) or a time; None if the
    text is not one."""
    if kind == "time":
        match = _TIME_TEXT.match(text)
        if not match:
            return None
        groups = [g for g in match.groups() if g is not None]
        parts = tuple(int(g) for g in groups[:2]) + tuple(Decimal(g) for g in groups[2:])
        return Temporal("time", parts, None, text)
    match = _DATE_TEXT.match(text)
    if not match:
        return None
    year, month, day, t_mark, hour, minute, second, zone = match.groups()
    values: list[Any] = []
    for group in (year, month, day, hour, minute):
        if group is None:
            break
        values.append(int(group))
    if second is not None and len(values) == 5:
        values.append(Decimal(second))
    is_datetime = bool(t_mark) or zone is not None
    if kind == "date" and is_datetime:
        return None
    if (kind == "datetime" or is_datetime) or len(values) > 3:
        try:
            _check_parts(values)
        except ValueError:
            return None
        return Temporal("datetime", tuple(values), _zone(zone), text)
    try:
        _check_parts(values)
    except ValueError:
        return None
    return Temporal("date", tuple(values), None, text)


def _check_parts(values: list[Any]) -> None:
    filled = values + [1, 1][: max(0, 3 - len(values))]
    datetime(int(filled[0]), int(filled[1]), int(filled[2]))
    if len(values) > 3 and not (values[3] < 24 and (len(values) < 5 or values[4] < 60)):
        raise ValueError("time out of range")


def _utc_parts(value: Temporal) -> tuple[Any, ...]:
    """Date-time parts normalised to UTC (only called when a zone is known)."""
    parts = value.parts
    if value.tz is None or len(parts) < 4:
        return parts
    filled = list(parts) + [0] * (6 - len(parts))
    second = Decimal(filled[5])
    moment = datetime(filled[0], filled[1], filled[2], filled[3], filled[4], tzinfo=UTC)
    moment -= timedelta(minutes=value.tz)
    out = (moment.year, moment.month, moment.day, moment.hour, moment.minute, second)
    return out[: len(parts)]


def compare_temporal(a: Temporal, b: Temporal) -> int | None:
    """-1/0/1, or None when the precisions differ and the values agree as far as both go."""
    if (a.kind == "time") != (b.kind == "time"):
        raise FhirPathEvalError(f"cannot compare {a!r} with {b!r}")
    pa, pb = a.parts, b.parts
    if a.tz is not None and b.tz is not None:
        pa, pb = _utc_parts(a), _utc_parts(b)
    elif (a.tz is None) != (b.tz is None) and len(pa) > 3 and len(pb) > 3:
        return None  # one has a time zone, the other none: unknown which is earlier
    for x, y in zip(pa, pb, strict=False):
        if x != y:
            return -1 if x < y else 1
    return 0 if len(pa) == len(pb) else None


class Quantity:
    """A FHIRPath quantity: a decimal value and a unit (UCUM code or calendar keyword)."""

    __slots__ = ("unit", "value")

    def __init__(self, value: Decimal | int, unit: str) -> None:
        self.value = Decimal(value)
        self.unit = unit

    def __repr__(self) -> str:
        return f"{self.value} '{self.unit}'"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and _quantity_cmp(self, other) == 0

    def __hash__(self) -> int:
        return hash(self.value)


_CALENDAR = {"year": "year", "years": "year", "month": "month", "months": "month", "week": "week",
             "weeks": "week", "day": "day", "days": "day", "hour": "hour", "hours": "hour",
             "minute": "minute", "minutes": "minute", "second": "second", "seconds": "second",
             "millisecond": "millisecond", "milliseconds": "millisecond"}
#: UCUM codes a calendar duration equals (FHIRPath: definite durations, second and below).
_CALENDAR_UCUM = {"second": "s", "millisecond": "ms"}


def _unit_key(unit: str) -> str:
    unit = _CALENDAR.get(unit, unit)
    return _CALENDAR_UCUM.get(unit, unit)


def _quantity_cmp(a: Quantity, b: Quantity) -> int | None:
    """-1, 0 or 1; ``None`` when the units are not comparable. Units that differ are converted
    by UCUM (``5 g`` > ``1000 mg``), as the HL7 engine does; calendar durations (``year``,
    ``month``) only ever compare with the same keyword."""
    left = a.value
    if _unit_key(a.unit) != _unit_key(b.unit):
        factor = _ucum_factor(a.unit, b.unit)
        if factor is None:
            return None
        left = left * factor
    return (left > b.value) - (left < b.value)


#: The UCUM unit registry (ucumvert, over pint), built on first need: about a second.
_UCUM: Any = None
#: Conversion factors met so far, bounded (units come from the input).
_FACTORS: dict[tuple[str, str], Decimal | None] = {}


def _ucum_factor(source: str, target: str) -> Decimal | None:
    """How many *target* units one *source* unit makes, or ``None`` when either is not a UCUM
    unit, they measure different things, or the conversion has an offset (``Cel`` to ``K``)."""
    if source in _CALENDAR or target in _CALENDAR:
        return None
    key = (source, target)
    if key in _FACTORS:
        return _FACTORS[key]
    global _UCUM
    factor: Decimal | None = None
    try:
        if _UCUM is None:
            from ucumvert import PintUcumRegistry  # type: ignore[import-untyped, unused-ignore]

            _UCUM = PintUcumRegistry()
        unit, other = _UCUM.from_ucum(source), _UCUM.from_ucum(target)
        if _UCUM.Quantity(0, unit.units).to(other.units).magnitude == 0:  # no offset (Cel)
            converted = unit.to(other)
            factor = Decimal(repr(float(converted.magnitude / other.magnitude)))
    except Exception:  # noqa: BLE001 - the parser's and pint's many errors all mean "no"
        factor = None
    if len(_FACTORS) < 4096:
        _FACTORS[key] = factor
    return factor


def _quantity_of(node: Node) -> Quantity | None:
    data = node.data
    if not isinstance(data, dict):
        return None
    value = data.get("value")
    if value.__class__ is float:  # the fast parse (see value_of)
        value = Decimal(repr(value))
    if not isinstance(value, (int, Decimal)) or isinstance(value, bool):
        return None
    unit = next((u for u in (data.get("code"), data.get("unit")) if isinstance(u, str)), "1")
    return Quantity(value, unit)


def value_of(item: Any) -> Any:
    """The system value of an item: a primitive node's value converted by its type (a dateTime
    string becomes a :class:`Temporal`), a Quantity node's :class:`Quantity`; other complex
    nodes stay nodes; a primitive node without value gives ``None``."""
    if not isinstance(item, Node):
        return item
    data = item.data
    if isinstance(data, dict):
        if item.type in QUANTITY_TYPES:
            return _quantity_of(item) or item
        return item
    if isinstance(data, str):
        kind = item.type
        if kind in ("dateTime", "instant"):
            return parse_temporal(data, "datetime") or data
        if kind == "date":
            return parse_temporal(data, "date") or data
        if kind == "time":
            return parse_temporal(data, "time") or data
        if kind == "integer64":
            try:
                return int(data)
            except ValueError:
                return data
    if data.__class__ is float:  # the fast parse keeps a number a float holds as written
        return Decimal(repr(data))
    return data


def _values(coll: Collection) -> list[Any]:
    return [value_of(item) for item in coll]


def _single(coll: Collection, what: str = "operand") -> Any:
    """The one value of a singleton (None when empty); an error for more than one."""
    if not coll:
        return None
    if len(coll) > 1:
        raise FhirPathEvalError(f"{what} must be a single item, found {len(coll)}")
    return value_of(coll[0])


def _single_int(coll: Collection) -> int | None:
    value = _single(coll)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or value != int(value):
        raise FhirPathEvalError(f"expected an integer, found {value!r}")
    return int(value)


def _single_str(coll: Collection, what: str = "input") -> str | None:
    value = _single(coll, what)
    if value is None:
        return None
    if isinstance(value, Temporal):
        return value.text
    if not isinstance(value, str):
        raise FhirPathEvalError(f"{what} must be a string, found {value!r}")
    return value


# ============================================================================= logic


def truth(coll: Collection) -> bool | None:
    """Singleton evaluation as a boolean: empty -> None, one boolean -> it, one other item ->
    True, more -> error."""
    if not coll:
        return None
    if len(coll) > 1:
        raise FhirPathEvalError(f"a boolean needs a single item, found {len(coll)}")
    item = coll[0]
    if item is True or item is False:  # most operands: results of other operations
        return item
    value = value_of(item)
    if isinstance(value, bool):
        return value
    return True


def result(coll: Collection) -> bool | None:
    """The verdict of an invariant: True, False, or None when the expression gave empty."""
    return truth(coll)


def _wrap(value: bool | None) -> Collection:
    return [] if value is None else [value]


def and_(left: Collection, right: Callable[[], Collection]) -> Collection:
    a = truth(left)
    if a is False:
        return [False]
    b = truth(right())
    if b is False:
        return [False]
    if a is None or b is None:
        return []
    return [True]


def or_(left: Collection, right: Callable[[], Collection]) -> Collection:
    a = truth(left)
    if a is True:
        return [True]
    b = truth(right())
    if b is True:
        return [True]
    if a is None or b is None:
        return []
    return [False]


def xor(left: Collection, right: Collection) -> Collection:
    a, b = truth(left), truth(right)
    if a is None or b is None:
        return []
    return [a != b]


def implies(left: Collection, right: Callable[[], Collection]) -> Collection:
    a = truth(left)
    if a is False:
        return [True]
    b = truth(right())
    if b is True:
        return [True]
    if a is None:
        return []
    return _wrap(b)


def not_(coll: Collection) -> Collection:
    value = truth(coll)
    return [] if value is None else [not value]


# ======================================================================== equality


def _deep_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, Decimal)) and isinstance(b, (int, Decimal)):
        return a == b
    return type(a) is type(b) and a == b


def _coerce_pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Implicit conversions between operands: a string meets a date (or a date-time/time), an
    integer meets a decimal (Python does this one), a Quantity node meets a Quantity."""
    if isinstance(a, Temporal) and isinstance(b, str):
        b = parse_temporal(b, "time" if a.kind == "time" else None) or b
    elif isinstance(b, Temporal) and isinstance(a, str):
        a = parse_temporal(a, "time" if b.kind == "time" else None) or a
    if isinstance(a, Quantity) and isinstance(b, Node):
        b = _quantity_of(b) or b
    elif isinstance(b, Quantity) and isinstance(a, Node):
        a = _quantity_of(a) or a
    return a, b


def _item_equal(a: Any, b: Any) -> bool | None:
    """FHIRPath ``=`` on two single values (already converted by :func:`value_of`)."""
    a, b = _coerce_pair(a, b)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Node) or isinstance(b, Node):
        if isinstance(a, Node) and isinstance(b, Node):
            return _deep_equal(a.data, b.data)
        return False
    if isinstance(a, Temporal) and isinstance(b, Temporal):
        if (a.kind == "time") != (b.kind == "time"):
            return False
        cmp = compare_temporal(a, b)
        return None if cmp is None else cmp == 0
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        cmp = _quantity_cmp(a, b)
        return None if cmp is None else cmp == 0
    if isinstance(a, (int, Decimal)) and isinstance(b, (int, Decimal)):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return False


def eq(left: Collection, right: Collection) -> Collection:
    if not left or not right:
        return []
    if len(left) != len(right):
        return [False]
    unknown = False
    for a, b in zip(_values(left), _values(right), strict=True):
        if a is None or b is None:
            return []
        same = _item_equal(a, b)
        if same is False:
            return [False]
        if same is None:
            unknown = True
    return [] if unknown else [True]


def ne(left: Collection, right: Collection) -> Collection:
    return not_(eq(left, right))


def _normalise_text(text: str) -> str:
    return " ".join(text.lower().split())


_NORMALISED: dict[str, str] = {}


def normalised(text: str) -> str:
    """*text* as ``~`` compares strings (case and whitespace aside), for the specialised
    compilation; short texts (codes: ``regionType ~ 'point'``) are remembered."""
    found = _NORMALISED.get(text)
    if found is None:
        found = _normalise_text(text)
        if len(text) <= 64 and len(_NORMALISED) < 4096:
            _NORMALISED[text] = found
    return found


def _item_equivalent(a: Any, b: Any) -> bool:
    a, b = _coerce_pair(a, b)
    if isinstance(a, str) and isinstance(b, str):
        return _normalise_text(a) == _normalise_text(b)
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        if isinstance(a, (int, Decimal)) and isinstance(b, (int, Decimal)) \
                and not isinstance(a, bool) and not isinstance(b, bool):
            places = min(_decimal_places(a), _decimal_places(b))
            return round(Decimal(a), places) == round(Decimal(b), places)
        return False
    if isinstance(a, Temporal) and isinstance(b, Temporal):
        return a.precision == b.precision and compare_temporal(a, b) == 0
    return _item_equal(a, b) is True


def _decimal_places(value: Decimal | int) -> int:
    if isinstance(value, int):
        return 0
    exponent = Decimal(getattr(value, "text", str(value))).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def equivalent(left: Collection, right: Collection) -> Collection:
    if not left and not right:
        return [True]
    if len(left) != len(right):
        return [False]
    rest = _values(right)
    for a in _values(left):
        for position, b in enumerate(rest):
            if _item_equivalent(a, b):
                del rest[position]
                break
        else:
            return [False]
    return [True]


def not_equivalent(left: Collection, right: Collection) -> Collection:
    return [not equivalent(left, right)[0]]


# ====================================================================== comparison


def _compare(left: Collection, right: Collection) -> int | None:
    a, b = _single(left), _single(right)
    if a is None or b is None:
        return None
    a, b = _coerce_pair(a, b)
    if isinstance(a, bool) or isinstance(b, bool):
        raise FhirPathEvalError("booleans cannot be ordered")
    if isinstance(a, (int, Decimal)) and isinstance(b, (int, Decimal)):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    if isinstance(a, Temporal) and isinstance(b, Temporal):
        return compare_temporal(a, b)
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        return _quantity_cmp(a, b)
    raise FhirPathEvalError(f"cannot compare {a!r} with {b!r}")


def lt(left: Collection, right: Collection) -> Collection:
    cmp = _compare(left, right)
    return [] if cmp is None else [cmp < 0]


def le(left: Collection, right: Collection) -> Collection:
    cmp = _compare(left, right)
    return [] if cmp is None else [cmp <= 0]


def gt(left: Collection, right: Collection) -> Collection:
    cmp = _compare(left, right)
    return [] if cmp is None else [cmp > 0]


def ge(left: Collection, right: Collection) -> Collection:
    cmp = _compare(left, right)
    return [] if cmp is None else [cmp >= 0]


# ==================================================================== collections


def _contains_item(coll: Collection, value: Any) -> bool:
    return any(_item_equal(value, value_of(other)) for other in coll)


def in_(left: Collection, right: Collection) -> Collection:
    if not left:
        return []
    if len(left) > 1:
        raise FhirPathEvalError("the left operand of 'in' must be a single item")
    return [_contains_item(right, value_of(left[0]))]


def contains(left: Collection, right: Collection) -> Collection:
    """The ``contains`` operator (collection membership)."""
    return in_(right, left)


def _plain_key(value: Any) -> tuple[str, Any] | None:
    """A hashable key for values whose equality is Python's (strings, booleans, numbers)."""
    kind = value.__class__
    if kind is str:
        return ("s", value)
    if kind is bool:
        return ("b", value)
    if kind is int or kind is Decimal:
        return ("n", value) if not (kind is Decimal and value.is_nan()) else None
    return None


def _distinct(items: Iterable[Any]) -> Collection:
    """Items without repeats by FHIRPath ``=``. Strings and numbers are looked up in a set (a
    Questionnaire's thousands of linkIds stay linear); other values (nodes, dates, quantities)
    are compared one by one, also against the plain values (a string may equal a date)."""
    out: Collection = []
    plain: set[tuple[str, Any]] = set()
    plain_values: list[Any] = []
    others: list[Any] = []
    for item in items:
        value = value_of(item)
        key = _plain_key(value)
        if key is not None:
            if key in plain or any(_item_equal(value, other) is True for other in others):
                continue
            plain.add(key)
            plain_values.append(value)
        else:
            if any(_item_equal(value, other) is True for other in others) or any(
                _item_equal(value, other) is True for other in plain_values
            ):
                continue
            others.append(value)
        out.append(item)
    return out


def union(left: Collection, right: Collection) -> Collection:
    return _distinct([*left, *right])


def combine(left: Collection, right: Collection) -> Collection:
    return [*left, *right]


def distinct(coll: Collection) -> Collection:
    return _distinct(coll)


def is_distinct(coll: Collection) -> Collection:
    return [len(_distinct(coll)) == len(coll)]


def intersect(left: Collection, right: Collection) -> Collection:
    others = _values(right)
    return _distinct(i for i in left if _contains_item(others, value_of(i)))


def exclude(left: Collection, right: Collection) -> Collection:
    others = _values(right)
    return [i for i in left if not _contains_item(others, value_of(i))]


def subset_of(left: Collection, right: Collection) -> Collection:
    others = _values(right)
    return [all(_contains_item(others, value_of(i)) for i in left)]


def superset_of(left: Collection, right: Collection) -> Collection:
    return subset_of(right, left)


def exists(coll: Collection, criteria: Lambda | None = None) -> Collection:
    if criteria is not None:
        coll = where(coll, criteria)
    return [bool(coll)]


def _present(node: Any, name: str) -> bool | None:
    """Whether element *name* of a node has an item, read off the JSON object; ``None`` when
    only the general navigation can tell (arrays may hold nulls; the focus may not be an object).
    A ``_name`` twin that is not an object gives no item (as in :func:`indexed_pairs`)."""
    data = node.data if node.__class__ is Node else None
    if data.__class__ is not dict:
        return None
    value = data.get(name)
    ext = data.get("_" + name)
    if value.__class__ is list or ext.__class__ is list:
        return None
    return value is not None or ext.__class__ is dict


def _python_reach(data: dict[str, Any], names: tuple[str, ...]) -> int | None:
    """How many items the path of known, non-choice elements *names* gives from the JSON
    object *data*, when the JSON tells it directly: a single object at each step but the last,
    no ``_name`` twin on the way, no array at the end. ``None`` when only the general navigation
    can tell (arrays, twins, values of the wrong JSON kind, a contained resource's own type)."""
    last = len(names) - 1
    for position, name in enumerate(names):
        value = data.get(name)
        if data.get("_" + name) is not None:
            return None
        if value is None:
            return 0
        if position == last:
            return None if value.__class__ is list else 1
        if value.__class__ is not dict or "resourceType" in value:
            return None
        data = value
    return None  # pragma: no cover - names is never empty


def _compiled_reach() -> Any:
    from .accel import ACCEL

    if ACCEL is None:
        return _python_reach
    return functools.partial(ACCEL.reach, _python_reach)


#: :func:`_python_reach`, in C when the extension is built (invariants' JSON forms ask it of
#: every resource: ``contained`` of dom-2 ... dom-5).
reach: Callable[[dict[str, Any], tuple[str, ...]], int | None] = _compiled_reach()


def has(node: Any, name: str) -> bool:
    """``name.exists()`` as a Python boolean, for compiled presence logic (see ``present``)."""
    found = _present(node, name)
    if found is None:
        return bool(child([node], name))
    return found


def has_choice(node: Any, name: str) -> bool:
    """``name.exists()`` of a choice element (``value[x]``: any of its JSON names)."""
    return bool(child([node], name))


def present(node: Any, name: str) -> Collection:
    """``name.exists()`` for an element of *node* known not to be a choice (compiled form)."""
    found = _present(node, name)
    if found is None:
        return exists(child([node], name))
    return [found]


def absent(node: Any, name: str) -> Collection:
    """``name.empty()`` for an element of *node* known not to be a choice (compiled form)."""
    found = _present(node, name)
    if found is None:
        return empty(child([node], name))
    return [not found]


def empty(coll: Collection) -> Collection:
    return [not coll]


def count(coll: Collection) -> Collection:
    return [len(coll)]


def where(coll: Collection, criteria: Lambda) -> Collection:
    return [item for position, item in enumerate(coll) if truth(criteria(item, position)) is True]


def select(coll: Collection, projection: Lambda) -> Collection:
    out: Collection = []
    for position, item in enumerate(coll):
        out.extend(projection(item, position))
    return out


def repeat(coll: Collection, projection: Lambda) -> Collection:
    out: Collection = []
    seen: set[int] = set()
    pending = list(coll)
    while pending:
        found: Collection = []
        for position, item in enumerate(pending):
            for new in projection(item, position):
                key = id(new.data) if isinstance(new, Node) and isinstance(new.data, (dict, list)) \
                    else None
                if key is not None:
                    if key in seen:
                        continue
                    seen.add(key)
                elif _contains_item(out, value_of(new)):
                    continue
                out.append(new)
                found.append(new)
        pending = found
    return out


def all_(coll: Collection, criteria: Lambda) -> Collection:
    return [all(truth(criteria(item, position)) is True for position, item in enumerate(coll))]


def _booleans(coll: Collection, name: str) -> list[bool]:
    values = _values(coll)
    if not all(isinstance(v, bool) for v in values):
        raise FhirPathEvalError(f"{name}() needs booleans")
    return values


def all_true(coll: Collection) -> Collection:
    return [all(_booleans(coll, "allTrue"))]


def any_true(coll: Collection) -> Collection:
    return [any(_booleans(coll, "anyTrue"))]


def all_false(coll: Collection) -> Collection:
    return [not any(_booleans(coll, "allFalse"))]


def any_false(coll: Collection) -> Collection:
    return [not all(_booleans(coll, "anyFalse"))]


def aggregate(coll: Collection, aggregator: Callable[[Any, int, Collection], Collection],
              init: Collection | None = None) -> Collection:
    total = init or []
    for position, item in enumerate(coll):
        total = aggregator(item, position, total)
    return total


def iif(condition: Collection, when_true: Callable[[], Collection],
        otherwise: Callable[[], Collection] | None = None) -> Collection:
    if truth(condition) is True:
        return when_true()
    return otherwise() if otherwise is not None else []


def first(coll: Collection) -> Collection:
    return coll[:1]


def last(coll: Collection) -> Collection:
    return coll[-1:]


def tail(coll: Collection) -> Collection:
    return coll[1:]


def single(coll: Collection) -> Collection:
    if len(coll) > 1:
        raise FhirPathEvalError(f"single() on {len(coll)} items")
    return coll


def skip(coll: Collection, num: Collection) -> Collection:
    n = _single_int(num)
    return list(coll) if n is None or n <= 0 else coll[n:]


def take(coll: Collection, num: Collection) -> Collection:
    n = _single_int(num)
    return [] if n is None or n <= 0 else coll[:n]


def of_type(coll: Collection, type_name: str) -> Collection:
    return [item for item in coll if is_type(item, type_name)]


def is_(coll: Collection, type_name: str) -> Collection:
    if not coll:
        return []
    if len(coll) > 1:
        raise FhirPathEvalError("'is' needs a single item")
    return [is_type(coll[0], type_name)]


def as_(coll: Collection, type_name: str) -> Collection:
    if len(coll) > 1:
        raise FhirPathEvalError(f"'as' needs a single item, found {len(coll)}")
    return [item for item in coll if is_type(item, type_name)]


def trace(coll: Collection, *_args: Any) -> Collection:
    """``trace(name[, projection])``: the input unchanged (nothing is logged)."""
    return coll


def has_value(coll: Collection) -> Collection:
    if len(coll) != 1:
        return [False]
    item = coll[0]
    if isinstance(item, Node):
        if isinstance(item.data, dict):
            # a Quantity with a value has one, as the HL7 engine sees it (its hasValue() is "the
            # item converts to a non-empty string"): ratrng-2 compares RatioRange numerators so
            return [item.type in QUANTITY_TYPES and _quantity_of(item) is not None]
        return [item.data is not None]
    return [item is not None and not isinstance(item, Quantity)]


def get_value(coll: Collection) -> Collection:
    if len(coll) != 1 or not has_value(coll)[0]:
        return []
    return [value_of(coll[0])]


def extension(coll: Collection, url: Collection) -> Collection:
    wanted = _single_str(url, "extension url")
    if wanted is None:
        return []
    return [ext for ext in child(coll, "extension")
            if isinstance(ext.data, dict) and ext.data.get("url") == wanted]


# =========================================================================== strings


def _input_str(coll: Collection, name: str) -> str | None:
    value = _single(coll, f"the input of {name}()")
    if value is None:
        return None
    if isinstance(value, Temporal):
        return value.text
    if not isinstance(value, str):
        raise FhirPathEvalError(f"{name}() needs a string, found {value!r}")
    return value


def starts_with(coll: Collection, prefix: Collection) -> Collection:
    text, start = _input_str(coll, "startsWith"), _single_str(prefix)
    return [] if text is None or start is None else [text.startswith(start)]


def ends_with(coll: Collection, suffix: Collection) -> Collection:
    text, end = _input_str(coll, "endsWith"), _single_str(suffix)
    return [] if text is None or end is None else [text.endswith(end)]


def str_contains(coll: Collection, part: Collection) -> Collection:
    """The ``contains()`` function on strings. On more than one item it is false, not an error,
    as the HL7 reference engine has it (eld-11 applies it to every type code of an element)."""
    if len(coll) > 1:
        return [False]
    text, sub = _input_str(coll, "contains"), _single_str(part)
    return [] if text is None or sub is None else [sub in text]


def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return _compiled_regex(pattern)
    except re.error as exc:
        raise FhirPathEvalError(f"invalid regular expression {pattern!r}: {exc}") from exc


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def compiled_regex(pattern: str) -> re.Pattern[str]:
    """*pattern* compiled as ``matches()`` uses it (dot matches newlines), cached."""
    return _compiled_regex(pattern)


def _compiled_regex(pattern: str) -> re.Pattern[str]:
    found = _REGEX_CACHE.get(pattern)
    if found is None:
        found = re.compile(pattern, re.DOTALL)
        if len(_REGEX_CACHE) < 1024:
            _REGEX_CACHE[pattern] = found
    return found


def matches(coll: Collection, pattern: Collection) -> Collection:
    text, regex = _input_str(coll, "matches"), _single_str(pattern)
    if text is None or regex is None:
        return []
    return [_regex(regex).search(text) is not None]


def matches_full(coll: Collection, pattern: Collection) -> Collection:
    text, regex = _input_str(coll, "matchesFull"), _single_str(pattern)
    if text is None or regex is None:
        return []
    return [_regex(regex).fullmatch(text) is not None]


def replace_matches(coll: Collection, pattern: Collection, substitution: Collection) -> Collection:
    text, regex = _input_str(coll, "replaceMatches"), _single_str(pattern)
    sub = _single_str(substitution)
    if text is None or regex is None or sub is None:
        return []
    if regex == "":
        return [text]
    return [_regex(regex).sub(re.sub(r"\$(\d+)", r"\\\1", sub), text)]


def replace(coll: Collection, pattern: Collection, substitution: Collection) -> Collection:
    text, old, new = _input_str(coll, "replace"), _single_str(pattern), _single_str(substitution)
    if text is None or old is None or new is None:
        return []
    if old == "":
        return [new + new.join(text) + new]
    return [text.replace(old, new)]


def length(coll: Collection) -> Collection:
    text = _input_str(coll, "length")
    return [] if text is None else [len(text)]


def substring(coll: Collection, start: Collection, size: Collection | None = None) -> Collection:
    text, begin = _input_str(coll, "substring"), _single_int(start)
    if text is None or begin is None or begin < 0 or begin >= len(text):
        return []
    if size is None:
        return [text[begin:]]
    n = _single_int(size)
    if n is None:
        return [text[begin:]]
    return [text[begin : begin + max(n, 0)]]


def index_of(coll: Collection, part: Collection) -> Collection:
    text, sub = _input_str(coll, "indexOf"), _single_str(part)
    return [] if text is None or sub is None else [text.find(sub)]


def lower(coll: Collection) -> Collection:
    text = _input_str(coll, "lower")
    return [] if text is None else [text.lower()]


def upper(coll: Collection) -> Collection:
    text = _input_str(coll, "upper")
    return [] if text is None else [text.upper()]


def trim(coll: Collection) -> Collection:
    text = _input_str(coll, "trim")
    return [] if text is None else [text.strip()]


def split(coll: Collection, separator: Collection) -> Collection:
    text, sep = _input_str(coll, "split"), _single_str(separator)
    if text is None or sep is None:
        return []
    return list(text.split(sep)) if sep else list(text)


def join(coll: Collection, separator: Collection | None = None) -> Collection:
    sep = _single_str(separator) if separator is not None else ""
    parts = [to_string([item]) for item in coll]
    return [(sep or "").join(p[0] for p in parts if p)]


def to_chars(coll: Collection) -> Collection:
    text = _input_str(coll, "toChars")
    return [] if text is None else list(text)


def concat(left: Collection, right: Collection) -> Collection:
    """``&``: string concatenation, empty counting as ``''``."""
    a = to_string(left)
    b = to_string(right)
    return [(a[0] if a else "") + (b[0] if b else "")]


# ======================================================================= conversion


def _text_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        text = getattr(value, "text", None)
        return text if isinstance(text, str) else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Temporal):
        return value.text
    if isinstance(value, Quantity):
        if value.unit in _CALENDAR:
            return f"{value.value} {value.unit}"
        return f"{value.value} '{value.unit}'"
    return None


def to_string(coll: Collection) -> Collection:
    if not coll:
        return []
    item = coll[0] if len(coll) == 1 else None
    if item is None:
        raise FhirPathEvalError("toString() needs a single item")
    if isinstance(item, Node) and isinstance(item.data, str):
        return [item.data]
    text = _text_of(value_of(item))
    return [] if text is None else [text]


_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?\Z")
_QUANTITY = re.compile(r"([+-]?[0-9]+(?:\.[0-9]+)?)\s*(?:'([^']+)'|([a-z]+))?\Z")


def _to_integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.match(value):
        return int(value)
    return None


def _to_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return Decimal(1 if value else 0)
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, str) and _DECIMAL.match(value):
        return Decimal(value)
    return None


def _to_boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, Decimal)):
        return True if value == 1 else False if value == 0 else None
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in ("true", "t", "yes", "y", "1", "1.0"):
            return True
        if lowered in ("false", "f", "no", "n", "0", "0.0"):
            return False
    return None


def _to_quantity(value: Any) -> Quantity | None:
    if isinstance(value, Quantity):
        return value
    if isinstance(value, bool):
        return Quantity(1 if value else 0, "1")
    if isinstance(value, (int, Decimal)):
        return Quantity(value, "1")
    if isinstance(value, str):
        match = _QUANTITY.match(value.strip())
        if match:
            unit = match.group(2) or match.group(3) or "1"
            if match.group(3) and match.group(3) not in _CALENDAR:
                return None
            return Quantity(Decimal(match.group(1)), unit)
    if isinstance(value, Node):
        return _quantity_of(value)
    return None


def _to_temporal(value: Any, kind: str) -> Temporal | None:
    if isinstance(value, Temporal):
        if value.kind == kind:
            return value
        if kind == "datetime" and value.kind == "date":
            return Temporal("datetime", value.parts, None, value.text)
        if kind == "date" and value.kind == "datetime":
            return Temporal("date", value.parts[:3], None, value.text[:10])
        return None
    if isinstance(value, str):
        parsed = parse_temporal(value, kind if kind == "time" else None)
        return _to_temporal(parsed, kind) if parsed is not None else None
    return None


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "Integer": _to_integer,
    "Decimal": _to_decimal,
    "Boolean": _to_boolean,
    "String": _text_of,
    "Quantity": _to_quantity,
    "Date": lambda v: _to_temporal(v, "date"),
    "DateTime": lambda v: _to_temporal(v, "datetime"),
    "Time": lambda v: _to_temporal(v, "time"),
}


def convert(coll: Collection, target: str) -> Collection:
    """``toInteger()``, ``toDecimal()``, ... (*target* is the system type name)."""
    value = _single(coll)
    if value is None:
        return []
    converted = _CONVERTERS[target](value)
    return [] if converted is None else [converted]


def converts_to(coll: Collection, target: str) -> Collection:
    value = _single(coll)
    if value is None:
        return []
    return [_CONVERTERS[target](value) is not None]


def to_integer(coll: Collection) -> Collection:
    return convert(coll, "Integer")


# ======================================================================== arithmetic


def _numbers(left: Collection, right: Collection) -> tuple[Any, Any] | None:
    a, b = _single(left), _single(right)
    if a is None or b is None:
        return None
    return a, b


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def add(left: Collection, right: Collection) -> Collection:
    pair = _numbers(left, right)
    if pair is None:
        return []
    a, b = pair
    if _is_number(a) and _is_number(b):
        return [a + b]
    if isinstance(a, str) and isinstance(b, str):
        return [a + b]
    if isinstance(a, Temporal) and isinstance(b, Quantity):
        return [_shift(a, b, 1)]
    if isinstance(a, Quantity) and isinstance(b, Quantity) and _unit_key(a.unit) == _unit_key(b.unit):
        return [Quantity(a.value + b.value, a.unit)]
    raise FhirPathEvalError(f"cannot add {a!r} and {b!r}")


def sub(left: Collection, right: Collection) -> Collection:
    pair = _numbers(left, right)
    if pair is None:
        return []
    a, b = pair
    if _is_number(a) and _is_number(b):
        return [a - b]
    if isinstance(a, Temporal) and isinstance(b, Quantity):
        return [_shift(a, b, -1)]
    if isinstance(a, Quantity) and isinstance(b, Quantity) and _unit_key(a.unit) == _unit_key(b.unit):
        return [Quantity(a.value - b.value, a.unit)]
    raise FhirPathEvalError(f"cannot subtract {b!r} from {a!r}")


def _number_pair(left: Collection, right: Collection, what: str
                 ) -> tuple[int | Decimal, int | Decimal] | None:
    """The two operands of a number-only operator; ``None`` when either is empty (the result
    is empty); :class:`FhirPathEvalError` naming *what* when one is not a number."""
    pair = _numbers(left, right)
    if pair is None:
        return None
    a, b = pair
    if not (_is_number(a) and _is_number(b)):
        raise FhirPathEvalError(what.format(a=a, b=b))
    return a, b


def mul(left: Collection, right: Collection) -> Collection:
    pair = _number_pair(left, right, "cannot multiply {a!r} and {b!r}")
    return [] if pair is None else [pair[0] * pair[1]]


def div(left: Collection, right: Collection) -> Collection:
    """``/``: decimal division (empty when dividing by zero)."""
    pair = _number_pair(left, right, "cannot divide {a!r} by {b!r}")
    if pair is None or pair[1] == 0:
        return []
    return [Decimal(pair[0]) / Decimal(pair[1])]


def int_div(left: Collection, right: Collection) -> Collection:
    pair = _number_pair(left, right, "cannot divide {a!r} by {b!r}")
    if pair is None or pair[1] == 0:
        return []
    return [int(Decimal(pair[0]) / Decimal(pair[1]))]


def mod(left: Collection, right: Collection) -> Collection:
    pair = _number_pair(left, right, "cannot take {a!r} modulo {b!r}")
    if pair is None or pair[1] == 0:
        return []
    a, b = pair
    if isinstance(a, int) and isinstance(b, int):
        return [int(math.fmod(a, b))]
    return [Decimal(a) % Decimal(b)]


def negate(coll: Collection) -> Collection:
    value = _single(coll)
    if value is None:
        return []
    if _is_number(value):
        return [-value]
    if isinstance(value, Quantity):
        return [Quantity(-value.value, value.unit)]
    raise FhirPathEvalError(f"cannot negate {value!r}")


_UCUM_TIME = {"a": "year", "mo": "month", "wk": "week", "d": "day", "h": "hour", "min": "minute",
              "s": "second", "ms": "millisecond"}
_MILLISECONDS = {"week": 604_800_000, "day": 86_400_000, "hour": 3_600_000, "minute": 60_000,
                 "second": 1000, "millisecond": 1}


def _shift(value: Temporal, amount: Quantity, sign: int) -> Temporal:
    """A date, date-time or time plus (sign 1) or minus (-1) a time-valued quantity; calendar
    years and months move the month (the day kept within the month), the rest is exact."""
    unit = _CALENDAR.get(amount.unit) or _UCUM_TIME.get(amount.unit)
    if unit is None or (unit in ("year", "month") and amount.unit in ("a", "mo")):
        raise FhirPathEvalError(f"cannot add {amount!r} to a date or time")
    parts = list(value.parts)
    offset = 3 if value.kind == "time" else 0
    full = [2000, 1, 1, *parts] if value.kind == "time" else parts
    filled = full + [1, 1, 0, 0, Decimal(0)][len(full) - 1 :]
    year, month, day, hour, minute, second = filled[:6]
    second = Decimal(second)
    if unit in ("year", "month"):
        months = year * 12 + (month - 1) + int(amount.value) * sign * (12 if unit == "year" else 1)
        year, month = divmod(months, 12)
        month += 1
        day = min(day, 29 if month == 2 and _leap(year) else _DAYS[month - 1])
        moment = datetime(year, month, day, hour, minute)
    else:
        count = int(amount.value) if unit in ("week", "day") else amount.value
        moment = datetime(year, month, day, hour, minute) + timedelta(
            milliseconds=float(count * _MILLISECONDS[unit] * sign + second * 1000))
        second = Decimal(moment.second) + Decimal(moment.microsecond // 1000).scaleb(-3)
        moment = moment.replace(second=0, microsecond=0)
    places = _decimal_places(Decimal(filled[5]))
    second = second.quantize(Decimal(1).scaleb(-places)) if places else Decimal(int(second))
    new = [moment.year, moment.month, moment.day, moment.hour, moment.minute, second]
    kept = tuple(new[offset : offset + len(parts)])
    return _temporal_from_parts(value.kind, kept, value.tz)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _temporal_from_parts(kind: str, parts: tuple[Any, ...], tz: int | None) -> Temporal:
    if kind == "time":
        text = ":".join(f"{p:02d}" if not isinstance(p, Decimal) else _seconds_text(p)
                        for p in parts)
        return Temporal("time", parts, None, text)
    text = f"{parts[0]:04d}"
    if len(parts) > 1:
        text += f"-{parts[1]:02d}"
    if len(parts) > 2:
        text += f"-{parts[2]:02d}"
    if len(parts) > 3:
        text += f"T{parts[3]:02d}"
    if len(parts) > 4:
        text += f":{parts[4]:02d}"
    if len(parts) > 5:
        text += ":" + _seconds_text(parts[5])
    if tz is not None and len(parts) > 3:
        text += "Z" if tz == 0 else f"{'+' if tz > 0 else '-'}{abs(tz) // 60:02d}:{abs(tz) % 60:02d}"
    return Temporal(kind, parts, tz, text)


def _seconds_text(value: Decimal) -> str:
    whole = int(value)
    fraction = value - whole
    if fraction == 0 and value.as_tuple().exponent == 0:
        return f"{whole:02d}"
    return f"{whole:02d}" + str(fraction.quantize(Decimal("0.001")))[1:]


# ========================================================================== math


def _math(coll: Collection, name: str, op: Callable[[Any], Any]) -> Collection:
    value = _single(coll)
    if value is None:
        return []
    if isinstance(value, Quantity) and name in ("abs",):
        return [Quantity(abs(value.value), value.unit)]
    if not _is_number(value):
        raise FhirPathEvalError(f"{name}() needs a number, found {value!r}")
    try:
        out = op(value)
    except (ValueError, InvalidOperation, ArithmeticError):
        return []
    return [] if out is None else [out]


def abs_(coll: Collection) -> Collection:
    return _math(coll, "abs", abs)


def ceiling(coll: Collection) -> Collection:
    return _math(coll, "ceiling", math.ceil)


def floor(coll: Collection) -> Collection:
    return _math(coll, "floor", math.floor)


def truncate(coll: Collection) -> Collection:
    return _math(coll, "truncate", int)


def sqrt(coll: Collection) -> Collection:
    return _math(coll, "sqrt", lambda v: Decimal(v).sqrt() if v >= 0 else None)


def exp(coll: Collection) -> Collection:
    return _math(coll, "exp", lambda v: Decimal(v).exp())


def ln(coll: Collection) -> Collection:
    return _math(coll, "ln", lambda v: Decimal(v).ln() if v > 0 else None)


def log(coll: Collection, base: Collection) -> Collection:
    b = _single(base)
    if b is None:
        return []
    return _math(coll, "log", lambda v: Decimal(v).ln() / Decimal(b).ln())


def power(coll: Collection, exponent: Collection) -> Collection:
    e = _single(exponent)
    if e is None:
        return []

    def raise_(v: Any) -> Any:
        if isinstance(v, int) and isinstance(e, int) and e >= 0:
            return v**e
        if v < 0 and Decimal(e) != int(e):
            return None
        return Decimal(v) ** Decimal(e)

    return _math(coll, "power", raise_)


def round_(coll: Collection, digits: Collection | None = None) -> Collection:
    places = _single_int(digits) if digits is not None else 0
    return _math(coll, "round", lambda v: Decimal(v).quantize(Decimal(1).scaleb(-(places or 0)),
                                                                 rounding=ROUND_HALF_UP))


# ==================================================================== boundaries


def _boundary_decimal(value: Decimal | int, high: bool, digits: int | None) -> Decimal | None:
    """The least (greatest) value *value* may stand for, given its written precision, at
    *digits* decimal places (default 8): ``1.587`` -> ``1.58650000`` (``1.58750000``)."""
    target = 8 if digits is None else digits
    if target < 0 or target > 28:
        return None
    places = _decimal_places(value)
    half = Decimal(5).scaleb(-(places + 1))
    edge = Decimal(value) + half if high else Decimal(value) - half
    step = Decimal(1).scaleb(-target)
    try:
        if edge.quantize(step, rounding=ROUND_FLOOR) == edge:
            return edge.quantize(step)
        return edge.quantize(step, rounding=ROUND_CEILING if high else ROUND_FLOOR)
    except InvalidOperation:  # more digits than a decimal holds (1e300 at 8 places): none
        return None


_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
#: Precision (number of digits) -> number of parts, per kind.
_DATE_DIGITS = {4: 1, 6: 2, 8: 3}
_DATETIME_DIGITS = {4: 1, 6: 2, 8: 3, 10: 4, 12: 5, 14: 6, 17: 6}
_TIME_DIGITS = {2: 1, 4: 2, 6: 3, 9: 3}
#: The widest time zone offsets (minutes): a boundary of a date-time without one may be in any.
_EARLIEST_ZONE, _LATEST_ZONE = 14 * 60, -12 * 60


def _boundary_temporal(value: Temporal, high: bool, digits: int | None) -> Temporal | None:
    """lowBoundary/highBoundary of a date, date-time or time at *digits* precision (default:
    day for dates, milliseconds otherwise); a date-time without a zone gets the earliest (+14:00)
    or latest (-12:00) zone."""
    kind = value.kind
    table = {"date": _DATE_DIGITS, "datetime": _DATETIME_DIGITS, "time": _TIME_DIGITS}[kind]
    target = digits if digits is not None else {"date": 8, "datetime": 17, "time": 9}[kind]
    if target not in table:
        return None
    count = table[target]
    millis = target in (17, 9)
    parts = list(value.parts)
    if kind == "time":
        full = [0, 0, Decimal("0.000")] if not high else [23, 59, Decimal("59.999")]
        offset = 3
        parts = [2000, 1, 1, *parts]
    else:
        full = [parts[0], 1, 1, 0, 0, Decimal("0.000")]
        offset = 0
        if high:
            month = parts[1] if len(parts) > 1 else 12
            days = 29 if month == 2 and _leap(parts[0]) else _DAYS[month - 1]
            full = [parts[0], month, days, 23, 59, Decimal("59.999")]
    if len(parts) == 4:
        parts.append(0)  # an hour alone is not a FHIR time: it is read as hh:00
    if kind == "time":
        full = [2000, 1, 1, *full]
    filled = parts + full[len(parts):]
    if len(value.parts) + offset == 6 and high:
        filled[5] = _seconds_high(filled[5])
    second = filled[5]
    filled[5] = second.quantize(Decimal("0.001")) if millis else Decimal(int(second))
    kept = tuple(filled[offset : offset + count])
    if kind == "time":
        return _temporal_from_parts("time", kept, None)
    if kind == "date":
        return _temporal_from_parts("date", kept, None)
    tz = value.tz
    if tz is None and count > 3:
        tz = _LATEST_ZONE if high else _EARLIEST_ZONE
    return _temporal_from_parts("datetime", kept, tz)


def _seconds_high(value: Decimal) -> Decimal:
    places = _decimal_places(value)
    if places >= 3:
        return value
    return value + Decimal(1).scaleb(-places) - Decimal("0.001")


def _boundary(coll: Collection, digits: Collection | None, high: bool) -> Collection:
    value = _single(coll)
    if value is None:
        return []
    precision = _single_int(digits) if digits is not None else None
    if isinstance(value, str):
        value = parse_temporal(value) or value
    if isinstance(value, Temporal):
        found = _boundary_temporal(value, high, precision)
        return [] if found is None else [found]
    if isinstance(value, Quantity):
        edge = _boundary_decimal(value.value, high, precision)
        return [] if edge is None else [Quantity(edge, value.unit)]
    if _is_number(value):
        edge = _boundary_decimal(value, high, precision)
        return [] if edge is None else [edge]
    return []


def low_boundary(coll: Collection, digits: Collection | None = None) -> Collection:
    return _boundary(coll, digits, False)


def high_boundary(coll: Collection, digits: Collection | None = None) -> Collection:
    return _boundary(coll, digits, True)


def comparable(coll: Collection, other: Collection) -> Collection:
    a, b = _single(coll), _single(other)
    if a is None or b is None:
        return []
    a, b = _to_quantity(a), _to_quantity(b)
    if a is None or b is None:
        return [False]
    return [_unit_key(a.unit) == _unit_key(b.unit) or _ucum_factor(a.unit, b.unit) is not None]


def precision(coll: Collection) -> Collection:
    value = _single(coll)
    if value is None:
        return []
    if isinstance(value, Temporal):
        digits = {1: 4, 2: 6, 3: 8, 4: 10, 5: 12}
        if value.kind == "time":
            digits = {1: 2, 2: 4}
            if len(value.parts) == 3:
                return [4 + 2 + _decimal_places(value.parts[2])]
            return [digits[len(value.parts)]]
        if len(value.parts) == 6:
            return [14 + _decimal_places(value.parts[5])]
        return [digits[len(value.parts)]]
    if _is_number(value):
        return [_decimal_places(value)]
    return []


# ============================================================================ time


def today() -> Collection:
    now_ = datetime.now().astimezone()
    return [_temporal_from_parts("date", (now_.year, now_.month, now_.day), None)]


def now() -> Collection:
    moment = datetime.now().astimezone()
    offset = moment.utcoffset()
    tz = int(offset.total_seconds() // 60) if offset is not None else None
    second = Decimal(moment.second) + Decimal(moment.microsecond // 1000).scaleb(-3)
    parts = (moment.year, moment.month, moment.day, moment.hour, moment.minute,
             second.quantize(Decimal("0.001")))
    return [_temporal_from_parts("datetime", parts, tz)]


def time_of_day() -> Collection:
    moment = datetime.now()
    second = Decimal(moment.second) + Decimal(moment.microsecond // 1000).scaleb(-3)
    return [_temporal_from_parts("time", (moment.hour, moment.minute,
                                          second.quantize(Decimal("0.001"))), None)]


# ===================================================================== references


def _reference_text(item: Any) -> str | None:
    if isinstance(item, Node):
        if isinstance(item.data, dict):
            ref = item.data.get("reference")
            return ref if isinstance(ref, str) else None
        return item.data if isinstance(item.data, str) else None
    return item if isinstance(item, str) else None


def _bundle_of(node: Node | None) -> Node | None:
    while node is not None:
        if node.type == "Bundle" and isinstance(node.data, dict):
            return node
        node = node.parent
    return None


def _in_bundle(bundle: Node, ref: str) -> Node | None:
    entries = bundle.data.get("entry")
    if not isinstance(entries, list):
        return None
    relative = re.match(r"(?:.*/)?([A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/.*)?\Z", ref)
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        resource = entry["resource"]
        full_url = entry.get("fullUrl")
        found = full_url == ref
        if not found and relative and not ref.startswith(("urn:", "http:", "https:")):
            found = (resource.get("resourceType"), resource.get("id")) == relative.groups()
        if not found and relative and isinstance(full_url, str) and "://" in ref:
            found = full_url == ref.split("/_history/", 1)[0]
        if found:
            entry_node = Node(entry, None, "Bundle.entry", "Bundle.entry", bundle, bundle.table)
            return Node.resource(resource, bundle.table, entry_node)
    return None


def resolve(coll: Collection, resource: Node, root: Node) -> Collection:
    """``resolve()`` offline: ``#id`` among the root resource's contained resources (``#`` is the
    root itself), other references among the entries of an enclosing Bundle. Anything else
    (an external reference) resolves to nothing, and is recorded in :data:`UNRESOLVED`."""
    out: Collection = []
    for item in coll:
        ref = _reference_text(item)
        if not ref:
            continue
        if ref.startswith("#"):
            if ref == "#":
                out.append(root)
                continue
            contained = root.data.get("contained") if isinstance(root.data, dict) else None
            for value in contained if isinstance(contained, list) else ():
                if isinstance(value, dict) and value.get("id") == ref[1:]:
                    out.append(Node.resource(value, root.table, root))
                    break
            continue
        bundle = _bundle_of(resource)
        found = _in_bundle(bundle, ref) if bundle is not None else None
        if found is not None:
            out.append(found)
        else:
            UNRESOLVED.append(ref)
    return out


#: What ``resolve()`` and ``memberOf()`` met and could not decide offline (external references,
#: value sets without an expansion) since the list was last cleared: ``fhirgen.runtime.invariants``
#: clears it before an invariant that uses either, and reads it after (a verdict that depends on
#: them is undecidable offline).
UNRESOLVED: list[str] = []


# ====================================================================== value sets


def member_of(coll: Collection, value_sets: Mapping[str, Any], url: str) -> Collection:
    """``memberOf(url)`` against a value set shipped as data: *value_sets* maps URLs to objects
    with ``expanded``, ``codes`` and ``pairs`` ((system, code) pairs), as
    ``fhirgen.runtime.validate.ValueSet`` has them. Empty when the value set is unknown or not
    expanded (undecidable offline)."""
    item = coll[0] if len(coll) == 1 else None
    if item is None:
        return []
    vs = value_sets.get(url.split("|", 1)[0])
    if vs is None or not vs.expanded:
        UNRESOLVED.append(url)
        return []
    value = value_of(item)
    if isinstance(value, str):
        return [value in vs.codes]
    if isinstance(item, Node) and isinstance(item.data, dict):
        data = item.data
        codings = data.get("coding") if "coding" in data else [data]
        for coding in codings if isinstance(codings, list) else ():
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                system = coding.get("system")
                if system is None and coding["code"] in vs.codes:
                    return [True]
                if isinstance(system, str) and (system, coding["code"]) in vs.pairs:
                    return [True]
        return [False]
    return []


def coding_member(data: Any, value_sets: Mapping[str, Any], url: str) -> bool:
    """``memberOf(url)`` of a Coding or CodeableConcept given as its JSON object, as
    :func:`member_of` decides it, for the JSON forms of specialised invariants; raises
    :class:`NeedsNodes` when only :func:`member_of` can tell (a value set without expansion,
    which it records as unresolved; a value that is not an object)."""
    vs = value_sets.get(url)
    if vs is None or not vs.expanded or data.__class__ is not dict:
        raise NeedsNodes
    codings = data.get("coding") if "coding" in data else [data]
    for coding in codings if isinstance(codings, list) else ():
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            system = coding.get("system")
            if system is None and coding["code"] in vs.codes:
                return True
            if isinstance(system, str) and (system, coding["code"]) in vs.pairs:
                return True
    return False


# ====================================================================== narrative

#: Elements FHIR narrative may use (FHIR R5 "Narrative": the basic formatting elements of
#: HTML 4.0 chapters 7-11 and 15, ``a``, ``img``), as the HL7 reference validator lists them.
HTML_ELEMENTS = frozenset({
    "p", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "a", "span", "b", "em", "i", "strong",
    "small", "big", "tt", "dfn", "q", "var", "abbr", "acronym", "cite", "blockquote",
    "hr", "address", "bdo", "kbd", "samp", "sub", "sup", "ul", "ol", "li", "dl", "dt", "dd", "pre",
    "table", "caption", "colgroup", "col", "thead", "tr", "tfoot", "tbody", "th", "td", "code",
    "img",
})
#: Attributes allowed on any element, and per element.
HTML_ATTRIBUTES = frozenset({"title", "style", "class", "id", "lang", "dir", "accesskey",
                             "tabindex", "{http://www.w3.org/XML/1998/namespace}lang"})
HTML_ELEMENT_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "name", "rel", "rev", "hreflang", "type", "charset", "shape",
                    "coords"}),
    "img": frozenset({"src", "alt", "height", "width", "longdesc", "usemap", "ismap", "border",
                      "hspace", "vspace", "align"}),
    "table": frozenset({"summary", "width", "border", "frame", "rules", "cellspacing",
                        "cellpadding", "align", "bgcolor"}),
    "col": frozenset({"span", "width", "align", "valign", "char", "charoff"}),
    "colgroup": frozenset({"span", "width", "align", "valign", "char", "charoff"}),
    "td": frozenset({"abbr", "axis", "headers", "scope", "rowspan", "colspan", "align", "valign",
                     "char", "charoff", "nowrap", "bgcolor", "width", "height"}),
    "th": frozenset({"abbr", "axis", "headers", "scope", "rowspan", "colspan", "align", "valign",
                     "char", "charoff", "nowrap", "bgcolor", "width", "height"}),
    "tr": frozenset({"align", "valign", "char", "charoff", "bgcolor"}),
    "thead": frozenset({"align", "valign", "char", "charoff"}),
    "tbody": frozenset({"align", "valign", "char", "charoff"}),
    "tfoot": frozenset({"align", "valign", "char", "charoff"}),
    "ol": frozenset({"type", "start", "compact"}),
    "ul": frozenset({"type", "compact"}),
    "li": frozenset({"type", "value"}),
    "q": frozenset({"cite"}),
    "blockquote": frozenset({"cite"}),
    "pre": frozenset({"width"}),
    "bdo": frozenset({"dir"}),
    "br": frozenset({"clear"}),
    "hr": frozenset({"align", "noshade", "size", "width"}),
    "p": frozenset({"align"}),
    "div": frozenset({"align"}),
    "caption": frozenset({"align"}),
    "h1": frozenset({"align"}), "h2": frozenset({"align"}), "h3": frozenset({"align"}),
    "h4": frozenset({"align"}), "h5": frozenset({"align"}), "h6": frozenset({"align"}),
}
XHTML_NS = "http://www.w3.org/1999/xhtml"
_UNSAFE_URL = re.compile(r"\s*(javascript|vbscript|data:text/html)", re.IGNORECASE)
#: Characters a URL may not hold unescaped (RFC 3986 excludes them; the HL7 validator rejects
#: links that have them).
_URL_INVALID = frozenset('{}|\\^`"<> ')
#: Elements that cannot sit inside a paragraph (HTML: a ``p`` holds phrasing content only).
_BLOCK = frozenset({"address", "blockquote", "div", "dl", "fieldset", "form", "h1", "h2", "h3",
                   "h4", "h5", "h6", "hr", "ol", "p", "pre", "table", "ul"})


_HTML_PARSER: Any = None


def _html_parser() -> Any:
    """One hardened parser per process (building one costs more than parsing a narrative)."""
    global _HTML_PARSER
    if _HTML_PARSER is None:
        from lxml import etree  # type: ignore[import-untyped, unused-ignore]

        _HTML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                       dtd_validation=False, huge_tree=False,
                                       remove_comments=False)
    return _HTML_PARSER


def html_problems(text: str) -> list[str]:
    """What breaks FHIR's narrative rules in an XHTML ``div`` (see :func:`_html_problems`);
    the last answers are remembered (txt-1 and txt-2 both ask about the same narrative)."""
    return list(_html_problems(text))


def html_valid(text: str) -> bool:
    """Whether the XHTML ``div`` follows FHIR's narrative rules (``htmlChecks()`` of a string,
    for the specialised compilation: the general function names the problems)."""
    return not _html_problems(text)


@functools.lru_cache(maxsize=64)
def _html_problems(text: str) -> tuple[str, ...]:
    """What breaks FHIR's narrative rules in an XHTML ``div`` (txt-1, txt-2); empty if none.

    Parsed with a hardened lxml parser (no DTD, entities or network). The root must be a ``div``
    in the XHTML namespace; only the narrative subset of elements and attributes is allowed
    (no ``script``, ``form``, ``style`` elements, no ``on*`` event attributes, no
    ``javascript:`` links, no characters a URL cannot hold in links, no block element inside a
    ``p``); and there must be some non-whitespace text or an image.
    """
    from lxml import etree  # type: ignore[import-untyped, unused-ignore]

    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        return ("the narrative must not have a DOCTYPE or entity declarations",)
    try:
        root = etree.fromstring(text.encode("utf-8"), _html_parser())
    except etree.XMLSyntaxError as exc:
        return (f"the narrative is not well-formed XHTML: {exc}",)
    problems: list[str] = []
    if root.tag != f"{{{XHTML_NS}}}div":
        problems.append("the narrative root must be a div in the XHTML namespace")
    has_content = False
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions
        namespace, _, local = element.tag[1:].partition("}") if element.tag.startswith("{") \
            else ("", "", element.tag)
        if namespace != XHTML_NS:
            problems.append(f"element {local!r} is not in the XHTML namespace")
        elif local not in HTML_ELEMENTS:
            problems.append(f"element {local!r} is not allowed in narrative")
        allowed = HTML_ELEMENT_ATTRIBUTES.get(local, frozenset())
        for name, value in element.attrib.items():
            if name.lower().startswith("on"):
                problems.append(f"event attribute {name!r} is not allowed in narrative")
            elif name not in HTML_ATTRIBUTES and name not in allowed:
                problems.append(f"attribute {name!r} is not allowed on {local!r} in narrative")
            elif name in ("href", "src", "cite", "longdesc") and _UNSAFE_URL.match(value):
                problems.append(f"attribute {name!r} of {local!r} holds an unsafe link")
            elif name in ("href", "src", "cite", "longdesc"):
                bad = sorted({ch for ch in value.strip() if ch in _URL_INVALID})
                if bad:
                    problems.append(f"the URL {value!r} of {local!r} holds invalid characters "
                                    + ", ".join(repr(ch) for ch in bad))
        if local == "p":
            for inner in element.iterdescendants():
                if isinstance(inner.tag, str) and inner.tag.rpartition("}")[2] in _BLOCK:
                    problems.append(f"element {inner.tag.rpartition('}')[2]!r} is not allowed "
                                    "inside a paragraph")
                    break
        if local == "img" or (element.text and element.text.strip()) or (
            element is not root and element.tail and element.tail.strip()
        ):
            has_content = True
    if not has_content:
        problems.append("the narrative must have some non-whitespace content")
    return tuple(problems)


def html_checks(coll: Collection) -> Collection:
    """``htmlChecks()``: true when the XHTML of the (single) focus follows the narrative rules."""
    value = _single(coll, "the input of htmlChecks()")
    if value is None:
        return []
    if not isinstance(value, str):
        return [False]
    problems = html_problems(value)
    DETAILS.extend(problems)
    return [not problems]


#: Why the last failing check failed, when a function can tell (htmlChecks() names each problem):
#: ``fhirgen.runtime.invariants`` adds these to the invariant's message and clears the list.
DETAILS: list[str] = []


# ================================================================ literal helpers


def date_literal(text: str, kind: str) -> Temporal:
    """A date/time literal of compiled code (checked when compiled, so it parses)."""
    value = parse_temporal(text, kind)
    if value is None:  # pragma: no cover - the compiler checks literals
        raise FhirPathEvalError(f"invalid {kind} literal {text!r}")
    return value
