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


def test_each_element_states_its_facts_and_good_values_take_an_inlined_path(functions) -> None:
    lines = functions["validate_ImagingSelection"]
    # a required primitive: looked up unconditionally; a good value is judged inline (its fast
    # check and its code in the expanded value set), anything else by the helper, which also
    # reports its absence
    assert "v = node.get('status', MISSING)" in lines
    assert ("if '_status' in node or not ((v.__class__ is str and P_code.fast(v)) and v in "
            "VS_ImagingSelectionStatus.codes): primitive(node, 'status', path, out, P_code, 1, 1, "
            "False, required=VS_ImagingSelectionStatus)") in lines
    # optional ones: guarded by a membership test (with the `_name` twin for primitives)
    at = lines.index("if 'studyUid' in node:")
    assert lines[at + 1:at + 4] == (
        "    v = node['studyUid']",
        ("    if '_studyUid' in node or not (v.__class__ is str and P_id.fast(v)): "
         "primitive(node, 'studyUid', path, out, P_id, 0, 1, False)"),
        "elif '_studyUid' in node: primitive(node, 'studyUid', path, out, P_id, 0, 1, False)",
    )
    # a repeating backbone element: each good object straight to its validator, with the
    # location the helper would build; the helper judges any other shape
    at = lines.index("if 'instance' in node:")
    assert lines[at + 1:at + 8] == (
        "    v = node['instance']",
        "    if v.__class__ is list and v:",
        "        w = (path, 'instance')",
        "        for i, item in enumerate(v):",
        "            if item.__class__ is dict and ('id' not in item or len(item) != 1):",
        "                validate_ImagingSelectionInstance(item, (w, i), out)",
        "            else: complex_item(item, (w, i), out, validate_ImagingSelectionInstance)",
    )
    assert ("    else: complex_(node, 'instance', path, out, validate_ImagingSelectionInstance, 0, "
            "None, True)") in lines
    assert ("if 'contained' in node: resource(node, 'contained', path, out, PY_RESOURCE_VALIDATORS, "
            "0, None, True, contained=True)") in lines
    # reference targets: checked after the type's validator, on the fast path and in the helper
    assert "        item_checks(v, w, out, None, None, TARGETS_ImagingSelection_subject)" in lines
    assert any(line.startswith("    else: complex_(node, 'subject',") and
               "targets=TARGETS_ImagingSelection_subject" in line for line in lines)


def test_choice_elements_use_of_type_labels_and_a_choice_line(functions) -> None:
    lines = functions["validate_Extension"]
    assert any("'valueString'" in line and "label='value.ofType(string)'" in line for line in lines)
    assert "choice(node, CHOICE_Extension_value, path, out, 'value', 0)" in lines
    view = build_validator_views(_model(), ("header",))
    choices = {c.name: c.expression for c in view.constants if c.annotation == "Choice"}
    assert choices["CHOICE_Extension_value"].startswith("Choice('valueBase64Binary', ")


def test_xml_attributes_have_no_underscore_twin_and_element_id_is_a_string(functions, model) -> None:
    assert ("if not (v.__class__ is str and P_uri.fast(v)): primitive(node, 'url', path, out, "
            "P_uri, 1, 1, False, ext=False)") in functions["validate_Extension"]
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


_ODD_VALUES = (None, True, False, 0, -1, 1, 2**31, -(2**31) - 1, 2**63, 0.0, -0.0, 0.05, 1.5,
               1e16, 1e300, float("inf"), float("nan"), "", " ", "x", "1", "urn:oid:1.2",
               "2024-02-29", "2024-02-28T10:00:00Z", "a\x00b", "\ud800", "<div/>", [], ["x"], {},
               {"a": 1})


@pytest.mark.parametrize("value", _ODD_VALUES, ids=repr)
def test_inlined_fast_checks_accept_exactly_what_primitive_fast_accepts(model, value) -> None:
    """The validators inline each primitive's fast check; it must agree with the runtime's
    ``Primitive.fast`` (which never accepts a bad value) and never raise."""
    from fhirgen.models import validators as generated
    from fhirgen.validator_views import _fast_test, _primitive_name

    for type_def in model.types:
        if not type_def.is_primitive or type_def.primitive is None:
            continue
        expression = _fast_test(type_def, "v")
        prim = getattr(generated, _primitive_name(type_def.name))
        try:
            expected = bool(prim.fast(value))
        except TypeError:
            expected = False
        if expression is None:
            assert not expected, type_def.name  # no inline test: the helper judges every value
            continue
        names = {_primitive_name(type_def.name): prim, "v": value}
        assert bool(eval(expression, names)) == expected, (type_def.name, value)


def test_inlined_fast_checks_agree_on_generated_values(model) -> None:
    """The same agreement on values drawn from each primitive's own regex (good values, and
    the same values as another JSON kind)."""
    from fhirgen.models import validators as generated
    from fhirgen.validator_views import _fast_test, _primitive_name

    checked = [t for t in model.types if t.is_primitive and t.primitive is not None
               and t.name != "xhtml" and _fast_test(t, "v") is not None]
    assert len(checked) > 15

    for type_def in checked:
        _agreement(type_def.name, getattr(generated, _primitive_name(type_def.name)),
                   compile(_fast_test(type_def, "v"), "<fast>", "eval"))


def _agreement(name: str, prim: object, expression: object) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from fhirgen.validator_views import _primitive_name
    from tests.strategies import primitive_values

    values = primitive_values(name)

    @settings(max_examples=60, deadline=None)
    @given(st.one_of(values, values.map(str), values.map(lambda v: [v])))
    def agree(value: object) -> None:
        try:
            expected = bool(prim.fast(value))  # type: ignore[attr-defined]
        except TypeError:
            expected = False
        found = eval(expression, {_primitive_name(name): prim, "v": value})  # type: ignore[arg-type]
        assert bool(found) == expected, (name, value)

    agree()


def test_each_validator_has_a_plan_of_the_same_statements(model: Model) -> None:
    """The plan ops of the compiled walk (fhirgen.runtime.plan) name the helper calls of the
    Python lines, with slots for the node, its location, the issue list and the item."""
    view = build_validator_views(model, ("header",))
    ops = {f.type_name: f.ops for f in view.functions}
    instance = ops["ImagingSelection.instance"]
    assert ("('prim', 'uid', False, True, 'str', P_id, None, False, 1, 1, "
            "(primitive, (NODE, 'uid', PATH, OUT, P_id, 1, 1, False), None))") in instance
    assert ("('prim', 'number', True, True, ('int', 0, 2147483647), P_unsignedInt, None, False, "
            "0, 1, (primitive, (NODE, 'number', PATH, OUT, P_unsignedInt, 0, 1, False), "
            "None))") in instance
    assert ("('object', 'sopClass', True, 'sopClass', 'Coding', "
            "(unchecked, (VALUE, VS_SectB5HtmlTableB51, AT, OUT), None), "
            "(complex_, (NODE, 'sopClass', PATH, OUT, validate_Coding, 0, 1, False), "
            "{'extensible': VS_SectB5HtmlTableB51}))") in instance
    root = ops["ImagingSelection"]
    # contained resources: the helper gets the validators in use (compiled walks where built)
    assert ("('call', 'contained', None, (resource, (NODE, 'contained', PATH, OUT, "
            "RESOURCE_VALIDATORS, 0, None, True), {'contained': True}))") in root
    # no invariants given: no invariant calls (the golden validators.py holds those)
    assert not any(op.startswith("('root'") or ".check_element" in op for op in root)
    # one op per statement: each Python validator's plan has as many ops as it makes calls
    for function in view.functions:
        assert function.ops or not function.lines, function.name


def test_an_array_bound_to_an_unexpandable_value_set_keeps_its_binding_on_every_path() -> None:
    """Codings in an array bound to a value set without expansion: the fast path gives each its
    information issue, and an odd item's fallback still carries the binding."""
    from fhirgen.validator_views import _Call, _Checks, _fast_complex

    lines, op = _fast_complex("tag", "tag", _Call("complex_", ("node",)), "Coding", True, True,
                              None, _Checks(extensible="VS_X", unchecked=True))
    assert "            unchecked(item, VS_X, at, out)" in "\n".join(lines)
    assert "        else: complex_item(item, (w, i), out, validate_Coding, None, VS_X, None)" in \
        "\n".join(lines)
    # the plan's op of it makes the same calls, with the walk's slots
    assert op == ("('array', 'tag', True, 'tag', 'Coding', None, "
                  "(unchecked, (VALUE, VS_X, AT, OUT), None), "
                  "(complex_item, (VALUE, AT, OUT, validate_Coding, None, VS_X, None), None), "
                  "(complex_, (NODE,), None))")
