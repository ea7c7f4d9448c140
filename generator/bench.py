"""Benchmark: fhirgen's generated validator beside its anchors, measured in one run.

    python -m fhirgen.bench [--seconds S] [--json] [--lines N] [--no-process] [--big] [--generation]

Inputs are the official ImagingSelection examples in ``definitions/`` plus realistic variants made
from them (more instances, frames and 2D/3D regions, as key-image and segmentation selections carry),
serialised once as JSON bytes. Every contender gets the same bytes and must parse them itself:

* ``json.loads`` and ``orjson.loads``: the floor (bare parsing, no checks);
* ``fhir.resources``: ``ImagingSelection.model_validate_json`` (pydantic), the speed to beat;
* ``fhirgen validate``: parse (keeping decimal text and spotting duplicate keys) and every generated
  rule, as ``fhirgen.models.validators.validate``;
* ``fhirgen model``: ``ImagingSelection.from_json`` (building models, no validation);
* ``fhirgen invariants``: the time ``fhirgen validate`` spends in its compiled invariants (timed
  with and without them), beside
* ``fhirpathpy``: the ImagingSelection closure's FHIRPath invariants interpreted on each resource
  (the anchor for compiled invariants).

Figures are resources per second (best of several rounds, single core) and the ratio to the others.
Absent optional anchors (orjson, fhir.resources, fhirpathpy) are reported as such, not guessed.

Whole processes (``--no-process`` skips them), on NDJSON made on the fly from the same corpus in a
temporary folder:

* ``fhirgen validate --format json`` (output to /dev/null) on *--lines* lines (default 20,000),
  serial and with ``--jobs`` = the cores available, beside a Python process looping
  fhir.resources' ``model_validate_json`` over the same lines: wall time, from process start;
* peak RSS of ``fhirgen validate`` on a 10 MB file and, with ``--big`` (minutes: it validates
  1 GB), on a 1 GB file: flat memory means both peaks are about the same.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    """Resources/s of the compiled invariants alone: the time ``validate`` spends in them (the
    same validation timed with the invariant groups switched off, the difference inverted)."""
    if not isinstance(with_them, float):
        return None
    from fhirgen.models.validators import validate
    from fhirgen.runtime.invariants import Invariants

    saved = Invariants.check, Invariants.check_element
    Invariants.check = Invariants.check_element = lambda *args: None  # type: ignore[method-assign, assignment]
    try:
        without = _time(validate, data, seconds)
    finally:
        Invariants.check, Invariants.check_element = saved  # type: ignore[method-assign]
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


def run_process(command: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in MiB, exit code) of one child process, output discarded."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        child = subprocess.Popen(command, stdout=sink, stderr=sink)
        _pid, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    return elapsed, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status)


def _fhirgen() -> list[str]:
    return [sys.executable, "-m", "fhirgen.cli", "validate", "--format", "json", "--no-progress"]


def whole_process(data: list[bytes], lines: int, big: bool) -> list[tuple[str, str]]:
    """Rows (label, figure) of the whole-process comparison and the memory figures."""
    rows: list[tuple[str, str]] = []
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="fhirgen-bench-") as work:
        ndjson = Path(work) / "bench.ndjson"
        write_ndjson(ndjson, data, lines=lines)
        ours, _rss, _code = run_process([*_fhirgen(), str(ndjson)])
        rows.append((f"fhirgen validate, {lines:,} lines", f"{ours:7.2f} s  {lines / ours:8.0f}/s"))
        if cores > 1:
            pooled, _rss, _code = run_process([*_fhirgen(), "--jobs", str(cores), str(ndjson)])
            rows.append((f"  the same, --jobs {cores}",
                         f"{pooled:7.2f} s  {lines / pooled:8.0f}/s  ({ours / pooled:.2f}x serial)"))
        try:
            import fhir.resources  # noqa: F401
        except ImportError:
            rows.append(("fhir.resources loop", "unavailable: fhir.resources not installed"))
        else:
            theirs, _rss, _code = run_process([sys.executable, "-c", FHIR_RESOURCES_LOOP,
                                               str(ndjson)])
            ratio = f"(fhirgen is {theirs / ours:.2f}x faster)"
            rows.append(("fhir.resources loop, same lines",
                         f"{theirs:7.2f} s  {lines / theirs:8.0f}/s  {ratio}"))
        sizes = [("10 MB", 10 * 1024**2)] + ([("1 GB", 1024**3)] if big else [])
        for label, size in sizes:
            path = Path(work) / f"rss-{label.replace(' ', '')}.ndjson"
            count = write_ndjson(path, data, size=size)
            elapsed, rss, _code = run_process([*_fhirgen(), str(path)])
            rows.append((f"peak RSS, {label} NDJSON ({count:,} lines)",
                         f"{rss:5d} MiB  ({elapsed:.1f} s)"))
            path.unlink()
        if not big:
            rows.append(("peak RSS, 1 GB NDJSON", "not measured (pass --big; takes minutes)"))
    return rows


def generation_speed() -> tuple[str, str]:
    core = ROOT / ".cache" / "packages" / "hl7.fhir.r5.core-5.0.0.tgz"
    if not core.is_file():
        return "fhirgen generate --all (R5 core)", f"unavailable: no {core.relative_to(ROOT)}"
    with tempfile.TemporaryDirectory(prefix="fhirgen-bench-gen-") as work:
        elapsed, rss, code = run_process([
            sys.executable, "-m", "fhirgen.cli", "generate", "--all", "--definitions", str(core),
            "--output", str(Path(work) / "allmodels"),
        ])
    status = "" if code == 0 else f" (exit {code})"
    return "fhirgen generate --all (R5 core)", f"{elapsed:7.1f} s, peak RSS {rss} MiB{status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fhirgen.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per contender (default 2)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--lines", type=int, default=20_000,
                        help="NDJSON lines of the whole-process comparison (default 20000)")
    parser.add_argument("--no-process", action="store_true",
                        help="skip the whole-process and memory figures")
    parser.add_argument("--big", action="store_true",
                        help="also measure peak RSS on a 1 GB NDJSON file (takes minutes)")
    parser.add_argument("--generation", action="store_true",
                        help="also time `fhirgen generate --all` of the whole R5 core")
    args = parser.parse_args(argv)
    data = corpus()
    size = sum(len(item) for item in data)
    figures: dict[str, float | str] = {}
    contenders = _contenders(data)
    fhirpath_run, fhirpath_note = _fhirpathpy_runner(data)
    contenders["fhirpathpy invariants"] = fhirpath_run
    for name, run in contenders.items():
        figures[name] = run if isinstance(run, str) else _time(run, data, args.seconds)
    invariants_only = _invariants_only(data, args.seconds, figures.get("fhirgen validate"))
    if invariants_only is not None:
        figures["fhirgen invariants"] = invariants_only
    rows = [] if args.no_process else whole_process(data, args.lines, args.big)
    if args.generation:
        rows.append(generation_speed())
    if args.json:
        print(json.dumps({"resources": len(data), "bytes": size, "per_second": figures,
                          "processes": dict(rows)}, indent=2))
        return 0
    print(f"{len(data)} ImagingSelection resources ({size / 1024:.0f} KiB), single core, best round")
    ours = figures.get("fhirgen validate")
    for name, value in figures.items():
        if isinstance(value, str):
            print(f"  {name:24} unavailable: {value}")
            continue
        ratio = ""
        if isinstance(ours, float) and name != "fhirgen validate":
            ratio = f"  fhirgen validate is {ours / value:5.2f}x this"
        print(f"  {name:24} {value:10.0f} resources/s{ratio}")
    if fhirpath_note:
        print(f"  (fhirpathpy invariants: {fhirpath_note})")
    if "fhirgen invariants" in figures:
        print("  (fhirgen invariants: every compiled invariant of the closure, the time validate "
              "spends in them: validate with and without them)")
    if rows:
        print("whole processes (wall time from process start), NDJSON of the same resources")
        for label, figure in rows:
            print(f"  {label:40} {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
