"""fhirgen's imaging rules (definitions/fhirgen-imaging-rules): each rule compiled by the invariant
compiler, passing on the official ImagingSelection examples and failing, at the element it sits
on, on a mutation that breaks it; the SOP Class registry from pydicom and the closest-class hint;
the rules stay out of the base model."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fhirgen.fhirpath import CompiledInvariant, type_table
from fhirgen.imaging import (
    RULES_FOLDER,
    RULES_URL,
    SOP_CLASSES_URL,
    ImagingRules,
    ImagingRulesError,
    compile_rules,
    load_rules,
    main,
)
from fhirgen.ir import Model, build_model
from fhirgen.loader import load_index
from fhirgen.runtime import fhirpath as fp
from fhirgen.runtime.dicom import HINTS, closest_sop_class, with_hint
from fhirgen.runtime.jsonio import loads
from fhirgen.runtime.validate import ValueSet

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT / "definitions"
FOLDER = DEFINITIONS / RULES_FOLDER
EXAMPLES = DEFINITIONS / "hl7.fhir.r5.examples"
BASIC = "ImagingSelection-example-basic-image-selection.json"
REGION_2D = "ImagingSelection-example-2d-image-region-selection.json"
REGION_3D = "ImagingSelection-example-3d-image-region-selection.json"
CT = "urn:oid:1.2.840.10008.5.1.4.1.1.2"


@pytest.fixture(scope="module")
def rules() -> ImagingRules:
    return load_rules(FOLDER)


@pytest.fixture(scope="module")
def model() -> Model:
    return build_model(load_index([DEFINITIONS]), ["ImagingSelection"])


Function = Callable[[fp.Node, fp.Node, fp.Node], "bool | None"]


@pytest.fixture(scope="module")
def functions(rules: ImagingRules, model: Model) -> dict[str, tuple[str, Function]]:
    """key -> (element path, the compiled function, hints applied) as a generated module has them."""
    value_sets = {url: ValueSet(url, pairs) for url, pairs in rules.expansions().items()}
    out = {}
    for rule, compiled in zip(rules.rules, compile_rules(rules, model), strict=True):
        function = _load(compiled, value_sets)
        if rule.hint:
            function = with_hint(function, HINTS[rule.hint](rules.sop_classes()))
        out[rule.key] = (rule.path, function)
    return out


def _load(compiled: CompiledInvariant, value_sets: dict[str, ValueSet]) -> Function:
    namespace: dict[str, Any] = {"fp": fp, "VALUE_SETS": value_sets}
    exec(compile(compiled.source, f"<{compiled.name}>", "exec"), namespace)  # noqa: S102
    function: Function = namespace[compiled.name]
    return function


def _sites(resource: fp.Node, path: str) -> list[tuple[fp.Node, str]]:
    """The nodes at definition *path* of *resource*, with their FHIRPath locations."""
    sites = [(resource, "ImagingSelection")]
    for name in path.split(".")[1:]:
        found = []
        for node, where in sites:
            items = fp.child([node], name)
            indexed = isinstance(node.data, dict) and isinstance(node.data.get(name), list)
            for i, item in enumerate(items):
                found.append((item, f"{where}.{name}[{i}]" if indexed else f"{where}.{name}"))
        sites = found
    return sites


def failures(functions: dict[str, tuple[str, Function]], data: dict[str, Any],
             model: Model) -> set[tuple[str, str]]:
    """(key, location) of every rule that does not pass (HL7 verdicts: only true passes)."""
    resource = fp.Node.resource(data, type_table(model))
    out = set()
    for key, (path, function) in functions.items():
        for node, where in _sites(resource, path):
            if function(node, resource, resource) is not True:
                out.add((key, where))
    return out


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = loads((EXAMPLES / name).read_bytes())
    return data


def dec(*values: float) -> list[Decimal]:
    return [Decimal(str(v)) for v in values]


# ------------------------------------------------------------------------------- the file


def test_rules_file_is_versioned_cited_and_every_rule_compiles(rules: ImagingRules,
                                                               model: Model) -> None:
    assert rules.url == RULES_URL and rules.version == "1.0.0"
    keys = [rule.key for rule in rules.rules]
    assert keys == [f"isr-{n}" for n in range(1, 23)]
    for rule in rules.rules:
        assert rule.constraint.severity == "warning"
        assert rule.constraint.source and rule.constraint.source.startswith("http")
        assert rule.constraint.requirements and len(rule.constraint.requirements) > 40
    with_model = compile_rules(rules, model)
    without = compile_rules(rules)
    assert [c.key for c in with_model] == [c.key for c in without] == keys
    assert {c.context for c in with_model} == {r.path for r in rules.rules}
    assert [c.key for c in with_model if c.value_sets] == ["isr-9"]
    assert {c.severity for c in compile_rules(rules, model, severity="error")} == {"error"}


def test_every_official_example_passes_every_rule(functions, model) -> None:  # type: ignore[no-untyped-def]
    names = sorted(p.name for p in EXAMPLES.glob("ImagingSelection-*.json"))
    assert len(names) == 7
    for name in names:
        assert failures(functions, example(name), model) == set(), name


def test_rules_stay_out_of_the_base_model(model: Model) -> None:
    """The loader indexes the rules folder with the rest of definitions/, but nothing of the
    base refers to its URLs: no isr- constraint and no binding to the SOP Class value set."""
    index = load_index([DEFINITIONS])
    assert index.get(RULES_URL) is not None and index.get(SOP_CLASSES_URL) is not None
    for type_def in model.types:
        for owner in type_def.all_types():
            keys = [c.key for c in owner.constraints]
            keys += [c.key for e in owner.elements for c in e.constraints]
            assert not [k for k in keys if k.startswith("isr-")], owner.name
    assert SOP_CLASSES_URL not in {vs.url for vs in model.value_sets}
    manifest = json.loads((DEFINITIONS / "manifest.json").read_text(encoding="utf-8"))
    assert RULES_FOLDER not in {p["name"] for p in manifest["packages"]}
    assert not [f for f in manifest["files"] if f["path"].startswith(RULES_FOLDER)]


# -------------------------------------------------------------------------- each rule broken

Mutation = Callable[[dict[str, Any]], None]


def _drop(*names: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        for name in names:
            del data[name]
    return mutate


def _set(name: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data[name] = value
    return mutate


def _instance(name: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["instance"][0][name] = value
    return mutate


def _region(kind: str, region_type: str, values: list[Decimal]) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["instance"][0][kind][0] = {"regionType": region_type, "coordinate": values}
    return mutate


R2 = "ImagingSelection.instance[0].imageRegion2D[0]"
R3 = "ImagingSelection.instance[0].imageRegion3D[0]"
SQUARE = dec(0, 0, 1, 0, 1, 1, 0, 1)
TRIANGLE_3D = dec(0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0)

BROKEN = [
    ("isr-1", BASIC, _drop("studyUid"), {"ImagingSelection"}),
    ("isr-2", BASIC, _drop("seriesUid"), {"ImagingSelection"}),
    ("isr-3", BASIC, _drop("studyUid", "seriesUid", "frameOfReferenceUid"), {"ImagingSelection"}),
    ("isr-4", BASIC, _set("studyUid", "1.2.840.0113747.1"), {"ImagingSelection.studyUid"}),
    ("isr-5", BASIC, _set("seriesUid", "1.2..3"), {"ImagingSelection.seriesUid"}),
    ("isr-6", BASIC, _set("frameOfReferenceUid", "1." + "2" * 63),
     {"ImagingSelection.frameOfReferenceUid"}),
    ("isr-7", BASIC, _instance("uid", "1.2.3.x"), {"ImagingSelection.instance[0].uid"}),
    ("isr-8", BASIC, _instance("sopClass", {"code": "urn:oid:1.2.840.10008.5.1.4.1.1.02"}),
     {"ImagingSelection.instance[0].sopClass"}),
    ("isr-9", BASIC, _instance("sopClass", {"system": "urn:ietf:rfc:3986",
                                            "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2.3"}),
     {"ImagingSelection.instance[0].sopClass"}),
    ("isr-10", REGION_2D, _region("imageRegion2D", "polyline", SQUARE + dec(2)), {R2}),
    ("isr-11", REGION_2D, _region("imageRegion2D", "point", dec(1, 1, 2, 2)), {R2}),
    ("isr-12", REGION_2D, _region("imageRegion2D", "circle", SQUARE), {R2}),
    ("isr-13", REGION_2D, _region("imageRegion2D", "ellipse", dec(0, 0, 1, 1)), {R2}),
    ("isr-14", REGION_2D, _region("imageRegion2D", "polyline", dec(1, 1)), {R2}),
    ("isr-14", REGION_2D, _region("imageRegion2D", "interpolated", dec(1, 1)), {R2}),
    ("isr-15", REGION_2D, _region("imageRegion2D", "polyline", dec(0, 0, 1, -0.25)),
     {R2 + ".coordinate[3]"}),
    ("isr-16", REGION_3D, _region("imageRegion3D", "multipoint", dec(1, 2, 3, 4)), {R3}),
    ("isr-17", REGION_3D, _region("imageRegion3D", "point", dec(1, 2, 3, 4, 5, 6)), {R3}),
    ("isr-18", REGION_3D, _region("imageRegion3D", "polyline", dec(1, 2, 3)), {R3}),
    ("isr-19", REGION_3D, _region("imageRegion3D", "polygon", TRIANGLE_3D[:-1] + dec(9)), {R3}),
    ("isr-19", REGION_3D, _region("imageRegion3D", "polygon", dec(0, 0, 0, 1, 0, 0, 0, 0, 0)),
     {R3}),
    ("isr-20", REGION_3D, _region("imageRegion3D", "ellipse", dec(0, 0, 0, 1, 1, 1, 2, 2, 2)),
     {R3}),
    ("isr-21", REGION_3D, _region("imageRegion3D", "ellipsoid", TRIANGLE_3D), {R3}),
    ("isr-22", REGION_3D, _drop("frameOfReferenceUid"), {R3}),
]


@pytest.mark.parametrize(("key", "name", "mutate", "where"), BROKEN,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BROKEN)])
def test_each_rule_fails_where_it_is_broken(functions, model, key, name, mutate,  # type: ignore[no-untyped-def]
                                            where) -> None:
    data = example(name)
    assert failures(functions, data, model) == set()
    broken = copy.deepcopy(data)
    mutate(broken)
    assert failures(functions, broken, model) == {(key, w) for w in where} | _also(key)


def _also(key: str) -> set[tuple[str, str]]:
    """Rules a mutation breaks besides its own, by construction."""
    if key == "isr-3":  # no study, series or frame of reference: isr-1 and isr-2 fail too
        return {("isr-1", "ImagingSelection"), ("isr-2", "ImagingSelection")}
    return set()


def test_every_rule_has_a_breaking_case() -> None:
    assert {b[0] for b in BROKEN} == {f"isr-{n}" for n in range(1, 23)}


VALID_REGIONS = [
    ("imageRegion2D", "point", dec(1.5, 2.5)),
    ("imageRegion2D", "circle", dec(5, 5, 5, 9)),
    ("imageRegion2D", "ellipse", SQUARE),
    ("imageRegion2D", "polyline", dec(0, 0, 3, 4)),
    ("imageRegion2D", "interpolated", SQUARE),
    ("imageRegion3D", "point", dec(-1, -2, -3)),
    ("imageRegion3D", "multipoint", dec(1, 2, 3, 4, 5, 6)),
    ("imageRegion3D", "polyline", dec(1, 2, 3, 4, 5, 6)),
    ("imageRegion3D", "polygon", TRIANGLE_3D),
    ("imageRegion3D", "polygon", dec(0, 0, 0, 1.0, 0, 0, 0, 1, 0, 0.00, 0, 0)),
    ("imageRegion3D", "ellipse", dec(*range(12))),
    ("imageRegion3D", "ellipsoid", dec(*range(18))),
]


@pytest.mark.parametrize(("kind", "region_type", "values"), VALID_REGIONS)
def test_each_graphic_type_in_its_dicom_form_passes(functions, model, kind, region_type,  # type: ignore[no-untyped-def]
                                                    values) -> None:
    data = example(REGION_2D if kind == "imageRegion2D" else REGION_3D)
    _region(kind, region_type, values)(data)
    assert failures(functions, data, model) == set()


def test_a_region_without_region_type_only_fails_the_count_rules(functions, model) -> None:  # type: ignore[no-untyped-def]
    """A missing regionType is a cardinality error already: the per-type rules do not apply."""
    data = example(REGION_2D)
    data["instance"][0]["imageRegion2D"][0] = {"coordinate": dec(1, 2, 3)}
    assert failures(functions, data, model) == {("isr-10", R2)}


@pytest.mark.parametrize(("uid", "ok"), [
    ("0.1", True), ("1.0.2", True), ("1." + "2" * 62, True), ("1." + "2" * 63, False),
    ("1.02", False), ("00.1", False), ("1..2", False), ("1.2.", False), (".1.2", False),
    ("1.2a", False), ("1-2", False), ("2.25.329800735698586629295641978511506172918", True),
])
def test_uid_syntax(functions, model, uid, ok) -> None:  # type: ignore[no-untyped-def]
    data = example(BASIC)
    data["studyUid"] = uid
    data["instance"][0]["sopClass"] = {"code": "urn:oid:" + uid}
    found = failures(functions, data, model)
    expected = set() if ok else {("isr-4", "ImagingSelection.studyUid"),
                                 ("isr-8", "ImagingSelection.instance[0].sopClass")}
    assert found == expected


def test_uid_rule_ignores_a_primitive_with_only_an_extension(functions, model) -> None:  # type: ignore[no-untyped-def]
    data = example(BASIC)
    del data["studyUid"]
    data["_studyUid"] = {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}
    assert ("isr-4", "ImagingSelection.studyUid") not in failures(functions, data, model)


# ---------------------------------------------------------------------------- SOP Classes


def test_sop_class_rule_applies_to_the_rfc3986_system_only(functions, model) -> None:  # type: ignore[no-untyped-def]
    data = example(BASIC)
    data["instance"][0]["sopClass"] = {"system": "http://example.org/local", "code": "CT"}
    assert failures(functions, data, model) == set()
    data["instance"][0]["sopClass"] = {"system": "urn:ietf:rfc:3986",
                                       "code": "urn:oid:1.2.840.10008.5.1.4.1.1.1.2"}  # DX
    assert failures(functions, data, model) == set()
    data["instance"][0]["sopClass"] = {"system": "urn:ietf:rfc:3986",
                                       "code": "urn:oid:1.2.840.10008.5.1.4.1.1.5"}  # retired NM
    assert failures(functions, data, model) == set()


def _hint_for(functions, model, code: str) -> list[str]:  # type: ignore[no-untyped-def]
    data = example(BASIC)
    data["instance"][0]["sopClass"] = {"system": "urn:ietf:rfc:3986", "code": code}
    fp.DETAILS.clear()
    found = failures(functions, data, model)
    assert found == {("isr-9", "ImagingSelection.instance[0].sopClass")} | (
        {("isr-8", "ImagingSelection.instance[0].sopClass")} if code.endswith(".02") else set())
    details = list(fp.DETAILS)
    fp.DETAILS.clear()
    return details


def test_unknown_sop_class_names_the_closest_known_one(functions, model) -> None:  # type: ignore[no-untyped-def]
    assert _hint_for(functions, model, "urn:oid:1.2.840.10008.5.1.4.1.1.2.3") == [
        ("urn:oid:1.2.840.10008.5.1.4.1.1.2.3 is not a SOP Class of the DICOM registry; the "
         f"closest is {CT} (CT Image Storage)")
    ]
    assert _hint_for(functions, model, "urn:oid:1.2.840.10008.5.1.4.1.1.4.02") == [
        ("urn:oid:1.2.840.10008.5.1.4.1.1.4.02 is not a SOP Class of the DICOM registry; the "
         "closest is urn:oid:1.2.840.10008.5.1.4.1.1.4.2 (MR Spectroscopy Storage)")
    ]
    assert _hint_for(functions, model, "CT Image Storage") == [
        (f"CT Image Storage is not a SOP Class of the DICOM registry; the closest is {CT} "
         "(CT Image Storage)")
    ]
    assert _hint_for(functions, model, "urn:oid:2.25.1234") == [
        "urn:oid:2.25.1234 is not a SOP Class of the DICOM registry, and none is close to it"
    ]


def test_closest_sop_class(rules: ImagingRules) -> None:
    classes = rules.sop_classes()
    assert closest_sop_class(CT, classes) == ("1.2.840.10008.5.1.4.1.1.2", "CT Image Storage")
    assert closest_sop_class("1.2.840.10008.5.1.4.1.1.88.99", classes) == (
        "1.2.840.10008.5.1.4.1.1.88.59", "Key Object Selection Document Storage")
    assert closest_sop_class("mr image storage", classes) == (
        "1.2.840.10008.5.1.4.1.1.4", "MR Image Storage")
    assert closest_sop_class("1.2.3.4", classes) is None  # another root: no guess
    assert closest_sop_class("banana", classes) is None
    assert closest_sop_class("", classes) is None


def test_sop_class_value_set_is_pydicoms_registry(rules: ImagingRules) -> None:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.uid import UID_dictionary

    value_set = rules.value_sets[SOP_CLASSES_URL]
    if value_set["version"] != pydicom.__version__:
        pytest.skip(f"committed from pydicom {value_set['version']}, {pydicom.__version__} here")
    expected = {uid: entry[0] for uid, entry in UID_dictionary.items() if entry[1] == "SOP Class"}
    assert rules.sop_classes() == expected
    path = FOLDER / "ValueSet-dicom-sop-classes.json"
    assert main(["sop-classes", "--check", str(path)]) == 0


# ------------------------------------------------------------------------------ bad files


def _write_rules(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    sd = json.loads((FOLDER / "StructureDefinition-fhirgen-imaging-rules.json").read_text())
    change(sd)
    (tmp_path / "StructureDefinition-fhirgen-imaging-rules.json").write_text(json.dumps(sd))
    return tmp_path


def _first_constraint(sd: dict[str, Any]) -> dict[str, Any]:
    constraint: dict[str, Any] = sd["differential"]["element"][0]["constraint"][0]
    return constraint


@pytest.mark.parametrize(("change", "message"), [
    (lambda sd: _first_constraint(sd).pop("expression"), "isr-1 has no expression"),
    (lambda sd: _first_constraint(sd).update(severity="fatal"), "isr-1 has severity 'fatal'"),
    (lambda sd: _first_constraint(sd).update(key="isr-2"), "keys used twice: isr-2"),
    (lambda sd: sd.update(type="Patient"), "not a constraint StructureDefinition"),
    (lambda sd: sd["differential"]["element"][0].update(path="Patient"), "is not in ImagingSelection"),
])
def test_a_broken_rules_file_is_a_clear_error(tmp_path, change, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ImagingRulesError, match=message):
        load_rules(_write_rules(tmp_path, change))


def test_a_missing_rules_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ImagingRulesError, match="no StructureDefinition-fhirgen-imaging-rules"):
        load_rules(tmp_path)


# ------------------------------------------------------------- generated and wired (phase 2)


def _bad_selection() -> dict[str, Any]:
    """The 2D example with a bad study UID, an unknown SOP Class and a circle of three pairs."""
    data: dict[str, Any] = json.loads((EXAMPLES / REGION_2D).read_text(encoding="utf-8"))
    data["studyUid"] = "1.2.03"
    data["instance"][0]["sopClass"]["code"] = "urn:oid:1.2.840.10008.5.1.4.1.1.2.3"
    data["instance"][0]["imageRegion2D"][0] = {"regionType": "circle",
                                               "coordinate": [1, 2, 3, 4, 5, 6]}
    return data


BAD = {
    ("isr-4", "ImagingSelection.studyUid"),
    ("isr-9", "ImagingSelection.instance[0].sopClass"),
    ("isr-12", "ImagingSelection.instance[0].imageRegion2D[0]"),
}


def _rule_issues(result: Any) -> set[tuple[str, str, str]]:
    return {(i.severity, i.rule, i.expression) for i in result.issues if i.rule.startswith("isr-")}


def test_generated_module_has_every_rule_of_the_file(rules: ImagingRules) -> None:
    from fhirgen.models import imaging_rules

    assert imaging_rules.RULES.url == RULES_URL and imaging_rules.RULES.version == "1.0.0"
    assert [r.key for r in imaging_rules.RULES.rules] == [r.key for r in rules.rules]
    assert [r.path for r in imaging_rules.RULES.rules] == [r.path for r in rules.rules]
    assert imaging_rules.SOP_CLASSES == rules.sop_classes()


@pytest.mark.parametrize("mode", ["warning", "error", "off"])
def test_generated_rules_report_at_the_chosen_severity(mode: str) -> None:
    from fhirgen.models import imaging_rules

    for name in sorted(p.name for p in EXAMPLES.glob("ImagingSelection-*.json")):
        assert _rule_issues(imaging_rules.validate((EXAMPLES / name).read_bytes(), mode)) == set()
    result = imaging_rules.validate(json.dumps(_bad_selection()), mode)
    expected = set() if mode == "off" else {(mode, key, where) for key, where in BAD}
    assert _rule_issues(result) == expected
    assert result.ok is (mode != "error")
    sop = [i for i in result.issues if i.rule == "isr-9"]
    if mode != "off":
        assert "the closest is urn:oid:1.2.840.10008.5.1.4.1.1.2 (CT Image Storage)" in sop[0].message


def test_base_validation_alone_does_not_run_the_rules() -> None:
    from fhirgen.models.validators import validate

    assert _rule_issues(validate(json.dumps(_bad_selection()))) == set()


def test_rules_apply_to_an_imaging_selection_inside_a_bundle() -> None:
    from fhirgen.models import imaging_rules

    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": "urn:uuid:0b8f6b36-3c4c-4a4e-9a47-2b4f4f0c0a01",
                         "resource": _bad_selection()}]}
    found = _rule_issues(imaging_rules.validate(json.dumps(bundle)))
    assert ("warning", "isr-4", "Bundle.entry[0].resource.studyUid") in found
    assert len(found) == len(BAD)


def test_with_imaging_rules_leaves_other_packages_and_off_alone() -> None:
    from fhirgen.models import imaging_rules
    from fhirgen.models.validators import RESOURCE_VALIDATORS
    from fhirgen.runtime.imaging import with_imaging_rules

    assert with_imaging_rules(RESOURCE_VALIDATORS, None) == dict(RESOURCE_VALIDATORS)
    assert with_imaging_rules(RESOURCE_VALIDATORS, imaging_rules.RULES, "off") == dict(
        RESOURCE_VALIDATORS)
    with pytest.raises(ValueError, match="one of error, warning, off"):
        with_imaging_rules(RESOURCE_VALIDATORS, imaging_rules.RULES, "fatal")


def test_generation_adds_the_module_only_with_the_rules_folder(tmp_path: Path) -> None:
    from fhirgen.pipeline import run_generation

    mini = ROOT / "tests" / "fixtures" / "mini" / "definitions"
    assert "models/imaging_rules.py" not in run_generation([mini], ["Widget"], tests=False).files
    generated = run_generation([DEFINITIONS], ["ImagingSelection"], tests=False).files
    committed = (ROOT / "generated" / "imaging_rules.py").read_text(encoding="utf-8")
    assert generated["models/imaging_rules.py"] == committed


@pytest.mark.parametrize(("args", "code", "severity"), [
    ([], 0, "WARNING"),
    (["--fail-on", "warning"], 1, "WARNING"),
    (["--imaging-rules", "error"], 1, "ERROR"),
    (["--imaging-rules", "off"], 0, None),
    (["--imaging-rules", "error", "--jobs", "2"], 1, "ERROR"),
])
def test_cli_imaging_rules_option(tmp_path: Path, args: list[str], code: int,
                                  severity: str | None) -> None:
    from click.testing import CliRunner

    from fhirgen.cli import main as cli

    path = tmp_path / "bad.ndjson"
    path.write_text(json.dumps(_bad_selection()) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", *args, str(path)])
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if "[isr-" in line]
    if severity is None:
        assert lines == []
    else:
        assert sorted(line.split()[0] for line in lines) == [severity] * len(BAD)
        assert any("ImagingSelection.instance[0].imageRegion2D[0]" in line and "[isr-12]" in line
                   for line in lines)


@pytest.mark.parametrize("mode", ["warning", "error"])
def test_malformed_content_fails_a_rule_at_the_chosen_severity_saying_why(mode: str) -> None:
    """A number where a UID string belongs is the base validator's error; the rule that cannot
    be evaluated on it fails at the run's severity, not as an error of its own."""
    from fhirgen.models import imaging_rules

    data = _bad_selection()
    data["studyUid"] = 123
    data["instance"][0]["imageRegion2D"][0]["coordinate"][0] = "a"
    result = imaging_rules.validate(json.dumps(data), mode)
    by_rule = {i.rule: i for i in result.issues if i.rule in ("isr-4", "isr-15")}
    assert {r: i.severity for r, i in by_rule.items()} == {"isr-4": mode, "isr-15": mode}
    assert by_rule["isr-4"].message.endswith(
        "it could not be evaluated on this content (matches() needs a string, found 123)")
    assert any(i.rule == "json-shape" and i.severity == "error" for i in result.issues)
