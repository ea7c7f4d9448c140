"""The generated package type-checks under ``mypy --strict`` (IDEs and users' mypy rely on it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generated_models_pass_mypy_strict(tmp_path: Path) -> None:
    # mypy cannot follow setuptools' editable-install finder, so lay the packages out plainly:
    # the runtime under its import name, the generated package under a name of its own.
    (tmp_path / "fhirgen").symlink_to(ROOT / "generator", target_is_directory=True)
    shutil.copytree(ROOT / "generated", tmp_path / "models_under_test",
                    ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "models_under_test"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout
