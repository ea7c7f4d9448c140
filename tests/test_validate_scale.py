"""Scale: streaming NDJSON in bounded memory, the process pool, stdin NDJSON, the progress bar.

Behaviour only; no timing is asserted (figures belong to ``python -m fhirgen.bench``).
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from fhirgen.runtime.stream import resource_chunks

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "definitions/hl7.fhir.r5.examples").glob("ImagingSelection-*.json"))


def ndjson_lines(count: int) -> list[bytes]:
    """Examples with ids r0..r{count-1}; every 7th has a bad status, every 11th is broken JSON."""
    trees = [json.loads(p.read_text(encoding="utf-8")) for p in EXAMPLES]
    lines = []
    for i in range(count):
        if i % 11 == 5:
            lines.append(b'{"resourceType": "ImagingSelection", broken')
            continue
        tree = dict(trees[i % len(trees)], id=f"r{i}")
        if i % 7 == 3:
            tree["status"] = "bogus"
        lines.append(json.dumps(tree).encode())
    return lines


def fhirgen(*args: str, stdin: bytes | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fhirgen.cli", "validate", *args], input=stdin,
                          capture_output=True, cwd=ROOT, timeout=600, check=False, **kwargs)


@pytest.fixture(scope="module")
def ndjson(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scale") / "bulk.ndjson"
    path.write_bytes(b"\n".join(ndjson_lines(300)) + b"\n")
    return path


def test_jobs_keeps_order_and_per_line_results(ndjson: Path) -> None:
    serial = fhirgen("--format", "json", str(ndjson))
    pooled = fhirgen("--format", "json", "--jobs", "2", str(ndjson))
    assert serial.returncode == pooled.returncode == 1
    assert pooled.stdout == serial.stdout
    outcomes = [json.loads(line) for line in serial.stdout.splitlines()]
    assert len(outcomes) == 300
    for number, outcome in enumerate(outcomes):
        rules = {e["valueCode"] for i in outcome["issue"] for e in i.get("extension", [])
                 if e["url"].endswith("message-id")}
        lines = {e["valueInteger"] for i in outcome["issue"] for e in i.get("extension", [])
                 if e["url"].endswith("issue-line")}
        assert lines <= {number + 1}, number  # each outcome is about its own line
        if number % 11 == 5:
            assert "json-syntax" in rules
        elif number % 7 == 3:
            assert "binding" in rules


def test_jobs_auto_is_one_process_per_core_and_bad_counts_are_refused(ndjson: Path) -> None:
    from fhirgen.cli import usable_cores

    assert usable_cores() >= 1
    serial = fhirgen("--format", "json", str(ndjson))
    auto = fhirgen("--format", "json", "--jobs", "auto", str(ndjson))
    assert auto.returncode == serial.returncode == 1
    assert auto.stdout == serial.stdout
    for bad, says in (("0", b"1 or more"), ("-2", b"1 or more"), ("some", b"neither")):
        refused = fhirgen("--jobs", bad, str(ndjson))
        assert refused.returncode == 2, bad
        assert says in refused.stderr and b"Traceback" not in refused.stderr, bad


def test_jobs_text_output_and_summary_match_the_serial_run(ndjson: Path) -> None:
    serial = fhirgen("--format", "text", str(ndjson))
    pooled = fhirgen("--format", "text", "--jobs", "2", str(ndjson))
    assert serial.returncode == pooled.returncode == 1
    assert pooled.stdout == serial.stdout
    assert b"300 resource(s) in 1 file(s)" in serial.stdout


def test_a_pool_sends_back_the_text_and_the_tally_of_each_line(ndjson: Path) -> None:
    """With the text asked for, a pool's outcomes carry it and the counts by severity, not the
    issue records (the text holds them): the same text and counts as the serial run's."""
    from fhirgen.runtime.imaging import package_imaging_rules, with_imaging_rules
    from fhirgen.runtime.profiles import package_validators
    from fhirgen.runtime.stream import (
        SEVERITIES,
        load_validators,
        validate_stream,
        worker_pool,
    )

    module = load_validators("fhirgen.models")
    validators = with_imaging_rules(package_validators(module, ()),
                                    package_imaging_rules(module), "warning")
    chunks = list(resource_chunks(str(ndjson), ndjson))
    serial = list(validate_stream(chunks, validators, "f", serialize=True))
    pool = worker_pool(2, "fhirgen.models")
    try:
        pooled = list(validate_stream(chunks, validators, "f", jobs=2, pool=pool, serialize=True))
    finally:
        pool.shutdown()
    assert [o.text for o in pooled] == [o.text for o in serial]
    assert all(o.issues == [] for o in pooled)
    for one, other in zip(serial, pooled, strict=True):
        assert other.tally == tuple(sum(1 for i in one.issues if i.severity == s)
                                    for s in SEVERITIES)
        assert (other.error_count, other.warning_count, other.ok) == (
            one.error_count, one.warning_count, one.ok)
    assert sum(not o.ok for o in pooled) > 10


def test_stdin_ndjson_is_sniffed_or_asked_for(ndjson: Path) -> None:
    data = ndjson.read_bytes()
    by_file = fhirgen("--format", "json", str(ndjson)).stdout.replace(str(ndjson).encode(), b"F")
    sniffed = fhirgen("--format", "json", "-", stdin=data).stdout.replace(b"<stdin>", b"F")
    asked = fhirgen("--format", "json", "--ndjson", "-", stdin=data).stdout.replace(b"<stdin>", b"F")
    assert sniffed == asked == by_file
    pretty = EXAMPLES[0].read_bytes()
    assert fhirgen("--format", "json", "-", stdin=b"\n" + pretty).returncode == 0  # one document


def test_chunks_of_stdin_keep_line_numbers() -> None:
    stream = io.BytesIO(b"\n\n{\"a\": 1}\n\n{\"b\": 2}\n")
    assert list(resource_chunks("<stdin>", None, stdin=stream)) == [
        (2, b'{"a": 1}\n'), (4, b'{"b": 2}\n')]
    stream = io.BytesIO(b"{\n  \"a\": 1\n}\n")
    assert list(resource_chunks("<stdin>", None, stdin=stream)) == [(0, b'{\n  "a": 1\n}\n')]


def test_streaming_validates_a_file_larger_than_its_memory_cap(tmp_path: Path) -> None:
    """About 60 MB of NDJSON under an address-space cap the whole file could not fit beside the
    interpreter: it passes only if lines are read and results written one at a time."""
    path = tmp_path / "big.ndjson"
    lines = ndjson_lines(14)
    with path.open("wb") as out:
        written = 0
        while written < 60 * 1024 * 1024:
            for line in lines:
                out.write(line + b"\n")
                written += len(line) + 1
    probe = fhirgen("--format", "json", "--no-progress", str(EXAMPLES[0]))
    assert probe.returncode == 0
    code = (
        "import resource, runpy, sys\n"
        "soft = int(sys.argv[1])\n"
        "resource.setrlimit(resource.RLIMIT_AS, (soft, soft))\n"
        "sys.argv = ['fhirgen', 'validate', '--format', 'json', '--no-progress', sys.argv[2]]\n"
        "runpy.run_module('fhirgen.cli', run_name='__main__')\n"
    )
    baseline = _address_space_mb()
    cap = (baseline + 40) * 1024 * 1024  # well under the file size on top of the baseline
    done = subprocess.run([sys.executable, "-c", code, str(cap), str(path)], cwd=ROOT,
                          capture_output=True, timeout=900, check=False)
    assert done.returncode == 1, done.stderr[-2000:]  # 1: the file has errors, and it ran through
    assert done.stdout.count(b"\n") == path.read_bytes().count(b"\n")


def _address_space_mb() -> int:
    """Peak address space of a process that imported fhirgen and validated one resource."""
    code = (
        "import fhirgen.cli, fhirgen.models.validators as v, lxml.etree, tqdm, sys\n"
        "v.validate(open(sys.argv[1], 'rb').read()).outcome()\n"
        "print(max(int(l.split()[1]) for l in open('/proc/self/status') "
        "if l.startswith('VmPeak')) // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(EXAMPLES[0])], capture_output=True,
                          text=True, cwd=ROOT, check=True)
    return int(done.stdout.strip())


def test_progress_only_on_a_terminal(ndjson: Path) -> None:
    piped = fhirgen("--format", "json", str(ndjson))
    assert b"resources" not in piped.stderr  # stderr is a pipe: no bar
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    try:
        done = subprocess.run([sys.executable, "-m", "fhirgen.cli", "validate", "--format", "json",
                               str(ndjson)], stdout=subprocess.PIPE, stderr=follower, cwd=ROOT,
                              timeout=600, check=False)
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
    assert done.returncode == 1
    assert b"300" in seen and b"resources" in seen and b"with errors" in seen
    assert done.stdout.count(b"\n") == 300  # the bar never mixes with the results
