"""FHIRPath AST -> Python source over ``fhirgen.runtime.fhirpath`` (imported as ``fp``).

Each FHIRPath expression becomes one Python expression whose value is a collection (a list);
an invariant becomes a small named function::

    def inv_ele_1(node, resource, root):
        \"\"\"ele-1: ...\"\"\"
        return fp.result(fp.or_(fp.has_value([node]), lambda: fp.gt(...)))

``node`` is the element the constraint sits on, ``resource`` the resource holding it
(``%resource``), ``root`` the outermost resource (``%rootResource``, the container of a contained
resource), all :class:`fhirgen.runtime.fhirpath.Node`. The result is ``True``, ``False`` or
``None`` (the expression gave empty).

How the parts map:

* navigation ``a.b`` -> ``fp.child(A, 'b')``; with a model, the element's type is known statically
  and passed as a hint (``fp.child(A, 'start', 'dateTime')``) so comparisons of dates never depend
  on a type table at run time; a leading type name (``CodeSystem.content``) -> ``fp.type_filter``;
* functions whose argument is evaluated per item (``where``, ``select``, ``all``, ``exists``,
  ``repeat``, ``aggregate``) get a ``lambda tN, iN: ...`` in which ``$this`` is ``[tN]`` and
  ``$index`` ``[iN]``; other arguments are evaluated once, with the enclosing ``$this``;
* ``and``/``or``/``implies`` and ``iif`` get their right side as ``lambda: ...`` (evaluated only
  when needed, as FHIRPath engines short-circuit);
* ``memberOf('url')`` reads the value set from ``VALUE_SETS`` (a mapping URL -> value set the
  generated module provides; :attr:`CompiledInvariant.value_sets` lists the URLs);
* ``resolve()`` resolves offline only (contained and Bundle-internal references):
  :attr:`CompiledInvariant.uses_resolve` flags the invariants whose verdict may be undecidable.

Anything outside this subset (an unknown function, a wrong number of arguments, an unknown
``%constant``, an invalid literal) raises :class:`FhirPathCompileError` with the constraint key
and the reason: nothing is skipped silently and no FHIRPath text is interpreted at run time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import ClassVar

from .. import naming
from ..ir import Element, Model, TypeDef
from ..runtime.fhirpath import PRIMITIVES, QUANTITY_TYPES, parse_temporal
from ..views import docstring
from .ast import Binary, Call, Expr, External, Indexer, Literal, Member, TypeOp, Unary, Variable
from .parser import FhirPathSyntaxError, parse
from .specialise import Specialised, specialise

__all__ = [
    "RUNTIME_IMPORT",
    "CompiledInvariant",
    "FhirPathCompileError",
    "compile_constraint",
    "compile_expression",
]

#: The one import compiled invariants need (plus ``VALUE_SETS`` when they use memberOf).
RUNTIME_IMPORT = "from fhirgen.runtime import fhirpath as fp"

EXTERNALS = {
    "ucum": "http://unitsofmeasure.org",
    "sct": "http://snomed.info/sct",
    "loinc": "http://loinc.org",
}
_SYSTEM_TYPES = frozenset({"Boolean", "String", "Integer", "Long", "Decimal", "Date", "DateTime",
                           "Time", "Quantity"})
_CONVERSIONS = {"Integer", "Decimal", "Boolean", "String", "Quantity", "Date", "DateTime", "Time"}


#: ``exists()``/``empty()`` of a child of the focus whose type is known statically (so it is not
#: a choice element): compiled to ``fp.present``/``fp.absent``, a lookup in the JSON object.
_DIRECT_CHILD = re.compile(r"fp\.child\(\[(node|t\d+)\], ('[A-Za-z][A-Za-z0-9_]*'), '[A-Za-z0-9]+'\)")
_PRESENCE = {"exists": "present", "empty": "absent"}


class FhirPathCompileError(Exception):
    """An expression the compiler cannot turn into Python: the constraint ``key`` and why."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class CompiledInvariant:
    """One constraint compiled: the function ``name`` and its Python ``source``."""

    key: str
    severity: str
    human: str
    expression: str
    context: str  # the element path the constraint sits on ("ImagingSelection.instance")
    name: str  # "inv_ele_1"
    source: str  # "def inv_ele_1(node, resource, root):\n    ...\n"
    helpers: frozenset[str]  # functions of fhirgen.runtime.fhirpath it calls
    value_sets: tuple[str, ...] = ()  # URLs memberOf() reads from VALUE_SETS
    uses_resolve: bool = False  # resolve() or memberOf(): may be undecidable offline
    imports: tuple[str, ...] = (RUNTIME_IMPORT,)
    specialised: bool = False  # typed shapes compiled straight to Python (see .specialise)


# ------------------------------------------------------------------------------ static types


@dataclass(frozen=True)
class _Static:
    """What the compiler knows about a collection: the definition path its elements follow
    (a type name or a backbone path) and their FHIR type, when single and known."""

    path: str | None = None
    type: str | None = None


_UNKNOWN = _Static()


class _Types:
    """Static lookups in the model (all optional: without a model everything is unknown)."""

    def __init__(self, model: Model | None) -> None:
        self.model = model

    def type_def(self, path: str | None) -> TypeDef | None:
        if self.model is None or path is None:
            return None
        try:
            return self.model.type(path)
        except KeyError:
            return None

    def element(self, path: str | None, name: str) -> Element | None:
        type_def = self.type_def(path)
        while type_def is not None:
            for element in type_def.elements:
                if element.name == name:
                    return element
            if not type_def.is_backbone:
                return None
            type_def = self.type_def(type_def.base)
        return None

    def step(self, static: _Static, name: str) -> _Static:
        element = self.element(static.path, name)
        if element is None:
            return _UNKNOWN
        if element.backbone:
            return _Static(element.backbone, None)
        if element.is_choice or len(element.types) != 1:
            return _UNKNOWN
        code = element.types[0].code
        if self.type_def(code) is None or code in ("Resource", "DomainResource"):
            return _UNKNOWN
        return _Static(code, code)

    def context(self, path: str) -> _Static:
        if self.type_def(path) is not None:
            type_def = self.type_def(path)
            assert type_def is not None
            return _Static(path, None if type_def.is_backbone else path)
        owner, _, name = path.rpartition(".")
        if owner:
            return self.step(self.context(owner), name.replace("[x]", ""))
        return _UNKNOWN

    def is_type_name(self, name: str) -> bool:
        if self.model is None:
            return True
        _, _, local = name.rpartition(".")
        return (
            local in _SYSTEM_TYPES
            or local in PRIMITIVES
            or local in QUANTITY_TYPES
            or local in ("Resource", "DomainResource", "Element", "BackboneElement", "Base")
            or self.type_def(local) is not None
            or (self.model is not None and self._core_resource(local))
        )

    def _core_resource(self, name: str) -> bool:
        # Type names outside the closure (``is Composition`` in Bundle's rules) are still
        # FHIR resource names: accepted when they look like one (capitalised identifier).
        return name[:1].isupper() and name.isalnum()


# ------------------------------------------------------------------------------- compiling


@dataclass
class _Scope:
    this: str  # Python expression of the $this collection
    static: _Static  # what is known of $this
    index: str | None = None  # Python name of $index (an int) inside a lambda
    total: str | None = None  # Python name of $total inside aggregate()
    depth: int = 0


@dataclass
class _State:
    key: str
    types: _Types
    helpers: set[str] = field(default_factory=set)
    value_sets: list[str] = field(default_factory=list)
    uses_resolve: bool = False


Compiled = tuple[str, _Static]


class _Compiler:
    def __init__(self, state: _State) -> None:
        self.state = state

    def fail(self, reason: str) -> FhirPathCompileError:
        return FhirPathCompileError(self.state.key, reason)

    def call(self, helper: str, *args: str) -> str:
        if helper in _PRESENCE and len(args) == 1:
            direct = _DIRECT_CHILD.fullmatch(args[0])
            if direct is not None:
                # `x.exists()` / `x.empty()` on a known element of the focus: a key lookup
                helper = _PRESENCE[helper]
                args = (direct.group(1), direct.group(2))
        self.state.helpers.add(helper)
        return f"fp.{helper}({', '.join(args)})"

    # -- expressions
    def expr(self, node: Expr, scope: _Scope) -> Compiled:
        method: Callable[[Expr, _Scope], Compiled] = getattr(self, "x_" + type(node).__name__)
        return method(node, scope)

    def code(self, node: Expr, scope: _Scope) -> str:
        return self.expr(node, scope)[0]

    def x_Literal(self, node: Literal, scope: _Scope) -> Compiled:
        kind, value = node.kind, node.value
        if kind == "empty":
            return "[]", _UNKNOWN
        if kind == "boolean":
            return ("[True]" if value == "true" else "[False]"), _Static(None, "Boolean")
        if kind == "string":
            return f"[{value!r}]", _Static(None, "String")
        if kind in ("integer", "long"):
            return f"[{int(value)}]", _Static(None, "Integer")
        if kind == "decimal":
            self.state.helpers.add("Decimal")
            return f"[fp.Decimal({value!r})]", _Static(None, "Decimal")
        if kind in ("date", "datetime", "time"):
            if parse_temporal(value, kind) is None:
                raise self.fail(f"invalid {kind} literal @{value}")
            return f"[{self.call('date_literal', repr(value), repr(kind))}]", _Static(None, kind)
        if kind == "quantity":
            try:
                Decimal(value)
            except InvalidOperation as exc:  # pragma: no cover - the lexer only gives numbers
                raise self.fail(f"invalid quantity {value}") from exc
            self.state.helpers.add("Decimal")
            quantity = self.call("Quantity", f"fp.Decimal({value!r})", repr(node.unit))
            return f"[{quantity}]", _Static(None, "Quantity")
        raise self.fail(f"unknown literal kind {kind}")  # pragma: no cover

    def x_Variable(self, node: Variable, scope: _Scope) -> Compiled:
        if node.name == "this":
            return scope.this, scope.static
        if node.name == "index":
            if scope.index is None:
                raise self.fail("$index outside a function that iterates")
            return f"[{scope.index}]", _UNKNOWN
        if scope.total is None:
            raise self.fail("$total outside aggregate()")
        return scope.total, _UNKNOWN

    def x_External(self, node: External, scope: _Scope) -> Compiled:
        name = node.name
        if name == "resource":
            return "[resource]", _UNKNOWN
        if name == "rootResource":
            return "[root]", _UNKNOWN
        if name == "context":
            return "[node]", self.root_static
        if name in EXTERNALS:
            return f"[{EXTERNALS[name]!r}]", _Static(None, "String")
        if name.startswith("vs-"):
            return f"['http://hl7.org/fhir/ValueSet/{name[3:]}']", _Static(None, "String")
        if name.startswith("ext-"):
            url = f"http://hl7.org/fhir/StructureDefinition/{name[4:]}"
            return f"[{url!r}]", _Static(None, "String")
        raise self.fail(f"unknown external constant %{name}")

    def x_Member(self, node: Member, scope: _Scope) -> Compiled:
        if node.source is None:
            source, static = scope.this, scope.static
            if node.name[:1].isupper():
                # a leading type name: `Patient.name`, `CodeSystem.content`
                return self.call("type_filter", source, repr(node.name)), _Static(node.name,
                                                                                  node.name)
        else:
            source, static = self.expr(node.source, scope)
        step = self.state.types.step(static, node.name)
        args = [source, repr(node.name)]
        if step.type is not None:
            args.append(repr(step.type))
        return self.call("child", *args), step

    def x_Indexer(self, node: Indexer, scope: _Scope) -> Compiled:
        source, static = self.expr(node.source, scope)
        return self.call("index", source, self.code(node.index, scope)), static

    def x_Unary(self, node: Unary, scope: _Scope) -> Compiled:
        operand, static = self.expr(node.operand, scope)
        if node.op == "-":
            return self.call("negate", operand), static
        return operand, static

    _BINARY: ClassVar[dict[str, str]] = {
        "=": "eq", "!=": "ne", "~": "equivalent", "!~": "not_equivalent", "<": "lt", "<=": "le",
        ">": "gt", ">=": "ge", "|": "union", "in": "in_", "contains": "contains", "+": "add",
        "-": "sub", "*": "mul", "/": "div", "div": "int_div", "mod": "mod", "&": "concat",
        "xor": "xor",
    }
    _LAZY: ClassVar[dict[str, str]] = {"and": "and_", "or": "or_", "implies": "implies"}

    def x_Binary(self, node: Binary, scope: _Scope) -> Compiled:
        left, left_static = self.expr(node.left, scope)
        right, _ = self.expr(node.right, scope)
        if node.op in self._LAZY:
            return self.call(self._LAZY[node.op], left, f"lambda: {right}"), _Static(None,
                                                                                  "Boolean")
        if node.op not in self._BINARY:  # pragma: no cover - the parser knows no others
            raise self.fail(f"unsupported operator {node.op}")
        static = left_static if node.op == "|" else _UNKNOWN
        return self.call(self._BINARY[node.op], left, right), static

    def x_TypeOp(self, node: TypeOp, scope: _Scope) -> Compiled:
        operand = self.code(node.operand, scope)
        type_name = self.type_name(node.type_name)
        if node.op == "is":
            return self.call("is_", operand, repr(type_name)), _Static(None, "Boolean")
        return self.call("as_", operand, repr(type_name)), self.cast_static(type_name)

    def type_name(self, name: str) -> str:
        if not all(part.isidentifier() for part in name.split(".")):
            raise self.fail(f"invalid type name {name!r}")
        if not self.state.types.is_type_name(name):
            raise self.fail(f"unknown type {name!r}")
        return name

    def cast_static(self, type_name: str) -> _Static:
        local = type_name.rpartition(".")[2]
        if self.state.types.type_def(local) is not None:
            return _Static(local, local)
        return _UNKNOWN

    # -- functions
    def x_Call(self, node: Call, scope: _Scope) -> Compiled:
        if node.source is None:
            source, static = scope.this, scope.static
        else:
            source, static = self.expr(node.source, scope)
        handler = _FUNCTIONS.get(node.name)
        if handler is None:
            raise self.fail(f"unsupported function {node.name}()")
        return handler(self, node, source, static, scope)

    def arity(self, node: Call, low: int, high: int) -> None:
        if not low <= len(node.args) <= high:
            expected = str(low) if low == high else f"{low} to {high}"
            raise self.fail(f"{node.name}() takes {expected} argument(s), got {len(node.args)}")

    def lambda_(self, arg: Expr, static: _Static, scope: _Scope, total: bool = False) -> str:
        depth = scope.depth + 1
        item, index = f"t{depth}", f"i{depth}"
        inner = _Scope(f"[{item}]", static, index, f"a{depth}" if total else scope.total, depth)
        body = self.code(arg, inner)
        params = f"{item}, {index}, a{depth}" if total else f"{item}, {index}"
        return f"lambda {params}: {body}"

    def type_argument(self, node: Call) -> str:
        self.arity(node, 1, 1)
        return self.type_name(_dotted(node.args[0], self))

    root_static: _Static = _UNKNOWN


def _dotted(expr: Expr, compiler: _Compiler) -> str:
    """A type specifier written as an argument (``ofType(FHIR.Quantity)``) as its text."""
    if isinstance(expr, Member):
        if expr.source is None:
            return expr.name
        return _dotted(expr.source, compiler) + "." + expr.name
    raise compiler.fail("expected a type name as the argument")


# ----------------------------------------------------------------------- function handlers

Handler = Callable[[_Compiler, Call, str, _Static, _Scope], Compiled]


def _simple(helper: str, low: int = 0, high: int | None = None, keep_static: bool = False,
            result: str | None = None) -> Handler:
    """A function whose arguments are plain collections evaluated with the enclosing $this."""
    top = low if high is None else high

    def handle(c: _Compiler, node: Call, source: str, static: _Static, scope: _Scope) -> Compiled:
        c.arity(node, low, top)
        args = [c.code(arg, scope) for arg in node.args]
        out = _Static(None, result) if result else (static if keep_static else _UNKNOWN)
        return c.call(helper, source, *args), out

    return handle


def _iterating(helper: str, keep_static: bool = False) -> Handler:
    def handle(c: _Compiler, node: Call, source: str, static: _Static, scope: _Scope) -> Compiled:
        c.arity(node, 1, 1)
        out = static if keep_static else _UNKNOWN
        return c.call(helper, source, c.lambda_(node.args[0], static, scope)), out

    return handle


def _exists(c: _Compiler, node: Call, source: str, static: _Static, scope: _Scope) -> Compiled:
    c.arity(node, 0, 1)
    if node.args:
        return c.call("exists", source, c.lambda_(node.args[0], static, scope)), _UNKNOWN
    return c.call("exists", source), _Static(None, "Boolean")


def _select(c: _Compiler, node: Call, source: str, static: _Static, scope: _Scope) -> Compiled:
    c.arity(node, 1, 1)
    depth = scope.depth + 1
    inner = _Scope(f"[t{depth}]", static, f"i{depth}", scope.total, depth)
    body, out = c.expr(node.args[0], inner)
    return c.call("select", source, f"lambda t{depth}, i{depth}: {body}"), out


def _aggregate(c: _Compiler, node: Call, source: str, static: _Static, scope: _Scope) -> Compiled:
    c.arity(node, 1, 2)
    args = [c.lambda_(node.args[0], static, scope, total=True)]
    if len(node.args) == 2:
        args.append(c.code(node.args[1], scope))
    return c.call("aggregate", source, *args), _UNKNOWN


def _iif(c: _Compiler, node: Call, source: str, static: _Static, scope: _Scope) -> Compiled:
    c.arity(node, 2, 3)
    if node.source is not None:
        # arguments refer to the input collection as $this
        depth = scope.depth + 1
        inner = _Scope(f"s{depth}", static, scope.index, scope.total, depth)
        parts = [c.code(node.args[0], inner)] + [f"lambda: {c.code(a, inner)}"
                                                 for a in node.args[1:]]
        # (an input of more than one item is an error: single() raises)
        single = c.call("single", source)
        return f"(lambda s{depth}: {c.call('iif', *parts)})({single})", _UNKNOWN
    parts = [c.code(node.args[0], scope)] + [f"lambda: {c.code(a, scope)}" for a in node.args[1:]]
    return c.call("iif", *parts), _UNKNOWN


def _trace(c: _Compiler, node: Call, source: str, static: _Static, scope: _Scope) -> Compiled:
    c.arity(node, 1, 2)
    c.code(node.args[0], scope)  # compiled (so unsupported text fails) but not needed
    if len(node.args) == 2:
        c.lambda_(node.args[1], static, scope)
    return c.call("trace", source), static


def _type_function(helper: str) -> Handler:
    def handle(c: _Compiler, node: Call, source: str, static: _Static, scope: _Scope) -> Compiled:
        type_name = c.type_argument(node)
        out = _Static(None, "Boolean") if helper == "is_" else c.cast_static(type_name)
        return c.call(helper, source, repr(type_name)), out

    return handle


def _resolve(c: _Compiler, node: Call, source: str, static: _Static, scope: _Scope) -> Compiled:
    c.arity(node, 0, 0)
    c.state.uses_resolve = True
    return c.call("resolve", source, "resource", "root"), _UNKNOWN


def _member_of(c: _Compiler, node: Call, source: str, static: _Static, scope: _Scope) -> Compiled:
    c.arity(node, 1, 1)
    arg = node.args[0]
    if not isinstance(arg, Literal) or arg.kind != "string":
        raise c.fail("memberOf() needs the value set URL as a string literal")
    url = arg.value.split("|", 1)[0]
    if url not in c.state.value_sets:
        c.state.value_sets.append(url)
    c.state.uses_resolve = True  # a value set without an expansion is undecidable offline
    return c.call("member_of", source, "VALUE_SETS", repr(url)), _Static(None, "Boolean")


def _conversion(target: str, check: bool) -> Handler:
    def handle(c: _Compiler, node: Call, source: str, static: _Static, scope: _Scope) -> Compiled:
        c.arity(node, 0, 0)
        helper = "converts_to" if check else "convert"
        out = _Static(None, "Boolean" if check else target)
        return c.call(helper, source, repr(target)), out

    return handle


def _no_input(helper: str) -> Handler:
    def handle(c: _Compiler, node: Call, source: str, static: _Static, scope: _Scope) -> Compiled:
        c.arity(node, 0, 0)
        return c.call(helper), _UNKNOWN

    return handle


_FUNCTIONS: dict[str, Handler] = {
    # existence
    "empty": _simple("empty", result="Boolean"),
    "exists": _exists,
    "all": _iterating("all_"),
    "allTrue": _simple("all_true", result="Boolean"),
    "anyTrue": _simple("any_true", result="Boolean"),
    "allFalse": _simple("all_false", result="Boolean"),
    "anyFalse": _simple("any_false", result="Boolean"),
    "subsetOf": _simple("subset_of", 1, result="Boolean"),
    "supersetOf": _simple("superset_of", 1, result="Boolean"),
    "count": _simple("count", result="Integer"),
    "distinct": _simple("distinct", keep_static=True),
    "isDistinct": _simple("is_distinct", result="Boolean"),
    # filtering and projection
    "where": _iterating("where", keep_static=True),
    "select": _select,
    "repeat": _iterating("repeat"),
    "ofType": _type_function("of_type"),
    "is": _type_function("is_"),
    "as": _type_function("as_"),
    # subsetting
    "single": _simple("single", keep_static=True),
    "first": _simple("first", keep_static=True),
    "last": _simple("last", keep_static=True),
    "tail": _simple("tail", keep_static=True),
    "skip": _simple("skip", 1, keep_static=True),
    "take": _simple("take", 1, keep_static=True),
    "intersect": _simple("intersect", 1, keep_static=True),
    "exclude": _simple("exclude", 1, keep_static=True),
    # combining
    "union": _simple("union", 1, keep_static=True),
    "combine": _simple("combine", 1, keep_static=True),
    # conversion
    "iif": _iif,
    "toString": _simple("to_string", result="String"),
    **{f"to{t}": _conversion(t, False) for t in _CONVERSIONS if t != "String"},
    **{f"convertsTo{t}": _conversion(t, True) for t in _CONVERSIONS},
    # strings
    "indexOf": _simple("index_of", 1, result="Integer"),
    "substring": _simple("substring", 1, 2, result="String"),
    "startsWith": _simple("starts_with", 1, result="Boolean"),
    "endsWith": _simple("ends_with", 1, result="Boolean"),
    "contains": _simple("str_contains", 1, result="Boolean"),
    "upper": _simple("upper", result="String"),
    "lower": _simple("lower", result="String"),
    "replace": _simple("replace", 2, result="String"),
    "matches": _simple("matches", 1, result="Boolean"),
    "matchesFull": _simple("matches_full", 1, result="Boolean"),
    "replaceMatches": _simple("replace_matches", 2, result="String"),
    "length": _simple("length", result="Integer"),
    "toChars": _simple("to_chars"),
    "trim": _simple("trim", result="String"),
    "split": _simple("split", 1),
    "join": _simple("join", 0, 1, result="String"),
    # math
    "abs": _simple("abs_", keep_static=True),
    "ceiling": _simple("ceiling", result="Integer"),
    "exp": _simple("exp", result="Decimal"),
    "floor": _simple("floor", result="Integer"),
    "ln": _simple("ln", result="Decimal"),
    "log": _simple("log", 1, result="Decimal"),
    "power": _simple("power", 1),
    "round": _simple("round_", 0, 1, result="Decimal"),
    "sqrt": _simple("sqrt", result="Decimal"),
    "truncate": _simple("truncate", result="Integer"),
    # tree navigation
    "children": _simple("children"),
    "descendants": _simple("descendants"),
    # utility
    "trace": _trace,
    "now": _no_input("now"),
    "timeOfDay": _no_input("time_of_day"),
    "today": _no_input("today"),
    "aggregate": _aggregate,
    "not": _simple("not_", result="Boolean"),
    # FHIR additions (FHIR R5 "FHIRPath" page)
    "extension": _simple("extension", 1),
    "hasValue": _simple("has_value", result="Boolean"),
    "getValue": _simple("get_value"),
    "resolve": _resolve,
    "memberOf": _member_of,
    "htmlChecks": _simple("html_checks", result="Boolean"),
    "lowBoundary": _simple("low_boundary", 0, 1, keep_static=True),
    "highBoundary": _simple("high_boundary", 0, 1, keep_static=True),
    "comparable": _simple("comparable", 1, result="Boolean"),
    "precision": _simple("precision", result="Integer"),
}

#: The FHIRPath functions the compiler supports (the official test suite runs the tests that
#: use only these).
SUPPORTED_FUNCTIONS = frozenset(_FUNCTIONS)


# ------------------------------------------------------------------------------ entry points


def compile_expression(key: str, expression: str, context_path: str = "",
                       model: Model | None = None) -> tuple[str, _State]:
    """The Python expression (a collection) of *expression* on ``[node]``, and what it needs."""
    try:
        tree = parse(expression)
    except FhirPathSyntaxError as exc:
        raise FhirPathCompileError(key, f"syntax error: {exc}") from exc
    state = _State(key, _Types(model))
    compiler = _Compiler(state)
    static = state.types.context(context_path) if context_path else _UNKNOWN
    compiler.root_static = static
    try:
        code = compiler.code(tree, _Scope("[node]", static))
    except RecursionError as exc:
        raise FhirPathCompileError(key, "expression nested too deeply") from exc
    return code, state


def _presence_logic(tree: Expr, types: _Types, static: _Static) -> str | None:
    """*tree* as a plain Python boolean when it is only presence tests of known, non-choice
    children of the focus (``code.exists()``, ``value.empty()``) joined by ``not()``, ``and``,
    ``or``, ``xor``, ``implies``, ``=``/``!=`` and boolean literals (cod-1, ref-2, ext-1 ...);
    else ``None``. Every part is a definite boolean (``exists()`` is never empty), so FHIRPath's
    three-valued logic is two-valued here and Python's operators give the same verdict, without
    building collections."""
    if isinstance(tree, Literal) and tree.kind == "boolean":
        return "True" if tree.value == "true" else "False"
    if isinstance(tree, Call) and not tree.args and tree.name in ("exists", "empty"):
        member = tree.source
        if not isinstance(member, Member) or member.source is not None:
            return None
        element = types.element(static.path, member.name)
        if element is None or not element.types and not element.backbone:
            return None
        helper = "has_choice" if element.is_choice else "has"  # value[x]: any of its JSON names
        test = f"fp.{helper}(node, {member.name!r})"
        return test if tree.name == "exists" else f"(not {test})"
    if isinstance(tree, Call) and not tree.args and tree.name == "not" and tree.source is not None:
        inner = _presence_logic(tree.source, types, static)
        return None if inner is None else f"(not {inner})"
    if isinstance(tree, Binary) and tree.op in ("and", "or", "xor", "implies", "=", "!="):
        left = _presence_logic(tree.left, types, static)
        right = _presence_logic(tree.right, types, static)
        if left is None or right is None:
            return None
        if tree.op == "implies":
            return f"(not {left} or {right})"
        if tree.op in ("xor", "!="):  # of two definite booleans, the same
            return f"({left} != {right})"
        if tree.op == "=":
            return f"({left} == {right})"
        return f"({left} {tree.op} {right})"
    return None


def _specialised(name: str, tree: Expr, state: _State, static: _Static,
                 fallback: str) -> Specialised | None:
    """The typed shapes of *tree* compiled straight to Python (:mod:`.specialise`), the rest of
    it by the general compilation with the same state."""
    compiler = _Compiler(state)
    compiler.root_static = static

    def general(part: Expr) -> str:
        return compiler.code(part, _Scope("[node]", static))

    return specialise(name, tree, state.types, static, general, fallback)


def _same_focus(types: _Types, context_path: str, evaluated_on: str | None) -> bool:
    """Whether values at *evaluated_on* (a type or element path) are of the type *context_path*
    describes, or of a type derived from it (ImagingSelection for DomainResource's dom-3):
    only then do the context's element types hold for them."""
    if evaluated_on is None or evaluated_on == context_path:
        return True
    type_def = types.type_def(evaluated_on)
    for _ in range(32):
        if type_def is None or type_def.is_backbone:
            return False
        if type_def.name == context_path:
            return True
        type_def = types.type_def(type_def.base)
    return False  # pragma: no cover - base chains are short


def compile_constraint(key: str, expression: str, context_path: str, model: Model | None = None,
                       *, severity: str = "error", human: str = "",
                       evaluated_on: str | None = None) -> CompiledInvariant:
    """Compile one constraint into a named function ``inv_<key>(node, resource, root)``.

    The general compilation always runs (it checks every part of the expression). An expression
    with typed shapes the model knows (:mod:`.specialise`) is then emitted as Python over the
    JSON values, with the general compilation deciding when a value is not of the expected kind;
    when that code needs only the focus's JSON value it is a function of its own, the invariant's
    JSON form (``fp.json_form``). An expression of presence tests only that has no JSON form
    (:func:`_presence_logic`: choice elements) is emitted as plain Python booleans.

    *evaluated_on* is the path of the values the function is evaluated on when that is not
    *context_path* (a backbone element's constraint written for its type: ``Timing.repeat``'s
    tim-1 in Timing's terms); the typed shapes need the context to describe those values, so
    they are compiled only when it does (the same type or a base of it)."""
    try:
        name = naming.invariant_function_name(key)
    except naming.NamingError as exc:
        raise FhirPathCompileError(key, str(exc)) from exc
    code, state = compile_expression(key, expression, context_path, model)
    body = f"    return fp.result({code})\n"
    constants: tuple[str, ...] = ()
    typed = False
    if model is not None and context_path:
        types = state.types
        tree, static = parse(expression), types.context(context_path)
        logic = _presence_logic(tree, types, static)
        specialised = None
        if _same_focus(types, context_path, evaluated_on):
            specialised = _specialised(name, tree, state, static, f"fp.result({code})")
        if logic is not None and (specialised is None or specialised.general_parts):
            # presence tests a JSON form cannot decide (choice elements): plain booleans
            body = f"    return {logic}\n"
            state.helpers = {"has", "has_choice"}
        elif specialised is not None:
            body, constants, typed = specialised.body, specialised.constants, True
            state.helpers |= {"NUMBER_CLASSES", "normalised", "compiled_regex", "reach",
                              "json_form", "Undecided", "needs_nodes"}
            constants += (specialised.json_source, "", f"@fp.json_form({specialised.json_name})")
    doc = docstring(f"{key} ({severity}) on {context_path}: {human}\n\n{expression}", width=88)
    source = "".join(f"{line}\n" for line in constants) + (
        f"def {name}(node: fp.Node, resource: fp.Node, root: fp.Node) -> bool | None:\n"
        f'    """{_indent(doc)}"""\n'
        f"{body}"
    )
    state.helpers.add("result")
    return CompiledInvariant(
        key=key,
        severity=severity,
        human=human,
        expression=expression,
        context=context_path,
        name=name,
        source=source,
        helpers=frozenset(state.helpers),
        value_sets=tuple(state.value_sets),
        uses_resolve=state.uses_resolve,
        specialised=typed,
    )


def _indent(text: str) -> str:
    return "\n".join(("    " + line) if line and i else line
                     for i, line in enumerate(text.split("\n")))
