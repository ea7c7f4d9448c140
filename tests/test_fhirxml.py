"""FHIR XML <-> JSON-shaped dicts (``fhirgen.fhirxml``): round trips, JSON shapes, hostile input.

The schema comes from the pinned definitions in ``definitions/`` (ImagingSelection's closure),
so every resource here is an ImagingSelection or holds one.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from fhirgen.fhirxml import (
    FHIR_NS,
    XmlReadError,
    XmlSchema,
    XmlWriteError,
    hardened_parser,
    read_resource_xml,
    write_resource_xml,
)
from fhirgen.ir import build_model
from fhirgen.loader import load_index
from fhirgen.runtime.jsonio import FhirDecimal

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT / "definitions"
XHTML_DIV = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Key image <b>1</b> &amp; 2</p></div>'


@pytest.fixture(scope="module")
def schema() -> XmlSchema:
    index = load_index([DEFINITIONS])
    return XmlSchema.from_model(build_model(index, ["ImagingSelection"]))


def _selection(**elements: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "ImagingSelection", "status": "available"}
    resource.update(elements)
    resource.setdefault("code", {"text": "key images"})
    return resource


def _xml(body: str) -> bytes:
    return f'<ImagingSelection xmlns="{FHIR_NS}">{body}</ImagingSelection>'.encode()


def _round_trip(resource: dict[str, Any], schema: XmlSchema) -> None:
    """Both writers read back to the same dict; the schema-less one keeps the key order too."""
    back = read_resource_xml(write_resource_xml(resource), schema)
    assert json.dumps(back) == json.dumps(resource)
    assert read_resource_xml(write_resource_xml(resource, schema), schema) == resource


# ------------------------------------------------------------------------------ round trips


def test_simple_resource_round_trips(schema: XmlSchema) -> None:
    resource = {
        "resourceType": "ImagingSelection",
        "id": "sel-1",
        "status": "available",
        "code": {
            "coding": [
                {
                    "system": "http://dicom.nema.org/resources/ontology/DCM",
                    "code": "113000",
                    "display": "Of Interest",
                }
            ]
        },
        "seriesNumber": 3,
        "instance": [{"uid": "1.2.3.4", "number": 0}],
    }
    _round_trip(resource, schema)


def test_written_xml_looks_like_fhir_xml(schema: XmlSchema) -> None:
    data = write_resource_xml(
        _selection(
            id="a",
            seriesNumber=7,
            extension=[{"url": "http://example.org/flag", "valueBoolean": True}],
        )
    )
    text = data.decode("utf-8")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<ImagingSelection xmlns=')
    assert '\n  <id value="a"/>\n' in text  # a resource's id is an element
    assert '<extension url="http://example.org/flag">' in text  # an extension's url is not
    assert '<valueBoolean value="true"/>' in text
    assert '<seriesNumber value="7"/>' in text


def test_primitive_with_id_and_extension(schema: XmlSchema) -> None:
    resource = _selection(
        status="available",
        _status={"id": "s1", "extension": [{"url": "http://example.org/why", "valueString": "x"}]},
        _issued={
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                    "valueCode": "unknown",
                }
            ]
        },
    )
    _round_trip(resource, schema)
    text = write_resource_xml(resource, schema).decode()
    assert '<status id="s1" value="available">' in text
    assert "<issued>" in text  # no value: extension only


def test_array_of_primitives_with_null_placeholders(schema: XmlSchema) -> None:
    region = {
        "regionType": "point",
        "coordinate": [1.5, None, 3, 2e-05],
        "_coordinate": [
            None,
            {"extension": [{"url": "http://example.org/e", "valueInteger": 1}]},
            {"id": "c3"},
            None,
        ],
    }
    resource = _selection(instance=[{"uid": "1.2", "subset": ["1"], "imageRegion2D": [region]}])
    _round_trip(resource, schema)
    back = read_resource_xml(write_resource_xml(resource), schema)
    coordinates = back["instance"][0]["imageRegion2D"][0]["coordinate"]
    assert [type(c) for c in coordinates] == [float, type(None), int, float]
    assert back["instance"][0]["subset"] == ["1"]  # an array even with one item


def test_values_only_in_underscore_array(schema: XmlSchema) -> None:
    """No item has a value: only the ``_`` array is present, as FHIR JSON writes it."""
    xml = _xml(
        '<status value="available"/><code><text value="k"/></code><instance>'
        '<uid value="1.2"/><subset id="a"/><subset id="b"/></instance>'
    )
    back = read_resource_xml(xml, schema)
    assert back["instance"] == [{"uid": "1.2", "_subset": [{"id": "a"}, {"id": "b"}]}]


def test_choice_elements_take_their_type_from_the_suffix(schema: XmlSchema) -> None:
    extensions = [
        {"url": "http://example.org/s", "valueString": "text"},
        {"url": "http://example.org/i", "valueInteger": -4},
        {"url": "http://example.org/d", "valueDecimal": 0.1},
        {"url": "http://example.org/b", "valueBoolean": False},
        {"url": "http://example.org/c", "valueCoding": {"code": "x"}},
        {"url": "http://example.org/n", "extension": [{"url": "inner", "valueUri": "urn:x"}]},
    ]
    _round_trip(_selection(extension=extensions), schema)
    xml = _xml(
        '<extension url="u"><valueDecimal value="1"/></extension>'
        '<extension url="v"><valueDecimal value="1.0e2"/></extension>'
        '<status value="available"/><code><text value="k"/></code>'
    )
    back = read_resource_xml(xml, schema)
    assert back["extension"] == json.loads(
        '[{"url": "u", "valueDecimal": 1}, {"url": "v", "valueDecimal": 1.0e2}]'
    )
    assert type(back["extension"][0]["valueDecimal"]) is int


def test_contained_resources_are_wrapped_in_their_type(schema: XmlSchema) -> None:
    inner = {
        "resourceType": "ImagingSelection",
        "id": "inner",
        "status": "unavailable",
        "code": {"text": "inner"},
    }
    resource = _selection(contained=[inner], derivedFrom=[{"reference": "#inner"}])
    _round_trip(resource, schema)
    text = write_resource_xml(resource, schema).decode()
    assert '<contained>\n    <ImagingSelection>\n      <id value="inner"/>' in text


def test_xhtml_div_is_embedded_and_read_back_as_a_string(schema: XmlSchema) -> None:
    resource = _selection(text={"status": "generated", "div": XHTML_DIV})
    _round_trip(resource, schema)
    tree = etree.fromstring(write_resource_xml(resource, schema))
    div = tree.find(f"{{{FHIR_NS}}}text/{{http://www.w3.org/1999/xhtml}}div")
    assert div is not None and div.find("{http://www.w3.org/1999/xhtml}p/{*}b").text == "1"


def test_xhtml_with_a_prefix_comes_back_in_the_json_form(schema: XmlSchema) -> None:
    xml = _xml(
        '<text><status value="generated"/><h:div xmlns:h="http://www.w3.org/1999/xhtml">'
        '<h:p>x</h:p></h:div></text><status value="available"/><code><text value="k"/>'
        "</code>"
    )
    back = read_resource_xml(xml, schema)
    assert back["text"]["div"] == '<div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div>'


def test_schema_writes_in_element_order(schema: XmlSchema) -> None:
    shuffled = {
        "resourceType": "ImagingSelection",
        "code": {"text": "k"},
        "status": "available",
        "id": "x",
    }
    back = read_resource_xml(write_resource_xml(shuffled, schema), schema)
    assert list(back) == ["resourceType", "id", "status", "code"]
    back = read_resource_xml(write_resource_xml(shuffled), schema)
    assert list(back) == ["resourceType", "code", "status", "id"]  # schema-less: dict order


def test_schema_writer_refuses_unknown_keys(schema: XmlSchema) -> None:
    with pytest.raises(XmlWriteError, match="ImagingSelection: unknown element.*colour"):
        write_resource_xml(_selection(colour="red"), schema)


def test_comments_and_processing_instructions_are_skipped(schema: XmlSchema) -> None:
    xml = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet href="x.xsl"?>\n'
        b'<ImagingSelection xmlns="http://hl7.org/fhir" '
        b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xsi:schemaLocation="http://hl7.org/fhir x.xsd"><!-- a comment -->'
        b'<status value="available"/><?pi x?><code><text value="k"/></code></ImagingSelection>'
    )
    assert read_resource_xml(xml, schema) == _selection(code={"text": "k"})


# ------------------------------------------------------------------------ official examples

EXAMPLES = sorted(DEFINITIONS.rglob("ImagingSelection-*.json"))


def _canonical_div(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource with its div in canonical XML: the XHTML compared, not how it was written."""
    div = etree.fromstring(resource["text"]["div"].encode(), hardened_parser())
    return {**resource, "text": {**resource["text"], "div": etree.tostring(div, method="c14n")}}


def _element_ids_as_attributes(xml: bytes) -> bytes:
    """fhir.resources 8.3.0 writes ``Element.id`` as ``<id value=".."/>``; FHIR XML: ``id=".."``."""
    root = etree.fromstring(xml, hardened_parser())
    for element in list(root.iter(f"{{{FHIR_NS}}}id")):
        parent = element.getparent()
        if parent is not root:
            parent.set("id", element.get("value"))
            parent.remove(element)
    return etree.tostring(root)


def test_there_are_official_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_official_examples_round_trip(path: Path, schema: XmlSchema) -> None:
    example = json.loads(path.read_bytes())
    for writer_schema in (None, schema):
        back = read_resource_xml(write_resource_xml(example, writer_schema), schema)
        assert _canonical_div(back) == _canonical_div(example)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_official_examples_written_by_fhir_resources(path: Path, schema: XmlSchema) -> None:
    """An independent writer: fhir.resources' XML reads back to the JSON example."""
    module = pytest.importorskip("fhir.resources.imagingselection")
    example = json.loads(path.read_bytes())
    xml = module.ImagingSelection.model_validate(example).model_dump_xml(pretty_print=False)
    back = read_resource_xml(_element_ids_as_attributes(xml), schema)
    assert _canonical_div(back) == _canonical_div(example)


# ------------------------------------------------------------------------------ strictness


REGION_WITH_BAD_COORDINATE = (
    '<status value="available"/><instance><uid value="1"/><imageRegion2D>'
    '<regionType value="point"/><coordinate value="1,5"/></imageRegion2D></instance>'
)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '<status value="available"/><colour value="red"/>',
            r"ImagingSelection\.colour, line 1: unknown element <colour>",
        ),
        (
            '<status value="available"/><status value="available"/>',
            r"ImagingSelection\.status, line 1: element <status> may appear only once",
        ),
        ('<status value="available" colour="red"/>', r"unknown attribute 'colour'"),
        (
            '<status value="available"/><id value="x"/><code id="c" id2="d"/>',
            r"ImagingSelection\.code, line 1: unknown attribute 'id2'",
        ),
        ('<status value="available"/><seriesNumber value="3.0x"/>', r"'3\.0x' is not a number"),
        (
            REGION_WITH_BAD_COORDINATE,
            r"ImagingSelection\.instance\[0\]\.imageRegion2D\[0\]\.coordinate\[0\], line 1: '1,5'",
        ),
        ('<extension url="u"><valueBoolean value="yes"/></extension>', r"'yes' is not a boolean"),
        ("<status>available</status>", r"text 'available' is not allowed"),
        ("<status/>", r"needs a value, an id or extensions"),
        ('<code><url value="x"/></code>', r"ImagingSelection\.code\.url.*unknown element <url>"),
        ('<extension><url value="x"/></extension>', r"unknown element <url>"),  # url: attribute
        (
            '<text><status value="generated"/><div><p>x</p></div></text>',
            r"ImagingSelection\.text\.div.*not 'http://www\.w3\.org/1999/xhtml'",
        ),
        (
            '<status xmlns="urn:other" value="available"/>',
            r"ImagingSelection\.status.*namespace 'urn:other', not 'http://hl7\.org/fhir'",
        ),
        ("<contained><Nonsense/></contained>", r"unknown resource type 'Nonsense'"),
        ("<contained/>", r"expected one resource element inside, found 0"),
    ],
)
def test_malformed_fhir_is_refused(schema: XmlSchema, body: str, message: str) -> None:
    with pytest.raises(XmlReadError, match=message):
        read_resource_xml(_xml(body), schema)


def test_error_names_the_source_line(schema: XmlSchema) -> None:
    xml = b'<ImagingSelection xmlns="http://hl7.org/fhir">\n  <status value="x"/>\n  <bogus/>\n'
    with pytest.raises(XmlReadError) as caught:
        read_resource_xml(xml + b"</ImagingSelection>", schema)
    assert (caught.value.line, caught.value.path) == (3, "ImagingSelection.bogus")


def test_wrong_namespace_on_the_root(schema: XmlSchema) -> None:
    with pytest.raises(XmlReadError, match="namespace 'urn:not-fhir'"):
        read_resource_xml(b'<ImagingSelection xmlns="urn:not-fhir"/>', schema)
    with pytest.raises(XmlReadError, match=r"namespace '\(none\)'"):
        read_resource_xml(b"<ImagingSelection/>", schema)


def test_not_a_resource_type_at_the_root(schema: XmlSchema) -> None:
    with pytest.raises(XmlReadError, match="'Coding' is not a resource type"):
        read_resource_xml(b'<Coding xmlns="http://hl7.org/fhir"><code value="x"/></Coding>', schema)


def test_not_well_formed(schema: XmlSchema) -> None:
    with pytest.raises(XmlReadError, match="line 1: not well-formed XML"):
        read_resource_xml(_xml("<status value='x'>"), schema)


# ------------------------------------------------------------------------------ hostile XML


def test_external_entity_is_refused_and_never_read(schema: XmlSchema, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")

    def document(target: str) -> bytes:
        return (
            f'<?xml version="1.0"?>\n<!DOCTYPE ImagingSelection [\n'
            f'  <!ENTITY xxe SYSTEM "{target}">\n]>\n<ImagingSelection xmlns="{FHIR_NS}">'
            f'<status value="available"/><code><text>&xxe;</text></code>'
            f"</ImagingSelection>"
        ).encode()

    for target in (secret.as_uri(), "file:///etc/passwd"):
        with pytest.raises(XmlReadError, match="DOCTYPE is not allowed in FHIR XML") as caught:
            read_resource_xml(document(target), schema)
        assert "TOP-SECRET-MARKER" not in str(caught.value) and "root:" not in str(caught.value)
    # Defence in depth: the parser itself never reads the file, even before the refusal.
    tree = etree.fromstring(document(secret.as_uri()), hardened_parser())
    assert b"TOP-SECRET-MARKER" not in etree.tostring(tree)


def test_billion_laughs_is_refused_fast(schema: XmlSchema) -> None:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    xml = (
        f'<?xml version="1.0"?>\n<!DOCTYPE ImagingSelection [{"".join(entities)}]>\n'
        f'<ImagingSelection xmlns="{FHIR_NS}"><status value="&lol9;"/></ImagingSelection>'
    )
    started = time.perf_counter()
    with pytest.raises(XmlReadError, match="DOCTYPE is not allowed"):
        read_resource_xml(xml.encode(), schema)
    assert time.perf_counter() - started < 1.0


def test_external_dtd_is_refused_without_network(schema: XmlSchema) -> None:
    xml = (
        b'<!DOCTYPE ImagingSelection SYSTEM "http://example.invalid/fhir.dtd">'
        b'<ImagingSelection xmlns="http://hl7.org/fhir"><status value="x"/></ImagingSelection>'
    )
    with pytest.raises(XmlReadError, match="DOCTYPE is not allowed"):
        read_resource_xml(xml, schema)


def test_hostile_xhtml_is_refused_when_writing() -> None:
    div = '<!DOCTYPE div [<!ENTITY e SYSTEM "file:///etc/passwd">]><div>&e;</div>'
    with pytest.raises(XmlWriteError, match="DOCTYPE is not allowed"):
        write_resource_xml(_selection(text={"status": "generated", "div": div}))


# ------------------------------------------------------------------------------ writer details


def test_schema_less_attribute_rules() -> None:
    resource = _selection(
        id="r",
        code={"id": "c1", "text": "k"},
        extension=[{"id": "e1", "url": "http://example.org/x", "valueUrl": "http://a"}],
    )
    root = etree.fromstring(write_resource_xml(resource))
    ns = {"f": FHIR_NS}
    assert root.find("f:id", ns).get("value") == "r" and root.get("id") is None
    assert root.find("f:code", ns).get("id") == "c1"
    extension = root.find("f:extension", ns)
    assert (extension.get("id"), extension.get("url")) == ("e1", "http://example.org/x")
    assert extension.find("f:url", ns) is None


def test_numbers_and_booleans_are_written_as_json_writes_them(schema: XmlSchema) -> None:
    values = [0.1, 1e-07, 12345678901234567890, -0.0, 1e22, True]
    keys = ["valueDecimal"] * 5 + ["valueBoolean"]
    resource = _selection(extension=[{"url": "u", key: v} for key, v in zip(keys, values)])
    text = write_resource_xml(resource, schema).decode()
    for value in values:
        assert f'value="{json.dumps(value)}"' in text
    _round_trip(resource, schema)


def test_decimals_can_keep_their_written_text(schema: XmlSchema) -> None:
    """As ``json.loads(parse_float=...)``: the runtime's FhirDecimal keeps ``1.50`` and ``2e3``."""
    xml = _xml(
        '<extension url="a"><valueDecimal value="1.50"/></extension>'
        '<extension url="b"><valueDecimal value="2e3"/></extension>'
        '<status value="available"/><code><text value="k"/></code>'
    )
    back = read_resource_xml(xml, schema, parse_float=FhirDecimal)
    assert [e["valueDecimal"] for e in back["extension"]] == [Decimal("1.50"), Decimal("2e3")]
    assert read_resource_xml(xml, schema)["extension"][0]["valueDecimal"] == 1.5
    text = write_resource_xml(back, schema).decode()
    assert '<valueDecimal value="1.50"/>' in text and '<valueDecimal value="2e3"/>' in text
    plain = write_resource_xml(
        _selection(extension=[{"url": "c", "valueDecimal": Decimal("0.10")}])
    )
    assert b'<valueDecimal value="0.10"/>' in plain


def test_writer_refuses_misaligned_primitive_arrays() -> None:
    instance = {"uid": "1", "subset": ["a", "b"], "_subset": [None]}
    with pytest.raises(XmlWriteError, match="differ in length"):
        write_resource_xml(_selection(instance=[instance]))
