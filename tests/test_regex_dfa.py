"""The fast checks of the primitive types as DFAs (``fhirgen.regex_dfa``) accept exactly what
their Python regexes accept.

For every primitive's fast pattern (``fast_pattern`` of each ``P_*`` of the generated package,
string and markdown included) the tables of ``compile_dfa`` are run by a small reference runner
written here and, when the C extension is built, by its ``Matcher``; both must agree with
``re.fullmatch`` on arbitrary text, text drawn from the type's regex and one-character mutations
of it, every string of the official examples, Unicode whitespace, lone surrogates, astral
characters, the empty string and strings around the maximum length. ``compile_dfa`` itself is
also held to ``re`` on random patterns of everything it translates, on every code point for the
classes ``\\s``, ``\\d``, ``\\w``, and must refuse (None) what it cannot translate.
"""

from __future__ import annotations

import bisect
import functools
import gc
import json
import pickle
import re
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhirgen.bench import corpus
from fhirgen.models import validators as generated
from fhirgen.regex_dfa import REPEAT_LIMIT, compile_dfa
from fhirgen.runtime import primitives
from fhirgen.runtime.accel import ACCEL
from fhirgen.runtime.primitives import MAX_STRING, Primitive, fast_pattern

ROOT = Path(__file__).resolve().parents[1]
MAX_CODE_POINT = 0x10FFFF

#: Characters the fast checks must not be fooled by.
UNICODE_WHITESPACE = ["\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\xa0", "\u1680",
                      *map(chr, range(0x2000, 0x200B)), "\u2028", "\u2029", "\u202f", "\u205f",
                      "\u3000", "\u200b", "\ufeff", "\x0b", "\x0c", "\t", "\r", "\n", " "]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff", "\ud834\udd1e"]
ODD = ["", "\x00", "\x7f", "\xff", "\u0100", "\u07ff", "\u0800", "\uffff", "\U00010000",
       "\U0001d538", "\U0010ffff", "\u0663", "\uff10", "\u0660", "é", "ā", "T", "Z", "+", "-",
       ":", ".", "/", "=", "0", "9"]
#: A good value of each type (a test checks the regex agrees), for the mutations around it.
GOOD = {
    "base64Binary": "Zm9vYmE=", "canonical": "http://hl7.org/fhir/ValueSet/x|5.0.0",
    "code": "image region", "date": "2024-02-28", "dateTime": "2024-02-28T10:00:00.5+01:00",
    "id": "1.2.840.10008.5.1.4.1.1.2", "instant": "2024-02-28T10:00:00.123Z",
    "integer64": "-9223372036854775", "markdown": "# Title\n\n* item",
    "oid": "urn:oid:1.2.840.10008.5.1.4.1.1.2", "string": "Key images", "time": "23:59:60.999",
    "uri": "http://example.org/fhir", "url": "https://example.org/a?b=c",
    "uuid": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
}

Tables = tuple[Any, ...]


def _primitives() -> list[Primitive]:
    return [value for name, value in sorted(vars(generated).items())
            if name.startswith("P_") and isinstance(value, Primitive)]


@functools.cache
def _cases() -> dict[str, tuple[str, Tables]]:
    """Primitive name -> (fast pattern, its tables), for every primitive with a regex check."""
    cases = {}
    for prim in _primitives():
        pattern = fast_pattern(prim.name, prim.kind, prim.regex)
        if pattern is not None:
            tables = compile_dfa(pattern)
            assert tables is not None, (prim.name, pattern)
            cases[prim.name] = (pattern, tables)
    return cases


NAMES = sorted(GOOD)


class Runner:
    """The reference reading of the tables (the layout of fhirgen.regex_dfa's docstring)."""

    def __init__(self, tables: Tables) -> None:
        form, version, max_len, start, accepting, starts, classes, transitions = tables
        assert form == 1 and isinstance(version, bytes)
        states, width = len(accepting), 1 if len(accepting) <= 256 else 2
        count = max(classes) + 1
        assert len(transitions) == states * count * width and starts[0] == 0
        assert list(starts) == sorted(set(starts)) and starts[-1] <= MAX_CODE_POINT
        self.delta = [[int.from_bytes(transitions[(q * count + c) * width:
                                                  (q * count + c + 1) * width], "little")
                       for c in range(count)] for q in range(states)]
        self.accepting = [bool(a) for a in accepting]
        self.starts, self.classes, self.start, self.max_len = starts, classes, start, max_len
        self.dead = next((q for q in range(states) if not accepting[q]
                          and set(self.delta[q]) == {q}), None)
        self.cache: dict[str, int] = {}

    def class_of(self, char: str) -> int:
        found = self.cache.get(char)
        if found is None:
            found = self.cache[char] = self.classes[bisect.bisect_right(self.starts,
                                                                        ord(char)) - 1]
        return found

    def __call__(self, text: str) -> bool:
        if 0 <= self.max_len < len(text):
            return False
        q, delta, dead, class_of = self.start, self.delta, self.dead, self.class_of
        for char in text:
            q = delta[q][class_of(char)]
            if q == dead:
                return False
        return self.accepting[q]


@functools.cache
def _runner(name: str) -> Runner:
    return Runner(_cases()[name][1])


@functools.cache
def _matcher(name: str) -> Any:
    assert ACCEL is not None
    return ACCEL.Matcher(_cases()[name][1])


@functools.cache
def _fullmatch(name: str) -> Callable[[str], Any]:
    return re.compile(_cases()[name][0], re.DOTALL).fullmatch


def _agree(name: str, text: str) -> None:
    expected = _fullmatch(name)(text) is not None
    assert _runner(name)(text) is expected, (name, text[:200], expected)
    if ACCEL is not None:
        assert _matcher(name)(text) is expected, (name, text[:200], expected)


# ------------------------------------------------------------------- the primitives' patterns


def test_every_fast_pattern_compiles_and_string_is_among_them() -> None:
    cases = _cases()
    assert set(GOOD) == set(cases), "a primitive with a regex check has no good value here"
    for name, good in GOOD.items():
        assert _fullmatch(name)(good), name
        _agree(name, good)
    assert cases["string"][0] == primitives._FAST_STRING_PATTERN
    assert cases["string"][1][2] == MAX_STRING  # the huge repeat became a maximum length


def test_fast_pattern_is_what_the_regex_fast_check_compiles() -> None:
    """``fast_pattern`` is the exact text (and flags) of the pure-Python fast check."""
    for prim in _primitives():
        check = primitives._fast_check(prim.name, prim.kind, prim.regex)
        pattern = fast_pattern(prim.name, prim.kind, prim.regex)
        compiled = getattr(check, "__self__", None)
        if pattern is None:
            assert not isinstance(compiled, re.Pattern), prim.name
        else:
            assert isinstance(compiled, re.Pattern), prim.name
            assert compiled.pattern == pattern and compiled.flags & re.DOTALL, prim.name


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=120, deadline=None)
@given(text=st.text())
def test_arbitrary_text(name: str, text: str) -> None:
    _agree(name, text)


def _alphabet(name: str) -> list[str]:
    """The characters at the tables' class boundaries, the pattern's own, and the odd ones."""
    starts = _cases()[name][1][5]
    points = {s for s in starts} | {s - 1 for s in starts if s}
    chars = {chr(p) for p in points} | set(_cases()[name][0])
    return sorted(chars | set("".join(UNICODE_WHITESPACE + SURROGATES + ODD)))


def _mutated(data: st.DataObject, text: str, alphabet: list[str]) -> str:
    char = data.draw(st.sampled_from(alphabet) | st.characters(), label="char")
    at = data.draw(st.integers(0, len(text)), label="at")
    how = data.draw(st.sampled_from(["replace", "insert", "delete"]), label="how")
    if how == "insert" or not text:
        return text[:at] + char + text[at:]
    at = min(at, len(text) - 1)
    return text[:at] + ("" if how == "delete" else char) + text[at + 1:]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_text_of_the_regex_and_its_mutations(name: str, data: st.DataObject) -> None:
    prim = getattr(generated, f"P_{name}")
    text = data.draw(st.from_regex(prim.regex, fullmatch=True), label="text")
    _agree(name, text)
    alphabet = _alphabet(name)
    for _ in range(3):
        text = _mutated(data, text, alphabet)
        _agree(name, text)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_text_of_the_tables_alphabet(name: str, data: st.DataObject) -> None:
    alphabet = _alphabet(name)
    base = data.draw(st.sampled_from([GOOD[name], "", GOOD[name][:5]]), label="base")
    text = base + data.draw(st.text(st.sampled_from(alphabet), max_size=12), label="tail")
    _agree(name, text)
    _agree(name, _mutated(data, GOOD[name], alphabet))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)


@functools.cache
def _example_strings() -> list[str]:
    found: set[str] = set()
    for path in (ROOT / "definitions").rglob("*.json"):
        found.update(_strings(json.loads(path.read_bytes())))
    for item in corpus():
        found.update(_strings(json.loads(item)))
    return sorted(found)


@pytest.mark.parametrize("name", NAMES)
def test_every_string_of_the_official_examples(name: str) -> None:
    values = _example_strings()
    assert len(values) > 1000
    accepted = 0
    for value in values:
        _agree(name, value)
        accepted += _runner(name)(value)
    assert accepted > 0 or name in ("base64Binary", "integer64", "time"), name


@pytest.mark.parametrize("name", NAMES)
def test_unicode_whitespace_surrogates_astral_and_empty(name: str) -> None:
    good = GOOD[name]
    for char in UNICODE_WHITESPACE + SURROGATES + ODD:
        for text in (char, char * 3, good + char, char + good, good[:1] + char + good[1:],
                     good[:-1] + char, good.replace("1", char)):
            _agree(name, text)


def _long_strings(name: str) -> list[str]:
    texts = ["x" * 63, "x" * 64, "x" * 65, "1." * 32, "1" * 10_000, "-" + "9" * 18,
             "urn:oid:1" + ".1" * 50_000, "http://example.org/" + "a" * 100_000,
             "QUJD" * 50_000, "QUJD" * 49_999 + "QU==", "\u3000" * 1000 + "x"]
    if name in ("string", "markdown"):  # the maximum length of these two, in every str kind
        near = [MAX_STRING - 1, MAX_STRING, MAX_STRING + 1]
        texts += [char * size for size in near for char in ("a", "é", "ā", "\U0001d538")]
        texts += [" " * MAX_STRING, " " * (MAX_STRING - 1) + "x", "x" * (MAX_STRING - 1) + "\x00",
                  "x" * (MAX_STRING - 1) + "\ud800", "\u3000" * MAX_STRING]
    return texts


@pytest.mark.parametrize("name", NAMES)
def test_long_strings_around_the_maximum_length(name: str) -> None:
    for text in _long_strings(name):
        _agree(name, text)
    if name in ("string", "markdown"):
        assert _runner(name)("a" * MAX_STRING) and not _runner(name)("a" * (MAX_STRING + 1))


# ----------------------------------------------------------------------- compile_dfa in general


@pytest.mark.parametrize("pattern,flags", [
    (r"\s", 0), (r"\d", 0), (r"\w", 0), (r"[^\W\d_]", 0), (r"\S", re.ASCII), (r"\w", re.ASCII),
    (r".", 0), (r"[^\s\ud800-\udfff]", 0),
])
def test_classes_agree_with_re_on_every_code_point(pattern: str, flags: int) -> None:
    tables = compile_dfa(pattern, flags)
    assert tables is not None
    runner = Runner(tables)
    accepted = {c for c in set(runner.classes)
                if runner.accepting[runner.delta[runner.start][c]]}
    fullmatch = re.compile(pattern, flags).fullmatch
    starts = list(runner.starts) + [MAX_CODE_POINT + 1]
    for index, cls in enumerate(runner.classes):
        inside = cls in accepted
        for point in range(starts[index], starts[index + 1]):
            if (fullmatch(chr(point)) is not None) is not inside:
                raise AssertionError((pattern, hex(point), inside))
    if ACCEL is not None:
        matcher = ACCEL.Matcher(tables)
        wrong = [p for p in range(MAX_CODE_POINT + 1)
                 if matcher(chr(p)) is not (fullmatch(chr(p)) is not None)]
        assert not wrong, (pattern, wrong[:5])


#: The characters of the random patterns and texts: ASCII, Unicode digits, spaces and letters
#: (1-, 2- and 4-byte strings), a surrogate, a newline.
CHARS = ["a", "b", "T", "Z", "1", "-", " ", "\n", "\u0663", "\u3000", "é", "ā", "\ud800",
         "\U0001d538", "\x85"]


@st.composite
def _atoms(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["char", "char", "class", "escape", "dot"]))
    if kind == "char":
        return re.escape(draw(st.sampled_from(CHARS)))
    if kind == "escape":
        return draw(st.sampled_from([r"\s", r"\S", r"\d", r"\D", r"\w", r"\W"]))
    if kind == "dot":
        return "."
    items = draw(st.lists(st.sampled_from(
        ["a", "b-z", "0-9", r"\s", r"\d", r"\w", r"\S", "\u3000", "\ud800-\udfff", r"\-", "\n",
         "\x00-\x1f", "\U00010000-\U0010ffff", "é"]), min_size=1, max_size=3))
    return "[" + draw(st.sampled_from(["", "^"])) + "".join(items) + "]"


def _patterns(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return _atoms()
    inner = _patterns(depth - 1)
    quantifiers = st.sampled_from(["*", "+", "?", "{2}", "{0,3}", "{1,}", "{2,4}", "*?", "+?",
                                   "??", "{1,2}?"])
    return st.one_of(
        _atoms(),
        st.lists(inner, min_size=2, max_size=3).map("".join),
        st.lists(inner, min_size=2, max_size=3).map(lambda b: "(?:" + "|".join(b) + ")"),
        st.lists(inner, min_size=1, max_size=2).map(lambda b: "(" + "|".join(b) + ")"),
        st.tuples(inner, quantifiers).map(lambda t: "(?:" + t[0] + ")" + t[1]),
    )


@st.composite
def _lookahead(draw: st.DrawFn) -> str:
    branches = draw(st.lists(st.tuples(_patterns(1), st.sampled_from(["", "", r"\Z", "$"])),
                             min_size=1, max_size=2))
    body = "|".join(b + end for b, end in branches)
    return draw(st.sampled_from(["(?=", "(?!"])) + body + ")"


@st.composite
def _full_patterns(draw: st.DrawFn) -> tuple[str, int]:
    start = draw(st.sampled_from(["", "", "^", r"\A"]))
    looks = draw(st.lists(_lookahead(), max_size=2))
    main = draw(_patterns(2))
    end = draw(st.sampled_from(["", "", "$", r"\Z"]))
    flags = draw(st.sampled_from([0, re.DOTALL, re.MULTILINE, re.ASCII, re.DOTALL | re.ASCII]))
    return start + "".join(looks) + "(?:" + main + ")" + end, flags


@settings(max_examples=400, deadline=None)
@given(case=_full_patterns(), texts=st.lists(st.text(st.sampled_from(CHARS), max_size=7),
                                             min_size=1, max_size=25))
def test_random_patterns_agree_with_re(case: tuple[str, int], texts: list[str]) -> None:
    pattern, flags = case
    tables = compile_dfa(pattern, flags)
    assert tables is not None, pattern  # everything this grammar makes is translated
    runner = Runner(tables)
    matcher = ACCEL.Matcher(tables) if ACCEL is not None else None
    fullmatch = re.compile(pattern, flags).fullmatch
    for text in texts:
        expected = fullmatch(text) is not None
        assert runner(text) is expected, (pattern, flags, text)
        if matcher is not None:
            assert matcher(text) is expected, (pattern, flags, text)


@pytest.mark.parametrize("pattern", [
    r"(?<=a)b", r"(?<!a)b", r"(a)\1", r"(?P<x>a)(?P=x)", r"\ba", r"a\B", r"a\Zb", r"a$b",
    r"(?:a\Z)*", r"a^b", r"a(?=b)b", r"(?:(?=a)a|b)", r"(?=(?=a)a)a", r"a*+", r"(?>a)b",
    r"(?i)a", r"(?i:a)b", r"(a)?(?(1)b|c)", r"a{1,1000}b", r"(?:ab){1,1000}", r"a{300}",
    r"(?=a\Zb)a", r"(?=(?:a\Z)+)a", r"(?m)a^b",
])
def test_what_cannot_be_translated_exactly_is_refused(pattern: str) -> None:
    assert compile_dfa(pattern) is None


def test_an_invalid_pattern_raises_as_re_does() -> None:
    with pytest.raises(re.error):
        compile_dfa("(a")


def test_wide_tables_of_more_than_256_states() -> None:
    pattern = r"a{0,150}b{0,150}c{0,9}"
    tables = compile_dfa(pattern)
    assert tables is not None and len(tables[4]) > 256
    runner = Runner(tables)
    matcher = ACCEL.Matcher(tables) if ACCEL is not None else None
    for text in ["", "a" * 150, "a" * 151, "a" * 10 + "b" * 150 + "c" * 9, "b" * 151,
                 "c" * 10, "ab" * 3, "a" * 150 + "b" * 150 + "c" * 9 + "x"]:
        expected = re.fullmatch(pattern, text) is not None
        assert runner(text) is expected, text
        if matcher is not None:
            assert matcher(text) is expected, text


def test_tables_are_a_plain_reproducible_literal() -> None:
    for name, (pattern, tables) in _cases().items():
        assert eval(repr(tables), {"__builtins__": {}}) == tables, name
        assert compile_dfa(pattern) == tables, name
        assert tables[3] == 0 and len(tables[6]) == len(tables[5])
        assert max(tables[6]) + 1 <= 256
        uses_unicode = re.search(r"\\[sSdDwW]", pattern) is not None
        assert bool(tables[1]) is uses_unicode, name


def test_repeat_limit_is_where_bounded_repeats_stop_being_expanded() -> None:
    assert compile_dfa(f"(?:ab){{0,{REPEAT_LIMIT}}}") is not None
    assert compile_dfa(f"(?:ab){{0,{REPEAT_LIMIT + 1}}}") is None
    assert compile_dfa(f"[ab]{{0,{REPEAT_LIMIT + 1}}}") == (
        compile_dfa("[ab]*")[:2] + (REPEAT_LIMIT + 1,) + compile_dfa("[ab]*")[3:])  # type: ignore


# ------------------------------------------------------------------- the C Matcher, directly

needs_accel = pytest.mark.skipif(ACCEL is None, reason="the C extension is not built")


@needs_accel
def test_matcher_takes_any_value_and_str_subclasses() -> None:
    class Text(str):
        pass

    matcher = _matcher("id")
    for value in (None, 1, 1.5, b"abc", bytearray(b"abc"), ["abc"], ("abc",), {"a": 1}, True,
                  object()):
        assert matcher(value) is False
    assert matcher(Text("abc")) is True and matcher(Text("a b")) is False
    assert _fullmatch("id")(Text("abc")) is not None  # re reads a subclass alike
    with pytest.raises(TypeError):
        matcher()
    with pytest.raises(TypeError):
        matcher("a", "b")
    with pytest.raises(TypeError):
        matcher(value="a")


def _list_samples(good: str) -> list[Callable[[], Any]]:
    """Makers of the values a ``fast_all`` may be given (each call a fresh iterator)."""
    return [
        list, lambda: [good], lambda: [good, "  "], lambda: [good, 1], lambda: [good] * 5,
        lambda: ["", good], lambda: [None], lambda: (good,), lambda: (good, b"x"),
        lambda: iter([good, good]), lambda: 5, lambda: None, lambda: (x for x in [good, 1]),
        lambda: {good: 1}, lambda: good,
    ]


@needs_accel
def test_matcher_all_is_all_of_fast() -> None:
    for name in ("id", "code", "string", "dateTime"):
        each = primitives._all_of(_fullmatch(name))
        matcher = _matcher(name)
        samples = _list_samples(GOOD[name])
        for make in samples:
            assert matcher.all(make()) is each(make()), (name, make())

    def broken(error: type[Exception]) -> Iterator[str]:
        yield "abc"
        raise error("stop")

    assert _matcher("id").all(broken(TypeError)) is False
    with pytest.raises(ValueError):
        _matcher("id").all(broken(ValueError))
    with pytest.raises(ValueError):
        primitives._all_of(_fullmatch("id"))(broken(ValueError))


def _corrupt(tables: Tables) -> list[Any]:
    t = list(tables)

    def with_(i: int, value: Any) -> tuple[Any, ...]:
        return tuple(t[:i] + [value] + t[i + 1:])

    states = len(t[4])
    return [
        None, [], list(tables), tuple(t[:7]), tuple(t) + (0,), with_(0, 2), with_(0, "1"),
        with_(1, "14.0.0"), with_(2, -2), with_(2, "x"), with_(2, 2**70), with_(3, states),
        with_(3, -1), with_(4, b""), with_(4, b"\x02" * states), with_(4, "x"),
        with_(5, ()), with_(5, (1,) + t[5][1:]), with_(5, (0, 0) + t[5][2:]),
        with_(5, t[5][:-1] + (0x110000,)), with_(5, t[5][:-1] + ("x",)),
        with_(5, list(t[5])), with_(6, t[6][:-1]), with_(6, "x"), with_(7, t[7][:-1]),
        with_(7, bytes([states]) + t[7][1:]), with_(7, t[7] + b"\x00"), with_(7, None),
    ]


@needs_accel
def test_matcher_refuses_malformed_tables() -> None:
    assert ACCEL is not None
    for name in ("id", "string", "dateTime"):
        for bad in _corrupt(_cases()[name][1]):
            with pytest.raises((TypeError, ValueError)):
                ACCEL.Matcher(bad)


@needs_accel
@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.integers(-3, 300), st.binary(max_size=40),
                          st.tuples(st.integers(0, 0x110001)), st.none(), st.text(max_size=3)),
                max_size=9).map(tuple))
def test_matcher_never_crashes_on_random_tables(tables: tuple[Any, ...]) -> None:
    assert ACCEL is not None
    try:
        matcher = ACCEL.Matcher(tables)
    except (TypeError, ValueError):
        return
    for text in ("", "a", "\U0010ffff", "é" * 3):
        assert matcher(text) in (True, False)


@needs_accel
def test_matcher_pickles_and_keeps_its_tables() -> None:
    matcher = _matcher("dateTime")
    assert matcher.tables is _cases()["dateTime"][1]
    again = pickle.loads(pickle.dumps(matcher))
    assert again.tables == matcher.tables and again(GOOD["dateTime"]) is True
    assert "states" in repr(matcher)


def _rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4


@needs_accel
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
def test_matcher_keeps_memory_flat_and_references_balanced() -> None:
    assert ACCEL is not None
    tables = _cases()["dateTime"][1]
    good = GOOD["dateTime"]
    # objects of this test's own (a shared string's count moves with whatever else holds it)
    values = [good[:-1] + good[-1:], "x" * 100, "é" * 50, "\U0001d538" * 20, int("9" * 30),
              object()]
    gc.collect()
    value_refs = [sys.getrefcount(v) for v in values]
    tables_refs = sys.getrefcount(tables)

    def loop(rounds: int = 100_000) -> None:
        for _ in range(rounds):
            matcher = ACCEL.Matcher(tables)
            for value in values:
                matcher(value)
            matcher.all(values[:4])
            matcher.all(iter(values))
            try:
                ACCEL.Matcher(tables[:7])
            except TypeError:
                pass

    loop()
    gc.collect()
    before = _rss_kib()
    loop()
    gc.collect()
    # RSS in a long test process also moves with the heap's fragmentation: a generous bound
    # here, and the exact count of what the matcher allocates (PyMem_*, which tracemalloc sees)
    assert _rss_kib() - before < 8192
    tracemalloc.start()
    try:
        loop(5_000)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0]
        loop(20_000)
        gc.collect()
        assert tracemalloc.get_traced_memory()[0] - traced < 64 * 1024
    finally:
        tracemalloc.stop()
    assert [sys.getrefcount(v) for v in values] == value_refs
    assert sys.getrefcount(tables) == tables_refs


# --------------------------------------------------------------------- Primitive end to end


def _verdict(check: Callable[[Any], Any], value: Any) -> bool:
    try:
        return bool(check(value))
    except TypeError:
        return False


def test_primitive_with_tables_judges_as_without() -> None:
    values: list[Any] = [*GOOD.values(), *UNICODE_WHITESPACE, *SURROGATES, *ODD, None, 1, 1.5,
                         True, [], {}, b"x", "x" * 65, "a" * (MAX_STRING + 1)]
    values += _example_strings()[::7]
    made = 0
    for prim in _primitives():
        pattern = fast_pattern(prim.name, prim.kind, prim.regex)
        if pattern is None:
            continue
        tables = compile_dfa(pattern)
        plain = Primitive(prim.name, prim.kind, prim.regex, prim.element)
        fast = Primitive(prim.name, prim.kind, prim.regex, prim.element, tables)
        if ACCEL is not None:
            assert type(fast.fast) is ACCEL.Matcher, prim.name
            made += 1
        else:
            assert fast.fast == plain.fast
        for value in values:
            assert _verdict(fast.fast, value) == _verdict(plain.fast, value), (prim.name, value)
        for items in ([], [GOOD[prim.name]], [GOOD[prim.name], " "], [GOOD[prim.name], 3],
                      [GOOD[prim.name]] * 3, values[:40]):
            assert fast.fast_all(items) == plain.fast_all(items), (prim.name, items)
    assert made == (len(_cases()) if ACCEL is not None else 0)


def test_primitive_keeps_the_regex_without_the_extension_or_with_other_unicode(
        monkeypatch: pytest.MonkeyPatch) -> None:
    prim = generated.P_code
    tables = compile_dfa(fast_pattern(prim.name, prim.kind, prim.regex) or "")
    assert tables is not None
    other = (tables[0], b"1.0.0") + tables[2:]
    kept = Primitive(prim.name, prim.kind, prim.regex, None, other)
    assert isinstance(getattr(kept.fast, "__self__", None), re.Pattern)
    monkeypatch.setattr(primitives, "ACCEL", None)
    kept = Primitive(prim.name, prim.kind, prim.regex, None, tables)
    assert isinstance(getattr(kept.fast, "__self__", None), re.Pattern)
