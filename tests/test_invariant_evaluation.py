"""The evaluation of invariant groups (``fhirgen.runtime.invariants.Invariants``) reports exactly
what evaluating every invariant on every value one by one reports.

The evaluation first runs the bare functions (JSON forms without nodes, then the others) and
reports only after one of them does not pass, by running the group again; this test compares it
with the plain algorithm (a node per value, :meth:`Invariants._evaluate` on each) for every group
of the generated invariants and of the imaging rules, on objects of every JSON kind: the same
issues (severity, code, rule, message, location) in the same order."""

from __future__ import annotations

import copy
import json
import random
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from test_fhirpath_specialise import ATOMS, LISTS, TWINS

from fhirgen.models import imaging_rules
from fhirgen.models import invariants as generated
from fhirgen.runtime import fhirpath as fp
from fhirgen.runtime.invariants import Invariants, _context
from fhirgen.runtime.issues import IssueList

ROOT = Path(__file__).resolve().parents[1]
RESOURCE = ROOT / "definitions" / "hl7.fhir.r5.examples" / \
    "ImagingSelection-example-basic-image-selection.json"
#: Groups the random inputs are sure to break (the others need richer ones: nested Quantities ...)
MUST_FAIL = {"INV_Coding", "INV_Identifier", "INV_Reference", "INV_Narrative_div", "INV_Quantity",
             "INV_Age", "INV_Period", "INV_ImagingSelection", "INV_DomainResource"} | {
    f"imaging ImagingSelection{path}" for path in (
        "", ".studyUid", ".instance.uid", ".instance.sopClass", ".instance.imageRegion2D",
        ".instance.imageRegion2D.coordinate", ".instance.imageRegion3D")}
Site = tuple[str, Invariants]  # (the element's JSON name or "" for the object itself, group)


def _groups() -> list[tuple[str, Site]]:
    found: list[tuple[str, Site]] = []
    for name, group in sorted(vars(generated).items()):
        if isinstance(group, Invariants) and "[x]" not in group.path:
            element = group.path.rpartition(".")[2] if group.type[:1].islower() else ""
            found.append((name, (element, group)))
    for _steps, element, group in imaging_rules.RULES.sites("warning"):
        found.append((f"imaging {group.path}", (element or "", group)))
    return found


@cache
def _resource() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RESOURCE.read_text(encoding="utf-8"))
    return data


def _issues(out: IssueList) -> list[tuple[str, ...]]:
    return [(i.severity, i.code, i.rule, i.message, i.expression) for i in out]


def _new_out() -> IssueList:
    out = IssueList()
    out.resources.append((_resource(), False))
    return out


def _plain_element(group: Invariants, node: dict[str, Any], name: str, out: IssueList) -> None:
    """Each value of *name*: a node and every invariant (the evaluation before it had passes)."""
    resource, root = _context(out, group.table)
    parent = fp.Node(node, None, None, None, resource, group.table)
    for index, item, item_ext in fp.indexed_pairs(node.get(name), node.get("_" + name)):
        focus = fp.Node(item, item_ext, group.type, group.path, parent, group.table)
        where = ("X", name) if index is None else (("X", name), index)
        group._evaluate(focus, resource or parent, root or parent, where, out)


def _plain_object(group: Invariants, node: dict[str, Any], out: IssueList) -> None:
    resource, root = _context(out, group.table)
    focus = fp.Node(node, None, group.type, group.path, resource, group.table)
    group._evaluate(focus, resource or focus, root or focus, "X", out)


def _objects(rng: random.Random, names: list[str], count: int) -> list[dict[str, Any]]:
    found = []
    for _ in range(count):
        data: dict[str, Any] = {}
        for name in names:
            if rng.random() < 0.6:
                data[name] = copy.deepcopy(rng.choice(ATOMS if rng.random() < 0.5 else LISTS))
            if rng.random() < 0.1:
                data["_" + name] = copy.deepcopy(rng.choice(TWINS))
        found.append(data)
    return found


def _names(group: Invariants) -> list[str]:
    """The element names of the group's type (the keys its invariants read)."""
    entry = group.table.elements.get(group.path)
    prefix = (entry[1] if entry else group.path) + "."
    return sorted({path[len(prefix):] for path in group.table.elements
                   if path.startswith(prefix) and "." not in path[len(prefix):]})


@pytest.mark.parametrize(("label", "site"), _groups(), ids=lambda value: str(value)[:60])
def test_groups_report_what_each_invariant_reports(label: str, site: Site) -> None:
    element, group = site
    rng = random.Random(label)
    if element and group.type[:1].islower():  # a primitive
        holders = [{element: value} for value in [*ATOMS, *LISTS]]
        holders += [{element: rng.choice(ATOMS + LISTS), "_" + element: rng.choice(TWINS)}
                    for _ in range(200)]
    elif element:  # objects of the element's type, single or in arrays
        objects = _objects(rng, _names(group), 1500)
        holders = [{element: obj if i % 3 else [obj, objects[i - 1], None]}
                   for i, obj in enumerate(objects)]
    else:
        holders = [{"holder": obj} for obj in _objects(rng, _names(group), 1500)]
        holders += [{"holder": value} for value in ATOMS if isinstance(value, dict)]
    failures = 0
    for holder in holders:
        fast, plain = _new_out(), _new_out()
        if element:
            group.check_element(holder, element, "X", fast)
            _plain_element(group, holder, element, plain)
        else:
            # as generated validators call it: `passes` first, `check` when it is not sure
            if group.passes(holder["holder"]) is not True:
                group.check(holder["holder"], "X", fast)
            _plain_object(group, holder["holder"], plain)
        assert _issues(fast) == _issues(plain), (label, holder)
        failures += bool(plain)
    if label in MUST_FAIL:
        assert failures, "some inputs break the group's invariants"
