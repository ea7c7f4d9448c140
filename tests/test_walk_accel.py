"""The compiled walk (fhirgen.runtime._accel, plans of fhirgen.runtime.plan) gives exactly the
issues of the generated Python validators: same issues, same order, same locations, on the
examples, every generated mutation, the bench corpus, odd Python trees and hypothesis resources.
"""

from __future__ import annotations

import collections
import copy
import json
import os
import resource
import shlex
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirgen.models import validators as generated
from fhirgen.runtime.accel import ACCEL, PURE_PYTHON
from fhirgen.runtime.issues import Issue, IssueList
from fhirgen.runtime.limits import DEFAULT_LIMITS, Limits
from fhirgen.runtime.plan import AT, NODE, OUT, PATH, VALUE
from fhirgen.runtime.validate import check_keys, run
from tests import strategies

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "definitions" / "hl7.fhir.r5.examples").glob("*.json"))

compiled = pytest.mark.skipif(not generated.COMPILED, reason="the C extension is not built")


def _issues(data: Any, validators: Any, limits: Limits = DEFAULT_LIMITS) -> list[tuple[Any, ...]]:
    issues = run(data, validators, limits=limits).issues
    assert all(type(issue) is Issue for issue in issues)
    return [tuple(issue) for issue in issues]


def same(data: Any) -> None:
    """The compiled walk's issues are the Python validators' (text, bytes or a tree)."""
    python = _issues(copy.deepcopy(data) if isinstance(data, dict) else data,
                     generated.PY_RESOURCE_VALIDATORS)
    walked = _issues(data, generated.RESOURCE_VALIDATORS)
    assert walked == python


def test_the_extension_is_built_where_a_compiler_is() -> None:
    """pip builds the extension where a C compiler is at hand: a silent build failure (the
    extension is optional) would leave every user on the slow path."""
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")[:1]
    if os.environ.get(PURE_PYTHON, "") not in ("", "0") or not compiler or not shutil.which(
            compiler[0]):
        pytest.skip("no C compiler here, or switched off")
    assert ACCEL is not None, "fhirgen.runtime._accel was not built: see pip's output"
    assert generated.COMPILED
    assert isinstance(generated.RESOURCE_VALIDATORS["ImagingSelection"], ACCEL.Walker)
    walker = generated.RESOURCE_VALIDATORS["ImagingSelection"]
    assert walker.python is generated.validate_ImagingSelection


@compiled
def test_generated_primitives_use_their_compiled_matchers() -> None:
    """Every primitive whose fast check is a regex carries its DFA tables in the generated code
    (fhirgen.regex_dfa at generation), and runs it in C."""
    from fhirgen.runtime.primitives import Primitive, fast_pattern

    assert ACCEL is not None
    primitives = [p for p in vars(generated).values() if isinstance(p, Primitive)]
    with_regex = [p for p in primitives if fast_pattern(p.name, p.kind, p.regex) is not None]
    assert {p.name for p in with_regex} >= {"id", "uri", "code", "dateTime", "string", "oid"}
    for primitive in with_regex:
        assert isinstance(primitive.fast, ACCEL.Matcher), primitive.name
        assert getattr(generated, f"DFA_{primitive.name}") == primitive.fast.tables


@compiled
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples(path: Path) -> None:
    same(path.read_bytes())
    same(json.loads(path.read_text(encoding="utf-8")))


def _mutants() -> list[tuple[str, bytes]]:
    from tests.test_validate_fast import _mutants as mutants

    return mutants()


@compiled
@pytest.mark.parametrize("name,text", _mutants(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_generated_mutation(name: str, text: bytes) -> None:
    same(text)


@compiled
def test_bench_corpus() -> None:
    from fhirgen.bench import corpus

    for text in corpus():
        same(text)


@compiled
def test_the_whole_examples_package() -> None:
    """Every resource of the official examples package (other types: unknown resource issues;
    contained, Bundles and narratives on the way)."""
    from fhirgen.packages import iter_package_files
    from tests.conftest import EXAMPLES as PACKAGE
    from tests.conftest import need_package

    need_package(PACKAGE)
    count = 0
    for file in iter_package_files(PACKAGE):
        same(file.data)
        count += 1
    assert count > 1000


ODD_TREES: list[Any] = [
    # a dict subclass at the root and inside: the walk hands them to the Python validators
    collections.OrderedDict(resourceType="ImagingSelection", status="available",
                            code={"text": "x"}),
    {"resourceType": "ImagingSelection", "status": "available",
     "code": collections.OrderedDict(text="x")},
    # str subclasses, bools as numbers, huge and negative ints, NaN, odd floats
    {"resourceType": "ImagingSelection", "status": type("S", (str,), {})("available"),
     "code": {"text": "x"}, "seriesNumber": True},
    {"resourceType": "ImagingSelection", "status": "available", "code": {"text": "x"},
     "seriesNumber": 2**80, "instance": [{"uid": "1.2", "number": -1}]},
    {"resourceType": "ImagingSelection", "status": "available", "code": {"text": "x"},
     "instance": [{"uid": "1.2", "imageRegion2D": [
         {"regionType": "point", "coordinate": [float("nan"), 1e300, 0.05, -0.0, 10**19]}]}]},
    {"resourceType": "ImagingSelection", "status": "available", "code": {"text": "x"},
     "instance": [{"uid": "1.2", "subset": ["a", type("S", (str,), {})("b"), 3, None]}]},
    {"resourceType": "ImagingSelection", "status": "available", "code": {"text": "x"},
     "instance": [{"uid": "1.2", "subset": [" ", ""]}, [], None, {"id": "x"}, {}]},
    # wrong shapes everywhere
    {"resourceType": "ImagingSelection", "status": ["available"], "code": [{"text": "x"}],
     "instance": {"uid": "1.2"}, "subject": "Patient/1", "_status": {"id": "s"}},
    {"resourceType": "ImagingSelection", "_status": {"extension": []}, "code": {"id": "a"},
     "unknown": 1, "": 2},
    {"resourceType": "ImagingSelection"},
    # names that are no plain str: the walk looks each property up, as Python does
    {"resourceType": "ImagingSelection", "status": "available", "code": {"text": "x", 5: 1}},
    {"resourceType": "ImagingSelection", type("S", (str,), {})("status"): "available",
     "code": {"text": "x"}, "instance": [{"uid": "1.2", None: 1}]},
]


@compiled
@pytest.mark.parametrize("tree", ODD_TREES, ids=lambda t: str(list(t))[:40])
def test_odd_python_trees(tree: Any) -> None:
    same(tree)


@compiled
def test_a_tree_too_deep_for_python_is_too_deep_at_the_same_place() -> None:
    """One recursion level per plan, as Python has one frame per validator: the fatal issue
    and the issues found before it are the same."""
    extension: dict[str, Any] = {"url": "http://x", "valueString": "x"}
    for _ in range(sys.getrecursionlimit()):
        extension = {"url": "http://x", "extension": [extension], "bogus": 1}
    tree = {"resourceType": "ImagingSelection", "status": "available", "code": {"text": "x"},
            "extension": [extension]}
    python = _issues(tree, generated.PY_RESOURCE_VALIDATORS)
    walked = _issues(tree, generated.RESOURCE_VALIDATORS)
    assert python[-1][2] == "json-shape" and "nested too deeply" in python[-1][3]
    assert walked == python


@compiled
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.valid_resources())
def test_hypothesis_valid_resources(tree: dict[str, Any]) -> None:
    same(tree)
    same(json.dumps(tree, default=str))


@compiled
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.mutated())
def test_hypothesis_mutated_resources(mutation: Any) -> None:
    same(mutation.tree)


@compiled
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    strategies.resource_like(),
    st.builds(lambda key, value: {"resourceType": "ImagingSelection", key: value},
              st.sampled_from(sorted(generated.KEYS_ImagingSelection)), strategies.json_values()),
    strategies.json_values().map(json.dumps),
))
def test_hypothesis_anything(tree: Any) -> None:
    same(tree)


@compiled
@pytest.mark.parametrize("max_issues", [1, 2, 5, 9, 10, 11, 1000])
def test_issues_past_the_limit_are_counted_alike(max_issues: int) -> None:
    """The information issues the walk makes itself (unchecked's usual case) stop at the
    limit, and the rest are counted, as the Python function does."""
    from fhirgen.bench import corpus

    limits = Limits(max_issues=max_issues)
    for text in corpus()[:6]:
        assert (_issues(text, generated.RESOURCE_VALIDATORS, limits)
                == _issues(text, generated.PY_RESOURCE_VALIDATORS, limits))


@compiled
def test_unchecked_bindings_on_odd_codings_and_lists() -> None:
    """A Coding with a CodeableConcept's properties, a non-ASCII location (a choice label
    cannot be one, but an array index of a long list is still ASCII) and a plain IssueList
    all take the Python function."""
    tree = json.loads(EXAMPLES[0].read_text(encoding="utf-8"))
    instance = tree["instance"][0]
    for extra in ({"text": "x"}, {"coding": []}, {"concept": {}}, {"reference": "x"}):
        odd = copy.deepcopy(tree)
        odd["instance"][0]["sopClass"] = {**instance["sopClass"], **extra}
        same(odd)
    validator = generated.RESOURCE_VALIDATORS["ImagingSelection"]
    plain, python = IssueList(), IssueList()
    validator(tree, "ImagingSelection", plain)
    generated.validate_ImagingSelection(copy.deepcopy(tree), "ImagingSelection", python)
    assert plain == python and any(issue.rule == "binding" for issue in plain)


# ------------------------------------------------------------------------- the checks can fail


def _plans_without(type_name: str, kind: str) -> dict[str, Any]:
    plans = dict(generated.PLANS)
    function, keys, ops = plans[type_name]
    plans[type_name] = (function, keys, tuple(op for op in ops if op[0] != kind))
    return plans


@compiled
def test_a_plan_missing_a_statement_is_caught() -> None:
    """The differential comparison fails when the plan leaves out what Python does: the sopClass
    binding's information issues disappear with the object ops of an instance."""
    assert ACCEL is not None
    walks = ACCEL.compile(_plans_without("ImagingSelection.instance", "object"),
                          (NODE, PATH, OUT, VALUE, AT), check_keys)
    text = EXAMPLES[0].read_bytes()
    broken = _issues(text, {"ImagingSelection": walks["ImagingSelection"]})
    python = _issues(text, generated.PY_RESOURCE_VALIDATORS)
    assert any(issue[2] == "binding" for issue in python)
    assert broken != python


@compiled
def test_errors_of_helpers_propagate() -> None:
    assert ACCEL is not None

    def boom(*args: Any) -> None:
        raise KeyError("from a helper")

    plans = {"T": (boom, frozenset({"a"}), (("call", "a", None, (boom, (NODE, PATH, OUT), None)),))}
    walks = ACCEL.compile(plans, (NODE, PATH, OUT, VALUE, AT), check_keys)
    with pytest.raises(KeyError, match="from a helper"):
        walks["T"]({"a": 1}, "T", IssueList())
    walks["T"]({}, "T", out := IssueList())  # empty: check_keys says so, no call
    assert [i.rule for i in out] == ["json-shape"]
    with pytest.raises(TypeError):
        walks["T"]({"a": 1}, "T")  # type: ignore[call-arg]


@compiled
@pytest.mark.parametrize("plans", [
    {"T": (print, frozenset(), (("nope",),))},
    {"T": (print, frozenset(), (("object", "a", True, "a", "Missing", None, None),))},
    {"T": (print, frozenset(), (("call", "a", None, (print, [NODE], None)),))},
    {"T": (print, frozenset(), (("prim", "a", True, True, "float", None, None, False, 0, 1,
                                 None),))},
    {"T": "not a plan"},
], ids=["kind", "type", "args", "fast", "shape"])
def test_malformed_plans_are_refused(plans: dict[str, Any]) -> None:
    assert ACCEL is not None
    with pytest.raises((ValueError, TypeError, AttributeError)):
        ACCEL.compile(plans, (NODE, PATH, OUT, VALUE, AT), check_keys)


@compiled
def test_memory_stays_flat() -> None:
    """No reference leaks: many walks (issues included) keep the process size flat."""
    text = EXAMPLES[0].read_bytes()
    tree = json.loads(text)
    validator = generated.RESOURCE_VALIDATORS["ImagingSelection"]

    def many() -> None:
        for _ in range(3000):
            validator(tree, "ImagingSelection", IssueList())
            run(text, generated.RESOURCE_VALIDATORS)

    many()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    many()
    many()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert after - before < 4096  # KiB


_PARTS = st.one_of(st.text(max_size=6), st.integers(min_value=-2**70, max_value=2**70),
                   st.booleans(), st.none())


@st.composite
def _locations(draw: st.DrawFn) -> Any:
    here: Any = draw(st.one_of(st.text(max_size=8), st.integers(), st.none()))
    for _ in range(draw(st.integers(min_value=0, max_value=70))):
        here = (here, draw(_PARTS)) if draw(st.integers(0, 30)) else (here, "a", "b")
    return here


@compiled
@settings(max_examples=500, deadline=None)
@given(_locations())
def test_compiled_locations_are_the_python_ones(loc: Any) -> None:
    """Locations are built in C when the extension is (every raised issue has one); anything
    it does not handle (deep, bools, odd tuples: errors too) is the Python function's."""
    from fhirgen.runtime import validate

    def text(function: Any) -> Any:
        try:
            return function(loc)
        except Exception as error:  # noqa: BLE001 - the same error is the point
            return type(error), str(error)

    assert validate.location is not validate._python_location
    assert text(validate.location) == text(validate._python_location)


_NAMES = st.sampled_from(["a", "b", "contained", "resourceType"])


@compiled
@settings(max_examples=500, deadline=None)
@given(st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=3)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.one_of(_NAMES, _NAMES.map("_".__add__)), inner,
                                            max_size=4)),
    max_leaves=12,
).filter(lambda d: isinstance(d, dict)), st.lists(_NAMES, min_size=1, max_size=4).map(tuple))
def test_compiled_reach_is_the_python_one(data: dict[str, Any], names: tuple[str, ...]) -> None:
    """fhirpath.reach (invariants' JSON forms) in C gives the Python function's answers."""
    from fhirgen.runtime import fhirpath

    assert fhirpath.reach is not fhirpath._python_reach
    assert fhirpath.reach(data, names) == fhirpath._python_reach(data, names)
    assert fhirpath.reach(collections.OrderedDict(data), names) == fhirpath._python_reach(
        data, names)
