"""From the IR to the view values of the generated validators (``validators.py``) and rule tests.

Every generated validator is straight-line: one call per element, facts as constants. This module
decides those calls (as Python source lines the template prints), the constants (key sets, value
sets, reference targets, primitive checkers) and the rule-test cases; templates only loop and print.
Names come from ``fhirgen.naming`` (class names, with a fixed prefix per kind of constant:
``validate_``, ``KEYS_``, ``TARGETS_``, ``VS_``, ``P_``); text from the definitions reaches the
output only through :func:`~fhirgen.views.py_literal` (``repr``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import naming
from .invariant_views import InvariantPackageView, element_group, root_group
from .ir import Element, Model, TypeDef, TypeRef, ValueSetDef, element_index
from .regex_dfa import compile_dfa
from .runtime.primitives import INT32_MAX, INT32_MIN, INTEGER_RANGES, STRING_TYPES, fast_pattern
from .views import docstring, py_literal

__all__ = [
    "RuleCase", "ValidatorPackageView", "build_validator_views", "datatype_occurrences",
    "rule_cases",
]

#: Resource types are the roots of resources; their elements hold whole resources.
RESOURCE_ROOTS = frozenset({"Resource", "DomainResource"})
CONTAINED = "DomainResource.contained"
CONCEPT_TYPES = frozenset({"Coding", "CodeableConcept", "CodeableReference", "Quantity"})
#: Datatype snapshots in R5 type their inherited ``id`` as ``id`` (``Address.id``) while
#: ``Element.id`` itself is a ``string``, and ids like ``Patient.name:official`` (ElementDefinition)
#: are legitimate: the base definition, as the HL7 reference validator reads it, decides.
ELEMENT_ID = "Element.id"
#: Checked against the IANA registry at run time, though it has no expansion.
ALL_LANGUAGES = "http://hl7.org/fhir/ValueSet/all-languages"
#: Rules of the FHIR specification stated in prose on a type (the HL7 reference validator
#: checks them natively), as the ``fhirgen.runtime.validate`` helper each type's validator calls:
#: an Attachment's ``size`` and ``hash`` agree with its ``data``; a Bundle entry's RESTful
#: ``fullUrl`` ends with its resource's type and id.
#: Types whose element ids repeat by design: an ElementDefinition's id is its path, the same in
#: a StructureDefinition's snapshot and differential.
REPEATED_IDS = frozenset({"ElementDefinition"})
NATIVE_RULES = {"Attachment": "attachment_rules", "Bundle": "bundle_rules"}


@dataclass(frozen=True)
class FunctionView:
    name: str
    doc: str
    keys: str  # name of the KEYS_ constant
    lines: tuple[str, ...]
    #: the same statements as data for the compiled walk (``fhirgen.runtime.plan``): each a
    #: Python expression of one op
    ops: tuple[str, ...] = ()
    type_name: str = ""


@dataclass(frozen=True)
class ConstantView:
    name: str
    expression: str
    annotation: str = "frozenset[str]"


@dataclass(frozen=True)
class ValidatorPackageView:
    header: tuple[str, ...]
    fhir_version: str
    primitives: tuple[ConstantView, ...]
    value_sets: tuple[ConstantView, ...]
    constants: tuple[ConstantView, ...]  # KEYS_ and TARGETS_
    functions: tuple[FunctionView, ...]
    resources: tuple[tuple[str, str], ...]  # (resourceType, function name)
    invariants: tuple[str, ...] = ()  # INV_ groups the validators evaluate
    runtime: tuple[str, ...] = ()  # fhirgen.runtime.validate helpers beyond the usual ones


def function_name(type_name: str) -> str:
    return "validate_" + naming.class_name(type_name)


def _primitive_name(type_name: str) -> str:
    return "P_" + naming.check_identifier(type_name, "primitive type name")


def _dfa_name(type_name: str) -> str:
    return "DFA_" + naming.check_identifier(type_name, "primitive type name")


def _vs_names(model: Model) -> dict[str, str]:
    """``VS_`` + the value set's name; on a clash, a name from its URL, then from its whole URL."""
    taken: set[str] = set()
    names: dict[str, str] = {}
    for value_set in model.value_sets:
        attempts = (
            (value_set.name, value_set.url),
            (None, value_set.url),
            (None, value_set.url.replace("/", "-")),
        )
        for vs_name, url in attempts:
            try:
                name = naming.value_set_type_name(vs_name, url, taken)
                break
            except naming.NamingError:
                continue
        else:
            raise naming.NamingError(f"value set {value_set.url}: no unique name")
        taken.add(name)
        names[value_set.url] = "VS_" + name
    return names


def _is_resource_type(type_ref: TypeRef, model: Model) -> bool:
    if type_ref.code in RESOURCE_ROOTS:
        return True
    try:
        return model.type(type_ref.code).is_resource
    except KeyError:
        return False


def _primitive_names(model: Model) -> frozenset[str]:
    return frozenset(t.name for t in model.types if t.is_primitive)


def value_set_expression(value_set: ValueSetDef) -> str:
    if not value_set.expanded:
        return f"ValueSet({py_literal(value_set.url)}, None)"
    pairs = sorted({(c.system or "", c.code) for c in value_set.concepts if not c.abstract})
    body = "".join(f"({py_literal(s or None)}, {py_literal(c)}), " for s, c in pairs)
    return f"ValueSet({py_literal(value_set.url)}, ({body}))"


def _frozenset(items: list[str] | tuple[str, ...]) -> str:
    if not items:
        return "frozenset()"
    return "frozenset({" + ", ".join(py_literal(i) for i in sorted(set(items))) + "})"


@dataclass
class _Ctx:
    model: Model
    vs_names: dict[str, str]
    constants: list[ConstantView]
    invariants: InvariantPackageView | None = None
    used_invariants: set[str] = field(default_factory=set)
    runtime: set[str] = field(default_factory=set)  # helpers beyond the always-used ones
    #: value set URL -> whether the definitions expand it (its codes can be tested inline)
    expanded: dict[str, bool] = field(default_factory=dict)

    def invariant_line(self, group: str | None, line: str) -> list[str]:
        if group is None:
            return []
        self.used_invariants.add(group)
        return [line]


#: How the names of generated statements become the slots of a plan's call
#: (``fhirgen.runtime.plan``): the object, its location, the issue list, the value at hand.
_SLOTS = {"node": "NODE", "path": "PATH", "out": "OUT", "v": "VALUE", "item": "VALUE",
          "w": "AT", "at": "AT", "(w, i)": "AT"}


@dataclass(frozen=True)
class _Call:
    """One helper call of a generated statement: printed as Python (``.py``) and, for the
    compiled walk, as a plan's call (``.spec``: the callable, its arguments with the slots the
    walk fills in, and its keyword arguments)."""

    fn: str
    args: tuple[str, ...]
    kwargs: tuple[tuple[str, str], ...] = ()

    def py(self) -> str:
        parts = [*self.args, *(f"{k}={v}" for k, v in self.kwargs)]
        return f"{self.fn}({', '.join(parts)})"

    def spec(self, plan_names: Mapping[str, str] | None = None) -> str:
        names = plan_names or {}
        args = [_SLOTS.get(a, names.get(a, a)) for a in self.args]
        kwargs = "None" if not self.kwargs else (
            "{" + ", ".join(f"{py_literal(k)}: {names.get(v, v)}" for k, v in self.kwargs) + "}")
        return f"({self.fn}, ({', '.join(args)}{',' if len(args) == 1 else ''}), {kwargs})"


def _binding_args(element: Element, ctx: _Ctx) -> tuple[tuple[str, str], ...]:
    """The helper's keyword argument of a required or extensible binding: ``required=VS_X``."""
    binding = element.binding
    if binding is None or binding.strength not in ("required", "extensible"):
        return ()
    if binding.value_set not in ctx.vs_names:
        return ()
    return ((binding.strength, ctx.vs_names[binding.value_set]),)


def _guard(json_name: str, twin: bool) -> str:
    """``if 'x' in node:`` (or with its ``_x`` twin): an absent optional element costs a lookup."""
    test = f"{py_literal(json_name)} in node"
    if twin:
        test += f" or {py_literal('_' + json_name)} in node"
    return f"if {test}: "


def _has_twin(element: Element, type_ref: TypeRef, model: Model) -> bool:
    """Whether the element's JSON form may come with a ``_name`` twin (a primitive's)."""
    if element.backbone or element.is_xml_attribute or _is_resource_type(type_ref, model):
        return False
    return model.type(type_ref.code).is_primitive


def _fast_test(target: TypeDef, var: str) -> str | None:
    """A Python expression true only for values the primitive's ``Primitive.fast`` accepts
    (``None`` when there is no fast check): inlined, a good value costs no Python call. It never
    raises, whatever JSON value *var* holds (a test checks it against ``Primitive.fast``)."""
    prim = target.primitive
    if prim is None:
        return None
    const = _primitive_name(target.name)
    if prim.json_kind == "boolean":
        return f"({var} is True or {var} is False)"
    if prim.json_kind == "number":
        if target.name == "decimal":
            return f"{const}.fast({var})"  # any JSON value: an int or float test first
        low, high = INTEGER_RANGES.get(target.name, (INT32_MIN, INT32_MAX))
        return f"({var}.__class__ is int and {low} <= {var} <= {high})"
    if prim.regex is None and target.name not in STRING_TYPES and target.name != "xhtml":
        return None  # (xhtml's fast check: a narrative found good lately)
    return f"({var}.__class__ is str and {const}.fast({var}))"


def _code_test(element: Element, target: TypeDef, ctx: _Ctx, var: str) -> str | None:
    """The inlined binding test of a bound primitive (its code in the expanded value set), ``""``
    when unbound, ``None`` when the value set cannot be expanded (the helper says so)."""
    binding = element.binding
    if binding is None or binding.strength not in ("required", "extensible"):
        return ""
    if binding.value_set not in ctx.vs_names:
        return ""
    if not ctx.expanded.get(binding.value_set, False):
        return None
    return f" and {var} in {ctx.vs_names[binding.value_set]}.codes"


def _wrapped(expression: str) -> str:
    """*expression* in parentheses, unless one pair already encloses all of it."""
    if expression.startswith("("):
        depth = 0
        for index, char in enumerate(expression):
            depth += (char == "(") - (char == ")")
            if depth == 0:
                if index == len(expression) - 1:
                    return expression
                break
    return f"({expression})"


def _fast_primitive(json_name: str, call: _Call, fast: str, optional: bool, twin: bool
                    ) -> list[str]:
    """A scalar primitive: a good value without a ``_name`` twin costs a lookup and the inlined
    fast test; anything else goes to the helper (*call*), which judges exactly."""
    name = py_literal(json_name)
    call_text = call.py()
    twin_test = f"{py_literal('_' + json_name)} in node or " if twin else ""
    fast = _wrapped(fast)
    if not optional:
        return [f"v = node.get({name}, MISSING)",
                f"if {twin_test}not {fast}: {call_text}"]
    lines = [f"if {name} in node:",
             f"    v = node[{name}]",
             f"    if {twin_test}not {fast}: {call_text}"]
    if twin:
        lines.append(f"elif {py_literal('_' + json_name)} in node: {call_text}")
    return lines


@dataclass(frozen=True)
class _Checks:
    """What a complex element's objects are checked for after their type's validator: the
    names of its bound value set (required or extensible) and of its reference targets, and
    whether the check is certain to be the information issue of a value set that cannot be
    expanded (a Coding bound to one: ``unchecked`` straight away)."""

    required: str | None = None
    extensible: str | None = None
    targets: str | None = None
    unchecked: bool = False

    def args(self) -> tuple[str, str, str]:
        """``item_checks``' and ``complex_item``'s last three arguments."""
        return str(self.required), str(self.extensible), str(self.targets)

    def after(self, item: str, at: str) -> _Call:
        """The call checking *item* (at location *at*) after its type's validator."""
        if self.unchecked:
            return _Call("unchecked", (item, str(self.extensible), at, "out"))
        return _Call("item_checks", (item, at, "out", *self.args()))


def _fast_complex(json_name: str, shown: str, call: _Call, type_name: str, array: bool,
                  optional: bool, maximum: int | None, checks: _Checks | None
                  ) -> tuple[list[str], str]:
    """A complex element: a good object (or a good array of objects) goes straight to its
    type's validator, with the location the helper would build; anything else to the helper
    (*call*), or for an array's odd item to ``complex_item``. With the plan's op of it."""
    name = py_literal(json_name)
    where = f"path, {py_literal(shown)}"
    validator = function_name(type_name)
    after = "None" if checks is None else checks.after("VALUE", "AT").spec()
    head = f"{name}, {optional}, {py_literal(shown)}, {py_literal(type_name)}"
    body: list[str] = []
    if optional:
        body += [f"if {name} in node:", f"    v = node[{name}]"]
        indent = "    "
    else:
        body += [f"v = node.get({name}, MISSING)"]
        indent = ""
    good = "('id' not in {0} or len({0}) != 1)"  # not ele-1's shape (an id and nothing else)
    if array:
        size = "" if maximum is None else f" and len(v) <= {maximum}"
        rest = () if checks is None else checks.args()
        odd = _Call("complex_item", ("item", "(w, i)", "out", validator, *rest))
        body += [
            f"{indent}if v.__class__ is list and v{size}:",
            f"{indent}    w = ({where})",
            f"{indent}    for i, item in enumerate(v):",
            f"{indent}        if item.__class__ is dict and {good.format('item')}:",
        ]
        if checks is None:
            body += [f"{indent}            {validator}(item, (w, i), out)"]
        else:
            body += [f"{indent}            {validator}(item, at := (w, i), out)",
                     f"{indent}            {checks.after('item', 'at').py()}"]
        body += [f"{indent}        else: {odd.py()}",
                 f"{indent}else: {call.py()}"]
        return body, (f"('array', {head}, {maximum}, {after}, {odd.spec()}, {call.spec()})")
    body += [f"{indent}if v.__class__ is dict and {good.format('v')}:"]
    if checks is None:
        body += [f"{indent}    {validator}(v, ({where}), out)"]
    else:
        body += [f"{indent}    {validator}(v, w := ({where}), out)",
                 f"{indent}    {checks.after('v', 'w').py()}"]
    body += [f"{indent}else: {call.py()}"]
    return body, f"('object', {head}, {after}, {call.spec()})"


def _complex_checks(element: Element, type_ref: TypeRef, binding: tuple[tuple[str, str], ...],
                    targets: str, ctx: _Ctx) -> _Checks | None:
    """The checks after a complex element's validator (*binding* as :func:`_binding_args`
    gives it, *targets* the name of its target types' constant), or None."""
    if not binding and not targets:
        return None
    strength, vs_name = binding[0] if binding else ("", "")
    vs_url = (element.binding.value_set if binding and element.binding else None) or ""
    checks = _Checks(required=vs_name if strength == "required" else None,
                     extensible=vs_name if strength == "extensible" else None,
                     targets=targets or None)
    if (type_ref.code == "Coding" and checks.extensible and not targets
            and vs_url != ALL_LANGUAGES and not ctx.expanded.get(vs_url, True)):
        ctx.runtime.add("unchecked")
        return _Checks(extensible=vs_name, unchecked=True)
    ctx.runtime.add("item_checks")
    return checks


def _fast_kind(target: TypeDef) -> str:
    """The plan's name of the fast test :func:`_fast_test` inlines: ``('int', low, high)``,
    ``'bool'``, ``'decimal'`` or ``'str'`` (a Python expression)."""
    prim = target.primitive
    assert prim is not None
    if prim.json_kind == "boolean":
        return "'bool'"
    if prim.json_kind == "number":
        if target.name == "decimal":
            return "'decimal'"
        low, high = INTEGER_RANGES.get(target.name, (INT32_MIN, INT32_MAX))
        return f"('int', {low}, {high})"
    return "'str'"


def _call_op(guard: tuple[str, ...], call: _Call, plan_names: Mapping[str, str] | None = None
             ) -> str:
    """A plan's unconditional call, made when one of the *guard* names is in the object (always
    when there is none)."""
    first = py_literal(guard[0]) if guard else "None"
    second = py_literal(guard[1]) if len(guard) > 1 else "None"
    return f"('call', {first}, {second}, {call.spec(plan_names)})"


def _guard_names(json_name: str, twin: bool, optional: bool) -> tuple[str, ...]:
    if not optional:
        return ()
    return (json_name, "_" + json_name) if twin else (json_name,)


def _element_lines(owner: TypeDef, element: Element, ctx: _Ctx
                   ) -> tuple[list[str], list[str], list[str]]:
    """Source lines validating *element* of *owner*, the JSON keys it allows, and the same
    statements as ops of the plan of the compiled walk.

    Each line is one call stating the element's facts; an optional element's call is guarded by
    a membership test, so absent elements (most of them) cost one dict lookup. A required
    element's call is unconditional: the helper reports its absence.
    """
    model = ctx.model
    lines: list[str] = []
    ops: list[str] = []
    keys: list[str] = []
    maximum = "None" if element.max is None else str(element.max)
    array = "True" if element.is_array else "False"
    names = element.json_names()
    for json_name, type_ref in names:
        naming.check_identifier(json_name, "element name")
        label: tuple[tuple[str, str], ...] = ()
        if element.is_choice:
            label = (("label", py_literal(f"{element.name}.ofType({type_ref.code})")),)
        minimum = "0" if element.is_choice else str(element.min)
        optional = minimum == "0"
        facts = (py_literal(json_name), "path", "out")
        keys.append(json_name)
        if element.backbone:
            validator = function_name(element.backbone)
            call = _Call("complex_", ("node", *facts, validator, minimum, maximum, array))
            if element.is_array and element.min > 1:
                guard = _guard(json_name, False) if optional else ""
                lines.append(guard + call.py())  # the helper counts the items
                ops.append(_call_op(_guard_names(json_name, False, optional), call))
                continue
            ctx.runtime.add("MISSING")
            if element.is_array:
                ctx.runtime.add("complex_item")
            body, op = _fast_complex(json_name, json_name, call, element.backbone,
                                     element.is_array, optional, element.max, None)
            lines.extend(body)
            ops.append(op)
            continue
        if _is_resource_type(type_ref, model):
            contained = (("contained", "True"),) if element.base_path == CONTAINED else ()
            guard = _guard(json_name, False) if optional else ""
            call = _Call("resource", ("node", *facts, "PY_RESOURCE_VALIDATORS", minimum,
                                      maximum, array), contained)
            lines.append(guard + call.py())
            ops.append(_call_op(_guard_names(json_name, False, optional), call,
                                {"PY_RESOURCE_VALIDATORS": "RESOURCE_VALIDATORS"}))
            continue
        target = model.type(type_ref.code)
        binding = (_binding_args(element, ctx)
                   if type_ref.code in CONCEPT_TYPES or target.is_primitive else ())
        if target.is_primitive:
            if element.base_path == ELEMENT_ID and "string" in _primitive_names(model):
                target = model.type("string")
            ext: tuple[tuple[str, str], ...] = ()
            if element.is_xml_attribute:
                ext = (("ext", "False"),)
            else:
                keys.append("_" + json_name)
            guard = _guard(json_name, not ext) if optional else ""
            guard_names = _guard_names(json_name, not ext, optional)
            if (element.base_path == ELEMENT_ID and not element.is_array
                    and owner.name.split(".")[0] not in REPEATED_IDS):
                # an element's id: its lexical rules, and unique within the resource
                ctx.runtime.add("element_id")
                call = _Call("element_id", ("node", "path", "out", _primitive_name(target.name)))
                lines.append(guard + call.py())
                ops.append(_call_op(guard_names, call))
                continue
            call = _Call("primitive", ("node", *facts, _primitive_name(target.name), minimum,
                                       maximum, array), label + binding + ext)
            fast = _fast_test(target, "v")
            code = _code_test(element, target, ctx, "v")
            if element.is_array and fast is not None and code is not None:
                size = "" if element.max is None else f" and len(v) <= {element.max}"
                if element.min > 1:
                    size += f" and len(v) >= {element.min}"
                fast = f"(v.__class__ is list and v{size} and {_primitive_name(target.name)}.fast_all(v))"
                code = code.replace(" and v in ", " and ").replace(".codes", ".codes.issuperset(v)")
            if fast is not None and code is not None:
                ctx.runtime.add("MISSING")
                lines.extend(_fast_primitive(json_name, call, fast + code, optional, not ext))
                codes = f"{binding[0][1]}.codes" if code else "None"
                ops.append(
                    f"('prim', {py_literal(json_name)}, {optional}, {not ext}, "
                    f"{_fast_kind(target)}, {_primitive_name(target.name)}, {codes}, "
                    f"{element.is_array}, {element.min}, {maximum}, {call.spec()})")
                continue
            lines.append(guard + call.py())
            ops.append(_call_op(guard_names, call))
            continue
        targets = ""
        if type_ref.target_profiles and type_ref.code in ("Reference", "CodeableReference"):
            const = f"TARGETS_{naming.class_name(owner.name)}_{naming.attribute_name(json_name).rstrip('_')}"
            ctx.constants.append(ConstantView(const, _frozenset(type_ref.target_types)))
            targets = const
        call = _Call("complex_", ("node", *facts, function_name(target.name), minimum, maximum,
                                  array),
                     label + binding + ((("targets", targets),) if targets else ()))
        if element.is_array and element.min > 1:
            guard = _guard(json_name, False) if optional else ""
            lines.append(guard + call.py())  # the helper counts the items
            ops.append(_call_op(_guard_names(json_name, False, optional), call))
            continue
        ctx.runtime.add("MISSING")
        if element.is_array:
            ctx.runtime.add("complex_item")
        checks = _complex_checks(element, type_ref, binding, targets, ctx)
        shown = f"{element.name}.ofType({type_ref.code})" if element.is_choice else json_name
        body, op = _fast_complex(json_name, shown, call, target.name, element.is_array,
                                 optional, element.max, checks)
        lines.extend(body)
        ops.append(op)
    for json_name, type_ref in names:
        group = element_group(ctx.invariants, owner.name, json_name)
        if group is None:
            continue
        twin = _has_twin(element, type_ref, model)
        guard = _guard(json_name, twin)
        call = _Call(f"{group}.check_element", ("node", py_literal(json_name), "path", "out"))
        lines.extend(ctx.invariant_line(group, guard + call.py()))
        ops.append(_call_op(_guard_names(json_name, twin, True), call))
    if element.is_choice:
        const = f"CHOICE_{naming.class_name(owner.name)}_{naming.attribute_name(element.name).rstrip('_')}"
        ctx.constants.append(ConstantView(
            const, f"Choice{_tuple(tuple(n for n, _t in names))}", "Choice"
        ))
        call = _Call("choice", ("node", const, "path", "out", py_literal(element.name),
                                str(element.min)))
        lines.append(call.py())
        ops.append(_call_op((), call))
    return lines, keys, ops


def _function(type_def: TypeDef, ctx: _Ctx) -> FunctionView:
    lines: list[str] = []
    ops: list[str] = []
    keys: list[str] = ["resourceType"] if type_def.is_resource else []
    for element in type_def.elements:
        if not element.types and not element.backbone:
            continue
        element_lines, element_keys, element_ops = _element_lines(type_def, element, ctx)
        lines.extend(element_lines)
        keys.extend(element_keys)
        ops.extend(element_ops)
    native = NATIVE_RULES.get(type_def.name)
    if native is not None:
        ctx.runtime.add(native)
        call = _Call(native, ("node", "path", "out"))
        lines.append(call.py())
        ops.append(_call_op((), call))
    group = root_group(ctx.invariants, type_def.name)
    if group is not None:
        lines.extend(ctx.invariant_line(
            group, f"if {group}.passes(node) is not True: {group}.check(node, path, out)"))
        ops.append(f"('root', {group}.passes, {group}.check)")
    keys_name = "KEYS_" + naming.class_name(type_def.name)
    ctx.constants.append(ConstantView(keys_name, _frozenset(keys)))
    source = type_def.url if not type_def.is_backbone else f"{type_def.name} in {type_def.url}"
    head = type_def.short or type_def.name
    return FunctionView(
        name=function_name(type_def.name),
        doc=docstring(f"{type_def.name}: {head}\n\nFrom {source}."),
        keys=keys_name,
        lines=tuple(lines),
        ops=tuple(ops),
        type_name=type_def.name,
    )


def build_validator_views(model: Model, header: tuple[str, ...],
                          invariants: InvariantPackageView | None = None) -> ValidatorPackageView:
    """The validators' view; with *invariants*, each validator also evaluates its type's and
    its elements' compiled invariants."""
    ctx = _Ctx(model, _vs_names(model), [], invariants,
               expanded={vs.url: vs.expanded for vs in model.value_sets})
    functions: list[FunctionView] = []
    resources: list[tuple[str, str]] = []
    for type_def in model.types:
        if type_def.is_primitive:
            continue
        for owner in type_def.all_types():
            functions.append(_function(owner, ctx))
        if type_def.is_resource and not type_def.abstract:
            resources.append((type_def.name, function_name(type_def.name)))
    primitives: list[ConstantView] = []
    for t in model.types:
        if not t.is_primitive or t.primitive is None:
            continue
        # the fast check's pattern as DFA tables, for the compiled matcher (fhirgen.regex_dfa)
        pattern = fast_pattern(t.name, t.primitive.json_kind, t.primitive.regex)
        tables = compile_dfa(pattern) if pattern is not None else None
        dfa = "" if tables is None else f", {_dfa_name(t.name)}"
        if tables is not None:
            primitives.append(ConstantView(_dfa_name(t.name), repr(tables), "Tables"))
        primitives.append(ConstantView(
            _primitive_name(t.name),
            f"Primitive({py_literal(t.name)}, {py_literal(t.primitive.json_kind)}, "
            f"{py_literal(t.primitive.regex)}, {function_name('Element')}{dfa})",
            "Primitive",
        ))
    value_sets = tuple(
        ConstantView(ctx.vs_names[vs.url], value_set_expression(vs), "ValueSet")
        for vs in model.value_sets
    )
    return ValidatorPackageView(
        header=header,
        fhir_version=model.fhir_version,
        primitives=tuple(primitives),
        value_sets=value_sets,
        constants=tuple(sorted(ctx.constants, key=lambda c: c.name)),
        functions=tuple(functions),
        resources=tuple(sorted(resources)),
        invariants=tuple(sorted(ctx.used_invariants)),
        runtime=tuple(sorted(ctx.runtime)),
    )


# --------------------------------------------------------------------------------- rule tests


@dataclass(frozen=True)
class RuleCase:
    """One generated rule test: mutate an example at ``keys`` and expect ``rule`` somewhere.

    ``keys`` is the element's JSON path below the resource (``("instance", "uid")``); the test
    finds the first example object holding the parent, applies ``action`` and expects an issue
    with ``rule`` whose expression is the parent's location (``at_parent``) or the element's.
    A datatype's rules are tested where the examples use that datatype first
    (``("meta", "tag", "system")`` for ``Coding.system``): the generator knows the path, the test
    only follows it.
    """

    test_id: str
    resource_type: str
    keys: tuple[str, ...]
    action: str  # remove wrap unwrap unknown wrong-kind bogus-code bad-target(-concept) empty
    #             null text-only
    rule: str
    at_parent: bool
    array: bool = False
    primitive: bool = False
    value: str | int | bool | None = None
    #: JSON shape of each key above the element: array?, or (array?, FHIRPath name) for a
    #: choice key (``fhirgen.testing.find_parent`` reads both)
    parent_arrays: tuple[bool | tuple[bool, str], ...] = ()


def _safe_id(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text)


#: A value of another JSON kind (text that is no boolean or number either, so XML rejects it too).
WRONG_KIND: dict[str, str | int] = {"number": "not a number", "boolean": "yes", "string": 42}
#: Resource types offered as the disallowed target of a reference (the first one not allowed).
OTHER_TARGETS = ("Basic", "Binary", "Account")

#: Types whose elements every type inherits (``id``, ``extension`` ...): their suffix cases would
#: only repeat the rule on each type.
INHERITED_FROM = frozenset({"Element", "BackboneElement", "Resource", "DomainResource"})

#: Where a datatype occurs: its JSON keys below the resource and, for each key, whether it holds
#: an array, with the FHIRPath name of a choice key (``(False, "value.ofType(Quantity)")``).
Shape = tuple[bool | tuple[bool, str], ...]
Occurrence = tuple[tuple[str, ...], Shape]


def rule_cases(model: Model, examples: Sequence[Mapping[str, Any]] = ()) -> tuple[RuleCase, ...]:
    """Mutation cases for every element rule of the target resources and their backbones, and
    of every complex datatype the *examples* (parsed, in the order the test reads them) use."""
    cases: list[RuleCase] = []
    elements = element_index(model)
    for target in model.targets:
        try:
            root = model.type(target)
        except KeyError:
            continue
        if not root.is_resource:
            continue
        cases.extend(_type_cases(model, elements, root, target, (), ()))
    for name, (keys, shape) in datatype_occurrences(model, examples).items():
        first = examples[0]["resourceType"] if examples else ""
        resource_type = next((str(e["resourceType"]) for e in examples
                              if _holds(e, keys)), str(first))
        cases.extend(_type_cases(model, elements, model.type(name), resource_type, keys, shape))
    cases.extend(_unused_choice_cases(model, examples))
    return tuple(cases)


def _unused_choice_cases(model: Model, examples: Sequence[Mapping[str, Any]]) -> list[RuleCase]:
    """Wrong type suffixes on the choice elements of datatypes no example uses (``Annotation``,
    ``Timing.repeat`` ...), at the shortest path the model allows to them (through
    ``extension.valueAnnotation``): the test adds that path, empty, to an example."""
    roots = [model.type(t) for t in model.targets if _is_type(model, t)]
    roots = [r for r in roots if r.is_resource]
    if not roots:
        return []
    used = datatype_occurrences(model, examples)
    paths = _shortest_paths(model, roots[0])
    cases: list[RuleCase] = []
    for type_def in model.types:
        if type_def.is_primitive or type_def.is_resource or type_def.name in used:
            continue
        for owner in type_def.all_types():
            if owner.name not in paths:
                continue
            keys, shape = paths[owner.name]
            taken = {name for element in owner.elements for name, _t in element.json_names()}
            for element in owner.elements:
                if element.is_choice:
                    cases.extend(_suffix_cases(model, roots[0].name, keys, shape, element, taken))
    return cases


def _is_type(model: Model, name: str) -> bool:
    try:
        model.type(name)
    except KeyError:
        return False
    return True


def _shortest_paths(model: Model, root: TypeDef) -> dict[str, Occurrence]:
    """The shortest JSON path (breadth first, elements in definition order) from *root* to an
    object of each complex type and backbone of the model."""
    types = {owner.name: owner for t in model.types for owner in t.all_types()}
    paths: dict[str, Occurrence] = {root.name: ((), ())}
    queue = [root]
    while queue:
        owner = queue.pop(0)
        keys, shape = paths[owner.name]
        for element in owner.elements:
            for json_name, type_ref in element.json_names():
                child = _child_type(model, types, element, type_ref)
                if child is None or child.name in paths:
                    continue
                paths[child.name] = ((*keys, json_name),
                                     (*shape, _shape_entry(element, type_ref)))
                queue.append(child)
    return paths


def _child_type(model: Model, types: Mapping[str, TypeDef], element: Element,
                type_ref: TypeRef) -> TypeDef | None:
    """The complex type or backbone an element's JSON value is an object of (None otherwise)."""
    if element.backbone:
        return types.get(element.backbone)
    if not type_ref.code or _is_resource_type(type_ref, model):
        return None
    child = types.get(type_ref.code)
    return None if child is None or child.is_primitive else child


def _shape_entry(element: Element, type_ref: TypeRef) -> bool | tuple[bool, str]:
    if element.is_choice:
        return (element.is_array, f"{element.name}.ofType({type_ref.code})")
    return element.is_array


def _type_cases(model: Model, elements: Mapping[str, Element], type_def: TypeDef,
                resource_type: str, keys: tuple[str, ...], shape: Shape) -> list[RuleCase]:
    """The cases of *type_def* and its backbones, found at *keys* (``()``: the resource)."""
    cases: list[RuleCase] = []
    for owner in type_def.all_types():
        below = tuple(owner.name.split(".")[1:])
        prefix = (*keys, *below)
        owner_shape = (*shape, *(
            elements[".".join((type_def.name, *below[: i + 1]))].is_array
            for i in range(len(below))
        ))
        cases.append(RuleCase(f"{_safe_id(owner.name)}__unknown", resource_type,
                              (*prefix, "bogusProperty"), "unknown", "unknown-property", True,
                              parent_arrays=owner_shape))
        taken = {name for element in owner.elements for name, _t in element.json_names()}
        for element in owner.elements:
            if element.types or element.backbone:
                cases.extend(_element_cases(model, resource_type, prefix, owner_shape, element))
                cases.extend(_suffix_cases(model, resource_type, prefix, owner_shape, element,
                                           taken))
    return cases


def _element_cases(model: Model, target: str, prefix: tuple[str, ...],
                   shape: Shape, element: Element) -> list[RuleCase]:
    """The mutations that break each rule of one element."""
    base = _safe_id(element.path)
    if element.is_choice:
        return [RuleCase(base + "__choice", target, (*prefix, element.name + "Bogus"), "unknown",
                         "unknown-property", True, parent_arrays=shape)]
    keys = (*prefix, element.json_names()[0][0])
    type_ref = element.types[0] if element.types else TypeRef("")
    is_resource = bool(element.types) and _is_resource_type(type_ref, model)
    target_def = None
    if not element.backbone and element.types and not is_resource:
        target_def = model.type(type_ref.code)
    is_primitive = target_def is not None and target_def.is_primitive
    found: list[tuple[str, str, str, str | int | bool | None, bool]] = []
    if element.min >= 1:
        found.append(("__missing", "remove", "cardinality", None, True))
    if element.is_array:
        found.append(("__single", "unwrap", "json-shape", None, False))
    else:
        found.append(("__array", "wrap", "json-shape", None, False))
    found.append(("__null", "null", "json-shape", None, False))
    if target_def is not None and target_def.primitive is not None:
        kind = target_def.primitive.json_kind
        found.append(("__kind", "wrong-kind", "json-shape", WRONG_KIND[kind], False))
        if kind == "string":
            found.append(("__empty", "empty", "primitive", "", False))
        binding = element.binding
        vs = model.value_set(binding.value_set) if binding and binding.value_set else None
        if binding and binding.strength == "required" and vs is not None and vs.expanded:
            found.append(("__code", "bogus-code", "binding", "bogus-code-value", False))
    else:  # an object (complex, backbone, resource) of another JSON kind
        found.append(("__kind", "wrong-kind", "json-shape", WRONG_KIND["string"], False))
        if not is_resource:
            found.append(("__empty", "empty", "json-shape", None, False))
        binding = element.binding
        if (type_ref.code == "CodeableConcept" and binding and binding.value_set
                and binding.strength in ("required", "extensible")
                and model.value_set(binding.value_set) is not None):
            # text only: no code from the value set (an error, or a warning when extensible)
            found.append(("__no_code", "text-only", "binding", "text only", False))
    if type_ref.target_profiles and "Resource" not in type_ref.target_types:
        other = next(t for t in OTHER_TARGETS if t not in type_ref.target_types)
        if type_ref.code == "Reference":
            found.append(("__target", "bad-target", "reference-target", f"{other}/example", False))
        elif type_ref.code == "CodeableReference":
            found.append(("__target", "bad-target-concept", "reference-target",
                          f"{other}/example", False))
    return [
        RuleCase(base + suffix, target, keys, action, rule, at_parent, element.is_array,
                 is_primitive, value, shape)
        for suffix, action, rule, value, at_parent in found
    ]


def _suffix(type_name: str) -> str:
    return type_name[0].upper() + type_name[1:]


def _suffix_cases(model: Model, target: str, prefix: tuple[str, ...], shape: Shape,
                  element: Element, taken: set[str]) -> list[RuleCase]:
    """Type suffixes the element does not allow: on a choice, a real type name that is not one
    of its types (``valueBoolean`` where only string and Quantity are allowed); on a plain
    element, its own type as if it were a choice (``subjectReference``). Both are unknown
    properties of the parent."""
    base = _safe_id(element.path)
    if element.is_choice:
        allowed = {t.code for t in element.types}
        candidates = sorted(model.types, key=lambda t: not t.is_primitive)  # stable: model order
        wrong = next((t.name for t in candidates
                      if not (t.abstract or t.is_resource) and t.name not in allowed
                      and t.name.isalnum() and element.name + _suffix(t.name) not in taken),
                     None)
        if wrong is None:  # every type is allowed (Extension.value[x])
            return []
        return [RuleCase(base + "__wrong_type", target, (*prefix, element.name + _suffix(wrong)),
                         "unknown", "unknown-property", True, parent_arrays=shape)]
    if element.backbone or not element.types or _is_resource_type(element.types[0], model):
        return []
    if element.base_path.split(".")[0] in INHERITED_FROM:
        return []  # the same rule as the type's own elements, once is enough
    type_name = model.type(element.types[0].code).name
    key = element.name + _suffix(type_name)
    if not type_name.isalnum() or key in taken:
        return []
    return [RuleCase(base + "__suffix", target, (*prefix, key), "unknown", "unknown-property",
                     True, parent_arrays=shape)]


def datatype_occurrences(model: Model, examples: Sequence[Mapping[str, Any]]
                         ) -> dict[str, Occurrence]:
    """The first place each complex datatype occurs in *examples* (of the model's resource
    types), walking them in order, elements in definition order, array items in order: the
    same first place the generated test's ``find_parent`` reaches."""
    types = {owner.name: owner for t in model.types for owner in t.all_types()}
    found: dict[str, Occurrence] = {}
    for example in examples:
        root = types.get(str(example.get("resourceType")))
        if root is not None and root.is_resource:
            _walk_occurrences(model, types, example, root, (), (), found)
    return found


def _walk_occurrences(model: Model, types: Mapping[str, TypeDef], node: Mapping[str, Any],
                      owner: TypeDef, keys: tuple[str, ...], shape: Shape,
                      found: dict[str, Occurrence]) -> None:
    for element in owner.elements:
        for json_name, type_ref in element.json_names():
            value = node.get(json_name)
            if value is None:
                continue
            child = _child_type(model, types, element, type_ref)  # not contained resources
            if child is None:
                continue
            at, at_shape = (*keys, json_name), (*shape, _shape_entry(element, type_ref))
            if not element.backbone:
                found.setdefault(child.name, (at, at_shape))
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, Mapping):
                    _walk_occurrences(model, types, item, child, at, at_shape, found)


def _holds(node: Any, keys: Sequence[str]) -> bool:
    """Whether *node* has an object at *keys* (through arrays)."""
    if not keys:
        return isinstance(node, Mapping)
    if not isinstance(node, Mapping) or keys[0] not in node:
        return False
    child = node[keys[0]]
    items = child if isinstance(child, list) else [child]
    return any(_holds(item, keys[1:]) for item in items)


def _tuple(items: tuple[object, ...]) -> str:
    """A tuple literal of plain values: ``('a', 'b')``, ``('a',)``, ``()``."""
    parts = [_tuple(i) if isinstance(i, tuple) else py_literal(i) for i in items]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def rule_case_literal(case: RuleCase) -> str:
    """The case as a tuple literal for the generated test's parameter list."""
    return _tuple(
        (case.test_id, case.keys, case.action, case.rule, case.at_parent, case.array,
         case.primitive, case.value, case.parent_arrays)
    )
