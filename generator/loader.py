"""Load definitions into a canonical index: every conformance resource by its canonical URL.

Sources may be mixed and repeated:

* a folder such as ``definitions/`` (searched recursively for ``*.json`` and ``*.xml``; a
  ``manifest.json`` at any level is not a resource and is skipped),
* an unpacked FHIR package folder (one holding ``package.json`` or ``package/package.json``),
* a FHIR package file (``.tgz``) as ``npm pack`` writes it,
* a single ``.json`` or ``.xml`` resource file.

XML resources are read with the project's FHIR XML reader (``fhirgen.fhirxml``) into the same JSON
shape, so the rest of the pipeline never sees the difference. Reading FHIR XML needs to know the
types (which elements repeat, which are primitives, numbers, attributes), so XML files are read
after every JSON file, with a schema built from the JSON StructureDefinitions loaded so far. The
index is a plain mapping; it does not interpret StructureDefinitions (that is ``fhirgen.ir``'s job).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .packages import PackageError, PackageInfo, iter_package_files, read_package_info

if TYPE_CHECKING:  # pragma: no cover - typing only (fhirxml -> ir -> loader: imported lazily)
    from .fhirxml import XmlSchema

__all__ = ["DefinitionError", "DefinitionIndex", "load_index"]

#: Resource types the index keeps by URL; everything else (examples) is kept by file only.
CONFORMANCE_TYPES = frozenset({"StructureDefinition", "ValueSet", "CodeSystem"})


class DefinitionError(Exception):
    """Definitions that cannot be loaded (unreadable file, bad JSON/XML, conflicting URLs)."""


@dataclass(frozen=True)
class DefinitionIndex:
    """Conformance resources by canonical URL, plus the examples and packages seen.

    ``resources`` maps URL -> resource (as a JSON-shaped dict); ``origins`` maps URL -> the file
    name it came from (for messages); ``examples`` holds other resources (file name, resource) in
    load order; ``packages`` the package manifests met while loading.
    """

    resources: Mapping[str, dict[str, Any]]
    origins: Mapping[str, str]
    examples: tuple[tuple[str, dict[str, Any]], ...] = ()
    packages: tuple[PackageInfo, ...] = field(default=())

    def get(self, url: str) -> dict[str, Any] | None:
        """The resource with this canonical URL (a ``|version`` suffix is ignored)."""
        return self.resources.get(url.split("|", 1)[0])

    def structure_definitions(self) -> Iterator[dict[str, Any]]:
        """Every StructureDefinition, in URL order."""
        for url in sorted(self.resources):
            res = self.resources[url]
            if res.get("resourceType") == "StructureDefinition":
                yield res

    def structure_definition(self, type_name: str) -> dict[str, Any] | None:
        """The core StructureDefinition of a type name or full URL."""
        if "/" in type_name:
            return self.get(type_name)
        return self.get(f"http://hl7.org/fhir/StructureDefinition/{type_name}")


def _parse(name: str, data: bytes, schema: XmlSchema | None = None) -> dict[str, Any] | None:
    """The resource in one file, or ``None`` for a JSON file that holds no resource.

    An ``.xml`` file needs *schema* (built from the JSON definitions loaded before it).
    """
    if name.endswith(".xml"):
        from .fhirxml import XmlReadError, read_resource_xml

        if schema is None:
            raise DefinitionError(f"{name}: XML definitions need the JSON StructureDefinitions")
        try:
            return read_resource_xml(data, schema)
        except XmlReadError as exc:
            raise DefinitionError(f"{name}: {exc}") from exc
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"{name}: not valid JSON ({exc})") from exc
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return None
    return value


def _files_of(source: Path) -> Iterator[tuple[str, bytes]]:
    if source.is_file() and source.suffix in (".json", ".xml"):
        yield source.name, source.read_bytes()
        return
    is_package = source.is_file() or (source / "package.json").is_file()
    is_package = is_package or (source / "package" / "package.json").is_file()
    if is_package:
        for suffix in (".json", ".xml"):
            for item in iter_package_files(source, suffix):
                yield item.name, item.data
        return
    if source.is_dir():
        for file in sorted(source.rglob("*")):
            if file.is_file() and file.suffix in (".json", ".xml") and file.name != "manifest.json":
                yield file.relative_to(source).as_posix(), file.read_bytes()
        return
    raise DefinitionError(f"{source}: no such definitions file, folder or package")


def _manifest_packages(path: Path) -> list[PackageInfo]:
    """The packages a ``definitions/manifest.json`` (written by ``fhirgen fetch``) records."""
    try:
        manifest = json.loads(path.read_bytes())
        return [
            PackageInfo(
                name=str(p["name"]),
                version=str(p["version"]),
                fhir_versions=tuple(p.get("fhirVersions", ())),
                canonical=p.get("canonical"),
            )
            for p in manifest.get("packages", ())
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DefinitionError(f"{path}: not a valid definitions manifest ({exc})") from exc


def _add(
    name: str,
    resource: dict[str, Any] | None,
    resources: dict[str, dict[str, Any]],
    origins: dict[str, str],
    examples: list[tuple[str, dict[str, Any]]],
) -> None:
    """Index one resource: conformance resources by URL, everything else as an example."""
    if resource is None:
        return
    url = resource.get("url")
    if resource["resourceType"] in CONFORMANCE_TYPES and isinstance(url, str):
        previous = resources.get(url)
        if previous is not None and previous != resource:
            raise DefinitionError(f"{name}: {url} is already defined differently by {origins[url]}")
        resources[url] = resource
        origins[url] = name
    else:
        examples.append((name, resource))


def load_index(sources: Iterable[Path | str]) -> DefinitionIndex:
    """Load every source into one index. A URL defined twice with different content is an error.

    JSON files of all sources come first, in source order; XML files are read afterwards, with a
    FHIR XML schema built from the JSON StructureDefinitions (an XML resource needs the
    StructureDefinition of its type, and of the types that one uses, among the JSON files).
    """
    resources: dict[str, dict[str, Any]] = {}
    origins: dict[str, str] = {}
    examples: list[tuple[str, dict[str, Any]]] = []
    packages: list[PackageInfo] = []
    xml_files: list[tuple[str, bytes]] = []
    for raw in sources:
        source = Path(raw)
        try:
            if source.is_file() and source.suffix not in (".json", ".xml") or (
                source.is_dir() and (source / "package.json").exists()
            ):
                packages.append(read_package_info(source))
            elif source.is_dir() and (source / "manifest.json").is_file():
                packages.extend(_manifest_packages(source / "manifest.json"))
            files = list(_files_of(source))
        except PackageError as exc:
            raise DefinitionError(str(exc)) from exc
        for name, data in files:
            if name.endswith(".xml"):
                xml_files.append((name, data))
            else:
                _add(name, _parse(name, data), resources, origins, examples)
    if xml_files:
        from .fhirxml import XmlSchema
        from .snapshot import has_snapshot

        # Reading XML needs the core types only: differential-only definitions (profiles, rules)
        # are left out, as their bases may be among the XML files still to read.
        complete = {
            url: res for url, res in resources.items()
            if res.get("resourceType") != "StructureDefinition" or has_snapshot(res)
        }
        so_far = DefinitionIndex(complete, dict(origins), tuple(examples), tuple(packages))
        schema = XmlSchema.from_index(so_far)
        for name, data in xml_files:
            _add(name, _parse(name, data, schema), resources, origins, examples)
    return DefinitionIndex(resources, origins, tuple(examples), tuple(packages))
