"""The helpers generated profile validators call (``fhirgen.models.profiles``), and how a profile
joins the base validation.

A profile (a StructureDefinition with ``derivation = constraint``) only narrows its base type, so
a resource is validated against the base type first, by the ordinary generated validator, and then
against what the profile adds: each generated profile function is straight-line, one call per
fact the profile states beyond its base, on a :class:`Rules` object that names the profile in
every issue:

* ``R.card(node, names, label, path, out, min, max)``: narrowed cardinality (rule ``cardinality``);
* ``R.types(node, name, allowed, path, out)``: a choice narrowed to fewer types (``profile-type``);
* ``R.fixed(value, at, out, expected)`` and ``R.pattern(...)``: ``fixed[x]`` (the value is exactly
  this; ``id`` and ``extension`` aside) and ``pattern[x]`` (the value holds at least this: every
  property of the pattern, every item of a pattern array matched by some item) (``fixed``,
  ``pattern``);
* ``R.binding(value, at, out, value_set, strength)``: a stronger or other binding (``binding``);
* ``R.targets(value, at, out, types)``: narrowed reference targets (``reference-target``);
* ``R.each(node, name, path, out, function)``: an element whose values the profile constrains
  further (its children, its value), each value handed to the element's own function;
* ``R.slices(node, name, path, out, slicing)``: slicing (rule ``slicing``): each item goes to the
  first slice whose discriminators all match, then is checked by the slice's function; each
  slice's cardinality is checked on the items it got; ``closed`` slicing rejects items no slice
  takes, ``openAtEnd`` wants them after the sliced ones, ``ordered`` wants the slices in order.

Discriminators (:class:`Slice` ``match``: ``(kind, path, expected)``) follow FHIR's: ``fixed`` and
``pattern`` (from ``value``/``pattern`` discriminators: the slice's fixed or pattern value at the
path), ``exists`` (whether the path has a value), ``type`` (the type at the path: a resource's
``resourceType``, a reference's target type for ``resolve()``, a choice's type suffix) and
``profile`` (an extension's ``url``; for ``resolve()``, a contained resource's ``meta.profile``).
Paths are the simple FHIRPath discriminators use: ``$this``, dotted names, ``extension('url')``
and a final ``resolve()``. A reference outside the resource cannot be resolved offline: for
``type`` the type written in the reference is used (``ServiceRequest/1``), for ``profile`` it
matches no slice.

Locations, severities and the issue shape are the base validators' (``fhirgen.runtime.validate``).
:func:`with_profiles` makes the validators mapping ``run()`` takes, with profiles added: those
asked for (``fhirgen validate --profile URL``) and those a resource claims in ``meta.profile``
when the package generated them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from .issues import Issue, IssueList
from .validate import Loc, Validator, ValueSet, location

__all__ = [
    "Profile",
    "Rules",
    "Slice",
    "Slicing",
    "UnknownProfileError",
    "package_validators",
    "with_profiles",
]

ItemCheck = Callable[[Any, Loc, IssueList], None]
MISSING: Any = object()

_REST_REFERENCE = re.compile(
    r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?\Z"
)
_EXTENSION = re.compile(r"extension\('([^']*)'\)\Z")
_OF_TYPE = re.compile(r"ofType\(([A-Za-z0-9]+)\)\Z")


def _add(out: IssueList, severity: str, code: str, rule: str, message: str, where: Loc,
         key: str | None = None) -> None:
    out.append(Issue(severity, code, rule, message, location(where), None, None, key))


def _values(node: Any, name: str, path: Loc) -> list[tuple[Any, Loc]]:
    """(value, location) of each value of *name* in *node* (a primitive's ``_name`` counts)."""
    if not isinstance(node, dict):
        return []
    value = node.get(name, MISSING)
    twin = node.get("_" + name, MISSING)
    if value is MISSING and twin is MISSING:
        return []
    where = (path, name)
    if isinstance(value, list) or isinstance(twin, list):
        values = value if isinstance(value, list) else []
        twins = twin if isinstance(twin, list) else []
        return [(values[i] if i < len(values) else None, (where, i))
                for i in range(max(len(values), len(twins)))]
    return [(None if value is MISSING else value, where)]


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)):
        import json

        return json.dumps(value, default=str)
    return str(value)


def _same(actual: Any, expected: Any) -> bool:
    """Primitive equality as FHIR sees it: numbers by value, whatever their JSON spelling."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    if isinstance(expected, (int, float, Decimal)) and isinstance(actual, (int, float, Decimal)):
        return Decimal(str(actual)) == Decimal(str(expected))
    return bool(actual == expected)


def equals_fixed(actual: Any, expected: Any) -> bool:
    """``fixed[x]``: exactly the expected value; an object may add only ``id`` and extensions."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        extra = set(actual) - set(expected) - {"id", "extension", "modifierExtension"}
        return not extra and all(k in actual and equals_fixed(actual[k], v)
                                 for k, v in expected.items())
    if isinstance(expected, (list, tuple)):  # generated literals write arrays as tuples
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(equals_fixed(a, e) for a, e in zip(actual, expected, strict=True)))
    return _same(actual, expected)


def matches_pattern(actual: Any, expected: Any) -> bool:
    """``pattern[x]``: every property of the pattern present and matching; every item of a
    pattern array matched by some item of the value."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and matches_pattern(actual[k], v) for k, v in expected.items()
        )
    if isinstance(expected, (list, tuple)):
        items = actual if isinstance(actual, list) else [actual]
        return all(any(matches_pattern(a, e) for a in items) for e in expected)
    return _same(actual, expected)


# ----------------------------------------------------------------------------- discriminators


def _steps(path: str) -> list[str]:
    return [] if path in ("$this", "") else [s for s in re.split(r"\.(?![^(]*\))", path) if s]


def _follow(item: Any, path: str) -> list[Any]:
    """The values *path* (a discriminator's simple FHIRPath, without ``resolve()``) gives."""
    current = [item]
    for step in _steps(path):
        found: list[Any] = []
        ext = _EXTENSION.match(step)
        for value in current:
            if not isinstance(value, dict):
                continue
            if ext is not None:
                found.extend(e for e in value.get("extension", ()) or ()
                             if isinstance(e, dict) and e.get("url") == ext.group(1))
                continue
            of_type = _OF_TYPE.match(step)
            if of_type is not None:
                found.append(value)  # the type was chosen by the JSON name before
                continue
            child = value.get(step, MISSING)
            if child is MISSING:
                # a choice: valueQuantity for `value`
                child = next((v for k, v in value.items()
                              if k.startswith(step) and k[len(step):][:1].isupper()), MISSING)
            if child is MISSING:
                continue
            found.extend(child if isinstance(child, list) else [child])
        current = found
    return current


def _reference_type(value: Any, out: IssueList) -> str | None:
    reference = value.get("reference") if isinstance(value, dict) else None
    if isinstance(reference, dict):  # CodeableReference
        reference = reference.get("reference")
    if not isinstance(reference, str):
        return None
    if reference.startswith("#"):
        return (out.contained or {}).get(reference[1:])
    match = _REST_REFERENCE.search(reference)
    return match.group(1) if match else None


def _contained(value: Any, out: IssueList) -> dict[str, Any] | None:
    reference = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(reference, str) or not reference.startswith("#") or not out.resources:
        return None
    for item in out.resources[-1][0].get("contained", ()) or ():
        if isinstance(item, dict) and item.get("id") == reference[1:]:
            return item
    return None


def _claims(resource: Any) -> list[str]:
    meta = resource.get("meta") if isinstance(resource, dict) else None
    found = meta.get("profile") if isinstance(meta, dict) else None
    return [p.split("|", 1)[0] for p in found if isinstance(p, str)] if isinstance(found, list) else []


def _matches(item: Any, kind: str, path: str, expected: Any, out: IssueList) -> bool:
    resolve = path == "resolve()" or path.endswith(".resolve()")
    inner = path[: -len("resolve()")].rstrip(".") if resolve else path
    values = _follow(item, inner)
    if kind == "fixed":
        return any(equals_fixed(v, expected) for v in values)
    if kind == "pattern":
        return any(matches_pattern(v, expected) for v in values)
    if kind == "exists":
        return bool(values) is expected
    if kind == "type":
        for value in values:
            if resolve:
                found = _reference_type(value, out)
            elif isinstance(value, dict) and isinstance(value.get("resourceType"), str):
                found = value["resourceType"]
            else:
                found = None
            if found in expected:
                return True
        return False
    if kind == "profile":
        for value in values:
            if resolve:
                target = _contained(value, out)
                if target is not None and set(_claims(target)) & set(expected):
                    return True
            elif isinstance(value, dict) and value.get("url") in expected:
                return True
        return False
    raise ValueError(f"unknown discriminator kind {kind!r}")


class Slice:
    """One slice: its name, cardinality, discriminator values and the function its items get."""

    __slots__ = ("check", "match", "maximum", "minimum", "name")

    def __init__(self, name: str, minimum: int, maximum: int | None,
                 match: tuple[tuple[str, str, Any], ...], check: ItemCheck | None = None) -> None:
        self.name = name
        self.minimum = minimum
        self.maximum = maximum
        self.match = match
        self.check = check

    def __repr__(self) -> str:
        return f"Slice({self.name!r})"

    def takes(self, item: Any, out: IssueList) -> bool:
        return all(_matches(item, kind, path, expected, out)
                   for kind, path, expected in self.match)


class Slicing:
    """How an element is sliced: rules (closed | open | openAtEnd), order, slices in order."""

    __slots__ = ("element", "ordered", "rules", "slices")

    def __init__(self, element: str, rules: str, ordered: bool, slices: tuple[Slice, ...]) -> None:
        self.element = element
        self.rules = rules
        self.ordered = ordered
        self.slices = slices


# ------------------------------------------------------------------------------------ rules


class Rules:
    """The checks of one profile; every issue says which profile (``url|version``) it is from."""

    __slots__ = ("source", "url")

    def __init__(self, url: str, version: str | None = None) -> None:
        self.url = url
        self.source = f" (from {url}|{version})" if version else f" (from {url})"

    def card(self, node: Any, names: tuple[str, ...], label: str, path: Loc, out: IssueList,
             minimum: int, maximum: int | None) -> None:
        """The count of values of an element (all its JSON names, for a choice)."""
        if not isinstance(node, dict):
            return
        found = sum(len(_values(node, name, path)) for name in names)
        if found < minimum:
            _add(out, "error", "required", "cardinality",
                 f"{location(path)}.{label}: minimum required = {minimum}, but only found "
                 f"{found}{self.source}", path, names[0])
        elif maximum is not None and found > maximum:
            _add(out, "error", "structure", "cardinality",
                 f"{location(path)}.{label}: maximum allowed = {maximum}, but found "
                 f"{found}{self.source}", path, names[0])

    def types(self, node: Any, name: str, allowed: tuple[str, ...], path: Loc,
              out: IssueList) -> None:
        """A choice narrowed: its JSON names other than *allowed* are not allowed."""
        if not isinstance(node, dict):
            return
        for key in node:
            bare = key.removeprefix("_")
            if (bare.startswith(name) and bare[len(name):][:1].isupper() and bare not in allowed
                    and (key == bare or bare not in node)):
                _add(out, "error", "structure", "profile-type",
                     f"The type of '{bare}' is not allowed by the profile: use "
                     f"{' or '.join(allowed)}{self.source}", (path, bare))

    def each(self, node: Any, name: str, path: Loc, out: IssueList, check: ItemCheck) -> None:
        for value, at in _values(node, name, path):
            if value is not None:
                check(value, at, out)

    def fixed(self, value: Any, at: Loc, out: IssueList, expected: Any) -> None:
        if not equals_fixed(value, expected):
            _add(out, "error", "value", "fixed",
                 f"Value is '{_shown(value)}' but is fixed to '{_shown(expected)}'{self.source}",
                 at)

    def pattern(self, value: Any, at: Loc, out: IssueList, expected: Any) -> None:
        if not matches_pattern(value, expected):
            _add(out, "error", "value", "pattern",
                 f"The value does not match the pattern {_shown(expected)}{self.source}", at)

    def binding(self, value: Any, at: Loc, out: IssueList, value_set: ValueSet,
                strength: str) -> None:
        """A code, Coding or CodeableConcept (the concept of a CodeableReference) in *value_set*."""
        if isinstance(value, dict) and isinstance(value.get("concept"), dict):
            value, at = value["concept"], (at, "concept")
        if not value_set.expanded:
            _add(out, "information", "informational", "binding",
                 value_set.unchecked + self.source, at)
            return
        if isinstance(value, str):
            good, shown = value in value_set.codes, value
        elif isinstance(value, dict) and ("coding" in value or "text" in value):
            codings = [c for c in value.get("coding", ()) or () if isinstance(c, dict)]
            good = any(value_set.has_coding(c) for c in codings)
            shown = ", ".join(f"{c.get('system', '')}#{c.get('code', '')}" for c in codings)
        elif isinstance(value, dict):
            good = value_set.has_coding(value)
            shown = f"{value.get('system', '')}#{value.get('code', '')}"
        else:
            return  # a wrong JSON kind: the base validator reports it
        if good:
            return
        if strength == "required":
            _add(out, "error", "code-invalid", "binding",
                 f"None of the codes provided ({shown or 'none'}) are in the value set "
                 f"'{value_set.url}', and a code from this value set is required{self.source}", at)
        else:
            _add(out, "warning", "code-invalid", "binding",
                 f"None of the codes provided ({shown or 'none'}) are in the value set "
                 f"'{value_set.url}', and a code should come from this value set unless it has "
                 f"no suitable code{self.source}", at)

    def targets(self, value: Any, at: Loc, out: IssueList, allowed: frozenset[str]) -> None:
        if isinstance(value, dict) and isinstance(value.get("reference"), dict):
            value, at = value["reference"], (at, "reference")  # CodeableReference
        found = _reference_type(value, out)
        if found is None or found in allowed:
            return
        _add(out, "error", "structure", "reference-target",
             f"The type '{found}' implied by the reference '{value.get('reference')}' is not a "
             f"valid target for this element in the profile (must be one of "
             f"{', '.join(sorted(allowed))}){self.source}", (at, "reference"))

    def slices(self, node: Any, name: str, path: Loc, out: IssueList, slicing: Slicing) -> None:
        values = [(v, at) for v, at in _values(node, name, path) if v is not None]
        counts = [0] * len(slicing.slices)
        last_slice = -1
        unmatched_seen = False
        for value, at in values:
            index = next((i for i, s in enumerate(slicing.slices) if s.takes(value, out)), None)
            if index is None:
                unmatched_seen = True
                if slicing.rules == "closed":
                    _add(out, "error", "structure", "slicing",
                         f"This element does not match any known slice defined in the profile "
                         f"(slicing of {slicing.element} is closed){self.source}", at)
                continue
            if slicing.rules == "openAtEnd" and unmatched_seen:
                _add(out, "error", "structure", "slicing",
                     f"Slice '{slicing.slices[index].name}' comes after an item that matches no "
                     f"slice (slicing of {slicing.element} is open at the end){self.source}", at)
            if slicing.ordered and index < last_slice:
                _add(out, "error", "structure", "slicing",
                     f"Slice '{slicing.slices[index].name}' is out of order (slicing of "
                     f"{slicing.element} is ordered){self.source}", at)
            last_slice = max(last_slice, index)
            counts[index] += 1
            check = slicing.slices[index].check
            if check is not None:
                check(value, at, out)
        for found, slice_ in zip(counts, slicing.slices, strict=True):
            label = f"{name}:{slice_.name}"
            if found < slice_.minimum:
                _add(out, "error", "required", "cardinality",
                     f"{location(path)}.{label}: minimum required = {slice_.minimum}, but only "
                     f"found {found}{self.source}", path, name)
            elif slice_.maximum is not None and found > slice_.maximum:
                _add(out, "error", "structure", "cardinality",
                     f"{location(path)}.{label}: maximum allowed = {slice_.maximum}, but found "
                     f"{found}{self.source}", path, name)


# --------------------------------------------------------------------- joining the base walk


class Profile:
    """A generated profile: its canonical URL, the type it constrains and its validator."""

    __slots__ = ("name", "type", "url", "validator", "version")

    def __init__(self, url: str, version: str | None, type_: str, name: str,
                 validator: Validator) -> None:
        self.url = url
        self.version = version
        self.type = type_
        self.name = name
        self.validator = validator

    def __repr__(self) -> str:
        return f"Profile({self.url!r})"


def with_profiles(validators: Mapping[str, Validator], profiles: Sequence[Profile] = (),
                  known: Mapping[str, Profile] | None = None) -> dict[str, Validator]:
    """*validators* (by resourceType) with *profiles* checked on every resource validated at
    the top level (a file, an NDJSON line, a Bundle entry when Bundle is not generated), and,
    when *known* is given, each of those a resource claims in ``meta.profile``.

    A resource of another type than a profile asked for gets an error (rule ``profile``); a
    claimed profile that *known* does not have is not checked, and no issue says so (the base
    type was checked; the reference validator warns here, and may fetch the profile).
    """
    asked = tuple(profiles)
    result: dict[str, Validator] = {}
    for resource_type, base in validators.items():
        result[resource_type] = _combined(resource_type, base, asked, known)
    return result


def _combined(resource_type: str, base: Validator, asked: tuple[Profile, ...],
              known: Mapping[str, Profile] | None) -> Validator:
    def validate(node: dict[str, Any], path: Loc, out: IssueList) -> None:
        base(node, path, out)
        done: set[str] = set()
        for profile in asked:
            done.add(profile.url)
            if profile.type != resource_type:
                _add(out, "error", "invalid", "profile",
                     f"The resource is a {resource_type}, but the profile {profile.url} "
                     f"constrains {profile.type}", path)
                continue
            profile.validator(node, path, out)
        if known:
            for url in _claims(node):
                claimed = known.get(url)
                if claimed is not None and claimed.url not in done and claimed.type == resource_type:
                    done.add(claimed.url)
                    claimed.validator(node, path, out)

    validate.__name__ = f"validate_{resource_type}_with_profiles"
    return validate


class UnknownProfileError(KeyError):
    """A profile URL the generated package has no validator for."""

    def __str__(self) -> str:
        return str(self.args[0])


def package_validators(validators_module: Any, urls: Sequence[str] = ()) -> dict[str, Validator]:
    """The validators of a generated package (its ``validators`` module given), with the
    profiles *urls* asked for and ``meta.profile`` claims of the package's profiles honoured
    (``profiles.py``; a package generated without profiles validates base types only).
    :class:`UnknownProfileError` names a URL the package does not have."""
    import importlib

    base: dict[str, Validator] = dict(validators_module.RESOURCE_VALIDATORS)
    package = validators_module.__name__.rpartition(".")[0]
    try:
        module = importlib.import_module(f"{package}.profiles")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package}.profiles":
            raise
        if urls:
            raise UnknownProfileError(
                f"the generated package has no profiles (none configured): {', '.join(urls)}"
            ) from None
        return base
    known: Mapping[str, Profile] = module.PROFILES
    chosen = []
    for url in urls:
        profile = known.get(url.split("|", 1)[0])
        if profile is None:
            have = ", ".join(sorted(known)) or "none"
            raise UnknownProfileError(f"unknown profile {url} (this package has: {have})")
        chosen.append(profile)
    return with_profiles(base, chosen, known)
