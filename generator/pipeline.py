"""The whole generation in one call: definitions -> index -> model -> files (nothing written)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .imaging import find_rules
from .ir import Model, all_core_types, build_model, build_profiles
from .loader import DefinitionIndex, load_index
from .render import GenerateConfig, generate

__all__ = ["Generation", "run_generation"]


@dataclass(frozen=True)
class Generation:
    index: DefinitionIndex
    model: Model
    files: dict[str, str]


def run_generation(
    definitions: Sequence[Path],
    targets: Sequence[str],
    *,
    all_types: bool = False,
    import_name: str = "fhirgen.models",
    project_root: Path | None = None,
    tests: bool = True,
    profiles: Sequence[str] = (),
) -> Generation:
    """Load *definitions*, model *targets* (or every core type) and render every file; with
    *profiles* (canonical URLs in the definitions), their validators too (``profiles.py``)."""
    index = load_index(definitions)
    chosen = all_core_types(index) if all_types else tuple(targets)
    model = build_model(index, chosen)
    examples: list[tuple[str, str]] = []
    documents: dict[str, dict[str, Any]] = {}  # the rule tests' datatype cases come from them
    if tests and project_root is not None:
        for source in definitions:
            for name, resource in index.examples:
                path = (Path(source) / name).resolve() if Path(source).is_dir() else None
                if path is None or not path.is_file():
                    continue
                try:
                    rel = path.relative_to(project_root.resolve()).as_posix()
                except ValueError:
                    continue
                examples.append((rel, str(resource.get("resourceType"))))
                documents[rel] = resource
    config = GenerateConfig(import_name=import_name, examples=tuple(sorted(set(examples))), tests=tests,
                            example_documents=tuple(sorted(documents.items())),
                            profiles=build_profiles(index, profiles),
                            imaging_rules=find_rules(definitions))  # issue 9
    return Generation(index, model, generate(model, config))
