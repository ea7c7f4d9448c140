"""Rules the specification states in prose and the HL7 validator checks natively, generated as
calls (``fhirgen.validator_views.NATIVE_RULES`` and element ids): each broken on a valid
ImagingSelection, expected at its location, and kept when the resource is right."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path

from fhirgen.models.validators import RESOURCE_VALIDATORS, validate
from fhirgen.runtime.validate import run

EXAMPLE = json.loads(
    (Path(__file__).resolve().parents[1] / "definitions" / "hl7.fhir.r5.examples"
     / "ImagingSelection-example-basic-image-selection.json").read_text(encoding="utf-8")
)
DATA = base64.b64encode(b"hello").decode("ascii")
SHA1 = base64.b64encode(hashlib.sha1(b"hello").digest()).decode("ascii")


def _errors(tree: dict, rule: str) -> list[tuple[str, str]]:
    return [(i.expression, i.message) for i in validate(tree).issues
            if i.rule == rule and i.is_error]


def _with_attachment(**attachment: object) -> dict:
    tree = copy.deepcopy(EXAMPLE)
    tree["extension"] = [{"url": "http://example.org/attached",
                          "valueAttachment": {"contentType": "text/plain", **attachment}}]
    return tree


def test_element_ids_are_unique_within_a_resource() -> None:
    tree = copy.deepcopy(EXAMPLE)
    tree["code"]["id"] = "same"
    assert _errors(tree, "element-id") == []
    tree["instance"][0]["id"] = "same"
    assert _errors(tree, "element-id") == [
        ("ImagingSelection.instance[0]", "Duplicate id value 'same'")
    ]
    # the resource's own id is not an element id, and a contained resource has its own ids
    tree = copy.deepcopy(EXAMPLE)
    tree["code"]["id"] = EXAMPLE["id"]
    tree["contained"] = [{"resourceType": "ImagingSelection", "id": "c", "status": "available",
                          "code": {"id": "x", "text": "c"}}]
    tree["instance"][0]["id"] = "x"
    tree["subject"] = {"reference": "#c"}
    assert _errors(tree, "element-id") == []


def test_attachment_size_agrees_with_its_data() -> None:
    assert _errors(_with_attachment(data=DATA, size="5"), "attachment-size") == []
    assert _errors(_with_attachment(data=DATA, size="6"), "attachment-size") == [
        ("ImagingSelection.extension[0].value.ofType(Attachment)",
         "Stated Attachment Size 6 does not match actual attachment size 5")
    ]
    assert _errors(_with_attachment(size="6"), "attachment-size") == []  # no data: nothing to check


def test_attachment_hash_is_the_sha1_of_its_data() -> None:
    assert _errors(_with_attachment(data=DATA, hash=SHA1), "attachment-hash") == []
    [(where, message)] = _errors(_with_attachment(data=DATA, hash=DATA), "attachment-hash")
    assert where == "ImagingSelection.extension[0].value.ofType(Attachment)"
    assert f"actual: '{SHA1}'" in message


def test_a_restful_full_url_ends_with_its_resource_type_and_id() -> None:
    def bundle(full_url: str) -> dict:
        return {"resourceType": "Bundle", "type": "collection",
                "entry": [{"fullUrl": full_url, "resource": copy.deepcopy(EXAMPLE)}]}

    def errors(full_url: str) -> list[tuple[str, str]]:
        return [(i.expression, i.message) for i in run(bundle(full_url), RESOURCE_VALIDATORS).issues
                if i.rule == "bundle-fullurl"]

    good = f"http://example.org/fhir/ImagingSelection/{EXAMPLE['id']}"
    assert errors(good) == []
    assert errors(good + "/_history/2") == []
    assert errors("urn:uuid:6ac5d9a4-4f6f-4c9e-a1f4-1d2e0c3b4a5f") == []
    [(where, message)] = errors("http://example.org/fhir/ImagingSelection/other")
    assert where == "Bundle.entry[0]"
    assert message.endswith(f"(/ImagingSelection/{EXAMPLE['id']})")
