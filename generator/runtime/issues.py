"""Validation issues and the FHIR ``OperationOutcome`` they become.

An :class:`Issue` is one problem found in a resource: severity (``fatal | error | warning |
information``), FHIR IssueType code (``structure``, ``required``, ``value``, ``code-invalid``,
``invalid``, ``processing``, ``informational`` ...), the rule that found it (``cardinality``,
``json-shape``, ``unknown-property``, ``primitive``, ``binding``, ``reference-target``, ``ele-1``
...), a message, and its location as a FHIRPath expression in the HL7 reference validator's style
(``ImagingSelection.instance[0].imageRegion2D[0].regionType``), plus the source line and column
when the input had them.

:func:`operation_outcome` writes issues the way the HL7 reference validator does: the location in
``issue.expression``, the message in ``issue.details.text``, line and column in the extensions
``http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line`` and ``-col``
(``valueInteger``), the rule id in ``-message-id`` (``valueCode``), the file in ``http://hl7.org/fhir/StructureDefinition/operationoutcome-file``.
An outcome with no issue carries one information issue, "No issues detected during validation",
as the reference validator's does.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - a declared dependency
    _orjson = None  # type: ignore[assignment]

__all__ = [
    "ALL_CLEAR",
    "COL_EXT",
    "FILE_EXT",
    "LINE_EXT",
    "MESSAGE_ID_EXT",
    "SEVERITIES",
    "Issue",
    "IssueList",
    "count",
    "operation_outcome",
    "outcome_json",
]

LINE_EXT = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line"
COL_EXT = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col"
FILE_EXT = "http://hl7.org/fhir/StructureDefinition/operationoutcome-file"
#: The reference validator names the message behind an issue with this extension; we name the rule.
MESSAGE_ID_EXT = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"
ALL_CLEAR = "No issues detected during validation"

#: Severities from most to least severe.
SEVERITIES = ("fatal", "error", "warning", "information")


class Issue(NamedTuple):
    """One issue. Immutable; a named tuple because validation makes many of them (information
    issues on every unexpandable binding) and a tuple is the cheapest immutable record."""

    severity: str  # fatal | error | warning | information
    code: str  # FHIR IssueType: structure, required, value, code-invalid, invalid, ...
    rule: str  # cardinality, json-shape, unknown-property, primitive, binding, ele-1, ...
    message: str
    expression: str  # FHIRPath, e.g. "ImagingSelection.instance[0].uid"
    line: int | None = None  # 1-based, when the input format has positions
    col: int | None = None
    key: str | None = None  # JSON property under `expression` the issue is about (positions)

    @property
    def is_error(self) -> bool:
        return self.severity in ("fatal", "error")

    def at(self, line: int | None, col: int | None) -> Issue:
        # tuple.__new__, not _replace: positions are set on every issue of a bulk run
        return _new_issue(Issue, (self[0], self[1], self[2], self[3], self[4], line, col, self[7]))

    def __str__(self) -> str:
        where = f" (line {self.line}, col {self.col})" if self.line is not None else ""
        return f"{self.severity.upper()} {self.expression}{where}: {self.message} [{self.rule}]"


_new_issue = tuple.__new__


class IssueList(list[Issue]):
    """The list generated validators append to, with the context a walk needs.

    ``contained`` maps the ids of the current resource's contained resources to their types, so
    ``#id`` references can be checked (set by :func:`fhirgen.runtime.validate.resource_root`).
    ``resources`` is the stack of resources the walk is in (for ``%resource`` and
    ``%rootResource`` in invariants). ``inexact_numbers`` is set when an issue's message quotes a number: a tree parsed with floats
    (the fast parse) is then validated again from the text as written, so messages quote it.
    """

    __slots__ = ("contained", "context", "element_ids", "inexact_numbers", "resources")

    def __init__(self) -> None:
        super().__init__()
        self.contained: dict[str, str] | None = None
        self.inexact_numbers = False
        #: The resources the walk is in, outermost first, each with whether it is contained.
        self.resources: list[tuple[dict[str, Any], bool]] = []
        #: The FHIRPath nodes of those resources, built once per resource when an invariant
        #: needs them (``fhirgen.runtime.invariants``).
        self.context: tuple[Any, ...] | None = None
        #: The element ids met so far in the current resource (they must be unique in it).
        self.element_ids: set[str] = set()


def count(issues: list[Issue], *severities: str) -> int:
    return sum(1 for issue in issues if issue.severity in severities)


def _issue_json(issue: Issue) -> dict[str, Any]:
    result: dict[str, Any] = {}
    extensions = []
    if issue.line is not None:
        extensions.append({"url": LINE_EXT, "valueInteger": issue.line})
    if issue.col is not None:
        extensions.append({"url": COL_EXT, "valueInteger": issue.col})
    extensions.append({"url": MESSAGE_ID_EXT, "valueCode": issue.rule})
    result["extension"] = extensions
    result["severity"] = issue.severity
    result["code"] = issue.code
    result["details"] = {"text": issue.message}
    if issue.expression:
        result["expression"] = [issue.expression]
    return result


def operation_outcome(issues: list[Issue], file: str | None = None) -> dict[str, Any]:
    """A FHIR OperationOutcome (JSON tree) of *issues*, in the HL7 reference validator's style."""
    outcome: dict[str, Any] = {"resourceType": "OperationOutcome"}
    if file is not None:
        outcome["extension"] = [{"url": FILE_EXT, "valueString": file}]
    if issues:
        outcome["issue"] = [_issue_json(issue) for issue in issues]
    else:
        outcome["issue"] = [
            {"severity": "information", "code": "informational", "details": {"text": ALL_CLEAR}}
        ]
    return outcome


# One line of JSON per resource is the output of a bulk run, so the OperationOutcome is written
# from cached pieces: an issue's text but for its line and column repeats across resources (the
# same rule at the same element), so it is serialised once. The bytes are those of
# ``orjson.dumps(operation_outcome(issues, file))``.
_OPEN_ISSUE = b'{"extension":['
_LINE = b'{"url":"' + LINE_EXT.encode() + b'","valueInteger":'
_COL = b'{"url":"' + COL_EXT.encode() + b'","valueInteger":'


@lru_cache(maxsize=4096)
def _issue_rest(severity: str, code: str, rule: str, message: str, expression: str) -> bytes:
    """An issue's JSON after its line and column extensions."""
    whole = _orjson.dumps(_issue_json(Issue(severity, code, rule, message, expression)))
    return whole[len(_OPEN_ISSUE):]


def outcome_json(issues: list[Issue], file: str | None = None) -> bytes:
    """:func:`operation_outcome` as compact JSON bytes, without building its tree."""
    if _orjson is None:  # pragma: no cover - a declared dependency
        from .jsonio import dumps

        return dumps(operation_outcome(issues, file)).encode("utf-8")
    if not issues:
        return _orjson.dumps(operation_outcome(issues, file))
    parts = [b'{"resourceType":"OperationOutcome",']
    if file is not None:
        parts.append(_orjson.dumps({"extension": [{"url": FILE_EXT, "valueString": file}]})[1:-1])
        parts.append(b",")
    parts.append(b'"issue":[')
    for n, issue in enumerate(issues):
        if n:
            parts.append(b",")
        parts.append(_OPEN_ISSUE)
        if issue.line is not None:
            parts.append(b"%b%d}," % (_LINE, issue.line))
        if issue.col is not None:
            parts.append(b"%b%d}," % (_COL, issue.col))
        parts.append(_issue_rest(issue.severity, issue.code, issue.rule, issue.message,
                                 issue.expression))
    parts.append(b"]}")
    return b"".join(parts)
