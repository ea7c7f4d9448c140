"""The compiled vouch (``fhirgen.runtime._accel.vouch``) against the Python one and the exact parse.

``validate.vouch`` asks the extension first and falls back on ``_python_vouch`` when it answers
None, so the compiled answer must be sound on its own:

* True only when the tree is exactly the exact parse's (``parse_json``: no repeated name, every
  decimal a float whose repr() is its written text, no integer ``-0``) and the text nests at
  most ``max_depth`` levels;
* False exactly when the Python vouch says False (JSON nested deeper than ``max_depth``);
* None is always allowed (the Python vouch then decides), but never on the benchmark corpus in
  the layouts bulk exports write: there the fast path must not fall back.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tracemalloc
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhirgen.bench import corpus
from fhirgen.runtime import validate
from fhirgen.runtime.accel import ACCEL
from fhirgen.runtime.limits import json_depth, too_deep
from fhirgen.runtime.validate import _python_vouch, parse_json
from tests.test_limits_depth import _depth

if ACCEL is None:
    pytest.skip("the extension fhirgen.runtime._accel is not built (or is switched off)",
                allow_module_level=True)

compiled = ACCEL.vouch


# ---------------------------------------------------------------------------------- helpers




def _same(fast: Any, exact: Any) -> bool:
    """Whether the fast tree is the exact parse's tree, numbers compared by text: a decimal
    must be a float whose repr() is its written text (stricter than the value the Python vouch
    promises), an integer an int (not a bool) of its value."""
    if isinstance(exact, Decimal):  # validate._Decimal: str() is its written text
        return fast.__class__ is float and repr(fast) == str(exact)
    if isinstance(exact, dict):
        return (fast.__class__ is dict and list(fast) == list(exact)
                and all(_same(fast[k], v) for k, v in exact.items()))
    if isinstance(exact, list):
        return (fast.__class__ is list and len(fast) == len(exact)
                and all(map(_same, fast, exact)))
    return fast.__class__ is exact.__class__ and fast == exact


def check(raw: bytes | bytearray, tree: Any, limit: int | None) -> bool | None:
    """The compiled verdict on *raw* and its tree, after checking it against the Python vouch
    and the exact parse."""
    verdict = compiled(tree, raw, limit)
    assert verdict in (True, False, None)
    reference = _python_vouch(tree, raw, limit)
    assert (verdict is False) == (reference is False), (raw, limit, verdict, reference)
    assert validate.vouch(tree, raw, limit) == (reference if verdict is None else verdict)
    if verdict is True:
        parsed = parse_json(raw)
        assert parsed.error is None and not parsed.duplicates, raw
        assert _same(tree, parsed.tree), raw
        assert limit is None or _depth(parsed.tree) <= limit, raw
    if verdict is False:
        assert limit is not None and json_depth(raw) > limit, raw
    return verdict


def _parse(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


# ------------------------------------------------------------------ the benchmark's resources


def _layouts(tree: dict[str, Any]) -> dict[str, bytes | bytearray]:
    dumped = json.dumps(tree)
    indented = json.dumps(tree, indent=2)
    return {
        "compact": orjson.dumps(tree),
        "orjson indented": orjson.dumps(tree, option=orjson.OPT_INDENT_2),
        "json.dumps": dumped.encode(),
        "json.dumps utf-8": json.dumps(tree, ensure_ascii=False).encode(),
        "json.dumps ascii escapes, indented": indented.encode(),
        "json.dumps compact, newline": (json.dumps(tree, separators=(",", ":")) + "\n").encode(),
        "crlf": indented.replace("\n", "\r\n").encode() + b"\r\n",
        "tabs": json.dumps(tree, indent="\t", ensure_ascii=False).encode(),
        "bytearray": bytearray(dumped.encode()),
    }


def test_the_benchmark_corpus_is_vouched_for_in_every_layout() -> None:
    resources = corpus()
    assert len(resources) > 10
    for resource in resources:
        tree = orjson.loads(resource)
        depth = _depth(tree)
        for name, raw in _layouts(tree).items():
            parsed = orjson.loads(raw)
            for limit in (None, 128, depth):
                assert check(raw, parsed, limit) is True, (name, limit)  # no fallback
            assert check(raw, parsed, depth - 1) is False, name


def test_the_fast_path_takes_the_benchmark_without_the_python_vouch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """run() on the bench corpus never needs ``_python_vouch`` (the compiled one is wired in)."""
    from fhirgen.models.validators import RESOURCE_VALIDATORS

    assert validate._COMPILED_VOUCH is compiled

    def refuse(*args: Any) -> None:
        raise AssertionError("the Python vouch was asked")

    monkeypatch.setattr(validate, "_python_vouch", refuse)
    for resource in corpus():
        validate.run(resource, RESOURCE_VALIDATORS)


# --------------------------------------------------------------------------------- numbers

#: Number spellings and the compiled verdict on ``{"a": <number>}``: True only for an integer
#: (not -0) orjson holds, or a number with a fraction written as repr() writes its float.
NUMBER_VERDICTS = {
    "0": True, "1": True, "-2": True, "100": True, "123456789012345678": True,
    "12345678901234567890": True, "18446744073709551615": True, "-9223372036854775808": True,
    "18446744073709551616": None, "-9223372036854775809": None,  # orjson: floats
    "123456789012345678901234567890": None,
    "-0": None,  # the exact parse keeps its text: not a FHIR integer
    "1.5": True, "-1.5": True, "0.1": True, "2.675": True, "100.0": True, "-0.0": True,
    "0.0": True, "0.0001": True, "0.00012": True, "0.000123456789012345": True,
    "1000000000000000.0": True, "1.0000000000000002": True, "0.30000000000000004": True,
    "3.141592653589793": True, "123.456": True,
    "1.50": None, "0.1000": None, "-0.00": None, "0.00": None, "0.010": None, "100.00": None,
    "1e2": None, "1E2": None, "1e+2": None, "1.5e0": None, "5e-324": None, "1e16": None,
    "1e-7": None, "0.00001": None, "10000000000000000.0": None,
    "1.00000000000000002": None, "9007199254740993.0": None, "1234567890123456.7": None,
    "99999999999999.99": None, "0.30000000000000005": None,
}


@pytest.mark.parametrize("token", sorted(NUMBER_VERDICTS))
def test_each_number_spelling(token: str) -> None:
    for text in (f'{{"a": {token}}}', f'{{"a":[1, {token}, {{"b": {token}}}]}}',
                 f'{{\n  "x": [\n    {token}\n  ]\n}}'):
        raw = text.encode()
        assert check(raw, orjson.loads(raw), None) is NUMBER_VERDICTS[token], text
        assert check(raw, orjson.loads(raw), 8) is NUMBER_VERDICTS[token], text


def _expected_number_verdict(token: str, value: Any) -> bool | None:
    """The compiled verdict by its definition, for a number token orjson read as *value*."""
    if any(c in token for c in ".eE"):
        plain = "e" not in token.lower()
        return True if plain and value.__class__ is float and repr(value) == token else None
    return True if token != "-0" and value.__class__ is int and value == int(token) else None


@st.composite
def _number_tokens(draw: st.DrawFn) -> str:
    """Number tokens near the edges of repr's plain form and of 15-17 significant digits."""
    kind = draw(st.sampled_from(["float", "digits", "integer"]))
    if kind == "float":
        x = draw(st.floats(allow_nan=False, allow_infinity=False))
        form = draw(st.sampled_from(["repr", ".15g", ".16g", ".17g", "f", "zero"]))
        if form == "repr":
            return repr(x)
        if form == "f":
            return f"{x:.{draw(st.integers(1, 20))}f}"
        if form == "zero":
            return repr(x) + "0" if "e" not in repr(x) else repr(x)
        token = format(x, form)
        return token if any(c in token for c in ".e") or "n" in token else token + ".0"
    if kind == "digits":
        sign = draw(st.sampled_from(["", "-"]))
        ints = draw(st.from_regex(r"0|[1-9][0-9]{0,17}", fullmatch=True))
        zeros = "0" * draw(st.integers(0, 5))
        fraction = draw(st.from_regex(r"[0-9]{0,18}[1-9]|0", fullmatch=True))
        return f"{sign}{ints}.{zeros if ints == '0' else ''}{fraction}"
    return str(draw(st.integers(-(2**70), 2**70)))


@settings(max_examples=3000, deadline=None)
@given(_number_tokens())
def test_numbers_are_vouched_for_by_definition(token: str) -> None:
    raw = f'{{"a":{token}}}'.encode()
    tree = _parse(raw)
    if tree is None:  # inf, or not JSON
        return
    assert check(raw, tree, None) is _expected_number_verdict(token, tree["a"]), token


# ------------------------------------------------------------------------- repeated names

DUPLICATES = [
    b'{"a":1,"a":2}',
    b'{"a":1,"a":1}',
    b'{"a":1,"b":2,"a":3}',
    b'{"\\u0061":1,"a":2}',
    b'{"\\u00e9":1,"\xc3\xa9":2}',
    b'{"a":{"b":{"c":1}},"a":1}',  # the dropped value held objects
    b'{"a":{"b":{"c":1}},"a":{"b":{"c":1}}}',
    b'{"a":[{"x":1},{"y":[{"z":2}]}],"b":0,"a":[]}',
    b'{"r":{"k":1,"k":{"m":[1,2,{"n":3}]}}}',
    b'{"r":[1,{"k":1,"j":2,"k":3}]}',
    b'{"r":[[[{"deep":{"d":1,"d":2}}]]]}',
    b'{"a":{"x":{"y":1},"x":{"y":1}},"b":{"x":2}}',
    b'{"a":{},"a":{}}',
    b'{"a":[],"a":[]}',
    b'{"a":{"b":1,"c":2},"d":{"e":3},"a":{"b":1,"c":2}}',
]


@pytest.mark.parametrize("raw", DUPLICATES)
def test_a_repeated_name_is_never_vouched_for(raw: bytes) -> None:
    assert parse_json(raw).duplicates
    tree = orjson.loads(raw)
    for layout in (raw, raw.replace(b",", b", ").replace(b":", b": ")):
        for limit in (None, 64):
            assert check(layout, tree, limit) is None, layout
        depth = _depth(json.loads(layout))
        if depth > 1:  # too deep counts whatever was repeated, as in Python
            assert check(layout, tree, depth - 1) is False, layout


# --------------------------------------------------------------------------------- depth


def _chains(depth: int) -> list[bytes]:
    """Objects nesting *depth* levels: a chain of arrays, and one of objects."""
    if depth == 1:
        return [b'{"a":1}']
    return [b'{"a":' + opener * (depth - 1) + b"1" + closer * (depth - 1) + b"}"
            for opener, closer in ((b"[", b"]"), (b'{"k":', b"}"))]


@pytest.mark.parametrize("depth", [1, 2, 3, 10, 63, 64, 65, 66, 129, 200])
def test_depth_is_counted_as_python_counts_it(depth: int) -> None:
    """Chains of each kind, past the 64 frames kept on the C stack too."""
    for raw in _chains(depth):
        tree = orjson.loads(raw)
        for limit in {None, 1, depth - 1, depth, depth + 1, 128} - {0}:
            verdict = check(raw, tree, limit)
            assert verdict is (limit is None or depth <= limit), (depth, limit)


@pytest.mark.parametrize("depth", [300, 1000, 1024])
def test_depth_past_what_the_python_vouch_takes(depth: int) -> None:
    """Trees orjson reads but cannot write back (past 255 levels: the Python vouch raises, the
    exact parse hits the recursion limit): the compiled vouch still counts their depth."""
    for raw in _chains(depth):
        tree = orjson.loads(raw)
        for limit in (128, depth - 1, depth, None):
            verdict = compiled(tree, raw, limit)
            deep = limit is not None and too_deep(raw, limit)
            assert verdict is (not deep), (depth, limit)
        assert compiled({"a": [[]]}, raw, 128) is False  # too deep, whatever the tree
        assert compiled({"a": [[]]}, raw, None) is None


def test_too_deep_past_a_difference_is_still_false() -> None:
    """A difference before the depth is passed does not hide it: False, as in Python."""
    raw = b'{"n":1.50,"a":[[[[1]]]],"a":2}'
    tree = orjson.loads(raw)
    assert check(raw, tree, 3) is False
    assert check(raw, tree, 5) is None
    assert check(raw, tree, None) is None


# ------------------------------------------------------------------------ written by hand

_NUMBERS = sorted(NUMBER_VERDICTS)
_STRINGS = ['"a"', '""', '" "', '"\\u00e9"', '"\\u00E9"', '"é"', '"€"', '"\U0001f600"',
            '"\\ud83d\\ude00"', '"\\uD83D\\uDE00"', '"\\/"', '"\\""', '"\\\\"', '"\\\\\\""',
            '"x\\n1"', '"\\u0022"', '"[{"', '"\\u0000"', '"\x7f"', '"\\b\\f\\r\\t"', '"\\u20ac"',
            '"a\\u0301"', '"\\ufeff"', '"1.50"', '"\\\\u0022"', '"' + "x" * 40 + '"',
            '"' + "ab\\\"" * 5 + '"', '"ü' + "y" * 20 + '"']
_NAMES = ['"a"', '"b"', '"c"', '"\\u0061"', '"é"', '"\\u00e9"', '""', '"resourceType"']
_SPACES = ["", " ", "\n", "\t", "\r\n  ", "  "]


@st.composite
def _written(draw: st.DrawFn) -> str:
    """An object written by hand, nesting up to 7 levels: names may repeat, numbers and strings
    are written in many ways, with any whitespace between tokens."""
    top = draw(st.integers(1, 7))
    space = st.sampled_from(_SPACES)

    def value(depth: int) -> str:
        kinds = ["number", "string", "literal", "array", "object"]
        kind = draw(st.sampled_from(kinds if depth < top else kinds[:3]))
        if kind == "number":
            return draw(st.sampled_from(_NUMBERS))
        if kind == "string":
            return draw(st.sampled_from(_STRINGS))
        if kind == "literal":
            return draw(st.sampled_from(["true", "false", "null"]))
        if kind == "array":
            items = [value(depth + 1) for _ in range(draw(st.integers(0, 3)))]
            return "[" + ",".join(draw(space) + item + draw(space) for item in items) + "]"
        return members(depth + 1)

    def members(depth: int) -> str:
        names = draw(st.lists(st.sampled_from(_NAMES), max_size=4))
        return "{" + ",".join(draw(space) + name + draw(space) + ":" + draw(space) + value(depth)
                              + draw(space) for name in names) + "}"

    return draw(space) + members(1) + draw(space)


@settings(max_examples=4000, deadline=None)
@given(_written(), st.integers(1, 8))
def test_text_written_by_hand(text: str, limit: int) -> None:
    raw = text.encode("utf-8")
    tree = _parse(raw)
    if tree is None:
        return
    check(raw, tree, None)
    check(raw, tree, limit)
    check(bytearray(raw), tree, limit)


def _json_values() -> st.SearchStrategy[Any]:
    from tests.strategies import json_values

    return json_values()


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(st.text(max_size=4), _json_values(), max_size=4),
       st.sampled_from(["compact", "json", "ascii-indent", "utf8", "orjson-indent"]))
def test_serialised_values(tree: dict[str, Any], layout: str) -> None:
    """Any JSON value serialised: vouched for unless a number is not repr's plain form or an
    integer orjson cannot hold; True or False exactly as the text's depth says."""
    if layout in ("compact", "orjson-indent"):
        try:
            raw = orjson.dumps(tree, option=orjson.OPT_INDENT_2 if layout != "compact" else None)
        except orjson.JSONEncodeError:  # integers past 64 bits
            return
    else:
        raw = json.dumps(tree, ensure_ascii=layout != "utf8",
                         indent=2 if layout == "ascii-indent" else None).encode("utf-8", "surrogatepass")
    parsed = _parse(raw)
    if parsed is None:  # lone surrogates, integers past what orjson reads
        return
    depth = _depth(tree)
    verdict = check(raw, parsed, None)
    if verdict is None:
        assert _odd_numbers(tree), raw
    if depth > 1:
        assert check(raw, parsed, depth - 1) is False
    assert check(raw, parsed, depth) is verdict


def _odd_numbers(value: Any) -> bool:
    """Whether a value holds a number the compiled vouch leaves to Python."""
    if isinstance(value, dict):
        return any(_odd_numbers(v) for v in value.values())
    if isinstance(value, list):
        return any(map(_odd_numbers, value))
    if isinstance(value, float):
        return "e" in repr(value) or "n" in repr(value)
    return value.__class__ is int and not -(2**63) <= value < 2**64


# ------------------------------------------------------ strings, of every kind, and the rest


@pytest.mark.parametrize("text", ["a", "é", "ÿ€", "€", "\U0001f600", "a\U0001f600b", "\x00",
                                  "\x7f", "\ud800", "\udc00\ud800", "x\ud83d", "x" * 100,
                                  "é" * 17, "€" + "x" * 30, "\U0001f600" + "y" * 30])
def test_strings_are_compared_with_the_tree(text: str) -> None:
    """Strings of each PyUnicode kind, raw UTF-8 and escaped: the same text is vouched for,
    a string differing anywhere is not (the tree is compared, not trusted)."""
    escaped = json.dumps({"k": text}).encode()  # \uXXXX escapes, lone surrogates too
    writings = [escaped]
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        writings.append(json.dumps({"k": text}, ensure_ascii=False).encode())
    for raw in writings:
        assert compiled({"k": text}, raw, None) is True, raw
        assert parse_json(raw).tree == {"k": text}
        for other in (text[:-1], text + "a", text[:-1] + "\U0001f601", text[:-1] + "b",
                      "b" + text[1:], text.encode("utf-8", "surrogatepass")):
            if other != text:
                assert compiled({"k": other}, raw, None) is None, (raw, other)
        assert compiled({"j": text}, raw, None) is None


@pytest.mark.parametrize("tree,raw", [
    ({"a": 1}, b'{"a":1.0}'), ({"a": 1.0}, b'{"a":1}'), ({"a": True}, b'{"a":1}'),
    ({"a": 1}, b'{"a":true}'), ({"a": None}, b'{"a":false}'), ({"a": False}, b'{"a":null}'),
    ({"a": [1]}, b'{"a":[1,2]}'), ({"a": [1, 2]}, b'{"a":[1]}'), ({"a": {}}, b'{"a":[]}'),
    ({"a": []}, b'{"a":{}}'), ({"a": 1, "b": 2}, b'{"b":2,"a":1}'), ({"a": 1}, b'{"a":1,"b":2}'),
    ({"a": 1, "b": 2}, b'{"a":1}'), ({"a": "1"}, b'{"a":1}'), ({"a": 1}, b'{"a":"1"}'),
    ({"a": 2**64}, b'{"a":18446744073709551616}'), ({"a": -1}, b'{"a":1}'),
    ({"a": 1.5}, b'{"a":-1.5}'), ({"a": 0.0}, b'{"a":-0.0}'), ({"a": -0.0}, b'{"a":0.0}'),
    ({"a": float("nan")}, b'{"a":0.0}'), ({"a": float("inf")}, b'{"a":1.5}'),
    ({"a": 0.30000000000000004}, b'{"a":0.30000000000000005}'),
])
def test_a_tree_that_differs_from_its_text_is_not_vouched_for(tree: Any, raw: bytes) -> None:
    for limit in (None, 5):
        assert compiled(tree, raw, limit) is None


@pytest.mark.parametrize("raw", [
    b"", b" ", b"{", b"}", b'{"a":1', b'{"a":1}x', b'{"a":1}}', b'{"a":1,}', b'{"a" 1}',
    b'{"a":01}', b'{"a":1.}', b'{"a":.5}', b'{"a":-}', b'{"a":1e}', b'{"a":+1}',
    b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}', b'{"a":tru}', b'{"a":nul}',
    b'\xef\xbb\xbf{"a":1}', b'{"a":"\x01"}', b'{"a":"\xff"}', b'{"a":"\xed\xa0\x80"}',
    b'{"a":"\xc0\x80"}', b'{"a":"\xf4\x90\x80\x80"}', b'{"a":"\\x"}', b'{"a":"\\u12"}',
    b'{"a":"\\u12g4"}', b'{"a":"\\ud800\\u12g4"}', b'{"a":"x}', b'\x0c{"a":1}', b'{"a":1}\x00',
    b'{"a":[1 2]}', b'{"a":1 "b":2}', b'{"a":[1,]}', b'{,}', b'{"a":1}\xa0',
])
def test_text_the_exact_parse_refuses_is_never_vouched_for(raw: bytes) -> None:
    for tree in ({"a": 1}, {}, {"a": "x"}, {"a": [1]}):
        for limit in (None, 1, 5):
            assert compiled(tree, raw, limit) is None, raw


@pytest.mark.parametrize("tree,raw", [
    # what a lenient reading would make of text the exact parse refuses
    ({"a": "\ud800"}, b'{"a":"\xed\xa0\x80"}'), ({"a": "\x00"}, b'{"a":"\xc0\x80"}'),
    ({"a": "\x01"}, b'{"a":"\x01"}'), ({"a": "\n"}, b'{"a":"\n"}'), ({"a": "\x1f"}, b'{"a":"\x1f"}'),
    ({"a": "\U0010ffff"}, b'{"a":"\xf4\x8f\xbf"}'), ({"a": "\u20ac"}, b'{"a":"\xe2\x82"}'),
    ({"a": "\u00ff"}, b'{"a":"\xff"}'), ({"a": "\u00e9"}, b'{"a":"\xe9"}'),
    ({"a": "\u00e9"}, b'{"a":"\xc3"}'), ({"a": "x"}, b'{"a":"\\x"}'), ({"a": "\x12"}, b'{"a":"\\u12"}'),
    ({"a": float("nan")}, b'{"a":NaN}'), ({"a": float("inf")}, b'{"a":Infinity}'),
    ({"a": 1}, b'{"a":01}'), ({"a": 1}, b'{"a":+1}'), ({"a": 1.0}, b'{"a":1.}'),
    ({"a": 0.5}, b'{"a":.5}'), ({"a": [1]}, b'{"a":[1,]}'),
    ({"a": 1}, b'{"a":1,}'), ({"a": 1}, b'{"a":1}x'), ({"a": True}, b'{"a":True}'),
    ({"a": 1}, b'{"a"=1}'), ({"a": 1}, b'{a:1}'), ({"a": 1}, b"{'a':1}"), ({"a": 1}, b'{"a":1]'),
    ({"a": [1]}, b'{"a":[1}}'), ({"a": 1}, b'{"a":\x0b1}'), ({"a": 1}, b'{"a":\xc2\xa01}'),
])
def test_what_a_lenient_reading_would_take_is_not_vouched_for(tree: Any, raw: bytes) -> None:
    with pytest.raises((ValueError, UnicodeError)):
        parsed = parse_json(raw)
        if parsed.error is not None:
            raise ValueError(parsed.error.message)
    for limit in (None, 1, 5):
        assert compiled(tree, raw, limit) is None, raw


def test_arguments_of_the_wrong_kind() -> None:
    raw = b'{"a":1}'
    assert compiled({"a": 1}, raw, None) is True
    assert compiled({"a": 1}, bytearray(raw), 3) is True
    for tree in ([1], "x", None, 1, type("D", (dict,), {})(a=1)):
        assert compiled(tree, raw, None) is None
    for other in ('{"a":1}', memoryview(raw), None, 1):
        assert compiled({"a": 1}, other, None) is None
    for limit in (0, -1, True, 1.0, "3", 2**70):
        assert compiled({"a": 1}, raw, limit) is None
    with pytest.raises(TypeError):
        compiled({"a": 1}, raw)
    with pytest.raises(TypeError):
        compiled({"a": 1}, raw, None, None)
    with pytest.raises(TypeError):
        compiled(tree={"a": 1}, raw=raw, max_depth=None)
    # a dict or str subclass inside the tree is not what any parse makes
    assert compiled({"a": type("D", (dict,), {})()}, b'{"a":{}}', None) is None
    assert compiled({"a": type("S", (str,), {})("x")}, b'{"a":"x"}', None) is None
    assert compiled({type("S", (str,), {})("a"): 1}, raw, None) is None
    assert compiled({"a": type("I", (int,), {})(1)}, raw, None) is None


# ------------------------------------------------------------------------------- memory


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_a_hundred_thousand_calls_keep_memory_flat() -> None:
    """100,000 calls on each path that allocates or sets an error keep RSS, the reference counts
    of what was passed and the memory Python traces where they were (the corpus resource
    10,000 times)."""
    resource = corpus()[-1]
    deep = b'{"a":' + b"[" * 300 + b"]" * 300 + b"}"  # frames on the heap
    cases = [
        (orjson.loads(resource), resource, 128, True, 10_000),
        (orjson.loads(deep), deep, 128, False, 100_000),  # after growing the frames
        (orjson.loads(deep), deep, None, True, 100_000),
        ({"a": 0.30000000000000004}, b'{"a":0.30000000000000004}', None, True, 100_000),  # repr
        ({"a": 2**64 - 1}, b'{"a":18446744073709551615}', None, True, 100_000),  # unsigned
        ({"a": 2**70}, b'{"a":18446744073709551615}', None, None, 100_000),  # overflow cleared
        ({"a": 1}, b'{"a":1,"a":1}', 5, None, 100_000),  # a difference, read on for depth
        ({"a": "\U0001f600\u20ac"}, '{"a":"\U0001f600\u20ac"}'.encode(), None, True, 100_000),
    ]
    for tree, raw, limit, verdict, _ in cases:  # warm up
        for _ in range(1000):
            assert compiled(tree, raw, limit) is verdict
    gc.collect()  # garbage of earlier tests holding these goes now, not during the count
    counts = [(sys.getrefcount(tree), sys.getrefcount(raw)) for tree, raw, *_ in cases]
    answers = [sys.getrefcount(answer) for answer in (True, False, None)]

    def loop(share: int) -> None:
        for tree, raw, limit, verdict, calls in cases:
            for _ in range(calls // share):
                compiled(tree, raw, limit)
            assert compiled(tree, raw, limit) is verdict

    before = _rss()
    loop(1)
    grown = _rss() - before
    assert grown < 1024 * 1024, f"RSS grew by {grown:,} bytes"
    assert counts == [(sys.getrefcount(tree), sys.getrefcount(raw)) for tree, raw, *_ in cases]
    for count, answer in zip(answers, (True, False, None)):  # the answers' references
        assert abs(sys.getrefcount(answer) - count) < 1000, answer
    # RSS hides a leak that fills memory freed before (by earlier tests): traced memory does not
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        loop(10)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, f"{grown:,} bytes more traced"
