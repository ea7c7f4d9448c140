"""The validation runtime: primitive checkers, the helpers generated validators call, outcomes."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from fhirgen.ir import build_model
from fhirgen.loader import load_index
from fhirgen.models.validators import RESOURCE_VALIDATORS, validate
from fhirgen.runtime.issues import ALL_CLEAR, COL_EXT, LINE_EXT, operation_outcome
from fhirgen.runtime.primitives import Primitive, repair_regex
from fhirgen.runtime.validate import json_pointer, parse_json, run

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "definitions/hl7.fhir.r5.examples/ImagingSelection-example-basic-image-selection.json"


@pytest.fixture(scope="module")
def prims() -> dict[str, Primitive]:
    """Checkers built the way the generated code builds them: regexes from the definitions."""
    model = build_model(load_index([ROOT / "definitions"]), ["ImagingSelection"])
    return {
        t.name: Primitive(t.name, t.primitive.json_kind, t.primitive.regex)
        for t in model.types
        if t.primitive is not None
    }


def ok(prim: Primitive, value: object) -> bool:
    return prim.check(value) is None


def example() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"), parse_float=Decimal)


def issues_of(tree_or_text, rule: str | None = None):
    issues = validate(tree_or_text).issues
    return [i for i in issues if rule is None or i.rule == rule]


# ------------------------------------------------------------------------------- primitives


def test_r5_decimal_regex_typo_is_repaired_and_pinned(prims) -> None:
    published = prims["decimal"]
    assert "{1,9}}" not in published.regex
    assert repair_regex("decimal", "-?0([eE][+-]?[0-9]{1,9}})?") == "-?0([eE][+-]?[0-9]{1,9})?"
    assert repair_regex("string", "a{1,9}})?") == "a{1,9}})?"  # only decimal's typo
    for good in (Decimal("1.50"), 0, -3, Decimal("1e5"), Decimal("-0.5")):
        assert ok(published, good), good
    assert not ok(published, Decimal("121233786234234234234234.12323"))


def test_decimal_keeps_its_written_text_for_the_lexical_check() -> None:
    parsed = parse_json('{"a": 1.50, "b": 1e5}')
    assert str(parsed.tree["a"]) == "1.50" and str(parsed.tree["b"]) == "1e5"


@pytest.mark.parametrize(
    ("value", "good"),
    [
        ("2024-02-29", True), ("2023-02-29", False), ("2024-04-31", False), ("2024-13-01", False),
        ("2024-04-30", True), ("2024", True), ("2024-05", True), ("1900-02-29", False),
    ],
)
def test_dates_are_real_calendar_dates(prims, value: str, good: bool) -> None:
    assert ok(prims["date"], value) is good
    assert ok(prims["dateTime"], value) is good


def test_datetime_with_time_needs_a_time_zone(prims) -> None:
    assert ok(prims["dateTime"], "2024-01-02T10:00:00Z")
    assert ok(prims["dateTime"], "2024-01-02T10:00:00-05:00")
    assert not ok(prims["dateTime"], "2024-01-02T10:00:00")


@pytest.mark.parametrize(
    ("value", "good"),
    [
        ("2024-01-02T10:00:00Z", True), ("2024-01-02T10:00:00.123+01:00", True),
        ("2024-01-02T10:00:00", False), ("2024-01-02", False), ("2024-02-30T10:00:00Z", False),
    ],
)
def test_instant_needs_full_time_and_zone(prims, value: str, good: bool) -> None:
    assert ok(prims["instant"], value) is good


def test_id_length_and_characters(prims) -> None:
    assert ok(prims["id"], "a" * 64)
    found = prims["id"].check("a" * 65)
    assert found is not None and "64" in found[1]
    assert not ok(prims["id"], "12123/23")
    assert not ok(prims["id"], ":12123-23")


@pytest.mark.parametrize(
    ("value", "good"),
    [("abc", True), ("a b", True), (" abc", False), ("abc ", False), ("a  b", False),
     ("a\tb", False), ("a\nb", False)],
)
def test_code_whitespace_rules(prims, value: str, good: bool) -> None:
    assert ok(prims["code"], value) is good


def test_string_rules(prims) -> None:
    assert ok(prims["string"], "line one\nline two\ttab")
    assert prims["string"].check("bell\x07")[0] == "warning"
    assert not ok(prims["string"], "")
    assert not ok(prims["string"], "x" * (1024 * 1024 + 1))
    assert prims["string"].check("   ") == ("warning", "value should not be all whitespace")


def test_uri_and_base64(prims) -> None:
    assert ok(prims["uri"], "http://example.org/a")
    assert not ok(prims["uri"], "http://example.org/a b")
    assert ok(prims["base64Binary"], "aGVsbG8=")
    assert not ok(prims["base64Binary"], "aGVs bG8=")
    assert not ok(prims["base64Binary"], "aGVsbG8")


@pytest.mark.parametrize(
    ("name", "value", "good"),
    [
        ("unsignedInt", 0, True), ("unsignedInt", -1, False), ("unsignedInt", 2147483647, True),
        ("unsignedInt", 2147483648, False), ("positiveInt", 0, False), ("positiveInt", 1, True),
        ("integer", -2147483648, True), ("integer", -2147483649, False),
        ("integer", Decimal("1.0"), False), ("integer", True, False), ("decimal", True, False),
        ("boolean", 1, False), ("boolean", "true", False), ("boolean", False, True),
        ("integer64", "9223372036854775807", True), ("integer64", "9223372036854775808", False),
        ("integer64", 12, False), ("string", 12, False),
    ],
)
def test_numbers_ranges_and_json_kinds(prims, name: str, value: object, good: bool) -> None:
    assert ok(prims[name], value) is good


def test_xhtml_must_be_an_xhtml_div(prims) -> None:
    assert ok(prims["xhtml"], '<div xmlns="http://www.w3.org/1999/xhtml">x</div>')
    assert not ok(prims["xhtml"], "<div>x</div>")
    assert not ok(prims["xhtml"], '<div xmlns="http://www.w3.org/1999/xhtml">x')


# ---------------------------------------------------------------------------------- walkers


def test_official_example_has_no_errors_and_outcome_shape() -> None:
    result = validate(EXAMPLE.read_bytes())
    assert result.ok
    outcome = result.outcome()
    assert outcome["resourceType"] == "OperationOutcome"
    for issue in outcome["issue"]:
        assert issue["severity"] == "information"


def test_all_clear_outcome_has_one_information_issue() -> None:
    outcome = operation_outcome([])
    assert outcome["issue"] == [
        {"severity": "information", "code": "informational", "details": {"text": ALL_CLEAR}}
    ]


def test_every_issue_is_collected_with_line_and_column() -> None:
    text = '{\n  "resourceType": "ImagingSelection",\n  "status": "bogus",\n  "foo": 1\n}'
    result = validate(text)
    rules = sorted(i.rule for i in result.issues)
    # dom-6: the compiled DomainResource invariant (no narrative), a best-practice warning
    assert rules == ["binding", "cardinality", "dom-6", "unknown-property"]
    by_rule = {i.rule: i for i in result.issues}
    assert (by_rule["binding"].line, by_rule["binding"].col) == (3, 13)
    assert (by_rule["unknown-property"].line, by_rule["unknown-property"].col) == (4, 3)
    issue = result.outcome()["issue"][0]
    urls = [e["url"] for e in issue["extension"]]
    assert LINE_EXT in urls and COL_EXT in urls


def test_duplicate_keys_are_reported_where_they_are() -> None:
    text = '{"resourceType": "ImagingSelection", "status": "available", "code": {"text": "a", "text": "b"}}'
    found = issues_of(text, "json-duplicate")
    assert [(i.expression, i.key) for i in found] == [("ImagingSelection.code", "text")]


def test_wrong_choice_suffix_is_an_unknown_property() -> None:
    tree = example()
    tree["extension"] = [{"url": "http://example.org/x", "valueBogus": 1, "valueString": "a"}]
    found = issues_of(tree, "unknown-property")
    assert [(i.expression, i.key) for i in found] == [("ImagingSelection.extension[0]", "valueBogus")]
    tree["extension"] = [{"url": "http://example.org/x", "valueInteger": 1, "valueString": "a"}]
    assert [i.expression for i in issues_of(tree, "json-shape")] == ["ImagingSelection.extension[0]"]


def test_choice_type_location_uses_of_type() -> None:
    tree = example()
    tree["extension"] = [{"url": "http://example.org/x", "valueInteger": "1"}]
    found = issues_of(tree, "json-shape")
    assert [i.expression for i in found] == ["ImagingSelection.extension[0].value.ofType(integer)"]
    assert json_pointer(found[0].expression) == "/extension/0/valueInteger"


def test_primitive_extension_objects() -> None:
    tree = example()
    tree["instance"][0]["subset"] = ["a", None]
    tree["instance"][0]["_subset"] = [None, {"extension": [{"url": "http://e.org", "valueString": "b"}]}]
    assert validate(tree).ok
    tree["instance"][0]["_subset"] = [None, None]
    assert [i.expression for i in issues_of(tree) if i.is_error] == [
        "ImagingSelection.instance[0].subset[1]"
    ]
    tree["instance"][0]["_subset"] = [None]
    assert any("line up" in i.message for i in issues_of(tree, "json-shape"))
    tree["instance"][0]["_subset"] = [None, {"foo": 1}]
    assert [i.key for i in issues_of(tree, "unknown-property")] == ["foo"]
    tree = example()
    tree["_status"] = {"id": "s"}  # the element has a value and an id: fine
    assert [i.rule for i in issues_of(tree) if i.is_error] == []
    del tree["status"]  # an id and nothing else: ele-1
    assert [(i.rule, i.expression) for i in issues_of(tree) if i.is_error] == [
        ("ele-1", "ImagingSelection.status")
    ]
    tree = example()
    tree["subject"] = {"id": "s"}  # ele-1, and the Reference's own ref-2 (nothing to point at)
    assert sorted((i.rule, i.expression) for i in issues_of(tree) if i.is_error) == [
        ("ele-1", "ImagingSelection.subject"), ("ref-2", "ImagingSelection.subject")
    ]


def test_empty_things_and_null() -> None:
    tree = example()
    tree["identifier"] = []
    tree["code"] = {}
    tree["studyUid"] = None
    found = {(i.rule, i.expression) for i in issues_of(tree) if i.is_error}
    assert found == {
        ("json-shape", "ImagingSelection.identifier"),
        ("json-shape", "ImagingSelection.code"),
        ("json-shape", "ImagingSelection.studyUid"),
    }


def test_references_to_contained_resources() -> None:
    tree = example()
    tree["contained"] = [{"resourceType": "ImagingSelection", "id": "sel", "status": "available",
                          "code": {"text": "x"}}]
    tree["focus"] = [{"reference": "#sel"}]
    assert validate(tree).ok
    tree["focus"] = [{"reference": "#nope"}]
    assert [i.expression for i in issues_of(tree, "reference-target")] == [
        "ImagingSelection.focus[0].reference"
    ]
    tree["focus"] = [{"reference": "http://example.org/fhir/Patient/1"}]
    assert len(issues_of(tree, "reference-target")) == 1
    tree["focus"] = [{"reference": "ImagingSelection/1/_history/2"}]
    assert issues_of(tree, "reference-target") == []


def test_codeable_reference_targets() -> None:
    tree = example()
    tree["bodySite"] = {"reference": {"reference": "Patient/1"}}
    assert [i.expression for i in issues_of(tree, "reference-target")] == [
        "ImagingSelection.bodySite.reference.reference"
    ]
    tree["bodySite"] = {"reference": {"reference": "BodyStructure/1"}}
    assert issues_of(tree, "reference-target") == []


def test_contained_resource_without_generated_validator_is_a_warning() -> None:
    tree = example()
    tree["contained"] = [{"resourceType": "Patient", "id": "p"}]
    found = issues_of(tree, "unknown-resource")
    assert [(i.severity, i.expression) for i in found] == [("warning", "ImagingSelection.contained[0]")]


def test_bundle_entries_are_validated_when_bundle_is_not_generated() -> None:
    assert "Bundle" not in RESOURCE_VALIDATORS
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": example()}, {"resource": {"resourceType": "ImagingSelection"}}]}
    errors = [i for i in issues_of(bundle) if i.is_error]
    assert {i.expression for i in errors} == {"Bundle.entry[1].resource"}


def test_required_binding_on_coding_and_extensible_warning() -> None:
    tree = example()
    tree["performer"] = [{"function": {"coding": [{"system": "http://example.org", "code": "x"}]}}]
    found = [i for i in issues_of(tree, "binding") if i.severity != "information"]
    assert [(i.severity, i.expression) for i in found] == [
        ("warning", "ImagingSelection.performer[0].function")
    ]
    tree["instance"][0]["imageRegion2D"] = [{"regionType": "bogus", "coordinate": [1, 2]}]
    found = [i for i in issues_of(tree, "binding") if i.is_error]
    assert [i.expression for i in found] == ["ImagingSelection.instance[0].imageRegion2D[0].regionType"]


def test_root_problems() -> None:
    assert [i.severity for i in run("[1]", RESOURCE_VALIDATORS).issues] == ["fatal"]
    assert [i.severity for i in run("{", RESOURCE_VALIDATORS).issues] == ["fatal"]
    assert [i.rule for i in run('{"a": 1}', RESOURCE_VALIDATORS).issues] == ["json-shape"]
    assert [i.rule for i in run('{"resourceType": "Nope"}', RESOURCE_VALIDATORS).issues] == [
        "unknown-resource"
    ]
    assert run(b"\xff", RESOURCE_VALIDATORS).issues[0].rule == "json-syntax"


def test_contained_resources_need_unique_ids() -> None:
    tree = example()
    contained = {"resourceType": "ImagingSelection", "status": "available", "code": {"text": "x"}}
    tree["contained"] = [dict(contained, id="a"), dict(contained, id="a"), contained]
    found = [(i.expression, i.message.split(" (")[0]) for i in issues_of(tree, "contained-id")]
    assert found == [
        ("ImagingSelection.contained[1]", "Duplicate ID for contained resource: a"),
        ("ImagingSelection.contained[2]", "Resource requires an id, but none is present"),
    ]


def test_required_choice_is_counted_over_its_types() -> None:
    from fhirgen.models.validators import validate_UsageContext
    from fhirgen.runtime.issues import IssueList

    out = IssueList()
    validate_UsageContext({"code": {"code": "x"}}, "UsageContext", out)
    assert [(i.rule, i.expression) for i in out if i.is_error] == [("cardinality", "UsageContext")]
    assert "value[x]" in next(i for i in out if i.is_error).message
    out = IssueList()
    validate_UsageContext({"code": {"code": "x"}, "valueQuantity": {"value": 1}}, "UsageContext", out)
    assert [i for i in out if i.is_error] == []


def test_parse_valid_builds_models_or_raises_with_the_outcome() -> None:
    from fhirgen.models import ImagingSelection
    from fhirgen.models.validators import ValidationError, parse_valid

    assert isinstance(parse_valid(EXAMPLE.read_bytes()), ImagingSelection)
    with pytest.raises(ValidationError) as caught:
        parse_valid('{"resourceType": "ImagingSelection", "status": "bogus", "code": {"text": "x"}}')
    outcome = caught.value.result.outcome()
    assert outcome["resourceType"] == "OperationOutcome"
    errors = [i["expression"] for i in outcome["issue"] if i["severity"] == "error"]
    assert errors == [["ImagingSelection.status"]]


def test_malformed_input_never_raises() -> None:
    """Random breakage of an example: the validator reports, it never raises."""
    import copy
    import random

    values = [None, [], {}, "", 0, -1, True, Decimal("1.5"), [None], [{}], {"a": 1}, ["x"],
              {"reference": "#x"}, {"coding": [{"code": ["a"], "system": {}}]}, "\x01",
              {"id": "x"}, [[]], {"resourceType": "Patient"}, {"resourceType": 3},
              {"extension": [{"url": 1}]}]
    rng = random.Random(3)

    def objects(node, found):
        if isinstance(node, dict):
            found.append(node)
            for value in node.values():
                objects(value, found)
        elif isinstance(node, list):
            for value in node:
                objects(value, found)
        return found

    for _ in range(300):
        tree = example()
        for _ in range(rng.randint(1, 4)):
            node = rng.choice(objects(tree, []))
            key = rng.choice(list(node) + ["foo", "_status", "contained", "extension", "reference"])
            node[key] = copy.deepcopy(rng.choice(values))
        validate(tree)
        validate(json.dumps(tree, default=str))
