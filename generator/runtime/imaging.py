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

The generator also writes a *walk* into ``imaging_rules.py`` (``_walk``): a checker specialised
to the rules, which goes over the resource once (one loop over ``instance``) and asks each
site's JSON forms inline. A value they do not all pass is handed to the site's
:class:`~fhirgen.runtime.invariants.Invariants` (``check_element``/``check``, which builds the
FHIRPath nodes and reports), after the loop and in the order of the sites (:func:`replay`), so
the issues are those of :meth:`ImagingRules.reference_checker`, the interpreted walk, which
stays the reference. A rule without JSON form takes that exact path: at a site that has
one, a value the forms pass goes to the group of such rules alone (:func:`without_forms`),
unless those rules never read their focus (``%resource.frameOfReferenceUid.exists()``): the
walk then asks them once of the resource (:func:`resource_passes`). The forms' regular
expressions are searched by :func:`search_matcher` (the C extension's automaton of the search,
or the regular expression itself).

A rule is evaluated as a base invariant is (:class:`fhirgen.runtime.invariants.Invariants`: only
``true`` passes, ``%resource`` from the walk's resource stack, the issue at the element carrying
the rule, with the rule's key as the rule id). A rule that names a *hint* adds what was found to
its message (``closest-sop-class``: :mod:`fhirgen.runtime.dicom`). A rule that cannot be
evaluated on malformed content (a number where a UID string belongs: the base validator's error
already) fails at the chosen severity, saying why, instead of adding an error of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from . import fhirpath as fp
from .dicom import HINTS, with_hint
from .invariants import Invariant, Invariants, _context
from .issues import IssueList
from .primitives import Tables, _matcher

__all__ = ["MODES", "ImagingRules", "Rule", "Tables", "at", "exact_groups", "expect_sites",
           "package_imaging_rules", "replay", "resource_passes", "search_matcher",
           "with_imaging_rules", "without_forms"]

#: What ``--imaging-rules`` takes: a severity for every rule, or ``off``.
MODES = ("error", "warning", "off")
DEFAULT_MODE = "warning"

Function = Callable[[fp.Node, fp.Node, fp.Node], "bool | None"]
Loc = Any  # fhirgen.runtime.validate.Loc
Validator = Callable[[dict[str, Any], Loc, IssueList], None]
#: Where rules sit: the steps to the objects holding the element, its name (``None``: the
#: resource itself) and the group of rules evaluated there (see :meth:`ImagingRules.sites`).
Site = tuple[tuple[str, ...], "str | None", Invariants]
#: A generated walk: the checker of one severity's sites.
Walk = Callable[[tuple[Site, ...]], Validator]
#: A value a walk hands to the exact path: (the index of its group in the walk's table of
#: groups, :func:`exact_groups`; the object holding it; where).
Late = tuple[int, Any, Loc]


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
    registry (UID -> name) the ``closest-sop-class`` hint searches; ``walk`` the checker the
    generator specialised to these rules (``None``: the interpreted one is used).
    """

    def __init__(self, url: str, version: str, table: fp.TypeTable, rules: tuple[Rule, ...],
                 sop_classes: Mapping[str, str], walk: Walk | None = None) -> None:
        self.url = url
        self.version = version
        self.table = table
        self.rules = rules
        self.sop_classes = sop_classes
        self.walk = walk

    def checker(self, severity: str) -> Validator:
        """A function ``(node, path, out)`` evaluating every rule on one ImagingSelection, each
        failure reported with *severity* (``error`` or ``warning``): the generated walk when
        there is one, else the interpreted walk (the same issues, in the same order)."""
        if self.walk is not None:
            return self.walk(self.sites(severity))
        return self.reference_checker(severity)

    def reference_checker(self, severity: str) -> Validator:
        """The interpreted walk: each site's group asked on each object holding its element,
        site after site. It is what the generated walk must equal, and what tests compare it
        with."""
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

    def sites(self, severity: str) -> tuple[Site, ...]:
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


def at(where: Loc, name: str, index: int | None) -> Loc:
    """The location of a value of element *name* of the object at *where* (``index``: its place
    in the array, ``None`` for a single value), as :func:`_parents` builds it."""
    return (where, name) if index is None else ((where, name), index)


def expect_sites(sites: tuple[Site, ...],
                 expected: tuple[tuple[tuple[str, ...], str | None, tuple[Any, ...]], ...]) -> None:
    """Raise ``ValueError`` unless *sites* are those a generated walk was written for: the same
    places, in the same order, each rule with the JSON form the walk asks inline in place of
    its group (``None``: a rule without one)."""
    found = tuple((steps, name, tuple(getattr(i.function, "json", None) for i in group.checks))
                  for steps, name, group in sites)
    if found != expected:
        raise ValueError("imaging rules: these sites are not those the generated walk was "
                         "written for (regenerate the package)")


def search_matcher(dfa: Tables | None, regex: re.Pattern[str]) -> Callable[[str], object]:
    """The test a generated walk asks of a text for ``regex.search(text) is not None``
    (FHIRPath's ``matches()``; the walk only asks it of a ``str``): its result is truthy
    exactly when the search finds a match. *dfa* is the automaton of that search
    (``fhirgen.regex_dfa.compile_search_dfa`` of the pattern *regex* compiles), or None: with
    the C extension at hand and tables made with this Python's Unicode database, the test is
    the extension's ``Matcher`` of it (True or False), as a primitive's fast check is
    (``fhirgen.runtime.primitives.Primitive``); otherwise it is ``regex.search`` (a match or
    None)."""
    matcher = _matcher(dfa)
    if matcher is None:
        return regex.search
    test: Callable[[str], object] = matcher
    return test


#: What a walk's late values are handed to, by the index it notes: (the site's place in the
#: order of the sites, the element's name or ``None`` for the resource, the group to ask).
Exact = tuple[int, "str | None", Invariants]


def exact_groups(sites: tuple[Site, ...], partly: tuple[int, ...] = ()) -> tuple[Exact, ...]:
    """The groups a generated walk hands values to: each site's (index ``i`` for site ``i``),
    then, for each site of *partly* (in that order, indexes from ``len(sites)`` on), the group
    of its rules without JSON form alone (:func:`without_forms`)."""
    table = [(index, name, group) for index, (_, name, group) in enumerate(sites)]
    table += [(index, sites[index][1], without_forms(sites[index][2])) for index in partly]
    return tuple(table)


def without_forms(group: Invariants) -> Invariants:
    """The rules of *group* that have no JSON form, as a group of their own. For a value that
    every JSON form of *group* passes, it reports what *group* reports: the forms passing,
    ``Invariants`` goes on to the other rules, and when one fails it evaluates each rule's
    function, which gives a rule with a JSON form its form's verdict (``fp.json_form``); so
    only the rules without form can fail. A walk asks the forms inline and hands such a
    value to this group, which builds no node for the others' sake."""
    checks = tuple(i for i in group.checks if getattr(i.function, "json", None) is None)
    return Invariants(group.type, group.path, group.table, checks)


def replay(late: list[Late], exact: tuple[Exact, ...], out: IssueList) -> None:
    """The exact path for what a generated walk could not pass: each value to its group (see
    :func:`exact_groups`), as the interpreted walk calls them: site by site, and within a site
    in the order the walk found them (instance by instance)."""
    if len(late) > 1:
        late.sort(key=lambda found: exact[found[0]][0])  # stable
    for index, parent, where in late:
        _, name, group = exact[index]
        if name is None:
            group.check(parent, where, out)
        else:
            group.check_element(parent, name, where, out)


def resource_passes(group: Invariants, out: IssueList) -> bool:
    """Whether every rule of *group* passes on the resource the walk is in, for a group whose
    functions never read their focus (the generator makes sure: ``fhirgen.imaging``'s
    ``_focus_free``), so that each gives every value of the resource the verdict it gives here.
    A generated walk asks it once, where it would otherwise hand each value to *group*: when it
    is True, :meth:`Invariants.check_element` would have reported nothing for any of them.

    Each function is called as the exact path calls it (``Invariants``: the resource and root
    nodes of ``out.resources``, which are cached on *out*), the focus aside. False, and the
    values go to the exact path, whenever that is not certain: no resource on the stack (the
    exact path then takes the holding object as ``%resource``), a verdict other than True, or
    any exception (which the exact path meets again). What a passing function leaves in
    ``fp.DETAILS`` is taken out again: the walk leaves no trace (the exact path's leftovers are
    cleared before anything reads them)."""
    resource, root = _context(out, group.table)
    if resource is None or root is None:
        return False
    details = len(fp.DETAILS)
    try:
        for invariant in group.checks:
            if invariant.uses_resolve or invariant.function(resource, resource, root) is not True:
                return False
    except Exception:  # noqa: BLE001 - the exact path meets it again, where it would have
        return False
    finally:
        del fp.DETAILS[details:]
    return True


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
