"""The generated walk of the imaging rules (``imaging_rules._walk``) gives exactly the issues of
the interpreted one (``ImagingRules.reference_checker``): same issues, same order, messages,
locations and severities, on the official ImagingSelection examples, the bench corpus and many
mutations of them (wrong JSON kinds, ``_name`` twins, nulls in arrays, missing values, bad UIDs
and codes, odd regions, several sites failing in several instances), at both severities and
inside a Bundle. And the pieces the generator builds it from."""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
import json
import random
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fhirgen.imaging import _form_parts, _pass_lines, _Searches, _WalkSite, without_captures
from fhirgen.models import imaging_rules
from fhirgen.models.validators import RESOURCE_VALIDATORS
from fhirgen.runtime.imaging import (
    ImagingRules,
    exact_groups,
    replay,
    with_imaging_rules,
    without_forms,
)
from fhirgen.runtime.issues import Issue, IssueList
from fhirgen.runtime.jsonio import loads
from fhirgen.runtime.validate import fast_parse, run
from tests.test_imaging_rules import BROKEN, VALID_REGIONS, _region, example

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "definitions" / "hl7.fhir.r5.examples").glob("ImagingSelection-*.json"))
RULES = imaging_rules.RULES
#: The same rules without the generated walk: their checker is the interpreted one.
INTERPRETED = ImagingRules(RULES.url, RULES.version, RULES.table, RULES.rules, RULES.sop_classes)
#: The elements the rules read, at the resource (mutations elsewhere cannot change their issues).
RULE_KEYS = ("studyUid", "seriesUid", "frameOfReferenceUid", "instance")

CHECKERS = {mode: (RULES.checker(mode), RULES.reference_checker(mode))
            for mode in ("warning", "error")}


def issues(check: Callable[[dict[str, Any], Any, IssueList], None], tree: Any) -> list[Issue]:
    out = IssueList()
    out.resources.append((tree, False))  # as the walk of a resource pushes it
    check(tree, "ImagingSelection", out)
    return list(out)


def same(tree: Any, mode: str = "warning") -> list[Issue]:
    """The walk's issues, asserted equal to the interpreted walk's."""
    walk, reference = CHECKERS[mode]
    expected = issues(reference, tree)
    assert issues(walk, tree) == expected, json.dumps(tree, default=str)[:2000]
    return expected


# ------------------------------------------------------------------------------- mutations

KINDS: list[Any] = [None, "x", "", 0, -1, 1.5, -0.25, True, [], {}, [None], ["x", None],
                    {"extension": [{"url": "http://example.org/x", "valueString": "y"}]},
                    Decimal("2.50"), float("inf"), 10**20]
STRINGS = ["1.2.840.0113747.1", "1..2", "1.2.", "1." + "2" * 63, "1.02", " 1.2", "1.2\n",
           "urn:oid:1.2.840.10008.5.1.4.1.1.2.3", "urn:oid:1.02", "urn:oid:1.2.840.10008.5.1.4.1.1.2",
           "urn:ietf:rfc:3986", "Point", " polyline ", "POLYGON", "point", "circle", "ellipse",
           "polyline", "interpolated", "multipoint", "polygon", "ellipsoid", "ELLIPSE"]
TWINS: list[Any] = [{"id": "a"}, [None, {"id": "a"}], None, "x", [{"id": "a"}, {"id": "b"}]]


def _paths(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place below *node* (keys and indexes), parents first."""
    children = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    for key, value in children:
        yield at + (key,)
        yield from _paths(value, at + (key,))


def _holder(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        tree = tree[key]
    return tree


def _changes(value: Any, key: Any) -> Iterator[tuple[str, Callable[[Any, Any], None]]]:
    """(name, change of the holder at key) for a value."""
    def put(new: Any) -> Callable[[Any, Any], None]:
        def change(holder: Any, k: Any) -> None:
            holder[k] = copy.deepcopy(new)
        return change

    def drop(holder: Any, k: Any) -> None:
        del holder[k]

    yield "drop", drop
    for new in KINDS:
        yield f"kind {new!r}", put(new)
    if isinstance(value, str) or isinstance(key, str) and key.endswith(("Uid", "uid", "code",
                                                                        "system", "regionType")):
        for new in STRINGS:
            yield f"string {new!r}", put(new)
            yield f"strings [{new!r}]", put([new])
    if isinstance(value, list) and value:
        yield "unwrapped", put(value[0])
        yield "null first", put([None, *value])
        yield "null last", put([*value, None])
        yield "doubled", put(value + value)
        yield "one fewer", put(value[:-1])
    elif value is not None:
        yield "wrapped", put([value])
        yield "wrapped twice", put([value, value])
    if isinstance(key, str):
        for twin in TWINS:
            def add_twin(holder: Any, k: Any, twin: Any = twin) -> None:
                holder["_" + k] = copy.deepcopy(twin)
            yield f"twin {twin!r}", add_twin


def mutations(tree: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each change of each place the rules read, one at a time."""
    for top in RULE_KEYS:
        if top not in tree:
            continue
        for path in [(top,), *_paths(tree[top], (top,))]:
            value = _holder(tree, path)[path[-1]]
            for name, change in _changes(value, path[-1]):
                mutated = copy.deepcopy(tree)
                change(_holder(mutated, path), path[-1])
                yield f"{path} {name}", mutated


def trees() -> list[dict[str, Any]]:
    return [loads(path.read_bytes()) for path in EXAMPLES]


# ------------------------------------------------------------------------------- the tests


def test_the_generated_module_uses_its_walk() -> None:
    assert RULES.walk is imaging_rules._walk
    assert INTERPRETED.walk is None
    with pytest.raises(ValueError, match="not those the generated walk was written for"):
        RULES.walk(RULES.sites("warning")[:-1])
    sites = INTERPRETED.sites("warning")
    swapped = (sites[1], sites[0], *sites[2:])
    with pytest.raises(ValueError, match="regenerate"):
        RULES.walk(swapped)


@pytest.mark.parametrize("mode", ["warning", "error"])
def test_official_examples_and_the_bench_corpus(mode: str) -> None:
    from fhirgen.bench import corpus

    texts = [path.read_bytes() for path in EXAMPLES] + corpus()
    # as the exact parse reads numbers (decimals) and as the fast one does (floats)
    for tree in [loads(text) for text in texts] + [fast_parse(text)[0] for text in texts]:
        assert same(tree, mode) == []


def test_valid_content_takes_no_exact_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of the walk: on valid content nothing goes to the groups. The one rule without
    JSON form (isr-22, on each 3D region) reads only ``%resource``: the walk asks it once of the
    resource (``resource_passes``) instead of handing each value to the group of such rules
    (``exact_groups(sites, (8,))``: site 8's rest), which it still does when the rule fails."""
    from fhirgen.bench import corpus

    late: list[int] = []

    def spy(found: list[Any], exact: Any, out: IssueList) -> None:
        late.extend(index for index, _, _ in found)
        replay(found, exact, out)

    monkeypatch.setattr(imaging_rules, "replay", spy)
    sites = RULES.sites("warning")
    walk = RULES.walk(sites)
    three_d = []
    for tree in trees() + [loads(text) for text in corpus()]:
        assert issues(walk, tree) == []
        if any("imageRegion3D" in i for i in tree.get("instance", ())):
            three_d.append(tree)
    partly = [i for i, (_, _, group) in enumerate(sites) if group.json_forms is None]
    assert partly == [8]
    assert late == []
    assert three_d
    for tree in three_d:
        without_frame = copy.deepcopy(tree)
        del without_frame["frameOfReferenceUid"]
        regions = sum(len(i.get("imageRegion3D", ())) for i in tree["instance"])
        instances = sum("imageRegion3D" in i for i in tree["instance"])
        found = same(without_frame)
        assert [i.rule for i in found] == ["isr-22"] * regions
        assert late == [len(sites)] * instances  # each instance's regions to isr-22's group
        late.clear()


def test_a_rule_reading_only_the_resource_is_asked_once_per_resource(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from fhirgen.runtime import imaging as runtime

    asked: list[Any] = []

    def spy(group: Any, out: IssueList) -> bool:
        asked.append(group)
        return runtime.resource_passes(group, out)

    monkeypatch.setattr(imaging_rules, "resource_passes", spy)
    data = example("ImagingSelection-example-3d-image-region-selection.json")
    first = data["instance"][0]
    data["instance"] = [copy.deepcopy(first) for _ in range(5)]
    assert same(data) == []
    assert [[i.key for i in group.checks] for group in asked] == [["isr-22"]]


def test_resource_passes_is_true_only_when_certain() -> None:
    from fhirgen.runtime import fhirpath as fp
    from fhirgen.runtime.imaging import resource_passes
    from fhirgen.runtime.invariants import Invariant, Invariants

    group = exact_groups(RULES.sites("warning"), (8,))[-1][2]
    data = example("ImagingSelection-example-3d-image-region-selection.json")
    out = IssueList()
    assert resource_passes(group, out) is False  # no resource on the stack
    out.resources.append((data, False))
    assert resource_passes(group, out) is True
    del data["frameOfReferenceUid"]
    out = IssueList()
    out.resources.append((data, False))
    assert resource_passes(group, out) is False

    def passing_with_details(node: Any, resource: Any, root: Any) -> bool:
        fp.DETAILS.append("left")
        return True

    def raising(node: Any, resource: Any, root: Any) -> bool:
        fp.DETAILS.append("left")
        raise TypeError("x")

    def undecided(node: Any, resource: Any, root: Any) -> None:
        return None

    fp.DETAILS[:] = ["before"]
    try:
        for function, expected in ((passing_with_details, True), (raising, False),
                                   (undecided, False)):
            made = Invariants(group.type, group.path, group.table,
                              (Invariant(function, "x-1", "warning", "x", tolerant=True),))
            assert resource_passes(made, out) is expected
            assert fp.DETAILS == ["before"]
        resolving = Invariants(group.type, group.path, group.table, (Invariant(
            passing_with_details, "x-1", "warning", "x", uses_resolve=True, tolerant=True),))
        assert resource_passes(resolving, out) is False
    finally:
        fp.DETAILS.clear()


def test_only_rules_that_never_name_their_focus_are_asked_of_the_resource() -> None:
    from fhirgen.imaging import _focus_free, compile_rules, find_rules
    from fhirgen.ir import build_model
    from fhirgen.loader import load_index

    rules = find_rules([ROOT / "definitions"])
    assert rules is not None
    model = build_model(load_index([ROOT / "definitions"]), ["ImagingSelection"])
    free = [rule.key for rule, compiled in zip(rules.rules, compile_rules(rules, model),
                                               strict=True) if _focus_free(rule, compiled)]
    assert free == ["isr-22"]


def test_the_rules_without_json_form_alone() -> None:
    group = RULES.sites("warning")[8][2]
    rest = without_forms(group)
    assert [i.key for i in rest.checks] == ["isr-22"]
    assert (rest.type, rest.path, rest.table) == (group.type, group.path, group.table)
    table = exact_groups(RULES.sites("error"), (8,))
    assert [(index, name) for index, name, _ in table][-2:] == [(8, "imageRegion3D"),
                                                                (8, "imageRegion3D")]
    assert [i.severity for i in table[-1][2].checks] == ["error"]


@functools.cache
def _single_mutations(path: Path) -> tuple[int, frozenset[str]]:
    """How many single mutations of the example at *path* there are, and the rules they break,
    each compared (once for the tests that read it)."""
    found: set[str] = set()
    count = 0
    for _name, tree in mutations(loads(path.read_bytes())):
        found.update(i.rule for i in same(tree))
        count += 1
    return count, frozenset(found)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name.removeprefix("ImagingSelection-"))
def test_every_single_mutation(path: Path) -> None:
    count, found = _single_mutations(path)
    assert count > 300
    assert found  # the mutations break rules: the walk's exact path is compared too


def test_mutations_break_every_rule_and_the_walk_agrees() -> None:
    """Across the mutations every rule fails somewhere (so each site's exact path is taken),
    and so do the cases of ``test_imaging_rules``, at both severities."""
    found: set[str] = set()
    for path in EXAMPLES:
        found |= _single_mutations(path)[1]
    for _key, name, mutate, _where in BROKEN:
        data = example(name)
        mutate(data)
        for mode in ("warning", "error"):
            found.update(i.rule for i in same(data, mode))
    assert {f"isr-{n}" for n in range(1, 23)} <= found


@pytest.mark.parametrize(("kind", "region_type", "values"), VALID_REGIONS)
def test_each_graphic_type_and_its_odd_forms(kind: str, region_type: str, values: list[Any]) -> None:
    data = example("ImagingSelection-example-2d-image-region-selection.json"
                   if kind == "imageRegion2D" else
                   "ImagingSelection-example-3d-image-region-selection.json")
    _region(kind, region_type, values)(data)
    assert same(data) == []
    for odd in (region_type.upper(), f" {region_type} ", region_type.title()):
        for coordinates in (values, values[:-1], values + values, [*values, None],
                            [-1, *values[1:]], ["1", *values[1:]], values[0]):
            broken = copy.deepcopy(data)
            _region(kind, odd, coordinates)(broken)
            same(broken)


def test_several_sites_failing_in_several_instances_keep_the_interpreted_order() -> None:
    data = example("ImagingSelection-example-2d-image-region-selection.json")
    first = data["instance"][0]
    data["instance"] = [copy.deepcopy(first) for _ in range(4)]
    data["instance"][0]["imageRegion2D"][0]["coordinate"][1] = -3  # isr-15 in instance 0
    data["instance"][1]["uid"] = "1.02"  # isr-7 in instance 1
    data["instance"][2]["imageRegion2D"][0]["regionType"] = "point"  # isr-11 in instance 2
    data["instance"][2]["sopClass"]["code"] = "urn:oid:1.2.840.10008.5.1.4.1.1.2.3"  # isr-9
    data["instance"][3]["imageRegion3D"] = [{"regionType": "point", "coordinate": [1, 2]}]
    data["instance"][3]["uid"] = "x"  # isr-7 in instance 3, after instance 1's
    data["studyUid"] = "1..2"  # isr-4 on the resource
    found = [(i.rule, i.expression) for i in same(data)]
    assert found == [
        ("isr-4", "ImagingSelection.studyUid"),
        ("isr-7", "ImagingSelection.instance[1].uid"),
        ("isr-7", "ImagingSelection.instance[3].uid"),
        ("isr-9", "ImagingSelection.instance[2].sopClass"),
        ("isr-11", "ImagingSelection.instance[2].imageRegion2D[0]"),
        ("isr-15", "ImagingSelection.instance[0].imageRegion2D[0].coordinate[1]"),
        ("isr-16", "ImagingSelection.instance[3].imageRegion3D[0]"),
        ("isr-17", "ImagingSelection.instance[3].imageRegion3D[0]"),
    ]


#: Values the walk remembers (the last UID, SOP Class code and SOP Class that passed) or
#: looks up (regionType literals), varied from instance to instance: equal, identical, equal
#: across JSON types (1, 1.0 and true), failing after passing and back.
SOP = "urn:oid:1.2.840.10008.5.1.4.1.1.2"
SOP_CLASSES: list[Any] = [
    {"system": "urn:ietf:rfc:3986", "code": SOP},
    {"system": "urn:ietf:rfc:3986", "code": SOP, "display": "CT Image Storage"},
    {"code": SOP, "system": "urn:ietf:rfc:3986"},
    {"system": "urn:ietf:rfc:3986", "code": SOP + ".3"},
    {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.4"},
    {"code": SOP}, {"system": None, "code": SOP}, {"system": "urn:ietf:rfc:3986"},
    {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.02"},
    {"system": "urn:ietf:rfc:3986", "code": SOP + "\n"},
    {"system": "urn:ietf:rfc:3986", "code": SOP[8:]},
    {"system": "urn:ietf:rfc:3986", "code": 1}, {"system": "urn:ietf:rfc:3986", "code": True},
    {"system": "http://example.org", "code": SOP},
    {"system": "urn:ietf:rfc:3986", "code": SOP, "coding": [{"system": "urn:ietf:rfc:3986",
                                                              "code": SOP}]},
    {"system": "urn:ietf:rfc:3986", "code": SOP, "coding": [{"code": SOP + ".9"}]},
    {"system": "urn:ietf:rfc:3986", "code": SOP, "version": 1},
    {"system": "urn:ietf:rfc:3986", "code": SOP, "version": True},
    {"system": "urn:ietf:rfc:3986", "code": SOP, "version": 1.0},
    "x", None, [{"system": "urn:ietf:rfc:3986", "code": SOP}], {},
]
UIDS: list[Any] = ["1.2.3", "1.2.3\n", "1.2.3\n\n", "\n1.2.3", "1.2\n.3", "1.02", "1.2.", "01",
                   "0", "1." + "2" * 62, "1." + "2" * 63, "", 5, 1.5, True, None, ["1.2", "1.3"],
                   ["1.2", "1.02"], "1.2.840.113747.20080222.3", "\u0661.2", "1.2.3 "]
REGION_TYPES: list[Any] = ["point", "POINT", " point ", "polyline", "Polyline", "poly line",
                           "circle", "ellipse", "interpolated", "multipoint", "polygon", "x", "",
                           3, None]


def test_many_instances_with_remembered_and_varied_values() -> None:
    rng = random.Random(20261128)
    base = example("ImagingSelection-example-2d-image-region-selection.json")
    first = base["instance"][0]
    found: set[str] = set()
    for _ in range(300):
        data = copy.deepcopy(base)
        count = rng.randint(2, 12)
        data["instance"] = [copy.deepcopy(first) for _ in range(count)]
        shared = rng.randrange(len(SOP_CLASSES))
        for instance in data["instance"]:
            pick = shared if rng.random() < 0.6 else rng.randrange(len(SOP_CLASSES))
            instance["sopClass"] = copy.deepcopy(SOP_CLASSES[pick])
            if instance["sopClass"] is None:
                del instance["sopClass"]
            if rng.random() < 0.5:
                instance["uid"] = copy.deepcopy(rng.choice(UIDS))
            for region in instance["imageRegion2D"]:
                if rng.random() < 0.5:
                    region["regionType"] = rng.choice(REGION_TYPES)
                    region["coordinate"] = region["coordinate"][:rng.choice([2, 3, 4, 8])]
        for key in ("studyUid", "seriesUid", "frameOfReferenceUid"):
            if rng.random() < 0.3:
                data[key] = copy.deepcopy(rng.choice(UIDS))
        found.update(i.rule for i in same(data, rng.choice(["warning", "error"])))
    assert {"isr-4", "isr-5", "isr-6", "isr-7", "isr-8", "isr-9", "isr-10", "isr-11",
            "isr-12", "isr-13", "isr-14"} <= found


def test_random_combinations_of_mutations() -> None:
    """Two to four changes at random places, each made to the result of the one before."""
    rng = random.Random(20261127)
    examples = trees() + [fast_parse(path.read_bytes())[0] for path in EXAMPLES]  # floats too
    for _ in range(500):
        mutated = copy.deepcopy(rng.choice(examples))
        for _step in range(rng.randint(2, 4)):
            places = [p for key in RULE_KEYS if key in mutated
                      for p in [(key,), *_paths(mutated[key], (key,))]]
            if not places:
                break
            path = rng.choice(places)
            holder = _holder(mutated, path)
            _name, change = rng.choice(list(_changes(holder[path[-1]], path[-1])))
            change(holder, path[-1])
        same(mutated, rng.choice(["warning", "error"]))


@pytest.mark.parametrize("mode", ["warning", "error"])
def test_whole_validation_in_a_bundle(mode: str) -> None:
    """Through ``run``: the rules of each entry see their own resource (``%resource``)."""
    walk = with_imaging_rules(RESOURCE_VALIDATORS, RULES, mode)
    interpreted = with_imaging_rules(RESOURCE_VALIDATORS, INTERPRETED, mode)
    three_d = example("ImagingSelection-example-3d-image-region-selection.json")
    without_frame = copy.deepcopy(three_d)
    del without_frame["frameOfReferenceUid"]  # isr-22 in this entry only
    broken = example("ImagingSelection-example-2d-image-region-selection.json")
    broken["instance"][0]["imageRegion2D"].append(None)
    broken["instance"][0]["_uid"] = {"id": "a"}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": f"urn:uuid:0b8f6b36-3c4c-4a4e-9a47-2b4f4f0c0a0{n}", "resource": resource}
        for n, resource in enumerate((three_d, without_frame, broken, three_d))]}
    text = json.dumps(bundle, default=str)
    expected = run(text, interpreted).issues
    assert run(text, walk).issues == expected
    assert [i.expression for i in expected if i.rule == "isr-22"] == [
        "Bundle.entry[1].resource.instance[0].imageRegion3D[0]"]


# ----------------------------------------------------------------------- what it is made of

CAPTURES = [
    r"^(0|[1-9][0-9]*)([.](0|[1-9][0-9]*))*$",
    r"^urn:oid:(0|[1-9][0-9]*)([.](0|[1-9][0-9]*))*$",
    r"[]()](b)", r"\((c)", r"[^]()]+(d|e)?", r"(?P<n>a)(b)", r"((a)|b)+$", r"(a)?(?:b)",
]
UNCHANGED = [r"(a)\1", r"(?P<n>a)(?P=n)", r"(a)?(?(1)b|c)", r"(?x) (a) # [", r"[(]x", r"abc"]
TEXTS = ["", "0", "1.2", "1.02", "1..2", "1.2.", "urn:oid:1.2", "urn:oid:01", "b", "]b", ")b",
         "(c", "c", "de", "]d", "ab", "b", "aab", "bab", "ba", "ac", "x", "1.2\n", "a\nb"]


@pytest.mark.parametrize("pattern", CAPTURES)
def test_without_captures_matches_the_same_texts(pattern: str) -> None:
    faster = without_captures(pattern)
    assert faster is not None and faster != pattern
    compiled = re.compile(faster, re.DOTALL)
    assert compiled.groups == len(compiled.groupindex)  # only named groups still capture
    for text in TEXTS:
        assert (re.search(pattern, text, re.DOTALL) is None) == (compiled.search(text) is None)


@pytest.mark.parametrize("pattern", UNCHANGED)
def test_without_captures_leaves_patterns_that_refer_to_groups(pattern: str) -> None:
    assert without_captures(pattern) is None


FORM = '''
def _json_inv_x_1(d):
    """The verdict."""
    if d.__class__ is dict:
        v0 = d.get('code')
        if (v0 is None or v0.__class__ is str) and d.get('_code') is None:
            return (not (v0 is not None) or v0.startswith('a'))
    return fp.Undecided.GENERAL
'''


def _function(source: str) -> ast.FunctionDef:
    function = ast.parse(source).body[0]
    assert isinstance(function, ast.FunctionDef)
    return function


def test_a_form_is_inlined_with_what_the_walk_knows_folded_in() -> None:
    form = _form_parts(_function(FORM))
    assert form is not None and form.on_object and not form.stops
    site = _WalkSite(3, (), "x", ("x-1",), "ImagingSelection.x", ("_json_inv_x_1",),
                     (("_json_inv_x_1", form),))
    lines = _pass_lines(site, "y3", {})
    assert lines == [
        "ok = False",
        "if y3.__class__ is dict:",
        "    y3_0 = y3.get('code')",
        ("    ok = (y3_0 is None or y3_0.__class__ is str) and (y3.get('_code') is None) and "
         "(not y3_0 is not None or y3_0.startswith('a')) is True"),
    ]
    primitive = _form_parts(_function(FORM.replace("if d.__class__ is dict:", "if True:")))
    assert primitive is None  # another shape: called, not inlined


@pytest.mark.parametrize("change", [
    lambda s: s.replace("return fp.Undecided.GENERAL", "return None"),
    lambda s: s.replace("v0 = d.get('code')", "v0 = [c for c in d]"),
    lambda s: s.replace("v0.startswith('a')", "ok.startswith('a')"),  # a global the walk hides
    lambda s: s.replace("    return fp.Undecided.GENERAL", "    x = 1\n    return fp.Undecided.GENERAL"),
])
def test_a_form_of_another_shape_is_called(change: Callable[[str], str]) -> None:
    assert _form_parts(_function(change(FORM))) is None
    site = _WalkSite(3, (), "x", ("x-1",), "ImagingSelection.x", ("_json_inv_x_1",),
                     (("_json_inv_x_1", None),))
    assert _pass_lines(site, "y3", {}) == ["ok = _json_inv_x_1(y3) is True"]


# ------------------------------------------------------------------ other rules, other walks

#: Rules the committed file does not have, at places its walk does not cover: on the element
#: the walk goes down (``instance``: asked in the same loop), below a site with a rule without
#: JSON form (3D coordinates), and a rule without JSON form on the resource itself.
EXTRA = {
    "ImagingSelection": [("tst-1", "%resource.status.exists()")],
    "ImagingSelection.instance": [("tst-2", "number.exists() implies number >= 2"),
                                  ("tst-3", "subset.count() <= 3")],
    "ImagingSelection.instance.imageRegion3D.coordinate": [("tst-4", "hasValue() implies $this >= -20")],
    # without JSON form: one reading only %resource (asked once per resource, as isr-22 is),
    # beside forms; and one reading its focus too, beside isr-22 (each value to the group)
    "ImagingSelection.instance.imageRegion2D": [("tst-5", "%resource.status.exists()")],
    "ImagingSelection.instance.imageRegion3D": [
        ("tst-6", "%resource.status.exists() and coordinate.first() > -1000")],
}


@pytest.fixture(scope="module")
def extra_rules(tmp_path_factory: pytest.TempPathFactory) -> ImagingRules:
    """The committed rules and :data:`EXTRA`, generated as ``fhirgen generate`` would, their
    module's code run here."""
    import __future__

    import shutil

    from fhirgen import imaging
    from fhirgen.ir import build_model
    from fhirgen.loader import load_index
    from fhirgen.models.invariants import TYPES
    from fhirgen.runtime import fhirpath as fp
    from fhirgen.runtime import imaging as runtime
    from fhirgen.runtime.validate import ValueSet

    source = ROOT / "definitions" / imaging.RULES_FOLDER
    folder = tmp_path_factory.mktemp("rules")
    shutil.copy(source / "ValueSet-dicom-sop-classes.json", folder)
    sd = json.loads((source / "StructureDefinition-fhirgen-imaging-rules.json").read_text())
    elements = {element["path"]: element for element in sd["differential"]["element"]}
    for path, constraints in EXTRA.items():
        element = elements.get(path)
        if element is None:
            element = elements[path] = {"id": path, "path": path}
            sd["differential"]["element"].append(element)
        element.setdefault("constraint", []).extend(
            {"key": key, "severity": "warning", "human": f"{key} holds", "expression": expression}
            for key, expression in constraints)
    (folder / "StructureDefinition-fhirgen-imaging-rules.json").write_text(json.dumps(sd))
    rules = imaging.load_rules(folder)
    model = build_model(load_index([ROOT / "definitions"]), ["ImagingSelection"])
    view = imaging.build_imaging_view(rules, model, ())
    namespace: dict[str, Any] = {
        "Any": Any, "fp": fp, "IssueList": IssueList, "Rule": runtime.Rule,
        "VALUE_SETS": {url: ValueSet(url, pairs) for url, pairs in rules.expansions().items()},
        **{name: getattr(runtime, name) for name in (
            "Late", "Loc", "Site", "Tables", "Validator", "at", "exact_groups", "expect_sites",
            "replay", "resource_passes", "search_matcher")},
    }
    flags = __future__.annotations.compiler_flag
    for text in (*view.functions, view.walk):
        exec(compile(text, "<imaging_rules>", "exec", flags=flags), namespace)  # noqa: S102
    made = tuple(eval(expression, namespace) for expression in view.rules)
    return ImagingRules(rules.url, rules.version, TYPES, made, RULES.sop_classes, namespace["_walk"])


def test_a_walk_of_other_rules_gives_the_interpreted_issues(extra_rules: ImagingRules) -> None:
    interpreted = ImagingRules(extra_rules.url, extra_rules.version, extra_rules.table,
                               extra_rules.rules, extra_rules.sop_classes)
    assert extra_rules.walk is not None
    sites = extra_rules.sites("warning")
    assert [(steps, name) for steps, name, _ in sites][-2:] == [
        ((), "instance"), (("instance", "imageRegion3D"), "coordinate")]
    from fhirgen.bench import corpus

    found: set[str] = set()
    count = 0
    numbered = [loads(text) for text in corpus()]  # instances numbered from 1: tst-2 fails
    for tree, mutate in [(t, False) for t in numbered] + [(t, True) for t in trees()]:
        without_status = copy.deepcopy(tree)
        del without_status["status"]
        changed = mutations(tree) if mutate else iter(())
        for _name, mutated in [("tree", tree), ("no status", without_status), *changed]:
            for mode in ("warning", "error"):
                walk, reference = extra_rules.checker(mode), interpreted.checker(mode)
                expected = issues(reference, mutated)
                assert issues(walk, mutated) == expected, _name
                found.update(i.rule for i in expected)
            count += 1
    assert count > 3000
    assert {"tst-1", "tst-2", "tst-3", "tst-4", "tst-5", "tst-6"} <= found


MEMBER_FORM = '''
def _json_inv_x_1(d):
    """The verdict."""
    try:
        if d.__class__ is dict:
            v0 = d.get('system')
            if (v0 is None or v0.__class__ is str) and d.get('_system') is None:
                return (not (v0 is not None and (v0 == 'a b' or fp.normalised(v0) == 'a b')) or fp.coding_member(d, VALUE_SETS, 'http://x'))
    except fp.NeedsNodes:
        pass
    return fp.Undecided.GENERAL
'''


def _member_lines(source: str) -> tuple[list[str], _Searches]:
    form = _form_parts(_function(source))
    assert form is not None and form.stops
    site = _WalkSite(3, (), "x", ("x-1",), "ImagingSelection.x", ("_json_inv_x_1",),
                     (("_json_inv_x_1", form),))
    searches = _Searches({})
    return _pass_lines(site, "y3", {}, searches), searches


def test_memberships_are_remembered_and_normal_literals_skip_normalising() -> None:
    lines, searches = _member_lines(MEMBER_FORM)
    memo = "_passed_member_" + hashlib.sha1(b"http://x").hexdigest()[:12]
    assert lines[-3] == (
        "        ok = (y3_0 is None or y3_0.__class__ is str) and (y3.get('_system') is None) "
        "and (not (y3_0 is not None and (y3_0 == 'a b' or (y3_0 not in _WALK_NORMAL and "
        f"fp.normalised(y3_0) == 'a b'))) or (y3 == {memo} or (({memo} := y3) is y3 if "
        "fp.coding_member(y3, VALUE_SETS, 'http://x') else False))) is True")
    assert searches.used == {memo} and searches.normal == {"a b"}
    # a text that may be of any JSON kind (unhashable) is normalised as written
    unguarded = MEMBER_FORM.replace("(v0 is None or v0.__class__ is str) and ", "")
    lines, searches = _member_lines(unguarded)
    assert "_WALK_NORMAL" not in lines[-3] and "fp.normalised(y3_0) == 'a b'" in lines[-3]
    assert searches.normal == set()


def test_the_normal_literals_are_their_own_normalised_form() -> None:
    from fhirgen.runtime import fhirpath as fp

    normal = imaging_rules._WALK_NORMAL
    assert normal == {"circle", "ellipse", "ellipsoid", "interpolated", "point", "polygon",
                      "polyline"}
    assert all(fp.normalised(text) == text for text in normal)
