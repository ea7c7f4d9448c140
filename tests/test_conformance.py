"""The HL7 reference validator's own cases (../shared/conformance/hl7-validator-r5): verdict agreement.

A verdict is "has errors" (error or fatal issues) or not. Cases marked ``uncertain`` are left out
of the figure. The corpus spans many resource types, so the broad run uses models of the whole R5
core, generated here from ``.cache/packages/hl7.fhir.r5.core-5.0.0.tgz`` (skipped with a reason
when absent). XML cases go through ``validate_xml_with`` with the generated XML schema (XML-only
rules, then every JSON rule), as ``fhirgen validate`` runs them.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import pytest

from fhirgen.models.validators import RESOURCE_VALIDATORS
from fhirgen.runtime.validate import run

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(
    os.environ.get("FHIRGEN_CONFORMANCE", ROOT.parent / "shared" / "conformance" / "hl7-validator-r5")
)
CACHE = Path(os.environ.get("FHIRGEN_PACKAGE_CACHE", ROOT / ".cache" / "packages"))
CORE = CACHE / "hl7.fhir.r5.core-5.0.0.tgz"


def _cases() -> list[dict]:
    manifest = CORPUS / "manifest.json"
    if not manifest.is_file():
        pytest.skip(f"conformance corpus not found at {CORPUS} (set FHIRGEN_CONFORMANCE)")
    return json.loads(manifest.read_text(encoding="utf-8"))


def _run_xml(data: bytes, validators, schema):
    """Validate an XML case as ``fhirgen validate`` does: XML-only rules, then every JSON rule."""
    from fhirgen.runtime.xml import validate_xml_with

    return validate_xml_with(data, validators, schema)


def agreement(cases: list[dict], validators, schema=None) -> tuple[int, int, int, list[str]]:
    """(agreeing, run, not run, disagreement reports) over cases without doubts."""
    agree = ran = skipped = 0
    reports = []
    for case in cases:
        if case.get("uncertain") or case["resourceType"] not in validators:
            continue
        data = (CORPUS / case["input"]).read_bytes()
        if case["format"] == "json":
            result = run(data, validators)
        elif schema is not None:
            result = _run_xml(data, validators, schema)
        else:
            skipped += 1
            continue
        ran += 1
        ours, theirs = result.error_count > 0, case["errorCount"] > 0
        if ours == theirs:
            agree += 1
            continue
        expected = json.loads((CORPUS / case["expected"]).read_text(encoding="utf-8"))
        head = (f"{case['name']} ({case['format']}): we found {result.error_count} error(s), "
                f"HL7 {case['errorCount']}")
        lines = [head]
        lines += [f"    us:  {i}" for i in result.issues if i.is_error]
        lines += [
            f"    hl7: {i.get('expression')}: {i['text'][:160]}"
            for i in expected["issue"]
            if i["severity"] in ("error", "fatal")
        ]
        reports.append("\n".join(lines))
    return agree, ran, skipped, reports


def test_cases_of_the_generated_types_agree() -> None:
    """Cases whose root type the default models generate (none today: no ImagingSelection case)."""
    cases = _cases()
    agree, ran, _skipped, reports = agreement(cases, RESOURCE_VALIDATORS)
    assert agree == ran, "\n".join(reports)


@pytest.fixture(scope="module")
def all_validators(r5all):
    return importlib.import_module("r5all.validators").RESOURCE_VALIDATORS


def test_verdict_agreement_with_the_whole_core(all_validators, capsys) -> None:
    cases = _cases()
    schema = importlib.import_module("r5all.xmlschema").XML_SCHEMA
    json_cases = [c for c in cases if c["format"] == "json"]
    xml_cases = [c for c in cases if c["format"] != "json"]
    json_agree, json_ran, _, json_reports = agreement(json_cases, all_validators)
    xml_agree, xml_ran, _, xml_reports = agreement(xml_cases, all_validators, schema)
    certain = sum(1 for case in cases if not case.get("uncertain"))
    agree, ran = json_agree + xml_agree, json_ran + xml_ran
    with capsys.disabled():
        print(f"\nHL7 conformance, cases without doubts: {agree}/{ran} agree "
              f"({100 * agree / max(ran, 1):.0f}%): JSON {json_agree}/{json_ran}, "
              f"XML {xml_agree}/{xml_ran} ({certain} cases without doubts in the corpus)")
        for report in json_reports + xml_reports:
            print(report)
    assert json_ran > 0 and xml_ran > 0 and certain >= ran
    assert agree >= 0.95 * ran, f"{agree}/{ran} agree, below 95%"
    disagreeing = {report.split(" ", 1)[0] for report in json_reports + xml_reports}
    assert disagreeing <= set(KNOWN_DISAGREEMENTS), "new disagreements (see the report above)"


#: Cases without doubts where our verdict differs from the reference validator's, and why.
KNOWN_DISAGREEMENTS: dict[str, str] = {}
