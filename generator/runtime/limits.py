"""Limits that keep validation of hostile input bounded in time and memory.

Validation reads untrusted bytes. Everything it does is linear in the input except what nesting
and repetition make of it: a recursive walk needs stack in proportion to the nesting depth, and a
resource with a million bad values would make a million issues (and an OperationOutcome to match).
So three limits, each with a default generous for real FHIR (the official R5 examples nest at
most 24 levels, the largest is 42 MB) and each refused with one clear issue, never an
exception:

* ``max_depth``: JSON nesting levels (each ``{`` or ``[`` is one). Checked on the bytes before
  Python's parser or the validator walk sees them (:func:`too_deep`). orjson, which refuses
  nesting beyond 1024 levels itself, may parse first: text it accepts is valid JSON, whose depth
  is then read at C speed from what lies outside its strings (:func:`outside_strings`,
  :func:`structure_depth`).
* ``max_bytes``: size of one resource (a JSON or XML file, or one NDJSON line), checked before
  it is parsed; standard input and NDJSON lines are read with this bound, so a line without end
  never fills memory.
* ``max_issues``: issues kept per resource; past it one final issue says how many were cut.

:data:`DEFAULT_LIMITS` is used unless :func:`fhirgen.runtime.validate.run` (or ``fhirgen
validate --max-depth/--max-bytes/--max-issues``) is given others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .issues import Issue

__all__ = ["DEFAULT_LIMITS", "Limits", "json_depth", "outside_strings", "outside_too_deep",
           "size_refusal", "structure_depth", "too_deep"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one resource; see the module docstring for why each exists."""

    #: JSON nesting levels; the deepest official R5 example (a Questionnaire) nests 24.
    max_depth: int = 128
    #: Bytes of one resource (a file, or one NDJSON line): 64 MiB.
    max_bytes: int = 64 * 1024 * 1024
    #: Issues kept per resource; one more says how many were cut.
    max_issues: int = 1000

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_bytes", "max_issues"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


DEFAULT_LIMITS = Limits()

#: Every byte but quotes and the four brackets, dropped by ``bytes.translate``.
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'"[]{}')
#: A string once only quotes and brackets are left of the text.
_STRING = re.compile(rb'"[^"]*"')
_AS_BRACES = bytes.maketrans(b"[]", b"{}")


def json_depth(raw: bytes | bytearray, stop: int | None = None) -> int:
    """The nesting depth of JSON text (brackets inside strings do not count), or more than
    *stop* as soon as that is certain.

    C-speed passes only: escaped backslashes and escaped quotes are dropped (``bytes.replace``),
    then everything but quotes and brackets (``translate``), then adjacent quotes, then what is
    left of the strings that hold brackets (a regex over that short remainder), and the innermost ``{}`` pairs are peeled off with
    ``bytes.replace``, one level per pass: microseconds for a resource, linear for a deep chain.
    Unbalanced text (a syntax error the parser reports) counts its unclosed brackets, so it
    cannot hide depth either.
    """
    structure = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    # Adjacent quotes close one string and open the next (or are an empty string): dropping
    # them merges string regions without moving a bracket in or out of one. Most strings hold
    # no bracket, so little is left for the regex.
    structure = structure.replace(b'""', b"")
    if b'"' in structure:
        structure = _STRING.sub(b"", structure)
    return _peel(structure.translate(_AS_BRACES), stop)


def _peel(brackets: bytes | bytearray, stop: int | None) -> int:
    """The nesting depth of brackets written as braces (innermost pairs peeled, one level per
    pass); unclosed ones count."""
    level = 0
    while brackets:
        peeled = brackets.replace(b"{}", b"")
        if len(peeled) == len(brackets):
            break
        brackets = peeled
        level += 1
        if stop is not None and level > stop:
            return level
    return level + brackets.count(b"{")


#: Every byte but the four brackets, dropped by ``bytes.translate``.
_NOT_BRACKET = bytes(byte for byte in range(256) if byte not in b"[]{}")


def outside_strings(raw: bytes) -> bytes:
    """What lies outside the string literals of VALID JSON text (brackets, separators, numbers,
    literals, whitespace), at C speed: escaped backslashes and quotes dropped, then the text
    split at quotes; every other piece is outside a string. Text that is not valid JSON gives
    a meaningless answer: callers use it only after a parser accepted the text."""
    if b"\\\\" in raw:  # rare: a copy only when there is something to drop
        raw = raw.replace(b"\\\\", b"")
    if b'\\"' in raw:
        raw = raw.replace(b'\\"', b"")
    return b"".join(raw.split(b'"')[::2])


def structure_depth(outside: bytes, stop: int | None = None) -> int:
    """The nesting depth of valid JSON text from :func:`outside_strings` of it (stops once over
    *stop*, like :func:`json_depth`, which it agrees with on valid JSON)."""
    return _peel(outside.translate(_AS_BRACES, _NOT_BRACKET), stop)


def too_deep(raw: bytes | bytearray, max_depth: int) -> bool:
    """Whether JSON text nests deeper than *max_depth* (cheap when it has few brackets)."""
    if raw.count(b"{") + raw.count(b"[") <= max_depth:
        return False
    return json_depth(raw, max_depth) > max_depth


def size_refusal(size: int, limits: Limits) -> Issue | None:
    """The fatal issue refusing a resource of *size* bytes over ``limits.max_bytes`` (JSON or
    XML: checked before parsing), else None."""
    if size <= limits.max_bytes:
        return None
    return Issue("fatal", "too-costly", "limit-size",
                 f"The resource is {size:,} bytes or more, over the limit of "
                 f"{limits.max_bytes:,} (--max-bytes)", "")


def outside_too_deep(outside: bytes, max_depth: int) -> bool:
    """:func:`too_deep` of valid JSON text from :func:`outside_strings` of it (no more brackets
    than the limit: not deeper, without peeling)."""
    if outside.count(b"{") + outside.count(b"[") <= max_depth:
        return False
    return structure_depth(outside, max_depth) > max_depth
