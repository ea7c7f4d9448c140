"""The FHIRPath abstract syntax tree: frozen, side-effect-free nodes the parser builds.

An expression is one of these nodes; children are nodes too. ``source`` of :class:`Member` and
:class:`Call` is the expression they are invoked on, or ``None`` for the focus (``name`` alone
is ``$this.name``, ``exists()`` alone is ``$this.exists()``). Type specifiers (``is Quantity``,
``as FHIR.string``) are kept as their dotted text. Literals keep their written text where it
carries precision (decimals, dates, times): the compiler turns them into runtime values.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Binary",
    "Call",
    "Expr",
    "External",
    "Indexer",
    "Literal",
    "Member",
    "TypeOp",
    "Unary",
    "Variable",
]


@dataclass(frozen=True, slots=True)
class Literal:
    """``{}`` (kind ``empty``), ``true``, ``'text'``, ``12``, ``12L``, ``1.5``, ``@2020-01``,
    ``@2020-01-01T10:00``, ``@T10:00``, ``5 'mg'``, ``3 days``.

    ``value`` is the literal's text without quotes and escapes resolved for strings, the written
    text for numbers, dates and times (``2020-01``, without ``@``), and the number for
    quantities, whose ``unit`` is the UCUM code or calendar keyword.
    """

    kind: str  # empty boolean string integer long decimal date datetime time quantity
    value: str
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Member:
    """``source.name`` (or ``name`` on the focus): navigation to a child element."""

    source: Expr | None
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    """``source.name(args)`` (or ``name(args)`` on the focus)."""

    source: Expr | None
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Indexer:
    """``source[index]``."""

    source: Expr
    index: Expr


@dataclass(frozen=True, slots=True)
class Variable:
    """``$this``, ``$index``, ``$total`` (``name`` without the ``$``)."""

    name: str


@dataclass(frozen=True, slots=True)
class External:
    """``%resource``, ``%rootResource``, ``%context``, ``%ucum``, ``%`vs-name```, ... (no ``%``)."""

    name: str


@dataclass(frozen=True, slots=True)
class Unary:
    """``-x``, ``+x``."""

    op: str
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    """Every binary operator: ``* / div mod + - & | < > <= >= = != ~ !~ in contains and or xor
    implies``."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class TypeOp:
    """``operand is Type``, ``operand as Type`` (``type_name`` as written, maybe qualified)."""

    op: str  # is | as
    operand: Expr
    type_name: str


Expr = Literal | Member | Call | Indexer | Variable | External | Unary | Binary | TypeOp
