"""Evaluating compiled FHIRPath invariants during the validators' walk.

The generator compiles each constraint of the StructureDefinitions (``dom-3``, ``ref-1``,
``txt-1`` ...) into a Python function ``inv_xxx(node, resource, root)`` (see
``fhirgen.fhirpath.compiler``) and groups them per type and per element into :class:`Invariants`
objects in the generated ``invariants`` module. A generated validator ends with one call per
group: ``INV_Period.check(node, path, out)`` for the constraints on a type's root (evaluated on
each object of the type), ``INV_Narrative_div.check_element(node, 'div', path, out)`` for those
on an element (evaluated on each of its values). Nothing is interpreted here: this module builds
the FHIRPath nodes (:class:`fhirgen.runtime.fhirpath.Node`) the compiled functions take and turns
their verdicts into issues. Nodes are built only when needed: an invariant compiled with a JSON
form (``fhirgen.fhirpath.specialise``) decides most values from their JSON alone, and a value
that every invariant of its group passes costs no more than those calls (the walk's context, the
nodes and the locations are worked out for the values that fail, to report them).

Verdicts follow the HL7 reference validator: an invariant passes only when it evaluates to
``true``; ``false`` and the empty collection fail. A failure gives an issue of the constraint's
severity (``error`` or ``warning``) with its key as the rule, the message
``Constraint failed: key: 'human'`` and the location of the element carrying the constraint.
An expression that cannot be evaluated on this input (:class:`FhirPathEvalError`: several items
where one is needed, an invalid regex) is an error naming the key. An invariant that calls
``resolve()`` cannot be decided offline when a reference points outside the resource and its
Bundle: when it does not pass and such a reference was met, the issue is information, saying so.

``%resource`` and ``%rootResource`` come from the resources the walk is in
(:attr:`IssueList.resources`, pushed by :func:`fhirgen.runtime.validate.resource`): the innermost
resource, and the outermost one that is not contained. Their nodes are chained through
``parent`` so that ``resolve()`` finds an enclosing Bundle's entries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import fhirpath as fp
from .issues import Issue, IssueList

__all__ = ["Invariant", "Invariants"]

Function = Callable[[fp.Node, fp.Node, fp.Node], "bool | None"]
Loc = Any  # fhirgen.runtime.validate.Loc (not imported: validate imports this module's users)


class Invariant:
    """One compiled constraint: its function and the facts its issues need.

    A *tolerant* invariant (fhirgen's imaging rules) fails, saying why, where its expression
    cannot be evaluated on the content, instead of reporting an evaluation error."""

    __slots__ = ("function", "human", "key", "message", "severity", "tolerant", "uses_resolve")

    def __init__(self, function: Function, key: str, severity: str, human: str,
                 uses_resolve: bool = False, tolerant: bool = False) -> None:
        self.function = function
        self.key = key
        self.severity = severity if severity in ("error", "warning") else "error"
        self.human = human
        self.message = f"Constraint failed: {key}: '{human}'"
        self.uses_resolve = uses_resolve
        self.tolerant = tolerant

    def __repr__(self) -> str:
        return f"Invariant({self.key})"


def _undecided(value: Any) -> bool:
    return False


class Invariants:
    """The invariants evaluated on one type (``Period``) or one element (``Narrative.div``).

    ``type`` is the FHIR type of the values (``Period``, ``xhtml``); ``path`` the definition path
    the runtime uses to look element types up in ``table`` (the type's name, or the backbone
    element's path).

    Each value is first run through the bare functions: their JSON forms (``fp.json_form``:
    the verdict from the JSON value alone) where they have one, without building any node, then
    the others on the value's node. When all pass, as they do on valid content, nothing else is
    done. Otherwise :meth:`_evaluate` runs the group again, one invariant at a time, and reports
    (the functions are pure: the second run gives the same verdicts, and the details and
    unresolved references it records are its own).
    """

    __slots__ = ("checks", "forms", "json_forms", "passes", "path", "table", "type")

    def __init__(self, type_: str, path: str, table: fp.TypeTable,
                 checks: tuple[Invariant, ...]) -> None:
        self.type = type_
        self.path = path
        self.table = table
        self.checks = checks
        # JSON forms first: a value they all pass needs no node for the others' sake only
        forms: list[tuple[fp.JsonForm | None, Function]] = [
            (getattr(i.function, "json", None), i.function) for i in checks]
        self.forms = tuple(sorted(forms, key=lambda form: form[0] is None))
        # all of them: a value they all pass is done with without the walk's context
        json_forms = tuple(form for form, _ in forms if form is not None)
        self.json_forms = json_forms if len(json_forms) == len(forms) else None
        #: ``passes(value) is True`` when the JSON forms alone pass *value* (generated
        #: validators ask this before calling :meth:`check`: one call on valid content)
        self.passes: Callable[[Any], Any]
        if self.json_forms is not None and len(self.json_forms) == 1:
            self.passes = self.json_forms[0]
        elif self.json_forms is not None:
            self.passes = self._json_pass
        else:
            self.passes = _undecided

    def _json_pass(self, value: Any) -> bool:
        """Whether every invariant's JSON form passes *value*."""
        for form in self.json_forms or ():
            if form(value) is not True:
                return False
        return True

    def check(self, node: dict[str, Any], path: Loc, out: IssueList) -> None:
        """Evaluate on one object of the type (a validator's own ``node``)."""
        if self.json_forms is not None and self._json_pass(node):
            return
        resource, root = _context(out, self.table)
        if fp.DETAILS:  # left by checks that passed all the same (`htmlChecks() or ...`)
            fp.DETAILS.clear()
        own = resource if resource is not None and node is resource.data else None  # dom-3 ...

        def build() -> fp.Node:
            if own is not None:
                return own
            return fp.Node(node, None, self.type, self.path, resource, self.table)

        passed, focus = self._all_pass(node, build, None, resource, root)
        if passed:
            return
        if focus is None:
            focus = build()
        self._evaluate(focus, resource or focus, root or focus, path, out)

    def check_element(self, node: dict[str, Any], name: str, path: Loc, out: IssueList) -> None:
        """Evaluate on each value of element *name* of *node* (the primitive's ``_name`` too)."""
        value = node.get(name)
        ext = node.get("_" + name)
        if value is None and ext is None:
            return
        if ext is None and self.json_forms is not None and self._json_pass_all(value):
            return
        self._values(node, name, value, ext, path, out)

    def _json_pass_all(self, value: Any) -> bool:
        """Whether every JSON form passes every item of *value* (an array or a single value,
        without ``_name`` twin)."""
        forms = self.json_forms or ()
        for item in value if value.__class__ is list else (value,):
            if item is None:
                continue  # a null in an array: no item (fhirpath.indexed_pairs)
            for form in forms:
                if form(item) is not True:
                    return False
        return True

    def _values(self, node: dict[str, Any], name: str, value: Any, ext: Any, path: Loc,
                out: IssueList) -> None:
        """Each value of element *name*: JSON forms first, then the others on its node."""
        resource, root = _context(out, self.table)
        if fp.DETAILS:
            fp.DETAILS.clear()
        if ext is None and value.__class__ is list:
            pairs: Any = ((i, item, None) for i, item in enumerate(value) if item is not None)
        else:
            pairs = fp.indexed_pairs(value, ext)
        parent = fp.Node(node, None, None, None, resource, self.table)  # of every value
        for index, item, item_ext in pairs:

            def build(item: Any = item, item_ext: Any = item_ext) -> fp.Node:
                return fp.Node(item, item_ext, self.type, self.path, parent, self.table)

            passed, focus = self._all_pass(item, build, parent, resource, root)
            if passed:
                continue
            if focus is None:
                focus = build()
            where = (path, name) if index is None else ((path, name), index)
            self._evaluate(focus, resource or parent, root or parent, where, out)

    def _all_pass(self, value: Any, build: Callable[[], fp.Node], parent: fp.Node | None,
                  resource: fp.Node | None, root: fp.Node | None) -> tuple[bool, fp.Node | None]:
        """Whether every invariant passes *value*: its JSON form decides where it can, else its
        general compilation on the node *build* makes (once). Also that node, if it was made.
        The resource and root default to *parent*, or to the node itself (a resource's own)."""
        focus: fp.Node | None = None
        try:
            for form, function in self.forms:
                if form is not None:
                    verdict = form(value)
                    if verdict is True:
                        continue
                    if verdict is not fp.Undecided.GENERAL:
                        return False, focus
                if focus is None:
                    focus = build()
                context = focus if parent is None else parent
                if function(focus, resource or context, root or context) is not True:
                    return False, focus
        except fp.FhirPathEvalError:
            return False, focus
        return True, focus

    def _evaluate(self, focus: fp.Node, resource: fp.Node, root: fp.Node, where: Loc,
                  out: IssueList) -> None:
        if fp.DETAILS:
            fp.DETAILS.clear()
        for invariant in self.checks:
            if invariant.uses_resolve:
                fp.UNRESOLVED.clear()
            try:
                verdict = invariant.function(focus, resource, root)
            except fp.FhirPathEvalError as error:
                if not invariant.tolerant:
                    _add(out, "error", "invariant", invariant.key,
                         f"Problem evaluating {invariant.key} on this content: {error}", where)
                    continue
                # a rule fails at its own severity, saying why (see fhirgen.runtime.imaging)
                fp.DETAILS.append(f"it could not be evaluated on this content ({error})")
                verdict = None
            if verdict is True:
                continue
            if invariant.uses_resolve and fp.UNRESOLVED:
                refs = ", ".join(sorted(set(fp.UNRESOLVED))[:3])
                _add(out, "information", "informational", invariant.key,
                     f"{invariant.key} could not be decided offline: it resolves references "
                     f"outside this resource and its Bundle ({refs})", where)
                continue
            message = invariant.message
            if fp.DETAILS:  # what the check found (htmlChecks() names each problem)
                message += ": " + "; ".join(fp.DETAILS[:5])
                fp.DETAILS.clear()
            _add(out, invariant.severity, "invariant", invariant.key, message, where)


def _add(out: IssueList, severity: str, code: str, rule: str, message: str, where: Loc) -> None:
    from .validate import _printable, location

    out.append(Issue(severity, code, rule, _printable(message), _printable(location(where))))


def _context(out: IssueList, table: fp.TypeTable) -> tuple[fp.Node | None, fp.Node | None]:
    """The nodes of ``%resource`` and ``%rootResource`` for the resource the walk is in."""
    stack = out.resources
    if not stack:
        return None, None
    cached = out.context
    if cached is not None and cached[0] is stack[-1][0] and cached[1] == len(stack):
        return cached[2], cached[3]
    parent: fp.Node | None = None
    root: fp.Node | None = None
    for data, contained in stack:
        parent = fp.Node.resource(data, table, parent)
        if not contained or root is None:
            root = parent
    out.context = (stack[-1][0], len(stack), parent, root)
    return parent, root
