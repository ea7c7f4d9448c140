"""Tests of the ``fhirgen`` command line, run as a user runs it (``python -m fhirgen.cli``).

Nothing here writes into the repository: generated packages go to temporary folders (imported
through ``PYTHONPATH`` and ``--models``), and ``fhirgen check`` runs in a copy of the project.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT / "definitions"
EXAMPLES = DEFINITIONS / "hl7.fhir.r5.examples"
MINI_DEFINITIONS = ROOT / "tests" / "fixtures" / "mini" / "definitions"
WIDGET_EXAMPLE = ROOT / "tests" / "fixtures" / "mini" / "examples" / "Widget-example.json"
SUMMARY = re.compile(
    r"^fhirgen: (\d+) types -> (\d+) files \((\d+) written, (\d+) unchanged, (\d+) removed\)",
    re.MULTILINE,
)


def fhirgen(*args: str | Path, cwd: Path = ROOT, pythonpath: Path | None = None,
            stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(pythonpath), env.get("PYTHONPATH", "")) if p
        )
    return subprocess.run(
        [sys.executable, "-m", "fhirgen.cli", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, check=False, timeout=120,
        input=stdin.decode("utf-8") if stdin is not None else None, text=True,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fhirgen: error: "), lines[0]
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def summary(result: subprocess.CompletedProcess[str]) -> tuple[int, ...]:
    match = SUMMARY.search(result.stdout)
    assert match, result.stdout + result.stderr
    return tuple(int(g) for g in match.groups())


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def real_package(workdir: Path) -> tuple[Path, str, list[subprocess.CompletedProcess[str]]]:
    """``fhirgen generate`` of definitions/ into temporary folders, twice."""
    if not (DEFINITIONS / "manifest.json").is_file():
        pytest.fail("definitions/ is not populated: run `fhirgen fetch`")
    name = "fhirgen_cli_models"
    args = ("generate", "--definitions", DEFINITIONS, "--output", workdir / name,
            "--tests-output", workdir / "gen_tests")
    runs = [fhirgen(*args), fhirgen(*args)]
    return workdir, name, runs


@pytest.fixture(scope="module")
def mini_package(workdir: Path) -> tuple[Path, str]:
    name = "fhirgen_cli_mini"
    result = fhirgen(
        "generate", "--definitions", MINI_DEFINITIONS, "--target", "Widget",
        "--output", workdir / name, "--tests-output", workdir / "mini_tests",
    )
    assert result.returncode == 0, result.stderr
    return workdir, name


# -------------------------------------------------------------------------------------- help


def test_help() -> None:
    result = fhirgen("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: ")
    for command in ("generate", "check", "convert"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.MULTILINE), command
    assert fhirgen("convert", "--help").stdout.count("--to") >= 1


def test_version() -> None:
    from fhirgen import __version__

    result = fhirgen("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"fhirgen, version {__version__}"


# ---------------------------------------------------------------------------------- generate


def test_generate_into_temporary_folders(real_package) -> None:
    workdir, name, (first, second) = real_package
    assert first.returncode == 0, first.stderr
    types, files, written, unchanged, removed = summary(first)
    assert types == 66
    package = workdir / name
    produced = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py"))
    assert "imagingselection.py" in produced and "__init__.py" in produced
    tests = sorted(p.name for p in (workdir / "gen_tests").glob("*.py"))
    assert {"__init__.py", "test_examples.py"} <= set(tests)
    assert files == len(produced) + len(tests)
    assert (written, unchanged, removed) == (files, 0, 0)
    # the second run finds everything in place
    assert second.returncode == 0, second.stderr
    assert summary(second) == (66, files, 0, files, 0)
    assert "wrote" not in second.stdout


def test_generated_tests_name_every_example(real_package) -> None:
    workdir, _, _ = real_package
    text = (workdir / "gen_tests" / "test_examples.py").read_text(encoding="utf-8")
    examples = sorted(EXAMPLES.glob("ImagingSelection-*.json"))
    assert examples
    for example in examples:
        assert json.dumps(example.relative_to(ROOT).as_posix()) in text, example.name


def test_generate_missing_definitions(workdir: Path) -> None:
    missing = workdir / "no-such-definitions"
    result = fhirgen("generate", "--definitions", missing, "--output", workdir / "x",
                     "--tests-output", workdir / "y")
    assert_one_line_error(result, "no-such-definitions")
    assert not (workdir / "x").exists()


def test_generate_unknown_target(workdir: Path) -> None:
    result = fhirgen("generate", "--definitions", MINI_DEFINITIONS, "--target", "Gadget",
                     "--output", workdir / "x2", "--tests-output", workdir / "y2")
    assert_one_line_error(result, "'Gadget'")
    assert not (workdir / "x2").exists()


def test_generate_bad_definition_file(workdir: Path) -> None:
    broken = workdir / "broken-definitions"
    shutil.copytree(MINI_DEFINITIONS, broken)
    (broken / "StructureDefinition-Widget.json").write_text('{"resourceType": ', encoding="utf-8")
    result = fhirgen("generate", "--definitions", broken, "--target", "Widget",
                     "--output", workdir / "x3", "--tests-output", workdir / "y3")
    assert_one_line_error(result, "StructureDefinition-Widget.json")


# ----------------------------------------------------------------------------------- convert


def test_convert_real_examples(real_package) -> None:
    workdir, name, _ = real_package
    examples = sorted(EXAMPLES.glob("ImagingSelection-*.json"))
    assert len(examples) >= 7
    for example in examples:
        result = fhirgen("convert", "--to", "json", "--models", name, example, pythonpath=workdir)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        printed = json.loads(result.stdout, parse_float=Decimal)
        assert printed == json.loads(example.read_bytes(), parse_float=Decimal), example.name


def test_convert_keeps_decimal_text_and_unknown_contained(mini_package) -> None:
    workdir, name = mini_package
    result = fhirgen(
        "convert", "--models", name, "--indent", "0", "--no-validate", WIDGET_EXAMPLE,
        pythonpath=workdir,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1  # --indent 0: one line per resource
    assert json.loads(lines[0], parse_float=Decimal) == json.loads(
        WIDGET_EXAMPLE.read_bytes(), parse_float=Decimal
    )
    assert '"weight":0.000100' in lines[0] and '"Gizmo"' in lines[0]


def test_convert_missing_path(real_package) -> None:
    workdir, name, _ = real_package
    result = fhirgen("convert", "--to", "json", "--models", name, workdir / "nowhere.json",
                     pythonpath=workdir)
    assert_one_line_error(result, "nowhere.json")
    assert result.stdout == ""


def test_convert_invalid_json(real_package) -> None:
    workdir, name, _ = real_package
    bad = workdir / "bad.json"
    bad.write_text('{"resourceType": "ImagingSelection", "status": }', encoding="utf-8")
    result = fhirgen("convert", "--to", "json", "--models", name, bad, pythonpath=workdir)
    assert_one_line_error(result, "bad.json", "not valid JSON")
    assert result.stdout == ""


def test_convert_wrong_shape(real_package) -> None:
    workdir, name, _ = real_package
    bad = workdir / "shape.json"
    bad.write_text('{"resourceType": "ImagingSelection", "code": [1]}', encoding="utf-8")
    result = fhirgen("convert", "--models", name, bad, pythonpath=workdir)
    # validated first: refused with the validator's issues (exit 1), nothing printed
    assert result.returncode == 1, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert "ImagingSelection.code" in result.stderr
    # built leniently, the model's own guard refuses the shape: one line, exit 2
    result = fhirgen("convert", "--no-validate", "--models", name, bad, pythonpath=workdir)
    assert_one_line_error(result, "shape.json", "ImagingSelection.code")


def test_convert_unknown_resource_type(real_package) -> None:
    workdir, name, _ = real_package
    other = workdir / "patient.json"
    other.write_text('{"resourceType": "Patient", "id": "p"}', encoding="utf-8")
    result = fhirgen("convert", "--models", name, other, pythonpath=workdir)
    assert_one_line_error(result, "patient.json", "'Patient'")


def test_convert_models_that_do_not_import(workdir: Path) -> None:
    result = fhirgen("convert", "--models", "no_such_models_pkg", WIDGET_EXAMPLE)
    assert_one_line_error(result, "no_such_models_pkg")


def test_convert_stdin(real_package) -> None:
    workdir, name, _ = real_package
    example = min(EXAMPLES.glob("ImagingSelection-*.json"))
    result = fhirgen(
        "convert", "--models", name, "-", pythonpath=workdir, stdin=example.read_bytes()
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(example.read_bytes())


# ------------------------------------------------------------------------------------- check


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """pyproject.toml, definitions/, generated/ and tests/generated/ copied, then regenerated:
    the copy is current whatever state the working tree is in."""
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(DEFINITIONS, tmp_path / "definitions")
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")  # [tool.fhirgen] profile-definitions
    for folder in ("generated", "tests/generated"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, tmp_path / folder,
                            ignore=shutil.ignore_patterns("__pycache__"))
    result = fhirgen("generate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_check_names_stale_files(project_copy: Path) -> None:
    clean = fhirgen("check", cwd=project_copy)
    assert clean.returncode == 0, clean.stderr
    assert "up to date" in clean.stdout
    assert clean.stderr == ""

    edited = project_copy / "generated" / "imagingselection.py"
    edited.write_text(edited.read_text(encoding="utf-8") + "# a hand edit\n", encoding="utf-8")
    (project_copy / "tests" / "generated" / "test_examples.py").unlink()
    stray = project_copy / "generated" / "leftover.py"
    stray.write_text("# Generated by fhirgen from an older run.\n", encoding="utf-8")
    mine = project_copy / "generated" / "handmade.py"
    mine.write_text("X = 1\n", encoding="utf-8")

    result = fhirgen("check", cwd=project_copy)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    reported = {
        tuple(line.split()) for line in result.stderr.splitlines() if line.startswith("  ")
    }
    assert reported == {
        ("differs", "generated/imagingselection.py"),
        ("missing", "tests/generated/test_examples.py"),
        ("not", "generated", "generated/leftover.py"),
    }
    assert "3 generated file(s) are stale" in result.stderr
    # check never writes
    assert edited.read_text(encoding="utf-8").endswith("# a hand edit\n")
    assert stray.exists() and mine.exists()
    # generate repairs, and leaves the hand-written file alone
    repaired = fhirgen("generate", cwd=project_copy)
    assert repaired.returncode == 0, repaired.stderr
    assert summary(repaired)[2:] == (2, summary(repaired)[1] - 2, 1)
    assert fhirgen("check", cwd=project_copy).returncode == 0
    assert mine.exists() and not stray.exists()


def test_check_with_bad_configuration(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.fhirgen]\ndefinitions = "definitions"\ncolour = "blue"\n', encoding="utf-8"
    )
    result = fhirgen("check", cwd=tmp_path)
    assert_one_line_error(result, "colour")
