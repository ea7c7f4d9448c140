"""The XML form of the ImagingSelection StructureDefinition gives the same intermediate model as
the JSON form.

The pinned JSON definitions (``definitions/``) are the reference. The XML is made two ways:

(a) with our own writer, ``fhirgen.fhirxml.write_resource_xml`` (schema-less and schema-driven);
(b) independently, with fhir.resources 8.3.0 (``StructureDefinition.model_validate(json)`` then
    ``model_dump_xml()``).

Each XML is read back with ``read_resource_xml`` and must give the same IR
(``fhirgen.ir.build_type``) and the same dict as the JSON file, modulo these differences, each
justified and each checked to be only what it claims:

* ``text.div`` (both routes): XML normalises whitespace in attribute values, so the line breaks
  the JSON ``div`` has inside a few ``style`` attributes are spaces once the XHTML is XML; the
  string read back is lxml's serialisation of the same XHTML. Compared in canonical XML (C14N).
* ``meta.lastUpdated`` (route b): fhir.resources keeps instants as Python datetimes and writes
  ``2023-03-26T15:21:02.749000+11:00`` for ``...02.749+11:00``: the same instant.
* ``Element.id`` (route b): fhir.resources 8.3.0 writes it as a child element ``<id value=".."/>``
  while FHIR XML has it as an attribute (``representation: xmlAttr`` in the definitions, as in
  fhir-base.xsd); our strict reader refuses that, so the test moves those ids to attributes first
  (and fhir.resources, reading XML, ignores ``id`` attributes: that direction is not used).

A definitions folder holding the XML form instead of the JSON form loads through ``load_index`` into
the same ``build_model`` result.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from fhirgen.fhirxml import (
    FHIR_NS,
    XmlReadError,
    XmlSchema,
    hardened_parser,
    read_resource_xml,
    write_resource_xml,
)
from fhirgen.ir import build_model, build_type
from fhirgen.loader import DefinitionError, DefinitionIndex, load_index

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT / "definitions"
TARGET = "ImagingSelection"
FILE_NAME = f"StructureDefinition-{TARGET}.json"


def _definition_file(name: str) -> Path:
    found = sorted(DEFINITIONS.rglob(name))
    assert found, f"{name} is not in {DEFINITIONS.name}/"
    return found[0]


@pytest.fixture(scope="module")
def json_file() -> Path:
    return _definition_file(FILE_NAME)


@pytest.fixture(scope="module")
def sd_json(json_file: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(json_file.read_bytes())
    return value


@pytest.fixture(scope="module")
def index() -> DefinitionIndex:
    return load_index([DEFINITIONS])


@pytest.fixture(scope="module")
def schema(index: DefinitionIndex) -> XmlSchema:
    return XmlSchema.from_index(index)


def _canonical_xhtml(div: str) -> bytes:
    return etree.tostring(etree.fromstring(div.encode(), hardened_parser()), method="c14n")


def _normalised(resource: dict[str, Any]) -> dict[str, Any]:
    """A copy with the ``div`` in canonical XML (the one difference both routes have)."""
    result = copy.deepcopy(resource)
    result["text"]["div"] = _canonical_xhtml(result["text"]["div"])
    return result


def _assert_same_as_json(back: dict[str, Any], sd_json: dict[str, Any]) -> None:
    assert build_type(back) == build_type(sd_json)
    assert _normalised(back) == _normalised(sd_json)
    # The div differs, if at all, only by XML's attribute-value normalisation.
    assert back["text"]["div"].replace("\n", " ") == sd_json["text"]["div"].replace("\n", " ")


# --------------------------------------------------------------------- route (a): our writer


@pytest.mark.parametrize("with_schema", [False, True], ids=["schema-less", "schema-driven"])
def test_our_xml_gives_the_same_model(
    sd_json: dict[str, Any], schema: XmlSchema, with_schema: bool
) -> None:
    xml = write_resource_xml(sd_json, schema if with_schema else None)
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<StructureDefinition xmlns=')
    back = read_resource_xml(xml, schema)
    _assert_same_as_json(back, sd_json)


def test_the_div_is_the_only_lexical_difference(sd_json: dict[str, Any], schema: XmlSchema) -> None:
    back = read_resource_xml(write_resource_xml(sd_json), schema)
    back_rest = {key: value for key, value in back.items() if key != "text"}
    json_rest = {key: value for key, value in sd_json.items() if key != "text"}
    assert json.dumps(back_rest) == json.dumps(json_rest)  # values, types and key order
    assert back["text"]["status"] == sd_json["text"]["status"]


# ------------------------------------------------------------------ route (b): fhir.resources


def _move_element_ids_to_attributes(xml: bytes) -> tuple[bytes, int]:
    """fhir.resources writes ``Element.id`` as ``<id value=".."/>``; FHIR XML has ``id=".."``."""
    root = etree.fromstring(xml, hardened_parser())
    moved = 0
    for element in list(root.iter(f"{{{FHIR_NS}}}id")):
        parent = element.getparent()
        if parent is root:  # Resource.id is an element
            continue
        parent.set("id", element.get("value"))
        parent.remove(element)
        moved += 1
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), moved


def _element_ids(value: Any, is_root: bool = True) -> int:
    """How many ``id`` keys the objects below the resource root have."""
    if isinstance(value, list):
        return sum(_element_ids(item, False) for item in value)
    if not isinstance(value, dict):
        return 0
    own = 0 if is_root else int("id" in value)
    return own + sum(_element_ids(item, False) for key, item in value.items() if key != "id")


@pytest.fixture(scope="module")
def fhir_resources_xml(sd_json: dict[str, Any]) -> bytes:
    module = pytest.importorskip("fhir.resources.structuredefinition")
    model = module.StructureDefinition.model_validate(sd_json)
    # pretty_print would re-indent the XHTML inside the div (its whitespace is content).
    xml: bytes = model.model_dump_xml(pretty_print=False)
    return xml


def test_fhir_resources_xml_gives_the_same_model(
    sd_json: dict[str, Any], schema: XmlSchema, fhir_resources_xml: bytes
) -> None:
    xml, moved = _move_element_ids_to_attributes(fhir_resources_xml)
    assert moved == _element_ids(sd_json) > 0  # exactly the ids of elements, nothing else
    back = read_resource_xml(xml, schema)
    assert build_type(back) == build_type(sd_json)

    expected = _normalised(sd_json)
    got = _normalised(back)
    json_instant, fr_instant = expected["meta"].pop("lastUpdated"), got["meta"].pop("lastUpdated")
    assert datetime.fromisoformat(fr_instant) == datetime.fromisoformat(json_instant)
    assert got == expected


def test_fhir_resources_xml_is_refused_unfixed(
    schema: XmlSchema, fhir_resources_xml: bytes
) -> None:
    """Documents why the test above moves ids: the strict reader names the misplaced element."""
    with pytest.raises(
        XmlReadError, match=r"snapshot\.element\[0\]\.id, line \d+: unknown element"
    ):
        read_resource_xml(fhir_resources_xml, schema)


# ------------------------------------------------------------------------- through the loader


def _link_tree(source: Path, target: Path, skip: str) -> None:
    """Mirror *source* into *target* (symlinks where possible), leaving out files named *skip*."""
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.name == skip:
            continue
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.symlink(path, destination)
        except OSError:
            shutil.copyfile(path, destination)


@pytest.mark.parametrize("route", ["fhirgen", "fhir.resources"])
def test_xml_definitions_folder_loads_into_the_same_model(
    tmp_path: Path,
    json_file: Path,
    sd_json: dict[str, Any],
    index: DefinitionIndex,
    route: str,
    request: pytest.FixtureRequest,
) -> None:
    if route == "fhirgen":
        xml = write_resource_xml(sd_json)
    else:
        xml, _ = _move_element_ids_to_attributes(request.getfixturevalue("fhir_resources_xml"))
    folder = tmp_path / "definitions"
    _link_tree(DEFINITIONS, folder, skip=json_file.name)
    xml_file = folder / json_file.relative_to(DEFINITIONS).with_suffix(".xml")
    xml_file.write_bytes(xml)

    xml_index = load_index([folder])
    url = sd_json["url"]
    assert xml_index.origins[url].endswith(".xml")
    assert build_model(xml_index, [TARGET]) == build_model(index, [TARGET])


def test_xml_definition_needs_the_structure_definition_of_its_type(
    tmp_path: Path, sd_json: dict[str, Any]
) -> None:
    (tmp_path / "StructureDefinition-ImagingSelection.xml").write_bytes(write_resource_xml(sd_json))
    with pytest.raises(DefinitionError) as caught:
        load_index([tmp_path])
    message = str(caught.value)
    assert message.startswith("StructureDefinition-ImagingSelection.xml: StructureDefinition")
    assert "unknown resource type 'StructureDefinition'" in message
    assert "has no StructureDefinition in the definitions" in message


def test_bad_xml_definition_names_the_file(tmp_path: Path, json_file: Path) -> None:
    _link_tree(DEFINITIONS, tmp_path, skip=json_file.name)
    bad = tmp_path / "broken.xml"
    bad.write_bytes(
        b'<StructureDefinition xmlns="http://hl7.org/fhir"><nope/></StructureDefinition>'
    )
    with pytest.raises(DefinitionError, match=r"^broken\.xml: StructureDefinition\.nope, line 1"):
        load_index([tmp_path])
