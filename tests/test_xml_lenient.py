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


XML11 = (
    b'<?xml version="1.1" encoding="UTF-8"?>\n'
    b'<ImagingSelection xmlns="http://hl7.org/fhir">\n'
    b'  <status value="available"/>\n'
    b'  <code><text value="key&#x001D;images &#29;here"/></code>\n'
    b"</ImagingSelection>\n"
)


def test_xml_1_1_control_character_references_are_read() -> None:
    """XML 1.1 allows references to C0 control characters (the HL7 validator reads them);
    libxml2 reads XML 1.0 only, so they stand aside while it parses and come back after."""
    from fhirgen.models import xmlschema
    from fhirgen.models.xmlschema import validate_xml
    from fhirgen.runtime.xmlio import read_resource_xml

    tree = read_resource_xml(XML11, xmlschema.XML_SCHEMA)
    assert tree["code"]["text"] == "key\x1dimages \x1dhere"
    result = validate_xml(XML11)
    assert not [i for i in result.issues if i.is_error], result.issues
    assert any("[1d]" in i.message for i in result.issues if i.severity == "warning")
    # the same references in an XML 1.0 document stay what libxml2 says they are: not well-formed
    broken = validate_xml(XML11.replace(b'version="1.1"', b'version="1.0"'))
    assert [i.rule for i in broken.issues] == ["xml-syntax"]


def test_a_control_character_cannot_be_written_as_xml_1_0(tmp_path: Path) -> None:
    path = tmp_path / "v11.xml"
    path.write_bytes(XML11)
    as_json = CliRunner().invoke(main, ["convert", "--to", "json", str(path)])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["code"]["text"] == "key\x1dimages \x1dhere"
    as_xml = CliRunner().invoke(main, ["convert", "--to", "xml", str(path)])
    assert as_xml.exit_code == 2
    assert "cannot be written as XML 1.0" in as_xml.output and "Traceback" not in as_xml.output


def test_convert_refuses_an_input_over_max_bytes_and_converts_the_others(tmp_path: Path) -> None:
    small = tmp_path / "a.json"
    small.write_bytes(EXAMPLE.read_bytes())
    big = tmp_path / "b.json"
    big.write_bytes(EXAMPLE.read_bytes() + b" " * 5000)
    result = CliRunner().invoke(main, ["convert", "--max-bytes", str(len(small.read_bytes())),
                                       str(small), str(big)])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["resourceType"] == "ImagingSelection"
    assert "b.json: larger than" in result.stderr and "Traceback" not in result.output
