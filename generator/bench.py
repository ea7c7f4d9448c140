"""Benchmark: fhirgen's generated validator beside its anchors, measured in one run.

    python -m fhirgen.bench [--seconds S] [--json]

Inputs are the official ImagingSelection examples in ``definitions/`` plus realistic variants made
from them (more instances, frames and 2D/3D regions, as key-image and segmentation selections carry),
serialised once as JSON bytes. Every contender gets the same bytes and must parse them itself:

* ``json.loads`` and ``orjson.loads``: the floor (bare parsing, no checks);
* ``fhir.resources``: ``ImagingSelection.model_validate_json`` (pydantic), the speed to beat;
* ``fhirgen validate``: parse (keeping decimal text and spotting duplicate keys) and every generated
  rule, as ``fhirgen.models.validators.validate``;
* ``fhirgen model``: ``ImagingSelection.from_json`` (building models, no validation);
* ``fhirpathpy``: the ImagingSelection closure's FHIRPath invariants interpreted on each resource
  (the anchor for compiled invariants).

Figures are resources per second (best of several rounds, single core) and the ratio to the others.
Absent optional anchors (orjson, fhir.resources, fhirpathpy) are reported as such, not guessed.
No figure here is asserted by a test: timings belong to this script, not to the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import io
import json
import sys
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fhirgen.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per contender (default 2)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    data = corpus()
    size = sum(len(item) for item in data)
    figures: dict[str, float | str] = {}
    contenders = _contenders(data)
    fhirpath_run, fhirpath_note = _fhirpathpy_runner(data)
    contenders["fhirpathpy invariants"] = fhirpath_run
    for name, run in contenders.items():
        figures[name] = run if isinstance(run, str) else _time(run, data, args.seconds)
    if args.json:
        print(json.dumps({"resources": len(data), "bytes": size, "per_second": figures}, indent=2))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
