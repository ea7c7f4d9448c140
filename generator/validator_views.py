"""From the IR to the view values of the generated validators (``validators.py``) and rule tests.

Every generated validator is straight-line: one call per element, facts as constants. This module
decides those calls (as Python source lines the template prints), the constants (key sets, value
sets, reference targets, primitive checkers) and the rule-test cases; templates only loop and print.
Names come from ``fhirgen.naming`` (class names, with a fixed prefix per kind of constant:
``validate_``, ``KEYS_``, ``TARGETS_``, ``VS_``, ``P_``); text from the definitions reaches the
output only through :func:`~fhirgen.views.py_literal` (``repr``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import naming
from .invariant_views import InvariantPackageView, element_group, root_group
from .ir import Element, Model, TypeDef, TypeRef, ValueSetDef, element_index
from .views import docstring, py_literal

__all__ = ["RuleCase", "ValidatorPackageView", "build_validator_views", "rule_cases"]

#: Resource types are the roots of resources; their elements hold whole resources.
RESOURCE_ROOTS = frozenset({"Resource", "DomainResource"})
CONTAINED = "DomainResource.contained"
CONCEPT_TYPES = frozenset({"Coding", "CodeableConcept", "CodeableReference", "Quantity"})
#: Datatype snapshots in R5 type their inherited ``id`` as ``id`` (``Address.id``) while
#: ``Element.id`` itself is a ``string``, and ids like ``Patient.name:official`` (ElementDefinition)
#: are legitimate: the base definition, as the HL7 reference validator reads it, decides.
ELEMENT_ID = "Element.id"
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

    def invariant_line(self, group: str | None, line: str) -> list[str]:
        if group is None:
            return []
        self.used_invariants.add(group)
        return [line]


def _binding_args(element: Element, ctx: _Ctx) -> str:
    binding = element.binding
    if binding is None or binding.strength not in ("required", "extensible"):
        return ""
    if binding.value_set not in ctx.vs_names:
        return ""
    return f", {binding.strength}={ctx.vs_names[binding.value_set]}"


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


def _element_lines(owner: TypeDef, element: Element, ctx: _Ctx) -> tuple[list[str], list[str]]:
    """Source lines validating *element* of *owner*, and the JSON keys it allows.

    Each line is one call stating the element's facts; an optional element's call is guarded by
    a membership test, so absent elements (most of them) cost one dict lookup. A required
    element's call is unconditional: the helper reports its absence.
    """
    model = ctx.model
    lines: list[str] = []
    keys: list[str] = []
    maximum = "None" if element.max is None else str(element.max)
    array = "True" if element.is_array else "False"
    names = element.json_names()
    for json_name, type_ref in names:
        naming.check_identifier(json_name, "element name")
        label = ""
        if element.is_choice:
            label = f", label={py_literal(f'{element.name}.ofType({type_ref.code})')}"
        minimum = "0" if element.is_choice else str(element.min)
        optional = minimum == "0"
        facts = f"{py_literal(json_name)}, path, out"
        keys.append(json_name)
        if element.backbone:
            validator = function_name(element.backbone)
            guard = _guard(json_name, False) if optional else ""
            lines.append(
                f"{guard}complex_(node, {facts}, {validator}, {minimum}, {maximum}, {array})"
            )
            continue
        if _is_resource_type(type_ref, model):
            contained = ", contained=True" if element.base_path == CONTAINED else ""
            guard = _guard(json_name, False) if optional else ""
            lines.append(
                f"{guard}resource(node, {facts}, RESOURCE_VALIDATORS, {minimum}, {maximum}, "
                f"{array}{contained})"
            )
            continue
        target = model.type(type_ref.code)
        binding = _binding_args(element, ctx) if type_ref.code in CONCEPT_TYPES or target.is_primitive else ""
        if target.is_primitive:
            if element.base_path == ELEMENT_ID and "string" in _primitive_names(model):
                target = model.type("string")
            ext = ""
            if element.is_xml_attribute:
                ext = ", ext=False"
            else:
                keys.append("_" + json_name)
            guard = _guard(json_name, not ext) if optional else ""
            if (element.base_path == ELEMENT_ID and not element.is_array
                    and owner.name.split(".")[0] not in REPEATED_IDS):
                # an element's id: its lexical rules, and unique within the resource
                ctx.runtime.add("element_id")
                lines.append(f"{guard}element_id(node, path, out, {_primitive_name(target.name)})")
                continue
            lines.append(
                f"{guard}primitive(node, {facts}, {_primitive_name(target.name)}, {minimum}, "
                f"{maximum}, {array}{label}{binding}{ext})"
            )
            continue
        targets = ""
        if type_ref.target_profiles and type_ref.code in ("Reference", "CodeableReference"):
            const = f"TARGETS_{naming.class_name(owner.name)}_{naming.attribute_name(json_name).rstrip('_')}"
            ctx.constants.append(ConstantView(const, _frozenset(type_ref.target_types)))
            targets = f", targets={const}"
        guard = _guard(json_name, False) if optional else ""
        lines.append(
            f"{guard}complex_(node, {facts}, {function_name(target.name)}, {minimum}, {maximum}, "
            f"{array}{label}{binding}{targets})"
        )
    for json_name, type_ref in names:
        group = element_group(ctx.invariants, owner.name, json_name)
        guard = _guard(json_name, _has_twin(element, type_ref, model))
        call = f"{group}.check_element(node, {py_literal(json_name)}, path, out)"
        lines.extend(ctx.invariant_line(group, guard + call))
    if element.is_choice:
        const = f"CHOICE_{naming.class_name(owner.name)}_{naming.attribute_name(element.name).rstrip('_')}"
        ctx.constants.append(ConstantView(
            const, f"Choice{_tuple(tuple(n for n, _t in names))}", "Choice"
        ))
        lines.append(f"choice(node, {const}, path, out, {py_literal(element.name)}, {element.min})")
    return lines, keys


def _function(type_def: TypeDef, ctx: _Ctx) -> FunctionView:
    lines: list[str] = []
    keys: list[str] = ["resourceType"] if type_def.is_resource else []
    for element in type_def.elements:
        if not element.types and not element.backbone:
            continue
        element_lines, element_keys = _element_lines(type_def, element, ctx)
        lines.extend(element_lines)
        keys.extend(element_keys)
    native = NATIVE_RULES.get(type_def.name)
    if native is not None:
        ctx.runtime.add(native)
        lines.append(f"{native}(node, path, out)")
    group = root_group(ctx.invariants, type_def.name)
    lines.extend(ctx.invariant_line(group, f"{group}.check(node, path, out)"))
    keys_name = "KEYS_" + naming.class_name(type_def.name)
    ctx.constants.append(ConstantView(keys_name, _frozenset(keys)))
    source = type_def.url if not type_def.is_backbone else f"{type_def.name} in {type_def.url}"
    head = type_def.short or type_def.name
    return FunctionView(
        name=function_name(type_def.name),
        doc=docstring(f"{type_def.name}: {head}\n\nFrom {source}."),
        keys=keys_name,
        lines=tuple(lines),
    )


def build_validator_views(model: Model, header: tuple[str, ...],
                          invariants: InvariantPackageView | None = None) -> ValidatorPackageView:
    """The validators' view; with *invariants*, each validator also evaluates its type's and
    its elements' compiled invariants."""
    ctx = _Ctx(model, _vs_names(model), [], invariants)
    functions: list[FunctionView] = []
    resources: list[tuple[str, str]] = []
    for type_def in model.types:
        if type_def.is_primitive:
            continue
        for owner in type_def.all_types():
            functions.append(_function(owner, ctx))
        if type_def.is_resource and not type_def.abstract:
            resources.append((type_def.name, function_name(type_def.name)))
    primitives = tuple(
        ConstantView(
            _primitive_name(t.name),
            f"Primitive({py_literal(t.name)}, {py_literal(t.primitive.json_kind)}, "
            f"{py_literal(t.primitive.regex)}, {function_name('Element')})",
            "Primitive",
        )
        for t in model.types
        if t.is_primitive and t.primitive is not None
    )
    value_sets = tuple(
        ConstantView(ctx.vs_names[vs.url], value_set_expression(vs), "ValueSet")
        for vs in model.value_sets
    )
    return ValidatorPackageView(
        header=header,
        fhir_version=model.fhir_version,
        primitives=primitives,
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
    """

    test_id: str
    resource_type: str
    keys: tuple[str, ...]
    action: str  # remove wrap unwrap unknown wrong-kind bogus-code bad-target(-concept) empty null
    rule: str
    at_parent: bool
    array: bool = False
    primitive: bool = False
    value: str | int | bool | None = None
    parent_arrays: tuple[bool, ...] = ()  # JSON shape of each key above the element


def _safe_id(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text)


WRONG_KIND: dict[str, str | int] = {"number": "not a number", "boolean": "true", "string": 42}
#: Resource types offered as the disallowed target of a reference (the first one not allowed).
OTHER_TARGETS = ("Basic", "Binary", "Account")


def rule_cases(model: Model) -> tuple[RuleCase, ...]:
    """Mutation cases for every element rule of the target resources and their backbones."""
    cases: list[RuleCase] = []
    elements = element_index(model)
    for target in model.targets:
        try:
            root = model.type(target)
        except KeyError:
            continue
        if not root.is_resource:
            continue
        for owner in root.all_types():
            prefix = tuple(owner.name.split(".")[1:])
            shape = tuple(
                elements[".".join((target, *prefix[: i + 1]))].is_array for i in range(len(prefix))
            )
            cases.append(RuleCase(f"{_safe_id(owner.name)}__unknown", target,
                                  (*prefix, "bogusProperty"), "unknown", "unknown-property", True,
                                  parent_arrays=shape))
            for element in owner.elements:
                if element.types or element.backbone:
                    cases.extend(_element_cases(model, target, prefix, shape, element))
    return tuple(cases)


def _element_cases(model: Model, target: str, prefix: tuple[str, ...],
                   shape: tuple[bool, ...], element: Element) -> list[RuleCase]:
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
    elif not is_resource:
        found.append(("__empty", "empty", "json-shape", None, False))
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
