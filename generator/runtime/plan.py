"""Plans: the generated validators as data, for the compiled walk (``fhirgen.runtime._accel``).

Each generated validator (``validate_X(node, path, out)``) is also written as a plan,
``PLANS['X'] = (validate_X, KEYS_X, ops)``: the same statements, in the same order, as tuples
the C walk interprets. Every judgement stays with the Python helpers: where the generated code
calls a helper, the plan names that call (the callable, its arguments and keyword arguments),
with slots for what the walk has in hand: :data:`NODE` (the object), :data:`PATH` (its
location), :data:`OUT` (the issue list), :data:`VALUE` (the value or item at hand) and
:data:`AT` (that value's location). The walk only takes the happy paths the generated code takes
inline (a present value its fast check accepts, a good object handed to its type's plan) and
makes every call the Python code would make, with the same arguments, in the same order: its
issues are the Python validators' by construction, and tests hold the two equal.

Ops (first item the kind):

* ``('call', name, twin, (fn, args, kwargs))``: the call, when *name* (or *twin*) is in the
  object; always when *name* is None.
* ``('prim', name, optional, twin, fast, primitive, codes, array, minimum, maximum, call)``: a
  primitive element whose fast test is inlined (*fast*: ``'bool'``, ``'decimal'``, ``'str'``
  (``primitive.fast``) or ``('int', low, high)``; *codes* the expanded value set's codes or
  None), else the helper *call*.
* ``('object', name, optional, shown, type, after, call)`` and
  ``('array', name, optional, shown, type, maximum, after, odd, call)``: a complex element; a good
  object goes to *type*'s plan at ``(path, shown)`` (an array's items at ``((path, shown), i)``),
  then *after* (a call, or None); an odd item to *odd*; anything else to *call*.
* ``('root', passes, check)``: ``check(node, path, out)`` unless ``passes(node) is True``.

One helper is made in C too, in its usual case: ``unchecked`` (the information issue of a Coding
bound to a value set that cannot be expanded offline, on every DICOM instance's SOP Class), when
the item is a plain Coding and the issue list a bounded one with room, exactly as the Python
function appends it; otherwise the function is called.

A node that is not exactly a ``dict`` goes to the plan's Python validator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from .accel import ACCEL
from .issues import Issue
from .validate import _BoundedIssues, check_keys, unchecked

__all__ = ["AT", "NODE", "OUT", "PATH", "VALUE", "Plan", "compile_plans"]

Plan = tuple[Callable[..., None], frozenset[str], tuple[tuple[Any, ...], ...]]


class _Slot:
    """A placeholder in a plan's call, filled in by the walk."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NODE = _Slot("NODE")
PATH = _Slot("PATH")
OUT = _Slot("OUT")
VALUE = _Slot("VALUE")
AT = _Slot("AT")


def compile_plans(plans: Mapping[str, Plan],
                  validators: MutableMapping[str, Callable[..., None]]) -> bool:
    """Replace the resource validators of *validators* by their compiled walks, when the
    extension is built (and not switched off); whether it did."""
    if ACCEL is None:
        return False
    # unchecked's usual case (a plain Coding bound to a value set that cannot be expanded, an
    # issue list with room) is made in C as unchecked makes it: it is on every DICOM instance
    walks = ACCEL.compile(plans, (NODE, PATH, OUT, VALUE, AT), check_keys, unchecked,
                          _BoundedIssues, Issue)
    for resource_type in list(validators):
        if resource_type in walks:
            validators[resource_type] = walks[resource_type]
    return True
