"""The fuzz targets of ``fuzz/`` run briefly in CI, driven by hypothesis (issue 8).

The targets' :func:`check` is the property (judged or refused, never raised on); here it gets
random bytes, byte-level mutations of real resources (the official ImagingSelection examples,
as JSON and as FHIR XML) and XML-shaped text with DOCTYPEs, entities and odd nesting. Longer,
coverage-guided runs use atheris by hand (see the targets' docstrings and the README).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirgen import models
from fhirgen.runtime.xml import to_xml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "definitions" / "hl7.fhir.r5.examples").glob("ImagingSelection-*.json"))
SHORT = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _target(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_fuzz_{name}", ROOT / "fuzz" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FUZZ_JSON = _target("fuzz_json")
FUZZ_XML = _target("fuzz_xml")
JSON_SEEDS = [path.read_bytes() for path in EXAMPLES]
XML_SEEDS = [to_xml(models.parse(seed, validate=False)) for seed in JSON_SEEDS]


@st.composite
def mutated_bytes(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with a few byte-level edits, as libFuzzer makes them: flip, insert, delete, repeat,
    splice a piece of another seed."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "splice"]))
        if edit == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif edit == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif edit == "repeat":
            data[at:at] = data[at:at + draw(st.integers(1, 16))] * draw(st.integers(2, 200))
        else:
            other = draw(st.sampled_from(seeds))
            start = draw(st.integers(0, len(other)))
            data[at:at] = other[start:start + draw(st.integers(1, 200))]
    return bytes(data)


XML_PIECES = st.sampled_from([
    b"<", b">", b"</", b"/>", b"<status value=\"available\"/>", b"<code><text value=\"x\"/></code>",
    b"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/hostname\">]>", b"&e;", b"&amp;", b"&#0;",
    b"<![CDATA[x]]>", b"<?xml version=\"1.0\"?>", b"<!-- c -->", b"<extension url=\"u\">",
    b"</extension>", b"<div xmlns=\"http://www.w3.org/1999/xhtml\">", b"</div>", b"\xff\xfe",
    b"<ImagingSelection xmlns=\"http://hl7.org/fhir\">", b"</ImagingSelection>", b" ", b"\x00",
])


def test_seeds_pass_the_targets() -> None:
    for seed in JSON_SEEDS:
        FUZZ_JSON.check(seed)
    for seed in XML_SEEDS:
        FUZZ_XML.check(seed)


@SHORT
@given(st.one_of(st.binary(max_size=300), mutated_bytes(JSON_SEEDS)))
def test_fuzz_json(data: bytes) -> None:
    FUZZ_JSON.check(data)


@SHORT
@given(st.one_of(st.binary(max_size=300), mutated_bytes(XML_SEEDS),
                 st.lists(XML_PIECES, max_size=30).map(b"".join)))
def test_fuzz_xml(data: bytes) -> None:
    FUZZ_XML.check(data)


def test_targets_run_under_atheris_when_installed(tmp_path: Path) -> None:
    """A few thousand coverage-guided runs of each target, when atheris is installed."""
    pytest.importorskip("atheris")
    import resource
    import subprocess
    import sys

    # libFuzzer reads its RSS from ru_maxrss, which a child started by exec inherits from this
    # (pytest's) process: the allowance is 2 GB above what this process has peaked at already
    limit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 + 2048
    for name, seeds in (("fuzz_json", JSON_SEEDS[:2]), ("fuzz_xml", XML_SEEDS[:2])):
        corpus = tmp_path / name
        corpus.mkdir()
        for i, seed in enumerate(seeds):
            (corpus / f"seed{i}").write_bytes(seed)
        done = subprocess.run(
            [sys.executable, str(ROOT / "fuzz" / f"{name}.py"), str(corpus), "-runs=3000",
             f"-rss_limit_mb={limit}"], capture_output=True, text=True, cwd=tmp_path, timeout=300,
            check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Done 3000 runs" in done.stderr
