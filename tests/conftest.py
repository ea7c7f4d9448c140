"""Fixtures shared by the test modules: the whole R5 core generated once per test session.

``generate --all`` of ``hl7.fhir.r5.core`` takes seconds and its import more: the modules that
need models of every core type (tests/test_generate_all.py, tests/test_xml_all.py,
tests/test_conformance.py) share one generation. The official package files come from
``.cache/packages/`` (``.ci/run`` fetches them with ``npm pack``; ``FHIRGEN_PACKAGE_CACHE`` names
another folder); without them those tests skip with a reason naming the missing file.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("FHIRGEN_PACKAGE_CACHE", ROOT / ".cache" / "packages"))
CORE = CACHE / "hl7.fhir.r5.core-5.0.0.tgz"
EXAMPLES = CACHE / "hl7.fhir.r5.examples-5.0.0.tgz"


def need_package(path: Path) -> None:
    """Skip the calling test, with the command that fetches it, when a package file is missing."""
    if not path.is_file():
        pytest.skip(f"{path.name} not in {CACHE} (run: npm pack {path.name[:-10]}@5.0.0 there)")


@pytest.fixture(scope="session")
def r5all(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The package ``fhirgen generate --all`` makes of the whole R5 core, imported as ``r5all``."""
    need_package(CORE)
    out = tmp_path_factory.mktemp("all") / "r5all"
    result = subprocess.run(
        [sys.executable, "-m", "fhirgen.cli", "generate", "--all", "--definitions", str(CORE),
         "--output", str(out)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(out.parent))
    try:
        yield importlib.import_module("r5all")
    finally:
        sys.path.remove(str(out.parent))
