"""Evaluating fhirgen's imaging rules (``imaging_rules.py`` of a generated package) during validation.

The rules (``definitions/fhirgen-imaging-rules``, see ``fhirgen.imaging``) are FHIRPath constraints
on ImagingSelection and its elements that the base specification states only in prose or leaves
to DICOM. The generator compiles them like base invariants into the package's
``imaging_rules.py``: one function per rule and one :class:`Rule` per rule saying where it sits.
They are not part of FHIR, so they are not in the generated validators: :func:`with_imaging_rules`
adds them to a validators mapping (the one :func:`fhirgen.runtime.validate.run` takes), each
ImagingSelection being validated by its base validator first and then by the rules, with their
severity chosen at run time (``fhirgen validate --imaging-rules error|warning|off``; the rules'
own default is ``warning``).

A rule is evaluated as a base invariant is (:class:`fhirgen.runtime.invariants.Invariants`: only
``true`` passes, ``%resource`` from the walk's resource stack, the issue at the element carrying
the rule, with the rule's key as the rule id). A rule that names a *hint* adds what was found to
its message (``closest-sop-class``: :mod:`fhirgen.runtime.dicom`). A rule that cannot be
evaluated on malformed content (a number where a UID string belongs: the base validator's error
already) fails at the chosen severity, saying why, instead of adding an error of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import fhirpath as fp
from .dicom import HINTS, with_hint
from .invariants import Invariant, Invariants
from .issues import IssueList

__all__ = ["MODES", "ImagingRules", "Rule", "package_imaging_rules", "with_imaging_rules"]

#: What ``--imaging-rules`` takes: a severity for every rule, or ``off``.
MODES = ("error", "warning", "off")
DEFAULT_MODE = "warning"

Function = Callable[[fp.Node, fp.Node, fp.Node], "bool | None"]
Loc = Any  # fhirgen.runtime.validate.Loc
Validator = Callable[[dict[str, Any], Loc, IssueList], None]


class Rule:
    """One compiled rule: the element it sits on (``path``, a definition path), the FHIR type of
    that element's values, its function and the facts of its issues."""

    __slots__ = ("function", "hint", "human", "key", "path", "severity", "type")

    def __init__(self, path: str, type_: str, function: Function, key: str, severity: str,
                 human: str, hint: str | None = None) -> None:
        self.path = path
        self.type = type_
        self.function = function
        self.key = key
        self.severity = severity
        self.human = human
        self.hint = hint

    def __repr__(self) -> str:
        return f"Rule({self.key} on {self.path})"


class ImagingRules:
    """The rules of one rules file (``url``, ``version``), ready to evaluate on ImagingSelections.

    ``table`` is the package's type table (``invariants.TYPES``); ``sop_classes`` the SOP Class
    registry (UID -> name) the ``closest-sop-class`` hint searches.
    """

    def __init__(self, url: str, version: str, table: fp.TypeTable, rules: tuple[Rule, ...],
                 sop_classes: Mapping[str, str]) -> None:
        self.url = url
        self.version = version
        self.table = table
        self.rules = rules
        self.sop_classes = sop_classes

    def checker(self, severity: str) -> Validator:
        """A function ``(node, path, out)`` evaluating every rule on one ImagingSelection, each
        failure reported with *severity* (``error`` or ``warning``)."""
        sites = self.sites(severity)

        def check(node: dict[str, Any], path: Loc, out: IssueList) -> None:
            parents: dict[tuple[str, ...], list[tuple[dict[str, Any], Loc]]] = {
                (): [(node, path)] if node.__class__ is dict else []}
            for steps, name, group in sites:
                if name is None:
                    group.check(node, path, out)
                    continue
                for parent, where in _parents(parents, steps):
                    group.check_element(parent, name, where, out)

        return check

    def sites(self, severity: str) -> tuple[tuple[tuple[str, ...], str | None, Invariants], ...]:
        """Where the rules sit, in file order: (the steps from the resource to the objects
        holding the element, the element's JSON name or ``None`` for the resource itself, the
        group of rules evaluated there with *severity*)."""
        if severity not in ("error", "warning"):
            raise ValueError(f"imaging rules severity {severity!r}: error or warning")
        groups: dict[str, list[Invariant]] = {}
        types: dict[str, str] = {}
        for rule in self.rules:
            function = rule.function
            if rule.hint is not None:  # the hint sees the verdict of the tolerant function
                form = getattr(function, "json", None)
                function = with_hint(_tolerant(function), HINTS[rule.hint](self.sop_classes))
                if form is not None:  # what the form decides passes: no hint to give
                    function = fp.json_form(form)(function)
            groups.setdefault(rule.path, []).append(Invariant(function, rule.key, severity,
                                                              rule.human, tolerant=True))
            types[rule.path] = rule.type
        return tuple(
            (tuple(path.split(".")[1:-1]), path.rpartition(".")[2] if "." in path else None,
             Invariants(types[path], path, self.table, tuple(checks)))
            for path, checks in groups.items()
        )


def _tolerant(function: Function) -> Function:
    """*function*, failing (with what went wrong as a detail of the message) instead of raising
    when it cannot be evaluated on this content: a value of the wrong JSON kind, which the base
    validator reports as an error already. So the rule's issue keeps the severity the run chose,
    where a base invariant's evaluation problem would be an error."""

    def check(node: fp.Node, resource: fp.Node, root: fp.Node) -> bool | None:
        try:
            return function(node, resource, root)
        except fp.FhirPathEvalError as error:
            fp.DETAILS.append(f"it could not be evaluated on this content ({error})")
            return None

    check.__name__ = getattr(function, "__name__", "check")
    return check


def _parents(found: dict[tuple[str, ...], list[tuple[dict[str, Any], Loc]]],
             steps: tuple[str, ...]) -> list[tuple[dict[str, Any], Loc]]:
    """The objects at *steps* below the checked resource (each value of each repeating
    element), with their locations; values that are not objects are left to the base validator,
    which reports them. *found* holds those of the paths met so far (``()``: the resource), so
    rules below the same element walk to it once."""
    level = found.get(steps)
    if level is not None:
        return level
    above = _parents(found, steps[:-1])
    name = steps[-1]
    level = []
    for parent, where in above:
        value = parent.get(name)
        if value.__class__ is list:
            for index, item in enumerate(value):
                if item.__class__ is dict:
                    level.append((item, ((where, name), index)))
        elif value.__class__ is dict:
            level.append((value, (where, name)))
    found[steps] = level
    return level


def with_imaging_rules(validators: Mapping[str, Validator], rules: ImagingRules | None,
                       mode: str = DEFAULT_MODE) -> dict[str, Validator]:
    """*validators* with ImagingSelection also checked by *rules* at the severity *mode* names
    (``off``, or no rules: unchanged)."""
    if mode not in MODES:
        raise ValueError(f"--imaging-rules {mode!r}: one of {', '.join(MODES)}")
    out = dict(validators)
    base = out.get("ImagingSelection")
    if rules is None or mode == "off" or base is None:
        return out
    check = rules.checker(mode)

    def validate_with_rules(node: dict[str, Any], path: Loc, issues: IssueList) -> None:
        base(node, path, issues)
        check(node, path, issues)

    out["ImagingSelection"] = validate_with_rules
    return out


def package_imaging_rules(validators_module: Any) -> ImagingRules | None:
    """The ``RULES`` of the package whose ``validators`` module is given, or ``None`` when it was
    generated without imaging rules (other definitions, ImagingSelection not a target)."""
    import importlib

    package = validators_module.__name__.rpartition(".")[0]
    try:
        module = importlib.import_module(f"{package}.imaging_rules")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package}.imaging_rules":
            raise
        return None
    rules: ImagingRules = module.RULES
    return rules
