"""The benchmark script runs and reports every anchor (figures themselves are not tested)."""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

import pytest

from fhirgen import bench


def test_bench_reports_every_contender(capsys) -> None:
    pytest.importorskip("fhircraft")
    assert bench.main(["--seconds", "0.01", "--json", "--no-process"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["resources"] == len(bench.corpus()) >= 7
    figures = report["per_second"]
    for name in ("json.loads", "fhir.resources", "fhirgen validate", "fhirgen model", "fhircraft",
                 "fhirpathpy invariants", "fhirgen validate, pure Python", "fhirgen invariants"):
        assert isinstance(figures[name], float) and figures[name] > 0, name
    assert "FHIRModelFactory" in report["notes"]["fhircraft"]
    assert report["processes"] == {}


def test_fhircraft_model_validates_and_refuses_like_a_validator() -> None:
    """The fhircraft row times a real validation of R5 ImagingSelection: the corpus passes, and
    a broken instance (an extension with neither value nor extensions: ext-1) is refused."""
    pytest.importorskip("fhircraft")
    run, note = bench._fhircraft_runner()
    assert callable(run), run
    assert "built in" in note
    data = bench.corpus()
    for item in data:
        run(item)
    broken = json.loads(data[0])
    broken["extension"] = [{"url": "http://example.org/x"}]
    with pytest.raises(ValueError, match="ext-1"):
        run(json.dumps(broken).encode())


def test_fhircraft_row_says_why_when_it_cannot_run(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "fhircraft", None)  # import fails as when not installed
    monkeypatch.setitem(sys.modules, "fhircraft.config", None)
    run, note = bench._fhircraft_runner()
    assert isinstance(run, str) and "fhircraft not installed" in run and note == ""


def test_validation_error_summary_names_count_place_and_message() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Shape(pydantic.BaseModel):
        size: int
        name: str

    with pytest.raises(pydantic.ValidationError) as caught:
        Shape.model_validate({"size": "big"})
    try:
        raise ValueError("wrapped") from caught.value
    except ValueError as wrapped:
        summary = bench._validation_error_summary(wrapped)
    assert summary.startswith("2 errors, first at size: ")
    assert bench._validation_error_summary(OSError("no file")) == "OSError: no file"


def test_variants_grow_the_examples() -> None:
    example = {"resourceType": "ImagingSelection", "id": "x", "instance": [{"uid": "1.2"}]}
    variants = bench._variants(example)
    assert [len(v["instance"]) for v in variants] == [1, 5, 25]
    assert len({i["uid"] for i in variants[2]["instance"]}) == 25


def _small_files(monkeypatch, tmp_path: Path) -> None:
    """Memory files of a few lines, and every temporary file under *tmp_path*."""
    monkeypatch.setattr(bench, "SMALL_FILE", ("10 MB", 20_000))
    monkeypatch.setattr(bench, "BIG_FILE", ("1 GB", 40_000))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def test_whole_process_figures_are_reported(capsys, monkeypatch, tmp_path: Path) -> None:
    _small_files(monkeypatch, tmp_path)
    monkeypatch.setattr(bench, "in_process", lambda *args: ({}, {}))  # tested above
    assert bench.main(["--seconds", "0.01", "--json", "--lines", "30"]) == 0
    processes = json.loads(capsys.readouterr().out)["processes"]
    figure = r"\s*[\d.]+ s\s+\d+/s\s+[\d.]+x the fhir.resources loop"
    assert re.fullmatch(figure, processes["fhirgen validate, 30 lines (imaging rules: warning)"])
    assert re.fullmatch(figure, processes["  the same, --imaging-rules off (base spec)"])
    assert re.fullmatch(figure, processes["  the same, pure Python (FHIRGEN_PURE_PYTHON=1)"])
    if bench._cores() > 1:
        jobs = processes[f"  the same, --jobs {bench._cores()}"]
        assert re.fullmatch(figure + r", [\d.]+x serial", jobs)
    assert processes["fhir.resources loop, same lines"].endswith("(the reference)")
    assert any(label.startswith("peak RSS, 10 MB NDJSON") for label in processes)
    assert "takes minutes" in processes["peak RSS, 1 GB NDJSON"]
    assert list(tmp_path.iterdir()) == []  # the NDJSON files went with their folder


def test_memory_only_big_measures_both_files_and_leaves_none(capsys, monkeypatch,
                                                             tmp_path: Path) -> None:
    _small_files(monkeypatch, tmp_path)
    monkeypatch.setattr(bench, "in_process", lambda *args: pytest.fail("in-process run"))
    monkeypatch.setattr(bench, "timed_runs", lambda *args: pytest.fail("timed run"))
    assert bench.main(["--json", "--memory-only", "--big"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["per_second"] == {}
    labels = list(report["processes"])
    assert [label.split(" (")[0] for label in labels] == ["peak RSS, 10 MB NDJSON",
                                                           "peak RSS, 1 GB NDJSON"]
    for label in labels:
        assert re.fullmatch(r"\s*\d+ MiB  \([\d.]+ s, [\d,]+ lines/s\)", report["processes"][label])
    assert list(tmp_path.iterdir()) == []


def test_memory_only_goes_not_with_no_process(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        bench.main(["--memory-only", "--no-process"])
    assert stopped.value.code == 2
    assert "--memory-only" in capsys.readouterr().err


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory read from /proc")
def test_peak_rss_is_the_child_own_not_the_benchmark_process() -> None:
    """A child spawned while this process holds 300 MB reports its own small peak (ru_maxrss of
    a spawned child would count the parent's peak at exec)."""
    ballast = bytearray(300 * 1024 * 1024)
    ballast[::4096] = b"\1" * len(range(0, len(ballast), 4096))  # touch every page
    run = bench.run_module("json.tool", ["--help"])
    assert run.code == 0
    assert run.peak_mib is not None and 1 < run.peak_mib < 100, run.peak_mib
    del ballast


def test_failed_run_is_reported_not_timed() -> None:
    assert bench._figure(bench.Run(1.0, 2), 10, None) == "failed: exit 2"
    loop = bench.Run(4.0, 0)
    assert bench._figure(bench.Run(2.0, 1), 10, loop).endswith("2.00x the fhir.resources loop")
