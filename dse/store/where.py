"""The ``--where`` filter language: a tokenizer and a recursive-descent parser to an AST over a
whitelist of column names, compiled to SQLAlchemy expressions (bound parameters) or to pandas
masks. Nothing a user types reaches SQL as text.

Grammar (keywords case-insensitive)::

    expr       := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expr ")" | comparison
    comparison := operand OP operand          (at least one side a column)
    operand    := COLUMN | ["-"] NUMBER | STRING
    OP         := "<" | "<=" | ">" | ">=" | "==" | "!="

Numbers: ``12``, ``0.5``, ``.5``, ``1e6``, ``2.5E-3``. Strings (single or double quotes, no
escapes) only compare with ``status`` by ``==``/``!=``. Missing values (NULL/NaN) follow SQL's
three-valued logic in both compilers: a comparison with a missing value is unknown, ``not``
unknown is unknown, and only rows where the whole expression is true are kept.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import ColumnElement

OPS = ("<=", ">=", "==", "!=", "<", ">")
STRING_COLUMNS = ("status",)
BOOL_COLUMNS = ("pareto",)
KEYWORDS = ("and", "or", "not")


class WhereError(ValueError):
    """A malformed or disallowed filter; the message names the position, token and rule."""


@dataclass(frozen=True)
class Token:
    kind: str  # NUMBER, STRING, IDENT, OP, MINUS, LPAREN, RPAREN, AND, OR, NOT, END
    text: str
    pos: int  # 1-based character position in the expression


@dataclass(frozen=True)
class Column:
    name: str
    pos: int


@dataclass(frozen=True)
class Literal:
    value: float | str
    pos: int


Operand = Column | Literal


@dataclass(frozen=True)
class Compare:
    left: Operand
    op: str
    right: Operand


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | And | Or | Not

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _error(tok: Token | None, rule: str, expr: str = "") -> WhereError:
    if tok is None or tok.kind == "END":
        where = f"at position {len(expr) + 1} (end of expression)"
    else:
        where = f"at position {tok.pos}, token {tok.text!r}"
    return WhereError(f"{where}: {rule}")


def tokenize(expr: str) -> list[Token]:
    """Split ``expr`` into tokens; any character outside the language is an error."""
    tokens: list[Token] = []
    i = 0
    n = len(expr)
    while i < n:
        ch = expr[i]
        if ch.isspace():
            i += 1
            continue
        pos = i + 1
        if ch in "'\"":
            end = expr.find(ch, i + 1)
            if end < 0:
                raise WhereError(f"at position {pos}, token {expr[i:]!r}: unterminated string "
                                 f"(close it with {ch})")
            tokens.append(Token("STRING", expr[i + 1:end], pos))
            i = end + 1
            continue
        m = _NUMBER.match(expr, i)
        if m:
            j = m.end()
            if j < n and (expr[j].isalpha() or expr[j] == "_"):
                k = _IDENT.match(expr, j)
                bad = expr[i:k.end() if k else j + 1]
                raise WhereError(f"at position {pos}, token {bad!r}: not a number "
                                 "(numbers look like 12, 0.5, 1e6)")
            tokens.append(Token("NUMBER", m.group(0), pos))
            i = j
            continue
        m = _IDENT.match(expr, i)
        if m:
            word = m.group(0)
            kind = word.upper() if word.lower() in KEYWORDS else "IDENT"
            tokens.append(Token(kind, word, pos))
            i = m.end()
            continue
        two = expr[i:i + 2]
        if two in OPS:
            tokens.append(Token("OP", two, pos))
            i += 2
            continue
        if ch in "<>":
            tokens.append(Token("OP", ch, pos))
            i += 1
            continue
        if ch == "-":
            tokens.append(Token("MINUS", ch, pos))
            i += 1
            continue
        if ch in "()":
            tokens.append(Token("LPAREN" if ch == "(" else "RPAREN", ch, pos))
            i += 1
            continue
        hint = {"=": "use == to compare", "&": "use and", "|": "use or", "!": "use != or not",
                ";": "one expression only", "*": "no arithmetic", "+": "no arithmetic",
                "/": "no arithmetic", ",": "no lists"}.get(ch, "not part of the filter language")
        shown = two if two in ("--", "/*") else ch
        raise WhereError(f"at position {pos}, token {shown!r}: unexpected character ({hint}; "
                         "allowed: columns, numbers, "
                         "'strings' for status, < <= > >= == !=, and/or/not, parentheses)")
    tokens.append(Token("END", "", n + 1))
    return tokens


class _Parser:
    def __init__(self, expr: str, columns: Iterable[str]) -> None:
        self.expr = expr
        # keep a container's own membership test (the query layer passes a permissive one)
        self.columns = columns if isinstance(columns, Collection) else set(columns)
        self.tokens = tokenize(expr)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        if self.tok.kind == "END":
            raise _error(self.tok, "empty expression", self.expr)
        node = self.or_expr()
        if self.tok.kind != "END":
            rule = ("')' without a matching '('" if self.tok.kind == "RPAREN"
                    else "expected 'and', 'or' or the end of the expression")
            raise _error(self.tok, rule, self.expr)
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.tok.kind == "OR":
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.tok.kind == "AND":
            self.take()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Node:
        if self.tok.kind == "NOT":
            self.take()
            return Not(self.not_expr())
        if self.tok.kind == "LPAREN":
            self.take()
            node = self.or_expr()
            if self.tok.kind != "RPAREN":
                raise _error(self.tok, "expected ')' to close '('", self.expr)
            self.take()
            return node
        return self.comparison()

    def operand(self) -> Operand:
        tok = self.tok
        if tok.kind == "IDENT":
            self.take()
            if self.tok.kind == "LPAREN":
                raise _error(tok, "function calls are not allowed", self.expr)
            if tok.text not in self.columns:
                raise _error(tok, "unknown column (columns: "
                             f"{', '.join(sorted(self.columns))})", self.expr)
            return Column(tok.text, tok.pos)
        if tok.kind == "MINUS":
            self.take()
            if self.tok.kind != "NUMBER":
                raise _error(self.tok, "expected a number after '-'", self.expr)
            num = self.take()
            return Literal(-float(num.text), tok.pos)
        if tok.kind == "NUMBER":
            self.take()
            return Literal(float(tok.text), tok.pos)
        if tok.kind == "STRING":
            self.take()
            return Literal(tok.text, tok.pos)
        raise _error(tok, "expected a column, a number, a 'string', 'not' or '('", self.expr)

    def comparison(self) -> Node:
        left = self.operand()
        if self.tok.kind != "OP":
            raise _error(self.tok, f"expected a comparison ({' '.join(OPS)}) after "
                         f"{_describe(left)}", self.expr)
        op = self.take().text
        right = self.operand()
        self.check(left, op, right)
        return Compare(left, op, right)

    def check(self, left: Operand, op: str, right: Operand) -> None:
        if not isinstance(left, Column) and not isinstance(right, Column):
            raise WhereError(f"at position {left.pos}, token {_describe(left)}: a comparison "
                             "needs a column on one side")
        for a, b in ((left, right), (right, left)):
            if isinstance(a, Literal) and isinstance(a.value, str):
                if not (isinstance(b, Column) and b.name in STRING_COLUMNS):
                    raise WhereError(f"at position {a.pos}, token {_describe(a)}: strings only "
                                     f"compare with {', '.join(STRING_COLUMNS)}")
                if op not in ("==", "!="):
                    raise WhereError(f"at position {a.pos}, token {_describe(a)}: strings only "
                                     "compare with == or !=")
                from dse.status import STATUSES

                if a.value not in STATUSES:
                    raise WhereError(f"at position {a.pos}, token {_describe(a)}: not a status "
                                     f"(statuses: {', '.join(STATUSES)})")
            if isinstance(a, Column) and a.name in STRING_COLUMNS and \
                    not (isinstance(b, Literal) and isinstance(b.value, str)):
                raise WhereError(f"at position {a.pos}, token {a.name!r}: {a.name} compares "
                                 "only with a 'string'")


def _describe(operand: Operand) -> str:
    if isinstance(operand, Column):
        return repr(operand.name)
    if isinstance(operand.value, str):
        return repr(f"'{operand.value}'")
    return repr(f"{operand.value:g}")


def parse_where(expr: str, columns: Iterable[str]) -> Node:
    """Parse ``expr`` against the allowed ``columns``; raises :class:`WhereError`."""
    if not isinstance(expr, str):
        raise WhereError(f"expression must be a string, got {type(expr).__name__}")
    return _Parser(expr, columns).parse()


def referenced_columns(node: Node) -> set[str]:
    """The column names an expression uses."""
    if isinstance(node, Compare):
        return {o.name for o in (node.left, node.right) if isinstance(o, Column)}
    if isinstance(node, Not):
        return referenced_columns(node.item)
    out: set[str] = set()
    for item in node.items:
        out |= referenced_columns(item)
    return out


_PY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne}


def to_sqlalchemy(node: Node, columns: Mapping[str, Any] | Any) -> ColumnElement[bool]:
    """A SQLAlchemy boolean expression; literals become bound parameters. ``columns`` maps
    names to column expressions (a dict or a table's ``.c``)."""
    from sqlalchemy import and_, literal, not_, or_

    if isinstance(node, And):
        return and_(*(to_sqlalchemy(n, columns) for n in node.items))
    if isinstance(node, Or):
        return or_(*(to_sqlalchemy(n, columns) for n in node.items))
    if isinstance(node, Not):
        return not_(to_sqlalchemy(node.item, columns))

    def side(o: Operand, other: Operand) -> Any:
        if isinstance(o, Column):
            col = columns[o.name]
            if o.name in BOOL_COLUMNS:
                from sqlalchemy import Integer, case

                return case((col.is_(None), None), (col, 1), else_=0).cast(Integer)
            return col
        if isinstance(o.value, str):
            return literal(o.value)
        return literal(float(o.value))

    return _PY_OPS[node.op](side(node.left, node.right), side(node.right, node.left))  # type: ignore[no-any-return]


def to_mask(node: Node, frame: pd.DataFrame) -> pd.Series:
    """A nullable-boolean mask (Kleene logic, NA where unknown); keep ``mask.fillna(False)``."""
    import pandas as pd

    if isinstance(node, And | Or):
        masks = [to_mask(n, frame) for n in node.items]
        out = masks[0]
        for m in masks[1:]:
            out = (out & m) if isinstance(node, And) else (out | m)
        return out
    if isinstance(node, Not):
        return ~to_mask(node.item, frame)

    def side(o: Operand) -> Any:
        if isinstance(o, Column):
            series = frame[o.name]
            if o.name in STRING_COLUMNS:
                return series.astype("string")
            return pd.to_numeric(series, errors="coerce").astype("Float64")
        return o.value

    result = _PY_OPS[node.op](side(node.left), side(node.right))
    return pd.Series(result, index=frame.index).astype("boolean")
