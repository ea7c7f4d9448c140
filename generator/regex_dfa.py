"""Regular expressions as deterministic automata over Unicode code points (used at generation
time): the tables of the compiled fast checks of the primitive types.

:func:`compile_dfa` gives the DFA of ``re.fullmatch(pattern, s, flags)`` for ``str`` subjects,
or ``None`` when the pattern uses anything it cannot translate exactly (the caller then keeps
the Python regex). The pattern is parsed by Python's own parser (``re._parser``), so every
character class means what ``re`` makes of it: ``\\s``, ``\\d``, ``\\w`` and their negations are
read off ``re`` itself (over every code point, Unicode-aware unless ``re.ASCII``), ``[^...]``,
ranges, literals, ``.`` (every code point with ``re.DOTALL``, all but ``\\n`` without).

Translated exactly:

* literals, classes, ``.``, alternation, groups (capturing or not; scoped flags other than
  ``i``), greedy and lazy repeats, bounded (bounds up to :data:`REPEAT_LIMIT`) or not: laziness
  and capture change which match is found, never whether ``fullmatch`` finds one;
* lookaheads at the start of the pattern (before any character is consumed): ``(?=X)`` holds
  when the string has a prefix matching X, ``(?!X)`` when it has none; a ``\\Z`` (or ``$``)
  ending a branch of X anchors that branch to the end of the string. Each lookahead becomes an
  automaton of its own (the prefix language: X followed by anything, or X up to the end) and the
  result is their product with the main pattern's (intersection with ``(?=``, difference with
  ``(?!``);
* ``^`` and ``\\A`` where nothing can have been consumed; ``$`` and ``\\Z`` where nothing follows
  (in the main pattern they are then always true under ``fullmatch``);
* one huge bounded repeat of a single character, when it is the whole main pattern
  (``[^...]{1,1048576}``): ``X{m,}`` plus a maximum length the matcher checks first.

Not translated (``None``): lookbehinds, lookaheads elsewhere or nested, backreferences and
conditionals, ``\\b``/``\\B``, other anchors in mid-pattern (``a\\Zb``), atomic groups and
possessive repeats, ``re.IGNORECASE``, other bounded repeats above :data:`REPEAT_LIMIT`, and
automata above :data:`MAX_NFA_STATES` / :data:`MAX_DFA_STATES`.

The automaton is minimised (Moore's partition refinement) and numbered in breadth-first order
from its start state (so the same pattern always gives the same tables). The code points
0..0x10FFFF (surrogates included: Python strings may hold lone ones) are cut into ranges at every
boundary of every class of the pattern; ranges on which every state moves alike share one
*class*. The tables are a plain literal (ints, tuples and bytes only), printed with ``repr`` into
generated code and read by ``fhirgen.runtime._accel.Matcher``::

    (FORMAT,            # 1, the version of this layout
     unicode_version,   # bytes: unicodedata.unidata_version the classes were read with, when a
                        #   class depends on the Unicode database (\\s, \\d, \\w ...); b"" if none
     max_len,           # int: strings longer than this are rejected first; -1 for no limit
     start,             # int: the start state
     accepting,         # bytes: accepting[q] == 1 when state q accepts, else 0 (len = states)
     starts,            # tuple[int, ...]: the first code point of each range, ascending,
                        #   starts[0] == 0 (range i runs up to starts[i + 1] - 1, or 0x10FFFF)
     classes,           # bytes: classes[i] is the class of range i (classes = max(classes) + 1)
     transitions)       # bytes: the state after q on class c at entry q * classes + c, one byte
                        #   per entry up to 256 states, else two (little-endian)

A string is accepted when its length is within ``max_len`` and the state reached from ``start``
through the class of each code point is accepting. Whoever builds a matcher from the tables of a
``unicode_version`` other than its own Python's must not (the classes may differ):
``fhirgen.runtime.primitives.Primitive`` then keeps the regex.
"""

from __future__ import annotations

import bisect
import functools
import importlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from .runtime.primitives import Tables

__all__ = [
    "FORMAT",
    "MAX_DFA_STATES",
    "MAX_NFA_STATES",
    "REPEAT_LIMIT",
    "Tables",
    "compile_dfa",
    "compile_search_dfa",
]

_parser: Any = importlib.import_module("re._parser")
_c: Any = importlib.import_module("re._constants")

FORMAT = 1
#: Bounded repeats up to this many copies are expanded; a larger bound is refused except for the
#: one huge repeat of a single character that is the whole main pattern (a maximum length).
REPEAT_LIMIT = 256
MAX_NFA_STATES = 20000
MAX_DFA_STATES = 4096
MAX_CODE_POINT = 0x10FFFF

Ranges = tuple[tuple[int, int], ...]  # inclusive (low, high), ascending, disjoint, not adjacent

_ALL: Ranges = ((0, MAX_CODE_POINT),)
_UNSUPPORTED_FLAGS = re.IGNORECASE | re.LOCALE


class _Unsupported(Exception):
    """The pattern uses something this module does not translate exactly."""


def compile_dfa(pattern: str, flags: int = re.DOTALL) -> Tables | None:
    """The tables of the DFA of ``re.fullmatch(pattern, s, flags)`` (see the module docstring),
    or None when the pattern cannot be translated exactly. An invalid pattern raises
    ``re.error`` as ``re.compile`` would."""
    parsed = _parser.parse(pattern, flags)
    try:
        return _compile(list(parsed), parsed.state.flags)
    except _Unsupported:
        return None


def compile_search_dfa(pattern: str, flags: int = re.DOTALL) -> Tables | None:
    """The tables of a DFA accepting *s* exactly when ``re.search(pattern, s, flags)`` finds a
    match (FHIRPath's ``matches()``), for a pattern anchored at both ends; None for any other
    pattern or one :func:`compile_dfa` cannot translate. An invalid pattern raises
    ``re.error`` as ``re.compile`` would.

    The pattern, as ``re``'s parser reads it (so escapes, classes and groups are never
    misread), must be ``^X$`` at its top level: not under ``re.MULTILINE`` (in *flags* or
    inline), its first item ``^`` (or ``\\A``), its last ``$`` (or ``\\Z``), with no
    alternation at the top level (``^a|b$`` is one top-level branch: refused), and X holding
    no other anchor or lookaround (``^``, ``$``, ``\\A``, ``\\Z``, ``\\b``, ``\\B``,
    ``(?=``, ``(?!``, ``(?<=``, ``(?<!``), so that X only consumes characters. Then:

    * without ``re.MULTILINE``, ``^`` and ``\\A`` hold at position 0 only, so ``search`` finds
      a match exactly when one starts at 0 (``re.match``);
    * ``$`` without ``re.MULTILINE`` holds at the end of the string and just before a newline
      that ends it; ``\\Z`` at the end only;
    * so a match is a prefix p of s matching X with s == p or s == p + "\\n" (for ``$``; s == p
      for ``\\Z``): X runs on the same string from the same position in both, and nothing in X
      looks outside what it consumes. That is ``re.fullmatch(X\\n?, s)`` (``re.fullmatch(X, s)``
      for ``\\Z``), whose automaton :func:`compile_dfa` builds from the parsed items of X and
      one ``\\n?`` item: no text of the pattern is cut or pasted.
    """
    parsed = _parser.parse(pattern, flags)
    flags = parsed.state.flags
    items = list(parsed)
    if flags & re.MULTILINE or len(items) < 2:
        return None
    (first_op, first), (last_op, last) = items[0], items[-1]
    if first_op is not _c.AT or first not in (_c.AT_BEGINNING, _c.AT_BEGINNING_STRING):
        return None
    if last_op is not _c.AT or last not in (_c.AT_END, _c.AT_END_STRING):
        return None
    inner = items[1:-1]
    if _zero_width(inner):
        return None
    if last is _c.AT_END:  # X\n?
        inner.append((_c.MAX_REPEAT, (0, 1, [(_c.LITERAL, ord("\n"))])))
    try:
        return _compile(inner, flags)
    except _Unsupported:
        return None


def _zero_width(items: Sequence[Any]) -> bool:
    """Whether *items* hold an anchor or a lookaround anywhere (in groups, branches, repeats,
    atomic groups, conditionals: every part of an item that is itself a pattern)."""
    for op, av in items:
        if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
            return True
        if op is _c.IN:  # a character set: no patterns inside
            continue
        parts = [av]
        while parts:
            part = parts.pop()
            if isinstance(part, _parser.SubPattern):
                if _zero_width(list(part)):
                    return True
            elif isinstance(part, (list, tuple)):
                parts.extend(part)
    return False


# ------------------------------------------------------------------------------ the top level


def _compile(items: list[Any], flags: int) -> Tables:
    if flags & _UNSUPPORTED_FLAGS:
        raise _Unsupported
    lookaheads: list[tuple[bool, list[Any]]] = []  # (positive, pattern)
    while True:  # peel what stands at position 0: lookaheads, ^, \A, a group around the rest
        while items and _at_start_assertion(items[0], lookaheads):
            items = items[1:]
        if len(items) == 1 and items[0][0] is _c.SUBPATTERN and not any(items[0][1][1:3]):
            items = list(items[0][1][3])
            continue
        break
    max_len = -1
    if len(items) == 1 and items[0][0] in (_c.MAX_REPEAT, _c.MIN_REPEAT):
        low, high, body = items[0][1]
        if REPEAT_LIMIT < high < _c.MAXREPEAT and _single_character(list(body)):
            max_len = high
            items = [(items[0][0], (low, _c.MAXREPEAT, body))]

    builder = _Builder()
    automata: list[tuple[_NFA, bool | None]] = [(builder.main(items, flags), None)]
    automata.extend((builder.lookahead(look, flags), positive) for positive, look in lookaheads)
    alphabet = _Alphabet(builder.sets)
    dfas = [_determinise(nfa, alphabet) for nfa, _ in automata]
    delta, accepting = _product(dfas, [positive for _, positive in automata], alphabet.size)
    delta, accepting = _minimise(delta, accepting)
    version = unicodedata.unidata_version.encode("ascii") if builder.unicode else b""
    return _tables(delta, accepting, alphabet, version, max_len)


def _at_start_assertion(item: tuple[Any, Any], lookaheads: list[tuple[bool, list[Any]]]) -> bool:
    op, av = item
    if op is _c.AT and av in (_c.AT_BEGINNING, _c.AT_BEGINNING_STRING):
        return True  # at position 0 (even under re.MULTILINE)
    if op in (_c.ASSERT, _c.ASSERT_NOT):
        direction, pattern = av
        if direction != 1:
            raise _Unsupported  # a lookbehind
        lookaheads.append((op is _c.ASSERT, list(pattern)))
        return True
    return False


def _single_character(body: list[Any]) -> bool:
    while len(body) == 1 and body[0][0] is _c.SUBPATTERN and not any(body[0][1][1:3]):
        body = list(body[0][1][3])
    return len(body) == 1 and body[0][0] in (_c.LITERAL, _c.NOT_LITERAL, _c.ANY, _c.IN)


# ------------------------------------------------------------------------ Thompson's automata


class _NFA:
    """States 0..n-1; ``eps[q]`` the epsilon moves, ``moves[q]`` (ranges, target) pairs."""

    def __init__(self, start: int, accepting: frozenset[int]) -> None:
        self.start = start
        self.accepting = accepting
        self.eps: list[list[int]] = []
        self.moves: list[list[tuple[Ranges, int]]] = []


class _Builder:
    """Builds the automata of one pattern (its main part and its lookaheads), collecting every
    character set they use (the class boundaries)."""

    def __init__(self) -> None:
        self.sets: set[Ranges] = {_ALL}
        self.unicode = False  # some class depends on the Unicode database
        self.nfa = _NFA(0, frozenset())
        self.end_state: int | None = None  # in a lookahead: the state "matched up to the end"
        self.prefix_state: int | None = None  # in a lookahead: the state "matched a prefix"
        self.size = 0

    def _state(self) -> int:
        self.size += 1
        if self.size > MAX_NFA_STATES:
            raise _Unsupported
        self.nfa.eps.append([])
        self.nfa.moves.append([])
        return len(self.nfa.eps) - 1

    def _move(self, q: int, ranges: Ranges) -> int:
        if not ranges:
            return self._state()  # a class that matches nothing: a state nothing reaches
        self.sets.add(ranges)
        target = self._state()
        self.nfa.moves[q].append((ranges, target))
        return target

    def main(self, items: list[Any], flags: int) -> _NFA:
        self.nfa = _NFA(0, frozenset())
        self.end_state = self.prefix_state = None
        start = self._state()
        final = self._sequence(items, start, flags, True, True)
        self.nfa.accepting = frozenset({final})
        return self.nfa

    def lookahead(self, items: list[Any], flags: int) -> _NFA:
        """The automaton of "a prefix of the string matches *items*" (a ``\\Z`` ending one of
        its branches: the whole string)."""
        self.nfa = _NFA(0, frozenset())
        start = self._state()
        self.end_state = self._state()
        self.prefix_state = self._state()
        self.nfa.moves[self.prefix_state].append((_ALL, self.prefix_state))
        out = self._sequence(items, start, flags, True, True)
        self.nfa.eps[out].append(self.prefix_state)
        self.nfa.accepting = frozenset({self.end_state, self.prefix_state})
        return self.nfa

    def _sequence(self, items: Sequence[Any], q: int, flags: int, tail: bool,
                  at_start: bool) -> int:
        """Adds *items* from state *q*; returns the state after them. *tail*: nothing follows
        them (up to the end of the pattern); *at_start*: nothing can have been consumed."""
        for index, (op, av) in enumerate(items):
            last = tail and _empty(items[index + 1:])
            q, zero_width = self._item(op, av, q, flags, last, at_start)
            at_start = at_start and zero_width
        return q

    def _item(self, op: Any, av: Any, q: int, flags: int, tail: bool,
              at_start: bool) -> tuple[int, bool]:
        if op is _c.LITERAL:
            return self._move(q, ((av, av),)), False
        if op is _c.NOT_LITERAL:
            return self._move(q, _complement(((av, av),))), False
        if op is _c.ANY:
            return self._move(q, _ALL if flags & re.DOTALL else _complement(((10, 10),))), False
        if op is _c.IN:
            return self._move(q, self._class(av, flags)), False
        if op is _c.BRANCH:
            out = self._state()
            for branch in av[1]:
                self.nfa.eps[self._sequence(list(branch), q, flags, tail, at_start)].append(out)
            return out, False
        if op is _c.SUBPATTERN:
            _group, add, remove, pattern = av
            inner = (flags | add) & ~remove
            if inner & _UNSUPPORTED_FLAGS:
                raise _Unsupported
            return self._sequence(list(pattern), q, inner, tail, at_start), False
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT):
            return self._repeat(av, q, flags, tail, at_start), False
        if op is _c.AT:
            return self._anchor(av, q, flags, tail, at_start)
        raise _Unsupported  # lookarounds here, backreferences, atomic, possessive ...

    def _repeat(self, av: Any, q: int, flags: int, tail: bool, at_start: bool) -> int:
        low, high, body = av
        body = list(body)
        unbounded = high == _c.MAXREPEAT
        if low > REPEAT_LIMIT or (not unbounded and high > REPEAT_LIMIT):
            raise _Unsupported
        once = high == 1  # the body is followed by what follows the repeat, and only that
        for index in range(low):
            q = self._sequence(body, q, flags, tail and once, at_start and index == 0)
        if unbounded:
            loop = self._state()
            self.nfa.eps[q].append(loop)
            self.nfa.eps[self._sequence(body, loop, flags, False, False)].append(loop)
            return loop
        out = self._state()
        for index in range(high - low):
            self.nfa.eps[q].append(out)
            q = self._sequence(body, q, flags, tail and once, at_start and low == index == 0)
        self.nfa.eps[q].append(out)
        return out

    def _anchor(self, av: Any, q: int, flags: int, tail: bool, at_start: bool) -> tuple[int, bool]:
        if av in (_c.AT_BEGINNING, _c.AT_BEGINNING_STRING):
            if not at_start:
                raise _Unsupported
            return q, True  # position 0: always true (^ too under re.MULTILINE)
        if av not in (_c.AT_END, _c.AT_END_STRING) or not tail:
            raise _Unsupported
        if self.end_state is None:
            return q, True  # the end of the main pattern: fullmatch is at the end of the string
        self.nfa.eps[q].append(self.end_state)  # the lookahead matched up to the end
        if av is _c.AT_END:  # $: also before a final newline (before any, under re.MULTILINE)
            assert self.prefix_state is not None
            newline = ((10, 10),)
            self.sets.add(newline)
            self.nfa.moves[q].append(
                (newline, self.prefix_state if flags & re.MULTILINE else self.end_state))
        return self._state(), False  # nothing follows (a tail): no way on

    def _class(self, items: list[tuple[Any, Any]], flags: int) -> Ranges:
        negate = False
        ranges: list[tuple[int, int]] = []
        for op, av in items:
            if op is _c.NEGATE:
                negate = True
            elif op is _c.LITERAL:
                ranges.append((av, av))
            elif op is _c.RANGE:
                ranges.append(av)
            elif op is _c.CATEGORY:
                ascii_only = bool(flags & re.ASCII)
                self.unicode = self.unicode or not ascii_only
                ranges.extend(_category(av, ascii_only))
            else:
                raise _Unsupported
        merged = _normalise(ranges)
        return _complement(merged) if negate else merged


def _empty(items: Sequence[Any]) -> bool:
    """Whether *items* match the empty string only, and assert nothing (the parser leaves such
    remains: ``a\\Z|a\\Z`` is read as ``a\\Z(?:|)``)."""
    for op, av in items:
        if op is _c.BRANCH:
            if not all(_empty(list(branch)) for branch in av[1]):
                return False
        elif op is _c.SUBPATTERN:
            if not _empty(list(av[3])):
                return False
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT):
            if not _empty(list(av[2])):
                return False
        else:
            return False
    return True


# ------------------------------------------------------------------------------ character sets


def _normalise(ranges: Iterable[tuple[int, int]]) -> Ranges:
    result: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if result and low <= result[-1][1] + 1:
            if high > result[-1][1]:
                result[-1] = (result[-1][0], high)
        else:
            result.append((low, high))
    return tuple(result)


def _complement(ranges: Ranges) -> Ranges:
    result: list[tuple[int, int]] = []
    next_low = 0
    for low, high in ranges:
        if low > next_low:
            result.append((next_low, low - 1))
        next_low = high + 1
    if next_low <= MAX_CODE_POINT:
        result.append((next_low, MAX_CODE_POINT))
    return tuple(result)


@functools.cache
def _every_code_point() -> str:
    """All of 0..0x10FFFF in one string (made in C: about 20 ms, against 150 ms by chr)."""
    size = MAX_CODE_POINT + 1
    utf32 = bytearray(4 * size)
    utf32[0::4] = bytes(range(256)) * (size // 256)
    utf32[1::4] = b"".join(bytes([b]) * 256 for b in range(256)) * (size // 65536)
    utf32[2::4] = b"".join(bytes([plane]) * 65536 for plane in range(size // 65536))
    return utf32.decode("utf-32-le", "surrogatepass")


_CATEGORIES = {  # the parser's category -> (the escape re reads it from, negated)
    "CATEGORY_DIGIT": ("\\d", False),
    "CATEGORY_NOT_DIGIT": ("\\d", True),
    "CATEGORY_SPACE": ("\\s", False),
    "CATEGORY_NOT_SPACE": ("\\s", True),
    "CATEGORY_WORD": ("\\w", False),
    "CATEGORY_NOT_WORD": ("\\w", True),
}


def _category(category: Any, ascii_only: bool) -> Ranges:
    found = _CATEGORIES.get(str(category))
    if found is None:
        raise _Unsupported
    escape, negated = found
    ranges = _category_ranges(escape, ascii_only)
    return _complement(ranges) if negated else ranges


@functools.cache
def _category_ranges(escape: str, ascii_only: bool) -> Ranges:
    """The code points ``re`` itself matches with *escape*: asked of ``re``, not re-derived."""
    flags = re.ASCII if ascii_only else 0
    runs = re.finditer(escape + "+", _every_code_point(), flags)
    return tuple((run.start(), run.end() - 1) for run in runs)


class _Alphabet:
    """The code points cut at every boundary of every set (*bounds*: the first code point of
    each elementary range), and the elementary ranges in the same sets made one letter."""

    def __init__(self, sets: Iterable[Ranges]) -> None:
        points = {0}
        for ranges in sets:
            for low, high in ranges:
                points.add(low)
                points.add(high + 1)
        points.discard(MAX_CODE_POINT + 1)
        self.bounds = sorted(points)
        members: list[int] = [0] * len(self.bounds)  # the sets holding each elementary range
        ordered = sorted(sets)
        for number, ranges in enumerate(ordered):
            for first, end in self._spans(ranges):
                for i in range(first, end):
                    members[i] |= 1 << number
        letters: dict[int, int] = {}
        #: the letter of each elementary range
        self.letter = [letters.setdefault(m, len(letters)) for m in members]
        self.size = len(letters)
        self._masks: dict[Ranges, int] = {}
        for ranges in ordered:
            mask = 0
            for first, end in self._spans(ranges):
                for i in range(first, end):
                    mask |= 1 << self.letter[i]
            self._masks[ranges] = mask

    def _spans(self, ranges: Ranges) -> Iterable[tuple[int, int]]:
        for low, high in ranges:
            first = bisect.bisect_left(self.bounds, low)
            end = (bisect.bisect_left(self.bounds, high + 1) if high < MAX_CODE_POINT
                   else len(self.bounds))
            yield first, end

    def mask(self, ranges: Ranges) -> int:
        """The letters making up *ranges* (one of the sets), as bits."""
        return self._masks[ranges]


# ----------------------------------------------------------------------------- determinising


class _DFA:
    def __init__(self, delta: list[list[int]], accepting: list[bool]) -> None:
        self.delta = delta
        self.accepting = accepting
        n = len(delta)
        reverse: list[list[int]] = [[] for _ in range(n)]
        for q, row in enumerate(delta):
            for target in set(row):
                reverse[target].append(q)
        #: states from which no accepting state can be reached
        self.dead = [not x for x in _reaching([q for q in range(n) if accepting[q]], reverse)]
        #: states from which only accepting states can be reached
        self.sure = [not x for x in _reaching([q for q in range(n) if not accepting[q]], reverse)]


def _reaching(targets: list[int], reverse: list[list[int]]) -> list[bool]:
    seen = [False] * len(reverse)
    stack = list(targets)
    for q in stack:
        seen[q] = True
    while stack:
        for p in reverse[stack.pop()]:
            if not seen[p]:
                seen[p] = True
                stack.append(p)
    return seen


def _determinise(nfa: _NFA, alphabet: _Alphabet) -> _DFA:
    """Subset construction over the letters of the alphabet."""
    classes = alphabet.size
    moves = [[(alphabet.mask(ranges), target) for ranges, target in row] for row in nfa.moves]

    def closure(states: Iterable[int]) -> frozenset[int]:
        seen = set(states)
        stack = list(seen)
        while stack:
            for target in nfa.eps[stack.pop()]:
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
        return frozenset(seen)

    start = closure([nfa.start])
    index = {start: 0}
    subsets = [start]
    delta: list[list[int]] = []
    closures: dict[frozenset[int], frozenset[int]] = {}
    for subset in subsets:  # grows as states are found
        edges = [edge for q in subset for edge in moves[q]]
        row = []
        for c in range(classes):
            bit = 1 << c
            targets = frozenset(t for mask, t in edges if mask & bit)
            closed = closures.get(targets)
            if closed is None:
                closed = closures[targets] = closure(targets)
            number = index.get(closed)
            if number is None:
                if len(subsets) >= MAX_DFA_STATES:
                    raise _Unsupported
                number = index[closed] = len(subsets)
                subsets.append(closed)
            row.append(number)
        delta.append(row)
    return _DFA(delta, [not nfa.accepting.isdisjoint(subset) for subset in subsets])


def _product(dfas: list[_DFA], signs: list[bool | None],
             classes: int) -> tuple[list[list[int]], list[bool]]:
    """The automaton of the first DFA (the main pattern) and each lookahead's: a string is
    accepted by the main one, by every positive lookahead and by no negative one. A lookahead
    settled either way (sure or dead) is dropped from the state; a failed one makes the state
    dead."""
    def normal(states: tuple[int, ...]) -> tuple[int, ...] | None:
        if dfas[0].dead[states[0]]:
            return None
        result = [states[0]]
        for dfa, positive, q in zip(dfas[1:], signs[1:], states[1:], strict=True):
            if q < 0:
                result.append(q)
            elif dfa.dead[q] if positive else dfa.sure[q]:
                return None
            else:
                result.append(-1 if (dfa.sure[q] if positive else dfa.dead[q]) else q)
        return tuple(result)

    def accepts(states: tuple[int, ...] | None) -> bool:
        if states is None:
            return False
        for dfa, positive, q in zip(dfas, signs, states, strict=True):
            if q >= 0 and dfa.accepting[q] != (positive is not False):
                return False
        return True

    start = normal(tuple(0 for _ in dfas))
    index: dict[tuple[int, ...] | None, int] = {start: 0}
    found: list[tuple[int, ...] | None] = [start]
    delta: list[list[int]] = []
    for states in found:  # grows as states are found
        row = []
        for c in range(classes):
            nxt = None if states is None else normal(tuple(
                q if q < 0 else dfa.delta[q][c] for dfa, q in zip(dfas, states, strict=True)))
            number = index.get(nxt)
            if number is None:
                if len(found) >= MAX_DFA_STATES:
                    raise _Unsupported
                number = index[nxt] = len(found)
                found.append(nxt)
            row.append(number)
        delta.append(row)
    return delta, [accepts(states) for states in found]


def _minimise(delta: list[list[int]],
              accepting: list[bool]) -> tuple[list[list[int]], list[bool]]:
    """Moore's partition refinement, then the blocks numbered breadth-first from the start
    (state 0 in and out). Every state of *delta* is reachable from state 0."""
    block = [int(a) for a in accepting]
    count = len(set(block))
    while True:
        signatures: dict[tuple[int, tuple[int, ...]], int] = {}
        refined = [signatures.setdefault((block[q], tuple(map(block.__getitem__, row))),
                                         len(signatures)) for q, row in enumerate(delta)]
        block = refined
        if len(signatures) == count:
            break
        count = len(signatures)
    representative: dict[int, int] = {}
    for q, b in enumerate(block):
        representative.setdefault(b, q)
    order = {block[0]: 0}
    queue = [block[0]]
    for b in queue:  # grows as blocks are found
        for target in delta[representative[b]]:
            tb = block[target]
            if tb not in order:
                order[tb] = len(queue)
                queue.append(tb)
    new_delta = [[order[block[t]] for t in delta[representative[b]]] for b in queue]
    return new_delta, [accepting[representative[b]] for b in queue]


def _tables(delta: list[list[int]], accepting: list[bool], alphabet: _Alphabet, version: bytes,
            max_len: int) -> Tables:
    """Letters every state treats alike share a class; adjacent ranges of one class are one
    range."""
    columns: dict[tuple[int, ...], int] = {}
    of_letter = [columns.setdefault(tuple(row[c] for row in delta), len(columns))
                 for c in range(alphabet.size)]
    bounds = alphabet.bounds
    of_elementary = [of_letter[letter] for letter in alphabet.letter]
    if len(columns) > 256 or len(delta) > 65535:
        raise _Unsupported
    starts: list[int] = []
    classes: list[int] = []
    for first, cls in zip(bounds, of_elementary, strict=True):
        if not classes or classes[-1] != cls:
            starts.append(first)
            classes.append(cls)
    column_list = list(columns)
    wide = len(delta) > 256
    transitions = bytearray()
    for q in range(len(delta)):
        for column in column_list:
            transitions += column[q].to_bytes(2, "little") if wide else bytes((column[q],))
    return (FORMAT, version, max_len, 0, bytes(map(int, accepting)), tuple(starts),
            bytes(classes), bytes(transitions))
