"""Invariants follow the definitions: a constraint added to a copy of the ImagingSelection
StructureDefinition is compiled, generated and enforced after `fhirgen generate`; a constraint
the compiler cannot handle stops generation with its key and the reason (never a silent skip)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fhirgen.invariant_views import build_invariant_views
from fhirgen.ir import build_model
from fhirgen.loader import load_index

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT / "definitions"
SD = "hl7.fhir.r5.core/StructureDefinition-ImagingSelection.json"
EXAMPLE = DEFINITIONS / "hl7.fhir.r5.examples" / "ImagingSelection-example-basic-image-selection.json"


def _with_constraint(tmp_path: Path, constraint: dict, element: str = "ImagingSelection") -> Path:
    """A copy of the definitions whose ImagingSelection carries one more constraint."""
    copy = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS, copy)
    path = copy / SD
    sd = json.loads(path.read_text(encoding="utf-8"))
    for part in ("snapshot", "differential"):
        for item in sd.get(part, {}).get("element", []):
            if item["path"] == element:
                item.setdefault("constraint", []).append(dict(constraint))
    path.write_text(json.dumps(sd), encoding="utf-8")
    return copy


def _generate(definitions: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fhirgen.cli", "generate", "--definitions", str(definitions),
         "--output", str(out), "--target", "ImagingSelection"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )


def test_a_new_constraint_is_generated_and_enforced(tmp_path: Path) -> None:
    definitions = _with_constraint(tmp_path, {
        "key": "isx-1", "severity": "error", "human": "A series needs its study",
        "expression": "seriesUid.exists() implies studyUid.exists()",
        "source": "http://example.org/StructureDefinition/test",
    })
    out = tmp_path / "pkg" / "isxmodels"
    result = _generate(definitions, out)
    assert result.returncode == 0, result.stderr
    assert "def inv_isx_1(" in (out / "invariants.py").read_text(encoding="utf-8")
    sys.path.insert(0, str(out.parent))
    try:
        import importlib

        validators = importlib.import_module("isxmodels.validators")
        example = json.loads(EXAMPLE.read_text(encoding="utf-8"))
        assert example.get("seriesUid") and example.get("studyUid")
        assert not [i for i in validators.validate(example).issues if i.rule == "isx-1"]
        del example["studyUid"]
        [issue] = [i for i in validators.validate(example).issues if i.rule == "isx-1"]
        assert (issue.severity, issue.expression) == ("error", "ImagingSelection")
        assert "A series needs its study" in issue.message
    finally:
        sys.path.remove(str(out.parent))


@pytest.mark.parametrize(("expression", "reason"), [
    ("studyUid.frobnicate()", "frobnicate"),
    ("studyUid.exists() and (", "syntax"),
    ("%nowhere.exists()", "nowhere"),
])
def test_a_constraint_the_compiler_cannot_handle_stops_generation(
    tmp_path: Path, expression: str, reason: str
) -> None:
    definitions = _with_constraint(tmp_path, {
        "key": "isx-2", "severity": "error", "human": "Cannot compile", "expression": expression,
    })
    out = tmp_path / "pkg" / "brokenmodels"
    result = _generate(definitions, out)
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr
    assert "isx-2" in result.stderr and reason in result.stderr.lower()
    assert "ImagingSelection" in result.stderr
    assert not (out / "invariants.py").exists()


def test_every_group_names_its_constraints_once() -> None:
    """ext-1 is listed on every `extension` element but evaluated once, by Extension; ele-1 is
    the walk's; each other constraint of the closure sits in exactly one group per place."""
    model = build_model(load_index([DEFINITIONS]), ["ImagingSelection"])
    view = build_invariant_views(model, ("header",))
    keys = {group.name: [c.split(", ")[1] for c in group.checks] for group in view.groups}
    assert "'ele-1'" not in {k for checks in keys.values() for k in checks}
    assert keys["INV_Extension"] == ["'ext-1'"]
    assert all("'ext-1'" not in checks for name, checks in keys.items() if name != "INV_Extension")
    assert keys["INV_Narrative_div"] == ["'txt-1'", "'txt-2'"]
    assert {"'dom-2'", "'dom-3'", "'dom-4'", "'dom-5'", "'dom-6'"} <= set(keys["INV_DomainResource"]) | set(
        keys.get("INV_ImagingSelection", []))
    for checks in keys.values():
        assert len(checks) == len(set(checks))
