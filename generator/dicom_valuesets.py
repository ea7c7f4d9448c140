"""FHIR ValueSets of DICOM context groups (CIDs), made from the tables pydicom ships.

DICOM PS3.16 defines its context groups as web pages, which FHIR binds to by their page URL
(``ImagingSelection.code`` names CID 7010, Key Object Selection Document Title, with an
``example`` binding) but which no FHIR package carries as a ValueSet. A profile that makes such a
binding ``required`` needs the codes offline, so this module writes a ValueSet with an
``expansion`` from :mod:`pydicom.sr` (``pydicom.sr._cid_dict``: the CID tables generated from
PS3.16 for each pydicom release). Codes are never typed by hand.

Run ``python -m fhirgen.dicom_valuesets 7010 --output profiles/ValueSet-dicom-cid-7010.json``
(``pip install 'fhirgen[dicom]'``); the output is deterministic for one pydicom release, which the
ValueSet records (``expansion.parameter`` ``pydicom-version``) along with the command that made it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["DCM", "cid_url", "cid_value_set"]

#: The DICOM coding scheme "DCM" as FHIR names it.
DCM = "http://dicom.nema.org/resources/ontology/DCM"
#: Coding scheme designators of PS3.16 tables -> FHIR system URLs (the ones CIDs use most).
SYSTEMS = {
    "DCM": DCM,
    "SCT": "http://snomed.info/sct",
    "LN": "http://loinc.org",
    "UCUM": "http://unitsofmeasure.org",
}
#: A fixed expansion timestamp: FHIR requires one, and a clock would make the file change on
#: every run. It is the day this project first generated the file, not the DICOM release date.
TIMESTAMP = "2026-11-27T00:00:00Z"


def cid_url(cid: int) -> str:
    """The canonical FHIR uses for a CID (its PS3.16 page), as core bindings name it."""
    return f"http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_{cid}.html"


def cid_value_set(cid: int) -> dict[str, Any]:
    """The ValueSet of context group *cid*, with an expansion of every code pydicom lists."""
    import pydicom
    from pydicom.sr import _cid_dict
    from pydicom.sr.codedict import codes

    if cid not in _cid_dict.cid_concepts:
        raise KeyError(f"pydicom {pydicom.__version__} has no context group CID {cid}")
    name = _cid_dict.name_for_cid[cid]
    group = getattr(codes, f"cid{cid}")
    contains = []
    for scheme, keywords in sorted(_cid_dict.cid_concepts[cid].items()):
        if scheme not in SYSTEMS:
            raise KeyError(f"CID {cid}: coding scheme {scheme!r} has no FHIR system here")
        for keyword in keywords:
            code = getattr(group, keyword)
            contains.append({"system": SYSTEMS[scheme], "code": str(code.value),
                             "display": str(code.meaning)})
    contains.sort(key=lambda c: (c["system"], c["code"]))
    systems = sorted({c["system"] for c in contains})
    return {
        "resourceType": "ValueSet",
        "id": f"dicom-cid-{cid}",
        "url": cid_url(cid),
        "name": name,
        "title": f"DICOM CID {cid} {name}",
        "status": "active",
        "description": (
            f"DICOM PS3.16 context group CID {cid} ({name}), made by "
            f"`python -m fhirgen.dicom_valuesets {cid}` from the tables of pydicom "
            f"{pydicom.__version__} (pydicom.sr)."
        ),
        "compose": {"include": [
            {"system": system,
             "concept": [{"code": c["code"], "display": c["display"]}
                         for c in contains if c["system"] == system]}
            for system in systems
        ]},
        "expansion": {
            "identifier": f"urn:fhirgen:dicom-cid-{cid}:pydicom-{pydicom.__version__}",
            "timestamp": TIMESTAMP,
            "total": len(contains),
            "parameter": [{"name": "pydicom-version", "valueString": pydicom.__version__}],
            "contains": contains,
        },
    }


def render(value_set: dict[str, Any]) -> str:
    return json.dumps(value_set, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fhirgen.dicom_valuesets",
                                     description="Write the FHIR ValueSet of a DICOM CID.")
    parser.add_argument("cid", type=int, help="context group number, e.g. 7010")
    parser.add_argument("--output", type=Path, help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    try:
        text = render(cid_value_set(args.cid))
    except ImportError:
        print("fhirgen: error: pydicom is needed: pip install 'fhirgen[dicom]'", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"fhirgen: error: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
