"""`fhirgen validate` and `fhirgen convert` with FHIR XML (issue 5): files, mixed folders, stdin."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from fhirgen.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "definitions" / "hl7.fhir.r5.examples"
BASIC = EXAMPLES / "ImagingSelection-example-basic-image-selection.json"


def run(*args: str, stdin: bytes | None = None):
    return CliRunner().invoke(main, list(args), input=stdin)


def _xml(tmp_path: Path) -> Path:
    result = run("convert", "--to", "xml", str(BASIC))
    assert result.exit_code == 0, result.output
    path = tmp_path / "basic.xml"
    path.write_text(result.output, encoding="utf-8")
    return path


def test_convert_json_to_xml_and_back(tmp_path: Path) -> None:
    path = _xml(tmp_path)
    assert path.read_text(encoding="utf-8").startswith('<?xml version="1.0" encoding="UTF-8"?>\n'
                                                       '<ImagingSelection xmlns="http://hl7.org/fhir">')
    back = run("convert", "--to", "json", str(path))
    assert back.exit_code == 0, back.output
    assert json.loads(back.output, parse_float=Decimal) == json.loads(BASIC.read_bytes(),
                                                                      parse_float=Decimal)
    again = run("convert", "--to", "xml", str(path))  # XML -> XML: a fixed point
    assert again.output == path.read_text(encoding="utf-8")


def test_convert_sniffs_stdin(tmp_path: Path) -> None:
    path = _xml(tmp_path)
    result = run("convert", "-", stdin=path.read_bytes())
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["resourceType"] == "ImagingSelection"


def test_convert_refuses_invalid_xml(tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    path.write_text('<ImagingSelection xmlns="http://hl7.org/fhir"><status value="available" '
                    'bogus="1"/><code><text value="x"/></code></ImagingSelection>')
    result = run("convert", "--to", "json", str(path))
    assert result.exit_code == 1
    assert "unknown attribute 'bogus'" in result.output and "line 1" in result.output


def test_validate_mixed_folder(tmp_path: Path) -> None:
    _xml(tmp_path)
    (tmp_path / "basic.json").write_bytes(BASIC.read_bytes())
    (tmp_path / "order.xml").write_text(
        '<ImagingSelection xmlns="http://hl7.org/fhir">\n  <code><text value="x"/></code>\n'
        '  <status value="available"/>\n</ImagingSelection>\n')
    (tmp_path / "notes.txt").write_text("not a resource")
    result = run("validate", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert "3 resource(s) in 3 file(s): 1 error(s)" in result.output
    assert "ERROR ImagingSelection.status (line 3, col 30)" in result.output
    assert "[xml-order]" in result.output


def test_validate_xml_as_json_outcomes_and_stdin(tmp_path: Path) -> None:
    path = _xml(tmp_path)
    result = run("validate", "--format", "json", "-", stdin=path.read_bytes())
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output.splitlines()[0])
    assert outcome["resourceType"] == "OperationOutcome"
    assert all(issue["severity"] == "information" for issue in outcome["issue"])


def test_validate_hostile_xml_is_an_issue_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "xxe.xml"
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                    '\n<ImagingSelection xmlns="http://hl7.org/fhir"><status value="&e;"/>'
                    "</ImagingSelection>")
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert "FATAL" in result.output and "DOCTYPE" in result.output and "root:" not in result.output
