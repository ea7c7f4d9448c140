"""Invariants compiled to plain Python booleans (presence tests only) give the verdict the general
compilation of the same expression gives, on every object of the examples and on mutations that
add and remove their children."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fhirgen.fhirpath import compile_expression, parse
from fhirgen.fhirpath.compiler import _presence_logic, _Types
from fhirgen.ir import build_model
from fhirgen.loader import load_index
from fhirgen.runtime import fhirpath as fp

ROOT = Path(__file__).resolve().parents[1]
MODEL = build_model(load_index([ROOT / "definitions"]), ["ImagingSelection"])


def _presence_invariants() -> list[tuple[str, str, str, Any, Any]]:
    """(type, key, expression, fast function, general function) of each presence-only invariant
    (its plain booleans, whether or not the compiled function uses them: one with a JSON form
    emits that, see tests/test_fhirpath_specialise.py)."""
    found = []
    types = _Types(MODEL)
    for type_def in MODEL.types:
        if type_def.is_primitive or type_def.is_backbone:
            continue
        for constraint in type_def.constraints:
            if not constraint.expression:
                continue
            logic = _presence_logic(parse(constraint.expression), types,
                                    types.context(type_def.name))
            if logic is None:
                continue
            fast = eval(f"lambda node, resource, root: {logic}", {"fp": fp})
            code, _state = compile_expression(constraint.key, constraint.expression,
                                              type_def.name, MODEL)
            general = eval(f"lambda node, resource, root: fp.result({code})", {"fp": fp})
            found.append((type_def.name, constraint.key, constraint.expression, fast, general))
    return found


def _variants(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The object, each child removed, each child's value swapped for its extension twin only."""
    yield data
    for key in list(data):
        smaller = {k: v for k, v in data.items() if k != key}
        yield smaller
        if not key.startswith("_") and not isinstance(data[key], (dict, list)):
            yield {**smaller, "_" + key: {"extension": [{"url": "http://x", "valueCode": "a"}]}}
            yield {**smaller, "_" + key: "not an object"}  # no item, as the navigation has it
    for extra in ("code", "display", "system", "value", "valueString", "extension", "reference"):
        yield {**data, extra: "x" if extra != "extension" else [{"url": "http://x"}]}


def _objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from _objects(item)


def test_presence_logic_agrees_with_the_general_compilation() -> None:
    invariants = _presence_invariants()
    assert {key for _t, key, *_ in invariants} >= {"cod-1", "ref-2", "ext-1", "ident-1"}
    examples = [json.loads(p.read_text(encoding="utf-8"))
                for p in sorted((ROOT / "definitions" / "hl7.fhir.r5.examples").glob("*.json"))]
    compared = 0
    for example in examples:
        for data in _objects(copy.deepcopy(example)):
            for variant in _variants(data):
                for type_name, key, expression, fast, general in invariants:
                    node = fp.Node(variant, None, type_name, type_name)
                    expected = general(node, node, node)
                    assert fast(node, node, node) is (expected is True), (key, expression, variant)
                    compared += 1
    assert compared > 10_000
