"""Profiles as generation targets: the shipped KeyImageSelection profile and its generated validator.

Every rule of ``profiles/StructureDefinition-KeyImageSelection.json`` (a differential:
the snapshot builder makes the rest) is broken once on a valid resource
(``tests/fixtures/profiles/key-image-selection.json``) and the issue is expected at its FHIRPath
location; the base validator alone must accept the same mutation where the rule is the profile's
only. Then the command line (``--profile``, unknown URLs, ``meta.profile`` claims), the runtime's
discriminators that the shipped profile does not use, the CID 7010 ValueSet against pydicom, and
a change to a copy of the profile, regenerated.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fhirgen.cli import main
from fhirgen.models.profiles import PROFILES, validate
from fhirgen.models.validators import validate as validate_base
from fhirgen.runtime.issues import IssueList
from fhirgen.runtime.profiles import Rules, Slice, Slicing

ROOT = Path(__file__).resolve().parents[1]
PROFILE_FILE = ROOT / "profiles" / "StructureDefinition-KeyImageSelection.json"
VALUE_SET_FILE = ROOT / "profiles" / "ValueSet-dicom-cid-7010.json"
VALID = ROOT / "tests" / "fixtures" / "profiles" / "key-image-selection.json"
URL = "http://fhirgen.example.org/fhir/StructureDefinition/KeyImageSelection"
NOTE = "http://example.org/fhir/StructureDefinition/note"
DCM = "http://dicom.nema.org/resources/ontology/DCM"


def valid() -> dict[str, Any]:
    return json.loads(VALID.read_text())


def errors(result: Any) -> list[tuple[str, str]]:
    return [(i.rule, i.expression) for i in result.issues if i.severity in ("error", "fatal")]


def test_valid_resource_passes_base_and_profile() -> None:
    assert errors(validate(valid(), URL)) == []
    assert URL in PROFILES and PROFILES[URL].type == "ImagingSelection"


def _set(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(tree: dict[str, Any]) -> None:
        node = tree
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return mutate


def _remove(*keys: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(tree: dict[str, Any]) -> None:
        node = tree
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]
    return mutate


def _append(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(tree: dict[str, Any]) -> None:
        node = tree
        for key in keys:
            node = node[key]
        node.append(copy.deepcopy(value))
    return mutate


I0, I1 = ("instance", 0), ("instance", 1)
#: (id, mutation, rule, location, whether the base type alone already rejects it)
CASES = [
    ("fixed-status", _set("status", value="unknown"), "fixed", "ImagingSelection.status", False),
    ("subject-required", _remove("subject"), "cardinality", "ImagingSelection", False),
    ("subject-target", _set("subject", value={"reference": "Group/1"}), "reference-target",
     "ImagingSelection.subject.reference", False),
    ("code-pattern", _set("code", value={"coding": [{"system": "http://loinc.org", "code": "113000"}]}),
     "pattern", "ImagingSelection.code", False),
    ("code-binding-cid7010", _set("code", "coding", 0, "code", value="121000"), "binding",
     "ImagingSelection.code", False),
    ("code-text-only", _set("code", value={"text": "of interest"}), "binding",
     "ImagingSelection.code", False),
    ("studyUid-required", _remove("studyUid"), "cardinality", "ImagingSelection", False),
    ("seriesUid-required", _remove("seriesUid"), "cardinality", "ImagingSelection", False),
    ("instance-required", _remove("instance"), "cardinality", "ImagingSelection", False),
    ("region2d-required", _remove(*I1, "imageRegion2D"), "cardinality",
     "ImagingSelection.instance[1]", False),
    ("region3d-forbidden", _set(*I0, "imageRegion3D", value=[
        {"regionType": "point", "coordinate": [1, 1, 1]}]), "cardinality",
     "ImagingSelection.instance[0]", False),
    ("sopClass-pattern", _set(*I0, "sopClass", "system", value="urn:dicom:uid"), "pattern",
     "ImagingSelection.instance[0].sopClass", False),
    ("closed-slicing", _set(*I0, "imageRegion2D", 0, "regionType", value="ellipse"), "slicing",
     "ImagingSelection.instance[0].imageRegion2D[0]", False),
    ("point-slice-coordinates", _set(*I0, "imageRegion2D", 1, "coordinate", value=[1, 1, 2, 2]),
     "cardinality", "ImagingSelection.instance[0].imageRegion2D[1]", False),
    ("circle-slice-max", _append(*I1, "imageRegion2D", value={
        "regionType": "circle", "coordinate": [1, 1, 1, 2]}), "cardinality",
     "ImagingSelection.instance[1]", False),
    ("order-slice-max", _append("basedOn", value={"reference": "ServiceRequest/2"}),
     "cardinality", "ImagingSelection", False),
    ("kis-1-distinct-instances", _set(*I1, "uid", value="1.2.840.113747.20080222.324856729726823100132726086516575.1.0"),
     "kis-1", "ImagingSelection", False),
    ("kis-2-coordinate-pairs", _set(*I0, "imageRegion2D", 0, "coordinate", value=[1, 1, 2, 2, 3]),
     "kis-2", "ImagingSelection.instance[0].imageRegion2D[0]", False),
]


@pytest.mark.parametrize(("mutate", "rule", "where", "base_too"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_of_the_profile(mutate: Callable[[dict[str, Any]], None], rule: str,
                                  where: str, base_too: bool) -> None:
    tree = valid()
    mutate(tree)
    found = errors(validate(tree, URL))
    assert (rule, where) in found, found
    assert all(r not in ("fatal",) for r, _ in found)
    assert ((rule, where) in errors(validate_base(tree))) is base_too


def test_issues_name_the_profile_and_the_slice() -> None:
    tree = valid()
    _append("basedOn", value={"reference": "ServiceRequest/2"})(tree)
    messages = [i.message for i in validate(tree, URL).issues if i.rule == "cardinality"]
    assert messages == [
        f"ImagingSelection.basedOn:order: maximum allowed = 1, but found 2 (from {URL}|0.1.0)"
    ]


def test_meta_profile_claims_are_honoured() -> None:
    tree = valid()
    tree["status"] = "unknown"
    assert errors(validate(tree)) == []  # no profile asked for, none claimed
    tree["meta"] = {"profile": [URL + "|0.1.0"]}
    assert ("fixed", "ImagingSelection.status") in errors(validate(tree))
    tree["meta"] = {"profile": ["http://example.org/unknown-profile"]}
    assert errors(validate(tree)) == []


def test_profile_of_another_type() -> None:
    from fhirgen.runtime.profiles import Profile, with_profiles

    other = Profile("http://example.org/p", None, "Patient", "P", lambda n, p, o: None)
    validators = with_profiles({"ImagingSelection": lambda n, p, o: None}, [other])
    out = IssueList()
    validators["ImagingSelection"]({}, "ImagingSelection", out)
    assert [(i.rule, i.expression) for i in out] == [("profile", "ImagingSelection")]


# ------------------------------------------------------------------------------ command line


def test_cli_validate_with_profile(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(main, ["validate", "--profile", URL, str(VALID)])
    assert good.exit_code == 0, good.output
    bad = valid()
    bad["instance"][0]["imageRegion2D"][0]["regionType"] = "ellipse"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    result = runner.invoke(main, ["validate", "--format", "json", "--profile", URL, str(path)])
    assert result.exit_code == 1
    outcome = json.loads(result.output.splitlines()[0])
    assert ["ImagingSelection.instance[0].imageRegion2D[0]"] in [
        i.get("expression") for i in outcome["issue"] if i["severity"] == "error"]
    assert runner.invoke(main, ["validate", str(path)]).exit_code == 0  # the base alone


def test_cli_validate_xml_with_profile(tmp_path: Path) -> None:
    from fhirgen.models import ImagingSelection
    from fhirgen.runtime.xml import to_xml

    tree = valid()
    tree["status"] = "unknown"  # allowed by the base type, not by the profile
    path = tmp_path / "bad.xml"
    path.write_bytes(to_xml(ImagingSelection.from_json(tree)))
    runner = CliRunner()
    assert runner.invoke(main, ["validate", str(path)]).exit_code == 0
    result = runner.invoke(main, ["validate", "--profile", URL, str(path)])
    assert result.exit_code == 1
    assert "ImagingSelection.status" in result.output and "[fixed]" in result.output


def test_cli_validate_with_profile_on_processes(tmp_path: Path) -> None:
    bad = valid()
    bad["status"] = "unknown"
    path = tmp_path / "many.ndjson"
    path.write_text("\n".join(json.dumps(t) for t in (valid(), bad, valid())) + "\n")
    result = CliRunner().invoke(main, ["validate", "--jobs", "2", "--format", "json",
                                       "--profile", URL, str(path)])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.output.splitlines()]
    rules = [[i["extension"][-1]["valueCode"] for i in o["issue"] if i["severity"] == "error"]
             for o in lines]
    assert rules == [[], ["fixed"], []]


def test_cli_unknown_profile_is_unusable_input() -> None:
    result = CliRunner().invoke(main, ["validate", "--profile", "http://example.org/nope",
                                       str(VALID)])
    assert result.exit_code == 2
    assert "unknown profile http://example.org/nope" in result.output
    assert "Traceback" not in result.output


# ------------------------------------------------------------- discriminators at run time


def _slice_names(slicing: Slicing, items: list[Any]) -> list[str]:
    """Which slice takes each item (through the issues of a closed slicing)."""
    taken: list[str] = []
    for item in items:
        out = IssueList()
        name = next((s.name for s in slicing.slices if s.takes(item, out)), "-")
        taken.append(name)
    return taken


def test_exists_profile_and_pattern_discriminators() -> None:
    note = "http://example.org/StructureDefinition/note"
    slicing = Slicing("X.extension", "closed", False, (
        Slice("note", 0, 1, (("profile", "$this", (note,)),)),
        Slice("coded", 0, None, (("pattern", "value", {"coding": ({"system": DCM},)}),)),
        Slice("valued", 0, None, (("exists", "value", True),)),
    ))
    items = [
        {"url": note, "valueString": "x"},
        {"url": "http://e/1", "valueCodeableConcept": {"coding": [{"system": DCM, "code": "1"}]}},
        {"url": "http://e/2", "valueString": "y"},
        {"url": "http://e/3", "extension": [{"url": "a", "valueString": "z"}]},
    ]
    assert _slice_names(slicing, items) == ["note", "coded", "valued", "-"]
    out = IssueList()
    Rules("http://p").slices({"extension": items + [items[0]]}, "extension", "X", out, slicing)
    assert [(i.rule, i.expression) for i in out] == [
        ("slicing", "X.extension[3]"), ("cardinality", "X")]


def test_ordered_and_open_at_end_slicing() -> None:
    a = Slice("a", 0, None, (("fixed", "code", "a"),))
    b = Slice("b", 0, None, (("fixed", "code", "b"),))
    items = [{"code": "b"}, {"code": "x"}, {"code": "a"}]
    out = IssueList()
    Rules("http://p").slices({"c": items}, "c", "X", out, Slicing("X.c", "openAtEnd", True, (a, b)))
    assert [(i.rule, i.expression) for i in out] == [("slicing", "X.c[2]"), ("slicing", "X.c[2]")]
    out = IssueList()
    Rules("http://p").slices({"c": items}, "c", "X", out, Slicing("X.c", "open", False, (a, b)))
    assert list(out) == []


# ---------------------------------------------------------------------------- CID 7010


def test_cid_7010_value_set_is_pydicom_s() -> None:
    pytest.importorskip("pydicom", reason="pydicom makes the CID ValueSet (extra [dicom])")
    from fhirgen.dicom_valuesets import cid_value_set, render

    made = render(cid_value_set(7010))
    if made != VALUE_SET_FILE.read_text():
        import pydicom

        committed = json.loads(VALUE_SET_FILE.read_text())
        version = committed["expansion"]["parameter"][0]["valueString"]
        if version != pydicom.__version__:
            pytest.skip(f"the ValueSet was made with pydicom {version}, {pydicom.__version__} here")
    assert made == VALUE_SET_FILE.read_text()
    codes = {c["code"] for c in json.loads(made)["expansion"]["contains"]}
    assert {"113000", "113001", "113013"} <= codes and len(codes) > 50


# ------------------------------------------------------------------- driven by change


def _import_package(folder: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return importlib.import_module(f"{name}.profiles")


def test_changed_profile_regenerates(tmp_path: Path) -> None:
    """Edit a copy of the profile (a cardinality, an exists-sliced element, a new invariant, a
    stronger binding removed), regenerate, and check the new package behaves accordingly."""
    from fhirgen.pipeline import run_generation
    from fhirgen.writer import write_files

    sd = json.loads(PROFILE_FILE.read_text())
    elements = sd["differential"]["element"]
    elements[:] = [e for e in elements if e["id"] != "ImagingSelection.code"]  # binding gone
    elements.insert(1, {"id": "ImagingSelection.identifier", "path": "ImagingSelection.identifier",
                        "min": 1, "constraint": [{"key": "kis-3", "severity": "warning",
                                                  "human": "DICOM UIDs as URNs",
                                                  "expression": "value.startsWith('urn:')"}]})
    at = next(i for i, e in enumerate(elements) if e["id"] == "ImagingSelection.instance") + 1
    elements[at:at] = [
        {"id": "ImagingSelection.instance.number", "path": "ImagingSelection.instance.number"},
    ]
    elements.insert(at, {"id": "ImagingSelection.instance", "path": "ImagingSelection.instance",
                         "slicing": {"discriminator": [{"type": "exists", "path": "number"}],
                                     "rules": "open"}})
    del elements[at - 1]
    elements[at:at] = [
        {"id": "ImagingSelection.instance:numbered", "path": "ImagingSelection.instance",
         "sliceName": "numbered", "min": 1, "max": "*"},
        {"id": "ImagingSelection.instance:numbered.number",
         "path": "ImagingSelection.instance.number", "min": 1},
    ]
    elements[1:1] = [  # an extension sliced by url, its value narrowed to two types
        {"id": "ImagingSelection.extension", "path": "ImagingSelection.extension",
         "slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"}},
        {"id": "ImagingSelection.extension:note", "path": "ImagingSelection.extension",
         "sliceName": "note", "min": 0, "max": "1"},
        {"id": "ImagingSelection.extension:note.url", "path": "ImagingSelection.extension.url",
         "fixedUri": NOTE},
        {"id": "ImagingSelection.extension:note.value[x]",
         "path": "ImagingSelection.extension.value[x]", "min": 1,
         "type": [{"code": "string"}, {"code": "markdown"}]},
    ]
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "profile.json").write_text(json.dumps(sd))
    (folder / "vs.json").write_text(VALUE_SET_FILE.read_text())
    packages = [ROOT / "definitions" / p for p in
                ("hl7.fhir.r5.core", "hl7.fhir.r5.expansions")]
    generation = run_generation([*packages, folder], ["ImagingSelection"], tests=False,
                                import_name="changed_models", profiles=[URL])
    write_files(generation.files, {"models": tmp_path / "changed_models"})
    changed = _import_package(tmp_path / "changed_models", "changed_models")

    tree = valid()
    tree["code"] = {"text": "no DICOM code"}  # the binding and the pattern are gone
    tree["instance"][0]["number"] = 1
    del tree["identifier"]
    found = changed.validate(tree, URL)
    assert [(i.rule, i.expression) for i in found.issues if i.severity == "error"] == [
        ("cardinality", "ImagingSelection")]  # identifier is now required
    tree["identifier"] = [{"system": "urn:dicom:uid", "value": "1.2.3"}]
    found = changed.validate(tree, URL)
    assert ("kis-3", "ImagingSelection.identifier[0]") in [
        (i.rule, i.expression) for i in found.issues if i.severity == "warning"]
    assert found.ok
    del tree["instance"][0]["number"]  # the exists-sliced instance:numbered is now empty
    assert [(i.rule, i.expression) for i in changed.validate(tree, URL).issues
            if i.severity == "error"] == [("cardinality", "ImagingSelection")]
    tree["instance"][0]["number"] = 1
    tree["extension"] = [{"url": NOTE, "valueBoolean": True}, {"url": "http://e/x", "valueBoolean": True}]
    assert [(i.rule, i.expression) for i in changed.validate(tree, URL).issues
            if i.severity == "error"] == [
        ("cardinality", "ImagingSelection.extension[0]"),  # value[x] 1..1 as string|markdown
        ("profile-type", "ImagingSelection.extension[0].valueBoolean"),
    ]
    tree["extension"][0] = {"url": NOTE, "valueString": "checked by two readers"}
    assert changed.validate(tree, URL).ok


# ---------------------------------------------------------------- generation errors


def _profile_index(edit: Callable[[dict[str, Any]], None]) -> Any:
    from fhirgen.loader import DefinitionIndex, load_index

    index = load_index([ROOT / "definitions", ROOT / "profiles"])
    sd = json.loads(PROFILE_FILE.read_text())
    edit(sd)
    resources = {**index.resources, sd["url"]: sd}
    return DefinitionIndex(resources, index.origins, index.examples, index.packages)


def test_unknown_or_unusable_profiles_fail_generation_clearly() -> None:
    from fhirgen.ir import IRError, build_model, build_profiles
    from fhirgen.profile_views import build_profile_views

    index = _profile_index(lambda sd: None)
    with pytest.raises(IRError, match="http://example.org/none: no StructureDefinition"):
        build_profiles(index, ["http://example.org/none"])
    with pytest.raises(IRError, match="is not a constraint profile"):
        build_profiles(index, ["http://hl7.org/fhir/StructureDefinition/ImagingSelection"])

    def odd_discriminator(sd: dict[str, Any]) -> None:
        for element in sd["differential"]["element"]:
            if element["id"] == "ImagingSelection.instance.imageRegion2D":
                element["slicing"]["discriminator"] = [{"type": "value", "path": "coordinate.first()"}]

    index = _profile_index(odd_discriminator)
    model = build_model(index, ["ImagingSelection"])
    with pytest.raises(IRError, match=r"imageRegion2D:point: discriminator path 'coordinate.first\(\)'"):
        build_profile_views(model, build_profiles(index, [URL]), ())


def test_generate_with_an_unknown_configured_profile_exits_2(tmp_path: Path) -> None:
    import shutil
    import subprocess

    text = (ROOT / "pyproject.toml").read_text().replace(
        f'profiles = ["{URL}"]', 'profiles = ["http://example.org/fhir/StructureDefinition/none"]')
    (tmp_path / "pyproject.toml").write_text(text)
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    (tmp_path / "definitions").symlink_to(ROOT / "definitions")
    result = subprocess.run([sys.executable, "-m", "fhirgen.cli", "check"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == ("fhirgen: error: profile http://example.org/fhir/"
                                     "StructureDefinition/none: no StructureDefinition with this "
                                     "URL in the definitions")


# ------------------------------------------------------------------ run-time semantics


def test_fixed_and_pattern_semantics() -> None:
    from decimal import Decimal

    from fhirgen.runtime.profiles import equals_fixed, matches_pattern

    coding = {"system": DCM, "code": "113000"}
    assert equals_fixed({**coding, "extension": [{"url": "u", "valueString": "x"}]}, coding)
    assert not equals_fixed({**coding, "display": "Of Interest"}, coding)  # fixed: nothing more
    assert matches_pattern({**coding, "display": "Of Interest"}, coding)  # pattern: at least
    assert not matches_pattern({"system": DCM}, coding)
    assert matches_pattern({"coding": [{"system": "x"}, coding]}, {"coding": ({"system": DCM},)})
    assert not matches_pattern({"coding": [{"system": "x"}]}, {"coding": ({"system": DCM},)})
    assert equals_fixed(Decimal("1.50"), 1.5) and not equals_fixed(True, 1)


def test_binding_strengths_and_unexpandable_value_sets() -> None:
    from fhirgen.runtime.validate import ValueSet

    rules = Rules("http://p", "1")
    vs = ValueSet("http://vs", [(DCM, "113000")])
    cases: list[tuple[Any, str, list[str]]] = [
        ("113000", "required", []),
        ("121000", "required", ["error"]),
        ({"system": DCM, "code": "121000"}, "extensible", ["warning"]),
        ({"coding": [{"system": "http://loinc.org", "code": "113000"}]}, "required", ["error"]),
        ({"concept": {"coding": [{"system": DCM, "code": "113000"}]}}, "required", []),
    ]
    for value, strength, expected in cases:
        out = IssueList()
        rules.binding(value, "X.code", out, vs, strength)
        assert [i.severity for i in out] == expected, value
        assert all(i.message.endswith("(from http://p|1)") for i in out)
    out = IssueList()
    rules.binding("121000", "X.code", out, ValueSet("http://vs", None), "required")
    assert [(i.severity, i.rule) for i in out] == [("information", "binding")]


def test_profile_ir_keeps_slices_and_what_they_narrow() -> None:
    from fhirgen.ir import build_profiles
    from fhirgen.loader import load_index

    (profile,) = build_profiles(load_index([ROOT / "definitions", ROOT / "profiles"]), [URL])
    region = "ImagingSelection.instance.imageRegion2D"
    assert [e.slice_name for e in profile.slices(region)] == ["point", "polyline", "circle"]
    point = profile.element_by_id(region + ":point.coordinate")
    assert point is not None and (point.min, point.max, point.base_min, point.base_max) == (2, 2, 1, None)
    sliced = profile.element_by_id(region)
    assert sliced is not None and sliced.slicing is not None
    assert sliced.slicing.discriminators == (("value", "regionType"),) and sliced.slicing.rules == "closed"
    assert sliced.must_support and profile.element_by_id("ImagingSelection.status").fixed == ("code", "available")  # type: ignore[union-attr]
    assert [vs.url for vs in profile.value_sets if vs.expanded and len(vs.concepts) > 50] == [
        "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_7010.html"]
