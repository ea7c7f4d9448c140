"""The benchmark script runs and reports every anchor (figures themselves are not tested)."""

from __future__ import annotations

import json

from fhirgen import bench


def test_bench_reports_every_contender(capsys) -> None:
    assert bench.main(["--seconds", "0.01", "--json", "--no-process"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["resources"] == len(bench.corpus()) >= 7
    figures = report["per_second"]
    for name in ("json.loads", "fhir.resources", "fhirgen validate", "fhirgen model",
                 "fhirpathpy invariants"):
        assert isinstance(figures[name], float) and figures[name] > 0, name


def test_variants_grow_the_examples() -> None:
    example = {"resourceType": "ImagingSelection", "id": "x", "instance": [{"uid": "1.2"}]}
    variants = bench._variants(example)
    assert [len(v["instance"]) for v in variants] == [1, 5, 25]
    assert len({i["uid"] for i in variants[2]["instance"]}) == 25


def test_whole_process_figures_are_reported(capsys) -> None:
    assert bench.main(["--seconds", "0.01", "--json", "--lines", "40"]) == 0
    processes = json.loads(capsys.readouterr().out)["processes"]
    assert "fhirgen validate, 40 lines" in processes
    assert "fhir.resources loop, same lines" in processes
    assert any(label.startswith("peak RSS, 10 MB NDJSON") for label in processes)
    assert "takes minutes" in processes["peak RSS, 1 GB NDJSON"]
