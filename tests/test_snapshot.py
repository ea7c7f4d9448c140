"""Tests of snapshots built from differentials (``fhirgen.snapshot``).

The oracle is the official snapshot: definitions that have both are stripped of their snapshot,
which is then built from the differential and compared with the official one, element by element
(ids and order, min/max, types with target profiles and profiles, bindings, constraint keys,
fixed/pattern values, mustSupport). For ImagingSelection and the datatypes it uses, the
intermediate model built from the generated snapshot is the same as from the official one, so the
generated code is too.

Justified differences from the official R5 snapshots (the core build is not consistent with its
own differentials in these; they are listed in ``KNOWN`` and checked to still be the only ones):

* the root of 35 resources (most canonical resources, MedicationKnowledge, SpecimenDefinition ...)
  lacks DomainResource's ``dom-2`` ... ``dom-6`` in the official snapshot, which ImagingSelection
  and the other resources inherit; we inherit them everywhere;
* ``Base`` has no base: its snapshot is its differential (the official root adds ``ele-1``);
* ``positiveInt.value`` and ``unsignedInt.value``: the differential says ``System.Integer`` and
  gives minValue/maxValue, the official snapshot says ``System.String`` without them;
* ``MetadataResource`` (an abstract interface) takes CanonicalResource's elements by the
  ``implements`` mechanism, which is not followed;
* ``catalog`` slices ``Composition.date`` (max 1): the official snapshot replaces the element by its
  only slice, we keep both;
* ``executablevalueset`` profiles an extension (``valueset-warning``) that is not in the core
  package, so its children cannot be unfolded from it;
* constraint order is not compared (the core build is not consistent: sometimes differential
  order, sometimes natural key order); a constraint a profile adds gets ``source`` = the profile;
* documentation on primitives' inherited ``id``/``extension`` (short, definition, condition) and
  ``DataType.id``/``BackboneElement.id`` typed ``id`` where ``Element.id`` is ``string``: the
  core build writes those from templates; we inherit what the base says.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fhirgen.ir import IRError, build_model, build_type
from fhirgen.loader import DefinitionIndex, load_index
from fhirgen.snapshot import SnapshotError, ensure_snapshots, generate_snapshot, has_snapshot

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT / "definitions"
CORE_PACKAGE = ROOT / ".cache" / "packages" / "hl7.fhir.r5.core-5.0.0.tgz"
SD = "http://hl7.org/fhir/StructureDefinition/"

#: Definitions of definitions/ whose intermediate model from a generated snapshot is identical.
SAME_MODEL = (
    "ImagingSelection", "DomainResource", "Resource", "Element", "Extension", "Coding",
    "CodeableConcept", "CodeableReference", "Reference", "Identifier", "Quantity", "Age", "Meta",
    "Narrative", "Period", "Attachment", "Address", "HumanName", "ContactPoint", "Timing",
    "Dosage", "Signature", "RelatedArtifact", "UsageContext", "code", "id",
)
#: Same snapshot facts; the model differs in documented ways only (sqty-1's ``source``, the
#: documentation of primitives' inherited ``id`` and ``extension``).
SAME_SNAPSHOT = ("SimpleQuantity", "string", "boolean", "decimal", "uri", "dateTime")

#: (definition id, what differs) of the core package, all explained in the module docstring.
KNOWN_CORE = {
    "Base", "positiveInt", "unsignedInt", "MetadataResource", "catalog", "executablevalueset",
    "ActivityDefinition", "ActorDefinition", "CapabilityStatement", "ChargeItemDefinition",
    "Citation", "CodeSystem", "CompartmentDefinition", "ConceptMap", "ConditionDefinition",
    "EventDefinition", "Evidence", "EvidenceReport", "EvidenceVariable", "ExampleScenario",
    "GraphDefinition", "ImplementationGuide", "Library", "Measure", "MedicationKnowledge",
    "MessageDefinition", "NamingSystem", "ObservationDefinition", "OperationDefinition",
    "PlanDefinition", "Questionnaire", "Requirements", "SearchParameter", "SpecimenDefinition",
    "StructureDefinition", "StructureMap", "SubscriptionTopic", "TerminologyCapabilities",
    "TestPlan", "TestScript", "ValueSet",
}


def facts(element: dict[str, Any]) -> dict[str, Any]:
    """What a snapshot element must agree on (constraint keys as a set: order is not a fact)."""
    binding = element.get("binding") or {}
    return {
        "id": element.get("id"),
        "path": element["path"],
        "min": element.get("min"),
        "max": element.get("max"),
        "types": [(t["code"], t.get("targetProfile", []), t.get("profile", []))
                  for t in element.get("type", ())],
        "binding": (binding.get("strength"), binding.get("valueSet")),
        "constraints": sorted(c["key"] for c in element.get("constraint", ())),
        "values": {k: v for k, v in element.items() if k.startswith(("fixed", "pattern"))},
        "mustSupport": element.get("mustSupport", False),
        "sliceName": element.get("sliceName"),
        "base": (element.get("base") or {}).get("path"),
    }


def resolver(index: DefinitionIndex) -> Any:
    def resolve(url: str) -> dict[str, Any] | None:
        url = url.split("|", 1)[0]
        return index.get(url) if "/" in url else index.structure_definition(url)

    return resolve


def stripped(index: DefinitionIndex, *names: str) -> DefinitionIndex:
    """A copy of *index* where the named definitions (type names or ids) have no snapshot."""
    resources = dict(index.resources)
    for url, resource in index.resources.items():
        if resource.get("resourceType") == "StructureDefinition" and (
            resource.get("id") in names or url in {SD + n for n in names}
        ):
            copy_ = dict(resource)
            del copy_["snapshot"]
            resources[url] = copy_
    return DefinitionIndex(resources, index.origins, index.examples, index.packages)


def assert_same_snapshot(official: list[dict[str, Any]], generated: list[dict[str, Any]]) -> None:
    assert [e["id"] for e in generated] == [e["id"] for e in official]
    for ours, theirs in zip(generated, official, strict=True):
        assert facts(ours) == facts(theirs), ours["id"]


@pytest.fixture(scope="module")
def index() -> DefinitionIndex:
    """The official definitions, without fhirgen's own differential-only imaging rules (their
    snapshot is built whenever the whole folder is loaded, which the purity test must avoid)."""
    everything = load_index([DEFINITIONS])
    official = {url: res for url, res in everything.resources.items()
                if not url.startswith("http://fhirgen.example.org/")}
    return replace(everything, resources=official)


@pytest.fixture(scope="module")
def core() -> DefinitionIndex:
    if not CORE_PACKAGE.is_file():
        pytest.skip("the official core package is not in .cache/packages (run .ci/run)")
    return load_index([CORE_PACKAGE])


# -------------------------------------------------------------------- definitions/ (always run)


@pytest.mark.parametrize("name", SAME_MODEL + SAME_SNAPSHOT)
def test_generated_snapshot_gives_the_same_model(index: DefinitionIndex, name: str) -> None:
    sd = index.structure_definition(name)
    assert sd is not None and has_snapshot(sd) and sd["differential"]["element"]
    generated = generate_snapshot(sd, resolver(index))
    assert_same_snapshot(sd["snapshot"]["element"], generated)
    same_model = build_type({**sd, "snapshot": {"element": generated}}) == build_type(sd)
    assert same_model is (name in SAME_MODEL)


def test_imaging_selection_snapshot_in_detail(index: DefinitionIndex) -> None:
    """Specialisation: DomainResource's elements re-rooted, backbones unfolded, in order."""
    sd = index.structure_definition("ImagingSelection")
    assert sd is not None
    generated = {e["id"]: e for e in generate_snapshot(sd, resolver(index))}
    assert list(generated)[:10] == [
        "ImagingSelection", "ImagingSelection.id", "ImagingSelection.meta",
        "ImagingSelection.implicitRules", "ImagingSelection.language", "ImagingSelection.text",
        "ImagingSelection.contained", "ImagingSelection.extension",
        "ImagingSelection.modifierExtension", "ImagingSelection.identifier",
    ]
    assert generated["ImagingSelection.id"]["base"]["path"] == "Resource.id"
    performer = [i for i in generated if i.startswith("ImagingSelection.performer")]
    assert performer == [
        "ImagingSelection.performer", "ImagingSelection.performer.id",
        "ImagingSelection.performer.extension", "ImagingSelection.performer.modifierExtension",
        "ImagingSelection.performer.function", "ImagingSelection.performer.actor",
    ]
    assert [c["key"] for c in generated["ImagingSelection"]["constraint"]] == [
        "dom-2", "dom-3", "dom-4", "dom-5", "dom-6"
    ]
    assert [c["key"] for c in generated["ImagingSelection.status"]["constraint"]] == ["ele-1"]
    assert generated["ImagingSelection.status"]["binding"]["strength"] == "required"


def test_build_model_fills_missing_snapshots(index: DefinitionIndex) -> None:
    """The whole closure, with its snapshots stripped, models exactly as the official one."""
    without = stripped(index, *SAME_MODEL)
    assert not has_snapshot(without.structure_definition("ImagingSelection") or {})
    assert build_model(without, ["ImagingSelection"]) == build_model(index, ["ImagingSelection"])


def test_ensure_snapshots_is_pure(index: DefinitionIndex) -> None:
    assert ensure_snapshots(index) is index  # nothing to do: the very same index
    without = stripped(index, "ImagingSelection", "DomainResource")
    before = copy.deepcopy(dict(without.resources))
    filled = ensure_snapshots(without)
    assert dict(without.resources) == before  # input untouched
    assert filled is not without
    assert has_snapshot(filled.structure_definition("ImagingSelection") or {})
    assert has_snapshot(filled.structure_definition("DomainResource") or {})  # recursively
    assert filled.structure_definition("Coding") is index.structure_definition("Coding")


def test_no_snapshot_and_no_differential_is_an_error(index: DefinitionIndex) -> None:
    sd = dict(index.structure_definition("ImagingSelection") or {})
    del sd["snapshot"], sd["differential"]
    with pytest.raises(SnapshotError, match="no snapshot and no differential"):
        generate_snapshot(sd, resolver(index))
    resources = {**index.resources, sd["url"]: sd}
    broken = DefinitionIndex(resources, index.origins, index.examples, index.packages)
    with pytest.raises(IRError, match="ImagingSelection: StructureDefinition has no snapshot"):
        build_model(broken, ["ImagingSelection"])


# ---------------------------------------------------------------- a profile on ImagingSelection

KEY_IMAGES = {
    "resourceType": "StructureDefinition",
    "url": "http://example.org/fhir/StructureDefinition/key-image-selection",
    "name": "KeyImageSelection",
    "status": "draft",
    "kind": "resource",
    "abstract": False,
    "type": "ImagingSelection",
    "baseDefinition": SD + "ImagingSelection",
    "derivation": "constraint",
    "differential": {"element": [
        {"id": "ImagingSelection", "path": "ImagingSelection",
         "constraint": [{"key": "kis-1", "severity": "error", "human": "One instance at least",
                         "expression": "instance.exists()"}]},
        {"id": "ImagingSelection.code", "path": "ImagingSelection.code", "min": 1},
        {"id": "ImagingSelection.code.coding", "path": "ImagingSelection.code.coding", "min": 1,
         "slicing": {"discriminator": [{"type": "pattern", "path": "$this"}], "rules": "open"}},
        {"id": "ImagingSelection.code.coding:keyImage", "path": "ImagingSelection.code.coding",
         "sliceName": "keyImage", "min": 1, "max": "1",
         "patternCoding": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "113000"}},
        {"id": "ImagingSelection.code.coding:keyImage.display",
         "path": "ImagingSelection.code.coding.display", "mustSupport": True},
        {"id": "ImagingSelection.subject", "path": "ImagingSelection.subject", "min": 1,
         "type": [{"code": "Reference", "targetProfile": [SD + "Patient"]}]},
        {"id": "ImagingSelection.instance", "path": "ImagingSelection.instance", "min": 1},
        {"id": "ImagingSelection.instance.imageRegion2D",
         "path": "ImagingSelection.instance.imageRegion2D", "min": 1},
    ]},
}


def test_constraint_profile_on_imaging_selection(index: DefinitionIndex) -> None:
    generated = generate_snapshot(KEY_IMAGES, resolver(index))
    ids = [e["id"] for e in generated]
    by_id = {e["id"]: e for e in generated}
    base = [e["id"] for e in (index.structure_definition("ImagingSelection") or {})["snapshot"]["element"]]
    # the base's elements, in order, with the datatype CodeableConcept unfolded under code and a
    # slice of coding (with Coding's children) right after coding
    code_at = ids.index("ImagingSelection.code")
    assert ids[code_at : code_at + 14] == [
        "ImagingSelection.code", "ImagingSelection.code.id", "ImagingSelection.code.extension",
        "ImagingSelection.code.coding", "ImagingSelection.code.coding:keyImage",
        "ImagingSelection.code.coding:keyImage.id", "ImagingSelection.code.coding:keyImage.extension",
        "ImagingSelection.code.coding:keyImage.system",
        "ImagingSelection.code.coding:keyImage.version", "ImagingSelection.code.coding:keyImage.code",
        "ImagingSelection.code.coding:keyImage.display",
        "ImagingSelection.code.coding:keyImage.userSelected", "ImagingSelection.code.text",
        "ImagingSelection.studyUid",
    ]
    assert [i for i in ids if ":" not in i and ".code." not in i] == base
    root = by_id["ImagingSelection"]
    assert [c["key"] for c in root["constraint"]][-1] == "kis-1"
    assert root["constraint"][-1]["source"] == KEY_IMAGES["url"]
    assert (by_id["ImagingSelection.code"]["min"], by_id["ImagingSelection.code"]["max"]) == (1, "1")
    assert by_id["ImagingSelection.code.coding"]["base"]["path"] == "CodeableConcept.coding"
    assert by_id["ImagingSelection.code.coding"]["slicing"]["rules"] == "open"
    key_image = by_id["ImagingSelection.code.coding:keyImage"]
    assert key_image["sliceName"] == "keyImage" and "slicing" not in key_image
    assert key_image["path"] == "ImagingSelection.code.coding"
    assert key_image["patternCoding"]["code"] == "113000"
    assert by_id["ImagingSelection.code.coding:keyImage.display"]["mustSupport"] is True
    assert by_id["ImagingSelection.code.coding:keyImage.display"]["path"] == (
        "ImagingSelection.code.coding.display"
    )
    subject = by_id["ImagingSelection.subject"]
    assert subject["type"] == [{"code": "Reference", "targetProfile": [SD + "Patient"]}]
    assert by_id["ImagingSelection.instance.imageRegion2D"]["min"] == 1
    # and the intermediate model reads it as a profile of ImagingSelection
    profile = build_type({**KEY_IMAGES, "snapshot": {"element": generated}})
    assert profile.name == "KeyImageSelection" and profile.derivation == "constraint"
    assert profile.element("code").min == 1
    assert profile.element("subject").types[0].target_types == ("Patient",)


def test_unknown_element_in_a_profile_is_an_error(index: DefinitionIndex) -> None:
    profile = copy.deepcopy(KEY_IMAGES)
    profile["differential"]["element"].append(
        {"id": "ImagingSelection.colour", "path": "ImagingSelection.colour", "min": 1}
    )
    with pytest.raises(SnapshotError, match="ImagingSelection.colour is not in the base"):
        generate_snapshot(profile, resolver(index))
    profile = copy.deepcopy(KEY_IMAGES)
    profile["baseDefinition"] = "http://example.org/fhir/StructureDefinition/nothing"
    with pytest.raises(SnapshotError, match="base http://example.org/.*nothing is not in"):
        generate_snapshot(profile, resolver(index))


def test_base_cycle_is_an_error(index: DefinitionIndex) -> None:
    a = {**copy.deepcopy(KEY_IMAGES), "url": "http://example.org/a",
         "baseDefinition": "http://example.org/b"}
    b = {**copy.deepcopy(KEY_IMAGES), "url": "http://example.org/b",
         "baseDefinition": "http://example.org/a"}
    resources = {**index.resources, a["url"]: a, b["url"]: b}
    with pytest.raises(SnapshotError, match="cycle"):
        ensure_snapshots(DefinitionIndex(resources, index.origins, index.examples, index.packages))


# ------------------------------------------------------------ the core package (when available)


def core_pairs(core: DefinitionIndex) -> Iterator[dict[str, Any]]:
    for sd in core.structure_definitions():
        if has_snapshot(sd) and (sd.get("differential") or {}).get("element") and sd.get("kind") != "logical":
            yield sd


@pytest.mark.parametrize("name", [
    "SimpleQuantity", "MoneyQuantity", "vitalsigns", "bp", "bmi", "bodyheight", "cholesterol",
    "devicemetricobservation", "provenance-relevant-history", "transaction-bundle", "actualgroup",
    "shareablevalueset",
])
def test_core_profiles(core: DefinitionIndex, name: str) -> None:
    (sd,) = [s for s in core.structure_definitions() if s.get("id") == name]
    assert sd["derivation"] == "constraint"
    assert_same_snapshot(sd["snapshot"]["element"], generate_snapshot(sd, resolver(core)))


def test_core_profile_on_a_generated_base(core: DefinitionIndex) -> None:
    """bp's base (vitalsigns) has no snapshot either: it is built first, then bp from it."""
    without = stripped(core, "bp", "vitalsigns", "Observation")
    filled = ensure_snapshots(without)
    for name in ("bp", "vitalsigns"):
        official = core.get(SD + name)
        assert official is not None
        assert_same_snapshot(official["snapshot"]["element"],
                             (filled.get(SD + name) or {})["snapshot"]["element"])


def test_whole_core_package(core: DefinitionIndex) -> None:
    """Every core definition with both: the same, apart from the known differences."""
    differing = set()
    for sd in core_pairs(core):
        generated = generate_snapshot(sd, resolver(core))
        try:
            assert_same_snapshot(sd["snapshot"]["element"], generated)
        except AssertionError:
            differing.add(sd["id"])
    assert differing == KNOWN_CORE


def test_core_definitions_without_snapshot(core: DefinitionIndex) -> None:
    """The two core profiles published without a snapshot get one."""
    missing = [sd["id"] for sd in core.structure_definitions() if not has_snapshot(sd)
               and (sd.get("differential") or {}).get("element")]
    assert sorted(missing) == ["example-composition", "example-section-library"]
    filled = ensure_snapshots(core)
    for sd in filled.structure_definitions():
        if sd["id"] in missing:
            ids = [e["id"] for e in sd["snapshot"]["element"]]
            assert ids[0] == "Composition" and len(ids) > 40
            assert all(e["id"] in ids for e in sd["differential"]["element"] if "." not in e["id"]
                       or not e["id"].split(".")[-1].startswith("section"))
