"""FHIRPath text -> :mod:`fhirgen.fhirpath.ast`: a hand-written lexer and precedence climber.

Follows the FHIRPath N1 grammar (http://hl7.org/fhirpath/N1/grammar.html) as R5 uses it:
literals (``{}``, booleans, strings with escapes, integers, ``L`` longs, decimals, ``@`` dates,
date-times and ``@T`` times, quantities with a UCUM string or a calendar keyword), identifiers
(plain or in backticks), ``$this``/``$index``/``$total``, ``%`` externals (plain, backticked or
quoted), invocations, indexers, and the operators by FHIRPath precedence, highest first:

==========  ==========================================
postfix     ``.name``, ``.f(args)``, ``[index]``
unary       ``+x``, ``-x``
multiply    ``*  /  div  mod``
additive    ``+  -  &``
type        ``is  as`` (with a qualified type name)
union       ``|``
inequality  ``<  >  <=  >=``
equality    ``=  ~  !=  !~``
membership  ``in  contains``
and         ``and``
or          ``or  xor``
implies     ``implies``
==========  ==========================================

Every binary operator is left-associative. Comments (``//`` and ``/* */``) are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .ast import Binary, Call, Expr, External, Indexer, Literal, Member, TypeOp, Unary, Variable

__all__ = ["FhirPathSyntaxError", "Token", "parse", "tokenize"]

CALENDAR_UNITS = frozenset({
    "year", "years", "month", "months", "week", "weeks", "day", "days", "hour", "hours",
    "minute", "minutes", "second", "seconds", "millisecond", "milliseconds",
})

_DATE = r"[0-9]{4}(?:-[0-9]{2}(?:-[0-9]{2})?)?"
_TIME = r"[0-9]{2}(?::[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
_ZONE = r"(?:Z|[+-][0-9]{2}:[0-9]{2})"
_DATETIME_RE = re.compile(rf"@({_DATE})T(?:({_TIME})({_ZONE})?)?")
_DATE_RE = re.compile(rf"@({_DATE})")
_TIME_RE = re.compile(rf"@T({_TIME})")
_NUMBER_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?L?")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("<=", ">=", "!=", "!~", ".", "[", "]", "(", ")", ",", "+", "-", "*", "/", "|", "&",
              "=", "~", "<", ">", "{", "}")
_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "f": "\f", "n": "\n", "r": "\r",
            "t": "\t"}

#: Words that are operators between two expressions.
_OPERATOR_WORDS = frozenset({"and", "or", "xor", "implies", "is", "as", "in", "contains", "div",
                             "mod"})
#: Binary operators by precedence level, lowest first (is/as are handled at their level).
_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"implies"}),
    frozenset({"or", "xor"}),
    frozenset({"and"}),
    frozenset({"in", "contains"}),
    frozenset({"=", "~", "!=", "!~"}),
    frozenset({"<", ">", "<=", ">="}),
    frozenset({"|"}),
    frozenset({"is", "as"}),
    frozenset({"+", "-", "&"}),
    frozenset({"*", "/", "div", "mod"}),
)
_TYPE_LEVEL = 7


class FhirPathSyntaxError(ValueError):
    """Text that is not a FHIRPath expression; ``position`` is the 0-based character offset."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at character {position})")
        self.position = position


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident delimited string number date datetime time variable external op eof
    text: str  # the value: identifier, unquoted string, number text, date text, operator
    position: int
    extra: str = ""  # time zone of date-times


def _unescape(text: str, start: int, quote: str) -> tuple[str, int]:
    """Read a quoted string starting after its opening quote; return the value and end."""
    out: list[str] = []
    i = start
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= len(text):
                break
            nxt = text[i + 1]
            if nxt == "u":
                digits = text[i + 2 : i + 6]
                if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                    raise FhirPathSyntaxError("invalid \\u escape", i)
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            if nxt not in _ESCAPES:
                raise FhirPathSyntaxError(f"invalid escape \\{nxt}", i)
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise FhirPathSyntaxError("unterminated string", start - 1)


def tokenize(text: str) -> list[Token]:
    """The tokens of *text*, ending with an ``eof`` token."""
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise FhirPathSyntaxError("unterminated comment", i)
            i = end + 2
            continue
        if ch in "'\"":
            # FHIRPath strings are single-quoted; the R5 core also writes one in double quotes
            # (eld-11: `contains(":")`), which the HL7 reference engine accepts too.
            value, end = _unescape(text, i + 1, ch)
            tokens.append(Token("string", value, i))
            i = end
            continue
        if ch == "`":
            value, end = _unescape(text, i + 1, "`")
            tokens.append(Token("delimited", value, i))
            i = end
            continue
        if ch == "@":
            for kind, regex in (("datetime", _DATETIME_RE), ("time", _TIME_RE), ("date", _DATE_RE)):
                match = regex.match(text, i)
                if match:
                    break
            else:
                raise FhirPathSyntaxError("invalid date/time literal", i)
            end = match.end()
            if end < n and (text[end].isalnum() or text[end] == "_"):
                raise FhirPathSyntaxError("invalid date/time literal", i)
            if kind == "datetime":
                value = match.group(1) + "T" + (match.group(2) or "")
                tokens.append(Token(kind, value, i, match.group(3) or ""))
            else:
                tokens.append(Token(kind, match.group(1), i))
            i = end
            continue
        if ch == "$":
            match = _IDENT_RE.match(text, i + 1)
            if not match or match.group() not in ("this", "index", "total"):
                raise FhirPathSyntaxError("unknown $ variable", i)
            tokens.append(Token("variable", match.group(), i))
            i = match.end()
            continue
        if ch == "%":
            if i + 1 < n and text[i + 1] in "`'":
                value, end = _unescape(text, i + 2, text[i + 1])
            else:
                match = _IDENT_RE.match(text, i + 1)
                if not match:
                    raise FhirPathSyntaxError("invalid external constant", i)
                value, end = match.group(), match.end()
            tokens.append(Token("external", value, i))
            i = end
            continue
        if ch.isdigit():
            match = _NUMBER_RE.match(text, i)
            assert match is not None
            tokens.append(Token("number", match.group(), i))
            i = match.end()
            continue
        match = _IDENT_RE.match(text, i)
        if match:
            tokens.append(Token("ident", match.group(), i))
            i = match.end()
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(Token("op", op, i))
                i += len(op)
                break
        else:
            raise FhirPathSyntaxError(f"unexpected character {ch!r}", i)
    tokens.append(Token("eof", "", n))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    # -- token helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def next(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def expect_op(self, op: str) -> Token:
        if not self.at_op(op):
            raise FhirPathSyntaxError(f"expected {op!r}, found {self.tok.text or 'end'!r}",
                                      self.tok.position)
        return self.next()

    def binary_op(self) -> str | None:
        """The binary operator at the current token, if any."""
        tok = self.tok
        if tok.kind == "op" and tok.text not in (".", "[", "]", "(", ")", ",", "{", "}"):
            return tok.text
        if tok.kind == "ident" and tok.text in _OPERATOR_WORDS:
            return tok.text
        return None

    # -- grammar
    def parse(self) -> Expr:
        expr = self.expression(0)
        if self.tok.kind != "eof":
            raise FhirPathSyntaxError(f"unexpected {self.tok.text!r}", self.tok.position)
        return expr

    def expression(self, level: int) -> Expr:
        if level == len(_LEVELS):
            return self.unary()
        left = self.expression(level + 1)
        while True:
            op = self.binary_op()
            if op is None or op not in _LEVELS[level]:
                return left
            self.next()
            if level == _TYPE_LEVEL:
                left = TypeOp(op, left, self.type_specifier())
            else:
                left = Binary(op, left, self.expression(level + 1))

    def type_specifier(self) -> str:
        parts = [self.identifier()]
        while self.at_op(".") and self.tokens[self.pos + 1].kind in ("ident", "delimited"):
            self.next()
            parts.append(self.identifier())
        return ".".join(parts)

    def identifier(self) -> str:
        tok = self.tok
        if tok.kind not in ("ident", "delimited"):
            raise FhirPathSyntaxError(f"expected an identifier, found {tok.text or 'end'!r}",
                                      tok.position)
        self.next()
        return tok.text

    def unary(self) -> Expr:
        if self.at_op("+", "-"):
            op = self.next().text
            return Unary(op, self.unary())
        return self.postfix()

    def postfix(self) -> Expr:
        expr = self.term()
        while True:
            if self.at_op("."):
                self.next()
                name = self.identifier()
                if self.at_op("("):
                    expr = Call(expr, name, self.arguments())
                else:
                    expr = Member(expr, name)
            elif self.at_op("["):
                self.next()
                index = self.expression(0)
                self.expect_op("]")
                expr = Indexer(expr, index)
            else:
                return expr

    def arguments(self) -> tuple[Expr, ...]:
        self.expect_op("(")
        args: list[Expr] = []
        if not self.at_op(")"):
            args.append(self.expression(0))
            while self.at_op(","):
                self.next()
                args.append(self.expression(0))
        self.expect_op(")")
        return tuple(args)

    def term(self) -> Expr:
        tok = self.tok
        if tok.kind == "op":
            if tok.text == "(":
                self.next()
                expr = self.expression(0)
                self.expect_op(")")
                return expr
            if tok.text == "{":
                self.next()
                self.expect_op("}")
                return Literal("empty", "")
            raise FhirPathSyntaxError(f"unexpected {tok.text!r}", tok.position)
        if tok.kind == "eof":
            raise FhirPathSyntaxError("unexpected end of expression", tok.position)
        self.next()
        if tok.kind == "string":
            return Literal("string", tok.text)
        if tok.kind == "number":
            return self.number(tok)
        if tok.kind in ("date", "time"):
            return Literal(tok.kind, tok.text)
        if tok.kind == "datetime":
            return Literal("datetime", tok.text + tok.extra)
        if tok.kind == "variable":
            return Variable(tok.text)
        if tok.kind == "external":
            return External(tok.text)
        if tok.kind == "ident" and tok.text in ("true", "false"):
            return Literal("boolean", tok.text)
        if tok.kind == "ident" and tok.text in _OPERATOR_WORDS - {"as", "is", "contains", "in"}:
            raise FhirPathSyntaxError(f"unexpected operator {tok.text!r}", tok.position)
        # identifier (plain or delimited): a member of the focus, or a function call on it
        if self.at_op("("):
            return Call(None, tok.text, self.arguments())
        return Member(None, tok.text)

    def number(self, tok: Token) -> Literal:
        text = tok.text
        if text.endswith("L"):
            return Literal("long", text[:-1])
        nxt = self.tok
        if nxt.kind == "string":
            self.next()
            return Literal("quantity", text, nxt.text)
        if nxt.kind == "ident" and nxt.text in CALENDAR_UNITS:
            self.next()
            return Literal("quantity", text, nxt.text)
        return Literal("decimal" if "." in text else "integer", text)


def parse(text: str) -> Expr:
    """Parse FHIRPath *text* into its AST; :class:`FhirPathSyntaxError` if it is not FHIRPath."""
    return _Parser(text).parse()
