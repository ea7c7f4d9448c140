"""The issue limit never changes a verdict: the note that replaces the cut issues is as severe as
the worst of them (a valid resource with many information issues stays valid)."""

from __future__ import annotations

import json
from pathlib import Path

from fhirgen.models.validators import RESOURCE_VALIDATORS
from fhirgen.runtime.limits import Limits
from fhirgen.runtime.validate import run

EXAMPLE = Path(__file__).resolve().parents[1] / "definitions" / "hl7.fhir.r5.examples" / (
    "ImagingSelection-example-basic-image-selection.json")


def _tree() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_cut_information_issues_leave_a_valid_resource_valid() -> None:
    tree = _tree()
    instance = tree["instance"][0]
    tree["instance"] = [dict(instance, uid=f"1.2.3.{i}") for i in range(30)]  # 30 info issues
    every = run(tree, RESOURCE_VALIDATORS).issues
    assert every and {i.severity for i in every} == {"information"}
    cut = run(tree, RESOURCE_VALIDATORS, limits=Limits(max_issues=5))
    assert cut.ok and len(cut.issues) == 6
    note = cut.issues[-1]
    assert (note.rule, note.severity) == ("limit-issues", "information")
    assert f"{len(every) - 5} more issue(s) not reported ({len(every) - 5} information)" in note.message


def test_a_cut_error_keeps_the_resource_invalid() -> None:
    tree = _tree()
    instance = tree["instance"][0]
    tree["instance"] = [dict(instance, uid=f"1.2.3.{i}") for i in range(10)]
    tree["instance"][-1]["bogus"] = 1  # an error, met after the earlier instances' information
    cut = run(tree, RESOURCE_VALIDATORS, limits=Limits(max_issues=3))
    assert not cut.ok
    assert [i.severity for i in cut.issues[:3]] == ["information"] * 3
    assert cut.issues[-1].severity == "error" and cut.issues[-1].rule == "limit-issues"
