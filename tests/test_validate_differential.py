"""Differential test against fhir.resources (an independent implementation) on valid and broken input.

The corpus: the official examples, and every generated rule mutation of them (the cases of
``tests/generated/test_rules.py``, rebuilt here from the definitions). On each, fhir.resources'
verdict (does ``model_validate_json`` accept it?) is compared with ours (``result.ok``).

* fhir.resources must never reject what we accept: we would be missing a rule.
* Where we reject and fhir.resources accepts, the class of disagreement (rule, mutation) must be
  one of ``EXPLAINED``, with the reason we are the one that is right; a new class fails the test.
"""

from __future__ import annotations

import collections
import json
from decimal import Decimal
from pathlib import Path

import pytest

from fhirgen.ir import build_model
from fhirgen.loader import load_index
from fhirgen.models.validators import validate
from fhirgen.testing import find_parent, mutate
from fhirgen.validator_views import rule_cases

fhir_resources = pytest.importorskip("fhir.resources.imagingselection")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "definitions" / "hl7.fhir.r5.examples").glob("ImagingSelection-*.json"))

#: (rule, mutation) -> why fhir.resources accepts what FHIR forbids.
EXPLAINED = {
    ("binding", "bogus-code"): "fhir.resources does not check codes of required bindings "
    "(FHIR R5 'Terminologies': a required binding SHALL use a code from the value set)",
    ("json-shape", "empty"): "fhir.resources drops empty arrays, objects and strings; FHIR JSON "
    "forbids them ('JSON representation': no empty objects, arrays or strings)",
    ("json-shape", "null"): "fhir.resources reads null as absent; FHIR JSON allows null only as a "
    "placeholder in primitive arrays",
    ("json-shape", "wrong-kind"): "pydantic's lax mode turns a JSON number into a date/time or "
    "string; FHIR JSON fixes each primitive's JSON type",
    ("primitive", "empty"): "an empty string is dropped rather than refused (see empty above)",
    ("reference-target", "bad-target"): "fhir.resources does not check reference targets against "
    "the element's targetProfile",
    ("reference-target", "bad-target-concept"): "nor those of a CodeableReference's reference",
}


def _accepted_by_fhir_resources(tree: dict) -> bool:
    try:
        fhir_resources.ImagingSelection.model_validate_json(json.dumps(tree, default=str))
    except Exception:  # noqa: BLE001 - any refusal is a "no"
        return False
    return True


def test_official_examples_both_accept() -> None:
    for path in EXAMPLES:
        tree = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
        assert validate(tree).ok, path.name
        assert _accepted_by_fhir_resources(tree), path.name


def test_mutations_disagree_only_in_explained_ways(capsys) -> None:
    model = build_model(load_index([ROOT / "definitions"]), ["ImagingSelection"])
    examples = [json.loads(p.read_text(encoding="utf-8"), parse_float=Decimal) for p in EXAMPLES]
    missed: list[str] = []
    classes: collections.Counter[tuple[str, str]] = collections.Counter()
    compared = 0
    for case in rule_cases(model):
        found = find_parent(examples, case.keys[:-1], case.keys[-1], case.action == "remove",
                            case.parent_arrays)
        if found is None:
            continue
        tree, parent, where = found
        mutate(parent, where, case.keys[-1], case.action, case.array, case.primitive, case.value)
        compared += 1
        ours, theirs = validate(tree).ok, _accepted_by_fhir_resources(tree)
        if ours and not theirs:
            missed.append(case.test_id)
        elif theirs and not ours:
            classes[(case.rule, case.action)] += 1
    with capsys.disabled():
        print(f"\nfhir.resources differential: {compared} mutations; we alone reject: "
              + ", ".join(f"{rule}/{action} x{n}" for (rule, action), n in sorted(classes.items())))
    assert compared > 100
    assert missed == [], "fhir.resources rejects, we accept: " + ", ".join(missed)
    unexplained = sorted(set(classes) - set(EXPLAINED))
    assert unexplained == [], f"unexplained disagreements: {unexplained}"
