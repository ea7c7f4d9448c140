"""Bulk NDJSON validation on Dask: exports of millions of resources, partition by partition.

    pip install 'fhirgen[dask]'
    python -m fhirgen.dask_bulk export/*.ndjson --out results/ [--scheduler tcp://HOST:8786]
        [--workers N] [--blocksize 64MB] [--models IMPORT_NAME_OR_DIR]

Each NDJSON file is cut into byte ranges of about *blocksize* that start and end on line
boundaries. A first, cheap pass counts the lines of every range (so every outcome keeps its line
number in the file); the second validates each range on a worker with
:func:`fhirgen.runtime.stream.validate_one`, the same function ``fhirgen validate`` uses, and
writes its OperationOutcomes, one JSON object per line in input order, to
``results/outcomes/part-NNNNN.ndjson`` (parts numbered in input order: concatenated, they are
exactly what ``fhirgen validate --format json`` prints). ``results/summary.json`` has the counts.

Workers read the input files themselves: on a real cluster, the paths must be visible to every
worker (a shared file system), and so must the output folder. Without ``--scheduler`` a local
cluster of ``--workers`` processes is started. The generated models must be importable on the
workers (the installed ``fhirgen.models``, or a folder given with ``--models`` on shared storage).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .runtime.imaging import package_imaging_rules, with_imaging_rules
from .runtime.stream import load_validators, validate_one

__all__ = ["byte_ranges", "count_lines", "main", "run_bulk", "validate_range"]

DEFAULT_BLOCKSIZE = 64 * 1024 * 1024
SEVERITIES = ("fatal", "error", "warning", "information")
_VALIDATORS: dict[str, Any] = {}


def byte_ranges(path: Path, blocksize: int) -> list[tuple[int, int]]:
    """``(start, end)`` byte ranges of about *blocksize* covering the file, cut after newlines."""
    size = path.stat().st_size
    ranges = []
    start = 0
    with path.open("rb") as stream:
        while start < size:
            end = min(start + blocksize, size)
            if end < size:
                stream.seek(end)
                stream.readline()  # to the end of the line the cut fell in
                end = stream.tell()
            ranges.append((start, end))
            start = end
    return ranges


def count_lines(path: str, start: int, end: int) -> int:
    """Lines in a range (its last line may lack a newline only at the end of the file)."""
    lines = 0
    with open(path, "rb") as stream:
        stream.seek(start)
        left = end - start
        while left > 0:
            block = stream.read(min(left, 1 << 20))
            if not block:
                break
            lines += block.count(b"\n")
            left -= len(block)
    return lines


def validate_range(path: str, start: int, end: int, first_line: int, models: str,
                   out_path: str, file_label: str) -> dict[str, Any]:
    """Validate the NDJSON lines of one range; write their outcomes; return the counts."""
    validators = _VALIDATORS.get(models)
    if validators is None:
        module = load_validators(models)  # with the imaging rules, as `fhirgen validate` (issue 9)
        validators = _VALIDATORS[models] = with_imaging_rules(
            module.RESOURCE_VALIDATORS, package_imaging_rules(module))
    counts = dict.fromkeys(SEVERITIES, 0)
    resources = with_errors = 0
    with open(path, "rb") as stream, open(out_path, "w", encoding="utf-8") as out:
        stream.seek(start)
        number = first_line
        position = start
        while position < end:
            line = stream.readline()
            if not line:
                break
            position += len(line)
            if line.strip():
                outcome = validate_one(line, validators, file_label, number, serialize=True)
                resources += 1
                for issue in outcome.issues:
                    counts[issue.severity] = counts.get(issue.severity, 0) + 1
                with_errors += not outcome.ok
                out.write(f"{outcome.text}\n")
            number += 1
    return {"resources": resources, "with_errors": with_errors, "issues": counts}


def run_bulk(paths: list[Path], out_dir: Path, *, models: str = "fhirgen.models",
             blocksize: int = DEFAULT_BLOCKSIZE, labels: list[str] | None = None) -> dict[str, Any]:
    """Validate NDJSON files on the current Dask scheduler (a ``distributed.Client``, if one
    is active); write outcomes and ``summary.json`` to *out_dir*; return the summary."""
    import dask

    labels = labels or [str(p) for p in paths]
    parts_dir = out_dir / "outcomes"
    parts_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(str(path), label, start, end) for path, label in zip(paths, labels, strict=True)
            for start, end in byte_ranges(path, blocksize)]
    counted = dask.compute(*[dask.delayed(count_lines)(p, s, e) for p, _l, s, e in jobs])
    firsts: list[int] = []
    seen: dict[str, int] = {}
    for (path, _label, _s, _e), lines in zip(jobs, counted, strict=True):
        firsts.append(seen.get(path, 0))
        seen[path] = seen.get(path, 0) + lines
    tasks = [
        dask.delayed(validate_range)(path, start, end, first, models,
                                     str(parts_dir / f"part-{index:05d}.ndjson"), label)
        for index, ((path, label, start, end), first) in enumerate(zip(jobs, firsts, strict=True))
    ]
    results = dask.compute(*tasks)
    summary: dict[str, Any] = {
        "inputs": labels,
        "partitions": len(tasks),
        "resources": sum(r["resources"] for r in results),
        "resources_with_errors": sum(r["with_errors"] for r in results),
        "issues": {s: sum(r["issues"].get(s, 0) for r in results) for s in SEVERITIES},
        "outcomes": "outcomes/part-*.ndjson (in input order)",
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _size(text: str) -> int:
    units = {"KB": 1024, "MB": 1024**2, "GB": 1024**3, "B": 1}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fhirgen.dask_bulk",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="NDJSON files")
    parser.add_argument("--out", type=Path, required=True, help="folder for outcomes and summary")
    parser.add_argument("--models", default="fhirgen.models", help="generated package (import name or folder)")
    parser.add_argument("--blocksize", default="64MB", help="bytes per partition (default 64MB)")
    parser.add_argument("--scheduler", default=None, help="address of a running dask scheduler")
    parser.add_argument("--workers", type=int, default=None, help="local cluster size (default: cores)")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.paths if not p.is_file()]
    if missing:
        print(f"fhirgen: error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        print("fhirgen: error: Dask is not installed (pip install 'fhirgen[dask]')", file=sys.stderr)
        return 2
    if args.scheduler:
        client = Client(args.scheduler)
        cluster = None
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1)
        client = Client(cluster)
    try:
        summary = run_bulk(args.paths, args.out, models=args.models,
                           blocksize=_size(args.blocksize))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(json.dumps(summary, indent=2))
    return 1 if summary["resources_with_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
