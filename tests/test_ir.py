"""Unit tests of the intermediate model (``fhirgen.ir``).

Two kinds of input:

* the made-up definitions in ``tests/fixtures/mini/`` (one feature each: a choice, nested
  backbones, a content reference, a required binding, an invariant, a keyword name, integer64,
  decimal, fixed and pattern values, a profile with a slice), checked against hand-written
  expectations;
* the real ``ImagingSelection`` StructureDefinition in ``definitions/``, checked element by element
  against its snapshot as read straight from the JSON file, so the test fails whenever the IR
  drops or changes a fact.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fhirgen.ir import (
    Binding,
    Constraint,
    IRError,
    Model,
    TypeRef,
    build_model,
    build_type,
    closure,
    element_index,
)
from fhirgen.loader import DefinitionIndex, load_index

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "fixtures" / "mini"
MINI_DEFINITIONS = MINI / "definitions"
DEFINITIONS = ROOT / "definitions"
CORE = DEFINITIONS / "hl7.fhir.r5.core"
IMAGING_SELECTION_JSON = CORE / "StructureDefinition-ImagingSelection.json"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SD = "http://hl7.org/fhir/StructureDefinition/"


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def mini_index() -> DefinitionIndex:
    return load_index([MINI_DEFINITIONS])


@pytest.fixture(scope="module")
def mini(mini_index: DefinitionIndex) -> Model:
    return build_model(mini_index, ["Widget"])


def _real_definitions() -> None:
    if not IMAGING_SELECTION_JSON.is_file():
        pytest.fail(f"{IMAGING_SELECTION_JSON.relative_to(ROOT)} is missing: run `fhirgen fetch`")


@pytest.fixture(scope="module")
def real_index() -> DefinitionIndex:
    _real_definitions()
    return load_index([DEFINITIONS])


@pytest.fixture(scope="module")
def real(real_index: DefinitionIndex) -> Model:
    return build_model(real_index, ["ImagingSelection"])


@pytest.fixture(scope="module")
def snapshot() -> list[dict[str, Any]]:
    _real_definitions()
    sd = json.loads(IMAGING_SELECTION_JSON.read_text(encoding="utf-8"))
    return sd["snapshot"]["element"]


def _with(index: DefinitionIndex, *resources: dict[str, Any]) -> DefinitionIndex:
    """A copy of *index* with *resources* added or replaced (by URL)."""
    changed = dict(index.resources)
    for resource in resources:
        changed[resource["url"]] = resource
    return DefinitionIndex(changed, dict(index.origins), index.examples, index.packages)


def _sd(index: DefinitionIndex, name: str) -> dict[str, Any]:
    return copy.deepcopy(index.resources[SD + name])


# -------------------------------------------------------------------------------- mini: types


def test_mini_closure_and_model_identity(mini: Model) -> None:
    assert mini.type_names() == (
        "Amount", "BackboneElement", "Base", "DomainResource", "Element", "Extension",
        "Resource", "Widget", "boolean", "code", "decimal", "integer64", "string",
    )
    assert mini.targets == ("Widget",)
    assert mini.fhir_version == "0.1.0-mini"
    assert mini.packages == (("fhirgen.fixtures.mini", "0.1.0"),)


def test_mini_type_kinds_and_bases(mini: Model) -> None:
    facts = {t.name: (t.kind, t.base, t.abstract) for t in mini.types}
    assert facts == {
        "Amount": ("complex-type", "Element", False),
        "BackboneElement": ("complex-type", "Element", True),
        "Base": ("complex-type", None, True),
        "DomainResource": ("resource", "Resource", True),
        "Element": ("complex-type", "Base", True),
        "Extension": ("complex-type", "Element", False),
        "Resource": ("resource", "Base", True),
        "Widget": ("resource", "DomainResource", False),
        "boolean": ("primitive-type", "Element", False),
        "code": ("primitive-type", "Element", False),
        "decimal": ("primitive-type", "Element", False),
        "integer64": ("primitive-type", "Element", False),
        "string": ("primitive-type", "Element", False),
    }


def test_mini_widget_elements_in_specification_order(mini: Model) -> None:
    widget = mini.type("Widget")
    assert [e.name for e in widget.elements] == [
        "id", "contained", "extension", "modifierExtension", "status", "name", "alias", "class",
        "kind", "value", "size", "count", "weight", "flag", "part",
    ]
    assert widget.url == SD + "Widget"
    assert widget.short == "A made-up resource with one of each feature"
    assert widget.definition is not None and widget.definition.startswith("Widget exercises")


def test_mini_cardinalities(mini: Model) -> None:
    widget = mini.type("Widget")
    card = {e.name: (e.min, e.max, e.base_max, e.is_array, e.is_required) for e in widget.elements}
    assert card["status"] == (1, 1, 1, False, True)
    assert card["name"] == (1, 1, 1, False, True)
    assert card["alias"] == (0, None, None, True, False)
    assert card["part"] == (0, None, None, True, False)
    assert card["count"] == (0, 1, 1, False, False)
    assert card["contained"] == (0, None, None, True, False)
    label = mini.type("Widget.part").element("label")
    assert (label.min, label.max, label.is_required) == (1, 1, True)


def test_mini_inherited_elements_record_their_base(mini: Model) -> None:
    widget = mini.type("Widget")
    assert widget.element("id").base_path == "Resource.id"
    assert widget.element("contained").base_path == "DomainResource.contained"
    assert widget.element("status").base_path == "Widget.status"
    assert mini.type("Widget.part").element("modifierExtension").base_path == (
        "BackboneElement.modifierExtension"
    )


def test_mini_system_types_become_fhir_types(mini: Model) -> None:
    widget_id = mini.type("Widget").element("id")
    assert widget_id.types == (
        TypeRef("string", system="http://hl7.org/fhirpath/System.String"),
    )
    url = mini.type("Extension").element("url")
    assert url.type_codes == ("string",) and url.is_xml_attribute and url.min == 1
    assert mini.type("Element").element("id").is_xml_attribute
    assert not widget_id.is_xml_attribute  # Resource.id is an element in XML, not an attribute


def test_mini_choice_element(mini: Model) -> None:
    value = mini.type("Widget").element("value")
    assert value.is_choice
    assert value.path == "Widget.value[x]"
    assert value.type_codes == ("string", "Amount")
    assert [name for name, _ in value.json_names()] == ["valueString", "valueAmount"]
    assert [t.code for _, t in value.json_names()] == ["string", "Amount"]
    ext_value = mini.type("Extension").element("value")
    assert [n for n, _ in ext_value.json_names()] == [
        "valueBoolean", "valueCode", "valueDecimal", "valueInteger64", "valueString", "valueAmount",
    ]
    # a plain element has one JSON name, its own
    assert mini.type("Widget").element("count").json_names() == (("count", TypeRef("integer64")),)


def test_mini_keyword_element_keeps_its_fhir_name(mini: Model) -> None:
    klass = mini.type("Widget").element("class")
    assert klass.path == "Widget.class"
    assert [n for n, _ in klass.json_names()] == ["class"]


def test_mini_primitive_types(mini: Model) -> None:
    info = {t.name: t.primitive for t in mini.types if t.is_primitive}
    assert {name: p.json_kind for name, p in info.items()} == {
        "boolean": "boolean", "code": "string", "decimal": "number",
        "integer64": "string",  # a JSON string in FHIR JSON, not a number
        "string": "string",
    }
    assert info["integer64"].fhirpath_type == "System.Long"
    assert info["decimal"].fhirpath_type == "System.Decimal"
    assert info["boolean"].regex == "true|false"
    assert info["code"].regex == "[^\\s]+( [^\\s]+)*"
    assert all(t.primitive is None for t in mini.types if not t.is_primitive)
    assert mini.type("Widget").element("count").type_codes == ("integer64",)
    assert mini.type("Widget").element("weight").type_codes == ("decimal",)


def test_mini_backbones_flattened_with_paths(mini: Model) -> None:
    widget = mini.type("Widget")
    assert [b.name for b in widget.backbones] == ["Widget.part", "Widget.part.detail"]
    part, detail = widget.backbones
    for backbone in (part, detail):
        assert backbone.kind == "backbone" and backbone.is_backbone
        assert backbone.base == "BackboneElement"
        assert backbone.owner == "Widget"
    assert [e.name for e in part.elements] == [
        "id", "extension", "modifierExtension", "label", "detail", "subpart",
    ]
    assert [e.path for e in detail.elements] == [
        "Widget.part.detail.id", "Widget.part.detail.extension",
        "Widget.part.detail.modifierExtension", "Widget.part.detail.note",
        "Widget.part.detail.amount",
    ]
    assert widget.element("part").backbone == "Widget.part"
    assert part.element("detail").backbone == "Widget.part.detail"
    assert mini.type("Widget.part.detail") == detail
    assert widget.all_types() == (widget, part, detail)
    # backbones are not top-level types of the model
    assert "Widget.part" not in mini.type_names()


def test_mini_content_reference(mini: Model) -> None:
    subpart = mini.type("Widget.part").element("subpart")
    assert subpart.content_reference == "Widget.part"
    assert subpart.backbone == "Widget.part"
    assert subpart.types == ()
    assert subpart.is_array
    # a content reference is not a new backbone type
    assert [b.name for b in mini.type("Widget").backbones].count("Widget.part") == 1


def test_mini_binding_and_value_sets(mini: Model) -> None:
    widget = mini.type("Widget")
    assert widget.element("status").binding == Binding(
        "required", "http://example.org/fhir/ValueSet/widget-status", "The state of a widget."
    )  # the "|1.0.0" version suffix is dropped
    assert widget.element("class").binding == Binding(
        "required", "http://example.org/fhir/ValueSet/widget-class"
    )
    assert widget.element("size").binding == Binding(
        "example", "http://example.org/fhir/ValueSet/widget-units"
    )
    assert widget.element("name").binding is None
    # only required/extensible bindings bring their value sets into the model
    assert [v.url for v in mini.value_sets] == [
        "http://example.org/fhir/ValueSet/widget-class",
        "http://example.org/fhir/ValueSet/widget-status",
    ]
    status = mini.value_set("http://example.org/fhir/ValueSet/widget-status|1.0.0")
    assert status is not None
    assert (status.name, status.version, status.expanded, status.source) == (
        "WidgetStatus", "1.0.0", True, "expansion"
    )
    # nested expansion entries are flattened, abstract ones marked
    assert [(c.code, c.abstract) for c in status.concepts] == [
        ("draft", False), ("in-use", True), ("active", False), ("retired", False),
    ]
    assert {c.system for c in status.concepts} == {"http://example.org/fhir/CodeSystem/widget-status"}
    klass = mini.value_set("http://example.org/fhir/ValueSet/widget-class")
    assert klass is not None and klass.source == "compose" and klass.expanded
    assert klass.codes() == frozenset({"alpha", "beta"})
    assert mini.value_set("http://example.org/fhir/ValueSet/widget-units") is None


def test_mini_constraints(mini: Model) -> None:
    widget = mini.type("Widget")
    assert widget.constraints == (
        Constraint(
            key="wdg-1",
            severity="error",
            human="A widget needs a name or a part",
            expression="name.exists() or part.exists()",
            source=SD + "Widget",
        ),
    )
    part = mini.type("Widget.part")
    assert [(c.key, c.severity, c.expression) for c in part.constraints] == [
        ("wdg-2", "warning", "label.exists() or detail.exists()")
    ]
    assert [c.key for c in mini.type("Extension").constraints] == ["ext-1"]
    assert mini.type("Widget").element("name").constraints == ()


def test_mini_fixed_pattern_and_limits(mini: Model) -> None:
    widget = mini.type("Widget")
    assert widget.element("kind").fixed == ("code", "gizmo")
    assert widget.element("kind").pattern is None
    assert widget.element("size").pattern == ("Amount", {"unit": "cm"})
    assert widget.element("size").fixed is None
    assert widget.element("weight").min_value == ("decimal", 0)
    assert widget.element("weight").max_value is None
    assert widget.element("name").max_length == 64
    assert widget.element("status").is_modifier and widget.element("status").is_summary
    assert not widget.element("alias").is_modifier and not widget.element("alias").is_summary


def test_mini_element_index(mini: Model) -> None:
    elements = element_index(mini)
    assert elements["Widget.part.detail.note"].type_codes == ("string",)
    assert elements["Amount.value"].type_codes == ("decimal",)
    assert "Widget.part" in elements and "Widget.part.subpart" in elements
    assert "Widget" not in elements  # roots are types, not elements


def test_model_type_lookup_errors(mini: Model) -> None:
    with pytest.raises(KeyError):
        mini.type("Gizmo")
    with pytest.raises(KeyError):
        mini.type("Widget.nothing")
    with pytest.raises(KeyError):
        mini.type("Widget").element("nothing")


# ----------------------------------------------------------------------------- mini: profile


@pytest.fixture(scope="module")
def profile() -> dict[str, Any]:
    path = MINI / "profiles" / "StructureDefinition-WidgetProfile.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_profile_is_its_base_type_constrained(profile: dict[str, Any]) -> None:
    type_def = build_type(profile)
    assert (type_def.name, type_def.base, type_def.derivation) == (
        "WidgetProfile", "Widget", "constraint"
    )
    assert [e.name for e in type_def.elements] == ["id", "status", "name", "part"]
    assert type_def.element("status").pattern == ("code", "active")
    assert type_def.element("name").must_support


def test_profile_slicing_and_narrowed_cardinality(profile: dict[str, Any]) -> None:
    part = build_type(profile).element("part")
    assert part.slicing is not None
    assert part.slicing.discriminators == (("value", "label"),)
    assert (part.slicing.rules, part.slicing.ordered, part.slicing.description) == (
        "open", False, "Parts by label"
    )
    # a profile narrows max to 2, but the JSON shape (array) follows the base
    assert (part.max, part.base_max, part.is_array) == (2, None, True)


def test_profile_slices_do_not_add_elements_to_the_unsliced_backbone(
    profile: dict[str, Any],
) -> None:
    """The children of slice ``Widget.part:special`` share the paths of ``Widget.part``'s children;
    the backbone type of ``Widget.part`` must list each child once (the unsliced element)."""
    backbone = build_type(profile).backbones[0]
    assert backbone.name == "Widget.part"
    assert [e.element_id for e in backbone.elements] == [
        "Widget.part.id", "Widget.part.extension", "Widget.part.modifierExtension",
        "Widget.part.label",
    ]


# ------------------------------------------------------------------------------- mini: errors


def test_missing_type_is_a_clear_error(mini_index: DefinitionIndex) -> None:
    widget = _sd(mini_index, "Widget")
    for element in widget["snapshot"]["element"]:
        if element["path"] == "Widget.size":
            element["type"] = [{"code": "Gizmo"}]
    with pytest.raises(IRError, match=r"'Gizmo' \(needed by Widget\.size\)"):
        build_model(_with(mini_index, widget), ["Widget"])


def test_missing_base_type_is_a_clear_error(mini_index: DefinitionIndex) -> None:
    amount = _sd(mini_index, "Amount")
    amount["baseDefinition"] = SD + "Quantityish"
    with pytest.raises(IRError, match=r"'Quantityish' \(needed by Amount\)"):
        build_model(_with(mini_index, amount), ["Widget"])


def test_missing_target_is_a_clear_error(mini_index: DefinitionIndex) -> None:
    with pytest.raises(IRError, match=r"'Gadget' \(needed by the targets\)"):
        build_model(mini_index, ["Gadget"])
    with pytest.raises(IRError, match="no target"):
        build_model(mini_index, [])


def test_definition_without_snapshot_is_a_clear_error(mini_index: DefinitionIndex) -> None:
    widget = _sd(mini_index, "Widget")
    del widget["snapshot"]
    with pytest.raises(IRError, match=r"StructureDefinition/Widget: .*no snapshot"):
        build_model(_with(mini_index, widget), ["Widget"])
    widget["snapshot"] = {"element": []}
    with pytest.raises(IRError, match="no snapshot"):
        build_type(widget)


def test_invalid_cardinality_is_a_clear_error(mini_index: DefinitionIndex) -> None:
    widget = _sd(mini_index, "Widget")
    widget["snapshot"]["element"][5]["max"] = "many"
    with pytest.raises(IRError, match="'many'"):
        build_type(widget)


def test_type_without_code_is_a_clear_error(mini_index: DefinitionIndex) -> None:
    widget = _sd(mini_index, "Widget")
    widget["snapshot"]["element"][5]["type"] = [{"profile": ["http://example.org/x"]}]
    with pytest.raises(IRError, match="type without code"):
        build_type(widget)


def test_unavailable_value_set_is_recorded_not_invented(mini_index: DefinitionIndex) -> None:
    widget = _sd(mini_index, "Widget")
    for element in widget["snapshot"]["element"]:
        if element["path"] == "Widget.class":
            element["binding"]["valueSet"] = "http://example.org/fhir/ValueSet/nowhere"
    model = build_model(_with(mini_index, widget), ["Widget"])
    nowhere = model.value_set("http://example.org/fhir/ValueSet/nowhere")
    assert nowhere is not None
    assert (nowhere.expanded, nowhere.source, nowhere.concepts) == (False, "unavailable", ())


def test_build_model_does_not_change_its_input(mini_index: DefinitionIndex) -> None:
    before = copy.deepcopy(dict(mini_index.resources))
    build_model(mini_index, ["Widget"])
    assert dict(mini_index.resources) == before


# ------------------------------------------------------------------- real ImagingSelection


def _max(value: str) -> int | None:
    return None if value == "*" else int(value)


def _type_codes(raw: dict[str, Any]) -> tuple[str, ...]:
    codes = []
    for raw_type in raw.get("type", ()):
        code = raw_type["code"]
        if code.startswith("http://hl7.org/fhirpath/System."):
            (code,) = [e["valueUrl"] for e in raw_type["extension"] if e["url"] == FHIR_TYPE_EXT]
        codes.append(code)
    return tuple(codes)


def test_every_snapshot_element_is_in_the_ir(real: Model, snapshot: list[dict[str, Any]]) -> None:
    imaging = real.type("ImagingSelection")
    ir_elements = {e.path: e for owner in imaging.all_types() for e in owner.elements}
    snapshot_paths = [raw["path"] for raw in snapshot[1:]]
    assert len(snapshot_paths) == 49
    assert sorted(ir_elements) == sorted(snapshot_paths)  # nothing dropped, nothing added
    for raw in snapshot[1:]:
        element = ir_elements[raw["path"]]
        where = raw["path"]
        assert element.element_id == raw["id"], where
        assert element.min == raw["min"], where
        assert element.max == _max(raw["max"]), where
        assert element.base_path == raw["base"]["path"], where
        assert element.base_max == _max(raw["base"]["max"]), where
        assert element.type_codes == _type_codes(raw), where
        assert [t.target_profiles for t in element.types] == [
            tuple(t.get("targetProfile", ())) for t in raw.get("type", ())
        ], where
        assert [t.profiles for t in element.types] == [
            tuple(t.get("profile", ())) for t in raw.get("type", ())
        ], where
        binding = raw.get("binding")
        if binding is None:
            assert element.binding is None, where
        else:
            assert element.binding is not None, where
            assert element.binding.strength == binding["strength"], where
            assert element.binding.value_set == (
                binding["valueSet"].split("|")[0] if "valueSet" in binding else None
            ), where
            assert element.binding.description == binding.get("description"), where
        assert [c.key for c in element.constraints] == [c["key"] for c in raw.get("constraint", ())]
        assert [(c.severity, c.human, c.expression) for c in element.constraints] == [
            (c["severity"], c["human"], c.get("expression")) for c in raw.get("constraint", ())
        ], where
        assert element.is_modifier == raw.get("isModifier", False), where
        assert element.is_summary == raw.get("isSummary", False), where
        assert element.must_support == raw.get("mustSupport", False), where
        assert element.short == raw.get("short"), where
        assert element.definition == raw.get("definition"), where
        assert element.content_reference == (
            raw["contentReference"].split("#")[-1] if "contentReference" in raw else None
        ), where
        assert element.is_choice == raw["path"].endswith("[x]"), where


def test_imaging_selection_root_and_order(real: Model, snapshot: list[dict[str, Any]]) -> None:
    imaging = real.type("ImagingSelection")
    root = snapshot[0]
    assert [c.key for c in imaging.constraints] == [c["key"] for c in root["constraint"]]
    assert imaging.kind == "resource" and imaging.base == "DomainResource"
    assert imaging.version == "5.0.0"
    # backbones: every BackboneElement-typed element, in specification order
    expected_backbones = [
        raw["path"] for raw in snapshot if _type_codes(raw) == ("BackboneElement",)
    ]
    assert [b.name for b in imaging.backbones] == expected_backbones == [
        "ImagingSelection.performer",
        "ImagingSelection.instance",
        "ImagingSelection.instance.imageRegion2D",
        "ImagingSelection.instance.imageRegion3D",
    ]
    # each type lists its direct children in snapshot order
    for owner in imaging.all_types():
        depth = owner.name.count(".") + 1
        expected = [
            raw["path"]
            for raw in snapshot
            if raw["path"].startswith(owner.name + ".") and raw["path"].count(".") == depth
        ]
        assert [e.path for e in owner.elements] == expected, owner.name


def test_imaging_selection_required_bindings_have_their_codes(
    real: Model, snapshot: list[dict[str, Any]]
) -> None:
    expansions = DEFINITIONS / "hl7.fhir.r5.expansions"
    status = real.value_set("http://hl7.org/fhir/ValueSet/imagingselection-status")
    assert status is not None and status.expanded
    shipped = json.loads(
        (expansions / "ValueSet-imagingselection-status.json").read_text(encoding="utf-8")
    )
    assert status.codes() == {c["code"] for c in shipped["expansion"]["contains"]}
    assert status.codes() == {"available", "entered-in-error", "unknown"}
    for raw in snapshot:
        binding = raw.get("binding") or {}
        if binding.get("strength") in ("required", "extensible"):
            assert real.value_set(binding["valueSet"]) is not None, raw["path"]


PRIMITIVES = {
    "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id", "instant",
    "integer", "integer64", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt",
    "uri", "url", "uuid", "xhtml",
}
COMPLEX = {
    "Address", "Age", "Annotation", "Attachment", "Availability", "BackboneElement", "BackboneType",
    "Base", "CodeableConcept", "CodeableReference", "Coding", "ContactDetail", "ContactPoint",
    "Count", "DataRequirement", "DataType", "Distance", "Dosage", "Duration", "Element",
    "Expression", "ExtendedContactDetail", "Extension", "HumanName", "Identifier", "Meta", "Money",
    "Narrative", "ParameterDefinition", "Period", "PrimitiveType", "Quantity", "Range", "Ratio",
    "RatioRange", "Reference", "RelatedArtifact", "SampledData", "Signature", "Timing",
    "TriggerDefinition", "UsageContext",
}
RESOURCES = {"DomainResource", "ImagingSelection", "Resource"}


def test_imaging_selection_closure(real: Model, real_index: DefinitionIndex) -> None:
    assert set(real.type_names()) == PRIMITIVES | COMPLEX | RESOURCES
    assert len(real.type_names()) == 66
    assert {t.name for t in real.types if t.is_primitive} == PRIMITIVES
    assert {t.name for t in real.types if t.kind == "complex-type"} == COMPLEX
    assert closure(real_index, ["ImagingSelection"]) == real.type_names()
    # every primitive type of the core package is in the closure (Extension.value[x] needs them)
    core_primitives = set()
    for path in CORE.glob("StructureDefinition-*.json"):
        sd = json.loads(path.read_text(encoding="utf-8"))
        if sd.get("kind") == "primitive-type":
            core_primitives.add(sd["type"])
    assert core_primitives == PRIMITIVES
    assert real.fhir_version == "5.0.0"
    assert ("hl7.fhir.r5.core", "5.0.0") in real.packages


def test_real_primitives(real: Model) -> None:
    kinds = {t.name: t.primitive.json_kind for t in real.types if t.primitive is not None}
    assert {n for n, k in kinds.items() if k == "number"} == {
        "decimal", "integer", "positiveInt", "unsignedInt"
    }
    assert {n for n, k in kinds.items() if k == "boolean"} == {"boolean"}
    assert kinds["integer64"] == "string"
    raw = json.loads((CORE / "StructureDefinition-id.json").read_text(encoding="utf-8"))
    (value,) = [e for e in raw["snapshot"]["element"] if e["path"] == "id.value"]
    (regex,) = [
        x["valueString"]
        for x in value["type"][0]["extension"]
        if x["url"] == "http://hl7.org/fhir/StructureDefinition/regex"
    ]
    assert real.type("id").primitive.regex == regex
