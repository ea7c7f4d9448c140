"""Differential test of FHIR XML against fhir.resources (8.x: ``model_validate_xml``,
``model_dump_xml``), an independent implementation, where it applies.

* fhir.resources reads the XML our models write to the model it builds from the JSON example
  (the narrative compared as canonical XML: fhir.resources re-serialises it).
* Our validator accepts the XML fhir.resources writes for the examples.
* fhir.resources writes ``Element.id`` as a child element (``<code><id value="c1"/>``), which is
  not FHIR XML (it is an attribute, ``<code id="c1">``); our validator says so.
* On XML mutations, every disagreement is of a class explained below (we must be the one that is
  right): fhir.resources does not check element order, empty elements or unknown attributes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from fhirgen.models import parse
from fhirgen.models.xmlschema import validate_xml
from fhirgen.runtime.xml import to_xml

module = pytest.importorskip("fhir.resources.imagingselection")
FR = module.ImagingSelection

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "definitions" / "hl7.fhir.r5.examples").glob("ImagingSelection-*.json"))
HEAD = '<ImagingSelection xmlns="http://hl7.org/fhir">'
GOOD = '<status value="available"/><code><text value="x"/></code>'


def _canonical(tree: Any) -> Any:
    """The JSON tree with the narrative as canonical XML (C14N)."""
    if isinstance(tree, dict):
        out = {k: _canonical(v) for k, v in tree.items()}
        if isinstance(out.get("div"), str):
            out["div"] = etree.tostring(etree.fromstring(out["div"]), method="c14n")
        return out
    if isinstance(tree, list):
        return [_canonical(item) for item in tree]
    return tree


def _dump(model: Any) -> Any:
    return _canonical(json.loads(model.model_dump_json(exclude_none=True)))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_fhir_resources_reads_our_xml_as_the_json(path: Path) -> None:
    data = path.read_bytes()
    ours = to_xml(parse(data))
    assert _dump(FR.model_validate_xml(ours)) == _dump(FR.model_validate_json(data))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_we_accept_the_xml_fhir_resources_writes(path: Path) -> None:
    theirs = FR.model_validate_json(path.read_bytes()).model_dump_xml()
    result = validate_xml(theirs)
    assert result.ok, [str(issue) for issue in result.issues if issue.is_error]


def test_fhir_resources_element_ids_are_not_fhir_xml() -> None:
    theirs = FR.model_validate(
        {"resourceType": "ImagingSelection", "status": "available",
         "code": {"id": "c1", "text": "x"}}
    ).model_dump_xml()
    assert b'<code><id value="c1"/>' in theirs  # their form
    issues = [(i.rule, i.expression) for i in validate_xml(theirs).issues]
    assert ("unknown-property", "ImagingSelection.code") in issues
    ours = to_xml(parse(b'{"resourceType": "ImagingSelection", "status": "available",'
                        b' "code": {"id": "c1", "text": "x"}}'))
    assert b'<code id="c1">' in ours and validate_xml(ours).ok


# Mutations: (name, body, class of disagreement if fhir.resources accepts it, else None)
MUTATIONS = [
    ("unknown element", GOOD + '<colour value="x"/>', None),
    ("bad integer", GOOD + '<seriesNumber value="x"/>', None),
    ("bad boolean", GOOD + '<extension url="http://x"><valueBoolean value="yes"/></extension>',
     "boolean 'yes': pydantic's lax mode takes it, FHIR allows only true/false"),
    ("out of order", '<code><text value="x"/></code><status value="available"/>',
     "element order: FHIR XML requires the StructureDefinition's order"),
    ("empty element", GOOD + "<focus/>", "empty element: FHIR requires content (ele-1)"),
    ("unknown attribute", '<status value="available" bogus="1"/><code><text value="x"/></code>',
     "unknown attribute: not in FHIR XML"),
    ("text content", '<status value="available">x</status><code><text value="x"/></code>',
     "text content: FHIR XML has values only in attributes"),
    ("bad code", '<status value="bogus"/><code><text value="x"/></code>',
     "required binding: fhir.resources does not check codes"),
]


def test_mutation_verdicts_and_explained_disagreements(capsys: pytest.CaptureFixture[str]) -> None:
    explained = []
    for name, body, why in MUTATIONS:
        data = f"{HEAD}{body}</ImagingSelection>".encode()
        assert not validate_xml(data).ok, name  # we reject every one of them
        try:
            FR.model_validate_xml(data)
        except Exception:  # noqa: BLE001, S112 - any refusal counts as a rejection
            continue  # both reject
        assert why is not None, f"{name}: fhir.resources accepts, unexplained"
        explained.append(f"{name} ({why})")
    with capsys.disabled():
        print(f"\nfhir.resources XML differential: {len(MUTATIONS)} mutations; we alone reject: "
              + "; ".join(explained))
