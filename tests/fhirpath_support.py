"""Shared by the tests of the FHIRPath compiler (``test_fhirpath_*.py``): the official packages,
the whole-core model, compiled invariants loaded as functions, and a walker that finds where each
invariant applies in a resource (what the generated validators will do once integrated).

Loading compiled source with ``exec`` happens here, in tests only: generated code imports its
invariants as plain functions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fhirgen.fhirpath import CompiledInvariant, invariants_for, type_table
from fhirgen.ir import Model, all_core_types, build_model
from fhirgen.loader import load_index
from fhirgen.packages import iter_package_files
from fhirgen.runtime import fhirpath as fp
from fhirgen.runtime.jsonio import loads

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("FHIRGEN_PACKAGE_CACHE", ROOT / ".cache" / "packages"))
CORE = CACHE / "hl7.fhir.r5.core-5.0.0.tgz"
EXAMPLES = CACHE / "hl7.fhir.r5.examples-5.0.0.tgz"
SHARED = Path(__file__).resolve().parents[2] / "shared"
FHIRPATH_SUITE = SHARED / "conformance" / "fhirpath-r5"


def need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path.name} not found in {path.parent} (CI fetches it)")


@cache
def core_index():  # type: ignore[no-untyped-def]
    need(CORE)
    return load_index([CORE])


@cache
def core_model() -> Model:
    index = core_index()
    return build_model(index, all_core_types(index))


@cache
def core_table() -> fp.TypeTable:
    return type_table(core_model())


def core_constraints() -> list[tuple[str, str, str, str]]:
    """(StructureDefinition URL, element path, key, expression) of every constraint in the core."""
    need(CORE)
    out = []
    for file in iter_package_files(CORE):
        if not file.name.startswith("StructureDefinition-"):
            continue
        sd = json.loads(file.data)
        for element in sd.get("snapshot", {}).get("element", []):
            for constraint in element.get("constraint", []):
                if constraint.get("expression"):
                    out.append((sd["url"], element["path"], constraint["key"],
                                constraint["expression"]))
    return out


def load_function(compiled: CompiledInvariant,
                  value_sets: dict[str, Any] | None = None) -> Callable[..., bool | None]:
    namespace: dict[str, Any] = {"fp": fp, "VALUE_SETS": value_sets or {}}
    exec(compile(compiled.source, f"<{compiled.name}>", "exec"), namespace)  # noqa: S102
    return namespace[compiled.name]


@dataclass(frozen=True)
class Site:
    """One place an invariant applies: the element node, its resource and root resource."""

    invariant: CompiledInvariant
    node: fp.Node
    resource: fp.Node
    root: fp.Node
    location: str


class Walker:
    """Every (invariant, node) of a resource, as a validator walking the tree would meet them."""

    def __init__(self, model: Model, table: fp.TypeTable) -> None:
        self.model = model
        self.table = table
        self._owners: dict[str, tuple[list[CompiledInvariant], dict[str, list[CompiledInvariant]]]] = {}
        self.functions: dict[tuple[str, str], Callable[..., bool | None]] = {}

    def owner(self, name: str):  # type: ignore[no-untyped-def]
        found = self._owners.get(name)
        if found is None:
            type_def = self.model.type(name)
            own: list[CompiledInvariant] = []
            by_element: dict[str, list[CompiledInvariant]] = {}
            for inv in invariants_for(type_def, self.model):
                if inv.context == type_def.name:
                    own.append(inv)
                else:
                    by_element.setdefault(inv.context, []).append(inv)
            found = self._owners[name] = (own, by_element)
        return found

    def function(self, inv: CompiledInvariant) -> Callable[..., bool | None]:
        key = (inv.name, inv.source)
        if key not in self.functions:
            self.functions[key] = load_function(inv)
        return self.functions[key]

    def sites(self, resource: dict[str, Any]) -> Iterator[Site]:
        node = fp.Node.resource(resource, self.table)
        yield from self._walk(node, node, node, node.type or "")

    def _walk(self, node: fp.Node, resource: fp.Node, root: fp.Node,
              location: str) -> Iterator[Site]:
        try:
            type_def = self.model.type(node.path or "")
        except KeyError:
            return
        own, by_element = self.owner(type_def.name)
        for inv in own:
            yield Site(inv, node, resource, root, location)
        for element in type_def.elements:
            kids = fp.child([node], element.name)
            for position, kid in enumerate(kids):
                where = f"{location}.{element.name}"
                if element.is_array:
                    where += f"[{position}]"
                for inv in by_element.get(f"{type_def.name}.{element.name}", ()):
                    yield Site(inv, kid, resource, root, where)
                if isinstance(kid.data, dict) and "resourceType" in kid.data:
                    contained = element.base_path == "DomainResource.contained"
                    yield from self._walk(kid, kid, root if contained else kid, where)
                else:
                    yield from self._walk(kid, resource, root, where)


def evaluate(walker: Walker, site: Site) -> bool | None:
    return walker.function(site.invariant)(site.node, site.resource, site.root)


@cache
def examples() -> tuple[tuple[str, dict[str, Any]], ...]:
    """The official R5 examples (file name, resource), JSON ones, in name order."""
    need(EXAMPLES)
    out = []
    for file in iter_package_files(EXAMPLES):
        try:
            resource = loads(file.data)
        except ValueError:
            continue
        if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
            out.append((file.name, resource))
    return tuple(out)
