"""Read FHIR npm packages: a ``.tgz`` file as ``npm pack`` writes it, or an unpacked folder.

A FHIR package is an npm package whose ``package/`` folder holds one resource per JSON file and a
``package.json`` naming it. This module only reads bytes; it knows nothing of StructureDefinitions.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = [
    "PackageError",
    "PackageFile",
    "PackageInfo",
    "iter_package_files",
    "read_package_info",
    "scan_package_files",
]

#: Largest single member we read from a package (the biggest R5 core file is ~25 MB).
MAX_MEMBER_BYTES = 200 * 1024 * 1024


class PackageError(Exception):
    """A package file or folder that cannot be read as a FHIR npm package."""


@dataclass(frozen=True, slots=True)
class PackageInfo:
    """The identity of a package, from its ``package/package.json``."""

    name: str
    version: str
    fhir_versions: tuple[str, ...]
    canonical: str | None


@dataclass(frozen=True, slots=True)
class PackageFile:
    """One file of a package: its name inside ``package/`` and its bytes."""

    name: str
    data: bytes


def _is_package_tgz(path: Path) -> bool:
    return path.is_file() and (path.name.endswith(".tgz") or path.name.endswith(".tar.gz"))


def _package_root(path: Path) -> Path:
    """The folder holding ``package.json`` for an unpacked package (``X`` or ``X/package``)."""
    if (path / "package" / "package.json").is_file():
        return path / "package"
    if (path / "package.json").is_file():
        return path
    raise PackageError(f"{path}: not a FHIR package folder (no package.json)")


def iter_package_files(path: Path, suffix: str = ".json") -> Iterator[PackageFile]:
    """Yield the top-level files of a package's ``package/`` folder whose name ends with *suffix*.

    Files come in sorted name order whatever the archive order, so callers are deterministic.
    Sub-folders (``other/``, ``xml/``, ``openapi/``) and ``package.json`` itself are skipped.
    """
    path = Path(path)
    if _is_package_tgz(path):
        # One streaming pass (no backward seeks in the gzip stream), then name order.
        yield from sorted(scan_package_files(path, suffix), key=lambda item: item.name)
        return
    if path.is_dir():
        root = _package_root(path)
        for file in sorted(root.iterdir()):
            if file.is_file() and file.name.endswith(suffix) and file.name != "package.json":
                yield PackageFile(file.name, file.read_bytes())
        return
    raise PackageError(f"{path}: no such package file or folder")


def read_package_info(path: Path) -> PackageInfo:
    """Read ``package.json`` of a package file or folder."""
    path = Path(path)
    raw: bytes
    if _is_package_tgz(path):
        try:
            with tarfile.open(path, "r:gz") as tar:
                handle = tar.extractfile("package/package.json")
                if handle is None:
                    raise PackageError(f"{path}: package/package.json is not a file")
                raw = handle.read()
        except KeyError as exc:
            raise PackageError(f"{path}: no package/package.json in the archive") from exc
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise PackageError(f"{path}: not a readable package archive ({exc})") from exc
    elif path.is_dir():
        raw = (_package_root(path) / "package.json").read_bytes()
    else:
        raise PackageError(f"{path}: no such package file or folder")
    try:
        meta = json.loads(raw)
        return PackageInfo(
            name=str(meta["name"]),
            version=str(meta["version"]),
            fhir_versions=tuple(str(v) for v in meta.get("fhirVersions", ())),
            canonical=meta.get("canonical"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise PackageError(f"{path}: package.json is not a valid package manifest ({exc})") from exc


def scan_package_files(path: Path, suffix: str = ".json") -> Iterator[PackageFile]:
    """Like :func:`iter_package_files`, but in archive order, reading a ``.tgz`` once as a stream.

    Much faster on large archives (no backward seeks in the gzip stream), for callers that
    select some files and sort them themselves. Folders are read as by :func:`iter_package_files`.
    """
    path = Path(path)
    if not _is_package_tgz(path):
        yield from iter_package_files(path, suffix)
        return
    try:
        with tarfile.open(path, "r|gz") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if len(parts) != 2 or parts[0] != "package" or not member.isfile():
                    continue
                if not parts[1].endswith(suffix) or parts[1] == "package.json":
                    continue
                if member.size > MAX_MEMBER_BYTES:
                    raise PackageError(f"{path}: {member.name} is too large")
                handle = tar.extractfile(member)
                if handle is not None:
                    yield PackageFile(parts[1], handle.read())
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise PackageError(f"{path}: not a readable package archive ({exc})") from exc
