"""FHIR XML through the generated validators (``fhirgen.fhirxml``, ``fhirgen.runtime.xml``).

XML is read into the tree the JSON validator walks; the XML-only rules are issues (never
exceptions), located by FHIRPath plus the line and column the HL7 reference validator reports
(just after the ``>`` of the element's start tag). Hostile documents give one fatal issue in
bounded time and memory. The models write canonical FHIR XML and read it back.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from fhirgen.fhirxml import FHIR_NS, read_resource_xml_for_validation
from fhirgen.models import ImagingSelection, parse
from fhirgen.models.xmlschema import XML_SCHEMA, validate_xml
from fhirgen.runtime.validate import ValidationError
from fhirgen.runtime.xml import from_xml, looks_like_xml, to_xml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "definitions" / "hl7.fhir.r5.examples").glob("ImagingSelection-*.json"))
GOOD = '<status value="available"/><code><text value="key images"/></code>'


def _doc(body: str, head: str = "") -> bytes:
    return f'{head}<ImagingSelection xmlns="{FHIR_NS}">{body}</ImagingSelection>'.encode()


def _issues(data: bytes) -> list[tuple[str, str, str]]:
    """(severity, rule, location) of every issue but information and dom-6 (the documents here
    have no narrative on purpose; tests/test_invariants.py covers dom-6)."""
    return [
        (issue.severity, issue.rule, issue.expression)
        for issue in validate_xml(data).issues
        if issue.severity != "information" and issue.rule != "dom-6"
    ]


# ------------------------------------------------------------------------- official examples


def test_there_are_seven_examples() -> None:
    assert len(EXAMPLES) == 7


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_json_xml_json_unchanged(path: Path) -> None:
    data = path.read_bytes()
    model = parse(data)
    xml = to_xml(model)
    assert validate_xml(xml).ok, [str(i) for i in validate_xml(xml).issues if i.is_error]
    back = from_xml(ImagingSelection, xml)
    assert back.to_json(indent=2) == model.to_json(indent=2)
    assert json.loads(back.to_json(), parse_float=Decimal) == json.loads(data, parse_float=Decimal)
    assert to_xml(back) == xml  # and XML -> model -> XML is a fixed point


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_validates_alike_in_both_forms(path: Path) -> None:
    from fhirgen.models.validators import validate

    data = path.read_bytes()
    as_json = [(i.severity, i.rule, i.expression) for i in validate(data).issues]
    as_xml = [(i.severity, i.rule, i.expression) for i in validate_xml(to_xml(parse(data))).issues]
    assert as_xml == as_json


def test_written_xml_is_canonical_fhir_xml() -> None:
    model = ImagingSelection.from_json(json.dumps({
        "resourceType": "ImagingSelection",
        "id": "s1",
        "status": "available",
        "_status": {"id": "st", "extension": [{"url": "http://x/e", "valueBoolean": True}]},
        "code": {"id": "c1", "text": "key"},
        "instance": [{"uid": "1.2", "imageRegion2D": [{"regionType": "point",
                                                       "coordinate": ["1.50", 2]}]}],
        "text": {"status": "generated",
                 "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>a &amp; &quot;b&quot;</p></div>'},
    }).replace('"1.50"', "1.50"))
    xml = to_xml(model)
    root = etree.fromstring(xml)
    assert root.tag == f"{{{FHIR_NS}}}ImagingSelection"
    names = [etree.QName(child).localname for child in root]
    assert names == ["id", "text", "status", "code", "instance"]  # specification order
    status = root.find(f"{{{FHIR_NS}}}status")
    assert status.get("id") == "st" and status.get("value") == "available"
    extension = status.find(f"{{{FHIR_NS}}}extension")
    assert extension.get("url") == "http://x/e"  # url: an attribute
    assert extension.find(f"{{{FHIR_NS}}}valueBoolean").get("value") == "true"
    assert root.find(f"{{{FHIR_NS}}}code").get("id") == "c1"  # Element.id: an attribute
    assert b'<coordinate value="1.50"/>' in xml  # decimals as written
    assert b'<p>a &amp; &quot;b&quot;</p>' in xml  # the narrative as it was written
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    assert from_xml(ImagingSelection, xml) == model


def test_from_xml_validates_first() -> None:
    with pytest.raises(ValidationError) as caught:
        from_xml(ImagingSelection, _doc('<code><text value="x"/></code><status value="available"/>'))
    assert any(i.rule == "xml-order" for i in caught.value.result.issues)
    lenient = from_xml(ImagingSelection, _doc(GOOD), validate=False)
    assert lenient.status == "available"


def test_looks_like_xml() -> None:
    assert looks_like_xml(b"\xef\xbb\xbf  <?xml version='1.0'?><x/>")
    assert not looks_like_xml(b' {"resourceType": "Patient"}')


# ------------------------------------------------------------------------------ XML rules


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('<code><text value="x"/></code><status value="available"/>',
         ("error", "xml-order", "ImagingSelection.status")),
        (GOOD + '<colour value="red"/>', ("error", "unknown-property", "ImagingSelection")),
        ('<status value="available" colour="red"/><code><text value="x"/></code>',
         ("error", "unknown-property", "ImagingSelection.status")),
        ('<status value="available">some text</status><code><text value="x"/></code>',
         ("error", "xml-shape", "ImagingSelection.status")),
        (GOOD + "<focus/>", ("error", "xml-shape", "ImagingSelection.focus[0]")),
        ('<status/><code><text value="x"/></code>', ("error", "xml-shape", "ImagingSelection.status")),
        ('<status xmlns="urn:other" value="available"/><code><text value="x"/></code>',
         ("error", "xml-namespace", "ImagingSelection.status")),
        (GOOD.replace("<code>", '<status value="available"/><code>'),
         ("error", "cardinality", "ImagingSelection.status")),
        (GOOD + '<seriesNumber value="three"/>',
         ("error", "primitive", "ImagingSelection.seriesNumber")),
        (GOOD + '<seriesNumber value="1e4"/>',
         ("error", "primitive", "ImagingSelection.seriesNumber")),
        (GOOD + '<seriesNumber value=" 4"/>',
         ("error", "primitive", "ImagingSelection.seriesNumber")),
        (GOOD + '<seriesNumber value="007"/>',
         ("error", "primitive", "ImagingSelection.seriesNumber")),
        (GOOD + '<instance><uid value="1"/><imageRegion2D><regionType value="point"/>'
         '<coordinate value="00.1"/></imageRegion2D></instance>',
         ("error", "primitive", "ImagingSelection.instance[0].imageRegion2D[0].coordinate[0]")),
        (GOOD + '<extension url="http://x"><valueBoolean value="yes"/></extension>',
         ("error", "primitive", "ImagingSelection.extension[0].value.ofType(boolean)")),
        ('<status value=" available"/><code><text value="x"/></code>',
         ("error", "primitive", "ImagingSelection.status")),
        (GOOD + '<text><status value="generated"/><div xmlns="urn:x"><p>x</p></div></text>',
         ("error", "primitive", "ImagingSelection.text.div")),
        (GOOD + "<contained/>", ("error", "xml-shape", "ImagingSelection.contained[0]")),
    ],
    ids=["order", "unknown-element", "unknown-attribute", "text", "empty-complex",
         "empty-primitive", "namespace", "repeat", "integer-lexical", "integer-exponent",
         "integer-whitespace", "integer-leading-zero", "decimal-leading-zero", "boolean",
         "code-whitespace", "xhtml-namespace", "empty-container"],
)
def test_xml_rule(body: str, expected: tuple[str, str, str]) -> None:
    found = _issues(_doc(body))
    assert expected in found, found


def test_one_issue_per_problem() -> None:
    """A bad lexical form is reported once, about the XML, not again as a JSON kind."""
    assert _issues(_doc(GOOD + '<seriesNumber value="three"/>')) == [
        ("error", "primitive", "ImagingSelection.seriesNumber")
    ]
    # an empty Reference: one XML issue, and the Reference's own ref-2 (nothing to point at)
    assert _issues(_doc(GOOD + "<focus/>")) == [
        ("error", "xml-shape", "ImagingSelection.focus[0]"),
        ("error", "ref-2", "ImagingSelection.focus[0]"),
    ]


def test_the_walk_goes_on_after_a_problem() -> None:
    body = ('<colour value="red"/><status value="nonsense"/><code><text value="x"/></code>'
            '<seriesNumber value="x"/><instance><bogus/></instance>')
    rules = {(rule, where) for _severity, rule, where in _issues(_doc(body))}
    assert rules >= {
        ("unknown-property", "ImagingSelection"),
        ("binding", "ImagingSelection.status"),
        ("primitive", "ImagingSelection.seriesNumber"),
        ("unknown-property", "ImagingSelection.instance[0]"),
        ("cardinality", "ImagingSelection.instance[0]"),  # uid is missing
    }


def test_allowed_xml() -> None:
    """Comments and processing instructions anywhere, xsi:schemaLocation, UTF-8 declaration."""
    body = ('<!-- c --><status value="available"/><?pi x?><code><!-- c --><text value="x"/>'
            "</code>\n  \n")
    head = '<?xml version="1.0" encoding="UTF-8"?>\n<!-- before -->\n'
    data = _doc(body, head).replace(
        b"<ImagingSelection ",
        b'<ImagingSelection xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xsi:schemaLocation="http://hl7.org/fhir x.xsd" ',
    )
    assert _issues(data) == []


def test_wrong_root() -> None:
    assert _issues(b'<ImagingSelection xmlns="urn:x"/>') == [
        ("fatal", "xml-namespace", "ImagingSelection")
    ]
    assert _issues(b'<Coding xmlns="http://hl7.org/fhir"/>') == [
        ("fatal", "unknown-resource", "Coding")
    ]
    assert _issues(b'<Patient xmlns="http://hl7.org/fhir"/>') == [
        ("fatal", "unknown-resource", "Patient")
    ]


def test_contained_resource_of_a_type_not_generated() -> None:
    body = ('<contained><Patient><id value="p"/><active value="true"/></Patient></contained>'
            '<status value="available"/><subject><reference value="#p"/></subject>'
            '<code><text value="x"/></code>')
    assert _issues(_doc(body)) == [
        ("warning", "unknown-resource", "ImagingSelection.contained[0]")
    ]


def test_not_utf8() -> None:
    data = _doc(GOOD).decode().encode("utf-16")
    assert ("error", "xml-syntax", "") in _issues(data)
    latin = _doc(GOOD, '<?xml version="1.0" encoding="ISO-8859-1"?>')
    assert _issues(latin) == [("error", "xml-syntax", "")]


def test_not_well_formed_is_one_fatal_issue_with_its_position() -> None:
    result = validate_xml(b'<ImagingSelection xmlns="http://hl7.org/fhir">\n  <status value="a">\n'
                          b"</ImagingSelection>")
    [issue] = result.issues
    assert (issue.severity, issue.rule, issue.line) == ("fatal", "xml-syntax", 3)
    assert issue.col is not None


def test_tree_and_issues_unpack() -> None:
    tree, issues = read_resource_xml_for_validation(_doc(GOOD), XML_SCHEMA)
    assert tree == {"resourceType": "ImagingSelection", "status": "available",
                    "code": {"text": "key images"}}
    assert issues == []


# -------------------------------------------------------------------------------- positions


def test_positions_are_those_of_the_start_tags_end() -> None:
    data = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<ImagingSelection xmlns="http://hl7.org/fhir">\n'
            b'  <code>\n    <text value="x"/>\n  </code>\n'
            b'  <status value="available"\n          bogus="1"/>\n'
            b'  <instance><number value="1"/></instance>\n'
            b"</ImagingSelection>\n")
    found = {(i.rule, i.expression): (i.line, i.col) for i in validate_xml(data).issues}
    assert found[("xml-order", "ImagingSelection.status")] == (7, 22)
    assert found[("unknown-property", "ImagingSelection.status")] == (7, 22)
    # issues of the JSON rules are placed on the element their location names
    assert found[("cardinality", "ImagingSelection.instance[0]")] == (8, 13)


def test_positions_count_characters_not_bytes() -> None:
    data = _doc('<status value="available"/><code><text value="é€" x="1"/></code>')
    [issue] = [i for i in validate_xml(data).issues if i.rule != "dom-6"]
    assert (issue.line, issue.col) == (1, data.decode().index("/></code>") + 3)


def test_outcome_carries_line_and_column() -> None:
    outcome = validate_xml(_doc(GOOD + "<colour/>"), file="a.xml").outcome()
    extensions = {e["url"].rsplit("-", 1)[-1]: e for e in outcome["issue"][0]["extension"]}
    assert extensions["line"]["valueInteger"] == 1 and "valueInteger" in extensions["col"]
    assert outcome["extension"][0]["valueString"] == "a.xml"


# ------------------------------------------------------------------------------ hostile XML


def _bounded(data: bytes, seconds: float = 2.0, megabytes: float = 64) -> list[Any]:
    validate_xml(_doc(GOOD))  # imports done before measuring
    tracemalloc.start()
    started = time.perf_counter()
    try:
        issues = validate_xml(data).issues
    finally:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.perf_counter() - started < seconds
    assert peak < megabytes * 1024 * 1024
    return issues


def test_external_entity_reading_a_local_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    data = _doc(
        '<status value="&xxe;"/><code><text value="x"/></code>',
        f'<?xml version="1.0"?>\n<!DOCTYPE ImagingSelection [<!ENTITY xxe SYSTEM '
        f'"{secret.as_uri()}">]>\n',
    )
    [issue] = _bounded(data)
    assert (issue.severity, issue.rule, issue.line) == ("fatal", "xml-syntax", 2)
    assert "DOCTYPE" in issue.message and "TOP-SECRET" not in json.dumps(
        validate_xml(data).outcome())


def test_external_dtd_is_never_fetched() -> None:
    data = _doc(GOOD, '<!DOCTYPE ImagingSelection SYSTEM "http://127.0.0.1:9/evil.dtd">')
    [issue] = _bounded(data)
    assert issue.severity == "fatal" and "DOCTYPE" in issue.message


def test_billion_laughs() -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10)
    )
    data = _doc('<status value="&lol9;"/>', f"<!DOCTYPE ImagingSelection [{entities}]>")
    [issue] = _bounded(data)
    assert issue.severity == "fatal" and "DOCTYPE" in issue.message


def test_entity_without_a_doctype() -> None:
    [issue] = _bounded(_doc('<status value="&lol;"/>'))
    assert (issue.severity, issue.rule) == ("fatal", "xml-syntax")


def test_deep_nesting_100k_levels() -> None:
    depth = 100_000
    data = _doc('<extension url="u">' * depth + "</extension>" * depth)
    [issue] = _bounded(data, megabytes=128)
    assert (issue.severity, issue.rule) == ("fatal", "xml-syntax")
    assert "depth" in issue.message.lower()


def test_huge_text_is_not_a_huge_tree() -> None:
    data = _doc(f'<status value="{"a" * 20_000_000}"/>')
    issues = _bounded(data, seconds=10, megabytes=400)
    assert any(i.is_error for i in issues)
