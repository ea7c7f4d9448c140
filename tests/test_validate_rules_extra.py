"""Rules beyond the element walk of the target: datatype rule cases found in the examples,
wrong choice suffixes, extensible bindings on text-only concepts, language codes against the
IANA subtag registry, contained resources of types that are not generated."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fhirgen.ir import Model, build_model
from fhirgen.loader import load_index
from fhirgen.models.validators import validate, validate_ImagingSelection
from fhirgen.runtime.issues import IssueList
from fhirgen.runtime.validate import (
    ALL_LANGUAGES,
    BCP47_SYSTEM,
    ValueSet,
    complex_,
    language_problem,
    primitive,
)
from fhirgen.testing import find_parent, mutate
from fhirgen.validator_views import datatype_occurrences, rule_cases

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "definitions" / "hl7.fhir.r5.examples").glob("ImagingSelection-*.json"))
BASIC = ROOT / "definitions/hl7.fhir.r5.examples/ImagingSelection-example-basic-image-selection.json"
CONFORMANCE = ROOT.parent / "shared" / "conformance" / "hl7-validator-r5" / "cases"


@pytest.fixture(scope="module")
def model() -> Model:
    return build_model(load_index([ROOT / "definitions"]), ["ImagingSelection"])


@pytest.fixture(scope="module")
def examples() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8"), parse_float=Decimal) for p in EXAMPLES]


def example() -> dict[str, Any]:
    return json.loads(BASIC.read_text(encoding="utf-8"), parse_float=Decimal)


def issues(tree: Any, rule: str | None = None) -> list[Any]:
    return [i for i in validate(tree).issues if rule is None or i.rule == rule]


# ------------------------------------------------------------- datatype cases, choice suffixes


def test_datatypes_are_found_where_the_examples_use_them_first(model, examples) -> None:
    found = datatype_occurrences(model, examples)
    assert found["Coding"] == (("meta", "tag"), (False, True))  # meta comes before instance
    assert found["Reference"] == (("subject",), (False,))
    assert found["Identifier"] == (("identifier",), (True,))
    assert {"Meta", "Narrative", "CodeableConcept"} <= set(found)
    assert "Extension" not in found and "Annotation" not in found  # no example uses them


def test_a_choice_key_on_the_way_carries_its_fhirpath_name(model) -> None:
    tree = {"resourceType": "ImagingSelection", "status": "available", "code": {"text": "x"},
            "extension": [{"url": "http://example.org/x",
                           "valueCoding": {"system": "http://example.org", "code": "c"}}]}
    found = datatype_occurrences(model, [tree])
    assert found["Coding"] == (("extension", "valueCoding"),
                               (True, (False, "value.ofType(Coding)")))
    hit = find_parent([tree], found["Coding"][0], "bogus", False, found["Coding"][1])
    assert hit is not None and hit[2] == "ImagingSelection.extension[0].value.ofType(Coding)"


def test_datatype_cases_break_each_rule_at_that_place(model, examples) -> None:
    cases = {c.test_id: c for c in rule_cases(model, examples)}
    assert cases["Coding_system__kind"].keys == ("meta", "tag", "system")
    assert cases["Narrative_div__missing"].keys == ("text", "div")
    assert cases["Narrative_status__code"].rule == "binding"
    assert cases["Identifier_assigner__target"].action == "bad-target"
    assert cases["Identifier_type__no_code"].action == "text-only"
    assert cases["Reference__unknown"].keys == ("subject", "bogusProperty")
    # without examples, only the resource's own elements (and unused choices) are cases
    assert not any(k.startswith("Coding_") for k in {c.test_id for c in rule_cases(model)})


def test_every_datatype_case_finds_its_issue(model, examples) -> None:
    """The generated test's loop, here for the datatype cases only, each one named on failure."""
    failed = []
    datatype_cases = [c for c in rule_cases(model, examples)
                      if not c.test_id.startswith("ImagingSelection")]
    assert len(datatype_cases) > 100
    for case in datatype_cases:
        found = find_parent(examples, case.keys[:-1], case.keys[-1], case.action == "remove",
                            case.parent_arrays)
        assert found is not None, case.test_id
        tree, parent, where = found
        expected = mutate(parent, where, case.keys[-1], case.action, case.array, case.primitive,
                          case.value)
        if not any(i.rule == case.rule and i.expression == expected for i in issues(tree)):
            failed.append(f"{case.test_id}: no {case.rule} at {expected}")
    assert failed == []


def test_wrong_choice_suffixes_are_real_types_the_choice_does_not_allow(model) -> None:
    cases = {c.test_id: c for c in rule_cases(model) if c.test_id.endswith("__wrong_type")}
    annotation = cases["Annotation_author_x___wrong_type"]
    assert annotation.keys == ("extension", "valueAnnotation", "authorBase64Binary")
    assert annotation.parent_arrays == (True, (False, "value.ofType(Annotation)"))
    author = next(e for e in model.type("Annotation").elements if e.name == "author")
    assert {t.code for t in author.types} == {"Reference", "string"}
    assert "base64Binary" in model.type_names()  # a real type, just not one author[x] allows
    # Extension.value[x] allows every type but a few (xhtml is one of them)
    assert cases["Extension_value_x___wrong_type"].keys == ("extension", "valueXhtml")


@pytest.mark.parametrize("key,fhirpath", [
    ("subjectReference", "ImagingSelection"),  # subject is a plain Reference
    ("statusCode", "ImagingSelection"),
])
def test_type_suffix_on_a_plain_element_is_an_unknown_property(key: str, fhirpath: str) -> None:
    tree = example()
    tree[key] = copy.deepcopy(tree.get("subject")) if key == "subjectReference" else "available"
    found = [(i.expression, i.key) for i in issues(tree, "unknown-property")]
    assert found == [(fhirpath, key)]


def test_wrong_choice_type_is_reported_on_the_choice_parent() -> None:
    tree = example()
    tree["extension"] = [{"url": "http://example.org/x",
                          "valueUsageContext": {"code": {"code": "x"}, "valueBoolean": True}}]
    found = [(i.expression, i.key) for i in issues(tree, "unknown-property")]
    assert found == [("ImagingSelection.extension[0].value.ofType(UsageContext)", "valueBoolean")]
    tree["extension"][0]["valueUsageContext"] = {"code": {"code": "x"}, "valueQuantity": {"value": 1}}
    assert issues(tree, "unknown-property") == []


# ------------------------------------------------ extensible bindings on text-only concepts


def test_text_only_concept_under_an_extensible_binding_is_a_warning() -> None:
    tree = example()
    tree["identifier"][0]["type"] = {"text": "DICOM study"}
    found = [i for i in issues(tree, "binding") if i.severity != "information"]
    assert [(i.severity, i.code, i.expression) for i in found] == [
        ("warning", "code-invalid", "ImagingSelection.identifier[0].type")
    ]
    assert found[0].message.startswith("No code provided, and a code should be provided from the "
                                       "value set 'http://hl7.org/fhir/ValueSet/identifier-type'")
    tree["identifier"][0]["type"] = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}],
        "text": "Accession"}
    assert [i for i in issues(tree, "binding") if i.severity != "information"] == []


def test_text_only_message_is_the_hl7_validators() -> None:
    """The recorded HL7 outcome of a text-only Observation.interpretation (extensible)."""
    path = CONFORMANCE / "obs-sampled-data.expected.json"
    if not path.is_file():
        pytest.skip("the HL7 conformance corpus is not present")
    recorded = json.loads(path.read_text(encoding="utf-8"))["issue"]
    hl7 = next(i for i in recorded if i["text"].startswith("No code provided"))
    assert hl7["severity"] == "warning" and hl7["code"] == "code-invalid"
    out = IssueList()
    node = {"interpretation": [{"text": "above"}]}
    vs = ValueSet("http://hl7.org/fhir/ValueSet/observation-interpretation", None)
    complex_(node, "interpretation", "Observation", out, lambda *_: None, 0, None, True,
             extensible=vs)
    ours = [i for i in out if i.rule == "binding"]
    assert [(i.severity, i.code, i.expression) for i in ours] == [
        (hl7["severity"], hl7["code"], hl7["expression"])
    ]
    assert ours[0].message.split(" '")[0] == hl7["text"].split(" '")[0]


@pytest.mark.parametrize("expanded", [True, False])
def test_text_only_concept_under_a_required_binding_is_an_error(expanded: bool) -> None:
    """No code to look up: the value set's expansion does not matter (no information issue)."""
    vs = ValueSet("http://example.org/vs", [("http://example.org", "a")] if expanded else None)
    out = IssueList()
    complex_({"c": {"text": "a"}}, "c", "X", out, lambda *_: None, 0, 1, False, required=vs)
    assert [(i.severity, i.rule, i.expression) for i in out] == [("error", "binding", "X.c")]
    out = IssueList()
    complex_({"c": {"coding": [{"system": "http://example.org", "code": "a"}]}}, "c", "X", out,
             lambda *_: None, 0, 1, False, required=vs)
    assert [i.severity for i in out] == ([] if expanded else ["information"])


# ------------------------------------------------------------------- language codes (BCP-47)


@pytest.mark.parametrize("tag", ["en", "en-AU", "nl-NL", "zh-Hant-TW", "de-CH-1901", "en-x-local",
                                 "qaa", "sgn-BE-FR", "i-klingon"])
def test_registered_language_tags_pass(tag: str) -> None:
    assert language_problem(tag) is None
    tree = example()
    tree["language"] = tag
    found = [i for i in issues(tree, "binding") if i.expression == "ImagingSelection.language"]
    assert found == []  # checked, so no "cannot be expanded" information either


@pytest.mark.parametrize("tag,problem", [
    ("zz", "Invalid Language code 'zz'"),  # syntax fine, no such primary language subtag
    ("xx-GB", "Invalid Language code 'xx'"),
    ("en-Abcd", "'en-Abcd' has a subtag that is not in the IANA language subtag registry"),
    ("en_US", "'en_US' is not a valid BCP-47 language tag"),
])
def test_unknown_language_tags_fail_the_required_binding(tag: str, problem: str) -> None:
    assert language_problem(tag) == problem
    tree = example()
    tree["language"] = tag
    found = [i for i in issues(tree, "binding") if "sopClass" not in i.expression]
    assert [(i.severity, i.code, i.expression) for i in found] == [
        ("error", "code-invalid", "ImagingSelection.language")
    ]
    assert problem in found[0].message and ALL_LANGUAGES in found[0].message


def test_language_of_a_datatype_is_checked_too() -> None:
    out = IssueList()
    from fhirgen.models.validators import P_code

    primitive({"language": "zz"}, "language", "Attachment", out, P_code, 0, 1, False,
              extensible=ValueSet(ALL_LANGUAGES, None))
    assert [(i.severity, i.expression) for i in out] == [("warning", "Attachment.language")]


@pytest.mark.parametrize("coding,ok", [
    ({"system": BCP47_SYSTEM, "code": "nl"}, True),
    ({"system": BCP47_SYSTEM, "code": "zz"}, False),
    ({"system": "http://example.org/languages", "code": "nl"}, False),  # not BCP-47's system
])
def test_language_codings_are_checked_against_the_registry(coding: dict, ok: bool) -> None:
    out = IssueList()
    complex_({"language": {"coding": [coding]}}, "language", "Patient.communication[0]", out,
             lambda *_: None, 1, 1, False, required=ValueSet(ALL_LANGUAGES, None))
    assert [(i.severity, i.expression) for i in out] == (
        [] if ok else [("error", "Patient.communication[0].language")])


# ------------------------------------------------------------ contained types not generated


def test_contained_resource_of_a_type_not_generated_is_a_warning_not_silence() -> None:
    tree = example()
    tree["contained"] = [
        {"resourceType": "Patient", "id": "p", "birthDate": "not a date"},
        {"resourceType": "ImagingSelection", "id": "s", "status": "bogus", "code": {"text": "x"}},
    ]
    found = issues(tree)
    unknown = [i for i in found if i.rule == "unknown-resource"]
    assert [(i.severity, i.expression) for i in unknown] == [
        ("warning", "ImagingSelection.contained[0]")
    ]
    assert "Patient" in unknown[0].message
    # the generated type next to it is still validated by its own rules (dom-3: neither
    # contained resource is referenced)
    assert [(i.rule, i.expression) for i in found if i.is_error] == [
        ("binding", "ImagingSelection.contained[1].status"), ("dom-3", "ImagingSelection")
    ]


def test_a_validator_called_directly_warns_about_it_too() -> None:
    out = IssueList()
    tree = example()
    tree["contained"] = [{"resourceType": "Basic", "id": "b"}]
    validate_ImagingSelection(tree, "ImagingSelection", out)
    assert [(i.severity, i.rule) for i in out if i.severity != "information"] == [
        ("warning", "unknown-resource"), ("error", "dom-3")  # unreferenced, but not unchecked
    ]


def test_long_language_values_are_judged_but_not_remembered() -> None:
    """The registry lookups are cached for real (short) tags only: untrusted input cannot fill
    the cache with megabytes."""
    from fhirgen.runtime.validate import _registry_problem

    before = _registry_problem.cache_info().currsize
    tag = "en" + "-abcdefgh" * 20  # long, few subtags: looked up, not remembered
    assert language_problem(tag) == f"'{tag}' has a subtag that is not in the IANA language subtag registry"
    assert language_problem("en-x" + "-a" * 20) is None  # private use: anything goes
    assert _registry_problem.cache_info().currsize == before + 1  # only the short one
    many = "en" + "-abcdefgh" * 100_000  # judged without parsing (langcodes recurses per subtag)
    assert language_problem(many) == f"'{many}' has more than 32 subtags: not a registered language tag"
    tree = example()
    tree["language"] = many
    assert [i.severity for i in issues(tree, "binding") if i.expression.endswith("language")] == ["error"]
