"""fhirgen.validator_views: the facts each generated validator line states, from the real model."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhirgen.ir import Model, ValueSetDef, build_model
from fhirgen.loader import load_index
from fhirgen.validator_views import _vs_names, build_validator_views, rule_cases

ROOT = Path(__file__).resolve().parents[1]


def _model() -> Model:
    return build_model(load_index([ROOT / "definitions"]), ["ImagingSelection"])


@pytest.fixture(scope="module")
def model() -> Model:
    return _model()


@pytest.fixture(scope="module")
def functions(model: Model) -> dict[str, tuple[str, ...]]:
    view = build_validator_views(model, ("header",))
    return {f.name: f.lines for f in view.functions}


def test_one_line_per_element_with_its_facts(functions) -> None:
    lines = functions["validate_ImagingSelection"]
    # a required element: called unconditionally (the helper reports its absence)
    assert "primitive(node, 'status', path, out, P_code, 1, 1, False, required=VS_ImagingSelectionStatus)" in lines
    # optional ones: guarded by a membership test (with the `_name` twin for primitives)
    assert ("if 'instance' in node: complex_(node, 'instance', path, out, "
            "validate_ImagingSelectionInstance, 0, None, True)") in lines
    assert ("if 'contained' in node: resource(node, 'contained', path, out, RESOURCE_VALIDATORS, "
            "0, None, True, contained=True)") in lines
    assert ("if 'studyUid' in node or '_studyUid' in node: primitive(node, 'studyUid', path, out, "
            "P_id, 0, 1, False)") in lines
    assert any(line.startswith("if 'subject' in node: complex_(node, 'subject',") and
               "targets=TARGETS_ImagingSelection_subject" in line for line in lines)


def test_choice_elements_use_of_type_labels_and_a_choice_line(functions) -> None:
    lines = functions["validate_Extension"]
    assert any("'valueString'" in line and "label='value.ofType(string)'" in line for line in lines)
    assert "choice(node, CHOICE_Extension_value, path, out, 'value', 0)" in lines
    view = build_validator_views(_model(), ("header",))
    choices = {c.name: c.expression for c in view.constants if c.annotation == "Choice"}
    assert choices["CHOICE_Extension_value"].startswith("Choice('valueBase64Binary', ")


def test_xml_attributes_have_no_underscore_twin_and_element_id_is_a_string(functions, model) -> None:
    assert "primitive(node, 'url', path, out, P_uri, 1, 1, False, ext=False)" in functions["validate_Extension"]
    # an element's id: a string (not an `id`), checked for uniqueness within the resource
    assert "if 'id' in node: element_id(node, path, out, P_string)" in functions["validate_Address"]
    view = build_validator_views(model, ("header",))
    keys = {c.name: c.expression for c in view.constants}
    assert "'_url'" not in keys["KEYS_Extension"] and "'_status'" in keys["KEYS_ImagingSelection"]
    assert "'resourceType'" in keys["KEYS_ImagingSelection"]


def test_value_sets_without_expansion_are_none(model) -> None:
    view = build_validator_views(model, ("header",))
    sets = {c.name: c.expression for c in view.value_sets}
    assert sets["VS_AllLanguages"] == "ValueSet('http://hl7.org/fhir/ValueSet/all-languages', None)"
    assert "('http://hl7.org/fhir/imagingselection-status', 'available')" in sets["VS_ImagingSelectionStatus"]


def test_value_set_names_never_collide() -> None:
    def vs(url: str, name: str | None) -> ValueSetDef:
        return ValueSetDef(url, name, None, (), False)

    fake = Model("5.0.0", (), (), (), (vs("http://a.org/x", "Same"), vs("http://b.org/y", "Same"),
                                       vs("http://c.org/z", "Same"), vs("http://c.org/q/z", None)))
    names = _vs_names(fake)
    assert len(set(names.values())) == 4
    assert names["http://a.org/x"] == "VS_Same"


def test_rule_cases_cover_required_nested_elements_and_targets(model) -> None:
    cases = {c.test_id: c for c in rule_cases(model)}
    missing = cases["ImagingSelection_instance_imageRegion2D_regionType__missing"]
    assert missing.keys == ("instance", "imageRegion2D", "regionType")
    assert missing.parent_arrays == (True, True) and missing.at_parent
    assert cases["ImagingSelection_subject__target"].value == "Basic/example"
    assert cases["ImagingSelection_bodySite__target"].action == "bad-target-concept"
    assert cases["ImagingSelection_status__code"].rule == "binding"
    assert "ImagingSelection_language__code" not in cases  # all-languages cannot be expanded
