"""The --where language: grammar, errors (position, token, rule), injection attempts, and the
two compilers (SQL with bound parameters, pandas masks with three-valued logic)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Column as SAColumn
from sqlalchemy import Double, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from dse.store.where import (
    And,
    Column,
    Compare,
    Literal,
    Not,
    Or,
    WhereError,
    parse_where,
    referenced_columns,
    to_mask,
    to_sqlalchemy,
    tokenize,
)

COLS = ["accuracy", "memory_bits", "status", "energy_pj"]


def test_grammar_and_precedence() -> None:
    """``and`` binds tighter than ``or``; ``not`` tighter than both; parentheses override."""
    node = parse_where("accuracy > 0.9 or memory_bits <= 1e6 and not status == 'failed'", COLS)
    assert node == Or((
        Compare(Column("accuracy", 1), ">", Literal(0.9, 12)),
        And((Compare(Column("memory_bits", 19), "<=", Literal(1e6, 34)),
             Not(Compare(Column("status", 46), "==", Literal("failed", 56)))))))
    node = parse_where("(accuracy > .5 OR energy_pj < 2.5E-3) AND -1 < accuracy", COLS)
    assert isinstance(node, And) and isinstance(node.items[0], Or)
    assert node.items[1] == Compare(Literal(-1.0, 43), "<", Column("accuracy", 48))
    assert referenced_columns(node) == {"accuracy", "energy_pj"}
    assert [t.kind for t in tokenize("a>=1")] == ["IDENT", "OP", "NUMBER", "END"]


@pytest.mark.parametrize(("expr", "pos", "token", "rule"), [
    ("accuracy>0; DROP TABLE dse_studies", 11, "';'", "unexpected character"),
    ("1=1 --", 2, "'='", "use == to compare"),
    ("accuracy > 0 -- comment", 14, "'-'", "expected 'and', 'or' or the end"),
    ("accuracy > 0 /* x */", 14, "'/*'", "unexpected character"),
    ("accuracy > 'x' ", 12, "\"'x'\"", "strings only compare with status"),
    ("status == 'done'", 11, "\"'done'\"", "not a status"),
    ("status > 'failed'", 10, "\"'failed'\"", "strings only compare with == or !="),
    ("status == 1", 1, "'status'", "compares only with a 'string'"),
    ("accuracy > 0 or '1' == '1'", 17, "\"'1'\"", "needs a column on one side"),
    ("sleep(5) > 0", 1, "'sleep'", "function calls are not allowed"),
    ("lower(status) == 'failed'", 1, "'lower'", "function calls are not allowed"),
    ("password > 0", 1, "'password'", "unknown column (columns: accuracy, energy_pj"),
    ("1 == 1", 1, "'1'", "needs a column on one side"),
    ("accuracy >", 11, None, "expected a column, a number"),
    ("(accuracy > 1", 14, None, "expected ')'"),
    ("accuracy > 1)", 13, "')'", "without a matching '('"),
    ("accuracy 1", 10, "'1'", "expected a comparison"),
    ("accuracy > 1e6x", 12, "'1e6x'", "not a number"),
    ("accuracy > \"unterminated", 12, None, "unterminated string"),
    ("", 1, None, "empty expression"),
    ("accuracy > 0 && memory_bits < 1", 14, "'&'", "use and"),
])
def test_errors_name_position_token_and_rule(expr: str, pos: int, token: str | None,
                                             rule: str) -> None:
    with pytest.raises(WhereError) as info:
        parse_where(expr, COLS)
    msg = str(info.value)
    assert msg.startswith(f"at position {pos}"), msg
    if token is not None:
        assert f"token {token}" in msg, msg
    assert rule in msg and "\n" not in msg


def _table() -> Table:
    md = MetaData()
    return Table("t", md, SAColumn("accuracy", Double), SAColumn("memory_bits", Double),
                 SAColumn("status", String), SAColumn("energy_pj", Double))


def test_sql_uses_bound_parameters_only() -> None:
    t = _table()
    expr = to_sqlalchemy(parse_where("status == 'failed' or accuracy > 0.5", COLS), t.c)
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        sql = str(select(t).where(expr).compile(dialect=dialect))
        assert "failed" not in sql and "0.5" not in sql  # literals travel as parameters


ROWS: list[dict[str, Any]] = [
    {"accuracy": 0.9, "memory_bits": 100.0, "status": "complete", "energy_pj": 1.0},
    {"accuracy": None, "memory_bits": 5e6, "status": "infeasible", "energy_pj": None},
    {"accuracy": 0.4, "memory_bits": 300.0, "status": "complete", "energy_pj": 3.0},
    {"accuracy": None, "memory_bits": None, "status": None, "energy_pj": None},
]


@pytest.mark.parametrize(("expr", "expected"), [
    ("accuracy > 0.5", [0]),
    ("not (accuracy > 0.5)", [2]),  # NULL accuracy: unknown, and not unknown is unknown
    ("accuracy > 0.5 or memory_bits > 1e6", [0, 1]),
    ("not (accuracy > 0.5 or memory_bits > 1e6)", [2]),
    ("not accuracy > 0.5 and memory_bits < 1e9", [2]),
    ("status != 'complete'", [1]),
    ("not (status == 'complete')", [1]),
    ("memory_bits >= 100 and memory_bits <= 300", [0, 2]),
    ("energy_pj < memory_bits", [0, 2]),
])
def test_sql_and_pandas_agree_on_null_semantics(expr: str, expected: list[int]) -> None:
    t = _table()
    engine = create_engine("sqlite://")
    t.metadata.create_all(engine)
    with engine.begin() as conn:
        for row in ROWS:
            conn.execute(insert(t).values(**row))
        node = parse_where(expr, COLS)
        rows = conn.execute(select(t.c.memory_bits, t.c.status).where(
            to_sqlalchemy(node, t.c))).all()
    frame = pd.DataFrame(ROWS)
    mask = to_mask(node, frame).fillna(False).to_numpy(dtype=bool)
    assert frame.index[mask].tolist() == expected
    assert [(r[0], r[1]) for r in rows] == [
        (ROWS[i]["memory_bits"], ROWS[i]["status"]) for i in expected]
