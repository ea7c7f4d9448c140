"""Every Python name the generator emits, decided here and nowhere else.

* Classes: a type keeps its FHIR name (``ImagingSelection``, ``Coding``); a backbone element is
  named by its path with each segment capitalised (``ImagingSelection.instance.imageRegion2D`` ->
  ``ImagingSelectionInstanceImageRegion2D``), the way fhir.resources and the FHIR tooling name them.
* Attributes keep the FHIR JSON property name (``studyUid``, ``valueQuantity``); a Python keyword
  gets a trailing underscore (``class`` -> ``class_``). A primitive's extension object
  (``_status`` in JSON) is ``status_ext``: FHIR names never contain ``_``, so this cannot collide.
* Modules: lower-case type name (``imagingselection.py``); all complex datatypes share
  ``datatypes.py``; value set code types live in ``valuesets.py``.
* Value set literal types: the ValueSet's ``name`` (``ImagingSelectionStatus``), suffixed with
  ``Code`` if that would collide with a class.

Names coming from definitions are untrusted text: :func:`check_identifier` refuses anything that is
not a plain identifier, so no definition can inject code through a name.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable

__all__ = [
    "NamingError",
    "attribute_name",
    "check_identifier",
    "class_name",
    "extension_attribute",
    "invariant_function_name",
    "module_name",
    "value_set_type_name",
]

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9]*\Z")
_SOFT_RESERVED = frozenset({"match", "case", "type", "_"})


class NamingError(Exception):
    """A name from the definitions that cannot become a Python identifier, or a collision."""


def check_identifier(name: str, what: str) -> str:
    """Return *name* if it is a plain ASCII FHIR name (letters and digits), else refuse it."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise NamingError(f"{what} {name!r} is not a valid FHIR name (letters and digits only)")
    return name


def _capitalise(segment: str) -> str:
    return segment[:1].upper() + segment[1:]


def class_name(type_name: str) -> str:
    """Class name of a type (``Coding``) or backbone path (``ImagingSelection.instance``)."""
    segments = type_name.split(".")
    for segment in segments:
        check_identifier(segment.replace("[x]", ""), "type or element name")
    name = "".join(_capitalise(s.replace("[x]", "")) for s in segments)
    return name + "_" if keyword.iskeyword(name) else name


def attribute_name(json_name: str) -> str:
    """Python attribute for a JSON property name (keywords get a trailing underscore)."""
    check_identifier(json_name, "element name")
    if keyword.iskeyword(json_name) or json_name in _SOFT_RESERVED:
        return json_name + "_"
    return json_name


def extension_attribute(json_name: str) -> str:
    """Attribute holding a primitive's ``_name`` object: ``status`` -> ``status_ext``."""
    check_identifier(json_name, "element name")
    return json_name + "_ext"


_CONSTRAINT_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-.][A-Za-z0-9]+)*\Z")


def invariant_function_name(key: str) -> str:
    """Function of a compiled invariant: ``inv_`` + its key with ``-``/``.`` as ``_``
    (``ele-1`` -> ``inv_ele_1``, ``sdf-8a`` -> ``inv_sdf_8a``); a key of other characters is
    refused (it would not be a name, or two keys could meet in one)."""
    if not isinstance(key, str) or not _CONSTRAINT_KEY.match(key):
        raise NamingError(f"constraint key {key!r} is not letters and digits joined by - or .")
    return "inv_" + key.replace("-", "_").replace(".", "_")


def module_name(type_name: str) -> str:
    """Module of a resource type (``ImagingSelection`` -> ``imagingselection``)."""
    check_identifier(type_name, "type name")
    name = type_name.lower()
    if keyword.iskeyword(name):
        name += "_"
    return name


def value_set_type_name(vs_name: str | None, url: str, taken: Iterable[str]) -> str:
    """Name of the ``Literal`` type of a value set's codes."""
    base = vs_name if vs_name and _IDENTIFIER.match(vs_name) else None
    if base is None:
        tail = re.sub(r"[^A-Za-z0-9]+", " ", url.rsplit("/", 1)[-1]).title().replace(" ", "")
        base = tail if tail and tail[0].isalpha() else "ValueSet" + tail
    base = _capitalise(base)
    taken_set = set(taken) | set(keyword.kwlist)  # `None = Literal[...]` would not compile
    name = base
    if name in taken_set:
        name = base + "Code"
    if name in taken_set:
        raise NamingError(f"value set {url}: name {base!r} collides with another name")
    return name


def check_unique(names: Iterable[tuple[str, str]]) -> None:
    """Refuse two different sources that map to one Python name (``(name, source)`` pairs)."""
    seen: dict[str, str] = {}
    for name, source in names:
        if name in seen and seen[name] != source:
            raise NamingError(f"{source} and {seen[name]} both become {name!r}")
        seen[name] = source
