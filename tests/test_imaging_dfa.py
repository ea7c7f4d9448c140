"""The imaging walk's regular expressions as automata: ``fhirgen.regex_dfa.compile_search_dfa``
accepts exactly the texts ``re.search`` finds a match in (FHIRPath's ``matches()``), for the
walk's own patterns (DICOM UIDs, ``urn:oid:`` codes) on text biased to digits, dots, newlines
and ``urn:oid:`` and on arbitrary text, and for random ``^X$`` patterns; it refuses every other
shape. The tables are read by the reference runner of ``tests.test_regex_dfa`` and, when the C
extension is built, by its ``Matcher``, and by the walk's own test
(``fhirgen.runtime.imaging.search_matcher``), whose fallbacks are the regular expression. And
the generated walk asks its automata, not ``re``, when the extension is at hand (its issues are
held to the interpreted walk's by ``tests/test_imaging_walk.py``, which runs with and without
the extension)."""

from __future__ import annotations

import ast
import re
from collections import Counter
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fhirgen.imaging import _form_parts, _pass_lines, _Searches, _WalkSite
from fhirgen.models import imaging_rules
from fhirgen.regex_dfa import compile_dfa, compile_search_dfa
from fhirgen.runtime import primitives
from fhirgen.runtime.accel import ACCEL
from fhirgen.runtime.imaging import search_matcher
from fhirgen.runtime.issues import IssueList
from fhirgen.runtime.validate import fast_parse
from tests.test_regex_dfa import CHARS, Runner, _patterns

UID = r"^(0|[1-9][0-9]*)([.](0|[1-9][0-9]*))*$"
OID = r"^urn:oid:(0|[1-9][0-9]*)([.](0|[1-9][0-9]*))*$"


def _walk_patterns() -> dict[str, str]:
    """Every regular expression of the generated module (the rules' and the walk's own)."""
    found = {name: value.pattern for name, value in vars(imaging_rules).items()
             if isinstance(value, re.Pattern)}
    assert {UID, OID} <= set(found.values())
    assert {name for name in found if name.startswith("_WALK_RE_")} == {
        "_WALK_RE_295eb7729751", "_WALK_RE_80356971a156"}
    return found


PATTERNS = sorted(set(_walk_patterns().values()))


def _agree(pattern: str, text: str, flags: int = re.DOTALL) -> None:
    tables = compile_search_dfa(pattern, flags)
    assert tables is not None, pattern
    expected = re.search(pattern, text, flags) is not None
    assert Runner(tables)(text) is expected, (pattern, text)
    if ACCEL is not None:
        assert ACCEL.Matcher(tables)(text) is expected, (pattern, text)
    test = search_matcher(tables, re.compile(pattern, flags))
    assert bool(test(text)) is expected, (pattern, text)


# ------------------------------------------------------------------------ the walk's patterns

_PIECES = ["0", "1", "2", "9", "00", "01", "10", "840", "10008", "1" * 40, ".", "..", "\n",
           "\r", " ", "urn:oid:", "urn:", "oid:", "urn:oid", ":", "\u0663", "\uff11", "a", "",
           "\x00", "\U0001d7ce"]


@st.composite
def _uid_like(draw: st.DrawFn) -> str:
    """A UID or ``urn:oid:`` code, maybe broken: pieces of them, a newline here or there."""
    arcs = draw(st.lists(st.integers(0, 10**12), min_size=1, max_size=8))
    text = ".".join(map(str, arcs))
    text = draw(st.sampled_from(["", "", "urn:oid:", "urn:oid", "URN:OID:"])) + text
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(_PIECES)) + text[at:]
    return text + draw(st.sampled_from(["", "", "\n", "\n\n", "\r\n", ".", " "]))


TEXTS = st.one_of(
    _uid_like(),
    st.text(st.sampled_from(list("0123456789.\n")), max_size=40),
    st.lists(st.sampled_from(_PIECES), max_size=12).map("".join),
    st.text(),
)


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(max_examples=1500, deadline=None)
@given(text=TEXTS)
@example(text="")
@example(text="\n")
@example(text="1.2\n")
@example(text="1.2\n\n")
@example(text="1\n.2")
@example(text="\n1.2")
@example(text="urn:oid:1.2\n")
@example(text="urn:oid:\n1.2")
@example(text="urn:oid:1.02")
@example(text="1.2.840.10008.5.1.4.1.1.2")
def test_the_walk_patterns_search_as_re_does(pattern: str, text: str) -> None:
    _agree(pattern, text)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_trailing_and_inner_newlines_and_the_empty_text(pattern: str) -> None:
    good = "urn:oid:1.2.840" if pattern.startswith("^urn") else "1.2.840"
    for text in ["", "\n", "\n\n", good, good + "\n", good + "\n\n", good + "\r", good + "\r\n",
                 "\n" + good, good[:3] + "\n" + good[3:], good + "\n1", good + "\x85",
                 good + "\u2028", good + " "]:
        _agree(pattern, text)
    tables = compile_search_dfa(pattern)
    assert tables is not None
    runner = Runner(tables)
    assert runner(good) and runner(good + "\n")
    assert not runner(good + "\n\n") and not runner("\n" + good) and not runner("")


def test_the_generated_tables_are_those_of_the_walk_patterns() -> None:
    patterns = _walk_patterns()
    for name in ("_RE_295eb7729751", "_RE_80356971a156"):
        walk = patterns["_WALK" + name]
        assert getattr(imaging_rules, "_WALK_DFA" + name) == compile_search_dfa(walk)
        # the walk's pattern (capturing groups made plain) searches as the rule's does
        assert compile_search_dfa(walk) == compile_search_dfa(patterns[name])


# --------------------------------------------------------------------------- other patterns


@st.composite
def _anchored(draw: st.DrawFn) -> tuple[str, int]:
    start = draw(st.sampled_from(["^", r"\A"]))
    end = draw(st.sampled_from(["$", r"\Z"]))
    flags = draw(st.sampled_from([0, re.DOTALL, re.ASCII, re.DOTALL | re.ASCII]))
    return start + draw(_patterns(2)) + end, flags


@settings(max_examples=400, deadline=None)
@given(case=_anchored(), texts=st.lists(st.text(st.sampled_from(CHARS), max_size=7),
                                        min_size=1, max_size=25))
def test_random_anchored_patterns_search_as_re_does(case: tuple[str, int],
                                                    texts: list[str]) -> None:
    pattern, flags = case
    for text in texts + [text + "\n" for text in texts] + ["", "\n"]:
        _agree(pattern, text, flags)


def test_the_search_of_a_pattern_anchored_at_both_ends_is_a_fullmatch() -> None:
    # $ also before a final newline, \Z only at the end
    assert compile_search_dfa(r"^a+$") == compile_dfa("a+\n?")
    assert compile_search_dfa(r"\Aa+\Z") == compile_dfa("a+")
    assert compile_search_dfa(r"^$") == compile_dfa("\n?")
    assert compile_search_dfa("(?s)^a.$", 0) == compile_dfa("a.\n?", re.DOTALL)
    # a group without flags is no group to re's parser: (?:^a$) is ^a$
    assert compile_search_dfa(r"(?:^a$)") == compile_dfa("a\n?")


@pytest.mark.parametrize(("pattern", "flags"), [
    ("a", re.DOTALL), ("^a", re.DOTALL), ("a$", re.DOTALL), ("^a|b$", re.DOTALL),
    ("^a$|^b$", re.DOTALL), ("^a$", re.DOTALL | re.MULTILINE), ("(?m)^a$", re.DOTALL),
    (r"^a\b$", re.DOTALL), (r"^a\Bb$", re.DOTALL), (r"^(?:a$)$", re.DOTALL),
    (r"^a^$", re.DOTALL), (r"^(?=a)a$", re.DOTALL), (r"^(?!b)a$", re.DOTALL),
    (r"^a(?<=a)$", re.DOTALL), (r"^(?:a|\Z)$", re.DOTALL), (r"^(a)\1$", re.DOTALL),
    (r"^(?i:a)$", re.DOTALL), ("^a$", re.DOTALL | re.IGNORECASE), (r"^(?:a|^b)$", re.DOTALL),
    ("(^a$)", re.DOTALL), ("^a$b", re.DOTALL), ("", re.DOTALL), ("^", re.DOTALL),
])
def test_other_shapes_are_left_to_re(pattern: str, flags: int) -> None:
    assert compile_search_dfa(pattern, flags) is None


def test_an_invalid_pattern_raises_as_re_does() -> None:
    with pytest.raises(re.error):
        compile_search_dfa("^(a$")


# ------------------------------------------------------------------- the walk's search test


def test_search_matcher_falls_back_to_the_regex(monkeypatch: pytest.MonkeyPatch) -> None:
    regex = re.compile(UID, re.DOTALL)
    tables = compile_search_dfa(UID)
    assert tables is not None
    assert search_matcher(None, regex) == regex.search
    other = (tables[0], b"1.0.0", *tables[2:])  # classes of another Unicode database
    assert search_matcher(other, regex) == regex.search  # type: ignore[arg-type]
    monkeypatch.setattr(primitives, "ACCEL", None)
    assert search_matcher(tables, regex) == regex.search
    if ACCEL is not None:
        monkeypatch.setattr(primitives, "ACCEL", ACCEL)
        test = search_matcher(tables, regex)
        assert isinstance(test, ACCEL.Matcher)
        assert test("1.2") is True and test("1.02") is False


@pytest.mark.skipif(ACCEL is None, reason="the C extension is not built (or switched off)")
def test_the_generated_walk_asks_the_automata(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails when the generated walk stops using the DFA where the extension is at hand: its
    search tests are the extension's matchers, the walk calls them (as many times as the
    values it searches, the memo aside) and no ``search`` of a regular expression."""
    from fhirgen.bench import corpus

    assert ACCEL is not None
    names = sorted(name for name in vars(imaging_rules) if name.startswith("_WALK_SEARCH_"))
    assert names == ["_WALK_SEARCH_RE_295eb7729751", "_WALK_SEARCH_RE_80356971a156"]
    for name in names:
        assert isinstance(getattr(imaging_rules, name), ACCEL.Matcher), name
    check = imaging_rules.RULES.checker("warning")
    code = check.__code__
    assert "search" not in code.co_names
    assert set(names) <= set(code.co_names)

    calls: Counter[str] = Counter()

    def counting(name: str) -> Any:
        matcher = getattr(imaging_rules, name)

        def test(text: str) -> Any:
            calls[name] += 1
            return matcher(text)
        return test

    for name in names:
        monkeypatch.setattr(imaging_rules, name, counting(name))
    for text in corpus():
        tree = fast_parse(text)[0]
        out = IssueList()
        out.resources.append((tree, False))
        check(tree, "ImagingSelection", out)
        assert list(out) == []
    assert calls["_WALK_SEARCH_RE_295eb7729751"] > 100  # every UID (the memo rarely holds)
    assert calls["_WALK_SEARCH_RE_80356971a156"] > 0  # each resource's first SOP Class


# ------------------------------------------------------------------ rewriting the verdicts

FORM = '''
def _json_inv_x_1(d):
    """The verdict."""
    if d.__class__ is dict:
        v0 = d.get('code')
        if (v0 is None or v0.__class__ is str) and d.get('_code') is None:
            return (not (v0 is not None) or ((_RE_x.search(v0) is not None) and (len(v0) <= 9)))
    return fp.Undecided.GENERAL
'''


def _lines(source: str) -> list[str]:
    function = ast.parse(source).body[0]
    assert isinstance(function, ast.FunctionDef)
    form = _form_parts(function)
    assert form is not None
    site = _WalkSite(3, (), "x", ("x-1",), "ImagingSelection.x", ("_json_inv_x_1",),
                     (("_json_inv_x_1", form),))
    searches = _Searches({"_WALK_RE_x": "_WALK_SEARCH_RE_x"})
    return _pass_lines(site, "y3", {"_RE_x": "_WALK_RE_x"}, searches)


def test_a_search_of_a_text_known_to_be_a_str_asks_the_search_test() -> None:
    assert _lines(FORM)[-1] == (
        "    ok = (y3_0 is None or y3_0.__class__ is str) and (y3.get('_code') is None) and "
        "(not y3_0 is not None or ((y3_0 == _passed_RE_x or ((_passed_RE_x := y3_0) is y3_0 "
        "if _WALK_SEARCH_RE_x(y3_0) else False)) and len(y3_0) <= 9)) is True")


@pytest.mark.parametrize("change", [
    # the text may be None where it is searched
    lambda s: s.replace("(not (v0 is not None) or ((", "(((v0 is not None) or ("),
    # nothing says it is a str
    lambda s: s.replace("(v0 is None or v0.__class__ is str) and ", ""),
    lambda s: s.replace("v0.__class__ is str", "v0.__class__ is int"),
    # it is assigned in the verdict
    lambda s: s.replace("(len(v0) <= 9)", "((v0 := 'x') == 'x')"),
])
def test_a_search_of_a_text_not_surely_a_str_keeps_the_regex(change: Any) -> None:
    source = change(FORM)
    assert source != FORM
    line = _lines(source)[-1]
    assert "_WALK_RE_x.search(" in line and "_WALK_SEARCH_RE_x" not in line, line


@pytest.mark.parametrize(("verdict", "rewritten"), [
    ("v0 is not None and _RE_x.search(v0) is not None", True),
    ("None if v0 is None else _RE_x.search(v0) is not None", True),
    ("not (v0 is not None and v0 == 'a') or _RE_x.search(v0) is not None", True),
    ("v0 is None or _RE_x.search(v0) is not None", True),
    ("v0 is None and _RE_x.search(v0) is not None", False),
    ("v0 == 'a' or _RE_x.search(v0) is not None", False),
    ("not (v0 is not None or v0 == 'a') or _RE_x.search(v0) is not None", False),
    ("(v0 is not None or v0 == 'a') and _RE_x.search(v0) is not None", False),
    ("_RE_x.search(v0) is not None if v0 is None else False", False),
    ("[_RE_x.search(v0) is not None, v0 is not None][1]", False),
])
def test_not_none_is_followed_through_and_or_not_and_if(verdict: str, rewritten: bool) -> None:
    source = FORM.replace(
        "(not (v0 is not None) or ((_RE_x.search(v0) is not None) and (len(v0) <= 9)))",
        f"({verdict})")
    line = _lines(source)[-1]
    assert ("_WALK_SEARCH_RE_x(v0)" in line.replace("y3_0", "v0")) is rewritten, line
