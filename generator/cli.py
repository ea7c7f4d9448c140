"""The ``fhirgen`` command line (click). Every failure is one clear line and a documented exit code.

Exit codes: 0 success; 1 a check failed (``check`` found stale files); 2 unusable arguments or
input (missing paths, unreadable definitions, a file that is not a FHIR resource).
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import click

from . import __version__
from .config import ConfigError, ProjectConfig, load_config
from .runtime.limits import DEFAULT_LIMITS

EXIT_FAILED = 1
EXIT_UNUSABLE = 2


def _fail(message: str, code: int = EXIT_UNUSABLE) -> NoReturn:
    click.echo(f"fhirgen: error: {message}", err=True)
    sys.exit(code)


def _config() -> ProjectConfig:
    try:
        return load_config()
    except ConfigError as exc:
        _fail(str(exc))


def _generation(
    config: ProjectConfig,
    definitions: Path | None,
    targets: tuple[str, ...],
    all_types: bool,
    tests: bool,
) -> Any:
    from .fhirpath import FhirPathCompileError
    from .ir import IRError
    from .loader import DefinitionError
    from .naming import NamingError
    from .pipeline import run_generation
    from .render import RenderError

    try:
        # issue 6: the configured profiles go with the configured definitions and targets
        use_profiles = definitions is None and not targets and not all_types and bool(config.profiles)
        extra = [config.profile_definitions] if use_profiles and config.profile_definitions else []
        return run_generation(
            [definitions or config.definitions, *extra],
            targets or config.targets,
            all_types=all_types,
            import_name=config.import_name,
            project_root=config.root,
            tests=tests,
            profiles=config.profiles if use_profiles else (),
        )
    except (DefinitionError, IRError, NamingError, RenderError) as exc:
        _fail(str(exc))
    except FhirPathCompileError as exc:
        _fail(f"constraint {exc}: the FHIRPath compiler cannot handle it, so nothing was generated")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fhirgen")
def main() -> None:
    """Generate Python models and validators from FHIR StructureDefinitions."""


@main.command("generate")
@click.option("--definitions", type=click.Path(path_type=Path), help="Definitions folder, package folder or .tgz (default: definitions/).")
@click.option("--output", type=click.Path(path_type=Path), help="Folder of the generated package (default: generated/).")
@click.option("--tests-output", type=click.Path(path_type=Path), help="Folder of the generated tests (default: tests/generated/).")
@click.option("--target", "targets", multiple=True, metavar="NAME", help="Type to generate with everything it needs (repeatable; default from [tool.fhirgen]).")
@click.option("--all", "all_types", is_flag=True, help="Generate every resource and datatype of the definitions.")
def generate_command(
    definitions: Path | None,
    output: Path | None,
    tests_output: Path | None,
    targets: tuple[str, ...],
    all_types: bool,
) -> None:
    """Regenerate models and generated tests from the definitions."""
    from .writer import write_files

    config = _config()
    if definitions is not None and not definitions.exists():
        _fail(f"{definitions}: no such file or folder")
    output = output or config.output
    # Generated tests import the configured package; they are written for it only.
    with_tests = tests_output is not None or output.resolve() == config.output.resolve()
    started = time.perf_counter()
    generation = _generation(config, definitions, targets, all_types, with_tests)
    roots = {"models": output}
    if with_tests:
        roots["tests"] = tests_output or config.tests_output
    report = write_files(generation.files, roots)
    elapsed = time.perf_counter() - started
    for path in report.written:
        click.echo(f"  wrote    {config.relative(path)}")
    for path in report.removed:
        click.echo(f"  removed  {config.relative(path)}")
    types = len(generation.model.types)
    click.echo(
        f"fhirgen: {types} types -> {len(generation.files)} files "
        f"({len(report.written)} written, {len(report.unchanged)} unchanged, "
        f"{len(report.removed)} removed) in {elapsed:.1f}s"
    )


@main.command("check")
@click.option("--definitions", type=click.Path(path_type=Path), help="Definitions to generate from (default: definitions/).")
def check_command(definitions: Path | None) -> None:
    """Exit 1 and name the files when generated/ or the generated tests are stale."""
    from .writer import stale_files

    config = _config()
    generation = _generation(config, definitions, (), False, True)
    roots = {"models": config.output, "tests": config.tests_output}
    stale = stale_files(generation.files, roots)
    if stale:
        for path, why in stale:
            click.echo(f"  {why:13} {config.relative(path)}", err=True)
        click.echo(
            f"fhirgen: {len(stale)} generated file(s) are stale: run `fhirgen generate` and commit",
            err=True,
        )
        sys.exit(EXIT_FAILED)
    click.echo(f"fhirgen: {len(generation.files)} generated files are up to date")


def _read_bounded(stream: Any, max_bytes: int) -> bytes | None:
    """At most *max_bytes* of *stream*; ``None`` when there is more (never read whole)."""
    data: bytes = stream.read(max_bytes + 1)
    return None if len(data) > max_bytes else data


def _input_files(paths: tuple[str, ...], max_bytes: int) -> Iterator[tuple[str, bytes | None]]:
    """(name, content) of each input; content ``None`` for one larger than *max_bytes*."""
    for raw in paths:
        if raw == "-":
            yield "<stdin>", _read_bounded(sys.stdin.buffer, max_bytes)
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".json", ".xml") and p.is_file())
            if not found:
                _fail(f"{raw}: no .json or .xml files in this folder")
            files = [(str(file), file) for file in found]
        elif path.is_file():
            files = [(raw, path)]
        else:
            _fail(f"{raw}: no such file or folder")
        for name, file in files:
            with file.open("rb") as stream:
                yield name, _read_bounded(stream, max_bytes)


@main.command("convert")
@click.option("--to", "to_format", type=click.Choice(["json", "xml"]), default="json", show_default=True, help="Output format: FHIR JSON or FHIR XML (input: .json or .xml, else sniffed).")
@click.option("--models", "models_name", default=None, help="Import name of the generated package (default from [tool.fhirgen]).")
@click.option("--indent", type=int, default=2, show_default=True, help="Indentation; 0 writes one line per resource.")
@click.option("--no-validate", "lenient", is_flag=True, help="Build models without validating first (unknown properties are dropped).")
@click.option("--max-bytes", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_bytes, show_default=True, help="Most bytes of one input; a larger one is refused unread (exit 1), the others converted.")
@click.argument("paths", nargs=-1, required=True)
def convert_command(
    to_format: str, models_name: str | None, indent: int, lenient: bool, paths: tuple[str, ...],
    max_bytes: int = DEFAULT_LIMITS.max_bytes,
) -> None:
    """Parse resources (FHIR JSON or XML) through the generated models and print them as FHIR JSON or XML.

    Models are built from validated input: a resource with errors is not converted; its errors go
    to stderr and the exit code is 1 (the other inputs are still converted).
    """
    from .runtime.jsonio import FhirJsonError, loads
    from .runtime.model import ModelError, UnknownResource
    from .runtime.validate import ValidationError

    for raw in paths:
        if raw != "-" and not Path(raw).exists():
            _fail(f"{raw}: no such file or folder")
    registry = _registry(models_name or _config().import_name)
    invalid = 0
    for name, data in _input_files(paths, max_bytes):
        if data is None:
            invalid += 1
            click.echo(f"{name}: larger than {max_bytes:,} bytes (--max-bytes): not converted",
                       err=True)
            continue
        is_xml = _is_xml(name, data)  # issue 5: FHIR XML in (validated XML reports its problems)
        try:
            tree = (_xml_tree(registry, data) if lenient else {}) if is_xml else loads(data)
        except (FhirJsonError, RecursionError, ValueError) as exc:
            _fail(f"{name}: {exc}")
        resource_type = tree.get("resourceType") if isinstance(tree, dict) else None
        if (not isinstance(resource_type, str) or resource_type not in registry) and tree != {}:
            _fail(f"{name}: no generated model for resourceType {resource_type!r}")
        try:
            if is_xml:
                from .runtime.xml import from_xml

                model = from_xml(registry, data, validate=not lenient)
            else:
                model = registry.from_json(data, validate=not lenient)
        except ValidationError as exc:
            invalid += 1
            for issue in exc.result.issues:
                if issue.severity in ("fatal", "error"):
                    click.echo(f"{name}: {issue}", err=True)
            continue
        except (FhirJsonError, ModelError, RecursionError) as exc:
            _fail(f"{name}: {exc}")
        if isinstance(model, UnknownResource):
            _fail(f"{name}: no generated model for resourceType {model.tree.get('resourceType')!r}")
        if to_format == "xml":  # issue 5: FHIR XML out
            from .runtime.xml import to_xml
            from .runtime.xmlio import XmlWriteError

            try:
                click.echo(to_xml(model).decode("utf-8"), nl=False)
            except XmlWriteError as exc:  # a control character read from XML 1.1 or JSON
                _fail(f"{name}: {exc}")
        else:
            click.echo(model.to_json(indent=indent or None))
    if invalid:
        click.echo(f"fhirgen: {invalid} resource(s) not converted: they have errors", err=True)
        sys.exit(EXIT_FAILED)


# --- FHIR XML input (issue 5) -------------------------------------------------------------


def _is_xml(name: str, data: bytes) -> bool:
    """XML by the file's extension, else by its content (first non-blank character ``<``)."""
    from .runtime.xml import looks_like_xml

    return name.endswith(".xml") or (not name.endswith((".json", ".ndjson")) and looks_like_xml(data))


def _xml_schema_module(package: str) -> Any:
    try:
        return importlib.import_module(f"{package}.xmlschema")
    except ImportError as exc:
        _fail(f"the generated package {package!r} has no XML support (regenerate it): {exc}")


def _xml_tree(registry: Any, data: bytes) -> Any:
    """The tree of XML converted without validation: read as far as it goes (``--no-validate``
    converts what the XML rules object to, as JSON input is converted)."""
    from .runtime.xml import read_lenient

    return read_lenient(data, _xml_schema_module(registry._package).XML_SCHEMA)


# --- end of FHIR XML input ----------------------------------------------------------------


def _registry(import_name: str) -> Any:
    try:
        module = importlib.import_module(import_name)
    except ImportError as exc:
        _fail(f"cannot import the generated models {import_name!r}: {exc}")
    registry = getattr(module, "RESOURCES", None)
    if registry is None:
        _fail(f"{import_name!r} is not a package generated by fhirgen")
    return registry


@main.command("fetch")
@click.argument("sources", nargs=-1)
@click.option("--definitions", type=click.Path(path_type=Path), help="Folder to refresh (default: definitions/).")
@click.option("--target", "targets", multiple=True, metavar="NAME", help="Type whose closure to take (repeatable; default from [tool.fhirgen]).")
def fetch_command(sources: tuple[str, ...], definitions: Path | None, targets: tuple[str, ...]) -> None:
    """Refresh definitions/ from FHIR packages: NAME@VERSION (through npm) or FILE.tgz.

    Without SOURCES, the packages recorded in the manifest are fetched again.
    """
    from . import fetch as fetching

    config = _config()
    folder = definitions or config.definitions
    try:
        specs = list(sources) or fetching.sources_from_manifest(folder)
        with tempfile.TemporaryDirectory(prefix="fhirgen-fetch-") as work:
            resolved = fetching.resolve_sources(specs, Path(work))
            report = fetching.fetch(resolved, folder, targets or config.targets)
    except fetching.FetchError as exc:
        _fail(str(exc))
    for line in report.summary_lines():
        click.echo(line)


# ------------------------------------------------------------------------------------- diff
# (issue 6) `fhirgen diff OLD NEW`: definitions and generated files compared; git-diff-like exit.


@main.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--target", "targets", multiple=True, metavar="NAME", help="Type whose closure to compare (repeatable; default from [tool.fhirgen]).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True, help="text: grouped by type and element; json: one sorted document.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when there are differences (as `git diff --exit-code`); without it, 0.")
def diff_command(old: Path, new: Path, targets: tuple[str, ...], output_format: str, exit_code: bool) -> None:
    """What changed from OLD to NEW definitions (folders, package folders or .tgz files).

    Element by element (cardinality, types and target profiles, bindings and their codes,
    invariants, fixed/pattern values, flags), and which generated files and tests change.
    """
    from .diff import diff_generations, render_json, render_text
    from .fhirpath import FhirPathCompileError
    from .ir import IRError
    from .loader import DefinitionError
    from .naming import NamingError
    from .render import RenderError

    config = _config()
    for path in (old, new):
        if not path.exists():
            _fail(f"{path}: no such file or folder")
    roots = {"models": config.relative(config.output), "tests": config.relative(config.tests_output)}
    try:
        result = diff_generations(
            old, new, targets or config.targets, examples_folder=config.relative(config.definitions),
            import_name=config.import_name, roots=roots,
        )
    except (DefinitionError, IRError, NamingError, RenderError) as exc:
        _fail(str(exc))
    except FhirPathCompileError as exc:
        _fail(f"constraint {exc}: the FHIRPath compiler cannot handle it, so nothing was generated")
    render = render_json if output_format == "json" else render_text
    click.echo(render(result, str(old), str(new)), nl=False)
    if exit_code and result.has_differences:
        sys.exit(EXIT_FAILED)


# --------------------------------------------------------------------------------- validate
# (issue 3) `fhirgen validate`: every input resource -> one outcome; exit 0 / 1 (issues) / 2.


class _Jobs(click.ParamType):
    """``--jobs``: a number of processes (1 or more), or ``auto`` for one per usable core."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif str(value).strip().lower() == "auto":
            return usable_cores()
        else:
            try:
                number = int(str(value))
            except ValueError:
                self.fail(f"{value!r} is neither a number of processes nor 'auto'", param, ctx)
        if number < 1:
            self.fail(f"{number} is not a number of processes: 1 or more, or 'auto'", param, ctx)
        return number


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


_JOBS = _Jobs()


@main.command("validate")
@click.option("--models", "models", default=None, metavar="IMPORT_NAME_OR_DIR", help="Generated package to validate with: an import name or a folder made by `fhirgen generate --output DIR` (default from [tool.fhirgen]).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True, help="text: grouped by file with a summary; json: one OperationOutcome per resource per line.")
@click.option("--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True, help="Exit 1 when an issue of this severity (or worse) is found.")
@click.option("--jobs", "-j", type=_JOBS, default="1", show_default=True, help="Processes validating JSON resources (NDJSON lines go in batches); output keeps input order. 'auto': one per core this process may use.")
@click.option("--ndjson", is_flag=True, help="Read every input, standard input too, as NDJSON (one resource per line). Without it, .ndjson files are NDJSON and stdin is when its first line is a whole JSON value.")
@click.option("--progress/--no-progress", default=None, help="A progress bar (count, rate, resources with errors) on stderr; default: only when stderr is a terminal.")
@click.option("--profile", "profiles", multiple=True, metavar="URL", help="Also check each resource against this profile (canonical URL of a profile the package was generated with; repeatable). Profiles a resource claims in meta.profile are checked when the package has them.")
@click.option("--max-depth", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_depth, show_default=True, help="Most JSON nesting levels of a resource; deeper is refused before parsing (XML: libxml2's 256 elements).")
@click.option("--max-bytes", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_bytes, show_default=True, help="Most bytes of one resource (a file or an NDJSON line); larger is refused, and never read whole.")
@click.option("--max-issues", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_issues, show_default=True, help="Most issues reported per resource; one more says how many were cut.")
@click.option("--imaging-rules", "imaging_rules", type=click.Choice(["error", "warning", "off"]), default="warning", show_default=True, help="fhirgen's DICOM-aware ImagingSelection rules (definitions/fhirgen-imaging-rules, not part of FHIR): reported at this severity, or not checked.")
@click.argument("paths", nargs=-1, required=True)
def validate_command(models: str | None, output_format: str, fail_on: str, jobs: int, ndjson: bool, progress: bool | None, paths: tuple[str, ...], profiles: tuple[str, ...] = (), max_depth: int = DEFAULT_LIMITS.max_depth, max_bytes: int = DEFAULT_LIMITS.max_bytes, max_issues: int = DEFAULT_LIMITS.max_issues, imaging_rules: str = "warning") -> None:
    """Validate FHIR resources (.json, .ndjson, .xml, folders, Bundles, - for stdin)."""
    import itertools

    from .runtime.limits import Limits
    from .runtime.stream import progress_bar, resource_chunks, validate_stream, worker_pool

    limits = Limits(max_depth=max_depth, max_bytes=max_bytes, max_issues=max_issues)

    models_spec = models or _config().import_name
    module = _validators_module(models_spec)
    validators = _profile_validators(module, profiles)  # issue 6: --profile, meta.profile
    validators = _imaging_validators(module, validators, imaging_rules)  # issue 9
    sources: list[tuple[str, Path | None]] = []
    for raw in paths:
        path = Path(raw)
        if raw == "-":
            sources.append(("<stdin>", None))
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".json", ".ndjson", ".xml") and p.is_file())
            if not found:
                _fail(f"{raw}: no .json, .ndjson or .xml files in this folder")
            sources.extend((str(p), p) for p in found)
        elif path.is_file():
            sources.append((raw, path))
        else:
            _fail(f"{raw}: no such file or folder")

    report = _ValidationReport(output_format, fail_on)
    tick = progress_bar(progress)
    pool = worker_pool(jobs, models_spec, profiles, imaging_rules) if jobs > 1 else None
    try:
        for name, path in sources:
            try:
                chunks = resource_chunks(name, path, ndjson=True if ndjson else None, limits=limits)
                first = next(chunks, None)
                if first is not None and _is_xml(name, first[1]):  # issue 5: FHIR XML
                    package = module.__name__.rpartition(".")[0]
                    from .runtime.xml import validate_xml_with

                    schema = _xml_schema_module(package).XML_SCHEMA
                    for _offset, chunk in itertools.chain([first], chunks):  # with profiles
                        report.add(_within_limits(chunk, name, limits) or validate_xml_with(
                            chunk, validators, schema, file=name).limit(limits.max_issues))
                elif first is not None:  # JSON: streamed, in order, on the pool if there is one
                    for result in validate_stream(itertools.chain([first], chunks), validators,
                                                  name, jobs=jobs, pool=pool,
                                                  serialize=output_format == "json",
                                                  limits=limits):
                        report.add(result)
                        if tick is not None:
                            tick(result)
            except OSError as exc:
                _fail(f"{name}: cannot read: {exc.strerror}")
            report.end_file()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if tick is not None:
            tick.close()  # type: ignore[attr-defined]
    report.finish()


def _within_limits(chunk: bytes, name: str, limits: Any) -> Any:
    """None, or the result refusing an XML resource over ``--max-bytes`` (JSON: run() does it)."""
    from .runtime.limits import size_refusal
    from .runtime.validate import Result

    refusal = size_refusal(len(chunk), limits)
    return None if refusal is None else Result([refusal], None, name)


def _profile_validators(module: Any, profiles: tuple[str, ...]) -> Any:
    """The package's validators with the profiles asked for (issue 6); exit 2 for an unknown one."""
    from .runtime.profiles import UnknownProfileError, package_validators

    try:
        return package_validators(module, profiles)
    except UnknownProfileError as exc:
        _fail(str(exc))


def _imaging_validators(module: Any, validators: Any, mode: str) -> Any:
    """*validators* with fhirgen's imaging rules at the severity *mode* names (issue 9), when
    the package was generated with them."""
    from .runtime.imaging import package_imaging_rules, with_imaging_rules

    return with_imaging_rules(validators, package_imaging_rules(module), mode)


class _ValidationReport:
    """Streams results as they come (one file, or one NDJSON line, at a time) and keeps counts."""

    STYLES: ClassVar[dict[str, str]] = {"fatal": "red", "error": "red", "warning": "yellow",
                                         "information": "blue"}

    def __init__(self, output_format: str, fail_on: str) -> None:
        self.output_format = output_format
        self.failing = ("fatal", "error") if fail_on == "error" else ("fatal", "error", "warning")
        self.totals = {"fatal": 0, "error": 0, "warning": 0, "information": 0}
        self.resources = self.files = 0
        self.failed = self.unusable = False
        self._file_started = False
        self._stdout = click.get_text_stream("stdout")
        from .runtime.stream import SEVERITIES, tally

        self._severities, self._tally = SEVERITIES, tally

    def add(self, result: Any) -> None:
        self.resources += 1
        counted = getattr(result, "tally", None)  # a pool's outcomes bring counts, not issues
        issues = result.issues if counted is None or self.output_format != "json" else []
        totals = self.totals
        for severity, number in zip(self._severities, counted or self._tally(issues), strict=True):
            totals[severity] += number
            if number and severity in self.failing:
                self.failed = True
        if self.output_format == "json":
            text = getattr(result, "text", None)  # made by the worker (validate_stream)
            if not isinstance(text, str):
                from .runtime.issues import outcome_json

                text = outcome_json(issues, result.file).decode("utf-8")
            # one write per line, not click.echo: it looks for ANSI codes to strip in every line
            self._stdout.write(text + "\n")
            return
        if not self._file_started:
            click.echo(click.style(result.file or "", bold=True))
            self._file_started = True
        label = result.resource_type or "(no resource)"
        status = "ok" if not issues else (
            f"{result.error_count} error(s), {result.warning_count} warning(s)"
        )
        click.echo(f"  {label}: {status}")
        for issue in issues:
            where = f" (line {issue.line}, col {issue.col})" if issue.line is not None else ""
            severity = click.style(issue.severity.upper(), fg=self.STYLES.get(issue.severity))
            click.echo(f"    {severity} {issue.expression}{where}: {issue.message} [{issue.rule}]")

    def end_file(self) -> None:
        self.files += 1
        self._file_started = False

    def finish(self) -> None:
        if self.output_format == "text":
            errors = self.totals["fatal"] + self.totals["error"]
            click.echo(
                f"fhirgen: {self.resources} resource(s) in {self.files} file(s): {errors} error(s), "
                f"{self.totals['warning']} warning(s), {self.totals['information']} information"
            )
        if self.failed:
            sys.exit(EXIT_FAILED)
        if self.unusable:
            sys.exit(EXIT_UNUSABLE)


def _validators_module(name: str) -> Any:
    """The ``validators`` module of a generated package, by import name or folder.

    A folder is imported under a private package name, so it cannot clash with a module of the
    same name that is already imported (a folder called ``generated``, say).
    """
    import importlib.util

    folder = Path(name)
    import_name = name
    if folder.is_dir():
        if not (folder / "validators.py").is_file() or not (folder / "__init__.py").is_file():
            _fail(f"{name}: not a package generated by fhirgen (no validators.py)")
        import_name = "_fhirgen_validate_models"
        spec = importlib.util.spec_from_file_location(
            import_name, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        if spec is None or spec.loader is None:
            _fail(f"{name}: cannot import this folder")
        module = importlib.util.module_from_spec(spec)
        sys.modules[import_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - a broken package is unusable input
            _fail(f"{name}: cannot import the generated package: {exc}")
    try:
        return importlib.import_module(f"{import_name}.validators")
    except ImportError as exc:
        _fail(f"cannot import the generated validators of {name!r}: {exc}")


if __name__ == "__main__":  # pragma: no cover
    main()
