"""Invariants compiled to typed Python (``fhirgen.fhirpath.specialise``) give exactly what the
general compilation of the same expression gives: the same verdict (``True``, ``False`` or
``None``) or the same error, on every object of the examples and on thousands of generated
objects whose children are values of every JSON kind (strings, numbers of each parsed class,
booleans, objects, arrays with nulls, ``_name`` twins of each shape), for every key that is
specialised: the base invariants of the model and the imaging rules."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fhirgen.fhirpath import _definer as definer
from fhirgen.fhirpath import compile_constraint, compile_expression, parse, type_table
from fhirgen.fhirpath.ast import Binary, Call, Expr, Indexer, Member, TypeOp, Unary
from fhirgen.imaging import compile_rules, find_rules
from fhirgen.ir import Model, build_model
from fhirgen.loader import load_index
from fhirgen.runtime import fhirpath as fp
from fhirgen.runtime.jsonio import FhirDecimal
from fhirgen.runtime.validate import ValueSet

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT / "definitions"
Function = Callable[[fp.Node, fp.Node, fp.Node], Any]

XHTML = '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'
CT_IMAGE = "urn:oid:1.2.840.10008.5.1.4.1.1.2"  # a SOP Class of the imaging rules' value set
ATOMS: list[Any] = [
    None, "", "point", " Point ", "polyline", "POLYGON", "ellipse", "circle", "interpolated",
    "ellipsoid", "urn:oid:1.2.3", "urn:oid:01.2", "urn:oid:", "1.2.840.10008.5.1.4.1.1.2",
    "1..2", "01.2", "#", "#p1", "Patient/1", "urn:ietf:rfc:3986", "x" * 70, "1." + "1" * 70,
    "http://unitsofmeasure.org", "mg", "named-event", "a b", "2020-01-01", XHTML, CT_IMAGE,
    "<div>x</div>", '<div xmlns="http://www.w3.org/1999/xhtml"><script>x</script></div>',
    '<div xmlns="http://www.w3.org/1999/xhtml"> </div>',
    0, 1, -1, 2, 7, 64, 2**60, 1.5, -0.0, -2.5, 0.1, 1e300, Decimal("2.50"), Decimal("-0.001"),
    FhirDecimal("3.0"), FhirDecimal("-1e-3"), FhirDecimal("0"), True, False,
    {}, {"div": XHTML}, {"div": 3}, {"x": 1}, {"value": 1.5, "code": "mg"},
    {"resourceType": "Patient", "id": "p1"}, {"resourceType": "Patient", "divString": "x"},
    {"coding": [{"system": "urn:ietf:rfc:3986", "code": CT_IMAGE}]}, {"coding": "x"},
]
LISTS: list[Any] = [
    [], [None], [None, None], [1, 2], [1.5, 2.5, 3, 4], [0, -1], list(range(1, 9)),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3], list(range(12)), [None, 1], ["a"], ["point"],
    [{"resourceType": "Patient", "id": "p1", "meta": {"versionId": "1"}}],
    [{"resourceType": "Patient", "id": "p1"}], [{"id": "p1"}], [[1]], [True], [{}],
]
TWINS: list[Any] = [
    None, {"extension": [{"url": "http://x", "valueString": "y"}]}, {}, "twin", 3,
    [None, {"id": "a"}], [{"id": "a"}], [None],
]


#: Expressions of every specialised shape beside the definitions' own (facts of a side of
#: and/or/implies, three-valued logic, general parts that raise, numbers, counts, strings).
SHAPES: list[tuple[str, str]] = [
    ("Coding", "code.exists() or code = 'x'"),
    ("Coding", "code.empty() or code = 'x'"),
    ("Coding", "code.exists() and code != 'x'"),
    ("Coding", "code.hasValue().not() or code.startsWith('urn:')"),
    ("Coding", "(code ~ 'Point') xor (display = 'b')"),
    ("Coding", "(code = 'a') xor display.exists()"),
    ("Coding", "(code = 'a').not() or version.endsWith('1')"),
    ("Coding", "code.length() > 3 and version != '1'"),
    ("Coding", "code.hasValue() implies code.length() >= 2"),
    ("Coding", "code.exists().not() implies display.exists()"),
    ("Coding", "(code = 'a' or display = 'b') implies system = %ucum"),
    ("Coding", "(code = 'a' and display = 'b') or system !~ 'X'"),
    ("Coding", "code.matches('^[a-z]+$') and display.matches('.')"),
    ("Coding", "code.startsWith('u') implies extension.single().exists()"),
    ("Coding", "(code = 'u') or extension.single().exists()"),
    ("Coding", "(code = 'u') and extension.single().exists()"),
    ("Coding", "extension.single().exists() or code = 'u'"),
    ("Coding", "extension.exists() and code.exists() and system.empty()"),
    ("Coding", "extension.where(url = 'x').empty() and code.exists()"),
    ("Quantity", "value.hasValue() implies value > 0 and value <= 100 and value != 7"),
    ("Quantity", "value = 1 or value < -1 or value >= 2"),
    ("Quantity", "comparator.empty() or value.exists()"),
    ("ImagingSelection.instance", "number.exists() implies (number mod 2 = 1)"),
    ("ImagingSelection.instance", "subset.count() mod 3 = 0 or number = 2"),
    ("ImagingSelection.instance", "subset.count() >= 2 implies uid.exists()"),
    ("ImagingSelection.instance", "imageRegion2D.count() < 2 and sopClass.code.exists()"),
    ("ImagingSelection.instance.imageRegion2D.coordinate", "$this < 10 or $this = 20"),
    ("ImagingSelection.instance.imageRegion2D.coordinate", "$this != 0"),
]


@cache
def model() -> Model:
    return build_model(load_index([DEFINITIONS]), ["ImagingSelection"])


@cache
def value_sets() -> dict[str, ValueSet]:
    """The expansions of the imaging rules' value sets (memberOf() of others is undecidable)."""
    rules = find_rules([DEFINITIONS])
    assert rules is not None
    return {url: ValueSet(url, pairs) for url, pairs in rules.expansions().items()}


@cache
def table() -> fp.TypeTable:
    return type_table(model())


class Case:
    """A specialised invariant and its general compilation, where the walk evaluates it."""

    def __init__(self, key: str, expression: str, context: str, path: str, type_: str,
                 on_element: bool) -> None:
        compiled = compile_constraint(key, expression, context, model())
        self.key = key
        self.expression = expression
        self.specialised = compiled.specialised
        self.general_parts = "fp.needs_nodes()" in compiled.source
        space: dict[str, Any] = {"fp": fp, "VALUE_SETS": value_sets(), "Any": Any}
        exec(compiled.source, space)  # noqa: S102 - generated by the compiler under test
        self.fast: Function = space[compiled.name]
        self.json: Callable[[Any], Any] | None = getattr(self.fast, "json", None)
        code, _state = compile_expression(key, expression, context, model())
        self.general: Function = eval(
            f"lambda node, resource, root: fp.result({code})",
            {"fp": fp, "VALUE_SETS": value_sets()})
        self.path = path
        self.type = type_
        self.on_element = on_element
        self.names = sorted(_names(parse(expression)))

    def __repr__(self) -> str:
        return f"{self.key} on {self.path}"


def _names(tree: Expr | None) -> set[str]:
    """Every element name the expression navigates to."""
    if tree is None:
        return set()
    if isinstance(tree, Member):
        return {tree.name} | _names(tree.source)
    if isinstance(tree, Call):
        return _names(tree.source).union(*(_names(a) for a in tree.args))
    if isinstance(tree, Binary):
        return _names(tree.left) | _names(tree.right)
    if isinstance(tree, (Unary, TypeOp)):
        return _names(tree.operand)
    if isinstance(tree, Indexer):
        return _names(tree.source) | _names(tree.index)
    return set()


@cache
def cases() -> tuple[Case, ...]:
    found: list[Case] = []
    for type_def in model().types:
        if type_def.is_primitive:
            continue
        for owner in type_def.all_types():
            type_code = owner.name if not owner.is_backbone else (owner.base or "BackboneElement")
            for constraint in owner.constraints:
                if constraint.expression:
                    found.append(Case(constraint.key, constraint.expression,
                                      definer(constraint.source, owner.name), owner.name,
                                      type_code, False))
            for element in owner.elements:
                if len(element.types) != 1 or element.is_choice:
                    continue
                for constraint in element.constraints:
                    if constraint.expression:
                        context = definer(constraint.source, element.path)
                        if element.path.startswith(context + "."):  # as invariant_views has it
                            context = element.path
                        found.append(Case(constraint.key, constraint.expression, context,
                                          element.path, element.types[0].code, True))
    for context, expression in SHAPES:
        found.append(Case(f"shape-{len(found)}", expression, context, context,
                          _element_type(context), "." in context))
    rules = find_rules([DEFINITIONS])
    assert rules is not None
    for rule, compiled in zip(rules.rules, compile_rules(rules, model()), strict=True):
        element_type = _element_type(rule.path)
        found.append(Case(rule.key, compiled.expression, rule.path, rule.path, element_type,
                          "." in rule.path))
    return tuple(case for case in found if case.specialised)


def _element_type(path: str) -> str:
    owner, _, name = path.rpartition(".")
    if not owner:
        return path
    for element in model().type(owner).elements:
        if element.name == name:
            if element.backbone:
                return element.types[0].code if element.types else "BackboneElement"
            return element.types[0].code
    raise AssertionError(path)


def _outcome(function: Function, focus: fp.Node, resource: fp.Node) -> tuple[str, Any, list[str]]:
    """The verdict or error, and what the function recorded for the message (fp.DETAILS, the
    references and value sets it could not decide offline: fp.UNRESOLVED)."""
    fp.DETAILS.clear()
    fp.UNRESOLVED.clear()
    try:
        kind, value = "verdict", function(focus, resource, resource)
    except fp.FhirPathEvalError as error:
        kind, value = "FhirPathEvalError", str(error)
    except Exception as error:  # noqa: BLE001 - any other failure must be the same too
        kind, value = type(error).__name__, str(error)
    details = [*fp.DETAILS, *fp.UNRESOLVED]
    fp.DETAILS.clear()
    fp.UNRESOLVED.clear()
    return kind, value, details


def _nodes(case: Case, data: Any, ext: Any = None) -> tuple[fp.Node, fp.Node]:
    """(focus, resource) as :class:`fhirgen.runtime.invariants.Invariants` builds them."""
    if case.on_element:
        parent = fp.Node({"holder": data}, None, None, None, None, table())
        return fp.Node(data, ext, case.type, case.path, parent, table()), parent
    focus = fp.Node(data, None, case.type, case.path, None, table())
    return focus, focus


def _random_object(case: Case, rng: random.Random) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in case.names:
        if rng.random() < 0.6:
            data[name] = rng.choice(ATOMS if rng.random() < 0.6 else LISTS)
        if rng.random() < 0.15:
            data["_" + name] = rng.choice(TWINS)
    if rng.random() < 0.2:
        data[rng.choice(case.names) + rng.choice(["String", "Quantity", "Code"])] = "x"
    return data


def _inputs(case: Case, rng: random.Random, count: int) -> Iterator[tuple[Any, Any]]:
    """(JSON value, `_name` twin) of the focus: every atom and list, then random ones."""
    primitive = case.type[:1].islower()
    if primitive:
        for value in [*ATOMS, *LISTS]:
            for ext in (None, TWINS[1]):
                yield value, ext
        return
    for obj in _example_objects():
        yield obj, None
    for value in [*ATOMS, *LISTS]:
        yield value, None
    for _ in range(count):
        yield _random_object(case, rng), None


@cache
def _example_objects() -> tuple[dict[str, Any], ...]:
    found: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            found.append(value)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for path in sorted((DEFINITIONS / "hl7.fhir.r5.examples").glob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8"), parse_float=FhirDecimal))
    return tuple(found)


def test_the_hot_keys_are_specialised() -> None:
    keys = {case.key for case in cases()}
    assert keys >= {"isr-1", "isr-4", "isr-7", "isr-8", "isr-9", "isr-10", "isr-11", "isr-14",
                    "isr-15", "isr-16", "isr-19", "dom-2", "dom-3", "dom-4", "dom-5", "dom-6",
                    "ref-1", "exp-2", "txt-1", "txt-2"}


@pytest.mark.parametrize("case", cases(), ids=repr)
def test_specialised_agrees_with_the_general_compilation(case: Case) -> None:
    rng = random.Random(case.key)
    compared = decided = 0
    for data, ext in _inputs(case, rng, 3000):
        focus, resource = _nodes(case, data, ext)
        fast = _outcome(case.fast, focus, resource)
        general = _outcome(case.general, focus, resource)
        assert fast[0] == general[0] and (fast[1] is general[1] if fast[0] == "verdict"
                                          else fast[1] == general[1]), (case, data, ext)
        assert fast[2] == general[2], ("details", case, data)
        # the JSON form, as the evaluation calls it first: the general verdict, or undecided
        assert case.json is not None
        verdict = case.json(data)
        assert verdict is fp.Undecided.GENERAL or general[:2] == ("verdict", verdict), (case, data)
        decided += verdict is not fp.Undecided.GENERAL
        compared += 1
    assert compared >= 40
    if not case.general_parts:
        assert decided >= 20, "the JSON form decides values of the kinds it reads"


@pytest.mark.parametrize("names", [("text", "div"), ("code",), ("contained", "meta", "versionId"),
                                   ("value",)])
def test_reach_and_present_count_what_the_navigation_finds(names: tuple[str, ...]) -> None:
    """``fp.reach`` (paths of the specialised code) and ``fp.present`` (``x.exists()`` of the
    general compilation) read the JSON directly: where they answer, the general navigation
    (``fp.child`` step by step) finds as many items."""
    rng = random.Random(" ".join(names))
    answered = 0
    for _ in range(3000):
        data: dict[str, Any] = {}
        target = data
        for position, name in enumerate(names):
            if rng.random() < 0.15:
                target["_" + name] = rng.choice(TWINS)
            if position < len(names) - 1 and rng.random() < 0.8:
                inner: dict[str, Any] = {}
                target[name] = inner if rng.random() < 0.85 else rng.choice(ATOMS + LISTS)
                if rng.random() < 0.1:
                    inner["resourceType"] = "Patient"
                target = inner
            elif rng.random() < 0.7:
                target[name] = rng.choice(ATOMS + LISTS)
        node = fp.Node(data, None, "X", "X")
        found = [node]
        for name in names:
            found = fp.child(found, name)
        reached = fp.reach(data, names)
        if reached is not None:
            answered += 1
            assert reached == len(found), (names, data)
        if len(names) == 1:
            assert fp.present(node, names[0]) == [bool(found)], data
    assert answered > 500


def test_typed_shapes_only_where_the_context_describes_the_values() -> None:
    """A backbone element's constraint written in its type's terms (tim-1 of Timing.repeat in
    Timing's) is not specialised: Timing's element types do not hold for Timing.repeat's values;
    a base type's constraint (dom-6 of DomainResource on ImagingSelection) is."""
    expression = "code.exists() or event.empty()"
    assert compile_constraint("x-1", expression, "Timing", model()).specialised
    assert compile_constraint("x-1", expression, "Timing", model(),
                              evaluated_on="Timing").specialised
    assert not compile_constraint("x-1", expression, "Timing", model(),
                                  evaluated_on="Timing.repeat").specialised
    assert compile_constraint("x-1", "text.`div`.exists()", "DomainResource", model(),
                              evaluated_on="ImagingSelection").specialised
    assert not compile_constraint("x-1", "htmlChecks()", "Narrative", model(),
                                  evaluated_on="Narrative.div").specialised
