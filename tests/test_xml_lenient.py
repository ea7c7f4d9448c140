"""`convert --no-validate` and `from_xml(..., validate=False)` read XML as far as it goes, as the
validating reader does, instead of stopping at the first problem the XML rules find."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fhirgen.cli import main
from fhirgen.fhirxml import XmlReadError
from fhirgen.models import RESOURCES, ImagingSelection
from fhirgen.runtime.validate import ValidationError
from fhirgen.runtime.xml import from_xml, to_xml

EXAMPLE = Path(__file__).resolve().parents[1] / "definitions" / "hl7.fhir.r5.examples" / (
    "ImagingSelection-example-2d-image-region-selection.json")


def _flawed() -> bytes:
    """The example as XML with status out of order and an element FHIR does not have."""
    xml = to_xml(ImagingSelection.from_json(EXAMPLE.read_bytes())).decode("utf-8")
    xml = xml.replace('<status value="available"/>', "", 1)
    return xml.replace("<code>", '<status value="available"/><bogus value="1"/><code>', 1).encode()


def test_from_xml_without_validation_reads_past_xml_rule_problems() -> None:
    model = from_xml(RESOURCES, _flawed(), validate=False)
    assert model.status == "available"
    expected = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert json.loads(model.to_json())["instance"] == json.loads(
        json.dumps(expected["instance"]))
    with pytest.raises(ValidationError) as refused:  # validated: the XML rules' errors
        from_xml(RESOURCES, _flawed())
    rules = {issue.rule for issue in refused.value.result.issues if issue.is_error}
    assert {"xml-order", "unknown-property"} <= rules


def test_unreadable_xml_is_refused_even_without_validation() -> None:
    with pytest.raises(XmlReadError):
        from_xml(RESOURCES, b"<ImagingSelection xmlns='http://hl7.org/fhir'>", validate=False)


def test_convert_no_validate_converts_flawed_xml(tmp_path: Path) -> None:
    path = tmp_path / "flawed.xml"
    path.write_bytes(_flawed())
    result = CliRunner().invoke(main, ["convert", "--no-validate", "--to", "json", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "available"
    strict = CliRunner().invoke(main, ["convert", "--to", "json", str(path)])
    assert strict.exit_code == 1
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<ImagingSelection xmlns='http://hl7.org/fhir'>")
    refused = CliRunner().invoke(main, ["convert", "--no-validate", str(broken)])
    assert refused.exit_code == 2 and "Traceback" not in refused.output


def test_the_generated_package_needs_no_generator_at_run_time() -> None:
    """Importing the models, validators, invariants, profiles, imaging rules and XML support
    loads fhirgen.runtime only: no definitions, no intermediate model, no templates."""
    import subprocess
    import sys

    code = (
        "import importlib, sys\n"
        "import fhirgen.models\n"
        "for name in ('xmlschema', 'validators', 'invariants', 'profiles', 'imaging_rules'):\n"
        "    importlib.import_module('fhirgen.models.' + name)\n"
        "import fhirgen.runtime.xml\n"
        "print(sorted(k for k in sys.modules if k.startswith('fhirgen.')\n"
        "             and not k.startswith(('fhirgen.models', 'fhirgen.runtime'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
