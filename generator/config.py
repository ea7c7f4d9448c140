"""The project's generation settings: the ``[tool.fhirgen]`` table of ``pyproject.toml``.

One frozen :class:`ProjectConfig`, validated once. Command-line options override it. Paths are
relative to the folder holding ``pyproject.toml`` (the project root); without one, to the current
folder, with the defaults below.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "ProjectConfig", "load_config"]


class ConfigError(Exception):
    """A ``[tool.fhirgen]`` table that does not validate."""


@dataclass(frozen=True)
class ProjectConfig:
    root: Path
    definitions: Path
    output: Path
    tests_output: Path
    targets: tuple[str, ...]
    import_name: str
    profiles: tuple[str, ...] = ()  # canonical URLs of constraint profiles to generate
    profile_definitions: Path | None = None  # the project's own profiles and value sets

    def relative(self, path: Path) -> str:
        """*path* relative to the project root, in POSIX form (for generated files and messages)."""
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return path.as_posix()


DEFAULTS: dict[str, Any] = {
    "definitions": "definitions",
    "output": "generated",
    "tests-output": "tests/generated",
    "targets": ["ImagingSelection"],
    "import-name": "fhirgen.models",
    "profiles": [],
    "profile-definitions": "profiles",
}


def _find_root(start: Path) -> Path:
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return start


def load_config(start: Path | None = None) -> ProjectConfig:
    root = _find_root((start or Path.cwd()).resolve())
    table: dict[str, Any] = {}
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get(
                "fhirgen", {}
            )
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{pyproject}: {exc}") from exc
    unknown = set(table) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"[tool.fhirgen]: unknown setting(s) {', '.join(sorted(unknown))}")
    values = {**DEFAULTS, **table}
    for key in ("definitions", "output", "tests-output", "import-name", "profile-definitions"):
        if not isinstance(values[key], str) or not values[key]:
            raise ConfigError(f"[tool.fhirgen] {key} must be a non-empty string")
    targets = values["targets"]
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
        raise ConfigError("[tool.fhirgen] targets must be a non-empty list of type names")
    profiles = values["profiles"]
    if not isinstance(profiles, list) or not all(
        isinstance(p, str) and p.startswith(("http://", "https://", "urn:")) for p in profiles
    ):
        raise ConfigError("[tool.fhirgen] profiles must be a list of canonical URLs")
    return ProjectConfig(
        root=root,
        definitions=root / values["definitions"],
        output=root / values["output"],
        tests_output=root / values["tests-output"],
        targets=tuple(targets),
        import_name=values["import-name"],
        profiles=tuple(profiles),
        profile_definitions=root / values["profile-definitions"],
    )
