"""Run-time help for fhirgen's imaging rules: what to say when a SOP Class is not a known one.

The rule itself (``isr-9``: a ``sopClass`` under ``urn:ietf:rfc:3986`` is a SOP Class of the DICOM
UID registry) is plain FHIRPath, ``memberOf()`` on a value set made from pydicom's registry (see
``fhirgen.imaging``). A failed membership says nothing about what was meant, so the rule carries a
*hint* (``closest-sop-class``): :func:`with_hint` wraps the compiled function so that, when it does
not pass, the nearest known class is added to the failure message (through
:data:`fhirgen.runtime.fhirpath.DETAILS`, which :class:`fhirgen.runtime.invariants.Invariants`
appends to the message, as it does for ``htmlChecks()``).

"Nearest" (:func:`closest_sop_class`): for a UID under the DICOM root ``1.2.840.10008``, the
registered UID sharing most components in order, leading zeros ignored (ties: the longer common prefix, then the closer
text), when at least four in five components agree; for text that is not a UID (a name or
keyword written where the UID belongs), the closest class name. A private UID (another root) has
no closest class: nothing is suggested rather than a wrong guess.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping

from . import fhirpath as fp

__all__ = ["DICOM_ROOT", "HINTS", "closest_sop_class", "sop_class_hint", "with_hint"]

#: The root of the UIDs DICOM itself registers (SOP Classes, transfer syntaxes ...).
DICOM_ROOT = "1.2.840.10008."
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
#: Share of components that must agree for a UID to be suggested.
UID_CUTOFF = 0.8
#: difflib ratio a name must reach to be suggested for text that is not a UID.
NAME_CUTOFF = 0.6

Function = Callable[[fp.Node, fp.Node, fp.Node], "bool | None"]
Hint = Callable[[fp.Node], "str | None"]


def _similarity(wanted: list[str], known: list[str], text: str, candidate: str) -> tuple[float, int, float]:
    ratio = difflib.SequenceMatcher(None, wanted, known, autojunk=False).ratio()
    prefix = 0
    for a, b in zip(wanted, known, strict=False):
        if a != b:
            break
        prefix += 1
    return ratio, prefix, difflib.SequenceMatcher(None, text, candidate, autojunk=False).ratio()


def closest_sop_class(code: str, classes: Mapping[str, str]) -> tuple[str, str] | None:
    """The known SOP Class (UID, name) nearest to *code* (``urn:oid:`` prefix optional), or
    ``None`` when none is near enough (see the module docstring). *classes* maps UID -> name."""
    text = code.removeprefix("urn:oid:").strip()
    if not text or not classes:
        return None
    if text in classes:
        return text, classes[text]
    if _UID.match(text):
        if not text.startswith(DICOM_ROOT):
            return None
        # leading zeros are not significant (PS3.5 9.1): compare the components' values
        wanted = [part.lstrip("0") or "0" for part in text.split(".")]
        best: tuple[tuple[float, int, float], str] | None = None
        for uid in sorted(classes):
            score = _similarity(wanted, uid.split("."), text, uid)
            if best is None or score > best[0]:
                best = (score, uid)
        if best is None or best[0][0] < UID_CUTOFF:
            return None
        return best[1], classes[best[1]]
    by_name = {name.lower(): uid for uid, name in sorted(classes.items())}
    by_name.update({name.replace(" ", "").lower(): uid for uid, name in sorted(classes.items())})
    match = difflib.get_close_matches(text.lower(), list(by_name), n=1, cutoff=NAME_CUTOFF)
    if not match:
        return None
    uid = by_name[match[0]]
    return uid, classes[uid]


def sop_class_hint(classes: Mapping[str, str]) -> Hint:
    """A hint for a ``Coding`` node: the closest known class to its code, as message text."""

    def hint(node: fp.Node) -> str | None:
        data = node.data
        code = data.get("code") if isinstance(data, dict) else None
        if not isinstance(code, str):
            return None
        found = closest_sop_class(code, classes)
        if found is None:
            return f"{code} is not a SOP Class of the DICOM registry, and none is close to it"
        uid, name = found
        return f"{code} is not a SOP Class of the DICOM registry; the closest is urn:oid:{uid} ({name})"

    return hint


def with_hint(function: Function, hint: Hint) -> Function:
    """*function* (a compiled invariant) that, when it does not pass, adds *hint*'s text for the
    node to :data:`fhirgen.runtime.fhirpath.DETAILS` (the failure message's details)."""

    def check(node: fp.Node, resource: fp.Node, root: fp.Node) -> bool | None:
        verdict = function(node, resource, root)
        if verdict is not True:
            detail = hint(node)
            if detail:
                fp.DETAILS.append(detail)
        return verdict

    check.__name__ = getattr(function, "__name__", "check")
    check.__doc__ = function.__doc__
    return check


#: The hints a rule may name (``imaging-rule-hint`` extension) -> a factory taking the SOP
#: Class registry (UID -> name).
HINTS: dict[str, Callable[[Mapping[str, str]], Hint]] = {"closest-sop-class": sop_class_hint}
