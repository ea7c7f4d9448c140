"""Fuzz target of the FHIR XML readers: any bytes are judged (issues) or refused with a
documented error, never raised on otherwise.

The same :func:`check` runs briefly in CI, driven by hypothesis (``tests/test_fuzz.py``), and for
as long as you like by hand with atheris (libFuzzer; ``pip install atheris``)::

    mkdir -p .cache/fuzz/xml && cp definitions/hl7.fhir.r5.examples/*.xml .cache/fuzz/xml/ 2>/dev/null
    python -m fhirgen.cli convert --to xml definitions/hl7.fhir.r5.examples/ImagingSelection-example-basic-image-selection.json > .cache/fuzz/xml/seed.xml
    python fuzz/fuzz_xml.py .cache/fuzz/xml -max_total_time=600 -rss_limit_mb=2048

A crash leaves ``crash-<sha1>`` with the input; ``python fuzz/fuzz_xml.py crash-<sha1>``
reproduces it.
"""

from __future__ import annotations

import sys
from typing import Any

_API: dict[str, Any] = {}


def _load() -> dict[str, Any]:
    """The entry points under test, imported once (under atheris' instrumentation when fuzzing)."""
    if not _API:
        from fhirgen import models
        from fhirgen.fhirxml import XmlReadError, read_resource_xml
        from fhirgen.models import xmlschema
        from fhirgen.runtime.validate import ValidationError
        from fhirgen.runtime.xml import from_xml

        _API.update(validate=xmlschema.validate_xml, schema=xmlschema.XML_SCHEMA,
                    read=read_resource_xml, from_xml=from_xml, registry=models.RESOURCES,
                    refusals=(XmlReadError, ValidationError))
    return _API


def check(data: bytes) -> None:
    """The property every input must have (an exception other than a refusal is a finding)."""
    api = _load()
    result = api["validate"](data)
    assert all(issue.severity in ("fatal", "error", "warning", "information")
               for issue in result.issues)  # positions worked out too
    result.outcome()
    try:
        api["read"](data, api["schema"])
    except api["refusals"]:
        pass
    try:
        api["from_xml"](api["registry"], data)
    except api["refusals"]:
        pass
    else:
        assert result.ok, "an XML resource with errors was built into a model"


def main() -> None:
    import atheris

    with atheris.instrument_imports():
        _load()
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
