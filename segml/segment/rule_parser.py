"""The parser of the rule language: tokens, the tree of a rule, and recursive descent.

See :mod:`segml.segment.rules` for the grammar and how rules are evaluated.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from segml.errors import DataError

__all__ = [
    "Between",
    "BoolOp",
    "Column",
    "Compare",
    "InList",
    "IsNull",
    "Literal",
    "Not",
    "RuleError",
    "caret",
    "node_pos",
    "parse_rule",
]


class RuleError(DataError):
    """A rule cannot be parsed or evaluated; the message points at the position."""


def caret(text: str, pos: int) -> str:
    return f"\n  {text}\n  {' ' * pos}^"


# ---------------------------------------------------------------------------- tokens
_MAX_DIGITS = 400  # far above any float's 17 significant digits, far below int()'s limit
_MAX_DEPTH = 100  # nested parentheses and "not": deeper is not a rule a person writes
_KEYWORDS = {"and", "or", "not", "in", "between", "is", "null", "true", "false"}
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[+-]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[()\[\],])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, keyword, op, punct, end
    value: Any
    pos: int


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise RuleError(
                f"unexpected character {text[pos]!r} at position {pos}" + caret(text, pos)
            )
        kind = m.lastgroup or ""
        raw = m.group()
        if kind == "number":
            prev = tokens[-1] if tokens else None
            if raw[0] in "+-" and prev is not None and prev.kind in ("number", "string", "name"):
                raise RuleError(
                    f"arithmetic is not part of the rule language: {raw[0]!r} at position {pos}"
                    + caret(text, pos)
                )
            clean = raw.replace("_", "")
            if "__" in raw or raw.endswith("_") or re.search(r"_\.|\._", raw):
                raise RuleError(f"malformed number {raw!r} at position {pos}" + caret(text, pos))
            tokens.append(Token("number", _number(raw, clean, text, pos), pos))
        elif kind == "string":
            body = raw[1:-1]
            value = re.sub(r"\\(.)", r"\1", body)
            tokens.append(Token("string", value, pos))
        elif kind == "name":
            low = raw.lower()
            if low in _KEYWORDS:
                tokens.append(Token("keyword", low, pos))
            else:
                tokens.append(Token("name", raw, pos))
        elif kind in ("op", "punct"):
            tokens.append(Token(kind, raw, pos))
        pos = m.end()
    tokens.append(Token("end", None, len(text)))
    return tokens


def _number(raw: str, clean: str, text: str, pos: int) -> int | float:
    """The value of a number token; one beyond a 64-bit float's range is an error."""
    digits = sum(c.isdigit() for c in clean.split("e")[0].split("E")[0])
    if digits > _MAX_DIGITS:
        raise RuleError(
            f"number at position {pos} has {digits} digits; at most {_MAX_DIGITS} are accepted"
            + caret(text, pos)
        )
    value: int | float = float(clean) if any(c in clean for c in ".eE") else int(clean)
    if isinstance(value, int) and abs(value) >= 2**63:
        value = float(value)  # compared as a float, like every numeric column
    if not math.isfinite(value):
        raise RuleError(
            f"number {raw[:20]!r}... at position {pos} is beyond the range of a 64-bit float"
            + caret(text, pos)
        )
    return value


# ------------------------------------------------------------------------------ tree
@dataclass(frozen=True)
class Column:
    name: str
    pos: int


@dataclass(frozen=True)
class Literal:
    value: Any  # int, float, str or bool
    pos: int


@dataclass(frozen=True)
class Compare:
    op: str
    left: Any
    right: Any
    pos: int


@dataclass(frozen=True)
class InList:
    operand: Any
    values: tuple[Literal, ...]
    negated: bool
    pos: int


@dataclass(frozen=True)
class Between:
    operand: Any
    low: Any
    high: Any
    negated: bool
    pos: int


@dataclass(frozen=True)
class IsNull:
    operand: Any
    negated: bool
    pos: int


@dataclass(frozen=True)
class Not:
    operand: Any
    pos: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple[Any, ...]
    pos: int


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def nest(self, tok: Token) -> None:
        """Count one more level of nesting; recursion stops at a clear error."""
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise RuleError(
                f"the rule nests parentheses or 'not' more than {_MAX_DEPTH} levels deep at "
                f"position {tok.pos}" + caret(self.text, tok.pos)
            )

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> RuleError:
        tok = tok or self.peek()
        found = "the end of the rule" if tok.kind == "end" else repr(self._raw(tok))
        return RuleError(
            f"{message} at position {tok.pos}, found {found}" + caret(self.text, tok.pos)
        )

    def _raw(self, tok: Token) -> str:
        nxt = self.tokens[self.tokens.index(tok) + 1] if tok.kind != "end" else tok
        return self.text[tok.pos : nxt.pos].strip() or str(tok.value)

    def is_kw(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "keyword" and tok.value == word

    def expect_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            raise self.error(f"expected {word!r}")
        return self.next()

    def expect_punct(self, ch: str) -> Token:
        tok = self.peek()
        if tok.kind != "punct" or tok.value != ch:
            raise self.error(f"expected {ch!r}")
        return self.next()

    def parse(self) -> Any:
        if self.peek().kind == "end":
            raise RuleError("the rule is empty; write a condition such as 'frequency >= 2'.")
        node = self.or_expr()
        if self.peek().kind != "end":
            raise self.error("unexpected text after a complete condition (missing 'and'/'or'?)")
        return node

    def or_expr(self) -> Any:
        first = self.and_expr()
        items = [first]
        while self.is_kw("or"):
            self.next()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items), node_pos(first))

    def and_expr(self) -> Any:
        first = self.not_expr()
        items = [first]
        while self.is_kw("and"):
            self.next()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items), node_pos(first))

    def not_expr(self) -> Any:
        if self.is_kw("not"):
            tok = self.next()
            self.nest(tok)
            node = Not(self.not_expr(), tok.pos)
            self.depth -= 1
            return node
        return self.predicate()

    def predicate(self) -> Any:
        left = self.operand()
        tok = self.peek()
        if tok.kind == "op":
            self.next()
            return Compare(tok.value, left, self.operand(), tok.pos)
        negated = False
        if self.is_kw("not"):
            after = self.tokens[self.i + 1]
            if after.kind == "keyword" and after.value in ("in", "between"):
                self.next()
                negated = True
            else:
                raise self.error("expected 'in' or 'between' after 'not'", after)
        if self.is_kw("in"):
            pos = self.next().pos
            return InList(left, self.literal_list(), negated, pos)
        if self.is_kw("between"):
            pos = self.next().pos
            low = self.operand()
            self.expect_kw("and")
            high = self.operand()
            return Between(left, low, high, negated, pos)
        if self.is_kw("is"):
            pos = self.next().pos
            neg = False
            if self.is_kw("not"):
                self.next()
                neg = True
            self.expect_kw("null")
            return IsNull(left, neg, pos)
        return left

    def literal_list(self) -> tuple[Literal, ...]:
        self.expect_punct("[")
        values: list[Literal] = []
        while True:
            tok = self.peek()
            if tok.kind == "punct" and tok.value == "]" and values:
                self.next()
                break
            values.append(self.literal())
            tok = self.peek()
            if tok.kind == "punct" and tok.value == ",":
                self.next()
                continue
            if tok.kind == "punct" and tok.value == "]":
                self.next()
                break
            raise self.error("expected ',' or ']' in the list")
        return tuple(values)

    def literal(self) -> Literal:
        tok = self.peek()
        if tok.kind in ("number", "string"):
            self.next()
            return Literal(tok.value, tok.pos)
        if tok.kind == "keyword" and tok.value in ("true", "false"):
            self.next()
            return Literal(tok.value == "true", tok.pos)
        raise self.error("expected a number, a string, true or false")

    def operand(self) -> Any:
        tok = self.peek()
        if tok.kind == "name":
            self.next()
            nxt = self.peek()
            if nxt.kind == "punct" and nxt.value == "(":
                raise self.error("function calls are not part of the rule language", nxt)
            return Column(tok.value, tok.pos)
        if tok.kind == "punct" and tok.value == "(":
            self.nest(self.next())
            node = self.or_expr()
            self.expect_punct(")")
            self.depth -= 1
            return node
        if tok.kind in ("number", "string") or (
            tok.kind == "keyword" and tok.value in ("true", "false")
        ):
            return self.literal()
        raise self.error("expected a column name, a value or '('")


def node_pos(node: Any) -> int:
    return int(getattr(node, "pos", 0))


def parse_rule(text: str) -> Any:
    """Parse ``text`` into a rule tree; raises :class:`RuleError` with the position."""
    if not isinstance(text, str):
        raise RuleError(f"a rule must be a string, got {type(text).__name__}.")
    return _Parser(text).parse()
