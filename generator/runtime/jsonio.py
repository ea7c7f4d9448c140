"""FHIR JSON text <-> trees (plain dicts/lists), keeping what FHIR needs that ``json`` loses.

* Decimals are read as :class:`FhirDecimal` (a :class:`decimal.Decimal` that keeps its written
  text), so ``1.50`` stays ``1.50`` and ``2e3`` stays ``2e3`` on the way out (FHIR decimals carry
  their precision).
* :func:`loads` refuses, as :class:`FhirJsonError`, what is not JSON or not safe to build:
  ``NaN``/``Infinity``, integers of more digits than Python converts, text that is not UTF-8
  (a UTF-16 byte order mark is named), and nesting deeper than
  :data:`fhirgen.runtime.limits.DEFAULT_LIMITS` (checked on the bytes, before any parse).
* :func:`dumps` writes ``Decimal`` as the JSON number it is, and everything else as ``json`` would,
  with ``ensure_ascii=False`` (FHIR JSON is UTF-8).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Self

from .limits import DEFAULT_LIMITS, too_deep

__all__ = ["FhirDecimal", "FhirJsonError", "dumps", "loads"]


class FhirDecimal(Decimal):
    """A :class:`Decimal` that remembers the text it was read from (``2e3`` is written back as
    ``2e3``, not ``2E+3``). Arithmetic gives plain ``Decimal`` values, written by ``str``."""

    text: str

    def __new__(cls, text: str) -> Self:
        value = super().__new__(cls, text)
        value.text = text
        return value

    def __reduce__(self) -> tuple[type[FhirDecimal], tuple[str]]:
        # keeps the written text through pickle (process pools, Dask)
        return (type(self), (self.text,))


class FhirJsonError(ValueError):
    """Text that is not JSON (or not UTF-8, or nested too deeply)."""


def loads(data: str | bytes | bytearray, *, max_depth: int = DEFAULT_LIMITS.max_depth) -> Any:
    """Parse JSON text or UTF-8 bytes; decimals become :class:`Decimal`."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if too_deep(raw, max_depth):
        raise FhirJsonError(f"JSON nested too deeply (more than {max_depth} levels)")
    try:
        if isinstance(data, (bytes, bytearray)):
            data = bytes(data).decode("utf-8-sig")
        return json.loads(data, parse_float=FhirDecimal, parse_constant=_not_json)
    except UnicodeDecodeError as exc:
        raise FhirJsonError(f"not UTF-8{_bom_note(bytes(raw[:4]))}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise FhirJsonError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise FhirJsonError("JSON nested too deeply") from exc
    except FhirJsonError:
        raise
    except ValueError as exc:  # an integer longer than sys.get_int_max_str_digits()
        raise FhirJsonError(f"not usable JSON: a number is too long ({exc})") from exc


def _bom_note(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return " (it starts with a UTF-16 or UTF-32 byte order mark: FHIR JSON is UTF-8)"
    return ""


def _not_json(name: str) -> Any:
    raise FhirJsonError(f"not valid JSON: {name} is not a JSON number")


_encode_string = json.JSONEncoder(ensure_ascii=False).encode


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} is not a FHIR decimal")
    text = getattr(value, "text", None)
    return text if isinstance(text, str) else str(value)


def _write(value: Any, out: list[str], indent: str | None, level: int) -> None:
    if isinstance(value, str):
        out.append(_encode_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, Decimal):
        out.append(_decimal_text(value))
    elif isinstance(value, (int, float)):
        out.append(json.dumps(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = "\n" + indent * (level + 1) if indent is not None else ""
        out.append("{")
        for position, (key, item) in enumerate(value.items()):
            if position:
                out.append(",")
            out.append(inner)
            out.append(_encode_string(key))
            out.append(": " if indent is not None else ":")
            _write(item, out, indent, level + 1)
        out.append("\n" + indent * level if indent is not None else "")
        out.append("}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = "\n" + indent * (level + 1) if indent is not None else ""
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            out.append(inner)
            _write(item, out, indent, level + 1)
        out.append("\n" + indent * level if indent is not None else "")
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as FHIR JSON")


def dumps(tree: Any, indent: int | None = None) -> str:
    """Write a tree as JSON text (compact, or indented by *indent* spaces)."""
    out: list[str] = []
    _write(tree, out, " " * indent if indent is not None else None, 0)
    return "".join(out)
