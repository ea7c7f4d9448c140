"""Tests of ``fhirgen.fetch``: the closure, reasons, companions, the manifest and clear errors.

Offline and fast: every package is a tiny made-up FHIR npm package written to ``tmp_path``; npm
itself is replaced by a small script on ``PATH``. The last test checks the committed
``definitions/`` against its manifest.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from fhirgen import fetch as fetch_module
from fhirgen.fetch import (
    BOOTSTRAP_REASON,
    MANIFEST_NAME,
    FetchError,
    ResolvedSource,
    fetch,
    resolve_sources,
    sources_from_manifest,
)

SD = "http://hl7.org/fhir/StructureDefinition/"
VS = "http://example.org/ValueSet/"
CS = "http://example.org/CodeSystem/"
STRING = "http://hl7.org/fhirpath/System.String"
PREFIX = "ex.fhir"
VERSION = "1.0.0"
REPO_DEFINITIONS = Path(__file__).resolve().parents[1] / "definitions"


# --------------------------------------------------------------------------------------------
# Made-up packages
# --------------------------------------------------------------------------------------------


def element(path: str, *types: str | dict[str, Any], binding: dict[str, str] | None = None):
    item: dict[str, Any] = {"path": path}
    if types:
        item["type"] = [t if isinstance(t, dict) else {"code": t} for t in types]
    if binding:
        item["binding"] = binding
    return item


def structure(
    name: str,
    *elements: dict[str, Any],
    base: str | None = None,
    kind: str = "complex-type",
    derivation: str = "specialization",
    type_name: str | None = None,
) -> dict[str, Any]:
    sd: dict[str, Any] = {
        "resourceType": "StructureDefinition",
        "id": name,
        "url": SD + name,
        "name": name,
        "kind": kind,
        "type": type_name or name,
        "derivation": derivation,
        "snapshot": {"element": [element(name), *elements]},
    }
    if base:
        sd["baseDefinition"] = SD + base
    return sd


def value_set(name: str, *includes: dict[str, Any], exclude=(), expansion=None) -> dict[str, Any]:
    vs: dict[str, Any] = {
        "resourceType": "ValueSet",
        "id": name,
        "url": VS + name,
        "status": "active",
        "compose": {"include": list(includes)},
    }
    if exclude:
        vs["compose"]["exclude"] = list(exclude)
    if expansion is not None:
        vs["expansion"] = expansion
    return vs


def code_system(name: str) -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "id": name,
        "url": CS + name,
        "status": "active",
        "content": "complete",
        "concept": [{"code": "a"}, {"code": "b"}],
    }


def required(name: str) -> dict[str, str]:
    return {"strength": "required", "valueSet": f"{VS}{name}|{VERSION}"}


def core_resources() -> dict[str, dict[str, Any]]:
    widget = structure(
        "Widget",
        element("Widget.id", STRING),
        element("Widget.language", "code", binding=required("langs")),
        element("Widget.extension", "Extension"),
        element("Widget.status", "code", binding=required("status")),
        element(
            "Widget.kind", "Coding", binding={"strength": "extensible", "valueSet": VS + "kinds"}
        ),
        element(
            "Widget.name", "string", binding={"strength": "example", "valueSet": VS + "ignored"}
        ),
        element(
            "Widget.note", "string", binding={"strength": "preferred", "valueSet": VS + "pref"}
        ),
        element("Widget.flag", "code", binding=required("nowhere")),
        element("Widget.owner", {"code": "Reference", "targetProfile": [SD + "Gadget"]}),
        element("Widget.source", {"code": "canonical", "profile": [SD + "Gadget"]}),
        element("Widget.size", {"code": "Quantity", "profile": [SD + "SmallQuantity"]}),
        element("Widget.special", {"code": "Extension", "profile": [SD + "missing-ext"]}),
        base="DomainResource",
        kind="resource",
    )
    resources = [
        structure("Base", kind="complex-type"),
        structure(
            "Element",
            element("Element.id", STRING),
            element("Element.extension", "Extension"),
            base="Base",
        ),
        structure(
            "Extension",
            element("Extension.url", "uri"),
            element("Extension.value[x]", "string", "Coding"),
            base="Element",
        ),
        structure("string", element("string.value", STRING), base="Element", kind="primitive-type"),
        structure("uri", element("uri.value", STRING), base="Element", kind="primitive-type"),
        structure("code", element("code.value", STRING), base="string", kind="primitive-type"),
        structure(
            "canonical", element("canonical.value", STRING), base="uri", kind="primitive-type"
        ),
        structure(
            "Coding",
            element("Coding.system", "uri"),
            element("Coding.code", "code"),
            base="Element",
        ),
        structure("Quantity", element("Quantity.value", "string"), base="Element"),
        structure(
            "SmallQuantity",
            element("Quantity.value", "string"),
            base="Quantity",
            derivation="constraint",
            type_name="Quantity",
        ),
        structure("Reference", element("Reference.reference", "string"), base="Element"),
        structure(
            "Resource",
            element("Resource.id", STRING),
            element("Resource.language", "code", binding=required("langs")),
            base="Base",
            kind="resource",
        ),
        structure(
            "DomainResource",
            element("DomainResource.extension", "Extension"),
            base="Resource",
            kind="resource",
        ),
        structure("Gadget", element("Gadget.id", STRING), base="DomainResource", kind="resource"),
        structure("Unused", element("Unused.value", "string"), base="Element"),
        widget,
        structure(
            "StructureDefinition",
            element("StructureDefinition.snapshot.element", "ElementDefinition"),
            base="DomainResource",
            kind="resource",
        ),
        structure(
            "ElementDefinition",
            element("ElementDefinition.path", "string"),
            element(
                "ElementDefinition.binding.strength", "code", binding=required("binding-strength")
            ),
            base="Element",
        ),
        value_set(
            "status",
            {"system": CS + "status"},
            {"valueSet": [VS + "extra|" + VERSION]},
            exclude=[{"valueSet": [VS + "excluded"]}],
        ),
        value_set("extra", {"system": "http://snomed.info/sct", "concept": [{"code": "1"}]}),
        value_set("excluded", {"system": CS + "status", "concept": [{"code": "b"}]}),
        value_set("kinds", {"system": CS + "kinds"}),
        value_set("langs", {"system": "urn:ietf:bcp:47"}),
        value_set("binding-strength", {"system": CS + "binding-strength"}),
        value_set("ignored", {"system": CS + "ignored"}),
        value_set("pref", {"system": CS + "ignored"}),
        code_system("status"),
        code_system("kinds"),
        code_system("binding-strength"),
        code_system("ignored"),
        {"resourceType": "SearchParameter", "id": "Widget-status", "url": "http://x/sp"},
    ]
    return {f"{r['resourceType']}-{r['id']}.json": r for r in resources}


def expansions_resources() -> dict[str, dict[str, Any]]:
    contains = [{"system": CS + "status", "code": "a"}]
    expanded = value_set(
        "status",
        {"system": CS + "status"},
        {"valueSet": [VS + "extra"]},
        exclude=[{"valueSet": [VS + "excluded"]}],
        expansion={"timestamp": "2023-03-26T00:00:00Z", "contains": contains},
    )
    costly = value_set(
        "langs",
        {"system": "urn:ietf:bcp:47"},
        expansion={
            "extension": [{"url": fetch_module.TOO_COSTLY, "valueBoolean": True}],
            "timestamp": "2023-03-26T00:00:00Z",
        },
    )
    unused = value_set("ignored", {"system": CS + "ignored"}, expansion={"contains": []})
    return {f"ValueSet-{vs['id']}.json": vs for vs in (expanded, costly, unused)}


def examples_resources() -> dict[str, Any]:
    return {
        "Widget-example-one.json": {"resourceType": "Widget", "id": "one", "status": "a"},
        "Widget-example-two.json": {"resourceType": "Widget", "id": "two", "status": "b"},
        # resourceType not first: still recognised
        "late-type.json": {"id": "late", "resourceType": "Widget"},
        "Gadget-example.json": {"resourceType": "Gadget", "id": "g"},
        "StructureDefinition-Widget.json": core_resources()["StructureDefinition-Widget.json"],
        "Bundle-b.json": {
            "resourceType": "Bundle",
            "entry": [{"resource": {"resourceType": "Widget"}}],
        },
    }


def package_bytes(files: dict[str, Any]) -> dict[str, bytes]:
    """File name -> bytes, pretty-printed like the official packages (and not sort-ordered)."""
    return {name: json.dumps(content, indent=2).encode() + b"\n" for name, content in files.items()}


def write_tgz(path: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    meta = {"name": name, "version": version, "fhirVersions": ["9.0.0"], "canonical": "http://x"}
    members = {
        "package/package.json": json.dumps(meta).encode(),
        **{f"package/{k}": v for k, v in files.items()},
    }
    members["package/other/ignored.json"] = b"{}"
    with tarfile.open(path, "w:gz") as tar:
        for member_name, data in reversed(list(members.items())):  # archive order is not name order
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A folder holding the three made-up packages under their conventional npm file names."""
    folder = tmp_path / "store"
    folder.mkdir()
    for role, files in (
        ("core", core_resources()),
        ("expansions", expansions_resources()),
        ("examples", examples_resources()),
    ):
        name = f"{PREFIX}.{role}"
        write_tgz(folder / f"{name}-{VERSION}.tgz", name, VERSION, package_bytes(files))
    return folder


def tgz(store: Path, role: str) -> Path:
    return store / f"{PREFIX}.{role}-{VERSION}.tgz"


def all_three(store: Path) -> list[Path]:
    return [tgz(store, role) for role in ("core", "expansions", "examples")]


def read_manifest(definitions: Path) -> dict[str, Any]:
    return json.loads((definitions / MANIFEST_NAME).read_text())


def files_by_name(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["path"].split("/", 1)[1]: item for item in manifest["files"]}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------------------------
# The closure and its reasons
# --------------------------------------------------------------------------------------------


def test_closure_takes_bases_types_profiles_bindings_and_examples(store: Path, tmp_path: Path):
    definitions = tmp_path / "definitions"
    report = fetch(all_three(store), definitions, ["Widget"])
    manifest = read_manifest(definitions)
    core = {f"StructureDefinition-{n}.json" for n in (
        "Base", "Element", "Extension", "string", "uri", "code", "canonical", "Coding", "Quantity",
        "SmallQuantity", "Reference", "Resource", "DomainResource", "Widget",
        "StructureDefinition", "ElementDefinition",
    )}  # fmt: skip
    core |= {
        "ValueSet-extra.json",
        "ValueSet-excluded.json",
        "ValueSet-kinds.json",
        "ValueSet-binding-strength.json",
    }
    core |= {"CodeSystem-status.json", "CodeSystem-kinds.json", "CodeSystem-binding-strength.json"}
    expected = {f"ex.fhir.core/{name}" for name in core}
    expected |= {
        "ex.fhir.expansions/ValueSet-status.json",
        "ex.fhir.expansions/ValueSet-langs.json",
    }
    expected |= {
        f"ex.fhir.examples/{n}"
        for n in ("Widget-example-one.json", "Widget-example-two.json", "late-type.json")
    }
    assert {item["path"] for item in manifest["files"]} == expected
    assert set(snapshot(definitions)) == expected | {MANIFEST_NAME}
    assert report.taken == len(expected) and report.written == len(expected)
    assert report.messages == []


def test_reference_targets_example_bindings_and_unused_types_are_not_taken(store, tmp_path):
    definitions = tmp_path / "definitions"
    fetch(all_three(store), definitions, ["Widget"])
    taken = files_by_name(read_manifest(definitions))
    for name in ("StructureDefinition-Gadget.json", "StructureDefinition-Unused.json",
                 "ValueSet-ignored.json", "ValueSet-pref.json", "CodeSystem-ignored.json",
                 "Gadget-example.json", "Bundle-b.json", "SearchParameter-Widget-status.json"):  # fmt: skip
        assert name not in taken


def test_reasons_say_why_each_file_was_taken(store, tmp_path):
    definitions = tmp_path / "definitions"
    fetch(all_three(store), definitions, ["Widget"])
    taken = files_by_name(read_manifest(definitions))
    reasons = {name: item["reasons"] for name, item in taken.items()}
    assert reasons["StructureDefinition-Widget.json"] == ["target"]
    assert reasons["StructureDefinition-DomainResource.json"] == [
        "base of StructureDefinition",
        "base of Widget",
    ]
    assert reasons["StructureDefinition-Coding.json"] == [
        "type of Extension.value[x]",
        "type of Widget.kind",
    ]
    assert reasons["StructureDefinition-SmallQuantity.json"] == ["profile of Widget.size"]
    assert reasons["StructureDefinition-StructureDefinition.json"] == [BOOTSTRAP_REASON]
    assert BOOTSTRAP_REASON in reasons["StructureDefinition-ElementDefinition.json"]
    assert reasons["ValueSet-status.json"] == ["required binding of Widget.status"]
    assert reasons["ValueSet-langs.json"] == [
        "required binding of Resource.language",
        "required binding of Widget.language",
    ]
    assert reasons["ValueSet-kinds.json"] == ["extensible binding of Widget.kind"]
    assert reasons["ValueSet-extra.json"] == [f"included by ValueSet {VS}status"]
    assert reasons["ValueSet-excluded.json"] == [f"excluded by ValueSet {VS}status"]
    assert reasons["CodeSystem-status.json"] == [
        f"code system of ValueSet {VS}excluded",
        f"code system of ValueSet {VS}status",
    ]
    assert reasons["Widget-example-one.json"] == ["example of Widget"]
    assert taken["StructureDefinition-Widget.json"]["neededFor"] == ["Widget"]
    assert taken["StructureDefinition-ElementDefinition.json"]["neededFor"] == ["bootstrap"]
    assert taken["StructureDefinition-Element.json"]["neededFor"] == ["Widget", "bootstrap"]


def test_reasons_are_bounded(store, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_module, "MAX_SUBJECTS", 2)
    monkeypatch.setattr(fetch_module, "MAX_PATHS", 1)
    definitions = tmp_path / "definitions"
    fetch(all_three(store), definitions, ["Widget"])
    reasons = files_by_name(read_manifest(definitions))["StructureDefinition-string.json"][
        "reasons"
    ]
    # string is the type of elements of six definitions (Quantity.value appears in Quantity and
    # in SmallQuantity; Widget has name and note), and the base of code.
    assert reasons == [
        "base of code",
        "type of ElementDefinition.path",
        "type of Extension.value[x]",
        "type of elements of 4 more StructureDefinitions",
    ]
    monkeypatch.setattr(fetch_module, "MAX_SUBJECTS", 10)
    fetch(all_three(store), definitions, ["Widget"])
    reasons = files_by_name(read_manifest(definitions))["StructureDefinition-string.json"][
        "reasons"
    ]
    assert "type of Widget.name (+1 more)" in reasons


def test_value_sets_come_from_expansions_when_there(store, tmp_path):
    definitions = tmp_path / "definitions"
    fetch(all_three(store), definitions, ["Widget"])
    taken = files_by_name(read_manifest(definitions))
    assert taken["ValueSet-status.json"]["package"] == "ex.fhir.expansions"
    assert taken["ValueSet-status.json"]["expansion"] == "complete"
    assert taken["ValueSet-langs.json"]["expansion"] == "incomplete"
    assert taken["ValueSet-kinds.json"]["package"] == "ex.fhir.core"
    assert taken["ValueSet-kinds.json"]["expansion"] == "absent"
    assert taken["CodeSystem-status.json"]["content"] == "complete"
    expanded = package_bytes(expansions_resources())["ValueSet-status.json"]
    assert (definitions / "ex.fhir.expansions/ValueSet-status.json").read_bytes() == expanded


def test_unavailable_code_systems_value_sets_and_profiles_are_recorded(store, tmp_path):
    definitions = tmp_path / "definitions"
    report = fetch(all_three(store), definitions, ["Widget"])
    unavailable = read_manifest(definitions)["unavailable"]
    assert unavailable == [
        {"resourceType": "CodeSystem", "url": "http://snomed.info/sct",
         "neededBy": [f"code system of ValueSet {VS}extra"]},
        {"resourceType": "CodeSystem", "url": "urn:ietf:bcp:47",
         "neededBy": [f"code system of ValueSet {VS}langs"]},
        {"resourceType": "StructureDefinition", "url": SD + "missing-ext",
         "neededBy": ["profile of Widget.special"]},
        {"resourceType": "ValueSet", "url": VS + "nowhere",
         "neededBy": ["required binding of Widget.flag"]},
    ]  # fmt: skip
    assert [(u.resource_type, u.url) for u in report.unavailable] == [
        (u["resourceType"], u["url"]) for u in unavailable
    ]


def test_several_targets_and_their_examples(store, tmp_path):
    definitions = tmp_path / "definitions"
    fetch(all_three(store), definitions, ["Widget", "Gadget"])
    manifest = read_manifest(definitions)
    taken = files_by_name(manifest)
    assert manifest["targets"] == ["Gadget", "Widget"]
    assert taken["StructureDefinition-Gadget.json"]["reasons"] == ["target"]
    assert taken["Gadget-example.json"]["reasons"] == ["example of Gadget"]


# --------------------------------------------------------------------------------------------
# Writing: byte copies, determinism, stale files, the manifest
# --------------------------------------------------------------------------------------------


def test_files_are_byte_copies_and_rerun_is_byte_identical(store, tmp_path):
    definitions = tmp_path / "definitions"
    first = fetch(all_three(store), definitions, ["Widget"])
    before = snapshot(definitions)
    second = fetch(all_three(store), definitions, ["Widget"])
    assert snapshot(definitions) == before
    assert (second.written, second.removed, second.unchanged) == (0, 0, first.written)
    summary = second.summary_lines()
    assert (
        f"{first.written} files taken: 0 written, {first.written} unchanged, 0 removed" in summary
    )
    assert "  StructureDefinition http://hl7.org/fhir/StructureDefinition/missing-ext" in summary
    originals = package_bytes(core_resources())
    assert (
        before["ex.fhir.core/StructureDefinition-Widget.json"]
        == originals["StructureDefinition-Widget.json"]
    )


def test_refetch_removes_files_no_longer_taken(store, tmp_path):
    definitions = tmp_path / "definitions"
    fetch(all_three(store), definitions, ["Widget", "Gadget"])
    (definitions / "ex.fhir.core" / "StructureDefinition-Stale.json").write_text("{}")
    (definitions / "README.md").write_text("not ours")
    report = fetch([tgz(store, "core"), tgz(store, "expansions")], definitions, ["Widget"])
    assert not (definitions / "ex.fhir.core/StructureDefinition-Gadget.json").exists()
    assert not (definitions / "ex.fhir.core/StructureDefinition-Stale.json").exists()
    assert not (definitions / "ex.fhir.examples").exists()  # its package was not given this time
    assert (definitions / "README.md").read_text() == "not ours"
    assert report.removed == 2 + 4  # Gadget SD, stale file, 4 examples
    listed = {item["path"] for item in read_manifest(definitions)["files"]}
    assert set(snapshot(definitions)) == listed | {MANIFEST_NAME, "README.md"}


def test_manifest_records_packages_with_independent_hashes_and_no_paths(store, tmp_path):
    definitions = tmp_path / "definitions"
    fetch(all_three(store), definitions, ["Widget"])
    text = (definitions / MANIFEST_NAME).read_text()
    manifest = json.loads(text)
    assert text == json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    assert str(tmp_path) not in text and "store" not in text
    for record in manifest["packages"]:
        data = tgz(store, record["role"]).read_bytes()
        assert record["file"] == f"{record['name']}-{VERSION}.tgz"
        assert record["obtained"] == "file"
        assert (
            record["integrity"]
            == "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        )
        assert record["sha256"] == hashlib.sha256(data).hexdigest()
        assert record["fhirVersions"] == ["9.0.0"] and record["version"] == VERSION
    assert [r["name"] for r in manifest["packages"]] == [
        "ex.fhir.core",
        "ex.fhir.examples",
        "ex.fhir.expansions",
    ]
    paths = [item["path"] for item in manifest["files"]]
    assert paths == sorted(paths)
    for item in manifest["files"]:
        data = (definitions / item["path"]).read_bytes()
        assert item["sha256"] == hashlib.sha256(data).hexdigest()
        content = json.loads(data)
        assert (item["resourceType"], item["id"], item["url"]) == (
            content["resourceType"], content.get("id"), content.get("url"),
        )  # fmt: skip
        assert item["reasons"] and item["reasons"] == sorted(item["reasons"])


def test_unpacked_package_folders_are_sources_too(store, tmp_path):
    folder = tmp_path / "unpacked"
    with tarfile.open(tgz(store, "core")) as tar:
        tar.extractall(folder, filter="data")
    definitions = tmp_path / "definitions"
    report = fetch([folder], definitions, ["Widget"])
    record = read_manifest(definitions)["packages"][0]
    assert (record["obtained"], record["file"], record["integrity"]) == ("folder", "unpacked", None)
    assert (definitions / "ex.fhir.core/StructureDefinition-Widget.json").is_file()
    assert any("no examples package" in m for m in report.messages)


# --------------------------------------------------------------------------------------------
# Sources: companions, npm, the manifest
# --------------------------------------------------------------------------------------------


def test_companion_files_are_found_beside_a_core_file(store, tmp_path):
    sources = resolve_sources([str(tgz(store, "core"))], tmp_path / "work")
    assert [s.name for s in sources] == [
        f"{PREFIX}.{r}-{VERSION}.tgz" for r in ("core", "expansions", "examples")
    ]
    assert all(s.obtained == "file" for s in sources)
    assert Path(sources[0]) == tgz(store, "core")  # path-like


def test_without_companions_value_sets_come_from_core_and_the_report_says_so(store, tmp_path):
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    core = tgz(store, "core").rename(lonely / tgz(store, "core").name)
    sources = resolve_sources([str(core)], tmp_path / "work")
    assert [s.path for s in sources] == [core]
    definitions = tmp_path / "definitions"
    report = fetch(sources, definitions, ["Widget"])
    assert report.messages == [
        "no expansions package: ValueSets are taken from core, without expansions",
        "no examples package: no examples taken",
    ]
    taken = files_by_name(read_manifest(definitions))
    assert taken["ValueSet-status.json"]["package"] == "ex.fhir.core"
    assert taken["ValueSet-status.json"]["expansion"] == "absent"
    assert not [name for name in taken if name.startswith("Widget-example")]


def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Path) -> Path:
    """Put an ``npm`` on PATH that 'downloads' from *store* and logs its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "npm.log"
    script = bin_dir / "npm"
    script.write_text(
        f"#!{sys.executable}\n"
        "import shutil, sys, pathlib\n"
        f"store = pathlib.Path({str(store)!r})\n"
        f"with open({str(log)!r}, 'a') as log: log.write(' '.join(sys.argv[1:]) + '\\n')\n"
        "name, version = sys.argv[2].rsplit('@', 1)\n"
        "found = store / f'{name}-{version}.tgz'\n"
        "if not found.is_file():\n"
        "    sys.stderr.write(f'npm error 404 Not Found - GET https://registry.npmjs.org/{name}\\n')\n"
        "    sys.exit(1)\n"
        "shutil.copy(found, found.name)\n"
        "print(found.name)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    return log


def test_npm_spec_of_a_core_fetches_its_companions(store, tmp_path, monkeypatch):
    log = fake_npm(tmp_path, monkeypatch, store)
    work = tmp_path / "work"
    sources = resolve_sources([f"{PREFIX}.core@{VERSION}"], work)
    assert log.read_text().splitlines() == [
        f"pack {PREFIX}.{role}@{VERSION} --silent" for role in ("core", "expansions", "examples")
    ]
    assert [(s.path.parent, s.obtained) for s in sources] == [(work, "npm")] * 3
    definitions = tmp_path / "definitions"
    fetch(sources, definitions, ["Widget"])
    manifest = read_manifest(definitions)
    assert {p["obtained"] for p in manifest["packages"]} == {"npm"}
    assert sources_from_manifest(definitions) == [
        f"{PREFIX}.{role}@{VERSION}" for role in ("core", "examples", "expansions")
    ]


def test_npm_companions_are_not_added_twice(store, tmp_path, monkeypatch):
    log = fake_npm(tmp_path, monkeypatch, store)
    resolve_sources([f"{PREFIX}.core@{VERSION}", str(tgz(store, "examples"))], tmp_path / "work")
    assert log.read_text().splitlines() == [
        f"pack {PREFIX}.core@{VERSION} --silent",
        f"pack {PREFIX}.expansions@{VERSION} --silent",
    ]


def test_npm_failure_is_a_clear_error(store, tmp_path, monkeypatch):
    fake_npm(tmp_path, monkeypatch, store)
    with pytest.raises(
        FetchError, match=r"^no\.such\.core@1\.0\.0: npm pack failed: npm error 404"
    ):
        resolve_sources(["no.such.core@1.0.0"], tmp_path / "work")


def test_missing_npm_is_a_clear_error(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(FetchError, match="npm is not installed"):
        resolve_sources([f"{PREFIX}.core@{VERSION}"], tmp_path / "work")


def test_sources_from_manifest_needs_a_manifest(tmp_path):
    with pytest.raises(FetchError, match="manifest.json not found"):
        sources_from_manifest(tmp_path)


# --------------------------------------------------------------------------------------------
# Unusable input
# --------------------------------------------------------------------------------------------


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FetchError, match="nowhere.tgz: no such package file or folder"):
        resolve_sources([str(tmp_path / "nowhere.tgz")], tmp_path)
    with pytest.raises(FetchError, match="no such package file or folder"):
        fetch([tmp_path / "nowhere.tgz"], tmp_path / "definitions")


def test_a_tgz_that_is_not_a_package_is_a_clear_error(tmp_path):
    not_package = tmp_path / "photos.tgz"
    with tarfile.open(not_package, "w:gz") as tar:
        info = tarfile.TarInfo("holiday.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(FetchError, match="no package/package.json"):
        fetch([not_package], tmp_path / "definitions")
    garbage = tmp_path / "garbage.tgz"
    garbage.write_bytes(b"not gzip at all")
    with pytest.raises(FetchError, match="not a readable package archive"):
        resolve_sources([str(garbage)], tmp_path)
    assert not (tmp_path / "definitions").exists()


def test_unknown_target_is_a_clear_error(store, tmp_path):
    with pytest.raises(FetchError, match=r"unknown target type 'Wdget'.*did you mean Widget"):
        fetch(all_three(store), tmp_path / "definitions", ["Wdget"])
    with pytest.raises(FetchError, match="unknown target type '../x'"):
        fetch(all_three(store), tmp_path / "definitions", ["../x"])
    assert not (tmp_path / "definitions").exists()


def test_a_core_package_is_required(store, tmp_path):
    with pytest.raises(FetchError, match="no FHIR core package given"):
        fetch([tgz(store, "examples")], tmp_path / "definitions", ["Widget"])


def test_packages_of_other_roles_or_releases_are_refused(store, tmp_path):
    other = write_tgz(tmp_path / "other.tgz", "ex.fhir.extras", VERSION, {})
    with pytest.raises(FetchError, match="not a FHIR core, expansions or examples package"):
        fetch([tgz(store, "core"), other], tmp_path / "definitions")
    older = write_tgz(tmp_path / "old.tgz", f"{PREFIX}.examples", "0.9.0", {})
    with pytest.raises(FetchError, match="does not match ex.fhir.core@1.0.0"):
        fetch([tgz(store, "core"), older], tmp_path / "definitions")
    with pytest.raises(FetchError, match="two core packages"):
        fetch([tgz(store, "core"), tgz(store, "core")], tmp_path / "definitions")


def test_a_missing_base_or_type_definition_is_a_clear_error(tmp_path):
    broken = core_resources()
    del broken["StructureDefinition-Coding.json"]
    core = write_tgz(tmp_path / "core.tgz", f"{PREFIX}.core", VERSION, package_bytes(broken))
    with pytest.raises(
        FetchError, match=rf"no StructureDefinition {SD}Coding \(type of Widget.kind\)"
    ):
        fetch([core], tmp_path / "definitions", ["Widget"])


def test_resolved_source_is_path_like(tmp_path):
    source = ResolvedSource(tmp_path / "a.tgz", "file")
    assert os.fspath(source) == str(tmp_path / "a.tgz") and source.name == "a.tgz"


# --------------------------------------------------------------------------------------------
# The committed definitions/
# --------------------------------------------------------------------------------------------


def test_committed_definitions_agree_with_their_manifest():
    manifest_path = REPO_DEFINITIONS / MANIFEST_NAME
    assert manifest_path.is_file(), "definitions/manifest.json is missing: run `fhirgen fetch`"
    text = manifest_path.read_text()
    manifest = json.loads(text)
    assert text == json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    listed = {}
    for item in manifest["files"]:
        path = REPO_DEFINITIONS / item["path"]
        assert path.is_file(), f"{item['path']} is listed but missing"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == item["sha256"], item["path"]
        listed[item["path"]] = item
    package_dirs = {record["name"] for record in manifest["packages"]}
    on_disk = {
        p.relative_to(REPO_DEFINITIONS).as_posix()
        for name in package_dirs
        for p in (REPO_DEFINITIONS / name).rglob("*")
        if p.is_file()
    }
    assert on_disk == set(listed), "files in definitions/ and its manifest differ"
    assert {path.split("/", 1)[0] for path in listed} <= package_dirs
    assert "ImagingSelection" in manifest["targets"]
    examples = [p for p, item in listed.items() if "example of ImagingSelection" in item["reasons"]]
    assert len(examples) == 7
