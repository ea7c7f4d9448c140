"""The compiled FHIRPath invariants as the generated validators evaluate them (issue #4).

Every constraint key of the generated ``invariants`` module has a case in :data:`CASES`: an
official ImagingSelection example, mutated so that exactly that constraint breaks, must give an
issue with the key as its rule, the constraint's severity and the location of the element that
carries it; the same example with a valid variant of the mutation must give no issue with that key
(and no error or warning at all). Datatypes the resource does not use directly are reached through
``extension[0].value[x]`` (Extension.value[x] takes every datatype). :func:`test_every_key_has_a_case`
fails when a new version of the definitions adds an invariant that has no case here.

Beside the table:

* ele-1 is enforced by the validators' walk, not by its compiled function (see
  ``fhirgen.invariant_views``): a differential test evaluates the compiled ele-1 on every element of
  mutated resources and checks the walk reports it exactly there;
* ``%resource``/``%rootResource`` and contained resources (dom-2 .. dom-5, ref-1);
* verdicts that cannot be decided offline (``resolve()`` of an external reference, ``memberOf()``
  of a value set without expansion) are information, not errors;
* the narrative (txt-1, txt-2): each message names what is wrong;
* the same failures found in FHIR XML.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fhirgen.fhirpath import compile_constraint
from fhirgen.fhirxml import write_resource_xml
from fhirgen.invariant_views import ELE_1
from fhirgen.ir import Model, build_model
from fhirgen.loader import load_index
from fhirgen.models import invariants as generated
from fhirgen.models.validators import validate
from fhirgen.models.xmlschema import XML_SCHEMA, validate_xml
from fhirgen.runtime import fhirpath as fp
from fhirgen.runtime.invariants import Invariant, Invariants
from fhirgen.runtime.issues import Issue, IssueList
from fhirgen.runtime.validate import ValueSet

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT / "definitions"
EXAMPLES = DEFINITIONS / "hl7.fhir.r5.examples"
BASE = "ImagingSelection-example-basic-image-selection.json"
UCUM = "http://unitsofmeasure.org"
X = "http://example.org/x"
Tree = dict[str, Any]
Mutation = Callable[[Tree], None]


# ------------------------------------------------------------------------------------ helpers


@cache
def _example(name: str) -> Tree:
    path = EXAMPLES / name
    if not path.is_file():
        pytest.skip(f"{name} not in the definitions folder")
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def example(name: str = BASE) -> Tree:
    """A fresh copy of an official example (valid: no error or warning)."""
    return copy.deepcopy(_example(name))


def mutated(mutation: Mutation, name: str = BASE) -> Tree:
    tree = example(name)
    mutation(tree)
    return tree


def problems(issues: list[Issue]) -> list[Issue]:
    """Errors and warnings (the examples' value sets that cannot be expanded offline give
    information, which the cases ignore)."""
    return [i for i in issues if i.severity in ("fatal", "error", "warning")]


def shown(issues: list[Issue]) -> list[str]:
    return [f"{i.severity} {i.rule} @ {i.expression}: {i.message}" for i in issues]


def generated_keys() -> set[str]:
    """The constraint keys the generated package evaluates (from its ``INV_`` groups)."""
    return {
        check.key
        for name, group in vars(generated).items()
        if name.startswith("INV_") and isinstance(group, Invariants)
        for check in group.checks
    }


# ------------------------------------------------------------------------------- mutations


def value(type_name: str, data: Any) -> Mutation:
    """Put *data* as ``extension[0].value<type_name>`` of the resource."""

    def apply(tree: Tree) -> None:
        tree["extension"] = [{"url": X, f"value{type_name}": copy.deepcopy(data)}]

    return apply


def at_value(type_name: str, below: str = "") -> str:
    return f"ImagingSelection.extension[0].value.ofType({type_name}){below}"


def setting(**values: Any) -> Mutation:
    def apply(tree: Tree) -> None:
        tree.update(copy.deepcopy(values))

    return apply


def removing(key: str) -> Mutation:
    def apply(tree: Tree) -> None:
        del tree[key]

    return apply


def _set_in(path: tuple[str | int, ...], value: Any) -> Mutation:
    def apply(tree: Tree) -> None:
        node: Any = tree
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = copy.deepcopy(value)

    return apply


def _both(*mutations: Mutation) -> Mutation:
    def apply(tree: Tree) -> None:
        for mutation in mutations:
            mutation(tree)

    return apply


def narrative(div: str) -> Mutation:
    def apply(tree: Tree) -> None:
        tree["text"] = {"status": "generated", "div": div}

    return apply


def div(body: str) -> str:
    return f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'


NARRATIVE = {"status": "generated", "div": div("<p>A contained selection</p>")}


def selection(id_: str, **more: Any) -> Tree:
    """A small valid ImagingSelection to contain (with a narrative: no dom-6)."""
    return {"resourceType": "ImagingSelection", "id": id_, "text": NARRATIVE,
            "status": "available", "code": {"text": "contained"}, **more}


def containing(*resources: Tree, refs: tuple[str, ...] = ()) -> Mutation:
    """Contain *resources*; the container's ``focus`` refers to *refs* (``#id``)."""

    def apply(tree: Tree) -> None:
        tree["contained"] = copy.deepcopy(list(resources))
        if refs:
            tree["focus"] = [{"reference": ref} for ref in refs]

    return apply


def timing(**repeat: Any) -> Mutation:
    return value("Timing", {"repeat": repeat})


def trigger(**data: Any) -> Mutation:
    return value("TriggerDefinition", data)


DATA = [{"type": "Patient"}]
CONDITION = {"language": "text/fhirpath", "expression": "true"}
QTY = {"value": 1, "system": UCUM, "code": "mg"}


# ----------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One constraint broken (``bad``) and kept (``good``) in the basic example.

    ``also``: the other rules the broken tree breaks by necessity (txt-1 and txt-2 are the same
    ``htmlChecks()``).
    """

    key: str
    severity: str
    location: str
    bad: Mutation
    good: Mutation
    also: frozenset[str] = field(default_factory=frozenset)
    name: str = ""
    bug: str | None = None  # why the broken tree is not reported (a known defect)

    @property
    def id(self) -> str:
        return self.key + (f"-{self.name}" if self.name else "")


def case(key: str, severity: str, location: str, bad: Mutation, good: Mutation, *,
         also: tuple[str, ...] = (), name: str = "", bug: str | None = None) -> Case:
    return Case(key, severity, location, bad, good, frozenset(also), name, bug)






IS = "ImagingSelection"

CASES: tuple[Case, ...] = (
    # DomainResource, on the resource (contained ones: the container's constraints)
    case("dom-2", "error", IS,
         containing(selection("a", contained=[selection("b")], focus=[{"reference": "#b"}]),
                    refs=("#a",)),
         containing(selection("a"), refs=("#a",)),
         # #b is not among the contained resources of the root resource
         also=("ref-1", "reference-target")),
    case("dom-3", "error", IS, containing(selection("a")),
         containing(selection("a"), refs=("#a",))),
    case("dom-4", "error", IS,
         containing(selection("a", meta={"versionId": "2"}), refs=("#a",)),
         containing(selection("a", meta={"source": "urn:uuid:1"}), refs=("#a",)),
         name="versionId"),
    case("dom-4", "error", IS,
         containing(selection("a", meta={"lastUpdated": "2024-01-01T00:00:00Z"}), refs=("#a",)),
         containing(selection("a", meta={"source": "urn:uuid:1"}), refs=("#a",)),
         name="lastUpdated"),
    case("dom-5", "error", IS,
         containing(selection("a", meta={"security": [
             {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
              "code": "R"}]}), refs=("#a",)),
         containing(selection("a", meta={"tag": [{"system": X, "code": "t"}]}), refs=("#a",))),
    case("dom-6", "warning", IS, removing("text"), lambda tree: None),
    # Extension, Reference, Coding, Identifier: elements of ImagingSelection
    case("ext-1", "error", "ImagingSelection.extension[0]",
         setting(extension=[{"url": X, "valueString": "v",
                              "extension": [{"url": "y", "valueString": "w"}]}]),
         setting(extension=[{"url": X, "extension": [{"url": "y", "valueString": "w"}]}])),
    case("ref-1", "error", "ImagingSelection.focus[1]",
         containing(selection("a"), refs=("#a", "#missing")),
         containing(selection("a"), refs=("#a", "#a")),
         also=("reference-target",)),  # the walk's own check of #id references
    case("ref-2", "error", "ImagingSelection.focus[0]",
         setting(focus=[{"type": "ImagingSelection"}]),
         setting(focus=[{"type": "ImagingSelection", "display": "the key images"}])),
    case("cod-1", "warning", "ImagingSelection.code.coding[0]",
         setting(code={"coding": [{"system": X, "display": "Key images"}]}),
         setting(code={"coding": [{"system": X, "code": "k", "display": "Key images"}]})),
    case("ident-1", "warning", "ImagingSelection.identifier[0]",
         setting(identifier=[{"system": "urn:dicom:uid"}]),
         setting(identifier=[{"system": "urn:dicom:uid", "value": "urn:oid:1.2.3"}])),
    # Narrative.div
    case("txt-1", "error", "ImagingSelection.text.div",
         narrative(div('<p>Key images</p><script>alert(1)</script>')),
         narrative(div("<p>Key images</p>")),
         also=("txt-2",)),
    case("txt-2", "error", "ImagingSelection.text.div",
         narrative(div("  <p> </p> ")), narrative(div("<p>Key images</p>")),
         also=("txt-1",)),
    # datatypes through extension[0].value[x]
    case("per-1", "error", at_value("Period"),
         value("Period", {"start": "2024-02-01", "end": "2024-01-01"}),
         value("Period", {"start": "2024-01-01", "end": "2024-01-01T10:00:00Z"})),
    case("per-1", "error", at_value("Period"),
         value("Period", {"start": "2024-01-01T10:00:00Z", "end": "2024-01-01T10:00:00+01:00"}),
         value("Period", {"start": "2024-01-01T10:00:00+02:00", "end": "2024-01-01T09:00:00Z"}),
         name="zones"),
    case("att-1", "error", at_value("Attachment"),
         value("Attachment", {"data": "aGVsbG8="}),
         value("Attachment", {"data": "aGVsbG8=", "contentType": "text/plain"})),
    case("qty-3", "error", at_value("Quantity"),
         value("Quantity", {"value": 1, "code": "mg"}), value("Quantity", QTY)),
    case("age-1", "error", at_value("Age"),
         value("Age", {"value": -1, "unit": "a", "system": UCUM, "code": "a"}),
         value("Age", {"value": 1, "unit": "a", "system": UCUM, "code": "a"})),
    case("cnt-3", "error", at_value("Count"),
         value("Count", {"value": 1.5, "system": UCUM, "code": "1"}),
         value("Count", {"value": 2, "system": UCUM, "code": "1"})),
    case("dis-1", "error", at_value("Distance"),
         value("Distance", {"value": 1, "unit": "m"}),
         value("Distance", {"value": 1, "unit": "m", "system": UCUM, "code": "m"})),
    case("drt-1", "error", at_value("Duration"),
         value("Duration", {"value": 1, "system": X, "code": "d"}),
         value("Duration", {"value": 1, "system": UCUM, "code": "d"})),
    case("cpt-2", "error", at_value("ContactPoint"),
         value("ContactPoint", {"value": "555-0100"}),
         value("ContactPoint", {"system": "phone", "value": "555-0100"})),
    case("rng-2", "error", at_value("Range"),
         value("Range", {"low": {"value": 5}, "high": {"value": 1}}),
         value("Range", {"low": {"value": 1}, "high": {"value": 5}})),
    case("rng-2", "error", at_value("Range"),
         value("Range", {"low": {"value": 5, "system": UCUM, "code": "g"},
                         "high": {"value": 1000, "system": UCUM, "code": "mg"}}),
         value("Range", {"low": {"value": 500, "system": UCUM, "code": "mg"},
                         "high": {"value": 1, "system": UCUM, "code": "g"}}),
         name="ucum-units"),  # UCUM converts: 5 g > 1000 mg
    case("rat-1", "error", at_value("Ratio"),
         value("Ratio", {"numerator": {"value": 1}}),
         value("Ratio", {"numerator": {"value": 1}, "denominator": {"value": 2}})),
    case("ratrng-1", "error", at_value("RatioRange"),
         value("RatioRange", {"lowNumerator": {"value": 1}}),
         value("RatioRange", {"lowNumerator": {"value": 1}, "denominator": {"value": 2}})),
    case("ratrng-2", "error", at_value("RatioRange"),
         value("RatioRange", {"lowNumerator": {"value": 5}, "highNumerator": {"value": 1},
                              "denominator": {"value": 2}}),
         value("RatioRange", {"lowNumerator": {"value": 1}, "highNumerator": {"value": 5},
                              "denominator": {"value": 2}})),
    case("sdd-1", "error", at_value("SampledData"),
         value("SampledData", {"origin": {"value": 0}, "interval": 1, "intervalUnit": "s",
                               "offsets": "0 1", "dimensions": 1}),
         value("SampledData", {"origin": {"value": 0}, "interval": 1, "intervalUnit": "s",
                               "dimensions": 1})),
    case("sdd-1", "error", at_value("SampledData"),
         value("SampledData", {"origin": {"value": 0}, "intervalUnit": "s", "dimensions": 1}),
         value("SampledData", {"origin": {"value": 0}, "intervalUnit": "s", "offsets": "0 1",
                               "dimensions": 1}),
         name="neither"),
    case("dos-1", "error", at_value("Dosage"),
         value("Dosage", {"asNeeded": False, "asNeededFor": [{"text": "pain"}]}),
         value("Dosage", {"asNeeded": True, "asNeededFor": [{"text": "pain"}]})),
    case("exp-1", "error", at_value("Expression"),
         value("Expression", {"language": "text/fhirpath", "description": "nothing"}),
         value("Expression", {"language": "text/fhirpath", "expression": "true"})),
    case("exp-2", "error", at_value("Expression"),
         value("Expression", {"name": "123", "language": "text/fhirpath", "expression": "true"}),
         value("Expression", {"name": "first", "language": "text/fhirpath",
                              "expression": "true"})),
    case("trd-1", "error", at_value("TriggerDefinition"),
         trigger(type="data-changed", data=DATA, timingDate="2024-01-01"),
         trigger(type="data-changed", data=DATA)),
    case("trd-2", "error", at_value("TriggerDefinition"),
         trigger(type="named-event", name="admit", condition=CONDITION),
         trigger(type="data-changed", data=DATA, condition=CONDITION)),
    case("trd-3", "error", at_value("TriggerDefinition"),
         trigger(type="named-event"), trigger(type="named-event", name="admit"),
         name="named"),
    case("trd-3", "error", at_value("TriggerDefinition"),
         trigger(type="periodic"), trigger(type="periodic", timingDate="2024-01-01"),
         name="periodic"),
    case("trd-3", "error", at_value("TriggerDefinition"),
         trigger(type="data-added"), trigger(type="data-added", data=DATA),
         name="data"),
    case("drq-1", "error", at_value("DataRequirement", ".codeFilter[0]"),
         value("DataRequirement", {"type": "Patient",
                                   "codeFilter": [{"path": "code", "searchParam": "code"}]}),
         value("DataRequirement", {"type": "Patient", "codeFilter": [{"path": "code"}]})),
    case("drq-2", "error", at_value("DataRequirement", ".dateFilter[0]"),
         value("DataRequirement", {"type": "Patient",
                                   "dateFilter": [{"path": "date", "searchParam": "date"}]}),
         value("DataRequirement", {"type": "Patient", "dateFilter": [{"searchParam": "date"}]})),
    case("av-1", "error", at_value("Availability", ".availableTime[0]"),
         value("Availability", {"availableTime": [{"allDay": True,
                                                   "availableStartTime": "08:00:00"}]}),
         value("Availability", {"availableTime": [{"allDay": False,
                                                   "availableStartTime": "08:00:00"}]})),
    case("tim-1", "error", at_value("Timing", ".repeat"),
         timing(duration=1), timing(duration=1, durationUnit="h")),
    case("tim-2", "error", at_value("Timing", ".repeat"),
         timing(period=1), timing(period=1, periodUnit="d")),
    case("tim-4", "error", at_value("Timing", ".repeat"),
         timing(duration=-1, durationUnit="h"), timing(duration=0, durationUnit="h")),
    case("tim-5", "error", at_value("Timing", ".repeat"),
         timing(period=-1, periodUnit="d"), timing(period=0, periodUnit="d")),
    case("tim-6", "error", at_value("Timing", ".repeat"),
         timing(periodMax=2, periodUnit="d"), timing(period=1, periodMax=2, periodUnit="d")),
    case("tim-7", "error", at_value("Timing", ".repeat"),
         timing(durationMax=2, durationUnit="h"),
         timing(duration=1, durationMax=2, durationUnit="h")),
    case("tim-8", "error", at_value("Timing", ".repeat"),
         timing(countMax=2), timing(count=1, countMax=2)),
    case("tim-9", "error", at_value("Timing", ".repeat"),
         timing(offset=30), timing(when=["ACM"], offset=30), name="no-when"),
    case("tim-9", "error", at_value("Timing", ".repeat"),
         timing(when=["CM"], offset=30), timing(when=["ACM"], offset=30), name="meal"),
    case("tim-10", "error", at_value("Timing", ".repeat"),
         timing(timeOfDay=["08:00:00"], when=["MORN"]), timing(timeOfDay=["08:00:00"])),
)


def _marked(c: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=c.bug)] if c.bug else []
    return pytest.param(c, id=c.id, marks=marks)


@pytest.mark.parametrize("c", [_marked(c) for c in CASES])
def test_broken_constraint_is_reported_at_its_element(c: Case) -> None:
    text = json.dumps(mutated(c.bad), indent=1)
    issues = validate(text).issues
    found = [i for i in issues if i.rule == c.key]
    assert any(i.expression == c.location and i.severity == c.severity for i in found), (
        f"expected {c.severity} {c.key} at {c.location}; got {shown(issues)}"
    )
    hits = [i for i in found if i.expression == c.location]
    assert len(hits) == 1, shown(hits)  # evaluated once (not per ancestor type's group too)
    assert hits[0].code == "invariant"
    assert hits[0].message.startswith(f"Constraint failed: {c.key}: '")
    assert hits[0].line is not None and hits[0].line <= text.count("\n") + 1
    others = [i for i in problems(issues) if i.rule not in c.also | {c.key}]
    assert not others, f"the mutation breaks more than {c.key}: {shown(others)}"


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_kept_constraint_gives_no_issue(c: Case) -> None:
    issues = validate(mutated(c.good)).issues
    assert not [i for i in issues if i.rule == c.key], shown(issues)
    assert not problems(issues), shown(problems(issues))


def test_every_key_has_a_case() -> None:
    """A new invariant in the definitions (or one the generator stops evaluating) fails here
    until the table has a case for it."""
    assert generated_keys() == {c.key for c in CASES}


@cache
def model() -> Model:
    """The IR of the package's targets, from the project's definitions."""
    return build_model(load_index([DEFINITIONS]), ["ImagingSelection"])


def test_every_constraint_of_the_model_is_evaluated() -> None:
    """Each constraint of the closure is in the generated groups, but ele-1 (the walk's)."""
    keys: set[str] = set()
    for type_def in model().types:
        if type_def.is_primitive:
            continue
        for owner in type_def.all_types():
            keys.update(c.key for c in owner.constraints if c.expression)
            for element in owner.elements:
                keys.update(c.key for c in element.constraints if c.expression)
    assert keys - {"ele-1"} == generated_keys()


# ----------------------------------------------------------------------- ele-1 differential


def load(key: str, expression: str, context: str,
         value_sets: dict[str, ValueSet] | None = None) -> Callable[..., bool | None]:
    """A constraint compiled against the package's model, loaded as a function (tests only:
    generated code imports its invariants)."""
    compiled = compile_constraint(key, expression, context, model())
    namespace: dict[str, Any] = {"fp": fp, "VALUE_SETS": value_sets or {}}
    exec(compile(compiled.source, f"<{compiled.name}>", "exec"), namespace)  # noqa: S102
    return namespace[compiled.name]  # type: ignore[no-any-return]


@cache
def ele_1() -> Callable[..., bool | None]:
    return load("ele-1", ELE_1[1], "Element")


def test_ele_1_of_the_definitions_is_the_one_the_walk_enforces() -> None:
    """The walk stands in for ele-1 only while its expression is the one it was written for."""
    found: set[str] = set()
    for type_def in model().types:
        for owner in type_def.all_types():
            for element in owner.elements:
                found.update(" ".join((c.expression or "").split())
                             for c in element.constraints if c.key == "ele-1")
    assert found == {ELE_1[1]}


def _choice(node: fp.Node, key: str) -> tuple[str, str] | None:
    """(element, type) when *key* is the JSON name of a choice element (``valuePeriod``)."""
    table = node.table
    if table is None or node.path is None or f"{node.path}.{key}" in table.elements:
        return None
    for end in range(len(key) - 1, 0, -1):
        entry = table.elements.get(f"{node.path}.{key[:end]}")
        if key[end].isupper() and entry is not None and entry[0] == "*":
            suffix = key[end:]
            primitive = suffix[0].lower() + suffix[1:]
            return key[:end], primitive if primitive in fp.PRIMITIVES else suffix
    return None


def elements(node: fp.Node, location: str) -> Iterator[tuple[fp.Node, str]]:
    """Every element below *node*, with its location written as the walk writes it (resources
    are not elements: a contained resource is only descended into)."""
    source = node.data if isinstance(node.data, dict) else node.ext or {}
    seen: set[str] = set()
    for key in source:
        name = key.removeprefix("_")
        if name == "resourceType" or name in seen:
            continue
        seen.add(name)
        choice = _choice(node, name)
        here = f"{location}.{choice[0]}.ofType({choice[1]})" if choice else f"{location}.{name}"
        array = isinstance(source.get(name), list) or isinstance(source.get("_" + name), list)
        kids = fp.child([node], choice[0] if choice else name)
        for i, kid in enumerate(kids):
            where = f"{here}[{i}]" if array else here
            if not (isinstance(kid.data, dict) and "resourceType" in kid.data):
                yield kid, where
            yield from elements(kid, where)


def compiled_ele_1_failures(tree: Tree) -> set[str]:
    root = fp.Node.resource(tree, generated.TYPES)
    return {where for node, where in elements(root, tree["resourceType"])
            if ele_1()(node, root, root) is not True}


def walk_ele_1(issues: list[Issue]) -> tuple[set[str], set[str], set[str]]:
    """Where the walk reports ele-1, an empty object, an empty array."""
    shape = [i for i in issues if i.rule == "json-shape"]
    return (
        {i.expression for i in issues if i.rule == "ele-1"},
        {i.expression for i in shape if "empty objects are not allowed" in i.message},
        {i.expression for i in shape if i.message.startswith("Array cannot be empty")},
    )


EMPTY_ELEMENTS: tuple[Any, ...] = (
    ("unmutated", lambda tree: None, set()),
    ("empty-object", setting(identifier=[{}]), {"ImagingSelection.identifier[0]"}),
    ("id-only", setting(code={"id": "c"}), {"ImagingSelection.code"}),
    ("id-only-in-array", setting(derivedFrom=[{"id": "d"}]),
     {"ImagingSelection.derivedFrom[0]"}),
    ("id-only-backbone", _set_in(("instance", 0), {"id": "i"}),
     {"ImagingSelection.instance[0]"}),
    ("id-only-narrative", setting(text={"id": "t"}), {"ImagingSelection.text"}),
    ("id-only-meta", setting(meta={"id": "m"}), {"ImagingSelection.meta"}),
    ("primitive-id-only", _both(removing("studyUid"), setting(_studyUid={"id": "s"})),
     {"ImagingSelection.studyUid"}),
    ("primitive-value-and-id", setting(_studyUid={"id": "s"}), set()),
    ("primitive-empty-twin", _both(removing("studyUid"), setting(_studyUid={})),
     {"ImagingSelection.studyUid"}),
    ("primitive-twin-empty-array", _both(removing("studyUid"),
                                         setting(_studyUid={"extension": []})),
     {"ImagingSelection.studyUid"}),
    ("primitive-array-item", _both(_set_in(("instance", 0, "subset"), ["1", None]),
                                   _set_in(("instance", 0, "_subset"), [None, {"id": "q"}])),
     {"ImagingSelection.instance[0].subset[1]"}),
    ("empty-array", setting(code={"coding": []}), {"ImagingSelection.code"}),
    ("id-and-empty-array", setting(code={"id": "c", "extension": []}),
     {"ImagingSelection.code"}),
    ("empty-array-beside-content", setting(code={"text": "Key images", "coding": []}), set()),
    ("choice-value", setting(extension=[{"url": X, "valuePeriod": {"id": "p"}}]),
     {"ImagingSelection.extension[0].value.ofType(Period)"}),
    # a choice element whose primitive value has only its `_` twin is found by child() too
    ("choice-twin-id-only", setting(extension=[{"url": X, "_valueString": {"id": "s"}}]),
     {"ImagingSelection.extension[0].value.ofType(string)"}),
    ("nested-extension", setting(extension=[{"url": X, "extension": [{"id": "e"}]}]),
     {"ImagingSelection.extension[0].extension[0]"}),
    ("primitive-extension-value",
     setting(_studyUid={"extension": [{"url": X, "valueCoding": {"id": "v"}}]}),
     {"ImagingSelection.studyUid.extension[0].value.ofType(Coding)"}),
    ("contained", containing(selection("a", code={"id": "z"}), refs=("#a",)),
     {"ImagingSelection.contained[0].code"}),
    ("several", _both(setting(identifier=[{"system": "urn:x", "value": "1"}, {"id": "j"}]),
                      _set_in(("instance", 0, "sopClass"), {})),
     {"ImagingSelection.identifier[1]", "ImagingSelection.instance[0].sopClass"}),
)


def _named(rows: tuple[Any, ...]) -> list[Any]:
    """Rows as pytest params with their name as id (rows already params are kept)."""
    return [row if hasattr(row, "marks") else pytest.param(*row, id=row[0]) for row in rows]


@pytest.mark.parametrize(("name", "mutation", "expected"), _named(EMPTY_ELEMENTS))
def test_walk_reports_ele_1_where_the_compiled_ele_1_fails(
        name: str, mutation: Mutation, expected: set[str]) -> None:
    tree = mutated(mutation)
    failing = compiled_ele_1_failures(tree)
    assert failing == expected, "the mutation does not empty the element it means to"
    ele1, empty_objects, empty_arrays = walk_ele_1(validate(tree).issues)
    assert ele1 | empty_objects <= failing, "the walk reports ele-1 where it holds"
    for where in failing:
        inside = {a for a in empty_arrays if a.startswith(where + ".")}
        assert where in ele1 | empty_objects or inside, f"ele-1 fails at {where}: not reported"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("ImagingSelection-*.json")))
def test_official_examples_hold_ele_1_everywhere(name: str) -> None:
    tree = example(name)
    assert len(list(elements(fp.Node.resource(tree, generated.TYPES), "ImagingSelection"))) > 20
    assert compiled_ele_1_failures(tree) == set()
    assert walk_ele_1(validate(tree).issues) == (set(), set(), set())


# --------------------------------------------------- %resource, %rootResource and contained

CONTEXT_RULES = frozenset({"dom-2", "dom-3", "dom-4", "dom-5", "ref-1"})
SECURITY = [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]

CONTEXT: tuple[tuple[str, Mutation, set[tuple[str, str]]], ...] = (
    ("not-referenced", containing(selection("a")), {("dom-3", IS)}),
    ("one-of-two-not-referenced", containing(selection("a"), selection("b"), refs=("#b",)),
     {("dom-3", IS)}),
    ("referenced", containing(selection("a"), refs=("#a",)), set()),
    ("referenced-by-a-sibling",
     containing(selection("a", focus=[{"reference": "#b"}]), selection("b"), refs=("#a",)),
     set()),
    ("referenced-by-canonical",
     _both(containing(selection("a")), setting(extension=[{"url": X, "valueCanonical": "#a"}])),
     set()),
    ("referenced-by-uri",
     _both(containing(selection("a")), setting(extension=[{"url": X, "valueUri": "#a"}])),
     set()),
    ("referenced-by-text-only",  # a string is not a reference
     _both(containing(selection("a")), setting(extension=[{"url": X, "valueString": "#a"}])),
     {("dom-3", IS)}),
    ("refers-to-its-container",  # '#' inside a contained resource: %rootResource != %resource
     containing(selection("a", focus=[{"reference": "#"}])), set()),
    ("hash-at-the-root",  # '#' in the container itself: %rootResource = %resource
     setting(focus=[{"reference": "#"}]), {("ref-1", "ImagingSelection.focus[0]")}),
    ("missing", containing(selection("a"), refs=("#a", "#missing")),
     {("ref-1", "ImagingSelection.focus[1]")}),
    ("missing-from-contained",
     containing(selection("a", focus=[{"reference": "#nowhere"}]), refs=("#a",)),
     {("ref-1", "ImagingSelection.contained[0].focus[0]")}),
    ("nested", containing(selection("a", contained=[selection("b")],
                                    focus=[{"reference": "#b"}]), refs=("#a",)),
     # b is contained in a, not in the root resource: a's reference to it fails ref-1
     {("dom-2", IS), ("ref-1", "ImagingSelection.contained[0].focus[0]")}),
    ("nested-not-referenced",
     containing(selection("a", contained=[selection("b")]), refs=("#a",)),
     {("dom-2", IS), ("dom-3", "ImagingSelection.contained[0]")}),
    ("contained-versionId", containing(selection("a", meta={"versionId": "1"}), refs=("#a",)),
     {("dom-4", IS)}),
    ("contained-lastUpdated",
     containing(selection("a", meta={"lastUpdated": "2024-01-01T00:00:00Z"}), refs=("#a",)),
     {("dom-4", IS)}),
    ("contained-security", containing(selection("a", meta={"security": SECURITY}), refs=("#a",)),
     {("dom-5", IS)}),
    ("root-versionId-and-security",  # dom-4 and dom-5 are about contained resources only
     setting(meta={"versionId": "3", "lastUpdated": "2024-01-01T00:00:00Z",
                   "security": SECURITY}), set()),
)


@pytest.mark.parametrize(("name", "mutation", "expected"), CONTEXT,
                         ids=[name for name, _m, _e in CONTEXT])
def test_resource_context_of_invariants(name: str, mutation: Mutation,
                                        expected: set[tuple[str, str]]) -> None:
    issues = validate(mutated(mutation)).issues
    found = {(i.rule, i.expression) for i in issues if i.rule in CONTEXT_RULES}
    assert found == expected, shown(issues)
    assert all(i.severity == "error" for i in issues if i.rule in CONTEXT_RULES)


# ---------------------------------------------------------------- undecidable offline: info


def test_no_generated_invariant_needs_resolve_or_member_of() -> None:
    """Why the undecidable cases below use hand-compiled constraints: the closure has none."""
    checks = [check for group in vars(generated).values() if isinstance(group, Invariants)
              for check in group.checks]
    assert checks and not any(check.uses_resolve for check in checks)
    assert not getattr(generated, "VALUE_SETS", None)


def group(key: str, expression: str, context: str,
          value_sets: dict[str, ValueSet] | None = None) -> Invariants:
    """One constraint as the generator turns it into an ``Invariants`` group
    (``fhirgen.invariant_views``: the compiled function and its ``uses_resolve`` flag)."""
    compiled = compile_constraint(key, expression, context, model(), severity="error",
                                  human="test constraint")
    check = Invariant(load(key, expression, context, value_sets), key, "error", "test constraint",
                      uses_resolve=compiled.uses_resolve)
    return Invariants(context, context, generated.TYPES, (check,))


FOCUS = (("ImagingSelection", "focus"), 0)


def check_focus(invariants: Invariants, reference: Tree, *contained: Tree) -> IssueList:
    """Evaluate *invariants* on ``focus[0]`` of a resource holding *reference* (and *contained*),
    with the resource on the walk's stack (``%resource``, ``resolve()`` of ``#id``)."""
    tree = example()
    tree["focus"] = [reference]
    if contained:
        tree["contained"] = list(contained)
    out = IssueList()
    out.resources.append((tree, False))
    invariants.check(tree["focus"][0], FOCUS, out)
    return out


RESOLVES = ("x-1", "reference.resolve().exists()", "Reference")


@pytest.mark.parametrize("reference", ["http://example.org/fhir/Patient/1", "Patient/1",
                                       "urn:uuid:9d9a5b9e-7f0d-4b8a-9d5e-2f1f0b1c3a4d"])
def test_resolve_of_an_external_reference_is_information(reference: str) -> None:
    out = check_focus(group(*RESOLVES), {"reference": reference})
    assert [(i.severity, i.code, i.rule, i.expression) for i in out] == [
        ("information", "informational", "x-1", "ImagingSelection.focus[0]")]
    assert "could not be decided offline" in out[0].message and reference in out[0].message


def test_resolve_of_a_contained_reference_is_decided() -> None:
    invariants = group(*RESOLVES)
    assert list(check_focus(invariants, {"reference": "#a"}, selection("a"))) == []
    out = check_focus(invariants, {"reference": "#b"}, selection("a"))
    assert [(i.severity, i.code, i.rule, i.expression) for i in out] == [
        ("error", "invariant", "x-1", "ImagingSelection.focus[0]")]
    assert out[0].message.startswith("Constraint failed: x-1: 'test constraint'")


def test_resolve_undecided_for_one_reference_does_not_leak_to_the_next_check() -> None:
    """UNRESOLVED is cleared per invariant: a later failing check is an error again."""
    invariants = group(*RESOLVES)
    check_focus(invariants, {"reference": "http://example.org/fhir/Patient/1"})
    out = check_focus(invariants, {"reference": "#b"}, selection("a"))
    assert [i.severity for i in out] == ["error"]




VS = "http://example.org/ValueSet/kinds"
MEMBER_OF = ("x-2", f"memberOf('{VS}')", "Coding")
CODING_AT = (("ImagingSelection", "code"), "coding")


def check_coding(invariants: Invariants, coding: Tree) -> IssueList:
    out = IssueList()
    invariants.check(coding, CODING_AT, out)
    return out


@pytest.mark.parametrize("value_sets", [{}, {VS: ValueSet(VS, None)}],
                         ids=["unknown", "without-expansion"])
def test_member_of_without_expansion_is_information(value_sets: dict[str, ValueSet]) -> None:
    """memberOf() of a value set the package has no expansion of cannot be decided offline."""
    out = check_coding(group(*MEMBER_OF, value_sets), {"system": X, "code": "k"})
    assert [(i.severity, i.code, i.rule, i.expression) for i in out] == [
        ("information", "informational", "x-2", "ImagingSelection.code.coding")]
    assert "could not be decided offline" in out[0].message and VS in out[0].message


def test_member_of_an_expanded_value_set_is_decided() -> None:
    invariants = group(*MEMBER_OF, {VS: ValueSet(VS, [(X, "k")])})
    assert list(check_coding(invariants, {"system": X, "code": "k"})) == []
    out = check_coding(invariants, {"system": X, "code": "other"})
    assert [(i.severity, i.rule) for i in out] == [("error", "x-2")]


# ---------------------------------------------------------------------------- narrative

DIV = "ImagingSelection.text.div"

NARRATIVES: tuple[tuple[str, str, str], ...] = (
    ("script", div("<p>Key images</p><script>alert(1)</script>"),
     "element 'script' is not allowed in narrative"),
    ("form", div('<form action="x"><p>Key images</p></form>'),
     "element 'form' is not allowed in narrative"),
    ("onclick", div('<p onclick="alert(1)">Key images</p>'),
     "event attribute 'onclick' is not allowed"),
    ("unknown-attribute", div('<p data-x="1">Key images</p>'),
     "attribute 'data-x' is not allowed on 'p'"),
    ("nested-p", div("<p>Key <p>images</p></p>"), "element 'p' is not allowed inside a paragraph"),
    ("div-in-p", div("<p>Key <div>images</div></p>"),
     "element 'div' is not allowed inside a paragraph"),
    ("url-brace", div('<p><a href="http://example.org/{id}">Key images</a></p>'),
     "holds invalid characters '{', '}'"),
    ("url-space", div('<p><a href="http://example.org/a b">Key images</a></p>'),
     "holds invalid characters ' '"),
    ("javascript-link", div('<p><a href="javascript:alert(1)">Key images</a></p>'),
     "attribute 'href' of 'a' holds an unsafe link"),
    ("not-xhtml-namespace", "<div><p>Key images</p></div>",
     "the narrative root must be a div in the XHTML namespace"),
    ("root-not-div", '<p xmlns="http://www.w3.org/1999/xhtml">Key images</p>',
     "the narrative root must be a div in the XHTML namespace"),
    ("not-well-formed", div("<p>Key images"), "the narrative is not well-formed XHTML"),
    ("doctype", '<!DOCTYPE div><div xmlns="http://www.w3.org/1999/xhtml">Key images</div>',
     "must not have a DOCTYPE"),
)


def _div_issues(text: str) -> list[Issue]:
    return validate(mutated(narrative(text))).issues


@pytest.mark.parametrize(("name", "text", "problem"), NARRATIVES,
                         ids=[name for name, _t, _p in NARRATIVES])
def test_txt_1_names_the_problem(name: str, text: str, problem: str) -> None:
    issues = _div_issues(text)
    txt1 = [i for i in issues if i.rule == "txt-1"]
    assert [(i.severity, i.expression) for i in txt1] == [("error", DIV)], shown(issues)
    assert problem in txt1[0].message, txt1[0].message
    assert "non-whitespace content" not in txt1[0].message  # each has some text


@pytest.mark.parametrize("body", ["", "   ", "<p> </p>", "<p><b>\n</b></p>", "<br/>"])
def test_txt_2_empty_narrative(body: str) -> None:
    issues = _div_issues(div(body))
    txt2 = [i for i in issues if i.rule == "txt-2"]
    assert [(i.severity, i.expression) for i in txt2] == [("error", DIV)], shown(issues)
    assert "the narrative must have some non-whitespace content" in txt2[0].message


@pytest.mark.parametrize("body", [
    "Key images",
    '<img src="http://example.org/key.png" alt=""/>',  # an image is content
    '<p>Key <a href="http://example.org/images?study=1&amp;series=2">images</a></p>',
    '<p xml:lang="en" lang="en" class="c" style="color: red" title="t">Key images</p>',
    "<table><tr><td>Key</td><td>images</td></tr></table>",
    "<ul><li>Key images</li></ul>",
])
def test_narrative_within_the_rules_passes(body: str) -> None:
    issues = _div_issues(div(body))
    assert not [i for i in issues if i.rule in ("txt-1", "txt-2")], shown(issues)


def test_several_narrative_problems_are_all_named() -> None:
    issues = _div_issues(div('<p onclick="x">Key <p>images</p><script>1</script></p>'))
    message = next(i.message for i in issues if i.rule == "txt-1")
    for problem in ("event attribute 'onclick'", "element 'script' is not allowed",
                    "not allowed inside a paragraph"):
        assert problem in message, message


# -------------------------------------------------------------------------------- FHIR XML


def xml_issues(tree: Tree) -> list[Issue]:
    """The tree written as FHIR XML (in the definitions' element order) and validated as XML."""
    return validate_xml(write_resource_xml(tree, XML_SCHEMA)).issues


@pytest.mark.parametrize("c", [_marked(c) for c in CASES])
def test_broken_constraint_is_reported_in_xml(c: Case) -> None:
    issues = xml_issues(mutated(c.bad))
    assert any(i.rule == c.key and i.expression == c.location and i.severity == c.severity
               for i in issues), f"expected {c.severity} {c.key} at {c.location}; {shown(issues)}"
    located = [i for i in issues if i.rule == c.key and i.expression == c.location]
    assert all(i.line is not None for i in located)
    others = [i for i in problems(issues) if i.rule not in c.also | {c.key}]
    assert not others, shown(others)


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_kept_constraint_gives_no_issue_in_xml(c: Case) -> None:
    issues = xml_issues(mutated(c.good))
    assert not problems(issues), shown(problems(issues))


def test_expression_that_cannot_be_evaluated_is_an_error_naming_the_key() -> None:
    """A function given several items where it takes one (``startsWith`` on two codes)."""
    invariants = group("x-3", "coding.code.startsWith('a')", "CodeableConcept")
    out = IssueList()
    node = {"coding": [{"system": X, "code": "a1"}, {"system": X, "code": "a2"}]}
    invariants.check(node, ("ImagingSelection", "code"), out)
    assert [(i.severity, i.code, i.rule, i.expression) for i in out] == [
        ("error", "invariant", "x-3", "ImagingSelection.code")]
    assert out[0].message.startswith("Problem evaluating x-3 on this content: ")
    out = IssueList()
    invariants.check({"coding": [{"system": X, "code": "a1"}]}, ("ImagingSelection", "code"), out)
    assert list(out) == []


# ------------------------------------------------------- the same constraints, deeper inside

BAD_PERIOD = {"start": "2024-02-01", "end": "2024-01-01"}
BAD_EXTENSION = {"url": X, "valueString": "v", "extension": [{"url": "y", "valueString": "w"}]}
DOSAGE = at_value("Dosage")

ABSENT = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                        "valueCode": "unknown"}]}

NESTED: tuple[Any, ...] = (
    ("modifierExtension", _set_in(("instance", 0, "modifierExtension"), [BAD_EXTENSION]),
     {("ext-1", "error", "ImagingSelection.instance[0].modifierExtension[0]")}),
    ("value-with-only-extensions", setting(extension=[{"url": X, "valueCode": "a",
                                                       "_valueCode": ABSENT}]), set()),
    ("value-with-only-extensions-no-value",  # valid: ext-1 holds, the value exists
     setting(extension=[{"url": X, "_valueCode": ABSENT}]), set()),
    ("extension-of-a-primitive", setting(_studyUid={"extension": [BAD_EXTENSION]}),
     {("ext-1", "error", "ImagingSelection.studyUid.extension[0]")}),
    ("value-of-a-primitive-extension",
     setting(_studyUid={"extension": [{"url": X, "valuePeriod": BAD_PERIOD}]}),
     {("per-1", "error", "ImagingSelection.studyUid.extension[0].value.ofType(Period)")}),
    ("extension-in-extension",
     setting(extension=[{"url": X, "extension": [{"url": "y", "valuePeriod": BAD_PERIOD}]}]),
     {("per-1", "error", "ImagingSelection.extension[0].extension[0].value.ofType(Period)")}),
    ("contained-narrative",
     containing(selection("a", text={"status": "generated", "div": div("<p>x</p><script/>")}),
                refs=("#a",)),
     {("txt-1", "error", "ImagingSelection.contained[0].text.div"),
      ("txt-2", "error", "ImagingSelection.contained[0].text.div")}),
    ("meta-tag", setting(meta={"tag": [{"display": "x"}]}),
     {("cod-1", "warning", "ImagingSelection.meta.tag[0]")}),
    ("reference-identifier", setting(subject={"identifier": {"system": "urn:x"}}),
     {("ident-1", "warning", "ImagingSelection.subject.identifier")}),
    ("identifier-period",
     setting(identifier=[{"system": "urn:x", "value": "1"},
                         {"system": "urn:x", "value": "2", "period": BAD_PERIOD}]),
     {("per-1", "error", "ImagingSelection.identifier[1].period")}),
    ("backbone-reference", setting(performer=[{"actor": {"type": "Patient"}}]),
     {("ref-2", "error", "ImagingSelection.performer[0].actor")}),
    ("second-item",
     value("Availability", {"availableTime": [{"allDay": False},
                                              {"allDay": True, "availableEndTime": "10:00:00"}]}),
     {("av-1", "error", at_value("Availability", ".availableTime[1]"))}),
    ("dosage-timing", value("Dosage", {"timing": {"repeat": {"duration": 1}}}),
     {("tim-1", "error", f"{DOSAGE}.timing.repeat")}),
    ("choice-in-backbone",
     value("Dosage", {"doseAndRate": [{"doseRange": {"low": {"value": 5}, "high": {"value": 1}},
                                       "rateRatio": {"numerator": {"value": 5}}}]}),
     {("rng-2", "error", f"{DOSAGE}.doseAndRate[0].dose.ofType(Range)"),
      ("rat-1", "error", f"{DOSAGE}.doseAndRate[0].rate.ofType(Ratio)")}),
    ("backbone-of-a-datatype-in-a-datatype",
     value("TriggerDefinition", {"type": "data-added", "data": [
         {"type": "Patient", "codeFilter": [{"path": "a", "searchParam": "b"}],
          "dateFilter": [{"path": "x", "valuePeriod": BAD_PERIOD}]}]}),
     {("drq-1", "error", at_value("TriggerDefinition", ".data[0].codeFilter[0]")),
      ("per-1", "error",
       at_value("TriggerDefinition", ".data[0].dateFilter[0].value.ofType(Period)"))}),
    ("several-datatypes",
     value("ExtendedContactDetail", {"telecom": [{"value": "555"}], "period": BAD_PERIOD}),
     {("cpt-2", "error", at_value("ExtendedContactDetail", ".telecom[0]")),
      ("per-1", "error", at_value("ExtendedContactDetail", ".period"))}),
    ("reference-choice", value("Annotation", {"text": "x", "authorReference": {"type": "Patient"}}),
     {("ref-2", "error", at_value("Annotation", ".author.ofType(Reference)"))}),
    ("attachment-in-related-artifact",
     value("RelatedArtifact", {"type": "citation", "document": {"data": "aGk="}}),
     {("att-1", "error", at_value("RelatedArtifact", ".document"))}),
    ("simple-quantity", value("SampledData", {"origin": {"value": 0, "code": "mg"}, "interval": 1,
                                              "intervalUnit": "s", "dimensions": 1}),
     {("qty-3", "error", at_value("SampledData", ".origin"))}),
)


@pytest.mark.parametrize("xml", [False, True], ids=["json", "xml"])
@pytest.mark.parametrize(("name", "mutation", "expected"), _named(NESTED))
def test_constraints_deep_inside(name: str, mutation: Mutation,
                                 expected: set[tuple[str, str, str]], xml: bool) -> None:
    tree = mutated(mutation)
    issues = xml_issues(tree) if xml else validate(tree).issues
    found = {(i.rule, i.severity, i.expression) for i in issues if i.code == "invariant"}
    assert found == expected, shown(issues)
