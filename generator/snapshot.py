"""Snapshots from differentials: the full element list of a StructureDefinition that has only a
differential (the specification's source files, most published profiles).

:func:`ensure_snapshots` returns the index with every missing snapshot filled in (a new index and
new dicts: the input is never changed); :func:`generate_snapshot` builds one. Both are pure. A
base that itself lacks a snapshot gets one first (recursively; a cycle is an error).

Specialisations (a new type, ``derivation = specialization``): the base's snapshot elements are
re-rooted at the new type (``DomainResource.text`` -> ``ImagingSelection.text``, each keeping its
``base``), the differential's root is merged onto the base's root, and each further differential
element is merged onto the inherited element of the same id or, when new, inserted at the end of
its parent's subtree, with ``base`` pointing at itself. A new element typed ``BackboneElement`` or
``Element`` gets that type's children (``id``, ``extension``, ``modifierExtension``) first. As the
FHIR core build does, a new element's invariants are ``ele-1`` (every element with a FHIR type;
``ext-1`` too for extensions) plus its own, sorted by key in natural order.

Constraint profiles (``derivation = constraint``): the base's snapshot is copied and each
differential element merged onto the element of the same id, in differential order:

* ids are normalised first: a renamed choice (``Observation.valueQuantity``) is the type slice
  ``Observation.value[x]:valueQuantity``;
* a slice (``Observation.component:SystolicBP``) that the base does not have is made from the
  sliced element (and its children), without its ``slicing``, and inserted after the sliced
  element's subtree and earlier slices; a choice type slice keeps only the type its name says;
* an element inside a datatype (``ImagingSelection.code.coding``) unfolds the datatype's own
  snapshot children under its parent (the type's profile when the element names one) first;
* merging: a value in the differential replaces the base's (cardinality, ``type`` with its target
  profiles, ``binding``, ``fixed[x]``/``pattern[x]``, ``mustSupport``, ``short``, ``definition``,
  ``slicing`` ...); ``constraint`` adds by key (a new one's ``source`` is the profile), and
  ``condition``, ``alias`` and ``mapping`` add to the base's; ``base`` is the base's.

An id in the differential that matches nothing is an error (:class:`SnapshotError`), as is a
differential that does not start at the type's root. Known simplifications (documented in
``tests/test_snapshot.py``, which compares with the official snapshots of the core package):
``mapping`` and other documentation-only properties are merged naively, re-slicing
(``a:b/c``) is not supported, and a choice element is not given a ``$this`` slicing
when a type slice is made.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from .ir import IRError
from .loader import DefinitionIndex

__all__ = ["SnapshotError", "ensure_snapshots", "generate_snapshot", "has_snapshot"]

SD_BASE = "http://hl7.org/fhir/StructureDefinition/"
SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
ELEMENT_URL = SD_BASE + "Element"
EXTENSION_URL = SD_BASE + "Extension"

#: Differential properties merged by adding to the base's instead of replacing it.
_ADDITIVE = frozenset({"constraint", "condition", "alias", "mapping"})
#: Properties never taken from the differential (they identify the element or come from the base).
_IDENTITY = frozenset({"id", "path", "base"})

Resolver = Callable[[str], dict[str, Any] | None]
Raw = dict[str, Any]


class SnapshotError(IRError):
    """A differential that cannot be turned into a snapshot (unknown element, missing base ...)."""


def has_snapshot(sd: Mapping[str, Any]) -> bool:
    return bool((sd.get("snapshot") or {}).get("element"))


# ----------------------------------------------------------------------------------- the index


def ensure_snapshots(index: DefinitionIndex) -> DefinitionIndex:
    """*index* itself when every StructureDefinition with a differential has a snapshot, else a
    copy whose StructureDefinitions without one have a generated snapshot."""
    missing = [
        url
        for url, res in index.resources.items()
        if res.get("resourceType") == "StructureDefinition"
        and not has_snapshot(res)
        and (res.get("differential") or {}).get("element")
    ]
    if not missing:
        return index
    built: dict[str, Raw] = {}
    building: list[str] = []

    def lookup(url: str) -> Raw | None:
        url = url.split("|", 1)[0]
        sd = index.get(url) if "/" in url else index.structure_definition(url)
        return None if sd is None else built.get(str(sd.get("url"))) or sd

    def resolve(url: str) -> Raw | None:
        url = url.split("|", 1)[0]
        sd = index.get(url) if "/" in url else index.structure_definition(url)
        if sd is None:
            return None
        key = str(sd.get("url", url))
        if has_snapshot(sd) or not (sd.get("differential") or {}).get("element"):
            return sd
        if key in built:
            return built[key]
        if key in building:
            raise SnapshotError(
                f"{key}: its base definitions form a cycle ({' -> '.join(building)})"
            )
        building.append(key)
        try:
            result = dict(sd)
            result["snapshot"] = {"element": generate_snapshot(sd, resolve, lookup)}
        finally:
            building.pop()
        built[key] = result
        return result

    resources = dict(index.resources)
    for url in sorted(missing):
        filled = resolve(url)
        if filled is not None:
            resources[url] = filled
    return replace(index, resources=resources)


# --------------------------------------------------------------------------- one definition


def generate_snapshot(
    sd: Mapping[str, Any], resolve: Resolver, lookup: Resolver | None = None
) -> list[Raw]:
    """The snapshot elements of *sd* built from its differential and its base's snapshot.

    *resolve* gives a StructureDefinition (with a snapshot) by canonical URL or core type name;
    *lookup* (default: *resolve*) gives one as it is, without building a snapshot: it is asked
    for the root invariants of ``Element`` and ``Extension``, which those need themselves.
    """
    url = str(sd.get("url", "?"))
    diff = [copy.deepcopy(e) for e in (sd.get("differential") or {}).get("element", ())]
    if not diff:
        raise SnapshotError(f"{url}: no snapshot and no differential to build one from")
    for element in diff:
        element.setdefault("id", element.get("path"))
        if not isinstance(element.get("path"), str):
            raise SnapshotError(f"{url}: differential element without a path")
    base_url = sd.get("baseDefinition")
    if not isinstance(base_url, str):  # Base itself: the differential is the whole definition
        return [_with_base(e) for e in diff]
    base = resolve(base_url)
    if base is None or not has_snapshot(base):
        raise SnapshotError(f"{url}: base {base_url} is not in the definitions")
    builder = _Builder(
        lookup or resolve,
        url,
        resolve,
        specialization=sd.get("derivation") != "constraint",
        new_resource=sd.get("derivation") != "constraint" and sd.get("kind") == "resource",
    )
    type_name = str(sd.get("type") or diff[0]["path"].split(".", 1)[0])
    specialization = builder.specialization
    base_root = base["snapshot"]["element"][0]["path"]
    builder.elements = [
        _rerooted(e, base_root, type_name, type_name, keep_slicing=not builder.new_resource)
        for e in base["snapshot"]["element"]
    ]
    for element in diff:
        if element["path"].split(".", 1)[0] != type_name:
            raise SnapshotError(
                f"{url}: differential element {element['id']} is not in type {type_name}"
            )
    builder.original = copy.deepcopy(builder.elements)
    if specialization and sd.get("kind") == "resource":  # ele-1 is about elements, not resources
        root = builder.elements[0]
        root["constraint"] = [c for c in root.get("constraint", ()) if c.get("key") != "ele-1"]
    for element in diff:
        builder.apply(element)
    if specialization:  # the new type's root is its own base
        root = builder.elements[0]
        root["base"] = {"path": type_name, "min": root.get("min", 0), "max": root.get("max", "*")}
    return builder.elements


def _with_base(element: Raw) -> Raw:
    element.setdefault(
        "base",
        {"path": element["path"], "min": element.get("min", 0), "max": element.get("max", "*")},
    )
    return element


def _rerooted(
    element: Raw, old_root: str, new_id_root: str, new_path_root: str, keep_slicing: bool = True
) -> Raw:
    """A copy of *element* moved from under *old_root* to under the new roots (``base`` kept).

    A new resource type does not inherit slicing (``extension`` is sliced by url in
    ``DomainResource``, not in ``ImagingSelection``; datatypes keep it): as the FHIR core build
    writes them.
    """
    result = copy.deepcopy(element)
    if not keep_slicing:
        result.pop("slicing", None)
    element_id = str(element.get("id", element["path"]))
    result["id"] = new_id_root + element_id[len(old_root) :]
    result["path"] = new_path_root + element["path"][len(old_root) :]
    return result


def _natural(key: str) -> tuple[Any, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key))


def _path_of(element_id: str) -> str:
    """The path of an element id: slice names dropped (``a:s.b`` -> ``a.b``)."""
    return ".".join(segment.split(":", 1)[0] for segment in element_id.split("."))


def _codes(element: Raw) -> list[str]:
    return [str(t.get("code", "")) for t in element.get("type", ())]


class _Builder:
    """The snapshot under construction: a list of elements, changed in place while building."""

    def __init__(
        self,
        lookup: Resolver,
        url: str,
        resolve: Resolver,
        specialization: bool,
        new_resource: bool,
    ) -> None:
        self.lookup = lookup
        self.url = url
        self.resolve = resolve
        self.specialization = specialization
        self.new_resource = new_resource
        self.elements: list[Raw] = []
        self.original: list[Raw] = []  # the base's elements, before any differential element

    # -- look-ups

    def _find(self, element_id: str) -> int | None:
        for position, element in enumerate(self.elements):
            if element.get("id") == element_id:
                return position
        return None

    def _subtree_end(self, element_id: str) -> int:
        """Index after the last element of *element_id*'s subtree (its children and slices)."""
        start = self._find(element_id)
        assert start is not None
        end = start + 1
        while end < len(self.elements):
            other = str(self.elements[end].get("id"))
            if not other.startswith((element_id + ".", element_id + ":")):
                break
            end += 1
        return end

    def _has_children(self, element_id: str) -> bool:
        position = self._find(element_id)
        nxt = (
            self.elements[position + 1]
            if position is not None and position + 1 < len(self.elements)
            else None
        )
        return nxt is not None and str(nxt.get("id")).startswith(element_id + ".")

    # -- ids

    def _normalise(self, element_id: str) -> tuple[str, str | None]:
        """Resolve renamed choices segment by segment (``valueQuantity`` ->
        ``value[x]:valueQuantity``; ``citeAs`` -> ``citeAs[x]``), in constraint profiles only.

        Returns the id and, when its last segment was a renamed choice, that choice's id.
        """
        if self.specialization:
            return element_id, None
        segments = element_id.split(".")
        result, renamed = segments[0], None
        for segment in segments[1:]:
            name, _, slice_name = segment.partition(":")
            candidate, renamed = f"{result}.{segment}", None
            if self._find(candidate) is None and self._find(f"{result}.{name}") is None:
                if self._find(f"{result}.{name}[x]") is not None:
                    candidate = f"{result}.{name}[x]" + (f":{slice_name}" if slice_name else "")
                else:
                    choice = self._choice_for(result, name)
                    if (
                        choice is not None and not slice_name
                    ):  # (re-slicing a type slice: unsupported)
                        candidate = f"{result}.{choice}:{name}"
                        renamed = f"{result}.{choice}"
            result = candidate
        return result, renamed

    def _choice_for(self, parent_id: str, name: str) -> str | None:
        self._unfold_if_needed(parent_id)
        for element in self.elements:
            other = str(element.get("id"))
            if (
                other.startswith(parent_id + ".")
                and other.endswith("[x]")
                and "." not in other[len(parent_id) + 1 :]
            ):
                stem = other[len(parent_id) + 1 : -3]
                rest = name[len(stem) :].lower()
                if (
                    name.startswith(stem)
                    and name[len(stem) :][:1].isupper()
                    and rest in {c.lower() for c in _codes(element)}
                ):
                    return stem + "[x]"
        return None

    # -- building

    def apply(self, diff: Raw) -> None:
        element_id, renamed = self._normalise(str(diff["id"]))
        position = self._find(element_id)
        if position is None:
            position = self._create(element_id, diff)
        elif self.specialization and position > 0 and "type" in diff:
            # a new type restates an inherited element with its type (``code.value``,
            # ``Extension.url``): the core build writes it afresh from the differential, keeping
            # only where it came from
            inherited = self.elements[position]
            fresh = {"id": element_id, "path": inherited["path"], "base": inherited.get("base")}
            constraints = self._implied_constraints(diff)
            if constraints:
                fresh["constraint"] = constraints
            self.elements[position] = fresh
        self.elements[position] = self._merge(self.elements[position], diff, element_id)
        if renamed is not None:
            self._type_sliced(renamed, self.elements[position])

    def _type_sliced(self, choice_id: str, slice_element: Raw) -> None:
        """A renamed choice (``valueQuantity``) slices ``value[x]`` by type; a required one
        (``min`` 1) also narrows ``value[x]`` to that type, closed, as the HL7 tools do."""
        position = self._find(choice_id)
        assert position is not None
        choice = self.elements[position]
        required = int(slice_element.get("min", 0)) >= 1
        if required:
            wanted = {str(t.get("code")) for t in slice_element.get("type", ())}
            choice["type"] = [
                t for t in choice.get("type", ()) if t.get("code") in wanted
            ] or choice.get("type", [])
            choice["min"] = max(int(choice.get("min", 0)), int(slice_element.get("min", 0)))
        choice.setdefault(
            "slicing",
            {
                "discriminator": [{"type": "type", "path": "$this"}],
                "ordered": False,
                "rules": "closed" if required else "open",
            },
        )

    def _create(self, element_id: str, diff: Raw) -> int:
        parent_id, _, last = element_id.rpartition(".")
        name, _, slice_name = last.partition(":")
        if slice_name:
            return self._slice(f"{parent_id}.{name}" if parent_id else name, slice_name, diff)
        if not parent_id or self._find(parent_id) is None:
            # the parent may itself be a slice or choice not written in the differential
            raise SnapshotError(
                f"{self.url}: differential element {diff['id']} has no parent {parent_id}"
            )
        if self._unfold_if_needed(parent_id):
            position = self._find(element_id)
            if position is not None:
                return position
        if not self.specialization:
            raise SnapshotError(f"{self.url}: differential element {diff['id']} is not in the base")
        return self._new_element(element_id, parent_id, diff)

    def _new_element(self, element_id: str, parent_id: str, diff: Raw) -> int:
        element: Raw = {"id": element_id, "path": _path_of(element_id)}
        element["base"] = {
            "path": element["path"],
            "min": diff.get("min", 0),
            "max": diff.get("max", "*"),
        }
        constraints = self._implied_constraints(diff)
        if constraints:
            element["constraint"] = constraints
        position = self._subtree_end(parent_id)
        self.elements.insert(position, element)
        codes = _codes(diff)
        if codes and set(codes) <= {"BackboneElement", "Element"}:
            self._unfold(position, codes[0])
        return position

    def _implied_constraints(self, diff: Raw) -> list[Raw]:
        """``ele-1`` (and ``ext-1``) as the FHIR core build gives every new element with a type."""
        codes = _codes(diff)
        if diff.get("contentReference"):
            codes = ["Element"]
        result: list[Raw] = []
        if any(c and not c.startswith(SYSTEM_PREFIX) and c != "Resource" for c in codes):
            result += self._root_constraints(ELEMENT_URL, {"ele-1"})
        if "Extension" in codes:
            result += self._root_constraints(EXTENSION_URL, {"ext-1"})
        return result

    def _root_constraints(self, url: str, keys: set[str]) -> list[Raw]:
        sd = self.lookup(url)
        if sd is None:
            return []
        part = "snapshot" if has_snapshot(sd) else "differential"
        root = ((sd.get(part) or {}).get("element") or [{}])[0]
        return [copy.deepcopy(c) for c in root.get("constraint", ()) if c.get("key") in keys]

    def _slice(self, sliced_id: str, slice_name: str, diff: Raw) -> int:
        start = self._find(sliced_id)
        if start is None:
            raise SnapshotError(f"{self.url}: slice {diff['id']} of an unknown element {sliced_id}")
        end = self._subtree_end(sliced_id)
        # the sliced element and its descendants as the base has them (not earlier slices):
        # what the differential says of the sliced element itself is not inherited by its slices
        source = (
            self.original if any(e.get("id") == sliced_id for e in self.original) else self.elements
        )
        template = [
            e
            for e in source
            if e.get("id") == sliced_id or str(e.get("id")).startswith(sliced_id + ".")
        ]
        copies = []
        for item in template:
            clone = copy.deepcopy(item)
            clone["id"] = f"{sliced_id}:{slice_name}" + str(item["id"])[len(sliced_id) :]
            copies.append(clone)
        head = copies[0]
        head.pop("slicing", None)
        head["sliceName"] = slice_name
        if sliced_id.endswith("[x]"):  # a type slice: valueQuantity keeps Quantity only
            stem = sliced_id.rsplit(".", 1)[-1][:-3]
            wanted = slice_name[len(stem) :].lower()
            head["type"] = [
                t for t in head.get("type", ()) if str(t.get("code", "")).lower() == wanted
            ] or head.get("type", [])
        self.elements[end:end] = copies
        return end

    def _unfold_if_needed(self, element_id: str) -> bool:
        """Give *element_id* its type's children when it has none yet; True when it did."""
        position = self._find(element_id)
        if position is None or self._has_children(element_id):
            return False
        element = self.elements[position]
        codes = sorted(set(_codes(element)))
        if len(codes) != 1 or codes[0].startswith(SYSTEM_PREFIX):
            return False
        profiles = [p for t in element.get("type", ()) for p in t.get("profile", ())]
        return self._unfold(position, codes[0], profiles[0] if len(profiles) == 1 else None)

    def _unfold(self, position: int, code: str, profile: str | None = None) -> bool:
        element = self.elements[position]
        type_sd = (self.resolve(profile) if profile else None) or self.resolve(code)
        if type_sd is None or not has_snapshot(type_sd):
            if profile is None and self.resolve(code) is None:
                raise SnapshotError(
                    f"{self.url}: type {code} of {element['id']} is not in the definitions"
                )
            return False
        type_elements = type_sd["snapshot"]["element"]
        root = str(type_elements[0]["path"])
        children = [
            _rerooted(
                self._origin(e),
                str(self._origin(e)["path"]).rsplit(".", 1)[0],
                str(element["id"]),
                str(element["path"]),
                not self.new_resource,
            )
            if self.specialization
            else _rerooted(e, root, str(element["id"]), str(element["path"]))
            for e in type_elements[1:]
        ]
        self.elements[position + 1 : position + 1] = children
        return bool(children)

    def _origin(self, element: Raw) -> Raw:
        """The element where it is defined (``BackboneElement.id`` -> ``Element.id``): a new
        type's backbone elements take their ``id`` and ``extension`` from there, as the core
        build does (``BackboneElement``'s own snapshot says ``id`` where ``Element`` says
        ``string``)."""
        base_path = str((element.get("base") or {}).get("path", ""))
        if "." not in base_path or base_path.count(".") != 1:
            return element
        origin = self.resolve(base_path.split(".", 1)[0])
        if origin is None or not has_snapshot(origin):
            return element
        for candidate in origin["snapshot"]["element"]:
            if candidate.get("id") == base_path:
                found: Raw = candidate
                return found
        return element

    def _merge(self, target: Raw, diff: Raw, element_id: str) -> Raw:
        result = copy.deepcopy(target)
        # the root's invariants, and those of a new type's own elements, in natural key order
        sort = "." not in element_id or (self.specialization and _own(target))
        for key, value in diff.items():
            if key in _IDENTITY:
                continue
            if key == "constraint":
                result["constraint"] = self._constraints(result.get("constraint", ()), value, sort)
            elif key in _ADDITIVE:
                result[key] = _union(result.get(key, ()), value)
            else:
                if _value_kind(key):  # one fixed[x] or pattern[x] at a time
                    for old in [k for k in result if _value_kind(k)]:
                        del result[old]
                result[key] = copy.deepcopy(value)
            if key == "type" and not self.specialization:
                # a profile named on the type brings its invariants (SimpleQuantity: sqty-1)
                profiles = [p for t in value for p in t.get("profile", ())]
                profile = self.resolve(profiles[0]) if len(profiles) == 1 else None
                if profile is not None and has_snapshot(profile):
                    implied = profile["snapshot"]["element"][0].get("constraint", ())
                    result["constraint"] = self._constraints(
                        result.get("constraint", ()), implied, False
                    )
        result["id"] = element_id
        result["path"] = _path_of(element_id)
        return result

    def _constraints(self, existing: Iterable[Raw], added: Iterable[Raw], sort: bool) -> list[Raw]:
        """Invariants by key: same key replaced in place, new keys appended (natural key order
        for the elements a specialisation defines, as the FHIR core build writes them)."""
        result = {str(c.get("key")): copy.deepcopy(c) for c in existing}
        for constraint in added:
            item = copy.deepcopy(constraint)
            item.setdefault("source", self.url)
            result[str(item.get("key"))] = item
        if not sort:
            return list(result.values())
        return sorted(result.values(), key=lambda c: _natural(str(c.get("key"))))


def _value_kind(key: str) -> bool:
    """Whether *key* is a ``fixed[x]`` or ``pattern[x]`` property (``fixedUri``, ``patternCoding``)."""
    for prefix in ("fixed", "pattern"):
        if key.startswith(prefix) and key[len(prefix) :][:1].isupper():
            return True
    return False


def _own(element: Raw) -> bool:
    """Whether a specialisation defines *element* itself (its base is its own path)."""
    return (element.get("base") or {}).get("path") == element.get("path")


def _union(existing: Iterable[Any], added: Iterable[Any]) -> list[Any]:
    result = [copy.deepcopy(x) for x in existing]
    for item in added:
        if item not in result:
            result.append(copy.deepcopy(item))
    return result
