"""Unit tests of the hand-written runtime: ``fhirgen.runtime.jsonio`` and ``fhirgen.runtime.model``.

Model behaviour is tested on real generated ImagingSelection models, generated once per session from
``definitions/`` into a temporary folder (so these tests do not depend on ``generated/`` being
current) and imported there under a unique name.
"""

from __future__ import annotations

import copy
import importlib
import json
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fhirgen.pipeline import run_generation
from fhirgen.runtime import jsonio
from fhirgen.runtime.jsonio import FhirJsonError
from fhirgen.runtime.model import ModelError, UnknownResource

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT / "definitions"
EXAMPLES = DEFINITIONS / "hl7.fhir.r5.examples"


# ------------------------------------------------------------------------------------- jsonio


def test_decimal_precision_is_kept() -> None:
    tree = jsonio.loads('{"a": 1.50, "b": [0.000100, 2.0, -0.0, 100]}')
    assert isinstance(tree["a"], Decimal)
    assert str(tree["a"]) == "1.50"
    assert tree["b"][3] == 100 and isinstance(tree["b"][3], int)
    assert jsonio.dumps(tree) == '{"a":1.50,"b":[0.000100,2.0,-0.0,100]}'


def test_exponent_numbers() -> None:
    text = "[1e3, 1.0E-7, 2E+2, 12345678901234567890.123456789, 1E400]"
    tree = jsonio.loads(text)
    assert tree[0] == Decimal(1000)
    assert tree[4] == Decimal("1E400")  # beyond float range, still exact
    out = jsonio.dumps(tree)
    assert json.loads(out, parse_float=Decimal) == json.loads(text, parse_float=Decimal)
    assert "12345678901234567890.123456789" in out
    assert "inf" not in out.lower()


def test_big_integers_stay_exact() -> None:
    tree = jsonio.loads('{"n": 9007199254740993, "m": -9223372036854775809}')
    assert tree == {"n": 9007199254740993, "m": -9223372036854775809}
    assert jsonio.dumps(tree) == '{"n":9007199254740993,"m":-9223372036854775809}'


def test_unicode_is_written_as_utf8() -> None:
    tree = jsonio.loads('{"a": "R\\u00f6d \\u2713", "b": "𝄞", "c": "line\\nbreak \\"q\\" \\\\"}')
    assert tree == {"a": "Röd ✓", "b": "𝄞", "c": 'line\nbreak "q" \\'}
    assert jsonio.dumps(tree) == '{"a":"Röd ✓","b":"𝄞","c":"line\\nbreak \\"q\\" \\\\"}'
    assert jsonio.loads(jsonio.dumps(tree).encode("utf-8")) == tree


def test_bytes_with_bom() -> None:
    data = b"\xef\xbb\xbf" + '{"resourceType": "X", "v": 1.50, "s": "é"}'.encode()
    tree = jsonio.loads(data)
    assert tree == {"resourceType": "X", "v": Decimal("1.50"), "s": "é"}
    assert jsonio.loads(bytearray(data)) == tree


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "{",
        '{"a": 1,}',
        "{'a': 1}",
        '{"a": 1} x',
        '{"a": undefined}',
        b'{"a": "\xff"}',  # not UTF-8
        '{"a": 1}'.encode("utf-16"),
    ],
)
def test_invalid_json(bad: str | bytes) -> None:
    with pytest.raises(FhirJsonError) as raised:
        jsonio.loads(bad)
    assert isinstance(raised.value, ValueError)
    assert "Traceback" not in str(raised.value)


def test_invalid_json_message_has_a_position() -> None:
    with pytest.raises(FhirJsonError, match=r"line 2 column 8"):
        jsonio.loads('{\n  "a": ,\n}')


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_refused(constant: str) -> None:
    """Python's json reads NaN/Infinity; they are not JSON and not FHIR decimals."""
    with pytest.raises(FhirJsonError):
        jsonio.loads(f'{{"a": {constant}}}')


def test_deep_nesting_is_a_json_error() -> None:
    with pytest.raises(FhirJsonError, match="deep"):
        jsonio.loads("[" * 100_000 + "]" * 100_000)


def test_dumps_indent() -> None:
    tree = {"a": [1, {}], "b": [], "c": {"d": None, "e": True, "f": False}}
    assert jsonio.dumps(tree, indent=2) == (
        '{\n  "a": [\n    1,\n    {}\n  ],\n  "b": [],\n  "c": {\n    "d": null,\n'
        '    "e": true,\n    "f": false\n  }\n}'
    )
    assert json.loads(jsonio.dumps(tree, indent=2)) == tree
    assert jsonio.dumps(("x", 1)) == '["x",1]'


def test_dumps_refuses_what_json_cannot_say() -> None:
    with pytest.raises(ValueError):
        jsonio.dumps({"a": Decimal("NaN")})
    with pytest.raises(ValueError):
        jsonio.dumps({"a": Decimal("-Infinity")})
    with pytest.raises(TypeError):
        jsonio.dumps({"a": object()})


def test_arithmetic_results_are_written_by_value() -> None:
    tree = jsonio.loads('{"a": 2e3}')
    assert jsonio.dumps({"b": tree["a"] + 1}) == '{"b":2001}'


# ---------------------------------------------------------------------- generated models


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    if not (DEFINITIONS / "manifest.json").is_file():
        pytest.fail("definitions/ is not populated: run `fhirgen fetch`")
    generation = run_generation([DEFINITIONS], ["ImagingSelection"], tests=False)
    root = tmp_path_factory.mktemp("runtime-models")
    name = f"fhirgen_test_runtime_{uuid.uuid4().hex[:10]}"
    for key, text in generation.files.items():
        head, _, rel = key.partition("/")
        assert head == "models", key
        path = root / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    sys.path.insert(0, str(root))
    try:
        importlib.invalidate_caches()
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(root))
        for module in [m for m in sys.modules if m.split(".")[0] == name]:
            del sys.modules[module]


BASE = {
    "resourceType": "ImagingSelection",
    "id": "rt",
    "status": "available",
    "code": {"coding": [{"system": "http://example.org", "code": "x"}]},
}


def _round_trip(models: ModuleType, tree: dict[str, Any]) -> dict[str, Any]:
    model = models.ImagingSelection.from_json(json.dumps(tree), validate=False)
    return json.loads(model.to_json())


def _tree(**extra: Any) -> dict[str, Any]:
    tree = copy.deepcopy(BASE)
    tree.update(extra)
    return tree


def test_primitive_extension_is_kept(models: ModuleType) -> None:
    ext = {"extension": [{"url": "http://example.org/why", "valueString": "because"}]}
    tree = _tree(_status=ext)
    model = models.ImagingSelection.from_json(json.dumps(tree), validate=False)
    assert model.status == "available"
    assert model.status_ext.extension[0].valueString == "because"
    assert json.loads(model.to_json()) == tree
    # an extension without a value
    del tree["status"]
    assert _round_trip(models, tree) == tree
    # the id of a resource is a primitive too: `_id` is kept
    tree = _tree(_id={"extension": [{"url": "http://example.org/x", "valueBoolean": True}]})
    assert _round_trip(models, tree) == tree


def test_primitive_arrays_with_null_placeholders(models: ModuleType) -> None:
    instance = {
        "uid": "1.2.3",
        "subset": ["a", None, "c"],
        "_subset": [
            None,
            {"id": "s2", "extension": [{"url": "http://e.org/x", "valueCode": "y"}]},
            None,
        ],
    }
    tree = _tree(instance=[instance])
    model = models.ImagingSelection.from_json(json.dumps(tree), validate=False)
    assert model.instance[0].subset == ["a", None, "c"]
    assert model.instance[0].subset_ext[0] is None and model.instance[0].subset_ext[1].id == "s2"
    assert json.loads(model.to_json()) == tree


def test_primitive_array_of_extensions_only(models: ModuleType) -> None:
    instance = {"uid": "1.2.3", "_subset": [{"id": "only"}, {"id": "ext"}]}
    tree = _tree(instance=[instance])
    model = models.ImagingSelection.from_json(json.dumps(tree), validate=False)
    assert model.instance[0].subset == [None, None]
    assert json.loads(model.to_json()) == tree


def test_decimal_arrays_keep_their_text(models: ModuleType) -> None:
    text = (
        '{"resourceType":"ImagingSelection","status":"available","code":{"text":"t"},'
        '"instance":[{"uid":"1.2","imageRegion2D":[{"regionType":"point",'
        '"coordinate":[1.50,0.000100,2e3,-0.0,7]}]}]}'
    )
    model = models.ImagingSelection.from_json(text, validate=False)
    coordinate = model.instance[0].imageRegion2D[0].coordinate
    assert all(isinstance(c, Decimal) for c in coordinate)
    assert coordinate[4] == Decimal(7)
    out = model.to_json()
    assert '"coordinate":[1.50,0.000100,' in out
    assert json.loads(out, parse_float=Decimal) == json.loads(text, parse_float=Decimal)


def test_empty_lists_and_none_are_omitted(models: ModuleType) -> None:
    model = models.ImagingSelection(
        status="available",
        identifier=[],
        code=models.CodeableConcept(text="t", coding=[]),
        instance=[models.ImagingSelectionInstance(uid="1.2", subset=[], subset_ext=[])],
    )
    assert model.to_tree() == {
        "resourceType": "ImagingSelection",
        "status": "available",
        "code": {"text": "t"},
        "instance": [{"uid": "1.2"}],
    }
    assert model.to_json() == (
        '{"resourceType":"ImagingSelection","status":"available","code":{"text":"t"},'
        '"instance":[{"uid":"1.2"}]}'
    )


def test_empty_objects_are_omitted(models: ModuleType) -> None:
    """FHIR JSON has no empty objects; the model docstring promises none are written."""
    model = models.ImagingSelection(
        status="available",
        status_ext=models.Element(),
        code=models.CodeableConcept(),
        identifier=[models.Identifier()],
    )
    assert model.to_tree() == {"resourceType": "ImagingSelection", "status": "available"}


def test_all_null_primitive_array_is_omitted(models: ModuleType) -> None:
    model = models.ImagingSelectionInstance(uid="1", subset=[None, None], subset_ext=[None, None])
    assert model.to_tree() == {"uid": "1"}


def test_primitive_array_and_extensions_are_written_aligned(models: ModuleType) -> None:
    """``subset`` and ``_subset`` must have the same length in FHIR JSON."""
    model = models.ImagingSelectionInstance(
        uid="1", subset=["a", "b"], subset_ext=[models.Element(id="x")]
    )
    assert model.to_tree() == {"uid": "1", "subset": ["a", "b"], "_subset": [{"id": "x"}, None]}


def test_specification_order_on_output(models: ModuleType) -> None:
    scrambled = {
        "instance": [{"uid": "1.2"}],
        "code": {"text": "t"},
        "status": "available",
        "id": "x",
        "resourceType": "ImagingSelection",
    }
    out = json.loads(models.ImagingSelection.from_json(json.dumps(scrambled), validate=False).to_json())
    assert list(out) == ["resourceType", "id", "status", "code", "instance"]


def test_integer64_is_a_json_string(models: ModuleType) -> None:
    big = "9223372036854775807"
    ext = {"url": "http://example.org/n", "valueInteger64": big}
    model = models.ImagingSelection.from_json(json.dumps(_tree(extension=[ext])), validate=False)
    assert model.extension[0].valueInteger64 == 9223372036854775807
    assert json.loads(model.to_json())["extension"][0]["valueInteger64"] == big
    # a JSON number is read, and written the FHIR way (a string)
    ext = {"url": "http://example.org/n", "valueInteger64": -5}
    model = models.ImagingSelection.from_json(json.dumps(_tree(extension=[ext])), validate=False)
    assert json.loads(model.to_json())["extension"][0]["valueInteger64"] == "-5"
    built = models.Extension(url="http://example.org/n", valueInteger64=12)
    assert built.to_tree() == {"url": "http://example.org/n", "valueInteger64": "12"}


@pytest.mark.parametrize("bad", ["12a", "", "0x10", [1], {"a": 1}])
def test_integer64_that_is_not_an_integer(models: ModuleType, bad: Any) -> None:
    ext = {"url": "http://example.org/n", "valueInteger64": bad}
    with pytest.raises(ModelError, match=r"extension\[0\]\.valueInteger64"):
        models.ImagingSelection.from_json(json.dumps(_tree(extension=[ext])), validate=False)


@pytest.mark.parametrize("bad", ["1.5", "true", '"1_000"', '" 12 "'])
def test_integer64_is_not_silently_changed(models: ModuleType, bad: str) -> None:
    """1.5 must not become 1, true must not become 1, "1_000" must not become "1000"."""
    text = json.dumps(_tree(extension=[{"url": "http://e.org/n", "valueInteger64": 0}]))
    text = text.replace('"valueInteger64": 0', f'"valueInteger64": {bad}')
    with pytest.raises(ModelError):
        models.ImagingSelection.from_json(text, validate=False)


def test_unknown_contained_resource_is_kept_losslessly(models: ModuleType) -> None:
    unknown = {
        "resourceType": "Zorgo",
        "id": "z",
        "weird": [1.50, {"deep": [None, "é"]}, 2e3],
        "_weird": {"x": 1},
    }
    known = {
        "resourceType": "ImagingSelection", "id": "inner", "status": "unknown",
        "code": {"text": "c"},
    }
    text = json.dumps(_tree(contained=[unknown, known])).replace("1.5,", "1.50,")
    model = models.ImagingSelection.from_json(text, validate=False)
    assert isinstance(model.contained[0], UnknownResource)
    assert isinstance(model.contained[1], models.ImagingSelection)
    sent = json.loads(text, parse_float=Decimal)
    assert model.contained[0] == UnknownResource(sent["contained"][0])
    out = model.to_json()
    assert '"weird":[1.50,' in out
    assert json.loads(out, parse_float=Decimal) == json.loads(text, parse_float=Decimal)
    assert "Zorgo" in repr(model.contained[0])
    # abstract types have no class of their own: kept as received too
    abstract = models.parse({"resourceType": "DomainResource", "id": "d"}, validate=False)
    assert isinstance(abstract, UnknownResource) and abstract.to_tree() == {
        "resourceType": "DomainResource", "id": "d"
    }


def test_parse_by_resource_type(models: ModuleType) -> None:
    text = json.dumps(BASE)
    assert isinstance(models.parse(text), models.ImagingSelection)
    assert isinstance(models.parse(text.encode("utf-8-sig")), models.ImagingSelection)
    assert models.parse(json.loads(text)) == models.ImagingSelection.from_json(text)
    assert "ImagingSelection" in models.RESOURCES
    assert set(models.RESOURCES) == {"ImagingSelection"}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"code": [{"text": "array where an object belongs"}]}, r"ImagingSelection\.code"),
        ({"identifier": {"value": "object, not array"}}, r"ImagingSelection\.identifier"),
        ({"status": {"a": 1}}, r"ImagingSelection\.status"),
        ({"status": ["available"]}, r"ImagingSelection\.status"),
        ({"_status": [{"id": "x"}]}, r"ImagingSelection\._status"),
        ({"_status": "x"}, r"ImagingSelection\._status"),
        ({"instance": [{"uid": "1", "_subset": {"id": "x"}}]}, r"instance\[0\]\._subset"),
        ({"instance": [{"uid": "1", "_subset": ["x"]}]}, r"instance\[0\]\._subset\[0\]"),
        ({"instance": ["not an object"]}, r"ImagingSelection\.instance\[0\]"),
        ({"instance": [{"uid": "1", "imageRegion2D": [{"coordinate": ["1.5"]}]}]},
         r"instance\[0\]\.imageRegion2D\[0\]\.coordinate\[0\]"),
        ({"instance": [{"uid": "1", "imageRegion2D": [{"coordinate": [True]}]}]},
         r"coordinate\[0\]"),
        ({"contained": [{"id": "no resourceType"}]}, r"ImagingSelection\.contained\[0\]"),
        ({"contained": ["x"]}, r"ImagingSelection\.contained\[0\]"),
        ({"contained": {"resourceType": "Zorgo"}}, r"ImagingSelection\.contained"),
        ({"extension": [{"url": "u", "valueCoding": "text"}]}, r"extension\[0\]\.valueCoding"),
    ],
)
def test_wrong_shapes_are_model_errors(
    models: ModuleType, change: dict[str, Any], where: str
) -> None:
    with pytest.raises(ModelError, match=where):
        models.ImagingSelection.from_json(json.dumps(_tree(**change)), validate=False)


def test_wrong_resource_and_root(models: ModuleType) -> None:
    with pytest.raises(ModelError, match="'Patient'"):
        models.ImagingSelection.from_json('{"resourceType": "Patient"}', validate=False)
    with pytest.raises(ModelError):
        models.ImagingSelection.from_json("[1, 2]", validate=False)
    with pytest.raises(ModelError, match="no resourceType"):
        models.parse('{"id": "x"}', validate=False)
    with pytest.raises(ModelError):
        models.parse("[]", validate=False)
    with pytest.raises(FhirJsonError):
        models.parse("{not json", validate=False)
    with pytest.raises(ModelError):
        models.Coding.from_tree(["not", "an", "object"])


def test_equality_and_repr(models: ModuleType) -> None:
    a = models.ImagingSelection.from_json(json.dumps(BASE))
    b = models.ImagingSelection.from_json(json.dumps(BASE))
    assert a == b
    b.status = "unknown"
    assert a != b
    text = repr(a)
    assert text.startswith("ImagingSelection(")
    assert "status='available'" in text and "identifier" not in text


def _examples() -> list[Path]:
    return sorted(EXAMPLES.glob("ImagingSelection-*.json"))


def test_official_examples_round_trip(models: ModuleType) -> None:
    examples = _examples()
    assert len(examples) >= 7, "definitions/hl7.fhir.r5.examples has the ImagingSelection examples"
    for path in examples:
        data = path.read_bytes()
        model = models.parse(data)
        assert isinstance(model, models.ImagingSelection), path.name
        expected = json.loads(data, parse_float=Decimal)
        assert json.loads(model.to_json(), parse_float=Decimal) == expected, path.name
        assert models.parse(model.to_json(indent=2)) == model, path.name


def test_fhir_resources_agrees_on_an_example(models: ModuleType) -> None:
    pytest.importorskip("fhir.resources")
    path = EXAMPLES / "ImagingSelection-example-2d-image-region-selection.json"
    model = models.ImagingSelection.from_json(path.read_bytes())
    other = model.to_fhir_resources()
    assert type(other).__name__ == "ImagingSelection"
    assert models.ImagingSelection.from_fhir_resources(other) == model
    with pytest.raises(ModelError):
        models.Coding(code="x").to_fhir_resources()


# ------------------------------------------------------------- models are built from valid input


def test_from_json_refuses_invalid_input_with_the_outcome(models: ModuleType) -> None:
    from fhirgen.runtime.validate import ValidationError

    text = json.dumps(_tree(status="bogus", studyUid=12))
    for build in (models.ImagingSelection.from_json, models.parse):
        with pytest.raises(ValidationError) as caught:
            build(text)
        outcome = caught.value.result.outcome()
        assert outcome["resourceType"] == "OperationOutcome"
        where = {e for issue in outcome["issue"] for e in issue.get("expression", [])}
        assert {"ImagingSelection.status", "ImagingSelection.studyUid"} <= where
    # the same input is accepted leniently when asked, and valid input by default
    assert models.ImagingSelection.from_json(text, validate=False).status == "bogus"
    assert models.ImagingSelection.from_json(json.dumps(BASE)).status == "available"
