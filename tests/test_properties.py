"""Property-based tests of the generated validators and models (issue 8), with the strategies of
``tests/strategies.py``: valid ImagingSelection resources validate without an error and survive
the models' round trip; each mutation that breaks a rule is reported where it was made; any JSON
at all is judged, never raised on.

The default run is short (CI). ``FHIRGEN_HYPOTHESIS_PROFILE=long`` runs many more examples::

    FHIRGEN_HYPOTHESIS_PROFILE=long python -m pytest tests/test_properties.py
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirgen import models
from fhirgen.models.validators import validate
from fhirgen.runtime.jsonio import FhirJsonError, dumps, loads
from fhirgen.runtime.model import ModelError
from fhirgen.runtime.validate import ValidationError
from tests import strategies as S

settings.register_profile("fhirgen-ci", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("fhirgen-long", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LONG = os.environ.get("FHIRGEN_HYPOTHESIS_PROFILE") == "long"
settings.load_profile("fhirgen-long" if LONG else "fhirgen-ci")
#: Drawing whole resources costs ~0.1 s each (regexes of dateTime and friends): fewer by default.
RESOURCES = settings(max_examples=3000 if LONG else 60)


def _errors(result: Any) -> list[Any]:
    return [issue for issue in result.issues if issue.severity in ("fatal", "error")]


# ------------------------------------------------------------------------------ valid resources


def test_strategies_follow_the_generated_models() -> None:
    """The JSON names the strategies draw are the generated model's own, type by type."""
    for type_name, cls in (("ImagingSelection", models.ImagingSelection),
                           ("ImagingSelection.instance", models.ImagingSelectionInstance),
                           ("Identifier", models.Identifier), ("Coding", models.Coding)):
        drawn = {slot.json_name for group in S.slots(S.model().type(type_name)) for slot in group}
        declared = {field.json_name for field in cls._fields}
        assert drawn <= declared, drawn - declared
        assert declared - drawn <= S.SKIPPED | S.SKIPPED_AT_ROOT, declared - drawn


@RESOURCES
@given(S.valid_resources())
def test_valid_resources_have_no_error(tree: dict[str, Any]) -> None:
    text = dumps(tree)
    assert _errors(validate(text)) == []
    # the dict path agrees with the text path (decimals as read, 1e400 is no float)
    assert _errors(validate(loads(text))) == []


@RESOURCES
@given(S.valid_resources())
def test_valid_resources_round_trip_through_the_models(tree: dict[str, Any]) -> None:
    model = models.parse(dumps(tree))
    assert isinstance(model, models.ImagingSelection)
    back = model.to_tree()
    assert back == tree
    assert _errors(validate(dumps(back))) == []


# ------------------------------------------------------------------------------ mutations


def _reported_where_made(mutation: S.Mutation, issues: list[Any]) -> bool:
    for issue in issues:
        if mutation.rule is not None and issue.rule != mutation.rule:
            continue
        expression = issue.expression
        if expression == mutation.where or expression.startswith((f"{mutation.where}.",
                                                                  f"{mutation.where}[")):
            return True
        if expression == mutation.parent and issue.key == mutation.key:
            return True
    return False


@RESOURCES
@given(S.mutated())
def test_each_mutation_is_reported_where_it_was_made(mutation: S.Mutation) -> None:
    errors = _errors(validate(dumps(mutation.tree)))
    assert errors, mutation.kind
    assert _reported_where_made(mutation, errors), (
        mutation.kind, mutation.where, [(i.expression, i.key, i.rule) for i in errors])


@RESOURCES
@given(S.mutated())
def test_mutated_resources_are_not_built_into_models(mutation: S.Mutation) -> None:
    try:
        models.parse(dumps(mutation.tree))
    except ValidationError as exc:
        assert not exc.result.ok
    else:
        raise AssertionError(f"{mutation.kind} at {mutation.where} was built into a model")


def test_mutations_each_fire() -> None:
    """Each kind of mutation on its own, so none hides behind the others in a short run."""
    for kind in S.MUTATIONS:
        _check_one_kind(kind)


def _check_one_kind(kind: str) -> None:
    @settings(max_examples=5 if not LONG else 200)
    @given(S.mutated(kinds=(kind,)))
    def check(mutation: S.Mutation) -> None:
        assert mutation.kind == kind or mutation.where.endswith(".status")
        errors = _errors(validate(dumps(mutation.tree)))
        assert _reported_where_made(mutation, errors), (kind, mutation.where, errors)

    check()


# ------------------------------------------------------------------------------ any JSON


@given(S.json_values())
def test_any_json_is_judged_never_raised(value: Any) -> None:
    text = json.dumps(value)
    for data in (text, text.encode("utf-8"), value if isinstance(value, dict) else None):
        if data is None:
            continue
        result = validate(data)
        assert isinstance(result.issues, list)
        json.dumps(result.outcome())  # the outcome is itself JSON
    if not isinstance(value, dict) or value.get("resourceType") != "ImagingSelection":
        assert not result.ok


@given(S.resource_like())
def test_resource_like_objects_are_judged_never_raised(tree: dict[str, Any]) -> None:
    result = validate(json.dumps(tree))
    json.dumps(result.outcome())
    try:
        models.parse(tree)
    except (ValidationError, FhirJsonError, ModelError):
        pass


@given(st.binary(max_size=400))
def test_any_bytes_are_judged_never_raised(data: bytes) -> None:
    result = validate(data)
    assert not result.ok or data.strip().startswith(b"{")
    json.dumps(result.outcome())
