"""The fast paths of validation never change a verdict, a message or a location.

* ``fast_tree`` (orjson + byte scans) refuses every input it cannot vouch for: repeated names,
  numbers a float does not hold as written, ``-0``, quotes written as ``\\u0022``;
* validating from the fast tree gives exactly the issues of the exact parse, on the official
  examples and on every generated mutation of them (written as JSON text);
* ``Primitive.fast`` accepts only values ``Primitive.check`` accepts;
* locations are built from tuples only when an issue is raised, with the same text as before.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhirgen.models import validators as generated
from fhirgen.models.validators import RESOURCE_VALIDATORS
from fhirgen.runtime import validate as runtime
from fhirgen.runtime.validate import fast_tree, location, run
from fhirgen.testing import find_parent, mutate

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "definitions/hl7.fhir.r5.examples").glob("ImagingSelection-*.json"))


def exact(data: Any) -> list[tuple[Any, ...]]:
    """Issues from the exact (json-module) parse only."""
    saved = runtime.fast_parse
    asked: list[Any] = []

    def refuse(data: Any) -> tuple[None, bytes]:  # as when orjson refuses the text
        asked.append(data)
        return None, b""

    runtime.fast_parse = refuse  # type: ignore[assignment]
    try:
        issues = [tuple(i) for i in run(data, RESOURCE_VALIDATORS).issues]
    finally:
        runtime.fast_parse = saved
    assert asked, "run() no longer asks fast_parse: this helper would compare fast with fast"
    return issues


def fast(data: Any) -> list[tuple[Any, ...]]:
    return [tuple(i) for i in run(data, RESOURCE_VALIDATORS).issues]


@pytest.mark.parametrize("text", [
    b'{"resourceType":"ImagingSelection","status":"available","status":"x"}',
    b'{"a":1,"b":{"c":1,"c":2}}',
    b'{"a":"\\u0022","a":1}',
    b'{"a":1.1234567890123456789}',
    b'{"a": [ 1, 21.123456789012345678]}',
    b'{"a":[1,-0]}',
    b'{"a": -0 }',
    b'{"a":1e12345678901}',
    b'{"a":123456789012345678901}',
    b'\xef\xbb\xbf{"a":1}',
    b'{"a":NaN}',
    b'{"a":"\\ud800"}',
    b'[1]',
])
def test_fast_parse_refuses_what_it_cannot_vouch_for(text: bytes) -> None:
    assert fast_tree(text) is None


def test_fast_parse_takes_ordinary_resources_and_long_digit_runs_in_strings() -> None:
    for path in EXAMPLES:
        assert fast_tree(path.read_bytes()) is not None, path.name
    assert fast_tree(b'{"uid":"2.25.123456789012345678901234567890","n":[1.5,-2,0]}') is not None
    assert fast_tree('{"text":"x\\":","n":1}') == {"text": 'x":', "n": 1}
    # orjson holds an integer of up to 64 bits exactly, as the exact parse does
    assert fast_tree(b'{"a":12345678901234567890}') == {"a": 12345678901234567890}


def _mutants() -> list[tuple[str, bytes]]:
    trees = [json.loads(p.read_text(encoding="utf-8"), parse_float=Decimal) for p in EXAMPLES]
    found: list[tuple[str, bytes]] = [(p.name, p.read_bytes()) for p in EXAMPLES]
    from tests.generated.test_rules import CASES

    for case in CASES:
        test_id, keys, action, _rule, _at, array, primitive, value, parent_arrays = case
        examples = copy.deepcopy(trees)
        hit = find_parent(examples, keys[:-1], keys[-1], action == "remove", parent_arrays)
        if hit is None:
            continue
        tree, parent, where = hit
        mutate(parent, where, keys[-1], action, array, primitive, value)
        found.append((test_id, json.dumps(tree, default=str, indent=1).encode()))
    odd = json.loads(EXAMPLES[0].read_text(encoding="utf-8"))
    odd["instance"] = [{"uid": "1.2", "number": 1.0, "sopClass": {"code": " x"},
                        "imageRegion2D": [{"regionType": "point", "coordinate": [0.05, 1e300]}]}]
    found.append(("numbers", json.dumps(odd).encode()))
    return found


@pytest.mark.parametrize("name,text", _mutants(), ids=lambda v: v if isinstance(v, str) else "")
def test_fast_path_gives_the_exact_issues(name: str, text: bytes) -> None:
    assert fast(text) == exact(text)
    assert fast(text.decode()) == exact(text.decode())


def test_a_number_quoted_in_a_message_is_shown_as_written() -> None:
    text = b'{"resourceType":"ImagingSelection","status":"available","seriesNumber":1e2,' \
           b'"code":{"text":"x"}}'
    assert fast_tree(text) is None  # an exponent: the exact parse from the start
    messages = [i.message for i in generated.validate(text).issues if i.rule == "primitive"]
    assert messages == ["The value '1e2' is not a valid integer (unsignedInt)"]


PRIMITIVE_VALUES: dict[str, list[Any]] = {
    "P_string": ["abc", " ", "", "a\x01", "a\ud800", "ok  spaced ", "é", "x" * 1_048_577],
    "P_id": ["abc-1.2", "a" * 64, "a" * 65, "a b", "", "a\ud800"],
    "P_code": ["ab cd", " ab", "ab  cd", "a\tb", "x", "a\ud800"],
    "P_uri": ["http://x", "a b", "", "urn:x", "a\ud800"],
    "P_oid": ["urn:oid:1.2.3", "1.2.3", "urn:oid:1.2.3 "],
    "P_uuid": ["urn:uuid:12345678-1234-1234-1234-123456789abc", "x"],
    "P_date": ["2024", "2024-02", "2024-02-29", "2023-02-29", "2024-04-31", "2024-01-31",
               "2024-13-01", "2024-04-30"],
    "P_dateTime": ["2024-01-01", "2024-01-01T10:00:00Z", "2024-01-01T10:00:00",
                   "2024-01-01T10:00:00+01:00", "2024-01-01T10:00:00-01:00",
                   "2024-04-31T10:00:00Z", "2024-01-01T10:00Z"],
    "P_instant": ["2024-01-01T10:00:00Z", "2024-01-01T10:00:00", "2024-04-31T10:00:00Z"],
    "P_decimal": [1, 1.5, 0.05, True, 10**19, 10**17, float("nan"), float("inf"), 0.0, -2.5,
                  1e300, "1", Decimal("1.50"), 0.00012345678901234568],
    "P_integer": [1, -1, 2**31, -(2**31), 1.0, True, 0],
    "P_unsignedInt": [0, -1, 2**31 - 1, 2**31],
    "P_positiveInt": [0, 1],
    "P_integer64": ["12", "-0", "0", "99999999999999999999", "-9223372036854775808", 12],
    "P_boolean": [True, False, 1, "true", None],
    "P_base64Binary": ["aGVsbG8=", "aGVs bG8=", ""],
    "P_time": ["10:00:00", "25:00:00"],
    "P_markdown": ["# x", "", "\n"],
    "P_xhtml": ['<div xmlns="http://www.w3.org/1999/xhtml">x</div>'],
}


@pytest.mark.parametrize("name", sorted(PRIMITIVE_VALUES))
def test_primitive_fast_check_accepts_only_good_values(name: str) -> None:
    prim = getattr(generated, name)
    for value in PRIMITIVE_VALUES[name]:
        try:
            accepted = bool(prim.fast(value))
        except TypeError:
            accepted = False
        if accepted:
            assert prim.check(value) is None, (name, value)


def test_locations_are_text_only_when_asked() -> None:
    loc = ((("ImagingSelection", "instance"), 3), "imageRegion2D")
    assert location(loc) == "ImagingSelection.instance[3].imageRegion2D"
    assert location(((loc, 0), "coordinate")) == (
        "ImagingSelection.instance[3].imageRegion2D[0].coordinate")
    assert location("Bundle.entry[1].resource") == "Bundle.entry[1].resource"


@pytest.mark.parametrize("name,text", _mutants()[::7], ids=lambda v: v if isinstance(v, str) else "")
def test_positions_agree_with_json_source_map(name: str, text: bytes) -> None:
    """fhirgen's one-pass locator finds what json-source-map (a full position parser) finds."""
    from json_source_map import calculate

    decoded = text.decode()
    entries = calculate(decoded)
    wanted = {pointer for pointer in entries if pointer}
    found = runtime.locate(decoded, wanted)
    for pointer in wanted:
        entry = entries[pointer]
        value, key = found[pointer]
        assert runtime._line_col(decoded, value) == (entry.value_start.line + 1,
                                                     entry.value_start.column + 1), pointer
        if entry.key_start is not None:
            assert key is not None
            assert runtime._line_col(decoded, key) == (entry.key_start.line + 1,
                                                       entry.key_start.column + 1), pointer


def test_fast_all_of_a_list_agrees_with_fast_of_each_item() -> None:
    """``Primitive.fast_all`` (one call per array, C-speed for lists of floats) accepts a list
    exactly when ``fast`` accepts every item, and never raises."""
    import itertools

    from fhirgen.models import validators as generated

    odd = [0.0, -0.0, 0.05, 0.1, 1.5, -2.0, 1e15, 1e16, 1e308, float("nan"), float("inf"), 3, 0,
           10**17, 10**18, 10**400, True, "1", "x", None, [], {}]
    for name in ("P_decimal", "P_integer", "P_code", "P_string", "P_boolean"):
        prim = getattr(generated, name)

        def each(values: list[object], prim: object = prim) -> bool:
            try:
                return all(map(prim.fast, values))  # type: ignore[attr-defined]
            except TypeError:
                return False

        assert prim.fast_all([]) is True
        for size in (1, 2, 3):
            for values in itertools.product(odd, repeat=size):
                assert prim.fast_all(list(values)) == each(list(values)), (name, values)


# ------------------------------------------------------------- the text written like the tree
# ``trusted`` first asks whether the text is orjson's serialisation of its tree but for
# whitespace and json.dumps' ASCII escapes. Texts written by hand below mix what that check must
# see through (spaces, indentation, \u00e9 escapes) with what it must not (numbers written
# otherwise, a repeated name, other escapes): a tree it vouches for is the exact parse's tree.

_NUMBER_TEXTS = ["0", "1", "-2", "1.5", "1.50", "1e2", "1E2", "-0", "-0.0", "0.1", "100.0",
                 "12345678901234567890", "1.0000000000000002", "1.00000000000000002",
                 "0.30000000000000004", "5e-324", "1e16", "123456789012345678"]
_STRING_TEXTS = ['"a"', '"a b"', '" "', '"\\u00e9"', '"\\u00E9"', '"é"', '"\\/"', '"\\""',
                 '"\\\\"', '"\\\\\\""', '"x\\n1"', '"\\u0022"', '"1.5"', '"[{"', '"\\ud83d\\ude00"',
                 '"\U0001f600"', '"\\u0031.50"']


def _exact_tree(text: str) -> tuple[Any, bool]:
    """The exact parse (decimals as written) and whether a name was repeated."""
    repeated = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        result = dict(items)
        repeated = repeated or len(result) != len(items)
        return result

    return json.loads(text, object_pairs_hook=pairs, parse_float=Decimal), repeated


def _same_values(fast_value: Any, exact_value: Any) -> bool:
    if isinstance(exact_value, Decimal):  # the float must give back the number as written
        return fast_value.__class__ is float and Decimal(repr(fast_value)) == exact_value
    if isinstance(exact_value, dict):
        return (isinstance(fast_value, dict) and list(fast_value) == list(exact_value)
                and all(_same_values(fast_value[k], v) for k, v in exact_value.items()))
    if isinstance(exact_value, list):
        return (isinstance(fast_value, list) and len(fast_value) == len(exact_value)
                and all(map(_same_values, fast_value, exact_value)))
    return fast_value.__class__ is exact_value.__class__ and fast_value == exact_value


@st.composite
def _written(draw: st.DrawFn) -> str:
    """An object written by hand: its names may repeat, its numbers and strings are written in
    any of several ways, with any whitespace between tokens."""
    space = st.sampled_from(["", " ", "\n", "\t", "\r\n  "])

    def value(depth: int) -> str:
        kind = draw(st.sampled_from(["number", "string", "literal", "array", "object"][
            : 5 if depth < 3 else 3]))
        if kind == "number":
            return draw(st.sampled_from(_NUMBER_TEXTS))
        if kind == "string":
            return draw(st.sampled_from(_STRING_TEXTS))
        if kind == "literal":
            return draw(st.sampled_from(["true", "false", "null"]))
        if kind == "array":
            items = [value(depth + 1) for _ in range(draw(st.integers(0, 3)))]
            return "[" + ",".join(draw(space) + item + draw(space) for item in items) + "]"
        return member_list(depth + 1)

    def member_list(depth: int) -> str:
        names = draw(st.lists(st.sampled_from(['"a"', '"b"', '"c"', '"\\u0061"']), max_size=4))
        members = [draw(space) + name + draw(space) + ":" + draw(space) + value(depth) + draw(space)
                   for name in names]
        return "{" + ",".join(members) + "}"

    return draw(space) + member_list(0) + draw(space)


@settings(max_examples=3000, deadline=None)
@given(_written())
def test_a_tree_vouched_for_is_the_exact_parse(text: str) -> None:
    tree = fast_tree(text.encode("utf-8"))
    if tree is None:
        return
    exact_value, repeated = _exact_tree(text)
    assert not repeated, text
    assert _same_values(tree, exact_value), text


@pytest.mark.parametrize("tree", [
    {"a": "x y", "n": [1.5, -2, 0, 0.25], "e": "é\u2028", "q": 'say "hi" \\ there'},
    {"resourceType": "ImagingSelection", "text": {"div": '<div xmlns="x">\u00a0</div>'}},
])
def test_json_dumps_layouts_take_the_fast_path(tree: dict[str, Any]) -> None:
    """The layouts bulk exports and scripts write: compact, json.dumps' default (spaced,
    ASCII escapes), indented, UTF-8."""
    for text in (json.dumps(tree), json.dumps(tree, indent=2), json.dumps(tree, ensure_ascii=False),
                 json.dumps(tree, separators=(",", ":")) + "\n"):
        raw = text.encode("utf-8")
        parsed, _ = runtime.fast_parse(raw)
        assert runtime._written_alike(raw, orjson.dumps(parsed)), text
        assert fast_tree(raw) == tree


def test_minus_zero_is_no_fhir_integer_but_is_a_decimal() -> None:
    """``-0`` matches no FHIR integer type's regex (the fast parse sends it to the exact one,
    which keeps its text); as a decimal it is good."""
    head = b'{"resourceType":"ImagingSelection","status":"available","code":{"text":"x"},'
    number = head + b'"instance":[{"uid":"1.2","number":-0}]}'
    errors = [i for i in fast(number) if i[0] == "error"]
    assert errors == [i for i in exact(number) if i[0] == "error"]
    assert [(i[4], i[3]) for i in errors] == [
        ("ImagingSelection.instance[0].number", "The value '-0' is not a valid integer (unsignedInt)")]
    region = head + (b'"instance":[{"uid":"1.2","imageRegion2D":[{"regionType":"point",'
                     b'"coordinate":[-0, 1.5]}]}]}')
    assert [i for i in fast(region) if i[0] == "error"] == []


def test_xhtml_fast_check_knows_only_narratives_found_good_lately() -> None:
    """xhtml's fast check is the exact check's memory of good narratives: a bad one never
    passes it, a good one only once checked, and the memory is bounded."""
    from fhirgen.runtime import primitives

    prim = generated.P_xhtml
    good = '<div xmlns="http://www.w3.org/1999/xhtml">fast check of a new narrative</div>'
    bad = '<div xmlns="http://www.w3.org/1999/xhtml">unclosed <p></div>'
    assert not prim.fast(good) and not prim.fast(bad)
    assert prim.check(good) is None and prim.fast(good)
    assert prim.check(bad) is not None and not prim.fast(bad)
    for n in range(primitives._GOOD_XHTML_COUNT + 5):
        assert prim.check(f'<div xmlns="http://www.w3.org/1999/xhtml">{n}</div>') is None
    assert len(primitives._GOOD_XHTML) == primitives._GOOD_XHTML_COUNT
    assert not prim.fast(good)  # the oldest went first
    assert not prim.fast(["a list"]) and not prim.fast(None)


@pytest.mark.parametrize("pure", [True, False], ids=["python-vouch", "compiled-vouch"])
def test_text_nested_past_what_orjson_writes_back_is_refused_not_a_crash(pure: bool,
                                                                         monkeypatch) -> None:
    """orjson reads 1024 levels but writes back 255: the Python vouch must not let its
    serialisation's TypeError out (a traceback on hostile input), and refuses by depth."""
    from fhirgen.runtime.limits import Limits

    if pure:
        monkeypatch.setattr(runtime, "_COMPILED_VOUCH", None)
    deep = ('{"resourceType":"ImagingSelection","extension":' + "[" * 300 + "]" * 300 + "}")
    refused = run(deep, RESOURCE_VALIDATORS).issues
    assert [(i.severity, i.rule) for i in refused] == [("fatal", "limit-depth")]
    allowed = run(deep, RESOURCE_VALIDATORS, limits=Limits(max_depth=2000)).issues
    assert allowed and all(i.rule != "limit-depth" for i in allowed)
    assert runtime._python_vouch(json.loads(deep), deep.encode(), 128) is False
    assert runtime._python_vouch(json.loads(deep), deep.encode(), None) is None


@pytest.mark.parametrize("number", ["2.22507385850696e-311", "1e-320", "4.9e-324", "1e5",
                                   "1.5E+3"])
def test_numbers_with_an_exponent_take_the_exact_parse(number: str) -> None:
    """A float may not hold a number written with an exponent as written (subnormals lose
    digits), so the byte scan never vouches for one; the compiled vouch does not either."""
    text = ('{"resourceType":"ImagingSelection","status":"available","code":{"text":"x"},'
            '"instance":[{"uid":"1.2","imageRegion2D":[{"regionType":"point","coordinate":'
            f'[{number}, 1]}}]}}]}}')
    tree = orjson.loads(text)
    assert runtime._numbers_exact(runtime.outside_strings(text.encode())) is False
    # vouched for only when orjson writes the float back as the text has it (1e-320)
    written_alike = orjson.dumps(tree).decode() == text.replace(", ", ",")
    assert runtime._python_vouch(tree, text.encode(), None) is (True if written_alike else None)
    assert runtime.vouch(tree, text.encode(), None) is (True if written_alike else None)
    assert fast(text) == exact(text)
