"""Checkers of FHIR primitive values: JSON kind, the regex of the primitive's StructureDefinition,
and the rules the regex alone does not state.

Generated validators build one :class:`Primitive` per primitive type at import, passing the regex
from the type's StructureDefinition (``ElementDefinition.type.extension[regex]`` of ``X.value``,
carried by the IR as ``PrimitiveInfo.regex``): no regex is typed by hand here. The regex must match
the whole value (FHIR regexes are implicitly anchored).

The one repair: the R5 (5.0.0) decimal regex ends ``[eE][+-]?[0-9]{1,9}})?`` - a stray ``}`` that
would demand a literal ``}`` after any exponent, so ``1e5`` could never be valid although FHIR
JSON allows exponents. :func:`repair_regex` removes that one typo (and only it); a test pins it.

Beyond the regex (FHIR R5 "Datatypes" and "JSON representation" pages):

* JSON kind: decimal, integer, unsignedInt, positiveInt are JSON numbers (``true`` is not a
  number), boolean is ``true``/``false``, every other primitive (integer64 too) a JSON string;
* integer -2147483648..2147483647, unsignedInt 0..2147483647, positiveInt 1..2147483647, integer64
  within 64 bits, and integers written without a fraction (``1.0`` is not an integer);
* date, dateTime, instant: real calendar dates (no month 13, no 31 April, 29 February only in leap
  years); a dateTime with a time needs a time zone, an instant always has one (its regex says so);
* id at most 64 characters; code without leading, trailing or double whitespace (its regex);
  uri/url/canonical without whitespace;
* string and markdown at most 1 MB (1,048,576 characters); control characters other than tab,
  carriage return and line feed, and all-whitespace strings, are warnings (as the HL7 reference
  validator reports them: its recorded outcomes treat control characters as a warning);
* base64Binary: its regex, whitespace reported with its own message (RFC 4648);
* xhtml: well-formed XML whose root is an XHTML ``div`` (the full narrative rules come with the
  invariants, txt-1/txt-2).

:meth:`Primitive.check` returns ``None`` for a good value, else ``(severity, message)``.
"""

from __future__ import annotations

import calendar
import functools
import math
import re
import threading
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .accel import ACCEL

__all__ = ["Primitive", "Tables", "fast_pattern", "json_kind_of", "repair_regex"]

#: The DFA tables of a fast check (the layout is fhirgen.regex_dfa's): what generated code passes
#: to :class:`Primitive` for the compiled matcher.
Tables = tuple[int, bytes, int, int, bytes, tuple[int, ...], bytes, bytes]

INT32_MIN = -2147483648
INT32_MAX = 2147483647
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_STRING = 1024 * 1024

NUMBER_TYPES = frozenset({"decimal", "integer", "unsignedInt", "positiveInt"})
INTEGER_RANGES = {
    "integer": (INT32_MIN, INT32_MAX),
    "unsignedInt": (0, INT32_MAX),
    "positiveInt": (1, INT32_MAX),
    "integer64": (INT64_MIN, INT64_MAX),
}
STRING_TYPES = frozenset({"string", "markdown"})
URI_TYPES = frozenset({"uri", "url", "canonical", "oid", "uuid"})
DATE_TYPES = frozenset({"date", "dateTime", "instant"})

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_WHITESPACE = re.compile(r"\s")
_SURROGATE = re.compile("[\ud800-\udfff]")
_DATE_PART = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_DECIMAL_TYPO = "[0-9]{1,9}})?"
XHTML_NS = "{http://www.w3.org/1999/xhtml}"

Message = tuple[str, str]  # (severity, text)


def repair_regex(type_name: str, regex: str) -> str:
    """The regex as published, with the one known typo of R5's decimal regex removed."""
    if type_name == "decimal" and regex.endswith(_DECIMAL_TYPO):
        return regex[: -len(_DECIMAL_TYPO)] + "[0-9]{1,9})?"
    return regex


def json_kind_of(value: Any) -> str:
    """``number``, ``boolean``, ``string``, ``null``, ``array``, ``object`` (JSON's own kinds)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "array"
    return "object"


class Primitive:
    """The checker of one primitive type: ``check(value)`` is None or ``(severity, message)``.

    *element* is the generated validator of the ``_name`` objects (``validate_Element``).
    *dfa* is the automaton of the fast check's pattern (``fast_pattern(name, kind, regex)``) as
    ``fhirgen.regex_dfa.compile_dfa`` gives it, or None: with the C extension at hand (and the
    tables made with this Python's Unicode database), ``fast`` is the extension's ``Matcher`` of
    it and ``fast_all`` its ``all`` (the same verdicts as the regex, without it).
    """

    __slots__ = ("_extra", "element", "fast", "fast_all", "kind", "name", "pattern", "regex")

    def __init__(
        self,
        name: str,
        kind: str,
        regex: str | None,
        element: Callable[..., None] | None = None,
        dfa: Tables | None = None,
    ) -> None:
        self.name = name
        self.kind = kind  # "number" | "boolean" | "string"
        self.regex = repair_regex(name, regex) if regex else None
        self.pattern = re.compile(self.regex, re.DOTALL) if self.regex else None
        self.element = element
        self._extra = _EXTRA.get(name)
        #: truthy only for a certainly good value (see "fast checks" below)
        self.fast: Callable[[Any], Any]
        #: ``fast`` of every item of a non-empty list, in one call (never raises)
        self.fast_all: Callable[[list[Any]], bool]
        matcher = _matcher(dfa)
        if matcher is not None:  # the same verdicts as the regex, by the C extension
            self.fast = matcher
            self.fast_all = matcher.all
        else:
            self.fast = _fast_check(name, kind, self.regex)
            self.fast_all = _fast_decimals if name == "decimal" else _all_of(self.fast)

    def __repr__(self) -> str:
        return f"Primitive({self.name!r})"

    def check(self, value: Any) -> Message | None:
        """None for a good value, else ``(severity, message)``: the exact (slow) judgement."""
        kind = json_kind_of(value)
        if kind != self.kind:
            article = "an" if self.kind[0] in "aeiou" else "a"
            return "error", (
                f"Error parsing JSON: the primitive value must be {article} {self.kind} "
                f"(FHIR {self.name}), not {kind_name(kind)}"
            )
        if kind == "boolean":
            return None
        if kind == "number":
            text = _number_text(value)
            if self.name != "decimal" and not isinstance(value, int):
                return "error", f"The value '{text}' is not a valid integer ({self.name})"
        else:
            text = value
            if text == "":
                return "error", "value cannot be empty"
            if not text.isascii() and _has_surrogate(text):
                return "error", "value contains an unpaired UTF-16 surrogate (not Unicode text)"
        if self._extra is not None:
            found = self._extra(self, text)
            if found is not None:
                return found
        if self.pattern is not None and not self.pattern.fullmatch(text):
            return "error", f"The value '{_short(text)}' is not a valid {self.name}"
        return None


# ------------------------------------------------------------------------------- fast checks
# ``Primitive.fast(value)`` is truthy only for values that are certainly good: the common case
# costs one C-level regex match or a type test. Anything it does not accept (including values
# that are good but unusual: 29 February, a decimal below 0.1, an integer sent as text) goes to
# ``Primitive.check``, which decides exactly and says why. ``fast`` may raise TypeError on a
# value of the wrong JSON kind (a regex's fullmatch on a number): callers treat that as "not
# accepted". So ``fast`` never changes a verdict, it only skips work.

_NOT_SURROGATE = r"(?=[^\ud800-\udfff]+\Z)"
#: Days a fast date check leaves to the exact one: 29-31 February, 31 of a 30-day month.
_ODD_DAY = r"(?!\d{4}-(?:02-(?:29|3)|(?:04|06|09|11)-31))"
_FAST_EXTRA = {
    "uri": r"(?=\S+\Z)",
    "url": r"(?=\S+\Z)",
    "canonical": r"(?=\S+\Z)",
    "oid": r"(?=urn:oid:\S+\Z)",
    "uuid": r"(?=urn:uuid:\S+\Z)",
    "base64Binary": r"(?=\S+\Z)",
    "date": _ODD_DAY,
    "instant": _ODD_DAY,
    # a time needs a time zone: no "T", or something after it that ends in Z or has + or -
    "dateTime": _ODD_DAY + r"(?=[^T]*\Z|[^T]*T.*(?:Z\Z|[+-]))",
}
#: string and markdown: not all whitespace, no control character, no lone surrogate, <= 1 MB.
_FAST_STRING_PATTERN = (
    r"(?!\s*\Z)[^\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]{1," + str(MAX_STRING) + "}"
)
_FAST_STRING = re.compile(_FAST_STRING_PATTERN, re.DOTALL).fullmatch
#: integer64 as text: up to 18 digits always fits in 64 bits.
_FAST_INTEGER64_PATTERN = r"0|-?[1-9][0-9]{0,17}"
_FAST_INTEGER64 = re.compile(_FAST_INTEGER64_PATTERN, re.DOTALL).fullmatch
_DECIMAL_LIMIT = 10**18


def _never(value: Any) -> bool:
    return False


def _fast_xhtml(value: Any) -> bool:
    """A narrative the exact check found good lately (see ``_GOOD_XHTML``)."""
    return value.__class__ is str and value in _GOOD_XHTML


def _fast_boolean(value: Any) -> bool:
    return value is True or value is False


def _fast_decimal(value: Any) -> bool:
    """An int, or a finite float whose shortest text is a valid FHIR decimal."""
    cls = value.__class__
    if cls is int:
        return bool(-_DECIMAL_LIMIT < value < _DECIMAL_LIMIT)
    return cls is float and (0.1 <= abs(value) < 1e16 or value == 0.0)


def _fast_decimals(values: list[Any]) -> bool:
    """``_fast_decimal`` of every item, at C speed for the usual list of floats: every item a
    float (or int), none NaN or infinite (their sum is finite), every magnitude zero or within
    [0.1, 1e16)."""
    if values and set(map(type, values)) <= _DECIMAL_KINDS:
        try:
            finite = math.isfinite(sum(values))  # no NaN, no infinity among them
        except OverflowError:  # an int too large for a float
            return False
        if finite:
            sizes = sorted(map(abs, values))
            zeros = sizes.count(0)  # 0 and 0.0 are good; others need a magnitude of 0.1 or more
            if sizes[-1] < 1e16 and (zeros == len(sizes) or sizes[zeros] >= 0.1):
                return True
    return all(map(_fast_decimal, values))


_DECIMAL_KINDS = frozenset({float, int})


def _all_of(fast: Callable[[Any], Any]) -> Callable[[list[Any]], bool]:
    def fast_all(values: list[Any]) -> bool:
        try:
            return all(map(fast, values))
        except TypeError:  # an item of another JSON kind: the exact check says why
            return False

    return fast_all


def _fast_integer(low: int, high: int) -> Callable[[Any], bool]:
    def fast(value: Any) -> bool:
        return value.__class__ is int and low <= value <= high

    return fast


def fast_pattern(name: str, kind: str, regex: str | None) -> str | None:
    """The pattern whose ``fullmatch`` (under ``re.DOTALL``) is the fast check of a primitive
    of JSON kind *kind* with the StructureDefinition's *regex*; None when the fast check is no
    regex (numbers, booleans: type and range tests; xhtml and types without a regex: none)."""
    if kind in ("boolean", "number"):
        return None
    if name in STRING_TYPES:
        return _FAST_STRING_PATTERN
    if name == "integer64":
        return _FAST_INTEGER64_PATTERN
    if name == "xhtml" or not regex:
        return None  # checked exactly every time
    return _NOT_SURROGATE + _FAST_EXTRA.get(name, "") + f"(?:{repair_regex(name, regex)})"


def _fast_check(name: str, kind: str, regex: str | None) -> Callable[[Any], Any]:
    if kind == "boolean":
        return _fast_boolean
    if kind == "number":
        if name == "decimal":
            return _fast_decimal
        low, high = INTEGER_RANGES.get(name, (INT32_MIN, INT32_MAX))
        return _fast_integer(low, high)
    if name == "xhtml":
        return _fast_xhtml
    pattern = fast_pattern(name, kind, regex)
    if pattern is None:
        return _never
    if pattern == _FAST_STRING_PATTERN:
        return _FAST_STRING
    if pattern == _FAST_INTEGER64_PATTERN:
        return _FAST_INTEGER64
    return re.compile(pattern, re.DOTALL).fullmatch


def _matcher(dfa: Tables | None) -> Any:
    """The C extension's matcher of the tables *dfa*, or None (no tables, no extension, or
    tables made with another Unicode database than this Python's)."""
    if dfa is None or ACCEL is None:
        return None
    version = dfa[1] if len(dfa) > 1 else None
    if version and version != unicodedata.unidata_version.encode("ascii"):
        return None
    return ACCEL.Matcher(dfa)


def _has_surrogate(text: str) -> bool:
    """A lone UTF-16 surrogate (JSON escapes allow them; Unicode text does not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return bool(_SURROGATE.search(text))
    return False


def kind_name(kind: str) -> str:
    return {"null": "null", "array": "an array", "object": "an object"}.get(kind, f"a {kind}")


def _number_text(value: float | Decimal) -> str:
    return str(value)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _integer(prim: Primitive, text: str) -> Message | None:
    low, high = INTEGER_RANGES[prim.name]
    if prim.pattern is not None and not prim.pattern.fullmatch(text):
        return "error", f"The value '{_short(text)}' is not a valid {prim.name}"
    number = int(text)
    if number < low:
        return "error", f"value is less than permitted minimum value of {low} ({prim.name})"
    if number > high:
        return "error", f"value is greater than permitted maximum value of {high} ({prim.name})"
    return None


def _string(prim: Primitive, text: str) -> Message | None:
    if len(text) > MAX_STRING:
        return "error", f"value is longer than permitted maximum length of {MAX_STRING} characters"
    control = _CONTROL.search(text)
    if control:  # the HL7 reference validator warns (illegal in FHIR XML) rather than errs
        return "warning", (
            f"This content includes the character [{ord(control.group()):x}] (hex value), "
            "which is illegal in the XML version of FHIR (only tab, CR and LF are allowed)"
        )
    if not text.strip():
        return "warning", "value should not be all whitespace"
    return None


def _uri(prim: Primitive, text: str) -> Message | None:
    if _WHITESPACE.search(text):
        return "error", f"URI values cannot have whitespace ('{_short(text)}')"
    if prim.name == "oid" and not text.startswith("urn:oid:"):
        return "error", "OIDs must start with urn:oid:"
    if prim.name == "uuid" and not text.startswith("urn:uuid:"):
        return "error", "UUIDs must start with urn:uuid:"
    return None


def _id(prim: Primitive, text: str) -> Message | None:
    if len(text) > 64:
        return "error", f"id value '{_short(text)}' is not valid (longer than 64 characters)"
    if prim.pattern is not None and not prim.pattern.fullmatch(text):
        return "error", f"id value '{_short(text)}' is not valid"
    return None


def _code(prim: Primitive, text: str) -> Message | None:
    if text != text.strip():
        return "error", f"The code '{_short(text)}' has leading or trailing whitespace"
    if "  " in text or _WHITESPACE.search(text.replace(" ", "")):
        return "error", f"The code '{_short(text)}' has whitespace other than single spaces"
    return None


def _date(prim: Primitive, text: str) -> Message | None:
    if prim.pattern is not None and not prim.pattern.fullmatch(text):
        return "error", f"The value '{_short(text)}' is not a valid {prim.name}"
    match = _DATE_PART.match(text)
    if match and match.group(3):
        year, month, day = (int(g) for g in match.groups())
        if day > calendar.monthrange(year, month)[1]:
            return "error", f"The value '{text}' is not a valid {prim.name}: no such date"
    if prim.name == "dateTime" and "T" in text:
        tail = text.split("T", 1)[1]
        if not (tail.endswith("Z") or "+" in tail or "-" in tail):
            return "error", (
                f"The value '{text}' is not a valid dateTime: "
                "if a time is given, a time zone must be given too"
            )
    return None


def _base64(prim: Primitive, text: str) -> Message | None:
    if _WHITESPACE.search(text):
        return "error", (
            "Base64 encoded values are not allowed to contain any whitespace (per RFC 4648)"
        )
    return None


def _decimal(prim: Primitive, text: str) -> Message | None:
    if prim.pattern is not None and not prim.pattern.fullmatch(text.replace("E+", "E")):
        return "error", f"The value '{_short(text)}' is not a valid decimal"
    return None


_LOCAL = threading.local()  # one hardened XHTML parser per thread (lxml parsers are not shared)


def _xhtml_parser() -> Any:
    parser = getattr(_LOCAL, "parser", None)
    if parser is None:
        from lxml import etree  # type: ignore[import-untyped, unused-ignore]

        parser = _LOCAL.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, dtd_validation=False, load_dtd=False,
            huge_tree=False,
        )
    return parser


#: Narratives up to this many characters have their verdict remembered (the last few hundred):
#: bulk data repeats narratives ("No narrative", generated summaries of like resources).
_REMEMBERED_XHTML = 64 * 1024


#: The good narratives among those remembered (the last :data:`_GOOD_XHTML_COUNT`): the fast
#: check of xhtml, so a repeated good narrative costs a set lookup, not the exact check's calls.
_GOOD_XHTML: dict[str, None] = {}
_GOOD_XHTML_COUNT = 256


def _xhtml(prim: Primitive, text: str) -> Message | None:
    if len(text) <= _REMEMBERED_XHTML:
        verdict = _remembered_xhtml(text)
        if verdict is None and text not in _GOOD_XHTML:
            if len(_GOOD_XHTML) >= _GOOD_XHTML_COUNT:
                _GOOD_XHTML.pop(next(iter(_GOOD_XHTML)), None)  # the oldest
            _GOOD_XHTML[text] = None
        return verdict
    return _xhtml_verdict(text)


def _xhtml_verdict(text: str) -> Message | None:
    from lxml import etree  # type: ignore[import-untyped, unused-ignore]

    parser = _xhtml_parser()
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        return "error", f"The XHTML is not well-formed XML: {exc}"
    if root.tag != XHTML_NS + "div":
        return "error", "The narrative must be an XHTML div (namespace http://www.w3.org/1999/xhtml)"
    return None


_remembered_xhtml = functools.lru_cache(maxsize=256)(_xhtml_verdict)


_EXTRA: dict[str, Callable[[Primitive, str], Message | None]] = {
    "integer": _integer,
    "unsignedInt": _integer,
    "positiveInt": _integer,
    "integer64": _integer,
    "string": _string,
    "markdown": _string,
    "uri": _uri,
    "url": _uri,
    "canonical": _uri,
    "oid": _uri,
    "uuid": _uri,
    "id": _id,
    "code": _code,
    "date": _date,
    "dateTime": _date,
    "instant": _date,
    "base64Binary": _base64,
    "decimal": _decimal,
    "xhtml": _xhtml,
}
