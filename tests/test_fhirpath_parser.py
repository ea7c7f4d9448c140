"""The FHIRPath lexer and parser: literals, precedence, invocations, errors."""

from __future__ import annotations

import pytest

from fhirgen.fhirpath import FhirPathSyntaxError, parse
from fhirgen.fhirpath.ast import (
    Binary,
    Call,
    External,
    Indexer,
    Literal,
    Member,
    TypeOp,
    Unary,
    Variable,
)
from fhirgen.fhirpath.parser import tokenize


def m(*names: str) -> Member:
    node: Member | None = None
    for name in names:
        node = Member(node, name)
    assert node is not None
    return node


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}", Literal("empty", "")),
        ("true", Literal("boolean", "true")),
        ("'a\\'b'", Literal("string", "a'b")),
        ("'\\u0041\\n'", Literal("string", "A\n")),
        ('":"', Literal("string", ":")),
        ("12", Literal("integer", "12")),
        ("12L", Literal("long", "12")),
        ("1.50", Literal("decimal", "1.50")),
        ("@2014", Literal("date", "2014")),
        ("@2014-01-25", Literal("date", "2014-01-25")),
        ("@2014-01-25T", Literal("datetime", "2014-01-25T")),
        ("@2014-01-25T10:30:00.123+01:00", Literal("datetime", "2014-01-25T10:30:00.123+01:00")),
        ("@T10:30", Literal("time", "10:30")),
        ("5 'mg'", Literal("quantity", "5", "mg")),
        ("3 days", Literal("quantity", "3", "days")),
        ("$this", Variable("this")),
        ("%resource", External("resource")),
        ("%`vs-x`", External("vs-x")),
        ("text.`div`", m("text", "div")),
    ],
)
def test_terms(text: str, expected: object) -> None:
    assert parse(text) == expected


def test_precedence_follows_the_fhirpath_table() -> None:
    # implies < or/xor < and < in/contains < equality < inequality < | < is/as < additive < mult
    tree = parse("a implies b or c and d = e + f * g")
    assert tree == Binary(
        "implies", m("a"),
        Binary("or", m("b"), Binary("and", m("c"), Binary(
            "=", m("d"), Binary("+", m("e"), Binary("*", m("f"), m("g")))))),
    )
    assert parse("a | b is X") == Binary("|", m("a"), TypeOp("is", m("b"), "X"))
    assert parse("a + b as FHIR.string") == TypeOp("as", Binary("+", m("a"), m("b")),
                                                    "FHIR.string")
    assert parse("a < b = c") == Binary("=", Binary("<", m("a"), m("b")), m("c"))
    assert parse("a xor b or c") == Binary("or", Binary("xor", m("a"), m("b")), m("c"))
    assert parse("x in y and z contains w") == Binary(
        "and", Binary("in", m("x"), m("y")), Binary("contains", m("z"), m("w")))


def test_left_associative_and_unary() -> None:
    assert parse("1 - 2 - 3") == Binary("-", Binary("-", Literal("integer", "1"),
                                                    Literal("integer", "2")),
                                        Literal("integer", "3"))
    assert parse("-a.b") == Unary("-", m("a", "b"))


def test_invocations_indexers_and_keyword_names() -> None:
    assert parse("name[0].given") == Member(Indexer(m("name"), Literal("integer", "0")), "given")
    assert parse("x.where($this > 1)") == Call(m("x"), "where", (
        Binary(">", Variable("this"), Literal("integer", "1")),))
    assert parse("fullUrl.contains('/_history/').not()") == Call(
        Call(m("fullUrl"), "contains", (Literal("string", "/_history/"),)), "not", ())
    assert parse("entry.first().resource.is(Composition)") == Call(
        Member(Call(m("entry"), "first", ()), "resource"), "is", (m("Composition"),))
    assert parse("exists()") == Call(None, "exists", ())
    assert parse("1.toString()") == Call(Literal("integer", "1"), "toString", ())


def test_comments_are_skipped() -> None:
    assert parse("a // note\n + /* more */ b") == Binary("+", m("a"), m("b"))


@pytest.mark.parametrize(
    "text", ["", "a.", "(a", "a and", "'open", "@20x", "a ! b", "$that", "a.b(", "and", "@2014-"]
)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(FhirPathSyntaxError):
        parse(text)


def test_tokens_keep_positions() -> None:
    tokens = tokenize("a  = 'x'")
    assert [(t.kind, t.text, t.position) for t in tokens] == [
        ("ident", "a", 0), ("op", "=", 3), ("string", "x", 5), ("eof", "", 8)]
