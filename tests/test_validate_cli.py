"""`fhirgen validate`: inputs, output formats and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from fhirgen.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "definitions" / "hl7.fhir.r5.examples"
GOOD = (EXAMPLES / "ImagingSelection-example-basic-image-selection.json").read_text(encoding="utf-8")
BAD = '{"resourceType": "ImagingSelection", "status": "bogus", "code": {"text": "x"}}'


def validate(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, ["validate", *args], input=stdin)


def test_official_examples_folder_is_clean() -> None:
    result = validate(str(EXAMPLES))
    assert result.exit_code == 0, result.output
    assert "7 resource(s) in 7 file(s): 0 error(s), 0 warning(s)" in result.output


def test_errors_exit_1_and_are_grouped_by_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(BAD, encoding="utf-8")
    (tmp_path / "good.json").write_text(GOOD, encoding="utf-8")
    result = validate(str(tmp_path))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].endswith("bad.json")
    assert any("ERROR ImagingSelection.status" in line and "[binding]" in line for line in lines)
    assert "2 resource(s) in 2 file(s): 1 error(s)" in lines[-1]


def test_fail_on_warning(tmp_path: Path) -> None:
    tree = json.loads(GOOD)
    tree["performer"] = [{"function": {"coding": [{"system": "http://example.org", "code": "x"}]}}]
    path = tmp_path / "warn.json"
    path.write_text(json.dumps(tree), encoding="utf-8")
    assert validate(str(path)).exit_code == 0
    assert validate("--fail-on", "warning", str(path)).exit_code == 1


def test_ndjson_with_a_broken_line_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "export.ndjson"
    path.write_text("\n".join([json.dumps(json.loads(GOOD)), "{broken", BAD]) + "\n", encoding="utf-8")
    result = validate("--format", "json", str(path))
    assert result.exit_code == 1
    outcomes = [json.loads(line) for line in result.output.splitlines()]
    assert len(outcomes) == 3
    assert all(o["resourceType"] == "OperationOutcome" for o in outcomes)
    assert all(i["severity"] == "information" for i in outcomes[0]["issue"])
    broken = outcomes[1]["issue"]
    assert [i["severity"] for i in broken] == ["fatal"]
    line = next(e["valueInteger"] for e in broken[0]["extension"] if e["url"].endswith("issue-line"))
    assert line == 2
    third = outcomes[2]["issue"]
    assert any(i["expression"] == ["ImagingSelection.status"] for i in third)
    line = next(e["valueInteger"] for e in third[0]["extension"] if e["url"].endswith("issue-line"))
    assert line == 3
    assert outcomes[2]["extension"][0]["valueString"] == str(path)


def test_stdin() -> None:
    result = validate("--format", "json", "-", stdin=GOOD)
    assert result.exit_code == 0
    (outcome,) = [json.loads(line) for line in result.output.splitlines()]
    assert outcome["extension"][0]["valueString"] == "<stdin>"
    assert validate("-", stdin=BAD).exit_code == 1
    assert validate("-", stdin="not json").exit_code == 1


def test_unusable_input_exits_2_without_traceback(tmp_path: Path) -> None:
    for args in (["nope.json"], ["--models", "no_such_models_pkg", str(EXAMPLES)], [str(tmp_path)],
                 ["--format", "yaml", str(EXAMPLES)]):
        result = subprocess.run([sys.executable, "-m", "fhirgen.cli", "validate", *args],
                                capture_output=True, text=True, cwd=ROOT, check=False)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_models_as_a_folder(tmp_path: Path) -> None:
    result = validate("--models", str(ROOT / "generated"), "--format", "json", "-", stdin=GOOD)
    assert result.exit_code == 0, result.output


def test_lone_surrogates_are_reported_not_crashed_on() -> None:
    text = '{"resourceType": "ImagingSelection", "status": "\\ud800", "code": {"text": "a"}, "\\udfff": 1}'
    for fmt in ("text", "json"):
        result = subprocess.run([sys.executable, "-m", "fhirgen.cli", "validate", "--format", fmt, "-"],
                                input=text, capture_output=True, text=True, cwd=ROOT, check=False)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert "surrogate" in result.stdout and "\\udfff" in result.stdout


def test_xml_input_is_validated(tmp_path: Path) -> None:
    """(issue 5; the XML cases are in tests/test_xml_cli.py)"""
    path = tmp_path / "a.xml"
    path.write_text('<ImagingSelection xmlns="http://hl7.org/fhir"/>', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "fhirgen.cli", "validate", str(path)],
                            capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 1
    assert "ImagingSelection.status" in result.stdout and "Traceback" not in result.stderr
