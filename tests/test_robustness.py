"""Hostile input through every public entry point: issues or a clear refusal, never a traceback,
a hang or unbounded memory (issue 8).

The entry points: ``fhirgen validate`` (click's runner, and real processes where memory and the
exit code of a whole run matter), ``fhirgen convert``, ``fhirgen.models.validators.validate``,
``fhirgen.models.parse`` / ``ImagingSelection.from_json``, ``fhirgen.runtime.jsonio.loads``,
``fhirgen.runtime.xml.from_xml`` and the XML validation of the generated package. Each case
carries a wall-clock bound that only guards against hangs; inputs are made on the fly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from fhirgen import models
from fhirgen.cli import main
from fhirgen.models import xmlschema
from fhirgen.models.validators import ValidationError, validate
from fhirgen.runtime.jsonio import FhirJsonError, loads
from fhirgen.runtime.limits import DEFAULT_LIMITS, Limits, json_depth, too_deep
from fhirgen.runtime.model import ModelError
from fhirgen.runtime.stream import resource_chunks
from fhirgen.runtime.validate import run
from fhirgen.runtime.xml import from_xml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "definitions" / "hl7.fhir.r5.examples" / "ImagingSelection-example-basic-image-selection.json"
GOOD = json.dumps(json.loads(EXAMPLE.read_text(encoding="utf-8")))
#: Generous: only a hang (or quadratic work on megabytes) exceeds it.
HANG_GUARD = 20.0
DEEP = 100_000
HEAD = b'{"resourceType":"ImagingSelection","status":"available","code":{"text":"x"},'
NS = b'xmlns="http://hl7.org/fhir"'


@contextmanager
def bounded(seconds: float = HANG_GUARD) -> Iterator[None]:
    start = time.perf_counter()
    yield
    took = time.perf_counter() - start
    assert took < seconds, f"took {took:.1f}s (hang guard {seconds}s)"


def _deep_extensions(levels: int) -> bytes:
    return (HEAD + b'"extension":' + b'[{"url":"http://x.org","extension":' * levels
            + b'[{"url":"http://x.org","valueString":"x"}]' + b"}]" * levels + b"}")


#: name -> (JSON bytes, the rule that must report it). Each is one resource, made on demand.
HOSTILE_JSON: dict[str, tuple[Callable[[], bytes], str]] = {
    "deep arrays": (lambda: b"[" * DEEP + b"]" * DEEP, "limit-depth"),
    "deep objects": (lambda: b'{"a":' * DEEP + b"1" + b"}" * DEEP, "limit-depth"),
    "deep extensions": (lambda: _deep_extensions(DEEP), "limit-depth"),
    "deep unclosed": (lambda: HEAD + b'"status":' + b"[" * DEEP, "limit-depth"),
    "deep inside a string is not deep": (
        lambda: HEAD + b'"id":"' + b"[" * DEEP + b'"}', "primitive"),
    "invalid UTF-8": (lambda: HEAD + b'"id":"\xff\xfe\xc3("}', "json-syntax"),
    "latin-1": (lambda: '{"resourceType":"ImagingSelection","id":"é"}'.encode("latin-1"),
                "json-syntax"),
    "UTF-16 with BOM": (lambda: GOOD.encode("utf-16"), "json-syntax"),
    "UTF-16 without BOM": (lambda: GOOD.encode("utf-16-le"), "json-syntax"),
    "UTF-32 with BOM": (lambda: GOOD.encode("utf-32"), "json-syntax"),
    "empty": (lambda: b"", "json-syntax"),
    "whitespace only": (lambda: b" \n\t\r\n  ", "json-syntax"),
    "array root": (lambda: b"[1, 2]", "json-shape"),
    "string root": (lambda: b'"ImagingSelection"', "json-shape"),
    "number root": (lambda: b"42", "json-shape"),
    "null root": (lambda: b"null", "json-shape"),
    "number bomb exponent": (
        lambda: HEAD + b'"instance":[{"uid":"1.2.3","number":1e999999}]}', "primitive"),
    "number bomb 100,000 digits": (
        lambda: HEAD + b'"instance":[{"uid":"1.2.3","number":' + b"9" * 100_000 + b"}]}",
        "json-syntax"),
    "decimal of 100,000 digits": (
        lambda: HEAD + b'"instance":[{"uid":"1.2.3","number":0.' + b"9" * 100_000 + b"}]}",
        "primitive"),
    "NaN": (lambda: HEAD + b'"instance":[{"uid":"1.2.3","number":NaN}]}', "json-syntax"),
    "Infinity": (lambda: HEAD + b'"instance":[{"uid":"1.2.3","number":Infinity}]}', "json-syntax"),
    "-Infinity": (lambda: HEAD + b'"instance":[{"uid":"1.2.3","number":-Infinity}]}',
                  "json-syntax"),
    "missing resourceType": (lambda: b'{"status":"available"}', "json-shape"),
    "numeric resourceType": (lambda: b'{"resourceType":42}', "json-shape"),
    "null resourceType": (lambda: b'{"resourceType":null}', "json-shape"),
    "object resourceType": (lambda: b'{"resourceType":{"a":1}}', "json-shape"),
    "unknown resourceType": (lambda: b'{"resourceType":"__import__(\'os\')"}', "unknown-resource"),
    "binary garbage": (lambda: bytes(range(256)) * 64, "json-syntax"),
    "NUL bytes": (lambda: b"\x00" * 4096, "json-syntax"),
    "raw control characters": (lambda: HEAD + b'"id":"a\x01\x07b"}', "json-syntax"),
    "escaped control characters": (lambda: HEAD + b'"id":"a\\u0000\\u001fb"}', "primitive"),
    "lone surrogate": (lambda: HEAD + b'"id":"\\ud800"}', "primitive"),
    "Bundle of nulls": (
        lambda: b'{"resourceType":"Bundle","type":"collection","entry":[null,1,"x",[],'
                b'{"resource":null},{"resource":[1]},{"resource":"x"}]}', "json-shape"),
    "Bundle entry not an array": (lambda: b'{"resourceType":"Bundle","entry":{"a":1}}',
                                  "json-shape"),
    "trailing garbage": (lambda: GOOD.encode() + b"\x00garbage", "json-syntax"),
    "truncated": (lambda: GOOD.encode()[:-7], "json-syntax"),
}


@pytest.fixture(params=sorted(HOSTILE_JSON), ids=lambda name: name.replace(" ", "-"))
def hostile(request: pytest.FixtureRequest) -> tuple[str, bytes, str]:
    name = request.param
    make, rule = HOSTILE_JSON[name]
    return name, make(), rule


# ------------------------------------------------------------------------------ the API


def test_validate_reports_every_hostile_input(hostile: tuple[str, bytes, str]) -> None:
    _name, data, rule = hostile
    with bounded():
        result = validate(data)
        issues = result.issues  # positions are worked out here: bounded too
    assert not result.ok
    assert rule in {issue.rule for issue in issues}, issues[:5]
    assert all(len(issue.message) < 5000 for issue in issues)


def test_parse_and_from_json_raise_only_their_documented_errors(
        hostile: tuple[str, bytes, str]) -> None:
    _name, data, _rule = hostile
    for build in (models.parse, models.ImagingSelection.from_json):
        with bounded(), pytest.raises((ValidationError, FhirJsonError, ModelError)):
            build(data)


def test_lenient_parse_raises_only_value_errors(hostile: tuple[str, bytes, str]) -> None:
    """``validate=False`` builds what it can; what it cannot is a ValueError subclass."""
    _name, data, _rule = hostile
    with bounded():
        try:
            models.parse(data, validate=False)
        except (FhirJsonError, ModelError):
            pass


def test_loads_refuses_with_fhir_json_error() -> None:
    for data in (b"[" * DEEP + b"]" * DEEP, b"[NaN]", b"[-Infinity]", b"[" + b"9" * 100_000 + b"]",
                 "[]".encode("utf-16"), b"\xff", b""):
        with bounded(), pytest.raises(FhirJsonError):
            loads(data)
    with pytest.raises(FhirJsonError, match="byte order mark"):
        loads(GOOD.encode("utf-16"))


def test_a_valid_resource_is_still_valid() -> None:
    """The limits' defaults leave real resources alone."""
    result = validate(GOOD)
    assert result.ok, result.issues
    assert loads(GOOD)["resourceType"] == "ImagingSelection"


# ------------------------------------------------------------------------------ the limits


def test_json_depth_counts_brackets_outside_strings_only() -> None:
    assert json_depth(b"{}") == 1
    assert json_depth(b'{"a":[{"b":[1,2,{}]}]}') == 5
    assert json_depth(b'{"a":"[[[[{{{{","b":"\\"[[["}') == 1
    assert json_depth(b"[[[[") == 4  # unclosed brackets cannot hide depth
    assert json_depth(b"[" * DEEP + b"]" * DEEP, stop=10) == 11  # stops early
    assert not too_deep(b"[" * 5 + b"]" * 5, 5)
    assert too_deep(b"[" * 6 + b"]" * 6, 5)


def test_depth_limit_is_exact_and_configurable() -> None:
    """A resource nested to the limit is validated; one level more is refused."""
    validators = models.validators.RESOURCE_VALIDATORS
    # 1 (the resource) + 2 per extension level (array and object) + 2 (the innermost one)
    at_limit = _deep_extensions(20)
    assert json_depth(at_limit) == 43
    assert "limit-depth" not in {i.rule for i in run(at_limit, validators,
                                                     limits=Limits(max_depth=43)).issues}
    refused = run(at_limit, validators, limits=Limits(max_depth=42)).issues
    assert [i.rule for i in refused] == ["limit-depth"]
    assert "42" in refused[0].message


def test_validator_walk_survives_the_deepest_tree_the_default_allows() -> None:
    """The default depth is well within what the recursive validators and invariants can walk."""
    depth = DEFAULT_LIMITS.max_depth
    data = _deep_extensions((depth - 3) // 2)
    assert json_depth(data) <= depth
    with bounded():
        result = validate(data)
    assert {i.rule for i in result.issues} <= {"dom-6", "ext-1"}, result.issues[:3]


def test_deep_tree_given_as_a_dict_is_reported_not_raised() -> None:
    tree: dict[str, object] = {"url": "http://x.org"}
    for _ in range(5000):
        tree = {"url": "http://x.org", "extension": [tree]}
    resource = {"resourceType": "ImagingSelection", "status": "available",
                "code": {"text": "x"}, "extension": [tree]}
    with bounded():
        result = validate(resource)
    assert "nested too deeply" in result.issues[-1].message
    bundle = {"resourceType": "Bundle", "entry": [{"resource": resource}]}
    assert "nested too deeply" in validate(bundle).issues[-1].message


def test_size_limit_refuses_before_parsing() -> None:
    validators = models.validators.RESOURCE_VALIDATORS
    result = run(GOOD, validators, limits=Limits(max_bytes=100))
    assert [i.rule for i in result.issues] == ["limit-size"]
    assert run(GOOD, validators, limits=Limits(max_bytes=len(GOOD))).ok


def test_issue_limit_keeps_the_first_and_says_how_many_were_cut() -> None:
    tree = json.loads(GOOD)
    tree.update({f"bogus{i}": i for i in range(50)})
    validators = models.validators.RESOURCE_VALIDATORS
    every = run(json.dumps(tree), validators).issues
    assert sum(i.rule == "unknown-property" for i in every) == 50
    issues = run(json.dumps(tree), validators, limits=Limits(max_issues=10)).issues
    assert issues[:10] == every[:10]
    assert len(issues) == 11
    assert issues[-1].rule == "limit-issues"
    assert issues[-1].message.startswith(f"{len(every) - 10} more issue(s) not reported")


def test_a_huge_value_is_not_quoted_whole() -> None:
    data = HEAD + b'"status":"' + b"x" * 2_000_000 + b'"}'
    with bounded():
        issues = validate(data).issues
    binding = next(i for i in issues if i.rule == "binding")
    assert len(binding.message) < 2200
    assert binding.message.endswith("more characters)")


def test_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        Limits(max_depth=0)


# ------------------------------------------------------------------------------ huge input


def test_huge_string_is_linear(tmp_path: Path) -> None:
    """50 MB in one string: validated (too long for FHIR) with positions, in seconds."""
    data = HEAD + b'"id":"a","identifier":[{"value":"' + b"x" * 50_000_000 + b'"}]}'
    with bounded():
        issues = validate(data).issues
    assert any("longer than permitted maximum length" in i.message for i in issues)
    assert all(i.line == 1 for i in issues if i.rule == "primitive")


def test_stream_reads_at_most_max_bytes_plus_one(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 5000 + GOOD.encode())
    ((offset, chunk),) = resource_chunks(str(big), big, limits=Limits(max_bytes=1000))
    assert (offset, len(chunk)) == (0, 1001)
    ndjson = tmp_path / "lines.ndjson"
    ndjson.write_bytes(b"x" * 5000 + b"\n" + GOOD.encode() + b"\n\n" + b"y" * 3000)
    chunks = list(resource_chunks(str(ndjson), ndjson, limits=Limits(max_bytes=len(GOOD) + 1)))
    assert [(offset, len(chunk)) for offset, chunk in chunks] == [
        (0, len(GOOD) + 2), (1, len(GOOD) + 1), (3, len(GOOD) + 2)]


def test_positions_take_one_pass_over_a_one_line_file() -> None:
    """1000 issues at the end of a 40 MB line: their columns in one pass (one scan per issue
    took half a minute)."""
    data = (HEAD + b'"identifier":[{"value":"' + b"x" * 40_000_000 + b'"}],"instance":['
            + b",".join(b'{"uid":5}' for _ in range(1000)) + b"]}")
    with bounded(10):
        issues = validate(data).issues
    cols = {i.expression: i.col for i in issues if i.expression.endswith(".uid")}
    assert len(cols) > 990  # the rest cut by the default --max-issues
    first = data.index(b'{"uid":5}') + 8  # 0-based offset of 5 is the 1-based column of the value
    assert (cols["ImagingSelection.instance[0].uid"],
            cols["ImagingSelection.instance[1].uid"]) == (first, first + 10)


def test_line_and_column_of_many_offsets_agree_with_one_at_a_time() -> None:
    from fhirgen.runtime.validate import _line_col, _lines_cols

    text = 'ab\ncd\n\n\nefg\r\nh\n'
    offsets = set(range(len(text)))
    assert _lines_cols(text, offsets) == {o: _line_col(text, o) for o in offsets}


# ------------------------------------------------------------------------------ XML


def _doctype_cases(secret: Path) -> dict[str, bytes]:
    url = secret.as_uri().encode()
    body = b"<ImagingSelection " + NS + b'><status value="&s;"/></ImagingSelection>'
    return {
        "internal entity": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY s "available">]>' + body,
        "file entity": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY s SYSTEM "' + url + b'">]>'
                       + body,
        "external DTD": b'<?xml version="1.0"?><!DOCTYPE ImagingSelection SYSTEM "' + url
                        + b'"><ImagingSelection ' + NS + b"/>",
        "parameter entity": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "' + url
                            + b'"> %p;]>' + body,
        "billion laughs": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
                          + b"".join(b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&%s;" % bytes(
                              [97 + i])) * 10) for i in range(8))
                          + b"]><ImagingSelection " + NS + b'><status value="&i;"/></ImagingSelection>',
        "xinclude": b"<ImagingSelection " + NS + b' xmlns:xi="http://www.w3.org/2001/XInclude">'
                    b'<xi:include href="' + url + b'" parse="text"/></ImagingSelection>',
    }


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-8c1f", encoding="utf-8")
    return path


def test_xml_doctypes_and_entities_are_refused_never_fetched(secret: Path) -> None:
    for name, data in _doctype_cases(secret).items():
        with bounded():
            result = xmlschema.validate_xml(data)
            issues = result.issues
        assert not result.ok, name
        assert "TOP-SECRET" not in repr(issues), name
        if name != "xinclude":
            assert any("DOCTYPE is not allowed" in i.message for i in issues), (name, issues)
        with pytest.raises(ValidationError) as raised:
            from_xml(models.RESOURCES, data)
        assert "TOP-SECRET" not in repr(raised.value.result.issues)


HOSTILE_XML: dict[str, Callable[[], bytes]] = {
    "deep elements": lambda: (b"<ImagingSelection " + NS + b">" + b'<extension url="u">' * DEEP
                              + b"</extension>" * DEEP + b"</ImagingSelection>"),
    "huge text": lambda: (b"<ImagingSelection " + NS + b'><status value="available"/><code>'
                          b'<text value="' + b"x" * 20_000_000 + b'"/></code></ImagingSelection>'),
    "binary garbage": lambda: b"<" + bytes(range(256)) * 64,
    "empty": lambda: b"",
    "unclosed": lambda: b"<ImagingSelection " + NS + b">",
    "UTF-16 declared UTF-8": lambda: ('<?xml version="1.0" encoding="UTF-8"?><ImagingSelection '
                                      'xmlns="http://hl7.org/fhir"/>').encode("utf-16"),
    "wrong namespace": lambda: b'<ImagingSelection xmlns="http://evil.org"/>',
    "control character": lambda: (b"<ImagingSelection " + NS + b'><status value="a\x01b"/>'
                                  b"</ImagingSelection>"),
    "200,000 attributes": lambda: (b"<ImagingSelection " + NS + b"><status " + b" ".join(
        b'a%d="1"' % i for i in range(200_000)) + b' value="available"/></ImagingSelection>'),
    "1,000,000 unknown siblings": lambda: (b"<ImagingSelection " + NS + b">"
                                           + b'<zz value="1"/>' * 1_000_000 + b"</ImagingSelection>"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_XML))
def test_hostile_xml_is_reported(name: str) -> None:
    data = HOSTILE_XML[name]()
    with bounded():
        result = xmlschema.validate_xml(data)
        issues = result.issues
    assert not result.ok and issues
    with bounded(), pytest.raises(ValidationError):
        from_xml(models.RESOURCES, data)


def test_utf16_xml_is_read_or_refused_clearly() -> None:
    data = ('<?xml version="1.0" encoding="UTF-16"?><ImagingSelection xmlns="http://hl7.org/fhir">'
            '<status value="available"/><code><text value="x"/></code></ImagingSelection>'
            ).encode("utf-16")
    issues = xmlschema.validate_xml(data).issues
    assert any("UTF-8" in i.message for i in issues), issues


# ------------------------------------------------------------------------------ the commands


def _cli(*args: str, stdin: bytes | None = None) -> Result:
    with bounded():
        result = CliRunner().invoke(main, list(args), input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.exception, result.output)
    assert "Traceback" not in result.output
    return result


def test_validate_command_reports_each_hostile_file(tmp_path: Path) -> None:
    for number, name in enumerate(sorted(HOSTILE_JSON)):
        path = tmp_path / f"case{number}.json"
        path.write_bytes(HOSTILE_JSON[name][0]())
        result = _cli("validate", "--format", "json", str(path))
        assert result.exit_code == 1, (name, result.output[:500])
        (line,) = result.output.splitlines()
        outcome = json.loads(line)
        assert outcome["resourceType"] == "OperationOutcome"
        assert any(i["severity"] in ("fatal", "error") for i in outcome["issue"]), name


def test_validate_command_reads_hostile_stdin() -> None:
    for data in (b"", b"   \n", bytes(range(256)), GOOD.encode("utf-16"), b"[" * DEEP,
                 b"\n\n" + b"{" * DEEP):
        result = _cli("validate", "-", stdin=data)
        assert result.exit_code == 1, result.output


def test_validate_command_options_set_the_limits(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(GOOD, encoding="utf-8")
    assert _cli("validate", str(path)).exit_code == 0
    small = _cli("validate", "--max-bytes", "100", str(path))
    assert small.exit_code == 1 and "limit-size" in small.output
    shallow = _cli("validate", "--max-depth", "2", str(path))
    assert shallow.exit_code == 1 and "limit-depth" in shallow.output
    tree = json.loads(GOOD)
    tree.update({f"bogus{i}": i for i in range(5)})
    path.write_text(json.dumps(tree), encoding="utf-8")
    few = _cli("validate", "--max-issues", "2", "--format", "json", str(path))
    assert [i["extension"][-1]["valueCode"] for i in json.loads(few.output)["issue"]] == [
        "unknown-property", "unknown-property", "limit-issues"]
    assert _cli("validate", "--max-depth", "0", str(path)).exit_code == 2


def test_validate_command_xml_limits(tmp_path: Path, secret: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_bytes(_doctype_cases(secret)["file entity"])
    result = _cli("validate", "--format", "json", str(path))
    assert result.exit_code == 1 and "TOP-SECRET" not in result.output
    big = tmp_path / "big.xml"
    big.write_bytes(HOSTILE_XML["wrong namespace"]() + b" " * 2000)
    result = _cli("validate", "--max-bytes", "1000", str(big))
    assert result.exit_code == 1 and "limit-size" in result.output


def test_xml_issues_are_cut_before_positions(tmp_path: Path) -> None:
    """32,000 unknown XML elements on one line: --max-issues keeps 10 (and positions only them)."""
    path = tmp_path / "wide.xml"
    path.write_bytes(b"<ImagingSelection " + NS + b">" + b'<zz value="1"/>' * 32_000
                     + b"</ImagingSelection>")
    result = _cli("validate", "--max-issues", "10", "--format", "json", str(path))
    issues = json.loads(result.output)["issue"]
    assert len(issues) == 11
    assert issues[-1]["extension"][-1]["valueCode"] == "limit-issues"
    # the reader keeps the first 1000 of its own (and says so); the command the first 10 of all
    assert issues[-1]["details"]["text"].endswith("per resource (--max-issues)")
    assert all(i["extension"][-1]["valueCode"] == "unknown-property" for i in issues[:10])


def test_broken_ndjson_lines_among_good_ones(tmp_path: Path) -> None:
    """Every line gets its outcome, in order; the good ones are validated and pass."""
    lines = [GOOD.encode(), b"{broken", GOOD.encode(), b"null", b"[" * DEEP, b"\xff\xfe\x00",
             HEAD + b'"x":NaN}', b"9" * 100_000, b'{"resourceType":"Bundle","entry":[null]}',
             GOOD.encode()]
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    for jobs in ("1", "2"):
        result = _cli("validate", "--format", "json", "--jobs", jobs, str(path))
        assert result.exit_code == 1
        outcomes = [json.loads(line) for line in result.output.splitlines()]
        assert len(outcomes) == len(lines)
        ok = [all(i["severity"] in ("information", "warning") for i in o["issue"])
              for o in outcomes]
        assert ok == [True, False, True, False, False, False, False, False, False, True]
        line_numbers = [next((e["valueInteger"] for i in o["issue"] for e in i.get("extension", [])
                              if e["url"].endswith("issue-line")), None) for o in outcomes]
        assert line_numbers[1] == 2 and line_numbers[6] == 7


def test_missing_path_exits_2_with_a_message(tmp_path: Path) -> None:
    for command in ("validate", "convert"):
        result = _cli(command, str(tmp_path / "nope.json"))
        assert result.exit_code == 2
        assert "no such file or folder" in result.output


def test_convert_refuses_hostile_input_clearly(tmp_path: Path, secret: Path) -> None:
    cases = {name: make() for name, (make, _rule) in HOSTILE_JSON.items()}
    cases.update({f"xml {name}": data for name, data in _doctype_cases(secret).items()})
    for number, (name, data) in enumerate(sorted(cases.items())):
        path = tmp_path / f"case{number}{'.xml' if name.startswith('xml') else '.json'}"
        path.write_bytes(data)
        result = _cli("convert", str(path))
        assert result.exit_code in (1, 2), (name, result.output[:300])
        assert "TOP-SECRET" not in result.output


def _process(*args: str, stdin: bytes | None = None) -> tuple[subprocess.CompletedProcess[bytes],
                                                             int]:
    """A real ``fhirgen`` process and its peak memory in MB (it reports it at exit: VmHWM, the
    high-water mark of its own address space; ru_maxrss would count the forked test process)."""
    code = ("import atexit, re, sys\n"
            "def peak():\n"
            "    try:\n"
            "        status = open('/proc/self/status').read()\n"
            "    except OSError:\n"
            "        status = 'VmHWM: 0'\n"
            "    sys.stderr.write('PEAK-RSS ' + re.search(r'VmHWM:\\s+(\\d+)', status).group(1) + '\\n')\n"
            "atexit.register(peak)\n"
            "from fhirgen.cli import main\nmain()")
    with bounded(60):
        done = subprocess.run([sys.executable, "-c", code, *args], input=stdin,
                              capture_output=True, cwd=ROOT, check=False, timeout=120)
    assert b"Traceback" not in done.stderr, done.stderr[-2000:]
    peak = int(done.stderr.rsplit(b"PEAK-RSS ", 1)[1].split()[0]) // 1024
    return done, peak


def test_process_deep_and_garbage_files(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(_deep_extensions(DEEP))
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(bytes(range(256)) * 1000)
    done, _peak = _process("validate", str(deep), str(garbage))
    assert done.returncode == 1
    assert b"limit-depth" in done.stdout and b"not UTF-8" in done.stdout
    done, _peak = _process("validate", str(tmp_path / "missing.json"))
    assert done.returncode == 2 and b"no such file or folder" in done.stderr


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory read from /proc")
def test_process_memory_stays_bounded_on_a_huge_file(tmp_path: Path) -> None:
    """A 50 MB resource, and a 50 MB NDJSON line without end over --max-bytes: memory stays
    within a few times the resource, whatever the file."""
    huge = tmp_path / "huge.json"
    huge.write_bytes(HEAD + b'"id":"a","identifier":[{"value":"' + b"x" * 50_000_000 + b'"}]}')
    done, peak = _process("validate", str(huge))
    assert done.returncode == 1 and b"longer than permitted" in done.stdout
    assert peak < 600, peak  # about 180 MB measured: the bytes, their text, the tree
    endless = tmp_path / "endless.ndjson"
    endless.write_bytes(GOOD.encode() + b"\n" + b"[" * 50_000_000 + b"\n" + GOOD.encode() + b"\n")
    done, peak = _process("validate", "--format", "json", "--max-bytes", "1000000", str(endless))
    assert done.returncode == 1
    outcomes = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["issue"][0]["extension"][-1]["valueCode"] for o in outcomes][1] == "limit-size"
    assert len(outcomes) == 3
    assert peak < 300, peak


# ------------------------------------------------------------------------------ the generator
# tests/test_render.py proves the texts ``short``, ``definition``, constraint ``human`` and the
# StructureDefinition ``description`` inert (the Gadget fixture), and the banner's version and
# package names; these cover the other fields that reach output, codes, regexes and names.

MINI = ROOT / "tests" / "fixtures" / "mini" / "definitions"
WIDGET = "http://hl7.org/fhir/StructureDefinition/Widget"
CODE_SD = "http://hl7.org/fhir/StructureDefinition/code"
WIDGET_CLASS = "http://example.org/fhir/ValueSet/widget-class"
#: Quotes, backslashes, Jinja delimiters, newlines and code, as a definition may carry them.
PAYLOAD = ('a """ b \'\'\' c \\ d \\n e {{ 7 * 7 }} {% if x %}x{% endif %} {# c #}\r\n'
           '"""\n__import__("os").system("echo injected")\n"""\n# end \\')


def _mini_index() -> Any:
    from fhirgen.loader import load_index

    return load_index([MINI])


def _changed(change: Callable[[dict[str, Any]], None]) -> Any:
    """The mini definitions with *change* applied to a copy of their resources (by URL)."""
    from fhirgen.loader import DefinitionIndex

    index = _mini_index()
    resources = {k: json.loads(json.dumps(v)) for k, v in index.resources.items()}
    change(resources)
    return DefinitionIndex(resources, dict(index.origins), index.examples, index.packages)


def _generate(index: Any) -> dict[str, str]:
    from fhirgen.ir import build_model
    from fhirgen.render import generate

    return generate(build_model(index, ["Widget"]))


def _runs_something(source: str) -> list[str]:
    import ast

    return [node.id for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Name) and node.id in ("__import__", "eval", "exec", "os")]


def _import_generated(files: dict[str, str], root: Path) -> Any:
    import importlib
    import uuid

    name = f"fhirgen_robust_{uuid.uuid4().hex[:10]}"
    for key, text in files.items():
        head, _, rel = key.partition("/")
        if head == "models":
            (root / name / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / name / rel).write_text(text, encoding="utf-8")
    sys.path.insert(0, str(root))
    try:
        importlib.invalidate_caches()
        return importlib.import_module(f"{name}.validators")
    finally:
        sys.path.remove(str(root))


def _elements(resources: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return resources[url]["snapshot"]["element"]


def test_every_other_text_field_is_inert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """comment, requirements, binding descriptions, constraint requirements, purpose and
    value set texts carrying code generate code that compiles and runs nothing."""
    import os

    def poison(resources: dict[str, Any]) -> None:
        resources[WIDGET]["purpose"] = PAYLOAD
        resources[WIDGET]["title"] = PAYLOAD
        for element in _elements(resources, WIDGET):
            element["comment"] = element["requirements"] = PAYLOAD
            element["short"] = PAYLOAD
            if "binding" in element:
                element["binding"]["description"] = PAYLOAD
            for constraint in element.get("constraint", ()):
                constraint["requirements"] = constraint["human"] = PAYLOAD
        value_set = resources[WIDGET_CLASS]
        value_set["title"] = value_set["description"] = value_set["purpose"] = PAYLOAD
        for concept in value_set["compose"]["include"][0]["concept"]:
            concept["display"] = PAYLOAD

    files = _generate(_changed(poison))
    for key, text in files.items():
        if key.endswith(".py"):
            compile(text, key, "exec")
            assert _runs_something(text) == [], key
    calls: list[Any] = []
    monkeypatch.setattr(os, "system", lambda *args: calls.append(args) or 0)
    _import_generated(files, tmp_path)
    assert calls == []


def test_codes_with_quotes_reach_code_as_exact_literals(tmp_path: Path) -> None:
    hostile = 'x"""\\\'{{y}}\n__import__("os")'

    def poison(resources: dict[str, Any]) -> None:
        concepts = resources[WIDGET_CLASS]["compose"]["include"][0]["concept"]
        concepts.append({"code": hostile, "display": hostile})

    files = _generate(_changed(poison))
    for key, text in files.items():
        if key.endswith(".py"):
            compile(text, key, "exec")
            assert _runs_something(text) == [], key
    validators = _import_generated(files, tmp_path)
    sets = [v for k, v in vars(validators).items() if k.startswith("VS_") and hasattr(v, "url")
            and v.url == WIDGET_CLASS]
    assert sets and hostile in sets[0].codes


def _set_regex(regex: str) -> Callable[[dict[str, Any]], None]:
    def change(resources: dict[str, Any]) -> None:
        for element in _elements(resources, CODE_SD):
            for type_ref in element.get("type", ()):
                for extension in type_ref.get("extension", ()):
                    if extension["url"].endswith("/regex"):
                        extension["valueString"] = regex
    return change


def test_a_regex_with_quotes_and_code_stays_a_regex(tmp_path: Path) -> None:
    """A regex is data: carried as an escaped literal, compiled as written, never run as code."""
    regex = '[a-z]+("""|\'\'\'|\\\\|\\n)?(__import__\\("os"\\)\\.system\\("x"\\))?(\\{\\{x\\}\\})?'
    files = _generate(_changed(_set_regex(regex)))
    for key, text in files.items():
        if key.endswith(".py"):
            compile(text, key, "exec")
            assert _runs_something(text) == [], key
    validators = _import_generated(files, tmp_path)
    assert validators.P_code.regex == regex
    assert validators.P_code.check("abc") is None
    assert validators.P_code.check("ABC") is not None


def test_an_invalid_regex_is_refused_at_generation() -> None:
    """A primitive's regex that is not one is refused when the model is built (it would be
    generated as is and fail at import)."""
    from fhirgen.ir import IRError

    with pytest.raises(IRError, match="regex"):
        _generate(_changed(_set_regex("[unclosed(")))


@pytest.mark.parametrize("bad", ['na"me', "x)\nimport os\n(", "a b", "{{x}}", "na\\me", ""])
def test_an_invalid_element_name_is_refused_clearly(bad: str, tmp_path: Path) -> None:
    from fhirgen.ir import IRError
    from fhirgen.naming import NamingError
    from fhirgen.render import RenderError

    def rename(resources: dict[str, Any]) -> None:
        for element in _elements(resources, WIDGET):
            if element["path"] == "Widget.name":
                element["path"] = element["id"] = f"Widget.{bad}"

    with pytest.raises((NamingError, IRError, RenderError)) as refused:
        _generate(_changed(rename))
    assert repr(bad)[1:-1] in str(refused.value) or bad in str(refused.value)
    # the command says so in one line, exit 2, and writes nothing
    folder = tmp_path / "definitions"
    folder.mkdir()
    for source in MINI.iterdir():
        text = source.read_text(encoding="utf-8")
        if source.name == "StructureDefinition-Widget.json":
            tree = json.loads(text)
            rename({WIDGET: tree})
            text = json.dumps(tree)
        (folder / source.name).write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = _cli("generate", "--definitions", str(folder), "--output", str(out),
                  "--tests-output", str(tmp_path / "tests-out"), "--target", "Widget")
    assert result.exit_code == 2, result.output
    assert "fhirgen: error:" in result.output
    assert not out.exists()
