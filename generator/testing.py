"""Support for the generated rule tests: find where a rule applies in an example and break it.

A rule case (see ``fhirgen.validator_views.RuleCase``) names an element by its JSON keys below the
resource (``("instance", "uid")``). :func:`find_parent` finds the first object of the examples
that holds that element's parent (descending into arrays in order) and its FHIRPath location;
:func:`mutate` breaks the rule there and returns the location the validator must report.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

__all__ = ["find_parent", "mutate"]

PLACEHOLDER = "x"


def _objects(node: Any, keys: Sequence[str], where: str, labels: Sequence[str]
             ) -> list[tuple[dict[str, Any], str]]:
    if not keys:
        return [(node, where)] if isinstance(node, dict) else []
    if not isinstance(node, dict) or keys[0] not in node:
        return []
    child = node[keys[0]]
    at = f"{where}.{labels[0]}"
    if isinstance(child, list):
        found = []
        for i, item in enumerate(child):
            found.extend(_objects(item, keys[1:], f"{at}[{i}]", labels[1:]))
        return found
    return _objects(child, keys[1:], at, labels[1:])


def _shape(keys: Sequence[str], parent_arrays: Sequence[Any]) -> tuple[list[bool], list[str]]:
    """Each key's array flag and FHIRPath name: an entry of *parent_arrays* is the flag, or
    ``(flag, name)`` for a choice key (``valueQuantity`` is ``value.ofType(Quantity)``)."""
    arrays: list[bool] = []
    labels: list[str] = list(keys)
    for i, entry in enumerate(parent_arrays):
        if isinstance(entry, (tuple, list)):
            arrays.append(bool(entry[0]))
            if i < len(labels):
                labels[i] = str(entry[1])
        else:
            arrays.append(bool(entry))
    return arrays, labels


def find_parent(
    examples: Sequence[dict[str, Any]], parent_keys: Sequence[str], name: str, present: bool,
    parent_arrays: Sequence[bool | tuple[bool, str]] = (),
) -> tuple[dict[str, Any], dict[str, Any], str] | None:
    """(a copy of the example, the parent object in it, its location) or None if none has it.

    With *present*, the parent must hold *name* (to remove a required element). Otherwise, when
    no example has the parent, it is added to the first example (``parent_arrays`` tells which
    keys hold arrays, and the FHIRPath name of a choice key: see :func:`_shape`), so a rule
    inside a backbone or datatype no example uses is still tested.
    """
    arrays, labels = _shape(parent_keys, parent_arrays)
    for example in examples:
        tree = copy.deepcopy(example)
        for parent, where in _objects(tree, parent_keys, str(tree["resourceType"]), labels):
            if not present or name in parent:
                return tree, parent, where
    if present or not examples or len(parent_arrays) != len(parent_keys):
        return None
    tree = copy.deepcopy(examples[0])
    node: dict[str, Any] = tree
    where = str(tree["resourceType"])
    for key, label, is_array in zip(parent_keys, labels, arrays):
        child: dict[str, Any] = {}
        existing = node.get(key)
        if is_array:
            if isinstance(existing, list):
                existing.append(child)
                where = f"{where}.{label}[{len(existing) - 1}]"
            else:
                node[key] = [child]
                where = f"{where}.{label}[0]"
        else:
            node[key] = child
            where = f"{where}.{label}"
        node = child
    return tree, node, where


def mutate(parent: dict[str, Any], where: str, name: str, action: str, array: bool,
           primitive: bool, value: Any) -> str:
    """Break one rule of element *name* in *parent*; return the location to expect."""
    at = f"{where}.{name}"
    item = f"{at}[0]" if array else at

    def put(single: Any) -> None:
        parent[name] = [single] if array else single

    if action == "remove":
        del parent[name]
        parent.pop("_" + name, None)
        return where
    if action == "unknown":
        parent[name] = PLACEHOLDER
        return where
    if action == "wrap":
        parent[name] = [parent.get(name, PLACEHOLDER)]
        return at
    if action == "unwrap":
        current = parent.get(name)
        parent[name] = current[0] if isinstance(current, list) and current else PLACEHOLDER
        return at
    if action == "null":
        parent[name] = None
        return at
    if action in ("wrong-kind", "bogus-code"):
        put(value)
        return item
    if action == "empty":
        if primitive:
            put("")
            return item
        parent[name] = [] if array else {}
        return at
    if action == "text-only":  # a CodeableConcept without codes: binding rules apply
        put({"text": value})
        return item
    if action == "bad-target":
        put({"reference": value})
        return item + ".reference"
    if action == "bad-target-concept":  # CodeableReference: its reference's reference
        put({"reference": {"reference": value}})
        return item + ".reference.reference"
    raise ValueError(f"unknown action {action!r}")
