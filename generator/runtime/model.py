"""The base of every generated model: parsing from and serialising to FHIR JSON trees, written once.

Generated classes are dataclasses that state facts only: their attributes, and a ``_fields`` tuple
of :class:`Field` (one per JSON property, in specification order, inherited ones first). The
algorithms here walk ``_fields``:

* :meth:`FhirModel.from_tree` builds a model from a parsed JSON tree (a dict). Properties the model
  does not know are not kept; the validator, which walks the tree as received, reports them.
* :meth:`FhirModel.to_tree` gives the FHIR JSON tree back: specification order, no empty arrays or
  objects, ``_name`` objects for primitive extensions (with ``null`` placeholders in arrays),
  decimals as :class:`~decimal.Decimal` so their written precision survives, ``integer64`` as a
  JSON string.

Resources can also be converted to and from fhir.resources models (an optional dependency).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Self

from . import jsonio

__all__ = [
    "COMPLEX",
    "PRIMITIVE",
    "RESOURCE",
    "FhirModel",
    "Field",
    "ModelError",
    "ResourceRegistry",
    "UnknownResource",
]

_INTEGER64 = re.compile(r"(0|[-+]?[1-9][0-9]*)\Z")

PRIMITIVE = 0
COMPLEX = 1
RESOURCE = 2


class ModelError(ValueError):
    """A tree that cannot become a model (wrong shape for a property, unknown resource type)."""


@dataclass(frozen=True, slots=True)
class Field:
    """How one JSON property maps to one attribute."""

    json_name: str
    attr: str
    kind: int  # PRIMITIVE | COMPLEX | RESOURCE
    is_list: bool
    model: type[FhirModel] | None = None  # class of COMPLEX values, of ``_name`` for PRIMITIVE
    primitive: str | None = None  # FHIR primitive type code of PRIMITIVE values
    ext_attr: str | None = None  # attribute of the ``_name`` extension object(s)
    resources: ResourceRegistry | None = None  # the resource classes of RESOURCE values


class ResourceRegistry:
    """The resource classes of one generated package, by ``resourceType``, imported on first use.

    Each generated package has its own (``_registry.RESOURCES``); nothing is global, so several
    generated packages (say the ImagingSelection closure and the whole core) can live side by side.
    """

    __slots__ = ("_classes", "_modules", "_package")

    def __init__(self, package: str, modules: dict[str, tuple[str, str]]) -> None:
        self._package = package
        self._modules = modules  # resourceType -> (module, class name)
        self._classes: dict[str, type[FhirModel]] = {}

    def __contains__(self, resource_type: object) -> bool:
        return resource_type in self._modules

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def get(self, resource_type: str) -> type[FhirModel] | None:
        cls = self._classes.get(resource_type)
        if cls is None:
            target = self._modules.get(resource_type)
            if target is None:
                return None
            module = importlib.import_module(f"{self._package}.{target[0]}")
            cls = self._classes[resource_type] = getattr(module, target[1])
        return cls

    def from_tree(self, tree: Any, where: str = "") -> FhirModel:
        """The model of any resource, by its ``resourceType``; unknown types are kept as is."""
        if not isinstance(tree, dict):
            raise ModelError(
                f"{where or 'resource'}: expected an object, got {type(tree).__name__}"
            )
        resource_type = tree.get("resourceType")
        if not isinstance(resource_type, str):
            raise ModelError(f"{where or 'resource'}: no resourceType")
        cls = self.get(resource_type)
        if cls is None:
            return UnknownResource(tree)
        return cls.from_tree(tree, where or resource_type)

    def from_json(
        self, data: str | bytes | bytearray | dict[str, Any], *, validate: bool = True
    ) -> FhirModel:
        """Parse any resource of this package from FHIR JSON text, bytes or a dict.

        With *validate* (the default) the input is validated first by the package's generated
        validators and :class:`~fhirgen.runtime.validate.ValidationError`, carrying the
        OperationOutcome, is raised when it has errors. ``validate=False`` builds leniently.
        """
        if validate:
            _check_valid(self._package, data)
        return self.from_tree(data if isinstance(data, dict) else jsonio.loads(data))


def _check_valid(package: str, data: Any) -> None:
    """Raise ValidationError when the package's generated validators find an error in *data*."""
    validators = _validators_module(package)
    if validators is None:
        return
    result = validators.validate(data)
    if not result.ok:
        raise validators.ValidationError(result)


_VALIDATORS: dict[str, Any] = {}


def _validators_module(package: str) -> Any:
    """The ``validators`` module generated beside the models of *package* (None if absent)."""
    if package not in _VALIDATORS:
        try:
            _VALIDATORS[package] = importlib.import_module(f"{package}.validators")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.validators":
                raise
            _VALIDATORS[package] = None
    return _VALIDATORS[package]


def _primitive_in(value: Any, primitive: str | None, where: str) -> Any:
    if primitive == "decimal":
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            raise ModelError(f"{where}: expected a number, got {type(value).__name__}")
        return value if isinstance(value, Decimal) else Decimal(str(value))
    if primitive == "integer64":
        # FHIR JSON writes integer64 as a string; a JSON integer is accepted, nothing else.
        if isinstance(value, str) and _INTEGER64.match(value):
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ModelError(f"{where}: not an integer64: {value!r}")
    if isinstance(value, (dict, list)):
        raise ModelError(f"{where}: expected a primitive value, got {type(value).__name__}")
    return value


def _primitive_out(value: Any, primitive: str | None) -> Any:
    if primitive == "integer64":
        return str(value)
    return value


def _primitive_list_out(
    tree: dict[str, Any], name: str, values: list[Any], exts: list[Any], primitive: str | None
) -> None:
    ext_trees = [None if e is None else (e.to_tree() or None) for e in exts]
    count = max(len(values), len(ext_trees))
    if any(v is not None for v in values):
        tree[name] = [
            _primitive_out(values[i], primitive)
            if i < len(values) and values[i] is not None
            else None
            for i in range(count)
        ]
    if any(e is not None for e in ext_trees):
        tree["_" + name] = [ext_trees[i] if i < len(ext_trees) else None for i in range(count)]


def _complex_in(value: Any, field: Field, where: str) -> FhirModel:
    if not isinstance(value, dict):
        raise ModelError(f"{where}: expected an object, got {type(value).__name__}")
    if field.kind == RESOURCE:
        assert field.resources is not None
        return field.resources.from_tree(value, where)
    assert field.model is not None
    return field.model.from_tree(value, where)


class FhirModel:
    """Base of generated models (the generated classes are ``@dataclass(slots=True, kw_only=True)``)."""

    __slots__ = ()
    _fields: ClassVar[tuple[Field, ...]] = ()
    resource_type: ClassVar[str | None] = None

    # ------------------------------------------------------------------------------ parsing
    @classmethod
    def from_tree(cls, tree: dict[str, Any], where: str | None = None) -> Self:
        """Build from a parsed FHIR JSON object."""
        where = where or cls.__name__
        if not isinstance(tree, dict):
            raise ModelError(f"{where}: expected an object, got {type(tree).__name__}")
        values: dict[str, Any] = {}
        for field in cls._fields:
            raw = tree.get(field.json_name)
            ext = tree.get("_" + field.json_name) if field.ext_attr else None
            path = f"{where}.{field.json_name}"
            if field.is_list:
                if raw is not None and not isinstance(raw, list):
                    raise ModelError(f"{path}: expected an array")
                if ext is not None and not isinstance(ext, list):
                    raise ModelError(f"{where}._{field.json_name}: expected an array")
                items = raw or []
                if field.kind == PRIMITIVE:
                    exts = ext or []
                    count = max(len(items), len(exts))
                    values[field.attr] = [
                        None
                        if i >= len(items) or items[i] is None
                        else _primitive_in(items[i], field.primitive, f"{path}[{i}]")
                        for i in range(count)
                    ]
                    if field.ext_attr and exts:
                        values[field.ext_attr] = [
                            None
                            if i >= len(exts) or exts[i] is None
                            else _element(exts[i], field, f"{where}._{field.json_name}[{i}]")
                            for i in range(count)
                        ]
                else:
                    values[field.attr] = [
                        _complex_in(item, field, f"{path}[{i}]") for i, item in enumerate(items)
                    ]
            else:
                if raw is not None:
                    if field.kind == PRIMITIVE:
                        values[field.attr] = _primitive_in(raw, field.primitive, path)
                    else:
                        values[field.attr] = _complex_in(raw, field, path)
                if field.ext_attr and ext is not None:
                    values[field.ext_attr] = _element(ext, field, f"{where}._{field.json_name}")
        return cls(**values)

    @classmethod
    def from_json(
        cls, data: str | bytes | bytearray | dict[str, Any], *, validate: bool = True
    ) -> Self:
        """Build from FHIR JSON text, UTF-8 bytes or an already parsed dict.

        Models are built from validated input: for a resource, with *validate* (the default), the
        generated validators run first and :class:`~fhirgen.runtime.validate.ValidationError`,
        whose ``result.outcome()`` is the OperationOutcome, is raised when they find an error.
        ``validate=False`` builds leniently (unknown properties are then not kept).
        """
        tree = data if isinstance(data, dict) else jsonio.loads(data)
        if cls.resource_type is not None:
            found = tree.get("resourceType") if isinstance(tree, dict) else None
            if found != cls.resource_type:
                raise ModelError(f"expected resourceType {cls.resource_type!r}, got {found!r}")
            if validate:
                _check_valid(cls.__module__.rpartition(".")[0], data)
        return cls.from_tree(tree)

    # --------------------------------------------------------------------------- serialising
    def to_tree(self) -> dict[str, Any]:
        """The FHIR JSON tree of this model (``Decimal`` for decimals).

        Empty objects and arrays are left out; a primitive array and its ``_name`` array are
        written with the same length, ``null`` where one side has nothing.
        """
        tree: dict[str, Any] = {}
        if self.resource_type is not None:
            tree["resourceType"] = self.resource_type
        for field in self._fields:
            value = getattr(self, field.attr)
            ext = getattr(self, field.ext_attr) if field.ext_attr else None
            name = field.json_name
            if field.is_list:
                if field.kind == PRIMITIVE:
                    _primitive_list_out(tree, name, value, ext or [], field.primitive)
                else:
                    items = [t for t in (item.to_tree() for item in value) if t]
                    if items:
                        tree[name] = items
            else:
                if value is not None:
                    out = (
                        _primitive_out(value, field.primitive)
                        if field.kind == PRIMITIVE
                        else value.to_tree()
                    )
                    if out != {}:
                        tree[name] = out
                if ext is not None:
                    ext_tree = ext.to_tree()
                    if ext_tree:
                        tree["_" + name] = ext_tree
        return tree

    def to_json(self, indent: int | None = None) -> str:
        """FHIR JSON text."""
        return jsonio.dumps(self.to_tree(), indent=indent)

    def __repr__(self) -> str:
        shown = []
        for field in self._fields:
            for attr in (field.attr, field.ext_attr):
                if attr is not None:
                    value = getattr(self, attr)
                    if value is not None and value != []:
                        shown.append(f"{attr}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # ---------------------------------------------------------------------- fhir.resources
    def to_fhir_resources(self) -> Any:
        """The equivalent fhir.resources model (needs ``pip install fhirgen[fhir-resources]``)."""
        if self.resource_type is None:
            raise ModelError("only resources convert to fhir.resources models")
        try:
            from fhir.resources import get_fhir_model_class
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ModelError("fhir.resources is not installed") from exc
        return get_fhir_model_class(self.resource_type).model_validate_json(self.to_json())

    @classmethod
    def from_fhir_resources(cls, model: Any) -> Self:
        """Build from a fhir.resources model of the same resource type."""
        return cls.from_json(model.model_dump_json(exclude_none=True), validate=False)


def _element(tree: Any, field: Field, where: str) -> FhirModel:
    """The ``Element`` model of a primitive's ``_name`` object."""
    if not isinstance(tree, dict):
        raise ModelError(f"{where}: expected an object, got {type(tree).__name__}")
    assert field.model is not None
    return field.model.from_tree(tree, where)


class UnknownResource(FhirModel):
    """A resource whose type has no generated model: kept as received, so nothing is lost."""

    __slots__ = ("tree",)

    def __init__(self, tree: dict[str, Any]) -> None:
        self.tree = tree

    def to_tree(self) -> dict[str, Any]:
        return self.tree

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnknownResource) and other.tree == self.tree

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"UnknownResource(resourceType={self.tree.get('resourceType')!r})"
