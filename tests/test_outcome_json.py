"""``outcome_json`` (cached pieces) writes the bytes orjson writes of ``operation_outcome``.

The bulk output path serialises each issue but for its line and column once and reuses it; the
result must be byte-for-byte the OperationOutcome tree serialised whole, for every issue shape:
with or without line, column, expression, file; messages with quotes, escapes, non-ASCII; the
no-issue outcome; and the same issue at other positions (the cached piece reused).
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhirgen.models.validators import RESOURCE_VALIDATORS
from fhirgen.runtime.issues import Issue, operation_outcome, outcome_json
from fhirgen.runtime.stream import validate_one
from fhirgen.runtime.validate import run
from tests.test_validate_fast import _mutants

TEXT = st.text(max_size=12) | st.sampled_from(['"', "\\", "é", "😀", "\u2028", "\x00", ""])
ISSUES = st.builds(
    Issue, st.sampled_from(["fatal", "error", "warning", "information"]), TEXT, TEXT, TEXT,
    TEXT, st.none() | st.integers(min_value=1, max_value=10**9),
    st.none() | st.integers(min_value=1, max_value=10**9), st.none() | TEXT)


@given(st.lists(ISSUES, max_size=6), st.none() | TEXT)
def test_the_bytes_of_the_outcome_tree(issues: list[Issue], file: str | None) -> None:
    assert outcome_json(issues, file) == orjson.dumps(operation_outcome(issues, file))
    moved = [issue.at((issue.line or 0) + 7, None) for issue in issues]  # cached rest reused
    assert outcome_json(moved, file) == orjson.dumps(operation_outcome(moved, file))


@pytest.mark.parametrize("name,text", _mutants()[::5], ids=lambda v: v if isinstance(v, str) else "")
def test_validation_outcomes(name: str, text: bytes) -> None:
    issues = run(text, RESOURCE_VALIDATORS, file=name).issues
    assert outcome_json(issues, name) == orjson.dumps(operation_outcome(issues, name))
    serialised = validate_one(text, RESOURCE_VALIDATORS, name, 0, serialize=True).text
    assert serialised == orjson.dumps(operation_outcome(issues, name)).decode()
