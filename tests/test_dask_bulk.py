"""Bulk validation on Dask gives exactly the serial run's outcomes (a local dask.distributed
cluster in this process)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_validate_scale import ndjson_lines

distributed = pytest.importorskip("dask.distributed")

from fhirgen.dask_bulk import byte_ranges, count_lines, run_bulk

ROOT = Path(__file__).resolve().parents[1]


def test_ranges_cut_on_line_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson"
    path.write_bytes(b"aaa\nbb\n\ncccc\nd")
    ranges = byte_ranges(path, 3)
    assert ranges[0][0] == 0 and ranges[-1][1] == path.stat().st_size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    data = path.read_bytes()
    assert all(start == 0 or data[start - 1:start] == b"\n" for start, _end in ranges)
    assert sum(count_lines(str(path), s, e) for s, e in ranges) == 4


def test_dask_run_gives_the_serial_outcomes(tmp_path: Path) -> None:
    path = tmp_path / "bulk.ndjson"
    path.write_bytes(b"\n".join(ndjson_lines(120)) + b"\n")
    serial = subprocess.run([sys.executable, "-m", "fhirgen.cli", "validate", "--format", "json",
                             str(path)], capture_output=True, cwd=ROOT, timeout=600, check=False)
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        summary = run_bulk([path], tmp_path / "out", blocksize=64 * 1024)
    parts = sorted((tmp_path / "out" / "outcomes").glob("part-*.ndjson"))
    assert summary["partitions"] == len(parts) > 1
    assert b"".join(p.read_bytes() for p in parts) == serial.stdout
    assert summary["resources"] == 120
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written == summary
    errors = sum(1 for line in serial.stdout.splitlines()
                 if any(i["severity"] in ("error", "fatal") for i in json.loads(line)["issue"]))
    assert summary["resources_with_errors"] == errors
