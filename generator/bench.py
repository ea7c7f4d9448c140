"""Benchmark: fhirgen's generated validator beside its anchors, measured in one run.

    python -m fhirgen.bench [--seconds S] [--json] [--lines N] [--no-process | --memory-only]
                            [--big] [--generation]

Inputs are the official ImagingSelection examples in ``definitions/`` plus realistic variants made
from them (more instances, frames and 2D/3D regions, as key-image and segmentation selections carry),
serialised once as JSON bytes. Every contender gets the same bytes and must parse them itself:

* ``json.loads`` and ``orjson.loads``: the floor (bare parsing, no checks);
* ``fhir.resources``: ``ImagingSelection.model_validate_json`` (pydantic), the speed to beat;
* ``fhircraft``: ``model_validate_json`` of the pydantic model fhircraft's ``FHIRModelFactory``
  builds offline from the same ImagingSelection StructureDefinition (invariants run by its own
  FHIRPath engine); the note says how it was built (see :func:`_fhircraft_runner`);
* ``fhirgen validate``: parse (keeping decimal text and spotting duplicate keys) and every generated
  rule, as ``fhirgen.models.validators.validate``;
* ``fhirgen model``: ``ImagingSelection.from_json`` (building models, no validation);
* ``fhirgen invariants``: the time ``fhirgen validate`` spends in its compiled invariants (timed
  with and without them), beside
* ``fhirpathpy``: the ImagingSelection closure's FHIRPath invariants interpreted on each resource
  (the anchor for compiled invariants).

Figures are resources per second (best of several rounds, single core) and the ratio to the others.
Absent optional anchors (orjson, fhir.resources, fhircraft, fhirpathpy) are reported as such, with
the reason, not guessed.

Whole processes (``--no-process`` skips them), on NDJSON made on the fly from the same corpus in a
temporary folder:

* ``fhirgen validate --format json`` (output to /dev/null) on *--lines* lines (default 20,000):
  as shipped (imaging rules at warning), with ``--imaging-rules off`` (the base specification, the
  rule set of the in-process ``fhirgen validate`` row) and with ``--jobs`` = the cores available,
  each beside a Python process looping fhir.resources' ``model_validate_json`` over the same
  lines: wall time from process start, lines per second, speed against the loop;
* peak RSS of ``fhirgen validate`` on a 10 MB file and, with ``--big`` (minutes: it validates
  1 GB), on a 1 GB file: flat memory means both peaks are about the same. Each file is made in a
  temporary folder and deleted after its run. The peak is the process's own (``VmHWM``, which it
  reports at exit), not ``ru_maxrss``, which on Linux carries the benchmark's own peak into a
  child. ``--memory-only`` measures just these (``--memory-only --big`` for the 1 GB figure).

``--generation`` times ``fhirgen generate --all`` of the whole R5 core into a temporary folder
(needs ``.cache/packages/hl7.fhir.r5.core-5.0.0.tgz``, as CI fetches it).
No figure here is asserted by a test: timings belong to this script, not to the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .runtime.accel import PURE_PYTHON

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "definitions" / "hl7.fhir.r5.examples"


def _variants(example: dict[str, Any]) -> list[dict[str, Any]]:
    """The example, and copies with 5 and 25 instances, each with frames and regions."""
    result = [example]
    instances = example.get("instance") or []
    if not instances:
        return result
    for count in (5, 25):
        variant = copy.deepcopy(example)
        template = instances[0]
        made = []
        for index in range(count):
            item = copy.deepcopy(template)
            item["uid"] = f"{template.get('uid', '1.2.3')}.{index + 1}"
            item["number"] = index + 1
            item.setdefault("subset", [str(index + 1), str(index + 2)])
            item["imageRegion2D"] = [
                {"regionType": "polyline", "coordinate": [1.5, 2.25, 10.0, 12.5, 30.75, 40.0]}
            ]
            made.append(item)
        variant["instance"] = made
        variant["id"] = f"{example.get('id', 'x')}-{count}"
        result.append(variant)
    return result


def corpus() -> list[bytes]:
    items: list[bytes] = []
    for path in sorted(EXAMPLES.glob("ImagingSelection-*.json")):
        example = json.loads(path.read_bytes())
        items.extend(json.dumps(v).encode("utf-8") for v in _variants(example))
    if not items:
        raise SystemExit(f"no ImagingSelection examples in {EXAMPLES}")
    return items


def _time(run: Callable[[bytes], Any], data: list[bytes], seconds: float) -> float:
    """Best throughput (resources/s) over rounds filling about *seconds*."""
    for item in data:  # warm up (imports, caches) and prove it works
        run(item)
    best = 0.0
    deadline = time.perf_counter() + seconds
    gc.collect()
    while True:
        started = time.perf_counter()
        for item in data:
            run(item)
        elapsed = time.perf_counter() - started
        best = max(best, len(data) / elapsed)
        if time.perf_counter() > deadline:
            return best


def _contenders(data: list[bytes]) -> dict[str, Callable[[bytes], Any] | str]:
    """Name -> callable, or the reason it is unavailable."""
    result: dict[str, Callable[[bytes], Any] | str] = {"json.loads": json.loads}
    try:
        import orjson

        result["orjson.loads"] = orjson.loads
    except ImportError:
        result["orjson.loads"] = "orjson not installed (pip install '.[bench]')"
    try:
        from fhir.resources.imagingselection import ImagingSelection as FRImagingSelection

        result["fhir.resources"] = FRImagingSelection.model_validate_json
    except ImportError:
        result["fhir.resources"] = "fhir.resources not installed"

    from fhirgen.models import ImagingSelection
    from fhirgen.models.validators import validate

    result["fhirgen validate"] = validate
    result["fhirgen model"] = ImagingSelection.from_json
    return result


def _validation_error_summary(error: Exception) -> str:
    """One line of a (pydantic) validation failure: how many errors, the first one's place and
    message; the cause is read when the error wraps one, as fhircraft's registry does."""
    cause = error.__cause__ if error.__cause__ is not None else error
    errors = getattr(cause, "errors", None)
    if not callable(errors):
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    found = errors()
    first = found[0] if found else {"loc": (), "msg": str(cause)}
    place = ".".join(str(part) for part in first["loc"])
    return f"{len(found)} errors, first at {place}: {first['msg']}"


def _fhircraft_runner() -> tuple[Callable[[bytes], Any] | str, str]:
    """fhircraft's pydantic model of R5 ImagingSelection, built offline by its ``FHIRModelFactory``
    from the same StructureDefinition fhirgen reads (``definitions/``), and its
    ``model_validate_json``; or the reason it cannot run.

    fhircraft 0.9.0 checks a definition against its own R5 ``StructureDefinition`` model before
    building, and that model refuses the published ImagingSelection definition (its element
    examples use ``valueId``, which its ``ElementDefinition.example.value[x]`` lacks). The factory
    then reads the definition with fhircraft's own ``validation_mode="skip"``; instances are
    validated in its default strict mode, FHIRPath invariants included. The note says which path
    was taken, so the row is never mistaken for a stock run.
    """
    started = time.perf_counter()
    try:  # about 30 s the first time: fhircraft builds its R4, R4B and R5 models at import
        from fhircraft.config import override_config
        from fhircraft.exceptions import FhircraftWarning
        from fhircraft.fhir.resources import FHIRModelFactory
    except ImportError:
        return "fhircraft not installed (pip install '.[bench]')", ""
    core = ROOT / "definitions" / "hl7.fhir.r5.core"
    definition = json.loads((core / "StructureDefinition-ImagingSelection.json").read_bytes())
    imported = time.perf_counter() - started
    factory = FHIRModelFactory("R5")
    factory.disable_internet_access()
    started = time.perf_counter()
    note = "model built by FHIRModelFactory from definitions/ (offline)"
    try:
        model = factory.build(definition)
    except ValueError as refused:
        try:
            with override_config(validation_mode="skip"):
                model = factory.build(definition)
        except Exception as error:  # noqa: BLE001 - any failure is the row's reason, not a crash
            return (f"FHIRModelFactory cannot build R5 ImagingSelection offline: "
                    f"{_validation_error_summary(error)}"), ""
        note += (f"; it refuses the published definition ({_validation_error_summary(refused)}),"
                 " so the definition was read with validation_mode='skip'; instances strict")
    except Exception as error:  # noqa: BLE001 - as above
        return (f"FHIRModelFactory cannot build R5 ImagingSelection offline: "
                f"{_validation_error_summary(error)}"), ""
    built = time.perf_counter() - started
    note += f"; built in {built:.1f} s (import fhircraft: {imported:.1f} s)"
    validate_json = model.model_validate_json

    def run(item: bytes) -> Any:
        with warnings.catch_warnings():  # its warning-level invariants warn: keep the report clean
            warnings.simplefilter("ignore", FhircraftWarning)
            return validate_json(item)

    return run, note


def _fhirpathpy_runner(data: list[bytes]) -> tuple[Callable[[bytes], Any] | str, str]:
    """Interpret the closure's invariants with fhirpathpy on every element they apply to.

    Each invariant is evaluated on each node its element path selects (as a validator must).
    Invariants fhirpathpy cannot compile or run (it lacks ``hasValue()``, for one) are left out,
    and the note says how many ran.
    """
    try:
        from fhirpathpy import compile as fp_compile
    except ImportError:
        return "fhirpathpy not installed", ""
    from fhirgen.ir import build_model
    from fhirgen.loader import load_index

    model = build_model(load_index([ROOT / "definitions"]), ["ImagingSelection"])
    imaging = model.type("ImagingSelection")
    candidates = []
    for owner in imaging.all_types():
        for element in (None, *owner.elements):
            constraints = owner.constraints if element is None else element.constraints
            path = owner.name if element is None else element.path.replace("[x]", "")
            for constraint in constraints:
                if constraint.expression:
                    candidates.append((path, constraint.key, constraint.expression))
    runnable = []
    for path, key, expression in sorted(set(candidates)):
        try:
            select = fp_compile(path)
            check = fp_compile(expression)
            with contextlib.redirect_stdout(io.StringIO()):
                for item in data:
                    resource = json.loads(item)
                    for node in select(resource):
                        check(node)
        except Exception:  # noqa: BLE001, S112 - fhirpathpy cannot do this one; left out
            continue
        runnable.append((fp_compile(path), check))

    def run(item: bytes) -> None:
        resource = json.loads(item)
        with contextlib.redirect_stdout(io.StringIO()):  # trace() prints; keep the report clean
            for select, check in runnable:
                for node in select(resource):
                    check(node)

    return run, f"{len(runnable)} of {len(set(candidates))} invariants (the rest fhirpathpy cannot run)"


def _invariants_only(data: list[bytes], seconds: float, with_them: float | str | None
                     ) -> float | None:
    """Resources/s of the compiled invariants alone: the time validation spends in them (the
    same validation timed with the invariant groups switched off, the difference inverted).
    Timed on the Python validators, which look the groups up as they go (the compiled walk holds
    them from import): the invariants run the same code under either."""
    if not isinstance(with_them, float):
        return None
    from fhirgen.models import invariants as generated
    from fhirgen.models.validators import PY_RESOURCE_VALIDATORS
    from fhirgen.runtime.invariants import Invariants
    from fhirgen.runtime.validate import run

    def validate(item: bytes) -> Any:
        return run(item, PY_RESOURCE_VALIDATORS)

    with_them = _time(validate, data, seconds)

    groups = [group for group in vars(generated).values() if isinstance(group, Invariants)]
    passes = [group.passes for group in groups]
    saved = Invariants.check, Invariants.check_element
    Invariants.check = Invariants.check_element = lambda *args: None  # type: ignore[method-assign, assignment]
    for group in groups:  # validators ask `passes` first: answered at no cost
        group.passes = bool
    try:
        without = _time(validate, data, seconds)
    finally:
        Invariants.check, Invariants.check_element = saved  # type: ignore[method-assign]
        for group, kept in zip(groups, passes, strict=True):
            group.passes = kept
    spent = 1 / with_them - 1 / without
    return 1 / spent if spent > 0 else None


# ----------------------------------------------------------------------------- whole processes

FHIR_RESOURCES_LOOP = """
import sys
from fhir.resources.imagingselection import ImagingSelection
failed = 0
with open(sys.argv[1], "rb") as lines:
    for line in lines:
        if line.strip():
            try:
                ImagingSelection.model_validate_json(line)
            except ValueError:
                failed += 1
print(failed, file=sys.stderr)
"""


def write_ndjson(path: Path, data: list[bytes], *, lines: int | None = None,
                 size: int | None = None) -> int:
    """The corpus repeated as NDJSON, up to *lines* lines or *size* bytes; the lines written."""
    written = total = 0
    with path.open("wb") as out:
        while (lines is None or written < lines) and (size is None or total < size):
            item = data[written % len(data)]
            out.write(item + b"\n")
            written += 1
            total += len(item) + 1
    return written


# Runs a module as ``python -m`` would and, at exit, writes the high-water mark of the process's
# own memory (VmHWM, in KiB) to the file named first. ru_maxrss of a spawned child is no good here:
# Linux carries the parent's peak into the child at exec, so it reported the benchmark's own size.
PEAK_WRAPPER = """
import atexit, re, runpy, sys
peak_file = sys.argv.pop(1)
def report_peak():
    try:
        with open("/proc/self/status") as status:
            found = re.search(r"VmHWM:\\s+(\\d+)", status.read())
    except OSError:
        return
    if found:
        with open(peak_file, "w") as out:
            out.write(found.group(1))
atexit.register(report_peak)
runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
"""

VALIDATE = ["validate", "--format", "json", "--no-progress"]

# The NDJSON files of the memory figures: (label, bytes). Module-level so a test can shrink them.
SMALL_FILE = ("10 MB", 10 * 1024**2)
BIG_FILE = ("1 GB", 1024**3)


@dataclass(frozen=True)
class Run:
    """One finished child process: wall seconds from start, exit code, and its own peak RSS in
    MiB (None when it could not say: no ``/proc``, or killed before exit)."""

    seconds: float
    code: int
    peak_mib: int | None = None


def run_process(command: list[str], env: dict[str, str] | None = None) -> Run:
    """Wall time and exit code of one child process (*env* added to its environment), its
    output discarded. The child is killed if the benchmark is interrupted, so no run outlives
    it."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        # children may cache bytecode, as an installed package has it (fhir.resources' was
        # compiled when pip installed it): a run does not pay for compiling fhirgen's sources
        environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        environment.update(env or {})
        child = subprocess.Popen(command, stdout=sink, stderr=sink, env=environment)
        try:
            code = child.wait()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    return Run(time.perf_counter() - started, code)


def run_module(module: str, args: list[str], env: dict[str, str] | None = None) -> Run:
    """``python -m module args`` as :func:`run_process` (with *env* added to the environment),
    with the child's own peak RSS."""
    with tempfile.TemporaryDirectory(prefix="fhirgen-bench-peak-") as work:
        peak_file = Path(work) / "peak"
        run = run_process([sys.executable, "-c", PEAK_WRAPPER, str(peak_file), module, *args],
                          env=env)
        text = peak_file.read_text() if peak_file.is_file() else ""
    return Run(run.seconds, run.code, int(text) // 1024 if text.isdigit() else None)


def _fhirgen(*args: str, env: dict[str, str] | None = None) -> Run:
    return run_module("fhirgen.cli", list(args), env=env)


def _cores() -> int:
    from .cli import usable_cores  # what `--jobs auto` uses

    return usable_cores()


def _figure(run: Run, lines: int, loop: Run | None) -> str:
    """Seconds, lines per second and the speed against the fhir.resources loop (above 1: faster);
    a failed run (exit 2 or worse: ``fhirgen validate`` exits 1 when it finds errors) says so."""
    if run.code not in (0, 1):
        return f"failed: exit {run.code}"
    text = f"{run.seconds:7.2f} s  {lines / run.seconds:8.0f}/s"
    if loop is not None and loop.code == 0:
        text += f"  {loop.seconds / run.seconds:5.2f}x the fhir.resources loop"
    return text


def timed_runs(ndjson: Path, lines: int) -> list[tuple[str, str]]:
    """Rows (label, figure) of the whole-process comparison on *ndjson* (*lines* lines):
    ``fhirgen validate`` as shipped (imaging rules at warning), with ``--imaging-rules off`` (the
    base specification only: the rules of the in-process ``fhirgen validate`` row), with
    ``--jobs`` = the cores available, and a Python loop of fhir.resources; each beside the loop."""
    try:
        import fhir.resources  # noqa: F401
    except ImportError:
        loop = None
    else:
        loop = run_process([sys.executable, "-c", FHIR_RESOURCES_LOOP, str(ndjson)])
    warm = ndjson.with_name("warm-up.ndjson")  # bytecode cached before the timed runs
    with ndjson.open("rb") as source:
        warm.write_bytes(source.readline())
    _fhirgen(*VALIDATE, str(warm))
    _fhirgen(*VALIDATE, "--jobs", "2", str(warm))
    warm.unlink()
    default = _fhirgen(*VALIDATE, str(ndjson))
    rows = [
        (f"fhirgen validate, {lines:,} lines (imaging rules: warning)",
         _figure(default, lines, loop)),
        ("  the same, --imaging-rules off (base spec)",
         _figure(_fhirgen(*VALIDATE, "--imaging-rules", "off", str(ndjson)), lines, loop)),
        (f"  the same, pure Python ({PURE_PYTHON}=1)",
         _figure(_fhirgen(*VALIDATE, str(ndjson), env={PURE_PYTHON: "1"}), lines, loop)),
    ]
    cores = _cores()
    if cores > 1:
        pooled = _fhirgen(*VALIDATE, "--jobs", str(cores), str(ndjson))
        figure = _figure(pooled, lines, loop)
        if pooled.code in (0, 1) and default.code in (0, 1):
            figure += f", {default.seconds / pooled.seconds:.2f}x serial"
        rows.append((f"  the same, --jobs {cores}", figure))
    else:
        rows.append(("  the same, --jobs N", "not measured: one core available"))
    label = "fhir.resources loop, same lines"
    if loop is None:
        rows.append((label, "unavailable: fhir.resources not installed"))
    elif loop.code != 0:
        rows.append((label, f"failed: exit {loop.code}"))
    else:
        rows.append((label, _figure(loop, lines, None) + "  (the reference)"))
    return rows


def memory_runs(work: Path, data: list[bytes], big: bool) -> list[tuple[str, str]]:
    """Rows of ``fhirgen validate``'s peak RSS on NDJSON files of :data:`SMALL_FILE` and, with
    *big*, :data:`BIG_FILE` bytes, made in *work* one at a time and deleted after their run.
    Flat memory means both peaks are about the same."""
    rows: list[tuple[str, str]] = []
    for label, size in [SMALL_FILE, *([BIG_FILE] if big else [])]:
        path = work / f"rss-{label.replace(' ', '')}.ndjson"
        try:
            count = write_ndjson(path, data, size=size)
            run = _fhirgen(*VALIDATE, str(path))
        finally:
            path.unlink(missing_ok=True)
        if run.code not in (0, 1):
            figure = f"failed: exit {run.code}"
        else:
            peak = ("unknown (no /proc/self/status)" if run.peak_mib is None
                    else f"{run.peak_mib:5d} MiB")
            figure = f"{peak}  ({run.seconds:.1f} s, {count / run.seconds:,.0f} lines/s)"
        rows.append((f"peak RSS, {label} NDJSON ({count:,} lines)", figure))
    if not big:
        rows.append((f"peak RSS, {BIG_FILE[0]} NDJSON", "not measured (pass --big; takes minutes)"))
    return rows


def whole_process(data: list[bytes], lines: int, big: bool, *, timed: bool = True
                  ) -> list[tuple[str, str]]:
    """Rows (label, figure) of the whole-process comparison (unless not *timed*) and the memory
    figures, on NDJSON written to a temporary folder that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="fhirgen-bench-") as work:
        rows: list[tuple[str, str]] = []
        if timed:
            ndjson = Path(work) / "bench.ndjson"
            write_ndjson(ndjson, data, lines=lines)
            rows.extend(timed_runs(ndjson, lines))
            ndjson.unlink()
        rows.extend(memory_runs(Path(work), data, big))
    return rows


def generation_speed() -> tuple[str, str]:
    core = ROOT / ".cache" / "packages" / "hl7.fhir.r5.core-5.0.0.tgz"
    if not core.is_file():
        return "fhirgen generate --all (R5 core)", f"unavailable: no {core.relative_to(ROOT)}"
    with tempfile.TemporaryDirectory(prefix="fhirgen-bench-gen-") as work:
        run = _fhirgen("generate", "--all", "--definitions", str(core),
                       "--output", str(Path(work) / "allmodels"))
    status = "" if run.code == 0 else f" (exit {run.code})"
    peak = "unknown" if run.peak_mib is None else f"{run.peak_mib} MiB"
    return "fhirgen generate --all (R5 core)", f"{run.seconds:7.1f} s, peak RSS {peak}{status}"


_PURE_RUN = """
import sys
from fhirgen.bench import _time, corpus
from fhirgen.models.validators import COMPILED, validate
assert not COMPILED
print(_time(validate, corpus(), float(sys.argv[1])))
"""


def _pure_python(seconds: float) -> float | str:
    """``fhirgen validate`` without the extension (resources/s), measured in a child process
    (the switch is read at import), or why it failed."""
    environment = {**os.environ, PURE_PYTHON: "1"}
    done = subprocess.run([sys.executable, "-c", _PURE_RUN, str(seconds)], capture_output=True,
                          text=True, env=environment, check=False)
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}"
    return float(done.stdout.strip().splitlines()[-1])


def in_process(data: list[bytes], seconds: float) -> tuple[dict[str, float | str], dict[str, str]]:
    """Resources per second of every in-process contender (or why it is unavailable), and notes
    on how some were run."""
    contenders = _contenders(data)
    notes: dict[str, str] = {}
    for name, runner in (("fhircraft", _fhircraft_runner), ("fhirpathpy invariants",
                                                            lambda: _fhirpathpy_runner(data))):
        contenders[name], note = runner()
        if note:
            notes[name] = note
    figures: dict[str, float | str] = {}
    for name, run in contenders.items():
        figures[name] = run if isinstance(run, str) else _time(run, data, seconds)
    figures["fhirgen validate, pure Python"] = _pure_python(seconds)
    notes["fhirgen validate, pure Python"] = (
        f"the same with {PURE_PYTHON}=1 (no compiled walk, matchers, vouch), in a child process")
    invariants_only = _invariants_only(data, seconds, figures.get("fhirgen validate"))
    if invariants_only is not None:
        figures["fhirgen invariants"] = invariants_only
        notes["fhirgen invariants"] = ("every compiled invariant of the closure, the time validate "
                                       "spends in them: validate with and without them")
    return figures, notes


def _print_in_process(data: list[bytes], figures: dict[str, float | str], notes: dict[str, str]
                      ) -> None:
    size = sum(len(item) for item in data)
    print(f"{len(data)} ImagingSelection resources ({size / 1024:.0f} KiB), single core, best round")
    ours = figures.get("fhirgen validate")
    for name, value in figures.items():
        if isinstance(value, str):
            print(f"  {name:30} unavailable: {value}")
            continue
        ratio = ""
        if isinstance(ours, float) and name != "fhirgen validate":
            ratio = f"  fhirgen validate is {ours / value:5.2f}x this"
        print(f"  {name:30} {value:10.0f} resources/s{ratio}")
    for name, note in notes.items():
        print(f"  ({name}: {note})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fhirgen.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per contender (default 2)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--lines", type=int, default=20_000,
                        help="NDJSON lines of the whole-process comparison (default 20000)")
    parser.add_argument("--no-process", action="store_true",
                        help="skip the whole-process and memory figures")
    parser.add_argument("--memory-only", action="store_true",
                        help="only the peak RSS figures: no in-process contenders, no timed runs")
    parser.add_argument("--big", action="store_true",
                        help="also measure peak RSS on a 1 GB NDJSON file (takes minutes)")
    parser.add_argument("--generation", action="store_true",
                        help="also time `fhirgen generate --all` of the whole R5 core")
    args = parser.parse_args(argv)
    if args.memory_only and args.no_process:
        parser.error("--memory-only measures processes: it cannot go with --no-process")
    if args.lines < 1:
        parser.error("--lines must be at least 1")
    data = corpus()
    figures, notes = ({}, {}) if args.memory_only else in_process(data, args.seconds)
    rows = [] if args.no_process else whole_process(data, args.lines, args.big,
                                                    timed=not args.memory_only)
    if args.generation:
        rows.append(generation_speed())
    if args.json:
        print(json.dumps({"resources": len(data), "bytes": sum(len(item) for item in data),
                          "per_second": figures, "notes": notes, "processes": dict(rows)},
                         indent=2))
        return 0
    if figures:
        _print_in_process(data, figures, notes)
    if rows:
        print("whole processes (wall time from process start), NDJSON of the same resources")
        for label, figure in rows:
            print(f"  {label:48} {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
