"""Refresh ``definitions/`` from the official FHIR npm packages and record what was taken.

Inputs are up to three packages of one FHIR release, told apart by the ``name`` in their
``package.json``: ``<prefix>.core`` (required), ``<prefix>.expansions`` and ``<prefix>.examples``
(optional companions). Files are copied byte for byte into ``definitions/<package name>/`` under
their package file name, and ``definitions/manifest.json`` lists every file with its hash and the
reasons it was taken. Nothing else is written; a re-run gives byte-identical output and removes
files of earlier runs that are no longer taken.

Closure rules (all look-ups by canonical URL in the core package, ``|version`` suffixes dropped):

1. *Roots*: the ``StructureDefinition`` of each target type
   (``http://hl7.org/fhir/StructureDefinition/<Name>``), plus the bootstrap definitions
   ``StructureDefinition`` and ``ElementDefinition``, which a loader needs to read
   StructureDefinitions written in FHIR XML.
2. *StructureDefinitions*: from each one taken follow its ``baseDefinition`` and, for every
   snapshot element (the differential when there is no snapshot), every ``type.code`` and every
   ``type.profile``. Type codes that are FHIRPath system types
   (``http://hl7.org/fhirpath/System.*``) are skipped. ``targetProfile`` is never followed, nor is
   ``profile`` on ``Reference``/``canonical``/``CodeableReference`` types: the resources they point
   at are not needed to describe the element. A missing base or type is an error; a missing
   profile is recorded as unavailable (extension profiles live in other packages).
3. *ValueSets*: the value set of every ``required`` or ``extensible`` binding of every element of
   every StructureDefinition taken, including R5 ``binding.additional`` entries whose purpose is
   ``required`` or ``extensible``. A ValueSet is taken from the expansions package when that has
   it (that copy carries ``expansion``), else from core. ``compose.include[].valueSet`` and
   ``compose.exclude[].valueSet`` are followed recursively.
4. *CodeSystems*: for every ValueSet taken, each ``compose.include[]/exclude[].system`` that the
   core package defines. Systems it does not define (SNOMED CT, LOINC, DICOM, UCUM, BCP-47 ...) and
   value sets found in no package are recorded in the manifest as ``unavailable``, never an error.
5. *Examples*: every resource of the examples package whose ``resourceType`` is a target.

The manifest (sorted keys and lists, indent 2, no timestamps or machine paths) records the
``packages`` (name, version, fhirVersions, canonical, role, file name, how it was ``obtained``:
``npm``, ``file`` or ``folder``, and for package files the npm-style ``integrity`` and ``sha256``),
the ``targets``, one entry per file (path, package, resourceType, url, id, sha256, ``reasons``,
``neededFor``: the targets and/or ``bootstrap`` that reach it; ValueSets add ``expansion``:
``complete``, ``incomplete`` when the publisher marked it too costly, or ``absent``; CodeSystems add
their ``content``), and the ``unavailable`` code systems, value sets and profiles with what needed
them. Reasons are bounded so that the manifest stays readable: at most :data:`MAX_PATHS` element
paths per referring definition and :data:`MAX_SUBJECTS` referring definitions per kind of reason,
with a count of the rest.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import os
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .packages import PackageError, PackageInfo, read_package_info, scan_package_files

__all__ = [
    "DEFAULT_TARGETS",
    "MANIFEST_NAME",
    "FetchError",
    "FetchReport",
    "PackageRecord",
    "ResolvedSource",
    "Unavailable",
    "fetch",
    "resolve_sources",
    "sources_from_manifest",
]

DEFAULT_TARGETS: tuple[str, ...] = ("ImagingSelection",)
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1

SD_BASE = "http://hl7.org/fhir/StructureDefinition/"
FHIRPATH_SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
BOOTSTRAP_TYPES: tuple[str, ...] = ("StructureDefinition", "ElementDefinition")
BOOTSTRAP_ROOT = "bootstrap"
BOOTSTRAP_REASON = "bootstrap: read XML StructureDefinitions"
#: Binding strengths (and R5 additional-binding purposes) whose value sets are taken.
TAKEN_STRENGTHS: tuple[str, ...] = ("required", "extensible")
#: Type codes whose ``profile`` names a referenced resource, not a constraint on the element.
REFERENCE_TYPES = frozenset({"Reference", "canonical", "CodeableReference"})
TOO_COSTLY = "http://hl7.org/fhir/StructureDefinition/valueset-toocostly"
ROLES: tuple[str, ...] = ("core", "expansions", "examples")

MAX_PATHS = 3
MAX_SUBJECTS = 8

_NPM_SPEC = re.compile(r"^(?P<name>(?:@[a-z0-9][\w.-]*/)?[a-z0-9][\w.-]*)@(?P<version>[\w.+-]+)$")
_TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

Role = Literal["core", "expansions", "examples"]
#: Why something was taken: (kind, subject, element path), e.g. ("type of", "Meta", "Meta.tag").
_Why = tuple[str, str | None, str | None]
Obtained = Literal["npm", "file", "folder"]


class FetchError(Exception):
    """Input that cannot be fetched from; the message says what and why, in one line."""


# --------------------------------------------------------------------------------------------
# Sources: NAME@VERSION specs and package files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    """A package file or folder ready to read, and how it was obtained.

    Path-like (``Path(source)``, ``open(source)`` work), so it can stand wherever a path does.
    """

    path: Path
    obtained: Obtained

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name


def resolve_sources(specs: Sequence[str], workdir: Path) -> list[ResolvedSource]:
    """Turn command-line package specs into package files, fetching ``NAME@VERSION`` with npm.

    A spec is a path to a ``.tgz`` or unpacked package folder, or ``NAME@VERSION`` (run as
    ``npm pack NAME@VERSION --silent`` in *workdir*). When a ``*.core`` package is given without
    its companions, they are added: by ``NAME@VERSION`` for a core given that way, or, for a core
    given as a file, from files with the conventional names beside it
    (``<prefix>.expansions-<version>.tgz``, ``<prefix>.examples-<version>.tgz``, or unpacked
    folders of those names). Companions that cannot be found are left out; :func:`fetch` then says
    so in its report.
    """
    if not specs:
        raise FetchError("no package given: name a NAME@VERSION or a package file")
    workdir = Path(workdir)
    local: list[tuple[ResolvedSource, PackageInfo]] = []
    remote: list[tuple[str, str]] = []
    for spec in specs:
        path = Path(spec)
        if path.exists():
            source = ResolvedSource(path, "file" if path.is_file() else "folder")
            local.append((source, _read_info(path)))
        elif match := _NPM_SPEC.match(spec):
            remote.append((match["name"], match["version"]))
        else:
            raise FetchError(f"{spec}: no such package file or folder, and not a NAME@VERSION spec")
    given_roles = {_role_of(info.name) for _, info in local} | {_role_of(n) for n, _ in remote}
    remote += _npm_companions(remote, given_roles)
    sources = [source for source, _ in local]
    sources += _file_companions(local, given_roles)
    sources += [ResolvedSource(_npm_pack(n, v, workdir), "npm") for n, v in remote]
    return _unique(sources)


def _npm_companions(
    remote: list[tuple[str, str]], given: set[Role | None]
) -> list[tuple[str, str]]:
    extra = []
    for name, version in remote:
        if _role_of(name) == "core":
            prefix = name.removesuffix(".core")
            extra += [(f"{prefix}.{role}", version) for role in ROLES[1:] if role not in given]
    return extra


def _file_companions(
    local: list[tuple[ResolvedSource, PackageInfo]], given: set[Role | None]
) -> list[ResolvedSource]:
    found = []
    for source, info in local:
        if _role_of(info.name) != "core":
            continue
        prefix = info.name.removesuffix(".core")
        folder = source.path.resolve().parent
        for role in ROLES[1:]:
            if role in given:
                continue
            stem = f"{prefix}.{role}-{info.version}"
            if (folder / f"{stem}.tgz").is_file():
                found.append(ResolvedSource(folder / f"{stem}.tgz", "file"))
            elif (folder / stem).is_dir():
                found.append(ResolvedSource(folder / stem, "folder"))
    return found


def _unique(sources: list[ResolvedSource]) -> list[ResolvedSource]:
    seen: set[Path] = set()
    unique = []
    for source in sources:
        key = source.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(source)
    return unique


def _npm_pack(name: str, version: str, workdir: Path) -> Path:
    """Download ``name@version`` with the ordinary npm client; return the ``.tgz`` it wrote."""
    spec = f"{name}@{version}"
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["npm", "pack", spec, "--silent"],
            cwd=workdir,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise FetchError(f"{spec}: npm is not installed (needed to download packages)") from exc
    except OSError as exc:
        raise FetchError(f"{spec}: could not run npm ({exc})") from exc
    if done.returncode != 0:
        raise FetchError(f"{spec}: npm pack failed: {_npm_failure(done)}")
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    tarball = workdir / lines[-1] if lines else None
    if tarball is None or not tarball.is_file():
        raise FetchError(f"{spec}: npm pack did not report the file it wrote")
    return tarball


def _npm_failure(done: subprocess.CompletedProcess[str]) -> str:
    """npm's own words (with ``--silent`` often none), without its log-file pointer."""
    lines = [
        line.strip()
        for line in (done.stderr or done.stdout).splitlines()
        if line.strip() and "complete log" not in line and "_logs" not in line
    ]
    if lines:
        return "; ".join(lines[:3])
    return (
        f"exit status {done.returncode} and no message; check the name and version, and that "
        "the npm registry is reachable"
    )


def sources_from_manifest(definitions_dir: Path) -> list[str]:
    """The ``NAME@VERSION`` specs of the packages recorded in ``definitions/manifest.json``."""
    manifest = _read_manifest(Path(definitions_dir))
    if manifest is None:
        raise FetchError(
            f"{MANIFEST_NAME} not found in the definitions folder: name a NAME@VERSION or a file"
        )
    try:
        return sorted(f"{p['name']}@{p['version']}" for p in manifest["packages"])
    except (KeyError, TypeError) as exc:
        raise FetchError(f"{MANIFEST_NAME} does not list its packages ({exc})") from exc


# --------------------------------------------------------------------------------------------
# Reading packages
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackageRecord:
    """One input package as the manifest records it (no machine paths)."""

    name: str
    version: str
    fhir_versions: tuple[str, ...]
    canonical: str | None
    role: Role
    file: str
    obtained: Obtained
    integrity: str | None
    sha256: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "fhirVersions": list(self.fhir_versions),
            "canonical": self.canonical,
            "role": self.role,
            "file": self.file,
            "obtained": self.obtained,
            "integrity": self.integrity,
            "sha256": self.sha256,
        }


@dataclass(frozen=True, slots=True)
class _Resource:
    file_name: str
    data: bytes
    content: dict[str, Any]

    @property
    def resource_type(self) -> str:
        return str(self.content.get("resourceType"))

    @property
    def url(self) -> str | None:
        url = self.content.get("url")
        return url if isinstance(url, str) else None


@dataclass
class _Package:
    record: PackageRecord
    resources: list[_Resource]
    by_url: dict[tuple[str, str], _Resource] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for resource in self.resources:
            if resource.url is not None:
                self.by_url.setdefault((resource.resource_type, resource.url), resource)

    @property
    def name(self) -> str:
        return self.record.name

    def find(self, resource_type: str, url: str) -> _Resource | None:
        return self.by_url.get((resource_type, url))


def _role_of(name: str) -> Role | None:
    for role in ROLES:
        if name.endswith(f".{role}"):
            return role  # type: ignore[return-value]
    return None


def _read_info(path: Path) -> PackageInfo:
    try:
        return read_package_info(path)
    except PackageError as exc:
        raise FetchError(str(exc)) from exc


def _as_source(source: ResolvedSource | os.PathLike[str] | str) -> ResolvedSource:
    if isinstance(source, ResolvedSource):
        return source
    path = Path(source)
    return ResolvedSource(path, "folder" if path.is_dir() else "file")


def _tarball_hashes(path: Path) -> tuple[str | None, str | None]:
    """npm-style ``sha512-<base64>`` integrity and sha256 hex of a package file (None for folders)."""
    if not path.is_file():
        return None, None
    sha512, sha256 = hashlib.sha512(), hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha512.update(chunk)
            sha256.update(chunk)
    return "sha512-" + base64.b64encode(sha512.digest()).decode("ascii"), sha256.hexdigest()


def _load_package(source: ResolvedSource, targets: Sequence[str], messages: list[str]) -> _Package:
    info = _read_info(source.path)
    role = _role_of(info.name)
    if role is None:
        raise FetchError(
            f"{source.name}: package {info.name} is not a FHIR core, expansions or examples package"
        )
    if not _PACKAGE_NAME.match(info.name):
        raise FetchError(f"{source.name}: package name {info.name!r} cannot name a folder")
    integrity, sha256 = _tarball_hashes(source.path)
    record = PackageRecord(
        name=info.name,
        version=info.version,
        fhir_versions=info.fhir_versions,
        canonical=info.canonical,
        role=role,
        file=source.name,
        obtained=source.obtained,
        integrity=integrity,
        sha256=sha256,
    )
    wanted = set(targets) if role == "examples" else set(_ROLE_TYPES[role])
    resources = _read_resources(source.path, info.name, wanted, messages)
    return _Package(record, sorted(resources, key=lambda r: r.file_name))


#: The resource types read from each package (examples: the targets).
_ROLE_TYPES: dict[Role, tuple[str, ...]] = {
    "core": ("StructureDefinition", "ValueSet", "CodeSystem"),
    "expansions": ("ValueSet",),
    "examples": (),
}
_LEADING_TYPE = re.compile(rb'\A\s*\{\s*"resourceType"\s*:\s*"([A-Za-z]+)"')


def _read_resources(
    path: Path, package: str, wanted: set[str], messages: list[str]
) -> Iterator[_Resource]:
    """The resources of *wanted* types in a package; others are skipped without parsing."""
    try:
        for file in scan_package_files(path, ".json"):
            if file.name.startswith("."):  # .index.json and other tool files
                continue
            leading = _LEADING_TYPE.match(file.data)
            if leading and leading[1].decode() not in wanted:
                continue
            try:
                content = json.loads(file.data)
            except ValueError:
                messages.append(f"{package}: skipped {file.name}: not valid JSON")
                continue
            if isinstance(content, dict) and content.get("resourceType") in wanted:
                yield _Resource(file.name, file.data, content)
    except PackageError as exc:
        raise FetchError(str(exc)) from exc


def _by_role(packages: list[_Package]) -> dict[Role, _Package]:
    roles: dict[Role, _Package] = {}
    for package in packages:
        role = package.record.role
        if role in roles:
            raise FetchError(
                f"two {role} packages given: {roles[role].record.file} and {package.record.file}"
            )
        roles[role] = package
    if "core" not in roles:
        names = ", ".join(p.name for p in packages) or "none"
        raise FetchError(f"no FHIR core package given (got: {names})")
    core = roles["core"].record
    for package in roles.values():
        if package.record.version != core.version:
            raise FetchError(
                f"{package.name}@{package.record.version} does not match "
                f"{core.name}@{core.version}: use packages of one release"
            )
    return roles


# --------------------------------------------------------------------------------------------
# Reasons
# --------------------------------------------------------------------------------------------


@dataclass
class _Reasons:
    """Why one file was taken: plain reasons, and (kind, subject) -> element paths.

    A subject is a StructureDefinition name (with element paths) or ``ValueSet <url>``.
    """

    plain: set[str] = field(default_factory=set)
    grouped: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, kind: str, subject: str | None = None, path: str | None = None) -> None:
        if subject is None:
            self.plain.add(kind)
            return
        paths = self.grouped[(kind, subject)]
        if path is not None:
            paths.add(path)

    def render(self) -> list[str]:
        """Sorted, bounded reasons: MAX_SUBJECTS subjects per kind, MAX_PATHS paths each."""
        rendered = set(self.plain)
        by_kind: dict[str, list[tuple[str, set[str]]]] = defaultdict(list)
        for (kind, subject), paths in self.grouped.items():
            by_kind[kind].append((subject, paths))
        for kind, groups in by_kind.items():
            groups.sort(key=lambda group: group[0])
            rendered.update(_render_group(kind, s, paths) for s, paths in groups[:MAX_SUBJECTS])
            if len(groups) > MAX_SUBJECTS:
                rendered.add(_render_overflow(kind, groups[MAX_SUBJECTS:]))
        return sorted(rendered)


def _render_group(kind: str, subject: str, paths: set[str]) -> str:
    if not paths:
        return f"{kind} {subject}"
    shown = sorted(paths)[:MAX_PATHS]
    more = f" (+{len(paths) - MAX_PATHS} more)" if len(paths) > MAX_PATHS else ""
    return f"{kind} {', '.join(shown)}{more}"


def _render_overflow(kind: str, rest: list[tuple[str, set[str]]]) -> str:
    count = len(rest)
    plural = "s" if count > 1 else ""
    if all(subject.startswith("ValueSet ") for subject, _ in rest):
        return f"{kind} {count} more ValueSet{plural}"
    elements = "elements of " if any(paths for _, paths in rest) else ""
    return f"{kind} {elements}{count} more StructureDefinition{plural}"


# --------------------------------------------------------------------------------------------
# The closure
# --------------------------------------------------------------------------------------------


@dataclass
class _Taken:
    package: _Package
    resource: _Resource
    reasons: _Reasons = field(default_factory=_Reasons)
    roots: set[str] = field(default_factory=set)

    @property
    def path(self) -> str:
        return f"{self.package.name}/{self.resource.file_name}"


@dataclass
class Unavailable:
    """A code system, value set or profile that no given package defines."""

    resource_type: str
    url: str
    reasons: _Reasons = field(default_factory=_Reasons)

    def to_json(self) -> dict[str, Any]:
        return {
            "resourceType": self.resource_type,
            "url": self.url,
            "neededBy": self.reasons.render(),
        }


class _Closure:
    """Collects the files taken from the packages, with reasons, one root at a time."""

    def __init__(self, roles: dict[Role, _Package]) -> None:
        self.core = roles["core"]
        self.expansions = roles.get("expansions")
        self.examples = roles.get("examples")
        self.taken: dict[str, _Taken] = {}
        self.unavailable: dict[tuple[str, str], Unavailable] = {}

    # -- bookkeeping
    def _take(self, package: _Package, resource: _Resource, root: str) -> tuple[_Taken, bool]:
        key = f"{package.name}/{resource.file_name}"
        entry = self.taken.get(key)
        if entry is None:
            entry = self.taken[key] = _Taken(package, resource)
        first_visit = root not in entry.roots
        entry.roots.add(root)
        return entry, first_visit

    def _missing(self, resource_type: str, url: str) -> _Reasons:
        key = (resource_type, url)
        if key not in self.unavailable:
            self.unavailable[key] = Unavailable(resource_type, url)
        return self.unavailable[key].reasons

    # -- roots
    def add_root(self, type_name: str, root: str, reason: str) -> None:
        resource = self.core.find("StructureDefinition", SD_BASE + type_name)
        if resource is None:
            raise FetchError(_unknown_type_message(self.core, type_name))
        self._structure(resource, root, (reason, None, None))

    def add_examples(self, targets: Sequence[str]) -> None:
        if self.examples is None:
            return
        for resource in self.examples.resources:
            if resource.resource_type in targets:
                entry, _ = self._take(self.examples, resource, resource.resource_type)
                entry.reasons.add(f"example of {resource.resource_type}")

    # -- StructureDefinitions
    def _structure(self, resource: _Resource, root: str, why: _Why) -> None:
        pending = [(resource, why)]
        while pending:
            resource, (kind, subject, path) = pending.pop()
            entry, first_visit = self._take(self.core, resource, root)
            entry.reasons.add(kind, subject, path)
            if first_visit:
                self._structure_bindings(resource, root)
                pending.extend(self._structure_edges(resource))

    def _structure_edges(self, resource: _Resource) -> Iterator[tuple[_Resource, _Why]]:
        """The StructureDefinitions one refers to: its base, its element types and profiles."""
        sd = resource.content
        name = _structure_name(resource)
        base = sd.get("baseDefinition")
        if isinstance(base, str):
            yield (
                self._required_sd(_strip_version(base), f"base of {name}"),
                ("base of", name, None),
            )
        for element in _elements(sd):
            path = str(element.get("path", name))
            for type_ref in element.get("type", ()):
                yield from self._type_edges(type_ref, name, path)

    def _type_edges(
        self, type_ref: dict[str, Any], name: str, path: str
    ) -> Iterator[tuple[_Resource, _Why]]:
        code = type_ref.get("code")
        if not isinstance(code, str) or code.startswith(FHIRPATH_SYSTEM_PREFIX):
            return
        url = code if ":" in code else SD_BASE + code
        yield self._required_sd(url, f"type of {path}"), ("type of", name, path)
        if code in REFERENCE_TYPES:
            return
        for profile in type_ref.get("profile", ()):
            profile_url = _strip_version(profile)
            found = self.core.find("StructureDefinition", profile_url)
            if found is None:
                self._missing("StructureDefinition", profile_url).add("profile of", name, path)
            else:
                yield found, ("profile of", name, path)

    def _required_sd(self, url: str, needed_for: str) -> _Resource:
        found = self.core.find("StructureDefinition", url)
        if found is None:
            raise FetchError(
                f"{self.core.name}@{self.core.record.version} has no StructureDefinition {url} "
                f"({needed_for})"
            )
        return found

    # -- ValueSets and CodeSystems
    def _structure_bindings(self, resource: _Resource, root: str) -> None:
        name = _structure_name(resource)
        for element in _elements(resource.content):
            path = str(element.get("path", name))
            for strength, value_set in _taken_bindings(element):
                why = (f"{strength} binding of", name, path)
                self._value_set(_strip_version(value_set), root, why)

    def _value_set(self, url: str, root: str, why: _Why) -> None:
        pending = [(url, why)]
        while pending:
            url, (kind, subject, path) = pending.pop()
            package, resource = self._find_value_set(url)
            if resource is None:
                self._missing("ValueSet", url).add(kind, subject, path)
                continue
            entry, first_visit = self._take(package, resource, root)
            entry.reasons.add(kind, subject, path)
            if first_visit:
                pending.extend(self._compose_edges(resource, url, root))

    def _find_value_set(self, url: str) -> tuple[_Package, _Resource | None]:
        if self.expansions is not None:
            found = self.expansions.find("ValueSet", url)
            if found is not None:
                return self.expansions, found
        return self.core, self.core.find("ValueSet", url)

    def _compose_edges(
        self, resource: _Resource, url: str, root: str
    ) -> Iterator[tuple[str, _Why]]:
        """The value sets a ValueSet's compose names; takes the code systems it names on the way."""
        compose = resource.content.get("compose") or {}
        for part, kind in (("include", "included by"), ("exclude", "excluded by")):
            for item in compose.get(part, ()):
                for value_set in item.get("valueSet", ()):
                    yield _strip_version(value_set), (kind, f"ValueSet {url}", None)
                system = item.get("system")
                if isinstance(system, str):
                    self._code_system(_strip_version(system), url, root)

    def _code_system(self, system: str, value_set_url: str, root: str) -> None:
        found = self.core.find("CodeSystem", system)
        if found is None:
            self._missing("CodeSystem", system).add("code system of", f"ValueSet {value_set_url}")
            return
        entry, _ = self._take(self.core, found, root)
        entry.reasons.add("code system of", f"ValueSet {value_set_url}")


def _structure_name(resource: _Resource) -> str:
    sd = resource.content
    return str(sd.get("name") or sd.get("type") or resource.file_name)


def _elements(sd: dict[str, Any]) -> list[dict[str, Any]]:
    """Snapshot elements; the differential when a definition has no snapshot."""
    for view in ("snapshot", "differential"):
        elements = (sd.get(view) or {}).get("element")
        if elements:
            return list(elements)
    return []


def _taken_bindings(element: dict[str, Any]) -> Iterator[tuple[str, str]]:
    binding = element.get("binding") or {}
    if binding.get("strength") in TAKEN_STRENGTHS and isinstance(binding.get("valueSet"), str):
        yield binding["strength"], binding["valueSet"]
    for extra in binding.get("additional", ()):
        if extra.get("purpose") in TAKEN_STRENGTHS and isinstance(extra.get("valueSet"), str):
            yield f"additional {extra['purpose']}", extra["valueSet"]


def _strip_version(url: str) -> str:
    return url.split("|", 1)[0]


def _unknown_type_message(core: _Package, type_name: str) -> str:
    known = sorted(
        r.url.removeprefix(SD_BASE)
        for r in core.resources
        if r.resource_type == "StructureDefinition" and r.url and r.url.startswith(SD_BASE)
    )
    close = difflib.get_close_matches(type_name, known, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"unknown target type {type_name!r}: {core.name} has no StructureDefinition for it{hint}"


# --------------------------------------------------------------------------------------------
# Writing definitions/ and the manifest
# --------------------------------------------------------------------------------------------


@dataclass
class FetchReport:
    """What :func:`fetch` did. Counts are of files under the package sub-folders."""

    packages: list[PackageRecord]
    targets: list[str]
    taken: int = 0
    written: int = 0
    removed: int = 0
    unchanged: int = 0
    unavailable: list[Unavailable] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """A short human-readable account, for the command line."""
        lines = [f"package {r.name}@{r.version} ({r.role}, {r.obtained})" for r in self.packages]
        lines.append(f"targets: {', '.join(self.targets)}")
        lines += [f"  {count:4d} {kind}" for kind, count in self.counts.items()]
        lines.append(
            f"{self.taken} files taken: {self.written} written, {self.unchanged} unchanged, "
            f"{self.removed} removed"
        )
        if self.unavailable:
            lines.append(f"{len(self.unavailable)} not in any package (see the manifest):")
            lines += [f"  {item.resource_type} {item.url}" for item in self.unavailable]
        lines += [f"note: {message}" for message in self.messages]
        return lines


def fetch(
    sources: Sequence[ResolvedSource | os.PathLike[str] | str],
    definitions_dir: Path,
    targets: Sequence[str] = DEFAULT_TARGETS,
) -> FetchReport:
    """Copy the closure of *targets* from the package *sources* into *definitions_dir*."""
    targets = _check_targets(targets)
    if not sources:
        raise FetchError("no package given: name a NAME@VERSION or a package file")
    messages: list[str] = []
    packages = [_load_package(_as_source(s), targets, messages) for s in sources]
    roles = _by_role(packages)
    messages += _missing_role_messages(roles)
    closure = _build_closure(roles, targets)
    definitions_dir = Path(definitions_dir)
    report = FetchReport(
        packages=sorted((p.record for p in packages), key=lambda r: r.name),
        targets=targets,
        taken=len(closure.taken),
        unavailable=sorted(closure.unavailable.values(), key=lambda u: (u.resource_type, u.url)),
        messages=messages,
        counts=_counts(closure.taken.values()),
    )
    _write_files(definitions_dir, closure, report)
    _write_bytes(definitions_dir / MANIFEST_NAME, _manifest_bytes(report, closure))
    return report


def _check_targets(targets: Sequence[str]) -> list[str]:
    names = [targets] if isinstance(targets, str) else list(targets)
    if not names:
        raise FetchError("no target type given")
    for name in names:
        if not isinstance(name, str) or not _TYPE_NAME.match(name):
            raise FetchError(f"unknown target type {name!r}: not a FHIR type name")
    return sorted(set(names))


def _missing_role_messages(roles: dict[Role, _Package]) -> list[str]:
    messages = []
    if "expansions" not in roles:
        messages.append("no expansions package: ValueSets are taken from core, without expansions")
    if "examples" not in roles:
        messages.append("no examples package: no examples taken")
    return messages


def _build_closure(roles: dict[Role, _Package], targets: Sequence[str]) -> _Closure:
    closure = _Closure(roles)
    for target in targets:
        closure.add_root(target, target, "target")
    for type_name in BOOTSTRAP_TYPES:
        closure.add_root(type_name, BOOTSTRAP_ROOT, BOOTSTRAP_REASON)
    closure.add_examples(targets)
    return closure


def _counts(taken: Iterable[_Taken]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for entry in taken:
        content = entry.resource.content
        kind = entry.resource.resource_type
        if kind == "StructureDefinition":
            details = [str(content[k]) for k in ("kind", "derivation") if content.get(k)]
            kind = f"StructureDefinition ({', '.join(details)})"
        elif entry.package.record.role == "examples":
            kind = f"example {kind}"
        counts[kind] += 1
    return dict(sorted(counts.items()))


def _write_files(definitions_dir: Path, closure: _Closure, report: FetchReport) -> None:
    wanted = {entry.path: entry.resource.data for entry in closure.taken.values()}
    for relative, data in sorted(wanted.items()):
        target = definitions_dir / relative
        if target.is_file() and target.read_bytes() == data:
            report.unchanged += 1
        else:
            _write_bytes(target, data)
            report.written += 1
    for folder in _managed_folders(definitions_dir, report.packages):
        report.removed += _remove_stale(definitions_dir, folder, wanted)


def _managed_folders(definitions_dir: Path, packages: Sequence[PackageRecord]) -> list[str]:
    """Package sub-folders this fetch owns: today's packages and those of the last manifest."""
    folders = {record.name for record in packages}
    previous = _read_manifest(definitions_dir) or {}
    for item in previous.get("packages", ()):
        folders.add(str(item.get("name", "")))
    for item in previous.get("files", ()):
        folders.add(str(item.get("path", "")).split("/", 1)[0])
    return sorted(f for f in folders if _PACKAGE_NAME.match(f))


def _remove_stale(definitions_dir: Path, folder: str, wanted: dict[str, bytes]) -> int:
    root = definitions_dir / folder
    if not root.is_dir():
        return 0
    removed = 0
    for path in sorted(root.rglob("*"), reverse=True):
        relative = path.relative_to(definitions_dir).as_posix()
        if path.is_dir():
            if not any(path.iterdir()):
                path.rmdir()
        elif relative not in wanted:
            path.unlink()
            removed += 1
    if not any(root.iterdir()):
        root.rmdir()
    return removed


def _write_bytes(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".part")
    temporary.write_bytes(data)
    os.replace(temporary, target)


def _read_manifest(definitions_dir: Path) -> dict[str, Any] | None:
    path = definitions_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_bytes())
    except ValueError as exc:
        raise FetchError(f"{MANIFEST_NAME} is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise FetchError(f"{MANIFEST_NAME} is not a JSON object")
    return manifest


def _file_entry(entry: _Taken) -> dict[str, Any]:
    content = entry.resource.content
    item: dict[str, Any] = {
        "path": entry.path,
        "package": entry.package.name,
        "resourceType": entry.resource.resource_type,
        "url": entry.resource.url,
        "id": content.get("id"),
        "sha256": hashlib.sha256(entry.resource.data).hexdigest(),
        "reasons": entry.reasons.render(),
        "neededFor": sorted(entry.roots),
    }
    if entry.resource.resource_type == "ValueSet":
        item["expansion"] = _expansion_status(content)
    if entry.resource.resource_type == "CodeSystem":
        item["content"] = content.get("content")
    return item


def _expansion_status(value_set: dict[str, Any]) -> str:
    """``absent``; ``incomplete`` when the publisher marked it too costly; else ``complete``."""
    expansion = value_set.get("expansion")
    if not isinstance(expansion, dict):
        return "absent"
    for extension in expansion.get("extension", ()):
        if extension.get("url") == TOO_COSTLY and extension.get("valueBoolean") is True:
            return "incomplete"
    return "complete"


def _manifest_bytes(report: FetchReport, closure: _Closure) -> bytes:
    manifest = {
        "manifestVersion": MANIFEST_VERSION,
        "packages": [record.to_json() for record in report.packages],
        "targets": list(report.targets),
        "bootstrap": sorted(BOOTSTRAP_TYPES),
        "files": [_file_entry(e) for e in sorted(closure.taken.values(), key=lambda e: e.path)],
        "unavailable": [item.to_json() for item in report.unavailable],
    }
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
