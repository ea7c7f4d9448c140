"""Positions read off the tree (``locate_in_tree``) are the token pass's (``locate``), or none.

The fast ways must give exactly the offsets of the token pass (itself checked against
json-source-map in tests/test_validate_fast.py) for every pointer, present or absent, on:
the official R5 examples in the serialisations bulk data comes in (orjson's compact text,
``json.dumps``' spaced and ASCII-escaped text, both with ensure_ascii off, odd spacing, a
trailing CR LF; by name also pretty-printed and tab-indented), mutated ImagingSelections, and
generated JSON full of escapes, non-ASCII text, empty containers and separators inside strings.
They must also give up (None) on what they cannot vouch for: array items of text that is not
the tree's serialisation (pretty-printed, tabs, other escapes, numbers spelt otherwise, repeated
names). tests/test_positions_many.py has many issues in one resource.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirgen.models.validators import RESOURCE_VALIDATORS
from fhirgen.packages import iter_package_files
from fhirgen.runtime import positions
from fhirgen.runtime.positions import _with_positions, locate, locate_in_tree
from fhirgen.runtime.validate import parse_json, run
from tests.conftest import EXAMPLES, need_package
from tests.strategies import json_values
from tests.test_validate_fast import _mutants

#: Largest example read whole in the differential (larger ones are sampled by name).
MAX_EXAMPLE = 8_000


def _pointers(value: Any, pointer: str = "") -> Iterator[str]:
    """Every JSON pointer of *value*, and a few absent ones near each container."""
    yield pointer
    if isinstance(value, dict):
        yield f"{pointer}/absent~1name"
        for key, item in value.items():
            yield from _pointers(item, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")
            yield f"{pointer}/_{key}"
    elif isinstance(value, list):
        yield f"{pointer}/{len(value)}"
        yield f"{pointer}/01"
        for index, item in enumerate(value):
            yield from _pointers(item, f"{pointer}/{index}")


def _layouts(tree: Any) -> dict[str, str]:
    """The tree written the ways bulk data and test data are written."""
    compact = orjson.dumps(tree).decode()
    return {
        "orjson": compact,
        "orjson-line": compact + "\r\n",
        "json.dumps": json.dumps(tree),
        "json.dumps-utf8": json.dumps(tree, ensure_ascii=False),
        "json.dumps-compact": json.dumps(tree, separators=(",", ":")),
        "odd-spacing": "  " + json.dumps(tree, separators=(" ,  ", " : "), ensure_ascii=False) + " ",
    }


def _agree(text: str, tree: Any, wanted: set[str], *, fast: bool) -> None:
    """The fast way finds what the token pass finds (and takes the text, when *fast*)."""
    found = locate_in_tree(text, tree, wanted)
    if fast:
        assert found is not None
    if found is not None:
        assert found == locate(text, wanted)


def _same_serialisers(tree: Any) -> bool:
    """Whether json.dumps writes the tree as orjson does but for escapes past ASCII (not so
    for 1e+16 against 1e16, or DEL escaped: the fast way then rightly gives up)."""
    compact = orjson.dumps(tree)
    return (json.dumps(tree, separators=(",", ":"), ensure_ascii=False).encode() == compact
            and b"\x7f" not in compact)


def _examples() -> Iterator[tuple[str, bytes]]:
    need_package(EXAMPLES)
    for number, file in enumerate(iter_package_files(EXAMPLES)):
        if len(file.data) <= MAX_EXAMPLE or number % 50 == 0:
            yield file.name, file.data


def test_official_examples_in_every_layout() -> None:
    """All official examples (the largest sampled): every pointer, every layout."""
    seen = fast = 0
    for name, data in _examples():
        try:
            tree = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        wanted = set(_pointers(tree))
        original = data.decode("utf-8-sig")
        assert locate_in_tree(original, tree, wanted) in (None, locate(original, wanted)), name
        same = _same_serialisers(tree)
        for layout, text in _layouts(tree).items():
            if layout in ("orjson-line", "json.dumps-compact"):
                continue  # the generated JSON below has these
            expected_fast = layout.startswith("orjson") or same
            try:
                _agree(text, tree, wanted, fast=expected_fast)
            except AssertionError:
                pytest.fail(f"{name} written as {layout}: the fast way disagrees")
            fast += expected_fast
        seen += 1
    assert seen > 1000 and fast > 4 * seen * 0.9


def _named(value: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """Every pointer of *value* that ends in a property name, with that name."""
    if isinstance(value, dict):
        for key, item in value.items():
            below = f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}"
            yield below, key
            yield from _named(item, below)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _named(item, f"{pointer}/{index}")


def test_official_examples_by_name_in_any_layout() -> None:
    """The names whose properties all lie on one way (``instance[k].sopClass``), each placed
    by one search of the text, pretty-printed, tab-indented or spaced: the token pass's
    offsets, and never left to it unless the text escapes an ASCII character."""
    seen = 0
    for number, (name, data) in enumerate(_examples()):
        if number % 2:
            continue
        try:
            tree = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        ways: dict[str, set[Any]] = {}
        by_name: dict[str, list[str]] = {}
        for pointer, key in _named(tree):
            plan = positions._name_plan(pointer)
            if plan is not None and positions._name_token(key) is not None:
                ways.setdefault(key, set()).add(plan[1])
                by_name.setdefault(key, []).append(pointer)
        wanted = {pointer for key, pointers in by_name.items() if len(ways[key]) == 1
                  for pointer in pointers}
        wanted |= {f"{pointer}/absent" for pointer in list(wanted)[:3]}
        for layout, text in {"indent-2": json.dumps(tree, indent=2),
                             "orjson-indent": orjson.dumps(tree, option=orjson.OPT_INDENT_2).decode(),
                             "tabs-crlf": json.dumps(tree, indent="\t").replace("\n", "\r\n"),
                             "json.dumps": json.dumps(tree)}.items():
            found = locate_in_tree(text, tree, wanted)
            assert found is not None or positions._escapes_ascii(text), (name, layout)
            assert found in (None, locate(text, wanted)), (name, layout)
        seen += 1
    assert seen > 500


@pytest.mark.parametrize("name,text", _mutants()[::3], ids=lambda v: v if isinstance(v, str) else "")
def test_mutated_resources_get_the_token_pass_positions(name: str, text: bytes) -> None:
    """Issues of mutated ImagingSelections: the same lines and columns either way."""
    tree = json.loads(text)  # floats: the tree as orjson reads it
    issues = run(text, RESOURCE_VALIDATORS)._issues
    assert issues
    for layout, written in _layouts(tree).items():
        try:
            fast_tree = orjson.loads(written)
        except orjson.JSONDecodeError:  # exact decimals json.dumps wrote orjson cannot read
            continue
        expected = _with_positions(issues, written, 3)
        assert _with_positions(issues, written, 3, fast_tree) == expected, layout


ODD_STRINGS = ["", " ", ", ", ": ", '", "', '":"', "\\", '\\"', "\\\\\"", "é", "😀", "\u2028",
               "\x00\x1f\x7f", "a/b~c", "ü, ö: ß", "\ud7ff\ue000", " , : "]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values(), st.recursive(
    st.sampled_from(ODD_STRINGS) | st.integers() | st.floats(allow_nan=False,
                                                              allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(ODD_STRINGS) | st.text(max_size=3), inner, max_size=4),
    max_leaves=25)))
def test_generated_json_in_every_layout(value: Any) -> None:
    """Escapes, non-ASCII, separators inside strings, empty containers, scalars at the root."""
    try:
        tree = orjson.loads(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):  # integers past 64 bits
        return
    wanted = set(_pointers(tree))
    same = _same_serialisers(tree)
    for layout, text in _layouts(tree).items():
        if isinstance(tree, (dict, list)):
            _agree(text, tree, wanted, fast=layout.startswith("orjson") or same)
        else:
            assert locate_in_tree(text, tree, wanted) is None


@pytest.mark.parametrize("text", [
    '{\n  "a": [1, 2],\n  "b": "x"\n}',  # pretty-printed
    '{"a":\t[1,2]}',  # a tab
    '{"a":[1,2],"b":"\\u0078"}',  # an escape orjson does not write
    '{"a":[1.50,2]}',  # a number spelt otherwise
    '{"a":[1,2],"b":"x","b":"x"}',  # a repeated name
    '{"a":[1,2],"b":"é","c":"\\u00e9"}',  # past ASCII escaped here and there
])
def test_gives_up_on_text_it_cannot_vouch_for(text: str) -> None:
    tree = parse_json(text).tree
    tree = json.loads(json.dumps(tree, default=float))  # a plain tree, as orjson would give
    assert locate_in_tree(text, tree, set(_pointers(tree))) is None


def test_positions_of_a_bulk_line_with_non_ascii_and_escapes() -> None:
    """Columns count characters: 'é' one, '\\u00e9' six; both layouts place the same issue."""
    resource = {"resourceType": "ImagingSelection", "id": "x", "text": {
        "status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">é, "q": 😀</div>'},
        "status": "available", "code": {"text": "ü"}, "unknown": 1}
    for text in (orjson.dumps(resource).decode(), json.dumps(resource)):
        tree = orjson.loads(text)
        issues = run(text, RESOURCE_VALIDATORS)._issues
        placed = _with_positions(issues, text, 0, tree)
        unknown = next(issue for issue in placed if issue.rule == "unknown-property")
        assert (unknown.line, unknown.col) == (1, text.index('"unknown"') + 1)
        assert placed == _with_positions(issues, text, 0)


def test_result_places_issues_from_its_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """run() hands its tree over, so a bulk line never needs the token pass."""
    text = json.dumps({"resourceType": "ImagingSelection", "status": "bogus",
                       "code": {"text": "x"}, "extra": True}) + "\n"
    expected = run(text, RESOURCE_VALIDATORS).issues

    def no_token_pass(*_args: Any) -> Any:
        raise AssertionError("the token pass ran")

    monkeypatch.setattr(positions, "locate", no_token_pass)
    placed = run(text, RESOURCE_VALIDATORS, line_offset=4).issues
    assert [(i.line, i.col) for i in placed] == [(i.line + 4, i.col) for i in expected]
    assert all(issue.line == 5 for issue in placed)


def test_token_pass_after_a_skipped_object_in_an_array() -> None:
    """An object of an array the token pass skips (no wanted pointer in it), then a string: an
    item of the array, not a name (it once took the string for the next property's name)."""
    text = '{"a":[{"k":1},"x",{},"y"]}'
    assert locate(text, {"/a/1", "/a/3"}) == {"/a/1": (14, None), "/a/3": (21, None)}


def test_helpers_stay_importable_from_validate() -> None:
    from fhirgen.runtime.validate import _lines_cols, _with_positions, json_pointer
    from fhirgen.runtime.validate import locate as old_locate

    assert old_locate is locate and callable(_with_positions) and callable(_lines_cols)
    assert json_pointer("ImagingSelection.instance[2].value.ofType(Quantity)") == (
        "/instance/2/valueQuantity")
