"""Many issues in one resource: what ``_with_positions`` reads off the tree is what the token
pass finds (today's answer, for any text) and what json-source-map finds (an independent parser),
however many issues there are, in whatever order, in every layout bulk and test data come in.

The fast way places a group of issues at properties of one name with one search of the text
for that name (``positions._names_in_text``), and checks the others off the tree. The cases
here are the ones that search must get right or give up on: many items of one array, nested
arrays, ``_name`` twins, several keys of one object, one issue per pointer or several, issues in
the validator's order or shuffled, pointers absent from the tree, one name through different
properties, and text where the name also appears as a value, spelt with an escape, after an
escaped quote or repeated.
"""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_source_map import calculate

from fhirgen.bench import corpus
from fhirgen.models.validators import RESOURCE_VALIDATORS
from fhirgen.runtime import positions
from fhirgen.runtime.issues import Issue
from fhirgen.runtime.positions import _with_positions, locate, locate_in_tree
from fhirgen.runtime.validate import run
from tests.test_positions import _layouts as _serialisations


def _layouts(tree: Any) -> dict[str, str]:
    """The serialisations tests/test_positions.py reads off the tree, and the indented and odd
    layouts the search by name must handle as well."""
    return {
        **_serialisations(tree),
        "orjson-lf": orjson.dumps(tree).decode() + "\n",
        "indent-2": json.dumps(tree, indent=2),
        "orjson-indent": orjson.dumps(tree, option=orjson.OPT_INDENT_2).decode(),
        "tabs-crlf": json.dumps(tree, indent="\t", ensure_ascii=False).replace("\n", "\r\n"),
        "odd-spacing-ascii": " " + json.dumps(tree, separators=(" ,  ", " : ")) + "\n",
    }


def _issue(expression: str, key: str | None = None) -> Issue:
    return Issue("information", "informational", "binding", "m", expression, key=key)


def _oracle(issues: list[Issue], text: str, line_offset: int) -> list[tuple[Any, Any]]:
    """Line and column of each issue by json-source-map: the first candidate it has (the
    name of a property an issue names, else the value); an issue with a line already, or no
    location, keeps what it has."""
    entries = calculate(text)
    places: list[tuple[Any, Any]] = []
    for issue in issues:
        place: tuple[Any, Any] = (issue.line, issue.col)
        if issue.line is not None or not issue.expression:
            places.append(place)
            continue
        for pointer, is_key in positions._candidates(issue.expression, issue.key):
            entry = entries.get(pointer)
            if entry is not None:
                at = entry.key_start if is_key and entry.key_start is not None else (
                    entry.value_start)
                place = (at.line + 1 + line_offset, at.column + 1)
                break
        places.append(place)
    return places


def _check(issues: list[Issue], text: str, *, oracle: bool = True) -> list[Issue]:
    """Positions read off the tree are the token pass's, and json-source-map's."""
    tree = orjson.loads(text)
    placed = _with_positions(issues, text, 2, tree)
    assert placed == _with_positions(issues, text, 2)
    if oracle:
        assert [(issue.line, issue.col) for issue in placed] == _oracle(issues, text, 2)
    return placed


def _resource(instances: int = 25) -> dict[str, Any]:
    """An ImagingSelection with many instances, each with a SOP class, a number (some only
    its ``_number`` twin), two regions with coordinates, some an unknown property, some a
    value that reads like a name; text past ASCII to escape."""
    items = []
    for k in range(instances):
        item: dict[str, Any] = {
            "uid": f"1.2.840.{k}",
            "sopClass": {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:1.2.{k}"},
            "number": k,
            "imageRegion2D": [{"regionType": "polyline", "coordinate": [0.25, 1.5, 2.0, k]},
                              {"regionType": "point", "coordinate": [1.0, 2.0]}]}
        if k % 5 == 3:
            del item["number"]
            item["_number"] = {"extension": [{"url": "http://x", "valueString": "ü"}]}
        if k % 4 == 1:
            item["bogus"] = {"note": "sopClass"}
        if k % 7 == 2:
            item["text"] = "sopClass"
        items.append(item)
    return {"resourceType": "ImagingSelection", "id": "many", "status": "available",
            "text": {"status": "generated", "div": '<div xmlns="x">é\u00a0"q": 😀</div>'},
            "code": {"text": "x", "coding": [{"code": "c", "display": "ß"}]},
            "instance": items}


N = 25
SOP = [_issue(f"ImagingSelection.instance[{k}].sopClass") for k in range(N)]


def _shuffled(issues: list[Issue], seed: int) -> list[Issue]:
    copy = list(issues)
    random.Random(seed).shuffle(copy)
    return copy


CASES: dict[str, list[Issue]] = {
    "one per instance, in order": SOP,
    "one per instance, shuffled": _shuffled(SOP, 1),
    "some instances only": SOP[::3],
    "twice at each": [issue for pair in zip(SOP, SOP, strict=True) for issue in pair],
    "twins: number or only _number": [_issue(f"ImagingSelection.instance[{k}].number")
                                      for k in range(N)],
    "keys: unknown properties and known ones": [
        _issue(f"ImagingSelection.instance[{k}]", key="bogus") for k in range(1, N, 4)] + [
        _issue(f"ImagingSelection.instance[{k}]", key="uid") for k in range(N)],
    "keys of one object": [_issue("ImagingSelection", key=key)
                           for key in ("resourceType", "id", "status", "text", "code",
                                       "instance")],
    "nested arrays: names": [_issue(f"ImagingSelection.instance[{k}].imageRegion2D[{j}]"
                                    ".regionType") for k in range(N) for j in range(2)],
    "nested arrays: items": [_issue(f"ImagingSelection.instance[{k}].imageRegion2D[{j}]"
                                    f".coordinate[{m}]") for k in range(0, N, 6)
                             for j in range(2) for m in range(2)],
    "one name through different properties": [
        _issue("ImagingSelection.code.coding[0].code")] + [
        _issue(f"ImagingSelection.instance[{k}].sopClass.code") for k in range(N)],
    "the root and its properties": [_issue("ImagingSelection"),
                                    _issue("ImagingSelection.status"), *SOP[:3]],
    "absent ones among them": [*SOP[:5], _issue("ImagingSelection.instance[99].sopClass"),
                               _issue("ImagingSelection.instance[0].nothere"),
                               _issue("ImagingSelection.instance[3].number.value")],
    "issues with a line already, and without a location": [
        *SOP[:4], Issue("error", "structure", "json-syntax", "m", "", 1, 1),
        _issue("ImagingSelection.instance[4].sopClass")._replace(line=7, col=3), _issue("")],
    "everything, shuffled": _shuffled(
        [*SOP, _issue("ImagingSelection"), _issue("ImagingSelection.instance[2].text"),
         _issue("ImagingSelection.instance[3].number"), _issue("ImagingSelection.code.text"),
         _issue("ImagingSelection.instance[1]", key="bogus"),
         _issue("ImagingSelection.instance[4].imageRegion2D[1].coordinate[1]")], 2),
}


@pytest.mark.parametrize("case", CASES)
def test_many_issues_in_one_resource(case: str) -> None:
    issues = CASES[case]
    for layout, text in _layouts(_resource()).items():
        try:
            placed = _check(issues, text)
        except AssertionError:
            pytest.fail(f"{case}, written as {layout}: positions differ")
        assert any(issue.line is not None for issue in placed), (case, layout)


def test_the_bench_corpus_through_run() -> None:
    """The bench's resources, validated: ``Result.issues`` places them from its tree as the
    token pass does, each issue of the SOP class value sets included."""
    checked = 0
    for resource in corpus():
        for layout, text in _layouts(orjson.loads(resource)).items():
            result = run(text, RESOURCE_VALIDATORS)
            expected = _with_positions(result._issues, text, 0)  # before .issues places them
            assert result.issues == expected, layout
            checked += len(expected)
    assert checked > 500


def test_more_issues_than_a_kept_plan_holds() -> None:
    """300 instances, an issue at each SOP class and one at each number: placed all the same
    (their plan is made for the call, not kept)."""
    count = 300
    issues = [_issue(f"ImagingSelection.instance[{k}].{name}") for k in range(count)
              for name in ("sopClass", "number")]
    assert len(issues) > positions._PLANNED_ISSUES
    for layout in ("json.dumps", "indent-2"):
        placed = _check(issues, _layouts(_resource(count))[layout])
        assert all(issue.line is not None for issue in placed)


def test_one_plan_per_shape_serves_different_texts() -> None:
    """The same issues (one shape, one plan) on texts where the name search can and cannot
    vouch for the answer: each gets its own positions."""
    issues = SOP[:3]
    resource = _resource(3)
    texts = [json.dumps(resource)]
    resource["instance"][0]["extra"] = {"sopClass": 1}  # a fourth property of that name
    texts.append(json.dumps(resource))
    resource["instance"].insert(0, {"uid": "0"})  # the first without one: shifted
    texts.append(json.dumps(resource, indent=1))
    for text in texts + texts[::-1]:
        _check(issues, text)


@pytest.mark.parametrize("text,issues", [
    # an escaped spelling of the wanted name: not found by the search
    ('{"instance":[{"sop\\u0043lass":1},{"sopClass":2}]}', SOP[:2]),
    # the same, the escaped one the only wanted: the literal one must not stand in for it
    ('{"instance":[{"sop\\u0043lass":1},{"sopClass":2}]}', SOP[:1]),
    # the name after an escaped quote: a name ending in it
    ('{"instance":[{"x\\"sopClass":1,"sopClass":2}]}', SOP[:1]),
    # the name as a value, before and after the property
    ('{"instance":[{"a":"sopClass","sopClass":1,"b":["sopClass"]}]}', SOP[:1]),
    # a repeated name: the text has one more than the tree
    ('{"instance":[{"sopClass":1,"sopClass":2}]}', SOP[:1]),
    # a repeated array, the dropped one with and without the name
    ('{"instance":[{"sopClass":1}],"instance":[{"sopClass":2},{"sopClass":3}]}', SOP[:2]),
    ('{"instance":[{"x":1}],"instance":[{"sopClass":2}]}', SOP[:1]),
    # spaces before the colon, line breaks inside
    ('{"instance" : [ {"sopClass"  :\n 1} ,\t{"sopClass"\r\n:2}]}', SOP[:2]),
    # a name of digits where the pointer reads an index
    ('{"instance":{"0":{"sopClass":1}}}', SOP[:1]),
    # an object where an array was expected, and the other way round
    ('{"instance":{"sopClass":1}}', SOP[:1]),
    ('{"instance":[[{"sopClass":1}]]}', SOP[:1]),
    # a string where an object was expected: no position
    ('{"instance":["sopClass"]}', SOP[:1]),
    # only the _name twin of a primitive
    ('{"instance":[{"_sopClass":{"id":"a"}},{"sopClass":"x","_sopClass":{"id":"b"}}]}',
     SOP[:2]),
])
def test_texts_the_name_search_must_get_right_or_leave(text: str, issues: list[Issue]) -> None:
    """Each against the token pass; json-source-map agrees where the text repeats no name and
    spells none with an escape (it keeps repeated names' first, and names as written)."""
    repeated = text.count('"instance"') > 1 or '"sopClass":1,"sopClass"' in text
    _check(issues, text, oracle=not repeated and "\\u" not in text)
    _check(issues, json.dumps(orjson.loads(text), indent=2), oracle=True)


@pytest.mark.parametrize("name", ["", ":{", ",", " a", "a/b", "a~b", 'a"b', "a\\b", "é", "0",
                                  "\u2028", "a\x7f", "_a"])
def test_names_the_search_leaves_to_the_tree(name: str) -> None:
    """Names that could be written otherwise or read off two strings go the other ways."""
    tree = {"x": [{name: 1, "y": name}, {"z": {name: [2]}}, {name: {name: 3}}], name: 4}
    key = name.replace("~", "~0").replace("/", "~1")
    wanted = {f"/x/0/{key}", f"/x/1/z/{key}", f"/x/2/{key}", f"/x/2/{key}/{key}", f"/{key}",
              f"/x/1/{key}"}
    for layout, text in _layouts(tree).items():
        found = locate_in_tree(text, orjson.loads(text), wanted)
        assert found in (None, locate(text, wanted)), layout


NAMES = st.sampled_from(["a", "b", "sopClass", "_a", ":{", ",", "a/b", "é", "0", "", 'x"a'])


@st.composite
def _trees(draw: st.DrawFn) -> Any:
    """Arrays of objects of a few names, nested, with values that read like the names."""
    leaf = st.one_of(NAMES, st.integers(-5, 5), st.just(None), st.just("\\u0061"))
    value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(NAMES, inner, max_size=4), max_leaves=30)
    return draw(st.dictionaries(NAMES, st.lists(st.dictionaries(NAMES, value, max_size=4),
                                                max_size=6), min_size=1, max_size=3))


def _all_pointers(value: Any, pointer: str = "") -> list[str]:
    found = [pointer]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _all_pointers(item, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _all_pointers(item, f"{pointer}/{index}")
    return found


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees(), st.randoms(use_true_random=False), st.sampled_from(list(_layouts({}))))
def test_generated_trees_and_subsets_of_their_pointers(tree: Any, rnd: random.Random,
                                                       layout: str) -> None:
    """Any subset of the pointers of a tree of repeated names, and some absent ones, in any
    layout: read off the tree or left, never different."""
    pointers = [pointer for pointer in _all_pointers(tree) if pointer]
    wanted = set(rnd.sample(pointers, rnd.randint(0, len(pointers))))
    wanted |= {pointer + "/absent" for pointer in rnd.sample(pointers, min(3, len(pointers)))}
    text = _layouts(tree)[layout]
    found = locate_in_tree(text, orjson.loads(text), wanted)
    assert found in (None, locate(text, wanted))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 30), st.randoms(use_true_random=False),
       st.sampled_from(list(_layouts({}))))
def test_issues_at_random_instances_in_random_order(count: int, rnd: random.Random,
                                                    layout: str) -> None:
    """Issues at random properties of random instances, repeated and shuffled."""
    resource = _resource(count)
    names = ["sopClass", "number", "uid", "imageRegion2D", "text"]
    issues = [_issue(f"ImagingSelection.instance[{rnd.randrange(count + 1)}]."
                     f"{rnd.choice(names)}") for _ in range(rnd.randint(1, 40))]
    issues += [_issue(f"ImagingSelection.instance[{rnd.randrange(count)}]", key=rnd.choice(names))
               for _ in range(rnd.randint(0, 5))]
    rnd.shuffle(issues)
    _check(issues, _layouts(resource)[layout])
