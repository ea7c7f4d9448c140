"""`fhirgen generate --all`: the whole R5 core becomes importable models, checked on its examples.

``definitions/`` holds only the ImagingSelection closure, so these tests read the official package
files from ``.cache/packages/`` (``.ci/run`` fetches them with ``npm pack``; set
``FHIRGEN_PACKAGE_CACHE`` to use another folder). Without them the tests are skipped with a reason
that names the missing file.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from fhirgen.packages import iter_package_files
from fhirgen.runtime.model import UnknownResource

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("FHIRGEN_PACKAGE_CACHE", ROOT / ".cache" / "packages"))
CORE = CACHE / "hl7.fhir.r5.core-5.0.0.tgz"
EXAMPLES = CACHE / "hl7.fhir.r5.examples-5.0.0.tgz"


def _need(path: Path) -> None:
    if not path.is_file():
        pytest.skip(f"{path.name} not in {CACHE} (run: npm pack {path.name[:-10]}@5.0.0 there)")


@pytest.fixture(scope="module")
def all_models(tmp_path_factory: pytest.TempPathFactory):
    _need(CORE)
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


def test_every_core_resource_has_a_model(all_models) -> None:
    expected = set()
    for item in iter_package_files(CORE):
        if item.name.startswith("StructureDefinition-"):
            sd = json.loads(item.data)
            if (
                sd.get("kind") == "resource"
                and sd.get("derivation") == "specialization"
                and not sd.get("abstract")
            ):
                expected.add(sd["type"])
    assert len(expected) > 150
    assert expected == set(all_models.RESOURCES)
    for name in sorted(expected):
        assert all_models.RESOURCES.get(name).resource_type == name


def test_official_examples_round_trip(all_models) -> None:
    _need(EXAMPLES)
    checked = 0
    failures = []
    for item in iter_package_files(EXAMPLES):
        tree = json.loads(item.data, parse_float=Decimal)
        if not isinstance(tree, dict) or "resourceType" not in tree:
            continue
        model = all_models.parse(item.data, validate=False)
        assert not isinstance(model, UnknownResource), item.name
        if json.loads(model.to_json(), parse_float=Decimal) != tree:
            failures.append(item.name)
        checked += 1
    assert checked > 2500
    assert failures == []
