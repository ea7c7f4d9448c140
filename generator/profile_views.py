"""From profiles (:class:`fhirgen.ir.Profile`) to the view values of ``profiles.py``.

A profile validator checks only what the profile states beyond its base (the base type's
generated validator runs first, see :mod:`fhirgen.runtime.profiles`). For each element of the
profile's snapshot, compared with the element it constrains (its ``base_path`` in the model):

* cardinality narrower than the base's -> ``R.card``; a choice with fewer types -> ``R.types``;
* ``fixed[x]``, ``pattern[x]``, a binding stronger or other than the base's (required or
  extensible), reference targets narrower than the base's -> lines of the element's own function,
  called on each of its values through ``R.each``;
* slicing -> a ``Slicing`` constant: each slice's cardinality, its discriminator values (taken
  from the slice's elements at the discriminator paths) and its function;
* constraints the base element does not have -> compiled by :func:`fhirgen.fhirpath.compile_constraint`
  like the base invariants, grouped per element (``PINV_<Profile>_<element>``) and evaluated by
  :class:`fhirgen.runtime.invariants.Invariants`;
* ``mustSupport``: in the profile function's docstring (the element table), nothing to check.

An element gets a function only when it or something below it has a fact: the output is one
small straight-line function per constrained element. A discriminator the runtime cannot evaluate
(a path other than ``$this``, dotted names, ``extension('url')``, ``ofType(T)`` and a final
``resolve()``), or a slice without the value its discriminator needs, fails generation with the
profile and element named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import naming
from .fhirpath import compile_constraint
from .ir import Element, IRError, Model, Profile, TypeRef
from .validator_views import value_set_expression
from .views import docstring, py_literal

__all__ = ["ProfilePackageView", "build_profile_views"]

_REFERENCE_TYPES = ("Reference", "CodeableReference")
_PATH = re.compile(r"(\$this|[A-Za-z][A-Za-z0-9]*|extension\('[^']*'\)|ofType\([A-Za-z0-9]+\))"
                   r"(\.([A-Za-z][A-Za-z0-9]*|extension\('[^']*'\)|ofType\([A-Za-z0-9]+\)))*"
                   r"(\.resolve\(\))?\Z|resolve\(\)\Z")
_STRENGTH = {"required": 3, "extensible": 2, "preferred": 1, "example": 0}


@dataclass(frozen=True)
class FunctionView:
    name: str
    doc: str
    root: bool  # the profile's own function (node, path, out) rather than a value's
    lines: tuple[str, ...]
    element_id: str = ""  # orders the functions as the profile's elements


@dataclass(frozen=True)
class ConstantView:
    name: str
    expression: str
    annotation: str


@dataclass(frozen=True)
class GroupView:
    name: str
    type: str
    path: str
    checks: tuple[str, ...]


@dataclass(frozen=True)
class EntryView:
    url: str
    version: str | None
    type: str
    name: str
    rules: str  # the Rules constant
    function: str


@dataclass(frozen=True)
class ProfilePackageView:
    header: tuple[str, ...]
    entries: tuple[EntryView, ...]
    rules: tuple[ConstantView, ...]
    functions: tuple[FunctionView, ...]
    slicings: tuple[ConstantView, ...]
    value_sets: tuple[ConstantView, ...]
    invariant_functions: tuple[str, ...]
    groups: tuple[GroupView, ...]


def _identifier(text: str) -> str:
    """*text* with every character a Python name cannot hold made ``_``, checked."""
    name = re.sub(r"[^0-9A-Za-z_]", "_", text)
    naming.check_identifier(name.replace("_", "a"), "profile function name")
    return name


def _base_element(model: Model, base_path: str) -> Element | None:
    owner, _, name = base_path.rpartition(".")
    try:
        return model.type(owner).element(name.removesuffix("[x]"))
    except KeyError:
        return None


def _json_names(element: Element) -> tuple[str, ...]:
    return tuple(name for name, _type in element.json_names())


def _targets(types: tuple[TypeRef, ...]) -> frozenset[str]:
    return frozenset(t for ref in types if ref.code in _REFERENCE_TYPES for t in ref.target_types)


@dataclass
class _Builder:
    model: Model
    profile: Profile
    rules: str
    functions: list[FunctionView] = field(default_factory=list)
    slicings: list[ConstantView] = field(default_factory=list)
    value_sets: dict[str, str] = field(default_factory=dict)  # URL -> constant name
    invariant_functions: list[str] = field(default_factory=list)
    groups: list[GroupView] = field(default_factory=list)
    names: set[str] = field(default_factory=set)

    # -- names

    def _name(self, prefix: str, element: Element) -> str:
        tail = element.element_id.split(".", 1)[1] if "." in element.element_id else ""
        name = _identifier(f"{prefix}{self.profile.name}" + (f"_{tail}" if tail else "")
                           .replace(":", "__"))
        if name in self.names:
            raise IRError(f"profile {self.profile.url}: two elements are both named {name}")
        self.names.add(name)
        return name

    def _fail(self, element: Element, why: str) -> IRError:
        return IRError(f"profile {self.profile.url}, {element.element_id}: {why}")

    # -- facts of one element's values

    def _own_lines(self, element: Element, base: Element | None) -> list[str]:
        lines: list[str] = []
        if element.fixed is not None:
            lines.append(f"{self.rules}.fixed(node, path, out, {self._literal(element, element.fixed[1])})")
        if element.pattern is not None:
            lines.append(f"{self.rules}.pattern(node, path, out, {self._literal(element, element.pattern[1])})")
        binding = element.binding
        if binding and binding.value_set and binding.strength in ("required", "extensible"):
            old = base.binding if base is not None else None
            if (old is None or old.value_set != binding.value_set
                    or _STRENGTH.get(old.strength, 0) < _STRENGTH[binding.strength]):
                constant = self._value_set(binding.value_set)
                lines.append(f"{self.rules}.binding(node, path, out, {constant}, "
                             f"{py_literal(binding.strength)})")
        targets = _targets(element.types)
        if targets and "Resource" not in targets:
            old_targets = _targets(base.types) if base is not None else frozenset()
            if not old_targets or "Resource" in old_targets or targets < old_targets:
                allowed = "frozenset({" + ", ".join(py_literal(t) for t in sorted(targets)) + "})"
                lines.append(f"{self.rules}.targets(node, path, out, {allowed})")
        return lines

    def _literal(self, element: Element, value: object) -> str:
        try:
            return py_literal(value)
        except TypeError as exc:
            raise self._fail(element, f"fixed/pattern value cannot be written: {exc}") from exc

    def _value_set(self, url: str) -> str:
        if url not in self.value_sets:
            found = next((vs for vs in self.profile.value_sets if vs.url == url), None)
            name = f"PVS_{self.profile.name}_{len(self.value_sets) + 1}"
            self.value_sets[url] = name
            if found is None:  # pragma: no cover - build_profiles lists every bound value set
                raise IRError(f"profile {self.profile.url}: value set {url} was not read")
        return self.value_sets[url]

    # -- an element in its parent's function

    def _element_lines(self, element: Element) -> list[str]:
        base = _base_element(self.model, element.base_path)
        names = _json_names(element)
        label = f"{element.name}[x]" if element.is_choice else element.name
        lines: list[str] = []
        base_min = element.base_min if element.base_min is not None else element.min
        narrower_max = element.max is not None and (element.base_max is None
                                                    or element.max < element.base_max)
        if element.min > base_min or narrower_max:
            maximum = "None" if element.max is None else str(element.max)
            lines.append(f"{self.rules}.card(node, {py_literal(names)}, {py_literal(label)}, "
                         f"path, out, {element.min}, {maximum})")
        if element.is_choice and base is not None and set(_json_names(base)) - set(names):
            lines.append(f"{self.rules}.types(node, {py_literal(element.name)}, "
                         f"{py_literal(names)}, path, out)")
        function = self._function(element, base)
        if function is not None:
            lines.extend(f"{self.rules}.each(node, {py_literal(n)}, path, out, {function})"
                         for n in names)
        slices = self.profile.slices(element.element_id)
        if slices:
            constant = self._slicing(element, slices)
            lines.append(f"{self.rules}.slices(node, {py_literal(names[0])}, path, out, "
                         f"{constant})")
        group = self._invariants(element, base)
        if group is not None:
            lines.extend(f"{group}.check_element(node, {py_literal(n)}, path, out)"
                         for n in names)
        return lines

    def _function(self, element: Element, base: Element | None, root: bool = False) -> str | None:
        """The function checking each value of *element*, or None when it has nothing to check."""
        lines = [] if root else self._own_lines(element, base)
        if root:
            group = self._invariants(element, base)
            if group is not None:
                lines.append(f"{group}.check(node, path, out)")
        for child in self.profile.children(element.element_id):
            lines.extend(self._element_lines(child))
        if not lines:
            return None
        name = self._name("p_" if not root else "validate_", element)
        self.functions.append(FunctionView(name, self._doc(element, root), root, tuple(lines),
                                           element.element_id))
        return name

    def _doc(self, element: Element, root: bool) -> str:
        if not root:
            return docstring(f"{element.element_id} in {self.profile.name}: "
                             f"{element.short or element.name}")
        title = self.profile.title or self.profile.name
        rows = [f"{title} ({self.profile.url}), a profile of {self.profile.type}.",
                self.profile.description or ""]
        table = []
        for e in self.profile.elements[1:]:
            if e.must_support or (e.min, e.max) != (e.base_min, e.base_max) or e.slicing \
                    or e.slice_name or e.fixed or e.pattern:
                flags = " (must support)" if e.must_support else ""
                maximum = "*" if e.max is None else str(e.max)
                table.append(f"* {e.element_id} {e.min}..{maximum}{flags}")
        doc = docstring("\n\n".join(r for r in rows if r))
        return doc + ("\n\nConstrained and must-support elements:\n\n" + "\n".join(
            docstring(line, width=200) for line in table) if table else "")

    # -- slicing

    def _slicing(self, element: Element, slices: tuple[Element, ...]) -> str:
        slicing = element.slicing
        if slicing is None:
            raise self._fail(element, "has slices but no slicing")
        items = []
        for slice_ in slices:
            match = tuple(self._discriminator(slice_, kind, path)
                          for kind, path in slicing.discriminators)
            check = self._function(slice_, _base_element(self.model, slice_.base_path))
            maximum = "None" if slice_.max is None else str(slice_.max)
            items.append(f"Slice({py_literal(slice_.slice_name)}, {slice_.min}, {maximum}, "
                         f"({''.join(m + ', ' for m in match)}), {check})")
        name = self._name("SLICING_", element)
        expression = (f"Slicing({py_literal(element.path)}, {py_literal(slicing.rules)}, "
                      f"{slicing.ordered}, ({''.join(i + ', ' for i in items)}))")
        self.slicings.append(ConstantView(name, expression, "Slicing"))
        return name

    def _discriminator(self, slice_: Element, kind: str, path: str) -> str:
        if not _PATH.match(path):
            raise self._fail(slice_, f"discriminator path {path!r} is not supported")
        resolve = path.endswith("resolve()")
        inner = path.removesuffix("resolve()").rstrip(".")
        target = slice_
        for step in [] if inner in ("", "$this") else inner.split("."):
            if step.startswith(("ofType(", "extension(")):
                raise self._fail(slice_, f"discriminator path {path!r}: only dotted names "
                                 "reach the slice's values here")
            found = next((c for c in self.profile.children(target.element_id)
                          if c.name == step), None)
            if found is None:
                raise self._fail(slice_, f"discriminator path {path!r}: no element {step!r}")
            target = found
        if kind in ("value", "pattern"):
            if target.fixed is not None:
                return f"('fixed', {py_literal(path)}, {self._literal(target, target.fixed[1])})"
            if target.pattern is not None:
                return f"('pattern', {py_literal(path)}, {self._literal(target, target.pattern[1])})"
            raise self._fail(slice_, f"no fixed or pattern value at discriminator path {path!r}")
        if kind == "exists":
            if target.min >= 1:
                return f"('exists', {py_literal(path)}, True)"
            if target.max == 0:
                return f"('exists', {py_literal(path)}, False)"
            raise self._fail(slice_, f"exists discriminator at {path!r} needs min 1 or max 0")
        if kind == "type":
            codes = (sorted(_targets(target.types)) if resolve
                     else sorted({t.code for t in target.types}))
            return f"('type', {py_literal(path)}, {py_literal(tuple(codes))})"
        if kind == "profile":
            urls = sorted({u for t in target.types
                           for u in (t.target_profiles if resolve else t.profiles)})
            if not urls:
                raise self._fail(slice_, f"profile discriminator at {path!r}: no profile")
            return f"('profile', {py_literal(path)}, {py_literal(tuple(urls))})"
        raise self._fail(slice_, f"discriminator type {kind!r} is not supported")

    # -- invariants

    def _invariants(self, element: Element, base: Element | None) -> str | None:
        if element.slice_name:
            return None  # slices' own constraints: not generated (see the README's gaps)
        if base is None and element is self.profile.root:
            base_keys = {c.key for c in self.model.type(self.profile.type).constraints}
        else:
            base_keys = {c.key for c in base.constraints} if base is not None else set()
        added = [c for c in element.constraints if c.key not in base_keys and c.expression]
        if not added:
            return None
        checks = []
        for constraint in added:
            assert constraint.expression is not None
            compiled = compile_constraint(
                constraint.key, constraint.expression, element.path, self.model,
                severity=constraint.severity, human=constraint.human,
            )
            if compiled.value_sets:
                raise self._fail(element, f"{constraint.key}: memberOf() is not supported in "
                                 "profile invariants yet")
            name = _identifier(f"{compiled.name}__{self.profile.name}")
            self.invariant_functions.append(
                compiled.source.replace(f"def {compiled.name}(", f"def {name}(", 1))
            human = " ".join(constraint.human.split())
            checks.append(f"Invariant({name}, {py_literal(constraint.key)}, "
                          f"{py_literal(constraint.severity)}, "
                          f"{py_literal(f'{human} (from {self.profile.url})')}"
                          + (", uses_resolve=True" if compiled.uses_resolve else "") + ")")
        group = self._name("PINV_", element)
        type_code = element.types[0].code if element.types else self.profile.type
        self.groups.append(GroupView(group, type_code, element.path, tuple(checks)))
        return group


def build_profile_views(model: Model, profiles: tuple[Profile, ...],
                        header: tuple[str, ...]) -> ProfilePackageView:
    entries: list[EntryView] = []
    rules: list[ConstantView] = []
    functions: list[FunctionView] = []
    slicings: list[ConstantView] = []
    value_sets: list[ConstantView] = []
    invariant_functions: list[str] = []
    groups: list[GroupView] = []
    for profile in sorted(profiles, key=lambda p: p.url):
        if profile.type not in model.type_names():
            raise IRError(f"profile {profile.url} constrains {profile.type}, which is not "
                          "generated (add it to the targets)")
        rules_name = _identifier(f"R_{profile.name}")
        builder = _Builder(model, profile, rules_name)
        function = builder._function(profile.root, None, root=True)
        if function is None:  # nothing beyond the base: the base validator says it all
            function = builder._name("validate_", profile.root)
            builder.functions.append(FunctionView(function, builder._doc(profile.root, True),
                                                  True, ("pass",)))
        entries.append(EntryView(profile.url, profile.version, profile.type, profile.name,
                                 rules_name, function))
        rules.append(ConstantView(rules_name, f"Rules({py_literal(profile.url)}, "
                                  f"{py_literal(profile.version)})", "Rules"))
        order = {e.element_id: i for i, e in enumerate(profile.elements)}
        functions.extend(sorted(builder.functions, key=lambda f: order.get(f.element_id, 0)))
        slicings.extend(builder.slicings)
        invariant_functions.extend(builder.invariant_functions)
        groups.extend(builder.groups)
        by_url = {vs.url: vs for vs in profile.value_sets}
        value_sets.extend(
            ConstantView(name, value_set_expression(by_url[url]), "ValueSet")
            for url, name in builder.value_sets.items()
        )
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise IRError("two profiles have the same name: " + ", ".join(sorted(names)))
    return ProfilePackageView(
        header=header,
        entries=tuple(entries),
        rules=tuple(rules),
        functions=tuple(functions),
        slicings=tuple(slicings),
        value_sets=tuple(value_sets),
        invariant_functions=tuple(invariant_functions),
        groups=tuple(groups),
    )

