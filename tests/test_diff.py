"""Tests of ``fhirgen diff`` (``fhirgen.diff``), driven by change.

Each test copies ``definitions/`` into a temporary folder, edits the copy the way a new release of
the specification would (a cardinality, a new element, a new code in a required value set, a new
invariant), generates both sides in memory and checks the report (the changes, the text and the
JSON) and the generated files that change (the new element is an attribute of the model, the new
code is in the ``Literal`` type, the new invariant is in the validators).
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fhirgen.cli import main
from fhirgen.diff import (
    Change,
    DefinitionDiff,
    diff_files,
    diff_generations,
    diff_models,
    generate_files,
    render_json,
    render_text,
)
from fhirgen.ir import Model

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT / "definitions"
IMAGING_SELECTION = Path("hl7.fhir.r5.core") / "StructureDefinition-ImagingSelection.json"
STATUS_VALUE_SET = Path("hl7.fhir.r5.expansions") / "ValueSet-imagingselection-status.json"
ROOTS = {"models": "generated", "tests": "tests/generated"}
TARGETS = ("ImagingSelection",)
IS = "ImagingSelection"


@pytest.fixture(scope="module")
def old() -> tuple[Model, dict[str, str]]:
    """The unchanged definitions, generated once."""
    return generate_files(DEFINITIONS, TARGETS, examples_folder="definitions")


def edited(tmp_path: Path, name: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of definitions/ with one JSON file changed by *edit*."""
    folder = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS, folder)
    path = folder / name
    resource = json.loads(path.read_text(encoding="utf-8"))
    edit(resource)
    path.write_text(json.dumps(resource, indent=2), encoding="utf-8")
    return folder


def generate_new(folder: Path) -> tuple[Model, dict[str, str]]:
    return generate_files(folder, TARGETS, examples_folder="definitions")


def both_views(sd: dict[str, Any], element_id: str) -> list[dict[str, Any]]:
    """The element in the snapshot and in the differential (a release changes both)."""
    found = [e for part in ("snapshot", "differential") for e in sd[part]["element"]
             if e["id"] == element_id]
    assert len(found) == 2, element_id
    return found


def full_diff(old: tuple[Model, dict[str, str]], new: tuple[Model, dict[str, str]]) -> DefinitionDiff:
    result = diff_models(old[0], new[0])
    return DefinitionDiff(result.targets, result.old_packages, result.new_packages,
                          result.changes, diff_files(old[1], new[1], ROOTS))


# ---------------------------------------------------------------------------------- no change


def test_same_definitions_have_no_differences(old: tuple[Model, dict[str, str]]) -> None:
    result = full_diff(old, old)
    assert not result.has_differences
    assert result.changes == () and result.files == ()
    assert render_text(result).splitlines()[-1] == "fhirgen: no differences"
    document = json.loads(render_json(result))
    assert document["summary"] == {"changes": 0, "differences": False, "files": 0, "types": 0}


def test_generated_files_are_those_of_fhirgen_generate(old: tuple[Model, dict[str, str]]) -> None:
    """The in-memory generation is the real one: it matches what generate wrote and committed."""
    models, tests = ROOT / "generated", ROOT / "tests" / "generated"
    for key, text in old[1].items():
        root, _, rel = key.partition("/")
        path = (models if root == "models" else tests) / rel
        assert path.read_text(encoding="utf-8") == text, key


# ---------------------------------------------------------------------------------- cardinality


def test_cardinality_change(tmp_path: Path, old: tuple[Model, dict[str, str]]) -> None:
    def edit(sd: dict[str, Any]) -> None:
        for element in both_views(sd, "ImagingSelection.seriesUid"):
            element["min"] = 1

    new = generate_new(edited(tmp_path, IMAGING_SELECTION, edit))
    result = full_diff(old, new)
    assert result.changes == (
        Change(IS, "ImagingSelection.seriesUid", "cardinality", "changed", None, "0..1", "1..1"),
    )
    text = render_text(result, "old", "new")
    assert "  ImagingSelection.seriesUid\n    ~ cardinality: 0..1 -> 1..1\n" in text
    changed = {f.path: f.change for f in result.files}
    assert changed["generated/validators.py"] == "changed"
    assert "primitive(node, 'seriesUid', path, out, P_id, 1, 1, False)" in new[1]["models/validators.py"]
    assert "primitive(node, 'seriesUid', path, out, P_id, 0, 1, False)" in old[1]["models/validators.py"]


# ---------------------------------------------------------------------------------- new element


REVIEW_NOTE = {
    "id": "ImagingSelection.reviewNote",
    "path": "ImagingSelection.reviewNote",
    "short": "Note of the radiologist who reviewed the selection",
    "definition": "Free text written when the selection was reviewed.",
    "min": 0,
    "max": "1",
    "type": [{"code": "string"}],
    "isSummary": False,
}


def test_new_element(tmp_path: Path, old: tuple[Model, dict[str, str]]) -> None:
    def edit(sd: dict[str, Any]) -> None:
        for part in ("snapshot", "differential"):
            elements = sd[part]["element"]
            at = next(i for i, e in enumerate(elements) if e["id"] == "ImagingSelection.focus") + 1
            element = copy.deepcopy(REVIEW_NOTE)
            if part == "snapshot":
                element["base"] = {"path": element["path"], "min": 0, "max": "1"}
            elements.insert(at, element)

    new = generate_new(edited(tmp_path, IMAGING_SELECTION, edit))
    result = full_diff(old, new)
    assert result.changes == (
        Change(IS, "ImagingSelection.reviewNote", "element", "added", None, None, "0..1 string"),
    )
    assert "  ImagingSelection.reviewNote\n    + element: 0..1 string\n" in render_text(result)
    model = new[1]["models/imagingselection.py"]
    assert "reviewNote: str | None = None" in model
    assert "reviewNote" not in old[1]["models/imagingselection.py"]
    assert "Note of the radiologist who reviewed the selection" in model
    files = {f.path: f for f in result.files}
    assert files["generated/imagingselection.py"].change == "changed"
    assert files["generated/imagingselection.py"].lines_added > 0
    assert "generated/validators.py" in files  # the new element is known to the validator
    assert "generated/xmlschema.py" in files  # and to the XML reader (its order)


# ---------------------------------------------------------------------------------- new code


def test_new_code_in_required_value_set(tmp_path: Path, old: tuple[Model, dict[str, str]]) -> None:
    def edit(vs: dict[str, Any]) -> None:
        vs["expansion"]["contains"].append(
            {"system": "http://hl7.org/fhir/imagingselection-status", "code": "archived",
             "display": "Archived"}
        )

    new = generate_new(edited(tmp_path, STATUS_VALUE_SET, edit))
    result = full_diff(old, new)
    assert result.changes == (
        Change(IS, "ImagingSelection.status", "code", "added", "archived", None,
               "http://hl7.org/fhir/imagingselection-status"),
    )
    assert "    + code archived: http://hl7.org/fhir/imagingselection-status\n" in render_text(result)
    literal = 'ImagingSelectionStatus = Literal["archived", "available", "entered-in-error", "unknown"]'
    assert literal in new[1]["models/valuesets.py"]
    assert literal not in old[1]["models/valuesets.py"]
    assert {f.path for f in result.files} >= {"generated/valuesets.py", "generated/validators.py"}
    document = json.loads(render_json(result))
    assert document["changes"] == [
        {"aspect": "code", "change": "added", "detail": "archived", "new":
         "http://hl7.org/fhir/imagingselection-status", "old": None, "type": IS,
         "where": "ImagingSelection.status"}
    ]


# ---------------------------------------------------------------------------------- invariant


INVARIANT = {
    "key": "isl-99",
    "severity": "error",
    "human": "A selection of a series names its study",
    "expression": "seriesUid.exists() implies studyUid.exists()",
    "source": "http://hl7.org/fhir/StructureDefinition/ImagingSelection",
}


def test_new_and_changed_invariants(tmp_path: Path, old: tuple[Model, dict[str, str]]) -> None:
    def edit(sd: dict[str, Any]) -> None:
        for part in ("snapshot", "differential"):
            sd[part]["element"][0].setdefault("constraint", []).append(copy.deepcopy(INVARIANT))
        for element in both_views(sd, "ImagingSelection.instance"):
            for constraint in element.get("constraint", ()):
                if constraint["key"] == "ele-1":
                    constraint["severity"] = "warning"

    new = generate_new(edited(tmp_path, IMAGING_SELECTION, edit))
    result = full_diff(old, new)
    assert result.changes == (
        Change(IS, IS, "invariant", "added", "isl-99", None, INVARIANT["expression"]),
        Change(IS, "ImagingSelection.instance", "invariant.severity", "changed", "ele-1",
               "error", "warning"),
    )
    text = render_text(result)
    assert f"\n{IS}\n  + invariant isl-99: {INVARIANT['expression']}\n" in text
    assert "    ~ invariant.severity ele-1: error -> warning\n" in text
    # The files listed are exactly those that differ. (Invariants reach the generated validators
    # once compiled FHIRPath is rendered into them: until then a new invariant changes no file.)
    differing = {ROOTS[k.split("/", 1)[0]] + "/" + k.split("/", 1)[1]
                 for k in old[1].keys() | new[1].keys() if old[1].get(k) != new[1].get(k)}
    assert {f.path for f in result.files} == differing


# ---------------------------------------------------------------------------------- the rest


def test_binding_type_and_flag_changes(tmp_path: Path, old: tuple[Model, dict[str, str]]) -> None:
    def edit(sd: dict[str, Any]) -> None:
        for element in both_views(sd, "ImagingSelection.status"):
            element["binding"]["strength"] = "extensible"
            element["mustSupport"] = True
        for element in both_views(sd, "ImagingSelection.subject"):
            element["type"][0]["targetProfile"].append("http://hl7.org/fhir/StructureDefinition/BodyStructure")
            element["type"][0]["targetProfile"].remove("http://hl7.org/fhir/StructureDefinition/Patient")

    new = generate_new(edited(tmp_path, IMAGING_SELECTION, edit))
    result = diff_models(old[0], new[0])
    group = "Reference(http://hl7.org/fhir/StructureDefinition/BodyStructure)"
    patient = "Reference(http://hl7.org/fhir/StructureDefinition/Patient)"
    assert result.changes == (
        Change(IS, "ImagingSelection.status", "binding.strength", "changed", None, "required", "extensible"),
        Change(IS, "ImagingSelection.status", "mustSupport", "changed", None, "false", "true"),
        Change(IS, "ImagingSelection.subject", "targetProfile", "removed", patient),
        Change(IS, "ImagingSelection.subject", "targetProfile", "added", group),
    )


def test_json_is_stable_and_sorted(tmp_path: Path, old: tuple[Model, dict[str, str]]) -> None:
    def edit(sd: dict[str, Any]) -> None:
        for element in both_views(sd, "ImagingSelection.seriesUid"):
            element["max"] = "0"

    result = full_diff(old, generate_new(edited(tmp_path, IMAGING_SELECTION, edit)))
    text = render_json(result, "a", "b")
    assert text == render_json(result, "a", "b")
    document = json.loads(text)
    assert text == json.dumps(document, indent=2, sort_keys=True) + "\n"
    assert document["old"]["source"] == "a" and document["new"]["source"] == "b"
    assert document["summary"]["differences"] is True
    assert document["files"] == sorted(document["files"], key=lambda f: f["path"])


def test_removed_backbone_and_its_elements(tmp_path: Path, old: tuple[Model, dict[str, str]]) -> None:
    def edit(sd: dict[str, Any]) -> None:
        for part in ("snapshot", "differential"):
            sd[part]["element"] = [
                e for e in sd[part]["element"] if not e["id"].startswith("ImagingSelection.performer")
            ]

    new = generate_new(edited(tmp_path, IMAGING_SELECTION, edit))
    result = diff_models(old[0], new[0])
    removed = [c.where for c in result.changes if c.aspect == "element" and c.change == "removed"]
    assert removed == [
        "ImagingSelection.performer", "ImagingSelection.performer.id",
        "ImagingSelection.performer.extension", "ImagingSelection.performer.modifierExtension",
        "ImagingSelection.performer.function", "ImagingSelection.performer.actor",
    ]
    # CodeableConcept and Reference are still used elsewhere: no type leaves the closure
    assert {c.type for c in result.changes} == {IS}


# ---------------------------------------------------------------------------------- command


@pytest.fixture()
def in_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_command_exit_codes_and_formats(tmp_path: Path, in_project: None) -> None:
    def edit(sd: dict[str, Any]) -> None:
        for element in both_views(sd, "ImagingSelection.seriesUid"):
            element["min"] = 1

    new = edited(tmp_path, IMAGING_SELECTION, edit)
    runner = CliRunner()
    same = runner.invoke(main, ["diff", str(DEFINITIONS), str(DEFINITIONS), "--exit-code"])
    assert same.exit_code == 0, same.output
    assert same.output.endswith("fhirgen: no differences\n")
    changed = runner.invoke(main, ["diff", str(DEFINITIONS), str(new)])
    assert changed.exit_code == 0, changed.output  # a report is not a failure ...
    assert "~ cardinality: 0..1 -> 1..1" in changed.output
    assert "changed  generated/validators.py" in changed.output
    failing = runner.invoke(main, ["diff", str(DEFINITIONS), str(new), "--exit-code"])
    assert failing.exit_code == 1  # ... unless asked, as git diff --exit-code
    as_json = runner.invoke(main, ["diff", "--format", "json", str(DEFINITIONS), str(new)])
    assert as_json.exit_code == 0
    assert json.loads(as_json.output)["changes"][0]["aspect"] == "cardinality"


def test_command_unusable_input(tmp_path: Path, in_project: None) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["diff", str(DEFINITIONS), str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert missing.output.strip().splitlines() == [f"fhirgen: error: {tmp_path / 'nope'}: no such file or folder"]
    unknown = runner.invoke(main, ["diff", str(DEFINITIONS), str(DEFINITIONS), "--target", "Nope"])
    assert unknown.exit_code == 2
    assert unknown.output.startswith("fhirgen: error: type 'Nope'")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "StructureDefinition-X.json").write_text("{not json", encoding="utf-8")
    bad = runner.invoke(main, ["diff", str(DEFINITIONS), str(broken)])
    assert bad.exit_code == 2 and "not valid JSON" in bad.output


def test_diff_generations_names_files_by_project_folder(tmp_path: Path) -> None:
    def edit(vs: dict[str, Any]) -> None:
        vs["expansion"]["contains"] = vs["expansion"]["contains"][:-1]

    new = edited(tmp_path, STATUS_VALUE_SET, edit)
    result = diff_generations(DEFINITIONS, new, TARGETS, examples_folder="definitions", roots=ROOTS)
    assert [c.aspect + ":" + c.change for c in result.changes] == ["code:removed"]
    assert "generated/valuesets.py" in {f.path for f in result.files}
    # examples are named as in the project on both sides: generated tests compare equal
    assert not any(f.path.startswith("tests/generated/test_examples") for f in result.files)
