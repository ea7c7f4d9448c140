"""Types of the compiled accelerator (``generator/runtime/c-accel/``; see fhirgen.runtime.accel)."""

from collections.abc import Callable, Mapping
from typing import Any

class Matcher:
    """A primitive's fast check as a DFA (fhirgen.regex_dfa's tables)."""

    tables: tuple[Any, ...]

    def __init__(self, tables: tuple[Any, ...]) -> None: ...
    def __call__(self, value: object) -> bool: ...
    def all(self, values: list[Any]) -> bool: ...

class Walker:
    """A generated validator's compiled walk (fhirgen.runtime.plan)."""

    python: Callable[..., None]

    def __call__(self, node: dict[str, Any], path: Any, out: Any) -> None: ...

def compile(
    plans: Mapping[str, Any],
    slots: tuple[Any, Any, Any, Any, Any],
    check_keys: Callable[..., None],
    unchecked: Callable[..., None] | None = ...,
    bounded: type | None = ...,
    issue: type | None = ...,
    /,
) -> dict[str, Walker]: ...
def vouch(tree: Any, raw: bytes | bytearray, max_depth: int | None, /) -> bool | None: ...
def location(python_location: Callable[[Any], str], loc: Any, /) -> str: ...
def reach(
    python_reach: Callable[[dict[str, Any], tuple[str, ...]], int | None],
    data: dict[str, Any],
    names: tuple[str, ...],
    /,
) -> int | None: ...
