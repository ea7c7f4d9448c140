"""Hypothesis strategies for ImagingSelection resources, drawn from the facts of the definitions
and the generated package, never from a hand-written shape.

* The shape (elements, cardinality, types, choice elements, backbones, required bindings and the
  codes of their expanded value sets) comes from the intermediate model built from
  ``definitions/`` (:func:`fhirgen.ir.build_model`, the model the package was generated from).
* Primitive values come from the generated package's own primitive checkers
  (``fhirgen.models.validators.P_<type>``): drawn from the regex of the type's StructureDefinition
  and kept only when the checker accepts them (the rules no regex states: real dates, 32-bit
  integers, no leading whitespace in a code ...).
* :func:`valid_resources` gives trees the validators must accept without an error. What a random
  but valid resource cannot be given blindly is restricted, each for a stated rule: a Period has
  ``start`` or ``end`` (per-1 orders them), a Reference is a literal reference to one of its
  allowed target types or a display (ref-1/ref-2 and the target check), element ``id`` and
  ``extension`` are left out (ids must be unique in a resource; ext-1), as are the resource's
  ``contained``, ``text``, ``meta`` and ``language`` (other resources, XHTML, profile claims and a
  value set with no expansion offline).
* :func:`mutated` breaks one valid resource in one of the ways a rule forbids and says where the
  issue must be reported.
* :func:`json_values` is arbitrary JSON (any nesting of any value), for "never raises".
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from fhirgen.ir import Element, Model, TypeDef, build_model
from fhirgen.loader import load_index
from fhirgen.models import validators as generated
from fhirgen.runtime.jsonio import FhirDecimal

ROOT = Path(__file__).resolve().parents[1]
RESOURCE = "ImagingSelection"
#: Elements a random valid resource leaves out (see the module docstring for why).
SKIPPED = frozenset({"id", "extension", "modifierExtension"})
SKIPPED_AT_ROOT = frozenset({"contained", "text", "meta", "language", "implicitRules"})
#: Complex values nest at most this deep below the resource (Identifier.assigner ... recursion).
MAX_NESTING = 4
#: Text characters: printable, no surrogates or controls (the checkers would reject those).
TEXT = st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs"))
ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


@functools.cache
def model() -> Model:
    """The intermediate model of ImagingSelection's closure (built once, about 0.2 s)."""
    return build_model(load_index([ROOT / "definitions"]), [RESOURCE])


# ---------------------------------------------------------------------------------- primitives


def primitive_checker(code: str) -> Any:
    """The generated package's checker of a primitive type (``P_code``, ``P_dateTime`` ...)."""
    return getattr(generated, f"P_{code}")


@functools.cache
def primitive_values(code: str) -> st.SearchStrategy[Any]:
    """JSON values of primitive type *code* its checker accepts."""
    prim = primitive_checker(code)
    if prim.kind == "boolean":
        return st.booleans()
    regex = prim.regex.removeprefix("^").removesuffix("$")
    alphabet = ASCII if prim.kind == "number" or code not in ("string", "markdown") else TEXT
    texts = st.from_regex(regex, fullmatch=True, alphabet=alphabet)
    if code in ("string", "markdown"):
        texts = texts.map(str.strip).filter(bool)
    if prim.kind == "number":
        convert: Callable[[str], Any] = FhirDecimal if code == "decimal" else int
        values = texts.filter(lambda text: len(text) < 30).map(convert)
    else:
        values = texts.filter(lambda text: len(text) < 200)
    return values.filter(lambda value: prim.check(value) is None)


# ---------------------------------------------------------------------------------- the shape


@dataclass(frozen=True)
class Slot:
    """One JSON property an element gives: its JSON name and the one type it holds there."""

    json_name: str
    element: Element
    type_code: str


def slots(type_def: TypeDef) -> list[list[Slot]]:
    """Each element's JSON properties (several for a choice element, one of which is used)."""
    result = []
    for element in type_def.elements:
        if element.name in SKIPPED or not element.types:
            continue
        if type_def.is_resource and element.name in SKIPPED_AT_ROOT:
            continue
        if element.is_choice:
            result.append([Slot(element.name + t.code[:1].upper() + t.code[1:], element, t.code)
                           for t in element.types])
        else:
            result.append([Slot(element.name, element, element.types[0].code)])
    return result


def _required_codes(element: Element) -> tuple[Any, ...] | None:
    binding = element.binding
    if binding is None or binding.strength != "required" or binding.value_set is None:
        return None
    value_set = model().value_set(binding.value_set)
    if value_set is None or not value_set.expanded or not value_set.concepts:
        return None
    return tuple(c for c in value_set.concepts if not c.abstract and not c.inactive)


def _value(slot: Slot, depth: int) -> st.SearchStrategy[Any]:
    element, code = slot.element, slot.type_code
    concepts = _required_codes(element)
    if concepts is not None and code == "code":
        return st.sampled_from([c.code for c in concepts])
    if concepts is not None and code in ("Coding", "CodeableConcept"):
        coding = st.sampled_from(concepts).map(lambda c: {"system": c.system, "code": c.code})
        return coding if code == "Coding" else coding.map(lambda c: {"coding": [c]})
    if code == "BackboneElement" and element.backbone:
        return objects(element.backbone, depth + 1)
    if code == "Reference":
        return references(element)
    if code == "Period":
        return st.one_of(primitive_values("dateTime").map(lambda v: {"start": v}),
                         primitive_values("dateTime").map(lambda v: {"end": v}))
    type_def = model().type(code)
    if type_def.is_primitive:
        return primitive_values(code)
    return objects(code, depth + 1)


def references(element: Element) -> st.SearchStrategy[dict[str, Any]]:
    """A literal reference to a type the element allows, or a display."""
    targets = sorted({url.rsplit("/", 1)[-1] for t in element.types for url in t.target_profiles})
    display = primitive_values("string").map(lambda text: {"display": text})
    if not targets or "Resource" in targets:
        return display
    literal = st.tuples(st.sampled_from(targets), primitive_values("id")).map(
        lambda pair: {"reference": f"{pair[0]}/{pair[1]}"})
    return st.one_of(literal, display)


def _occurrences(slot: Slot, depth: int, count: int) -> st.SearchStrategy[Any]:
    value = _value(slot, depth)
    if slot.element.max == 1:
        return value
    return st.lists(value, min_size=count, max_size=max(count, 2))


@st.composite
def _object(draw: st.DrawFn, type_name: str, depth: int) -> dict[str, Any]:
    groups = slots(model().type(type_name))
    required = [group for group in groups if group[0].element.min > 0]
    optional = [group for group in groups if group[0].element.min == 0]
    if depth >= MAX_NESTING:  # deep enough: required elements, else one primitive
        optional = [group for group in optional if _is_primitive(group[0])]
    chosen = list(required)
    if optional:
        names = draw(st.sets(st.sampled_from(range(len(optional))),
                             min_size=0 if required else 1, max_size=min(len(optional), 6)))
        chosen += [optional[i] for i in sorted(names)]
    tree: dict[str, Any] = {}
    for group in chosen:
        slot = draw(st.sampled_from(group))
        tree[slot.json_name] = draw(_occurrences(slot, depth, max(slot.element.min, 1)))
    return tree


def _is_primitive(slot: Slot) -> bool:
    return slot.type_code[:1].islower()


@functools.cache
def objects(type_name: str, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects of a complex type or backbone (by name or path): required elements always,
    some others."""
    return st.deferred(lambda: _object(type_name, depth))


def valid_resources() -> st.SearchStrategy[dict[str, Any]]:
    """ImagingSelection trees with no error (warnings allowed: dom-6 asks for a narrative)."""
    return objects(RESOURCE).map(lambda tree: {"resourceType": RESOURCE, **tree})


# ---------------------------------------------------------------------------------- mutations


@dataclass(frozen=True)
class Mutation:
    """A broken resource and where its issue must be: an error at ``where`` (a FHIRPath), or on
    ``parent`` naming the property ``key`` (how missing and unknown properties are reported)."""

    kind: str
    tree: dict[str, Any]
    where: str
    parent: str
    key: str | None
    rule: str | None = None  # the rule that must fire, when only one can


@dataclass(frozen=True)
class Place:
    """A property of a tree: its JSON path, its FHIRPath and its parent object's FHIRPath."""

    path: tuple[Any, ...]
    where: str
    parent: str


@functools.cache
def choice_paths() -> dict[str, str]:
    """JSON name of each choice property -> its FHIRPath step (``value.ofType(Quantity)``)."""
    return {slot.json_name: f"{slot.element.name}.ofType({slot.type_code})"
            for type_def in model().types for backbone in type_def.all_types()
            for group in slots(backbone) if len(group) > 1 for slot in group}


def places(tree: dict[str, Any]) -> list[Place]:
    """Every property below the resource (array items too), with its FHIRPath."""
    found: list[Place] = []
    steps = choice_paths()
    stack: list[tuple[Any, tuple[Any, ...], str]] = [(tree, (), RESOURCE)]
    while stack:
        node, path, where = stack.pop()
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if key == "resourceType":
                continue
            child = f"{where}.{steps.get(key, key)}"
            found.append(Place((*path, key), child, where))
            if isinstance(value, list):
                for i, item in enumerate(value):
                    found.append(Place((*path, key, i), f"{child}[{i}]", where))
                    stack.append((item, (*path, key, i), f"{child}[{i}]"))
            else:
                stack.append((value, (*path, key), child))
    return found


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        tree = tree[step]
    return tree


MUTATIONS = ("drop-required", "bad-code", "extra-property", "wrong-type", "empty-string",
             "array-for-single", "single-for-array")


@st.composite
def mutated(draw: st.DrawFn, kinds: tuple[str, ...] = MUTATIONS) -> Mutation:
    """A valid resource broken once, with where the break must be reported."""
    broken = copy.deepcopy(draw(valid_resources()))
    kind = draw(st.sampled_from(kinds))
    found = places(broken)
    if kind == "drop-required":
        group = draw(st.sampled_from([g for g in slots(model().type(RESOURCE))
                                      if g[0].element.min > 0]))
        for slot in group:
            broken.pop(slot.json_name, None)
        name = group[0].element.name
        return Mutation(kind, broken, f"{RESOURCE}.{name}", RESOURCE, name, "cardinality")
    if kind == "bad-code":
        broken["status"] = draw(st.sampled_from(["bogus", "AVAILABLE", "cancelled", "avail able"]))
        return Mutation(kind, broken, f"{RESOURCE}.status", RESOURCE, "status")
    if kind == "extra-property":
        owners = [Place((), RESOURCE, "")] + [p for p in found if isinstance(_get(broken, p.path), dict)]
        owner = draw(st.sampled_from(owners))
        name = "zz" + draw(st.text(st.characters(min_codepoint=0x61, max_codepoint=0x7A), min_size=1, max_size=8))
        _get(broken, owner.path)[name] = 1
        return Mutation(kind, broken, f"{owner.where}.{name}", owner.where, name,
                        "unknown-property")
    scalars = [p for p in found if not isinstance(_get(broken, p.path), (dict, list))]
    pool = {
        "wrong-type": scalars,
        "empty-string": [p for p in scalars if isinstance(_get(broken, p.path), str)],
        "array-for-single": [p for p in found if not isinstance(p.path[-1], int)
                             and not isinstance(_get(broken, p.path), list)],
        "single-for-array": [p for p in found if isinstance(_get(broken, p.path), list)],
    }[kind]
    if not pool:  # status is always there, single and a string
        pool = [Place(("status",), f"{RESOURCE}.status", RESOURCE)]
        kind = "empty-string" if kind != "array-for-single" else kind
    place = draw(st.sampled_from(pool))
    parent = _get(broken, place.path[:-1])
    value = parent[place.path[-1]]
    parent[place.path[-1]] = {
        "wrong-type": lambda: {"value": value},
        "empty-string": lambda: "",
        "array-for-single": lambda: [value],
        "single-for-array": lambda: value[0],
    }[kind]()
    key = place.path[-1] if isinstance(place.path[-1], str) else None
    return Mutation(kind, broken, place.where, place.parent, key)


# ---------------------------------------------------------------------------------- any JSON


def json_values(max_leaves: int = 30) -> st.SearchStrategy[Any]:
    """Any JSON value: scalars (huge and tiny numbers, odd strings) nested in arrays and objects,
    with FHIR-looking keys mixed in so the validators go past the root."""
    keys = st.one_of(st.text(max_size=8), st.sampled_from(
        ["resourceType", "status", "code", "instance", "uid", "_status", "extension", "url",
         "valueString", "coding", "system", "subject", "reference", "id", "contained", "entry"]))
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
        st.text(), st.sampled_from(["ImagingSelection", "Bundle", "available", "", " ", "#x"]))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
        max_leaves=max_leaves)


def resource_like() -> st.SearchStrategy[dict[str, Any]]:
    """Objects that claim to be an ImagingSelection (or a Bundle) with arbitrary content."""
    return st.tuples(st.sampled_from(["ImagingSelection", "Bundle"]),
                     st.dictionaries(st.sampled_from(
                         ["status", "code", "instance", "subject", "_status", "entry", "text",
                          "contained", "extension", "identifier", "focus"]), json_values())
                     ).map(lambda pair: {"resourceType": pair[0], **pair[1]})
