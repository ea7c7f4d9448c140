"""Fuzz target of the JSON readers: any bytes are judged (issues) or refused with a documented
error, never raised on with anything else, and the outcome is itself JSON.

The same :func:`check` runs in two ways:

* briefly in CI, driven by hypothesis (``tests/test_fuzz.py``);
* for as long as you like by hand with atheris (libFuzzer, coverage-guided; ``pip install
  atheris``), from a corpus folder it grows::

      mkdir -p .cache/fuzz/json && cp definitions/hl7.fhir.r5.examples/ImagingSelection-*.json .cache/fuzz/json/
      python fuzz/fuzz_json.py .cache/fuzz/json -max_total_time=600 -rss_limit_mb=2048

  A crash leaves ``crash-<sha1>`` with the input in the current folder; run
  ``python fuzz/fuzz_json.py crash-<sha1>`` to reproduce it.
"""

from __future__ import annotations

import sys
from typing import Any

_API: dict[str, Any] = {}


def _load() -> dict[str, Any]:
    """The entry points under test, imported once (under atheris' instrumentation when fuzzing)."""
    if not _API:
        from fhirgen import models
        from fhirgen.models.validators import validate
        from fhirgen.runtime.issues import outcome_json
        from fhirgen.runtime.jsonio import FhirJsonError, loads
        from fhirgen.runtime.model import ModelError
        from fhirgen.runtime.validate import ValidationError

        _API.update(parse=models.parse, validate=validate, loads=loads, outcome_json=outcome_json,
                    refusals=(FhirJsonError, ModelError, ValidationError))
    return _API


def check(data: bytes) -> None:
    """The property every input must have (an exception other than a refusal is a finding)."""
    api = _load()
    result = api["validate"](data)
    issues = result.issues  # positions worked out too
    assert all(issue.severity in ("fatal", "error", "warning", "information") for issue in issues)
    api["outcome_json"](issues, result.file)  # the OperationOutcome as `validate` writes it
    try:
        api["loads"](data)
    except api["refusals"]:
        pass
    try:
        api["parse"](data)
    except api["refusals"]:
        pass
    else:
        assert result.ok, "a resource with errors was built into a model"


def main() -> None:
    import atheris

    with atheris.instrument_imports():
        _load()
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
