"""The helpers generated validators call, one call per element, and the validation entry point.

A generated validator (``fhirgen.models.validators``) is straight-line: for each element of a type
it calls :func:`primitive`, :func:`complex_` or :func:`resource` with the element's facts
(JSON name, checker or nested validator, min, max, JSON shape, binding, reference targets), after
:func:`check_keys` has looked at the object's property names. These helpers read the parsed JSON
tree exactly as received and append :class:`~fhirgen.runtime.issues.Issue` objects to an
:class:`~fhirgen.runtime.issues.IssueList`; nothing stops at the first problem.

Locations are FHIRPath expressions in the HL7 reference validator's style
(``ImagingSelection.instance[0].uid``; a choice element as ``value.ofType(Quantity)``); a child's
location string is built only when the child is present. Line and column are added after the walk,
only when there are issues and the input was text (:mod:`~fhirgen.runtime.positions`: read
off the parsed tree when the text is its serialisation, else one token pass over it).
Issues about a missing element or an unknown property sit on the parent (as the HL7 validator puts
them) and name the property in ``Issue.key``, which places line/column.

:func:`run` is the entry point: text, bytes or an already parsed tree in, :class:`Result` out.
JSON text is parsed here (not with :func:`fhirgen.runtime.jsonio.loads`) because validation needs
what ``json`` drops: duplicate property names (recorded by an ``object_pairs_hook`` and reported
with their location) and the written text of decimals.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache, partial
from typing import Any, Self

from .issues import Issue, IssueList, count, operation_outcome
from .limits import (
    DEFAULT_LIMITS,
    Limits,
    outside_strings,
    outside_too_deep,
    size_refusal,
    too_deep,
)
from .positions import (  # noqa: F401 - json_pointer, locate, _lines_cols: importable here too
    _TOKEN,
    _line_col,
    _lines_cols,
    _with_positions,
    json_pointer,
    locate,
)
from .primitives import Primitive, json_kind_of, kind_name

try:
    import orjson as _orjson

    _INDENT = _orjson.OPT_INDENT_2
except ImportError:  # pragma: no cover - a declared dependency; the exact parse still works
    _orjson = None  # type: ignore[assignment]
    _INDENT = 0

__all__ = [
    "MISSING",
    "Choice",
    "Limits",
    "Loc",
    "Result",
    "ValidationError",
    "Validator",
    "ValueSet",
    "check_keys",
    "choice",
    "complex_",
    "complex_item",
    "item_checks",
    "location",
    "parse_json",
    "primitive",
    "resource",
    "run",
    "unchecked",
]

#: A location: FHIRPath text, or ``(parent location, JSON name)`` / ``(parent location, index)``
#: tuples, turned into text by :func:`location` only when an issue is raised.
Loc = str | tuple[Any, str | int]
Validator = Callable[[dict[str, Any], Loc, IssueList], None]
MISSING: Any = object()
ELEMENT_KEYS = frozenset({"id", "extension"})

_REST_REFERENCE = re.compile(
    r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?\Z"
)
_BCP47 = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*\Z")
ALL_LANGUAGES = "http://hl7.org/fhir/ValueSet/all-languages"


class ValidationError(ValueError):
    """Input that failed validation; ``result`` carries the issues and the OperationOutcome."""

    def __init__(self, result: Result) -> None:
        self.result = result
        first = next((i for i in result.issues if i.is_error), None)  # with its position
        super().__init__(f"{result.error_count} error(s); first: {first}")


# ------------------------------------------------------------------------------------ issues


def _python_location(loc: Loc) -> str:
    """The FHIRPath text of a location: ``(("X", "instance"), 0)`` -> ``X.instance[0]`` (the
    reference of the compiled one, which hands it what it does not handle itself)."""
    parts: list[str] = []
    here: Any = loc
    while here.__class__ is tuple:
        here, part = here
        parts.append(f"[{part}]" if part.__class__ is int else f".{part}")
    if not parts:
        return str(here)
    parts.append(here)
    parts.reverse()
    return "".join(parts)


def _compiled_location() -> Callable[[Loc], str]:
    from .accel import ACCEL

    if ACCEL is None:
        return _python_location
    return partial(ACCEL.location, _python_location)


#: The FHIRPath text of a location: ``(("X", "instance"), 0)`` -> ``X.instance[0]``; built in C
#: when the extension is (an issue's location is made when it is raised: ten a bench resource).
location: Callable[[Loc], str] = _compiled_location()


def _printable(text: str) -> str:
    """Text that can be written as UTF-8: lone surrogates (legal in JSON escapes) escaped."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _issue(out: IssueList, severity: str, code: str, rule: str, message: str, where: Loc,
           key: str | None = None) -> None:
    bounded = out.__class__ is _BoundedIssues
    if bounded and len(out) >= out.max_issues:  # type: ignore[attr-defined]
        out.drop(severity)  # type: ignore[attr-defined]  # counted, never built
        return
    issue = _new_issue(Issue, (severity, code, rule, _printable(message),
                               _printable(location(where)), None, None, key))
    if bounded and len(message) <= _BoundedIssues.MAX_MESSAGE:
        _list_append(out, issue)  # what _BoundedIssues.append would do, without its checks
        return
    out.append(issue)


_new_issue = tuple.__new__  # an Issue from its eight fields, without the named tuple's __new__
_list_append = list.append


def _shape(out: IssueList, message: str, where: Loc, key: str | None = None) -> None:
    _issue(out, "error", "structure", "json-shape", message, where, key)


def _cardinality(out: IssueList, path: Loc, name: str, found: int, minimum: int,
                 maximum: int | None) -> None:
    if found < minimum:
        _issue(out, "error", "required", "cardinality",
               f"{location(path)}.{name}: minimum required = {minimum}, but only found {found}",
               path, name)
    elif maximum is not None and found > maximum:
        _issue(out, "error", "structure", "cardinality",
               f"{location(path)}.{name}: maximum allowed = {maximum}, but found {found}", path,
               name)


# ---------------------------------------------------------------------------------- bindings


class ValueSet:
    """The codes of a value set as shipped in the definitions; ``expanded`` False if we have none.

    *concepts* are ``(system, code)`` pairs; ``None`` when the value set cannot be expanded
    offline (DICOM pages, all-languages): codes are then not checked and an information issue
    says so, except all-languages, whose codes are checked against the IANA language subtag
    registry (:func:`language_problem`).
    """

    __slots__ = ("codes", "expanded", "pairs", "unchecked", "url")

    def __init__(self, url: str, concepts: Iterable[tuple[str | None, str]] | None) -> None:
        self.url = url
        self.expanded = concepts is not None
        pairs = frozenset(concepts or ())
        self.pairs = pairs
        self.codes = frozenset(code for _system, code in pairs)
        #: printable, and at most _BoundedIssues.MAX_MESSAGE characters (unchecked() relies on it)
        self.unchecked = _printable(
            f"The value set {url[:1000]} cannot be expanded offline, so the code was not checked")

    def __repr__(self) -> str:
        return f"ValueSet({self.url!r})"

    def has_coding(self, coding: Mapping[str, Any]) -> bool:
        code = coding.get("code")
        system = coding.get("system")
        if not isinstance(code, str) or not isinstance(system, (str, type(None))):
            return False  # a wrong JSON kind is reported by the primitive check
        if system is None:
            return code in self.codes
        return (system, code) in self.pairs


def _not_expanded(vs: ValueSet, where: Loc, out: IssueList) -> None:
    _issue(out, "information", "informational", "binding", vs.unchecked, where)


def unchecked(item: dict[str, Any], vs: ValueSet, where: Loc, out: IssueList) -> None:
    """A Coding bound to a value set that cannot be expanded offline: its information issue,
    as :func:`item_checks` would say (generated code calls this directly; a Coding carrying
    properties of the other concept types is left to :func:`item_checks`)."""
    if "concept" in item or "reference" in item or "coding" in item or "text" in item:
        _complex_binding(item, where, out, None, vs)
        return
    if out.__class__ is _BoundedIssues and len(out) < out.max_issues:
        # _issue's work, shortened: the value set's message is printable (made so) and short
        _list_append(out, _new_issue(Issue, ("information", "informational", "binding",
                                             vs.unchecked, _printable(location(where)), None,
                                             None, None)))
        return
    _not_expanded(vs, where, out)


BCP47_SYSTEM = "urn:ietf:bcp:47"
#: Subtags a language tag may have here: a language, three extlangs, a script, a region and a
#: few variants, extensions and private-use subtags fit many times over.
MAX_SUBTAGS = 32


def language_problem(tag: str) -> str | None:
    """Why *tag* is not in all-languages (every BCP-47 tag), or None when it is.

    all-languages has no expansion, but it is a grammar over the IANA language subtag registry,
    which the HL7 validator checks a tag against (its first subtag must be a registered
    language, each further one a registered extlang, script, region or variant, or private
    use). langcodes ships that registry; an unknown primary language is named in the HL7
    validator's words.
    """
    if not _BCP47.match(tag):
        return f"'{tag}' is not a valid BCP-47 language tag"
    if tag.count("-") >= MAX_SUBTAGS:  # langcodes parses one subtag per recursion level
        return f"'{tag}' has more than {MAX_SUBTAGS} subtags: not a registered language tag"
    if len(tag) > 64:  # real tags are short: only those are remembered (input is untrusted)
        return _registry_problem.__wrapped__(tag)
    return _registry_problem(tag)


@lru_cache(maxsize=4096)
def _registry_problem(tag: str) -> str | None:
    import langcodes  # imported on the first language code only: validation without one never pays

    if langcodes.tag_is_valid(tag):
        return None
    primary = tag.split("-", 1)[0]
    if not langcodes.tag_is_valid(primary):
        return f"Invalid Language code '{primary}'"
    return f"'{tag}' has a subtag that is not in the IANA language subtag registry"


def _not_in_value_set(value: str, vs: ValueSet, where: Loc, out: IssueList, required: bool,
                      detail: str = "") -> None:
    reason = f" (error message = {detail})" if detail else ""
    if required:
        _issue(out, "error", "code-invalid", "binding",
               f"The value provided ('{value}') is not in the value set '{vs.url}', "
               f"and a code is required from this value set{reason}", where)
    else:
        _issue(out, "warning", "code-invalid", "binding",
               f"The value provided ('{value}') is not in the value set '{vs.url}', "
               f"and a code should come from this value set unless it has no suitable code{reason}",
               where)


def _code_binding(value: Any, where: Loc, out: IssueList, required: ValueSet | None,
                  extensible: ValueSet | None) -> None:
    vs = required or extensible
    if vs is None or not isinstance(value, str):
        return
    if vs.url == ALL_LANGUAGES and not vs.expanded:  # checked against the subtag registry
        problem = language_problem(value)
        if problem is not None:
            _not_in_value_set(value, vs, where, out, required is not None, problem)
    elif not vs.expanded:
        _not_expanded(vs, where, out)
    elif value not in vs.codes:
        _not_in_value_set(value, vs, where, out, required is not None)


def _no_code(vs: ValueSet, where: Loc, out: IssueList, required: bool) -> None:
    """A CodeableConcept with text only: the HL7 validator wants a code from a required
    binding's value set (error) and asks for one from an extensible binding's (warning), whether
    or not the value set can be expanded (there is no code to look up)."""
    if required:
        _issue(out, "error", "code-invalid", "binding",
               f"No code provided, and a code is required from the value set '{vs.url}'", where)
    else:
        _issue(out, "warning", "code-invalid", "binding",
               f"No code provided, and a code should be provided from the value set '{vs.url}'",
               where)


def _language_coding(coding: Mapping[str, Any]) -> bool:
    code = coding.get("code")
    return (coding.get("system") == BCP47_SYSTEM and isinstance(code, str)
            and language_problem(code) is None)


def _codings_binding(codings: list[Any], where: Loc, out: IssueList, required: ValueSet | None,
                     extensible: ValueSet | None, concept: bool) -> None:
    vs = required or extensible
    if vs is None:
        return
    good = [c for c in codings if isinstance(c, dict)]
    if not good:
        if concept:
            _no_code(vs, where, out, required is not None)
        return
    if vs.url == ALL_LANGUAGES and not vs.expanded:
        if any(_language_coding(c) for c in good):
            return
    elif not vs.expanded:
        _not_expanded(vs, where, out)
        return
    elif any(vs.has_coding(c) for c in good):
        return
    shown = ", ".join(f"{c.get('system', '')}#{c.get('code', '')}" for c in good)
    if required is not None:
        _issue(out, "error", "code-invalid", "binding",
               f"None of the codes provided ({shown}) are in the value set '{vs.url}', "
               "and a code from this value set is required", where)
    else:
        _issue(out, "warning", "code-invalid", "binding",
               f"None of the codes provided ({shown}) are in the value set '{vs.url}', "
               "and a code should come from this value set unless it has no suitable code", where)


def _complex_binding(item: dict[str, Any], where: Loc, out: IssueList,
                     required: ValueSet | None, extensible: ValueSet | None) -> None:
    if "concept" in item or "reference" in item and isinstance(item.get("reference"), dict):
        concept = item.get("concept")  # CodeableReference: the binding is on its concept
        if isinstance(concept, dict):
            _complex_binding(concept, (where, "concept"), out, required, extensible)
        return
    if "coding" in item or "text" in item:  # CodeableConcept
        codings = item.get("coding")
        _codings_binding(codings if isinstance(codings, list) else [], where, out, required,
                         extensible, True)
    else:  # Coding (or Quantity: its code and system)
        _codings_binding([item], where, out, required, extensible, False)


# -------------------------------------------------------------------------------- references


def _check_reference(item: dict[str, Any], where: Loc, targets: frozenset[str],
                     out: IssueList) -> None:
    inner = item.get("reference")
    if isinstance(inner, dict):  # CodeableReference.reference
        where, item, inner = (where, "reference"), inner, inner.get("reference")
    if not isinstance(inner, str) or not inner:
        return
    if inner.startswith("#"):
        if inner == "#":
            return
        found = (out.contained or {}).get(inner[1:])
        if found is None:
            _issue(out, "error", "not-found", "reference-target",
                   f"Unable to resolve resource with reference '{inner}': no contained resource "
                   "has that id", (where, "reference"))
            return
        target = found
    else:
        match = _REST_REFERENCE.search(inner)
        if match is None:
            return
        target = match.group(1)
    if "Resource" in targets or target in targets:
        return
    _issue(out, "error", "structure", "reference-target",
           f"The type '{target}' implied by the reference '{inner}' is not a valid target for "
           f"this element (must be one of {', '.join(sorted(targets))})", (where, "reference"))


# --------------------------------------------------------------------------------- elements


def check_keys(node: dict[str, Any], keys: frozenset[str], path: Loc, out: IssueList) -> None:
    """Property names of one object: unknown ones (incl. wrong choice suffixes), empty objects.

    Generated validators call it only when ``keys.issuperset(node)`` fails or *node* is empty.
    """
    if not node:
        _shape(out, "Element must have some content (empty objects are not allowed)", path)
        return
    for key in node:
        if key not in keys:
            _issue(out, "error", "structure", "unknown-property",
                   f"Unrecognized property '{key}'", path, key)


def _ele1(item: dict[str, Any], where: Loc, out: IssueList) -> None:
    """ele-1's shape: an element with an id and nothing else has neither value nor children."""
    if len(item) == 1 and "id" in item:
        _issue(out, "error", "invariant", "ele-1",
               "Constraint failed: ele-1: 'All FHIR elements must have a @value or children'",
               where)


def _items(value: Any, array: bool, where: Loc, out: IssueList, what: str
           ) -> list[tuple[Loc, Any]] | None:
    """(location, item) pairs of a present property, after its JSON shape checks."""
    if array:
        if not isinstance(value, list):
            _shape(out, f"This property must be an array, not {kind_name(json_kind_of(value))}",
                   where)
            return [(where, value)]
        if not value:
            _shape(out, "Array cannot be empty - the property should not be present if it has "
                   "no values", where)
            return None
        return [((where, i), item) for i, item in enumerate(value)]
    if isinstance(value, list):
        _shape(out, f"This property must be {what}, not an array", where)
        return None
    return [(where, value)]


def primitive(node: dict[str, Any], name: str, path: Loc, out: IssueList, prim: Primitive,
              minimum: int, maximum: int | None, array: bool, *, label: str | None = None,
              required: ValueSet | None = None, extensible: ValueSet | None = None,
              ext: bool = True) -> None:
    """A primitive element: its value(s) and its ``_name`` twin, cardinality, binding.

    The fast path: a value without a ``_name`` twin that :attr:`Primitive.fast` accepts (and
    whose code is in an expanded bound value set) needs nothing more; everything else is judged
    exactly by :func:`_primitive`.
    """
    value = node.get(name, MISSING)
    if value is not MISSING and not (ext and "_" + name in node):
        vs = required or extensible
        try:
            if array:
                if (value.__class__ is list and minimum <= len(value)
                        and (maximum is None or len(value) <= maximum) and value
                        and prim.fast_all(value)
                        and (vs is None or vs.expanded and vs.codes.issuperset(value))):
                    return
            elif prim.fast(value) and (vs is None or vs.expanded and value in vs.codes):
                return
        except TypeError:  # a value of another JSON kind (or unhashable): judged below
            pass
    _primitive(node, name, path, out, prim, minimum, maximum, array, label, required, extensible,
               ext, value)


def _primitive(node: dict[str, Any], name: str, path: Loc, out: IssueList, prim: Primitive,
               minimum: int, maximum: int | None, array: bool, label: str | None,
               required: ValueSet | None, extensible: ValueSet | None, ext: bool,
               value: Any) -> None:
    twin = node.get("_" + name, MISSING) if ext else MISSING
    if value is MISSING and twin is MISSING:
        if minimum:
            _cardinality(out, path, label or name, 0, minimum, maximum)
        return
    where = (path, label or name)
    if not array:
        if isinstance(value, list) or isinstance(twin, list):
            _shape(out, "This property must be a single value, not an array", where)
            return
        if value is None or twin is None:
            _shape(out, "Null values are not allowed here (null is only a placeholder in arrays "
                   "of primitives)", where)
        has_value = value is not MISSING and value is not None
        if has_value:
            _value(value, where, prim, out, required, extensible)
        if twin is not MISSING and twin is not None:
            _twin(twin, where, prim, out, has_value)
        return
    values = _array_of(value, where, out)
    twins = _array_of(twin, where, out, "_")
    if values is None or twins is None:
        return
    if values and twins and len(values) != len(twins):
        _shape(out, f"The _{name} array ({len(twins)} items) does not line up with the {name} "
               f"array ({len(values)} items)", where)
    found = max(len(values), len(twins))
    _cardinality(out, path, label or name, found, minimum, maximum)
    for i in range(found):
        item = values[i] if i < len(values) else None
        extra = twins[i] if i < len(twins) else None
        at = (where, i)
        if item is None and extra is None:
            _shape(out, "Null values are only allowed as placeholders where the matching "
                   f"_{name} item has content", at)
            continue
        if item is not None:
            _value(item, at, prim, out, required, extensible)
        if extra is not None:
            _twin(extra, at, prim, out, item is not None)


def _array_of(value: Any, where: Loc, out: IssueList, prefix: str = "") -> list[Any] | None:
    if value is MISSING:
        return []
    if not isinstance(value, list):
        _shape(out, f"The {prefix}value must be an array, not {kind_name(json_kind_of(value))}",
               where)
        return None
    if not value:
        _shape(out, "Array cannot be empty - the property should not be present if it has "
               "no values", where)
        return None
    return value


def _value(value: Any, where: Loc, prim: Primitive, out: IssueList,
           required: ValueSet | None, extensible: ValueSet | None) -> None:
    if json_kind_of(value) != prim.kind:
        article = "an" if prim.kind[0] in "aeiou" else "a"
        _shape(out, f"Error parsing JSON: the primitive value must be {article} {prim.kind} "
               f"(FHIR {prim.name}), not {kind_name(json_kind_of(value))}", where)
        out.inexact_numbers = True
        return
    found = prim.check(value)
    if found is not None:
        severity, message = found
        _issue(out, severity, "value" if severity == "error" else "invalid", "primitive", message,
               where)
        if prim.kind == "number":
            out.inexact_numbers = True
        return
    if required is not None or extensible is not None:
        _code_binding(value, where, out, required, extensible)


def _twin(value: Any, where: Loc, prim: Primitive, out: IssueList, has_value: bool) -> None:
    if not isinstance(value, dict):
        _shape(out, f"The extension object of a primitive must be an object, not "
               f"{kind_name(json_kind_of(value))}", where)
        return
    if prim.element is not None:
        prim.element(value, where, out)
    if not has_value:
        _ele1(value, where, out)


def complex_(node: dict[str, Any], name: str, path: Loc, out: IssueList, validator: Validator,
             minimum: int, maximum: int | None, array: bool, *, label: str | None = None,
             required: ValueSet | None = None, extensible: ValueSet | None = None,
             targets: frozenset[str] | None = None) -> None:
    """A complex or backbone element: shape, cardinality, the type's validator, binding, targets."""
    value = node.get(name, MISSING)
    if value is MISSING:
        if minimum:
            _cardinality(out, path, label or name, 0, minimum, maximum)
        return
    where = (path, label or name)
    if not array and value.__class__ is dict:
        complex_item(value, where, out, validator, required, extensible, targets)
        return
    items = _items(value, array, where, out, "a single object")
    if items is None:
        return
    if array:
        _cardinality(out, path, label or name, len(items), minimum, maximum)
    for place, item in items:
        complex_item(item, place, out, validator, required, extensible, targets)


def complex_item(item: Any, at: Loc, out: IssueList, validator: Validator,
                 required: ValueSet | None = None, extensible: ValueSet | None = None,
                 targets: frozenset[str] | None = None) -> None:
    """One value of a complex element: its JSON shape, its type's validator, ele-1's shape,
    binding and reference targets (what generated code calls for an item its fast path did not
    take: not an object, or only an ``id``)."""
    if not isinstance(item, dict):
        _shape(out, f"This property must be an object, not {kind_name(json_kind_of(item))}", at)
        return
    validator(item, at, out)
    _ele1(item, at, out)
    if required is not None or extensible is not None or targets is not None:
        item_checks(item, at, out, required, extensible, targets)


def item_checks(item: dict[str, Any], at: Loc, out: IssueList, required: ValueSet | None,
                extensible: ValueSet | None, targets: frozenset[str] | None) -> None:
    """The binding and reference-target checks of one object (after its type's validator)."""
    if required is not None or extensible is not None:
        _complex_binding(item, at, out, required, extensible)
    if targets is not None:
        _check_reference(item, at, targets, out)


class Choice:
    """The JSON names of a choice element ``name[x]`` (spec order) and, for a quick test, all of
    them with their ``_name`` twins."""

    __slots__ = ("keys", "names")

    def __init__(self, *names: str) -> None:
        self.names = names
        self.keys = frozenset(names) | frozenset("_" + n for n in names)

    def __repr__(self) -> str:
        return f"Choice{self.names!r}"


def choice(node: dict[str, Any], names: Choice | tuple[str, ...], path: Loc, out: IssueList,
           name: str, minimum: int) -> None:
    """A choice element ``name[x]``: at most one of its JSON names, at least one if required."""
    if isinstance(names, Choice):
        found = names.keys.intersection(node)
        if len(found) <= 1 and (found or not minimum):
            return
        names = names.names
    present = [n for n in names if n in node or "_" + n in node]
    if len(present) > 1:
        _shape(out, f"Only one of {', '.join(present)} may be present ({name}[x] is one value)",
               path, present[1])
    elif not present and minimum:
        _cardinality(out, path, f"{name}[x]", 0, minimum, 1)


def resource(node: dict[str, Any], name: str, path: Loc, out: IssueList,
             validators: Mapping[str, Validator], minimum: int, maximum: int | None, array: bool,
             *, contained: bool = False) -> None:
    """Resources inside a resource (``contained``, ``Bundle.entry.resource`` ...)."""
    value = node.get(name, MISSING)
    if value is MISSING:
        if minimum:
            _cardinality(out, path, name, 0, minimum, maximum)
        return
    where = (path, name)
    items = _items(value, array, where, out, "a single resource")
    if items is None:
        return
    if array:
        _cardinality(out, path, name, len(items), minimum, maximum)
    ids: set[str] = set()
    for at, item in items:
        if not isinstance(item, dict):
            _shape(out, f"A resource must be an object, not {kind_name(json_kind_of(item))}", at)
            continue
        if contained:
            _contained_id(item, at, ids, out)
            _one_resource(item, at, out, validators, contained=True)
        else:
            resource_root(item, at, out, validators)


def _contained_id(item: dict[str, Any], where: Loc, ids: set[str], out: IssueList) -> None:
    """A contained resource needs an id (references reach it by ``#id``), unique in its container."""
    found = item.get("id")
    if not isinstance(found, str):
        _issue(out, "error", "required", "contained-id",
               "Resource requires an id, but none is present (contained resources need one)",
               where)
    elif found in ids:
        _issue(out, "error", "duplicate", "contained-id",
               f"Duplicate ID for contained resource: {found}", where)
    else:
        ids.add(found)


def _one_resource(item: dict[str, Any], where: Loc, out: IssueList,
                  validators: Mapping[str, Validator], contained: bool = False) -> None:
    resource_type = item.get("resourceType")
    if not isinstance(resource_type, str):
        _issue(out, "error", "structure", "json-shape",
               "Unable to find resourceType property (a resource must name its type)", where)
        return
    validator = validators.get(resource_type)
    if validator is None:
        _issue(out, "warning", "not-supported", "unknown-resource",
               f"No validator for resourceType '{resource_type}' in these models: its content "
               "was not checked (generate it, or validate with models of the whole core)", where)
        return
    out.resources.append((item, contained))  # %resource / %rootResource of invariants
    saved_ids, out.element_ids = out.element_ids, set()
    try:
        validator(item, where, out)
    finally:
        out.resources.pop()
        out.element_ids = saved_ids


def resource_root(item: dict[str, Any], where: Loc, out: IssueList,
                  validators: Mapping[str, Validator]) -> None:
    """A resource with its own contained resources (``#id`` references resolve among them)."""
    saved = out.contained
    out.contained = _contained_index(item)
    try:
        _one_resource(item, where, out, validators)
    finally:
        out.contained = saved


# ------------------------------------------------------------- rules the specification states in prose


def element_id(node: dict[str, Any], path: Loc, out: IssueList, prim: Primitive) -> None:
    """An element's ``id``: a string, and unique among the element ids of its resource (the
    HL7 validator reports the repeat on the element that carries it)."""
    primitive(node, "id", path, out, prim, 0, 1, False, ext=False)
    value = node.get("id")
    if value.__class__ is str:
        if value in out.element_ids:
            _issue(out, "error", "duplicate", "element-id", f"Duplicate id value '{value}'", path)
        else:
            out.element_ids.add(value)


def attachment_rules(node: dict[str, Any], path: Loc, out: IssueList) -> None:
    """An Attachment with ``data``: its stated ``size`` is the decoded length and its ``hash``
    the base64 SHA-1 of the decoded bytes (Attachment.size and .hash definitions)."""
    data = node.get("data")
    if data.__class__ is not str or ("size" not in node and "hash" not in node):
        return
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return  # the base64Binary rules report it
    size = node.get("size")  # integer64: a JSON string of digits (an int read leniently)
    stated_size = int(size) if (isinstance(size, str) and size.isdigit()) or (
        isinstance(size, int) and not isinstance(size, bool)) else None
    if stated_size is not None and stated_size != len(raw):
        _issue(out, "error", "value", "attachment-size",
               f"Stated Attachment Size {stated_size} does not match actual attachment size "
               f"{len(raw)}", path, "size")
    stated = node.get("hash")
    if isinstance(stated, str):
        actual = base64.b64encode(hashlib.sha1(raw).digest()).decode("ascii")
        if stated.strip() != actual:
            _issue(out, "error", "value", "attachment-hash",
                   f"The hash of the data did not match the data (stated: '{stated}', actual: "
                   f"'{actual}')", path, "hash")


_RESTFUL_URL = re.compile(r"(?:https?://.+/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})\Z")


def bundle_rules(node: dict[str, Any], path: Loc, out: IssueList) -> None:
    """A Bundle entry whose ``fullUrl`` looks like a RESTful URL (``.../Patient/1``) must end
    with its resource's type and id."""
    entries = node.get("entry")
    if entries.__class__ is not list:
        return
    for i, entry in enumerate(entries):
        if entry.__class__ is not dict:
            continue
        full_url, item = entry.get("fullUrl"), entry.get("resource")
        if full_url.__class__ is not str or item.__class__ is not dict:
            continue
        rest = _RESTFUL_URL.search(full_url.split("/_history/", 1)[0])
        resource_type, resource_id = item.get("resourceType"), item.get("id")
        if rest is None or not isinstance(resource_type, str) or not isinstance(resource_id, str):
            continue
        if rest.groups() != (resource_type, resource_id):
            _issue(out, "error", "invalid", "bundle-fullurl",
                   f"The fullUrl '{full_url}' looks like a RESTful server URL, so it must end "
                   f"with the correct type and id (/{resource_type}/{resource_id})",
                   ((path, "entry"), i))


def _contained_index(item: dict[str, Any]) -> dict[str, str]:
    contained = item.get("contained")
    if not isinstance(contained, list):
        return {}
    return {
        c["id"]: c.get("resourceType", "")
        for c in contained
        if isinstance(c, dict) and isinstance(c.get("id"), str)
    }


# ------------------------------------------------------------------------------ entry point


class _Decimal(Decimal):
    """A decimal that remembers how it was written (``1.50``, ``1e5``): lexical checks need it."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> Self:
        number = Decimal.__new__(cls, text)
        number.text = text
        return number

    def __str__(self) -> str:
        return self.text


@dataclass
class Parsed:
    tree: Any
    text: str | None
    duplicates: list[tuple[dict[str, Any], list[str]]] = field(default_factory=list)
    error: Issue | None = None


# The fast parse. orjson builds the tree (floats for decimals, the last value of a repeated
# name), and cheap byte scans decide whether that tree can be trusted.
# First, the common case (_written_alike): the text is orjson's serialisation of its own tree
# but for whitespace (json.dumps' ", " and ": ", indentation, a final newline) and, in ASCII
# text, json.dumps' \u00e9 escapes. Spaces are dropped from both sides (inside strings too),
# tabs and line breaks from the text (JSON strings cannot hold them raw). Neither step moves a
# backslash or a quote, so where the two are then equal their strings sit at the same places,
# and so does everything between strings: every number is written as orjson writes its float
# (so the float holds it exactly: "1.50", "1e2" and "-0" differ) and no name was dropped (a
# repeated name's first value would be missing from the tree's text). Otherwise:
# * duplicates: every '"' byte of JSON text delimits a string or is an escaped quote, and orjson
#   writes the tree back the same way, so the text and the re-serialised tree have as many '"'
#   bytes unless a name was repeated (its dropped name and value are missing from the tree); a
#   quote written as \u0022 in the text is one '"' byte in the tree's text, so it is counted
#   (a literal backslash before "u0022" only makes the text's side larger: the exact parse);
# * numbers: a float gives back a JSON number of up to 15 significant digits as written when
#   it is written without an exponent (with one it may be subnormal: 2.22507385850696e-311 is
#   held as 2.225073858507e-311); text with a number of 16 digits or more (the point aside,
#   leading zeros counted: rare, and safe) or any exponent takes the exact parse, as does "-0"
#   (not a FHIR integer). The scan maps what lies outside the strings (DICOM UIDs' long digit runs are
#   inside them) to number classes (digits, '.', 'e', signs, separators) with one
#   bytes.translate.
# Anything orjson refuses (syntax, BOM, NaN, lone surrogates, depth) takes the exact parse too,
# which reports it as before.
def _scan_table() -> tuple[bytes, bytes]:
    """What each byte becomes in the scan, and the bytes the scan drops (they cannot be part
    of a number token or the separator before it; dropping them never hides a number). A
    backslash stays, as a boundary: the digits of \\u escapes never join into a long run."""
    table = bytearray(256)
    keep = {b"e": b"e", b"E": b"e", b"-": b"m", b"+": b"p", b".": b"d", b":": b"s", b",": b"s",
            b"[": b"s", b'"': b"x", b"]": b"x", b"}": b"x", b"{": b"x", b"\\": b"x"}
    keep.update({bytes([digit]): b"0" for digit in b"0123456789"})
    for byte, mark in keep.items():
        table[byte[0]] = mark[0]
    dropped = bytes(byte for byte in range(256) if bytes([byte]) not in keep)
    return bytes(table), dropped


_NUMBER_SCAN, _NOT_NUMBER = _scan_table()
#: The scan again, with 1-9 apart from 0: a negative one-digit integer is looked at again
#: there, to tell "-0" (not a FHIR integer, and a float cannot tell) from "-2".
_ZERO_SCAN = bytes(ord("1") if 0x31 <= i <= 0x39 else _NUMBER_SCAN[i] for i in range(256))
#: 16 digits of one number (its point dropped): more than a float gives back as written.
_SIGNIFICANT = b"0" * 16


def _numbers_exact(outside: bytes) -> bool:
    """Whether every number of JSON text, given by what lies outside its strings
    (:func:`~.limits.outside_strings`), is held exactly by the float orjson made of it: every
    digit there is a number's, so no run needs telling apart from a UID's."""
    scanned = outside.translate(_NUMBER_SCAN, _NOT_NUMBER)
    if b"e" in scanned:
        return False  # an exponent: a float may not hold it (2.22507385850696e-311 is subnormal)
    # 16 digits, the point aside, are more than a float always gives back as written
    # (1.00000000000000002 is 1.0); an integer that long also takes the exact parse
    if _SIGNIFICANT in scanned.replace(b"d", b""):
        return False
    if b"sm0" in scanned:
        zeros = outside.translate(_ZERO_SCAN, _NOT_NUMBER)
        if b"sm0x" in zeros or b"sm0s" in zeros:
            return False  # "-0": not a FHIR integer, and a float cannot tell
    return True


def fast_parse(data: str | bytes | bytearray) -> tuple[Any, bytes]:
    """orjson's tree of the text and the text as bytes, or ``(None, b"")`` when orjson refuses
    it (syntax, BOM, NaN, lone surrogates, nesting beyond 1024 levels)."""
    if _orjson is None:
        return None, b""
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        tree = _orjson.loads(raw)
    except (ValueError, UnicodeError, TypeError, RecursionError):
        return None, b""
    return tree, raw


def trusted(tree: Any, raw: bytes) -> bool:
    """Whether the fast tree of *raw* is the exact parse's (see above): no repeated name, every
    number held as written."""
    return vouch(tree, raw, None) is True


def _compiled_vouch() -> Callable[[Any, bytes, int | None], bool | None] | None:
    """The extension's vouch (``fhirgen.runtime._accel``: one pass over the text, comparing it
    with the tree), or None when the extension is not built or switched off."""
    from .accel import ACCEL

    if ACCEL is None:
        return None
    compiled: Callable[[Any, bytes, int | None], bool | None] = ACCEL.vouch
    return compiled


_COMPILED_VOUCH = _compiled_vouch()


def vouch(tree: Any, raw: bytes, max_depth: int | None) -> bool | None:
    """The fast tree of *raw* is the exact parse's and nests at most *max_depth* levels (True),
    nests deeper (False: refuse it), or may differ from the exact parse (None: parse exactly).

    The compiled vouch answers first when the extension is built: it compares the text with
    the tree value by value, and says True only for the exact parse's tree, False only for
    JSON nested too deep; when it is not sure (a number not written as repr() writes its
    float, a repeated name, anything unusual) :func:`_python_vouch` decides."""
    if _COMPILED_VOUCH is not None:
        verdict = _COMPILED_VOUCH(tree, raw, max_depth)
        if verdict is not None:
            return verdict
    return _python_vouch(tree, raw, max_depth)


def _python_vouch(tree: Any, raw: bytes, max_depth: int | None) -> bool | None:
    """:func:`vouch` in Python (the reference the compiled one is tested against).

    The depth of a tree written like its text is read off orjson's indented serialisation: a
    value nested deeper than *max_depth* sits in a container at that level, whose contents
    are written on lines indented by ``2 * max_depth`` spaces (strings hold no raw line
    break), so without such a line there is none."""
    if tree.__class__ is not dict:
        return None
    try:
        indented = _orjson.dumps(tree, option=_INDENT)
    except (TypeError, ValueError):  # nested past what orjson writes back (255 levels)
        if max_depth is not None and outside_too_deep(outside_strings(raw), max_depth):
            return False
        return None
    if _written_alike(raw, indented):
        if max_depth is None or _indent(max_depth) not in indented:
            return True
        return not too_deep(raw, max_depth)  # deep, perhaps too deep: count the brackets
    outside = outside_strings(raw)
    if max_depth is not None and outside_too_deep(outside, max_depth):
        return False
    if not _numbers_exact(outside):
        return None
    # a repeated name: the exact parse finds and places it
    if raw.count(b'"') + raw.count(b"\\u0022") != indented.count(b'"'):
        return None
    return True


_WHITESPACE = b" \t\r\n"


@lru_cache(maxsize=16)
def _indent(depth: int) -> bytes:
    """A line break and the indentation of values *depth* levels down in OPT_INDENT_2 text."""
    return b"\n" + b"  " * depth


def _written_alike(raw: bytes, indented: bytes) -> bool:
    """Whether *raw* is orjson's serialisation of its tree (*indented*: with OPT_INDENT_2) but
    for whitespace and, for ASCII text, json.dumps' ``\\u00e9`` escapes of what orjson writes
    as UTF-8."""
    bare = raw.translate(None, _WHITESPACE)
    ours = indented.translate(None, b" \n")  # orjson's only whitespace outside strings
    if bare == ours:
        return True
    if len(bare) <= len(ours) or not raw.isascii() or indented.isascii():
        return False
    escaped = ours.decode("utf-8").encode("ascii", "backslashreplace").replace(b"\\x", b"\\u00")
    return bare == escaped


def fast_tree(data: str | bytes | bytearray) -> Any:
    """The parsed tree when the fast parse can vouch for it (see above), else None."""
    tree, raw = fast_parse(data)
    if tree is None or not trusted(tree, raw):
        return None
    return tree


def parse_json(data: str | bytes | bytearray) -> Parsed:
    """Parse JSON text for validation: duplicates recorded, decimals keep their written text."""
    duplicates: list[tuple[dict[str, Any], list[str]]] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            seen: set[str] = set()
            repeated = [k for k, _v in pairs if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
            duplicates.append((result, sorted(set(repeated))))
        return result

    try:
        text = bytes(data).decode("utf-8-sig") if isinstance(data, (bytes, bytearray)) else data
    except UnicodeDecodeError as exc:
        return Parsed(None, None, error=_syntax(
            f"The input is not UTF-8{_bom_name(bytes(data[:4]) if isinstance(data, (bytes, bytearray)) else b'')}: {exc}"))
    try:
        tree = json.loads(text, object_pairs_hook=pairs_hook, parse_float=_Decimal,
                          parse_int=_json_int, parse_constant=_not_a_number)
    except json.JSONDecodeError as exc:
        return Parsed(None, text, error=Issue(
            "fatal", "structure", "json-syntax", f"Error parsing JSON: {exc.msg}", "",
            line=exc.lineno, col=exc.colno))
    except RecursionError:
        return Parsed(None, text, error=_syntax("Error parsing JSON: nested too deeply"))
    except _NotANumber as exc:
        issue = _syntax(f"Error parsing JSON: {exc.name} is not a JSON number")
        offset = _token_offset(text, exc.name)
        return Parsed(None, text, error=issue if offset is None else issue.at(*_line_col(text, offset)))
    except ValueError as exc:  # an integer of more digits than Python converts (int_max_str_digits)
        return Parsed(None, text, error=_syntax(f"Error parsing JSON: a number is too long ({exc})"))
    return Parsed(tree, text, duplicates)


def _json_int(text: str) -> int | Decimal:
    """A JSON integer; ``-0`` keeps its text (a decimal that remembers it), which no FHIR integer
    type allows and ``int`` would read as 0."""
    return _Decimal(text) if text == "-0" else int(text)


def _syntax(message: str) -> Issue:
    return Issue("fatal", "structure", "json-syntax", _printable(message), "")


class _NotANumber(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _not_a_number(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity``, which Python's json reads, are not JSON."""
    raise _NotANumber(name)


def _token_offset(text: str, token: str) -> int | None:
    """Where *token* first stands as a JSON token (not inside a string)."""
    for match in _TOKEN.finditer(text):
        if match.group() == token:
            return match.start()
    return None


#: Byte order marks of encodings FHIR JSON is not in (UTF-8's own is accepted and skipped).
_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
         (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def _bom_name(data: bytes | bytearray) -> str:
    """" (it starts with a UTF-16 byte order mark)" and the like: the common reason."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return f" (it starts with a {name} byte order mark: FHIR JSON is UTF-8)"
    return ""


class Result:
    """The issues found in one resource, and its OperationOutcome.

    Line and column are worked out on first access to :attr:`issues` (or :meth:`outcome`), not
    during validation: ``ok`` and the counts do not need them, so a bulk run that only asks
    ``ok`` never pays for positions.
    """

    __slots__ = ("_issues", "_line_offset", "_text", "_tree", "file", "resource_type")

    def __init__(self, issues: list[Issue], resource_type: str | None = None,
                 file: str | None = None, *, text: str | bytes | bytearray | None = None,
                 line_offset: int = 0, tree: Any = None) -> None:
        self._issues = issues
        self._text = text if issues else None
        # the text's parse: positions are read off it (positions.py)
        self._tree = tree if issues and text is not None else None
        self._line_offset = line_offset
        self.resource_type = resource_type
        self.file = file

    def __repr__(self) -> str:
        return f"Result({self.resource_type!r}, {len(self._issues)} issue(s), file={self.file!r})"

    @property
    def issues(self) -> list[Issue]:
        if self._text is not None:
            text = self._text
            if not isinstance(text, str):
                text = bytes(text).decode("utf-8-sig", "replace")
            self._issues = _with_positions(self._issues, text, self._line_offset, self._tree)
            self._text = self._tree = None
        return self._issues

    @property
    def error_count(self) -> int:
        return count(self._issues, "fatal", "error")

    @property
    def warning_count(self) -> int:
        return count(self._issues, "warning")

    @property
    def ok(self) -> bool:
        """No error or fatal issue (warnings and information allowed)."""
        return self.error_count == 0

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues, self.file)

    def limit(self, max_issues: int) -> Self:
        """Keep the first *max_issues* issues and one saying how many were cut, before any
        position is worked out (for results whose issues were not bounded as they were found,
        such as the XML reading's)."""
        if len(self._issues) > max_issues:
            cut = len(self._issues) - max_issues
            self._issues = [*self._issues[:max_issues], Issue(
                "error", "too-costly", "limit-issues", f"{cut:,} more issue(s) not reported: at "
                f"most {max_issues:,} per resource (--max-issues)", "")]
        return self


def run(data: str | bytes | bytearray | dict[str, Any], validators: Mapping[str, Validator], *,
        file: str | None = None, line_offset: int = 0, limits: Limits = DEFAULT_LIMITS) -> Result:
    """Validate one resource (JSON text, bytes or a parsed tree) with *validators*.

    Text is parsed once, by :func:`fast_tree` when it can vouch for the input (no duplicate
    names, numbers a float holds as written), else by the exact :func:`parse_json`. A fast
    tree whose issues quote a number is validated again from the exact parse, so messages show
    numbers as written. Text larger or deeper than *limits* allow is refused with one fatal
    issue before any parse; past ``limits.max_issues`` issues are counted, not kept.
    """
    file = _printable(file) if file is not None else None
    if isinstance(data, dict):
        out = _validate_tree(data, validators, limits)
        return _result(out, data, file, None, line_offset)
    refusal = size_refusal(len(data), limits)  # of text: its characters, about its bytes
    if refusal is not None:
        return Result([refusal], None, file)
    tree, raw = fast_parse(data)
    if tree is not None:
        verdict = vouch(tree, raw, limits.max_depth)
        if verdict is False:
            return Result([_depth_refusal(limits)], None, file)
        if verdict:
            out = _validate_tree(tree, validators, limits)
            if not out.inexact_numbers:
                return _result(out, tree, file, data, line_offset)
    refusal = _over_limits(data, limits)
    if refusal is not None:
        return Result([refusal], None, file)
    parsed = parse_json(data)
    if parsed.error is not None:
        issue = parsed.error
        if issue.line is not None:
            issue = issue.at(issue.line + line_offset, issue.col)
        return Result([issue], None, file)
    out = _validate_tree(parsed.tree, validators, limits)
    if parsed.duplicates:
        _duplicate_issues(parsed.tree, parsed.duplicates, out)
    return _result(out, parsed.tree, file, parsed.text, line_offset)


def _over_limits(data: str | bytes | bytearray, limits: Limits) -> Issue | None:
    """The fatal issue refusing text too large or too deeply nested to be parsed safely."""
    refusal = size_refusal(len(data), limits)  # of text: its characters, about its bytes
    if refusal is not None:
        return refusal
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if too_deep(raw, limits.max_depth):
        return _depth_refusal(limits)
    return None


def _depth_refusal(limits: Limits) -> Issue:
    return Issue("fatal", "too-costly", "limit-depth",
                 f"The resource nests more than {limits.max_depth} levels of JSON objects and "
                 "arrays, the limit (--max-depth)", "")


class _BoundedIssues(IssueList):
    """An :class:`IssueList` that keeps at most ``max_issues`` issues, counts the rest, and
    shortens messages that quote a huge value: a hostile resource cannot make a huge outcome."""

    __slots__ = ("dropped", "dropped_by", "max_issues")

    #: Characters of a message kept; the rest is cut with a note (a value quoted in full could
    #: be megabytes).
    MAX_MESSAGE = 2000

    def __init__(self, max_issues: int) -> None:
        super().__init__()
        self.max_issues = max_issues
        self.dropped = 0
        self.dropped_by: dict[str, int] = {}

    def drop(self, severity: str) -> None:
        """Count an issue past the limit (by severity, for the closing note)."""
        self.dropped += 1
        self.dropped_by[severity] = self.dropped_by.get(severity, 0) + 1

    def append(self, issue: Issue) -> None:
        if len(self) >= self.max_issues:
            self.drop(issue.severity)
            return
        if len(issue.message) > self.MAX_MESSAGE:
            cut = len(issue.message) - self.MAX_MESSAGE
            issue = issue._replace(message=f"{issue.message[:self.MAX_MESSAGE]}... ({cut:,} "
                                           "more characters)")
        super().append(issue)

    def close(self) -> None:
        """One last issue saying how many were cut, if any, as severe as the worst of them: the
        verdict stays what the whole list would give (cut information issues do not make a
        valid resource invalid; a cut error keeps an invalid one invalid)."""
        if self.dropped:
            worst = next(s for s in ("fatal", "error", "warning", "information")
                         if s in self.dropped_by)
            counts = ", ".join(f"{self.dropped_by[s]:,} {s}" for s in
                               ("fatal", "error", "warning", "information") if s in self.dropped_by)
            super().append(Issue("error" if worst == "fatal" else worst, "too-costly",
                                 "limit-issues",
                                 f"{self.dropped:,} more issue(s) not reported ({counts}): at most "
                                 f"{self.max_issues:,} per resource (--max-issues)", ""))
            self.dropped = 0
            self.dropped_by = {}


def _result(out: IssueList, tree: Any, file: str | None, text: str | bytes | bytearray | None,
            line_offset: int) -> Result:
    if isinstance(out, _BoundedIssues):
        out.close()
    resource_type = tree.get("resourceType") if isinstance(tree, dict) else None
    return Result(list(out), resource_type if isinstance(resource_type, str) else None, file,
                  text=text, line_offset=line_offset, tree=tree)


def _validate_tree(tree: Any, validators: Mapping[str, Validator],
                   limits: Limits = DEFAULT_LIMITS) -> IssueList:
    """The issues of a parsed tree, at most ``limits.max_issues`` of them (closed by
    :func:`_result`, after the duplicate names of the exact parse are added)."""
    out = _BoundedIssues(limits.max_issues)
    try:
        _walk(tree, validators, out)
    except RecursionError:  # a tree built in Python, or a Bundle of deep entries
        root = tree.get("resourceType") if isinstance(tree, dict) else None
        _issue(out, "fatal", "structure", "json-shape",
               "The resource is nested too deeply to be validated",
               root if isinstance(root, str) else "")
    return out


def _walk(tree: Any, validators: Mapping[str, Validator], out: IssueList) -> None:
    resource_type = tree.get("resourceType") if isinstance(tree, dict) else None
    if not isinstance(tree, dict):
        _issue(out, "fatal", "structure", "json-shape",
               f"The root of a resource must be a JSON object, not {kind_name(json_kind_of(tree))}",
               "")
    elif not isinstance(resource_type, str):
        _issue(out, "fatal", "structure", "json-shape",
               "Unable to find resourceType property (a resource must name its type)", "")
    elif resource_type not in validators and resource_type == "Bundle":
        _bundle_entries(tree, out, validators)
    elif resource_type not in validators:
        _issue(out, "error", "not-supported", "unknown-resource",
               f"Unknown resourceType '{resource_type}': no validator for it in these models",
               resource_type)
    else:
        resource_root(tree, resource_type, out, validators)


def _bundle_entries(tree: dict[str, Any], out: IssueList,
                    validators: Mapping[str, Validator]) -> None:
    """A Bundle when Bundle itself is not generated: each entry's resource, Bundle not checked."""
    _issue(out, "warning", "not-supported", "unknown-resource",
           "No validator for Bundle in these models: only the entries' resources were checked",
           "Bundle")
    bundle_rules(tree, "Bundle", out)
    entries = tree.get("entry")
    if entries is None:
        return
    if not isinstance(entries, list):
        _shape(out, f"The property entry must be a JSON array, not {kind_name(json_kind_of(entries))}",
               "Bundle", "entry")
        return
    for i, entry in enumerate(entries):
        # the Bundle is not validated, so the shape its entries need is checked here
        if not isinstance(entry, dict):
            _shape(out, f"A Bundle entry must be a JSON object, not {kind_name(json_kind_of(entry))}",
                   f"Bundle.entry[{i}]")
        elif "resource" in entry and not isinstance(entry["resource"], dict):
            _shape(out, "An entry's resource must be a JSON object, not "
                        f"{kind_name(json_kind_of(entry['resource']))}", f"Bundle.entry[{i}]", "resource")
        elif "resource" in entry:
            resource_root(entry["resource"], f"Bundle.entry[{i}].resource", out, validators)


def _duplicate_issues(tree: Any, duplicates: list[tuple[dict[str, Any], list[str]]],
                      out: IssueList) -> None:
    wanted = {id(node): keys for node, keys in duplicates}
    root = tree.get("resourceType") if isinstance(tree, dict) else None
    stack: list[tuple[Any, str]] = [(tree, root if isinstance(root, str) else "")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for key in wanted.get(id(node), ()):
                _issue(out, "error", "structure", "json-duplicate",
                       f"Duplicated property name '{key}' (only the last value would be kept)",
                       where, key)
            stack.extend((v, f"{where}.{k}" if where else k) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(node))
