"""The generated rule cases (``tests/generated/test_rules.py``), in FHIR XML where XML can say them.

Each case breaks one element rule in an official example (``fhirgen.testing``); here the broken
tree is written as FHIR XML and validated with ``validate_xml``. XML has no ``null``, no JSON kinds
for strings, no array/single distinction beyond repetition, so:

* ``remove``, ``bogus-code``, ``bad-target``, ``bad-target-concept`` and an empty primitive
  (``value=""``) keep their rule and location;
* ``unknown`` becomes an unknown element (``unknown-property`` on the parent, as in JSON);
* ``empty`` (an object) becomes an empty element (``xml-shape``);
* ``wrap`` (single value as an array) becomes the element repeated (``cardinality``);
* ``wrong-kind`` with text where a number belongs becomes a bad lexical form (``primitive``);
* ``null``, ``unwrap``, ``wrong-kind`` with a number for a string, a repeated ``Element.id``
  (an XML attribute) and an empty narrative ``div`` (XHTML, not text) have no XML form: skipped.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fhirgen.fhirxml import write_resource_xml
from fhirgen.models.xmlschema import validate_xml
from fhirgen.testing import find_parent, mutate
from tests.generated.test_rules import CASES, examples  # noqa: F401 - the fixture

XML_RULE = {"unknown": "unknown-property", "wrap": "cardinality", "wrong-kind": "primitive"}


def _xml_case(case: tuple[Any, ...]) -> str | None:
    """Why the case has no XML form, or None."""
    _test_id, keys, action, _rule, _at_parent, _array, _primitive, value, _shape = case
    if action in ("null", "unwrap"):
        return f"{action}: JSON only"
    if action == "wrong-kind" and not isinstance(value, str):
        return "a number where text belongs: XML values are all text"
    if action == "wrap" and keys[-1] == "id" and len(keys) > 1:
        return "Element.id is an XML attribute: it cannot repeat"
    if action == "empty" and keys[-1] == "div":
        return "an empty XHTML div: XML has no empty element in its place, only no element"
    return None


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_rule_in_xml(case: tuple[Any, ...], examples: list[dict[str, Any]]) -> None:  # noqa: F811
    _test_id, keys, action, rule, _at_parent, array, primitive, value, parent_arrays = case
    why = _xml_case(case)
    if why is not None:
        pytest.skip(why)
    found = find_parent(examples, keys[:-1], keys[-1], action == "remove", parent_arrays)
    if found is None:
        pytest.skip(f"no official example has {'.'.join(keys[:-1]) or 'the resource'}")
    tree, parent, where = found
    name = keys[-1]
    if action == "wrap":  # XML: the single element twice
        parent[name] = [copy.deepcopy(parent.get(name, "x")), copy.deepcopy(parent.get(name, "x"))]
        parent.pop("_" + name, None)
        expected, rule = f"{where}.{name}", "cardinality"
    else:
        expected = mutate(parent, where, name, action, array, primitive, value)
        rule = XML_RULE.get(action, rule)
        if action == "empty" and not primitive:
            rule = "xml-shape"
            expected = f"{expected}[0]" if array else expected
            if array:
                parent[name] = [{}]
    issues = validate_xml(write_resource_xml(tree)).issues  # dict order: the example's order
    assert any(issue.rule == rule and issue.expression == expected for issue in issues), (
        f"expected a {rule} issue at {expected}; got {[str(issue) for issue in issues]}"
    )
    located = [i for i in issues if i.rule == rule and i.expression == expected]
    assert all(i.line is not None for i in located)
