"""Typed shapes of invariants compiled straight to Python over the JSON values.

The general compilation (:mod:`fhirgen.fhirpath.compiler`) builds collections of
:class:`~fhirgen.runtime.fhirpath.Node` for every step, which is exact for any input but costs
microseconds per operator. Most invariants are small tests of the focus or of its direct children
whose FHIR types the model knows: ``hasValue() implies $this >= 0`` on a decimal,
``regionType ~ 'point' implies coordinate.count() = 2``, ``code.startsWith('urn:oid:')``. For
those, :func:`specialise` writes code that reads the JSON values once (``d.get('regionType')``),
checks that each is of the JSON kind its type has (a string for a ``code``, a number for a
``decimal``, no ``_name`` twin) and then decides with plain Python operators; when a check fails
(a number where a string belongs, an array for a single element, a ``_name`` object) the general
compilation decides, so verdicts and errors (:class:`~fhirgen.runtime.fhirpath.FhirPathEvalError`)
stay the general ones.

What is specialised, and why it is exact once the kinds are checked:

* ``$this`` of a primitive focus and single primitive children of string or number types, read
  from the JSON (without ``_name`` twin: an array of them would pair with no value);
* ``exists()``/``empty()``/``count()`` of a known, non-choice child (no twin: the JSON array is
  the collection, nulls left out); ``exists()``/``empty()`` of a path of such children
  (:func:`fhirgen.runtime.fhirpath.reach`: single objects all the way), and of a filtered one
  (``contained.where(...).empty()``) when its first step is absent;
* ``hasValue()``; ``htmlChecks()`` of an XHTML string; ``=``/``!=``/``~``/``!~`` of a string and a
  string literal (or ``%ucum``-like constant); ``=``/``!=``/``<``/``<=``/``>``/``>=`` of a number
  and an integer literal (a float compares with an integer exactly as its decimal text does);
  ``mod`` of an integer and a positive integer literal; ``startsWith``/``endsWith``/``matches``
  with a literal (the regular expression compiled once) and ``length()`` of a string;
* ``and``/``or``/``implies``/``xor``/``not()`` of those, three-valued (``None`` is empty): when the
  left side is never empty, Python's ``and``/``or`` are FHIRPath's; else the three-valued table
  is written out, the right side still evaluated only when FHIRPath evaluates it. What the left
  side proves (``hasValue()``: a value is there) spares the right side its empty case.

Any other part of an expression is the general compilation of that part, evaluated where the
general compilation would evaluate it (so its errors are raised exactly when they would be).

Each specialised invariant also gets a *JSON form* (``fp.json_form``): a function of the focus's
JSON value alone giving the verdict, or ``fp.Undecided.GENERAL`` when the values are not of the
expected kinds or a part compiled generally is reached (``fp.needs_nodes()``; ``memberOf()`` of a
Coding is looked up directly, ``fp.coding_member``). The evaluation
(:class:`fhirgen.runtime.invariants.Invariants`) calls it first and builds no node for the values
it decides. ``tests/test_fhirpath_specialise.py`` checks every specialised invariant and its JSON
form against the general compilation on generated inputs of every JSON kind.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..runtime.fhirpath import PRIMITIVES
from .ast import Binary, Call, Expr, External, Literal, Member, Variable

if TYPE_CHECKING:
    from ..ir import Element
    from .compiler import _Static, _Types

__all__ = ["Specialised", "specialise"]

#: FHIR primitive types whose JSON value is a string and whose FHIRPath value is that string.
STRING_TYPES = frozenset({"string", "code", "id", "uri", "url", "canonical", "oid", "uuid",
                          "markdown", "base64Binary", "xhtml"})
#: FHIR primitive types whose JSON value is a number.
NUMBER_TYPES = frozenset({"decimal", "integer", "positiveInt", "unsignedInt"})
_KIND_GUARD = {
    "str": "({v} is None or {v}.__class__ is str)",
    "num": "({v} is None or {v}.__class__ in fp.NUMBER_CLASSES)",
}
_ORDER = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_EXACT_INT = 2**53  # integers a float holds exactly


class _NotCovered(Exception):
    """A part of the expression outside the specialised shapes."""


@dataclass
class _Read:
    """A JSON value the body reads once: the focus's value or a child's."""

    var: str
    source: str  # "d" (the focus's value) or "d.get('code')"
    kind: str | None = None  # "str" / "num": the value must be None or of that JSON kind
    no_twin: str | None = None  # the child's JSON name: its `_name` twin must be absent


@dataclass(frozen=True)
class Specialised:
    """The body of a specialised function (lines, indented for a ``def``), the module-level
    constants it needs (compiled regular expressions) and its JSON form, the function deciding
    from the focus's JSON value alone as far as it can (``json_name``, ``json_source``), that
    the invariant's function is marked with (``fp.json_form``)."""

    body: str
    constants: tuple[str, ...]
    json_name: str = ""
    json_source: str = ""
    general_parts: bool = False  # parts of it are compiled generally


@dataclass
class _Bool:
    code: str
    definite: bool  # never None (never empty)
    facts: frozenset[str] = frozenset()  # reads known not None when the expression is true
    false_facts: frozenset[str] = frozenset()  # ... when it is false


@dataclass
class _Scalar:
    code: str
    kind: str  # "str", "num", "int"
    nullable: bool
    read: str | None = None  # the read's key when the scalar is a read value


@dataclass
class _State:
    reads: dict[str, _Read] = field(default_factory=dict)
    regexes: dict[str, str] = field(default_factory=dict)  # constant name -> pattern
    covered: int = 0
    temps: int = 0
    # parts compiled generally: (their verdict, what the JSON form does there instead)
    parts: list[tuple[str, str]] = field(default_factory=list)


class _Specialiser:
    def __init__(self, types: _Types, static: _Static, general: Callable[[Expr], str]) -> None:
        self.types = types
        self.static = static
        self.general = general
        self.state = _State()
        self.primitive_focus = static.type in PRIMITIVES

    # -- reads
    def read(self, key: str, kind: str | None = None, no_twin: bool = False) -> str:
        reads = self.state.reads
        found = reads.get(key)
        if found is None:
            var = f"v{len(reads)}"
            source = "d" if key == "$this" else f"d.get({key!r})"
            found = reads[key] = _Read(var, source)
        if kind is not None:
            if found.kind not in (None, kind):
                raise _NotCovered
            found.kind = kind
        if no_twin and key != "$this":
            found.no_twin = key
        return found.var

    def general_part(self, tree: Expr, json: str = "fp.needs_nodes()") -> str:
        """A placeholder for the general verdict of *tree* (see :func:`specialise`); in the JSON
        form *json* stands there (by default: stop, the nodes are needed)."""
        self.state.parts.append((f"fp.result({self.general(tree)})", json))
        return f"__PART_{len(self.state.parts) - 1}__"

    def temp(self) -> str:
        self.state.temps += 1
        return f"_t{self.state.temps}"

    def child(self, name: str) -> Element:
        """The model element of a direct child of the (complex) focus: known, not a choice."""
        if self.primitive_focus or self.static.path is None:
            raise _NotCovered
        element = self.types.element(self.static.path, name)
        if element is None or element.is_choice or not (element.types or element.backbone):
            raise _NotCovered
        return element

    def scalar_child(self, name: str) -> tuple[str, str]:
        """(read var, kind) of a single primitive child of a string or number type."""
        element = self.child(name)
        if element.is_array or element.backbone or len(element.types) != 1:
            raise _NotCovered
        kind = _kind(element.types[0].code)
        # no twin: an array of `_name` objects would pair with no value (indexed_pairs)
        return self.read(name, kind, no_twin=True), kind

    # -- booleans
    def boolean(self, tree: Expr, facts: frozenset[str]) -> _Bool:
        saved = copy.deepcopy(self.state)
        try:
            return self._boolean(tree, facts)
        except _NotCovered:
            self.state = saved
            return _Bool(self.general_part(tree), False)

    def _boolean(self, tree: Expr, facts: frozenset[str]) -> _Bool:
        if isinstance(tree, Literal) and tree.kind == "boolean":
            return _Bool("True" if tree.value == "true" else "False", True)
        if isinstance(tree, Binary):
            if tree.op in ("and", "or", "implies", "xor"):
                return self.logic(tree, facts)
            if tree.op in ("=", "!=", "~", "!~", "<", "<=", ">", ">="):
                result = self.comparison(tree, facts)
                self.state.covered += 1
                return result
            raise _NotCovered
        if isinstance(tree, Call) and not tree.args:
            if tree.name == "not" and tree.source is not None:
                inner = self.boolean(tree.source, facts)
                if inner.definite:
                    return _Bool(_negated(inner.code), True, inner.false_facts, inner.facts)
                t = self.temp()
                return _Bool(f"(None if ({t} := {inner.code}) is None else not {t})", False)
            if tree.name in ("exists", "empty"):
                result = self.presence(tree)
            elif tree.name == "hasValue":
                result = self.has_value(tree.source)
            elif tree.name == "htmlChecks":
                result = self.html_checks(tree, facts)
            else:
                raise _NotCovered
            self.state.covered += 1
            return result
        if isinstance(tree, Call) and tree.name == "memberOf" and len(tree.args) == 1:
            result = self.member_of(tree)
            self.state.covered += 1
            return result
        if isinstance(tree, Call) and tree.name == "exists" and len(tree.args) == 1:
            result = self.presence(tree)
            self.state.covered += 1
            return result
        if isinstance(tree, Call) and len(tree.args) == 1 and tree.name in (
                "startsWith", "endsWith", "matches"):
            result = self.string_test(tree, facts)
            self.state.covered += 1
            return result
        raise _NotCovered

    def logic(self, tree: Binary, facts: frozenset[str]) -> _Bool:
        left = self.boolean(tree.left, facts)
        if tree.op == "xor":
            right = self.boolean(tree.right, facts)
            if left.definite and right.definite:
                return _Bool(f"({left.code} != {right.code})", True)
            a, b = self.temp(), self.temp()
            return _Bool(f"(None if ({a} := {left.code}) is None or ({b} := {right.code}) is None"
                         f" else {a} != {b})", False)
        # the right side runs only when the left is true (and, implies) or false (or) in
        # Python's short circuit of a definite left: what the left proved holds there
        inner = facts
        if left.definite:
            inner = facts | (left.false_facts if tree.op == "or" else left.facts)
        right = self.boolean(tree.right, inner)
        definite = left.definite and right.definite
        if left.definite:
            if tree.op == "and":
                return _Bool(f"({left.code} and {right.code})", definite,
                             left.facts | right.facts)
            if tree.op == "or":
                return _Bool(f"({left.code} or {right.code})", definite, frozenset(),
                             left.false_facts | right.false_facts)
            return _Bool(f"(not {left.code} or {right.code})", definite)
        a, b = self.temp(), self.temp()
        if tree.op == "and":
            return _Bool(f"(False if ({a} := {left.code}) is False else False if ({b} := "
                         f"{right.code}) is False else None if {a} is None or {b} is None "
                         f"else True)", False, left.facts | right.facts)
        if tree.op == "or":
            return _Bool(f"(True if ({a} := {left.code}) is True else True if ({b} := "
                         f"{right.code}) is True else None if {a} is None or {b} is None "
                         f"else False)", False)
        return _Bool(f"(True if ({a} := {left.code}) is False else True if ({b} := "
                     f"{right.code}) is True else None if {a} is None else {b})", False)

    def presence(self, call: Call) -> _Bool:
        """``exists()``/``empty()`` (``exists(criteria)`` too) of navigation from the focus."""
        exists = call.name == "exists"
        names = _member_path(call.source)
        if len(names) == 1 and not call.args:
            return self.child_presence(names[0], exists)
        # a longer path, or one filtered (`contained.where(...)`): read as far as the types are
        # known; when that part is empty so is the whole (each step of it maps empty to empty)
        head = names or _head(call.source)
        known = self.known_prefix(head)
        general = self.general_part(call)
        if known == len(names) and not call.args:
            t = self.temp()
            test = "> 0" if exists else "== 0"
            return _Bool(f"({general} if ({t} := fp.reach(d, {tuple(names)!r})) is None "
                         f"else {t} {test})", True)
        when_empty = "False" if exists else "True"
        return _Bool(f"({when_empty} if fp.reach(d, {tuple(head[:known])!r}) == 0 "
                     f"else {general})", True)

    def child_presence(self, name: str, exists: bool) -> _Bool:
        element = self.child(name)
        var = self.read(name, no_twin=True)
        kind = None
        if not element.is_array and not element.backbone and len(element.types) == 1:
            kind = _loose_kind(element.types[0].code)
        if kind is not None:  # a single string or number: present is not None
            self.read(name, kind)
            test = f"{var} is not None"
            facts = frozenset({name})
        else:
            test = (f"{var} is not None if {var}.__class__ is not list "
                    f"else {var}.count(None) != len({var})")
            facts = frozenset()
        if exists:
            return _Bool(f"({test})", True, facts)
        return _Bool(_negated(f"({test})"), True, frozenset(), facts)

    def known_prefix(self, names: list[str]) -> int:
        """How many leading steps of *names* are known, non-choice elements (at least one, else
        not covered): :func:`fhirgen.runtime.fhirpath.reach` reads those off the JSON."""
        static = self.static
        known = 0
        for name in names:
            element = self.types.element(static.path, name) if static.path else None
            if element is None or element.is_choice or not (element.types or element.backbone):
                break
            known += 1
            static = self.types.step(static, name)
        if not known or self.primitive_focus:
            raise _NotCovered
        return known

    def has_value(self, source: Expr | None) -> _Bool:
        if source is None or isinstance(source, Variable) and source.name == "this":
            if not self.primitive_focus:
                raise _NotCovered
            key, var = "$this", self.read("$this", _kind(self.static.type))
        elif isinstance(source, Member) and source.source is None:
            key = source.name
            var = self.scalar_child(key)[0]
        else:
            raise _NotCovered
        return _Bool(f"({var} is not None)", True, frozenset({key}))

    def member_of(self, tree: Call) -> _Bool:
        """``memberOf('url')`` of a Coding or CodeableConcept focus: in the JSON form, its
        codings looked up in the value set's expansion (``fp.coding_member``, which leaves a
        value set without expansion to the general function: it records it as unresolved)."""
        arg = tree.args[0]
        source = tree.source
        if source is not None and not (isinstance(source, Variable) and source.name == "this"):
            raise _NotCovered
        if self.primitive_focus or not isinstance(arg, Literal) or arg.kind != "string":
            raise _NotCovered
        url = arg.value.split("|", 1)[0]
        return _Bool(self.general_part(tree, f"fp.coding_member(d, VALUE_SETS, {url!r})"), False)

    def html_checks(self, tree: Call, facts: frozenset[str]) -> _Bool:
        """``htmlChecks()`` of an XHTML string: in the JSON form, whether it has no problems;
        the invariant's function runs the general one, which names them for the message."""
        text = self.scalar(tree.source, facts)
        if text.kind != "str" or text.read is None:
            raise _NotCovered
        test = f"fp.html_valid({text.code})"
        json = test if not text.nullable else f"(None if {text.code} is None else {test})"
        return _Bool(self.general_part(tree, json), False)

    def string_test(self, tree: Call, facts: frozenset[str]) -> _Bool:
        text = self.scalar(tree.source, facts)
        arg = tree.args[0]
        if text.kind != "str" or text.read is None:
            raise _NotCovered
        if not isinstance(arg, Literal) or arg.kind != "string":
            raise _NotCovered
        if tree.name == "matches":
            try:
                re.compile(arg.value, re.DOTALL)
            except re.error as exc:
                raise _NotCovered from exc
            name = "_RE_" + hashlib.sha1(arg.value.encode()).hexdigest()[:12]
            self.state.regexes[name] = arg.value
            test = f"{name}.search({text.code}) is not None"
        else:
            method = "startswith" if tree.name == "startsWith" else "endswith"
            test = f"{text.code}.{method}({arg.value!r})"
        if not text.nullable:
            return _Bool(f"({test})", True)
        return _Bool(f"(None if {text.code} is None else {test})", False)

    def comparison(self, tree: Binary, facts: frozenset[str]) -> _Bool:
        left = self.scalar(tree.left, facts)
        right = _constant(tree.right)
        op = tree.op
        if left.kind == "str":
            if right.kind != "string" or op not in ("=", "!=", "~", "!~") or left.read is None:
                raise _NotCovered
            value = right.value
            if op in ("~", "!~"):
                normal = " ".join(value.lower().split())
                v = left.code
                test = (f"{v} is not None and ({v} == {value!r} or fp.normalised({v}) == "
                        f"{normal!r})")
                return _Bool(f"({test})" if op == "~" else f"(not ({test}))", True)
            literal = repr(value)
        else:
            if right.kind not in ("integer", "long") or op not in _ORDER:
                raise _NotCovered
            number = int(right.value)
            if abs(number) >= _EXACT_INT:
                raise _NotCovered
            literal = str(number)
        test = f"{left.code} {_ORDER[op]} {literal}"
        if not left.nullable:
            return _Bool(f"({test})", True)
        return _Bool(f"(None if {left.code} is None else {test})", False)

    # -- values
    def scalar(self, tree: Expr | None, facts: frozenset[str]) -> _Scalar:
        if tree is None or isinstance(tree, Variable) and tree.name == "this":
            if not self.primitive_focus:
                raise _NotCovered
            kind = _kind(self.static.type)
            var = self.read("$this", kind)
            return _Scalar(var, kind, "$this" not in facts, "$this")
        if isinstance(tree, Member) and tree.source is None:
            var, kind = self.scalar_child(tree.name)
            return _Scalar(var, kind, tree.name not in facts, tree.name)
        if isinstance(tree, Call) and not tree.args and tree.name == "length":
            text = self.scalar(tree.source, facts)
            if text.kind != "str" or text.nullable:
                raise _NotCovered
            return _Scalar(f"len({text.code})", "int", False)
        if isinstance(tree, Call) and not tree.args and tree.name == "count":
            names = _member_path(tree.source)
            if len(names) != 1:
                raise _NotCovered
            self.child(names[0])
            var = self.read(names[0], no_twin=True)
            return _Scalar(f"(0 if {var} is None else 1 if {var}.__class__ is not list else "
                           f"len({var}) - {var}.count(None))", "int", False)
        if isinstance(tree, Binary) and tree.op == "mod":
            number = self.scalar(tree.left, facts)
            right = tree.right
            if number.kind != "int" or number.nullable or not isinstance(right, Literal) \
                    or right.kind != "integer" or not 0 < int(right.value) < _EXACT_INT:
                raise _NotCovered
            return _Scalar(f"({number.code} % {int(right.value)})", "int", False)
        raise _NotCovered


def _constant(tree: Expr) -> Literal:
    """A literal, or a %constant naming a string (``%ucum``) as its string literal."""
    if isinstance(tree, Literal):
        return tree
    if isinstance(tree, External):
        from .compiler import EXTERNALS

        if tree.name in EXTERNALS:
            return Literal("string", EXTERNALS[tree.name])
    raise _NotCovered


_NOT_NONE = re.compile(r"\((\w+) is not None\)")


def _negated(code: str) -> str:
    """``not`` of a definite test (``(v is not None)`` becomes ``(v is None)``)."""
    if _NOT_NONE.fullmatch(code):
        return code.replace(" is not None)", " is None)")
    return f"(not {code})"


def _kind(type_code: str | None) -> str:
    """The JSON kind of a primitive type's value (``str``/``num``), else not covered."""
    kind = _loose_kind(type_code)
    if kind is None:
        raise _NotCovered
    return kind


def _loose_kind(type_code: str | None) -> str | None:
    if type_code in STRING_TYPES:
        return "str"
    if type_code in NUMBER_TYPES:
        return "num"
    return None


#: Functions whose result is empty when their input is, evaluating no argument on an empty input
#: (``where`` and ``select`` run theirs per item; ``trace``'s are not evaluated).
_EMPTY_TO_EMPTY = frozenset({"where", "select", "repeat", "ofType", "first", "last", "tail",
                             "distinct", "children", "descendants", "trace"})


def _head(tree: Expr | None) -> list[str]:
    """The navigation from the focus that *tree* filters or projects (``contained`` of
    ``contained.where(...).select(...)``), as its names; empty when there is none."""
    while isinstance(tree, Call) and tree.name in _EMPTY_TO_EMPTY and tree.source is not None:
        tree = tree.source
    return _member_path(tree)


def _member_path(tree: Expr | None) -> list[str]:
    """``a.b.c`` from the focus as its names (empty when *tree* is anything else)."""
    names: list[str] = []
    while isinstance(tree, Member):
        names.append(tree.name)
        tree = tree.source
    if tree is not None and not (isinstance(tree, Variable) and tree.name == "this"):
        return []
    return names[::-1]


def specialise(name: str, tree: Expr, types: _Types, static: _Static,
               general: Callable[[Expr], str], fallback: str) -> Specialised | None:
    """The specialised body of the invariant *name* (``inv_isr_15``: its JSON form's name starts
    with it) of *tree* on a focus of *static* type, or ``None`` when no part of it is covered. *general* compiles a part generally (the Python code of its
    collection); *fallback* is the general verdict of the whole (``fp.result(...)``), used when
    the JSON values are not of the kinds the specialised code reads."""
    if static.path is None:
        return None
    spec = _Specialiser(types, static, general)
    result = spec.boolean(tree, frozenset())
    if not spec.state.covered:
        return None
    reads = spec.state.reads
    guards = []
    for read in reads.values():
        if read.kind is not None:
            guards.append(_KIND_GUARD[read.kind].format(v=read.var))
        if read.no_twin is not None:
            guards.append(f"d.get({'_' + read.no_twin!r}) is None")
    constants = tuple(f"{name} = fp.compiled_regex({pattern!r})"
                      for name, pattern in sorted(spec.state.regexes.items()))
    decide = _decide(spec, guards, result.code)
    parts = spec.state.parts
    # JSON form: the verdict from the focus's JSON value, as far as it needs no node; a part
    # compiled generally stops it (fp.needs_nodes()) and the invariant's function decides
    json_code = _PART.sub(lambda match: parts[int(match.group(1))][1], decide)
    stops = "fp.needs_nodes()" in json_code or "fp.coding_member(" in json_code
    if stops:
        json_code = ("    try:\n" + "".join(f"    {line}\n" for line in json_code.splitlines())
                     + "    except fp.NeedsNodes:\n        pass\n")
    # named by the invariant and its code: two expressions of one key never clash
    json_name = f"_json_{name}_{hashlib.sha1(json_code.encode()).hexdigest()[:12]}"
    json_source = (f"def {json_name}(d: Any) -> bool | None | fp.Undecided:\n"
                   f'    """The verdict from the JSON value of the focus, or GENERAL when only '
                   f'the general compilation can tell."""\n{json_code}'
                   f"    return fp.Undecided.GENERAL\n")
    if parts:  # the typed code with the general parts in place, on the node's value
        inline = _PART.sub(lambda match: parts[int(match.group(1))][0], decide)
        body = f"    d = node.data\n{inline}    return {fallback}\n"
    else:
        body = (f"    verdict = {json_name}(node.data)\n"
                f"    if verdict is not fp.Undecided.GENERAL:\n"
                f"        return verdict\n"
                f"    return {fallback}\n")
    return Specialised(body, constants, json_name, json_source, bool(parts))


_PART = re.compile(r"__PART_(\d+)__")


def _decide(spec: _Specialiser, guards: list[str], code: str) -> str:
    """Lines reading the values off ``d`` (the focus's JSON value) and returning *code* when
    they are of the kinds it reads."""
    lines: list[str] = []
    indent = "    "
    if not spec.primitive_focus:
        lines.append(f"{indent}if d.__class__ is dict:")
        indent += "    "
    for read in spec.state.reads.values():
        lines.append(f"{indent}{read.var} = {read.source}")
    if guards:
        lines.append(f"{indent}if {' and '.join(guards)}:")
        indent += "    "
    lines.append(f"{indent}return {code}")
    return "".join(f"{line}\n" for line in lines)

