"""Render the views through the Jinja2 templates and format the result: ``{path: text}``.

:func:`generate` is pure: the same model and config give the same mapping, byte for byte. Paths are
relative to two roots the caller chooses: ``models/...`` (the generated package) and ``tests/...``
(the generated tests). Python output is formatted by the pinned ruff, run the same way every time.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from . import naming
from .ir import Model, Profile
from .views import PackageView, build_views, py_literal

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .imaging import ImagingRules

__all__ = ["GenerateConfig", "RenderError", "format_python", "generate"]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class RenderError(Exception):
    """Rendering or formatting failed (a template error, or generated code that does not parse)."""


@dataclass(frozen=True)
class GenerateConfig:
    """What to generate: the import name the package will have (for generated tests)."""

    import_name: str = "fhirgen.models"
    examples: tuple[tuple[str, str], ...] = ()  # (path relative to the project, resourceType)
    #: the parsed examples by path, so the rule tests can test each datatype where an example
    #: uses it (paths without a document only get the resource's own cases)
    example_documents: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    tests: bool = True
    profiles: tuple[Profile, ...] = ()  # issue 6: profiles to generate validators for
    imaging_rules: ImagingRules | None = None  # issue 9: fhirgen's imaging rules, if any


def _templates_dir() -> Path:
    try:
        import fhirgen.templates as package

        return Path(package.__file__).resolve().parent
    except ImportError:  # pragma: no cover - running from a source tree without install
        return TEMPLATES


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["pyrepr"] = py_literal
    return env


def _render(env: jinja2.Environment, template: str, **values: object) -> str:
    try:
        return env.get_template(template).render(**values)
    except jinja2.TemplateError as exc:
        raise RenderError(f"{template}: {exc}") from exc


def generate(model: Model, config: GenerateConfig = GenerateConfig()) -> dict[str, str]:
    """Every generated file of *model*, formatted: ``{"models/x.py": text, "tests/y.py": text}``."""
    package = build_views(model, config.examples)
    env = environment()
    files: dict[str, str] = {}
    for module in package.modules:
        header = package.header
        files[f"models/{module.filename}"] = _render(
            env, "module.py.jinja", module=module, header=header
        )
    files["models/_registry.py"] = _render(env, "registry.py.jinja", package=package, header=package.header)
    files["models/valuesets.py"] = _render(env, "valuesets.py.jinja", package=package, header=package.header)
    files["models/__init__.py"] = _render(
        env, "package_init.py.jinja", package=package, header=package.header
    )
    files.update(_validator_files(env, model, package, config))  # issue 3: validators
    files.update(_xml_files(env, model, package))  # issue 5: FHIR XML facts
    files.update(_profile_files(env, model, package, config))  # issue 6: profiles
    files.update(_imaging_files(env, model, package, config))  # issue 9: imaging rules
    if config.tests and package.examples:
        files["tests/test_examples.py"] = _render(
            env,
            "test_examples.py.jinja",
            package=package,
            header=package.header,
            import_name=config.import_name,
            example_classes=sorted({cls for _id, _path, cls in package.examples}),
        )
        files["tests/__init__.py"] = ""
    return format_python(files)


# --- validators and rule tests (issue 3) --------------------------------------------------


def _validator_files(
    env: jinja2.Environment, model: Model, package: PackageView, config: GenerateConfig
) -> dict[str, str]:
    from .invariant_views import build_invariant_views
    from .validator_views import build_validator_views, rule_case_literal, rule_cases

    invariants = build_invariant_views(model, package.header)  # issue 4: FHIRPath invariants
    view = build_validator_views(model, package.header, invariants)
    files = {
        "models/validators.py": _render(
            env, "validators.py.jinja", header=package.header, fhir_version=view.fhir_version,
            functions=view.functions, resources=view.resources, constants=view.constants,
            value_sets=view.value_sets, primitives=view.primitives, invariants=view.invariants,
            runtime=view.runtime,
        ),
        "models/invariants.py": _render(
            env, "invariants.py.jinja", header=package.header, functions=invariants.functions,
            groups=invariants.groups, type_elements=invariants.type_elements,
            type_bases=invariants.type_bases, value_sets=invariants.value_sets,
            uses_value_sets=invariants.uses_value_sets, undecidable=invariants.undecidable,
        ),
    }
    examples = [path for path, resource_type in config.examples if resource_type in model.targets]
    by_path = dict(config.example_documents)
    documents = [by_path[path] for path in examples if path in by_path]
    if config.tests and examples:
        files["tests/test_rules.py"] = _render(
            env, "test_rules.py.jinja", header=package.header, import_name=config.import_name,
            targets=model.targets, examples=examples,
            cases=[rule_case_literal(case) for case in rule_cases(model, documents)],
        )
    return files


# --- end of validators -------------------------------------------------------------------


# --- FHIR XML facts (issue 5) -------------------------------------------------------------


def _xml_files(env: jinja2.Environment, model: Model, package: PackageView) -> dict[str, str]:
    from .xml_views import build_xml_views

    view = build_xml_views(model, package.header)
    return {
        "models/xmlschema.py": _render(
            env, "xmlschema.py.jinja", header=view.header, fields=view.fields,
            resources=view.resources, types=view.types,
        )
    }


# --- end of FHIR XML facts ----------------------------------------------------------------


# --- profile validators (issue 6) ---------------------------------------------------------


def _profile_files(
    env: jinja2.Environment, model: Model, package: PackageView, config: GenerateConfig
) -> dict[str, str]:
    """``profiles.py`` when profiles are configured (``fhirgen.profile_views``), else nothing."""
    if not config.profiles:
        return {}
    from .profile_views import build_profile_views

    view = build_profile_views(model, config.profiles, package.header)
    return {"models/profiles.py": _render(env, "profiles.py.jinja", **vars(view))}


# --- end of profile validators ------------------------------------------------------------


def _imaging_files(
    env: jinja2.Environment, model: Model, package: PackageView, config: GenerateConfig
) -> dict[str, str]:
    """``imaging_rules.py`` when the definitions have fhirgen's imaging rules and ImagingSelection
    is generated (``fhirgen.imaging``), else nothing."""
    if config.imaging_rules is None or "ImagingSelection" not in model.targets:
        return {}
    from .imaging import build_imaging_view

    view = build_imaging_view(config.imaging_rules, model, package.header)
    return {"models/imaging_rules.py": _render(env, "imaging_rules.py.jinja", **vars(view))}


def _ruff() -> str:
    from ruff.__main__ import find_ruff_bin

    return str(find_ruff_bin())


def format_python(files: dict[str, str]) -> dict[str, str]:
    """Format every ``.py`` text with the pinned ruff (isolated: no user configuration)."""
    with tempfile.TemporaryDirectory(prefix="fhirgen-format-") as tmp:
        root = Path(tmp)
        for rel, text in files.items():
            if rel.endswith(".py"):
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        ruff = _ruff()
        commands = (
            # import order and __all__ order by isort's rules, then the layout
            [ruff, "check", "--isolated", "--select", "I,RUF022", "--fix", "--quiet", "."],
            [ruff, "format", "--isolated", "--line-length", "100", "--quiet", "."],
        )
        for command in commands:
            result = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                detail = (result.stderr or result.stdout).strip()[:2000]
                raise RenderError(f"generated code does not format: {detail}")
        return {
            rel: (root / rel).read_text(encoding="utf-8") if rel.endswith(".py") else text
            for rel, text in sorted(files.items())
        }


def check_package_name(import_name: str) -> str:
    for part in import_name.split("."):
        naming.check_identifier(part.replace("_", "a"), "package name")
    return import_name


_ = PackageView  # re-exported type for callers that annotate
