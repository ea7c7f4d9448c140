"""The FHIRPath compiler: every constraint expression of the R5 core compiles; the API
(function names, errors, resolve()/memberOf() reporting); the expression report is current."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fhirpath_support import CORE, core_constraints, core_model, need

from fhirgen.fhirpath import (
    SUPPORTED_FUNCTIONS,
    FhirPathCompileError,
    compile_constraint,
    invariants_for,
)
from fhirgen.fhirpath.report import constraints_of, report
from fhirgen.runtime import fhirpath as fp

REPORT = Path(__file__).resolve().parent / "fixtures" / "fhirpath" / "core-expressions.md"


def test_every_core_constraint_compiles_with_the_whole_core_model() -> None:
    model = core_model()
    constraints = core_constraints()
    compiled = {}
    for _url, path, key, expression in constraints:
        if (key, expression, path) in compiled:
            continue
        result = compile_constraint(key, expression, path, model)
        ast.parse(result.source)
        missing = {h for h in result.helpers if not hasattr(fp, h)}
        assert not missing, (key, missing)
        compiled[(key, expression, path)] = result
    distinct = {expression for _u, _p, _k, expression in constraints}
    print(f"\ncompiled {len(distinct)}/{len(distinct)} distinct expressions "
          f"({len(constraints)} constraints)")
    assert len(distinct) >= 290
    resolve_keys = sorted({c.key for c in compiled.values() if c.uses_resolve})
    print("keys using resolve() (undecidable offline for external references):", resolve_keys)
    assert "obs-9" in resolve_keys and "ref-1" not in resolve_keys
    member_of = sorted({url for c in compiled.values() for url in c.value_sets})
    assert member_of == ["http://hl7.org/fhir/ValueSet/resource-types"]


def test_every_core_constraint_compiles_without_a_model() -> None:
    for _url, path, key, expression in core_constraints():
        compile_constraint(key, expression, path, None)


def test_every_type_has_its_invariants() -> None:
    model = core_model()
    selection = invariants_for(model.type("ImagingSelection"), model)
    keys = {c.key for c in selection}
    assert {"dom-2", "dom-3", "dom-4", "dom-5", "dom-6", "ele-1"} <= keys
    assert all(c.context.startswith("ImagingSelection") for c in selection)
    assert {c.key for c in invariants_for(model.type("Narrative"), model)} >= {"txt-1", "txt-2"}
    for type_def in model.types:
        for owner in type_def.all_types():
            for compiled in invariants_for(owner, model):
                assert compiled.name.startswith("inv_")


def test_report_of_the_core_expressions_is_current() -> None:
    need(CORE)
    assert REPORT.read_text(encoding="utf-8") == report(constraints_of(CORE)), (
        "run: python -m fhirgen.fhirpath.report .cache/packages/hl7.fhir.r5.core-5.0.0.tgz "
        "> tests/fixtures/fhirpath/core-expressions.md"
    )


def test_core_features_are_all_supported() -> None:
    text = REPORT.read_text(encoding="utf-8") if REPORT.exists() else ""
    functions = {line.split("|")[1].strip()[:-2] for line in text.splitlines()
                 if line.startswith("| ") and line.split("|")[1].strip().endswith("()")}
    assert functions and functions <= SUPPORTED_FUNCTIONS


@pytest.mark.parametrize(
    ("key", "expression", "reason"),
    [
        ("x-1", "name.frobnicate()", "unsupported function frobnicate()"),
        ("x-2", "%unknownThing.exists()", "unknown external constant %unknownThing"),
        ("x-3", "name.exists(", "syntax error"),
        ("x-4", "where()", "where() takes 1 argument(s), got 0"),
        ("x-5", "code.memberOf(%vs)", "memberOf() needs the value set URL as a string literal"),
        ("x-6", "$index = 0", "$index outside a function that iterates"),
        ("x-7", "@2014-13-01 > today()", "invalid date literal"),
        ("x-8", "name.ofType(1)", "expected a type name"),
    ],
)
def test_unsupported_expressions_fail_with_key_and_reason(key: str, expression: str,
                                                          reason: str) -> None:
    with pytest.raises(FhirPathCompileError) as info:
        compile_constraint(key, expression, "Patient", None)
    assert info.value.key == key
    assert reason in info.value.reason


def test_function_names_come_from_the_key() -> None:
    for key, name in (("ele-1", "inv_ele_1"), ("dom-3", "inv_dom_3"), ("tim-9", "inv_tim_9"),
                      ("ref-1", "inv_ref_1"), ("sdf-8a", "inv_sdf_8a")):
        assert compile_constraint(key, "true", "Element").name == name
    with pytest.raises(FhirPathCompileError):
        compile_constraint("bad key; import os", "true", "Element")


def test_source_is_inert_for_hostile_text() -> None:
    compiled = compile_constraint("x-1", "'\"\"\"\\\\' = name", "Patient",
                                  human='"""); import os; ("')
    tree = ast.parse(compiled.source)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.FunctionDef)


def test_static_types_give_hints() -> None:
    model = core_model()
    compiled = compile_constraint("app-5", "start.exists() implies start <= end", "Appointment",
                                  model)
    assert "fp.child([node], 'start', 'instant')" in compiled.source
    plain = compile_constraint("app-5", "start.exists() implies start <= end", "Appointment")
    assert "'instant'" not in plain.source
