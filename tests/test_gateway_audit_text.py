"""The pieces of what the gateway records, alone: redacted SQL, value tokens, fast encoding.

`redact_sql` is table-driven (every kind of constant and comment, the lexer-rejected fallback,
the shape fast path), then property-tested: whatever literals a statement holds, none of them is
in the recorded text, and the shape path gives exactly what the lexer path gives. The fast
encoder of intents and outcomes must produce the generic canonical bytes for any field values.
"""

from __future__ import annotations

import dataclasses
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pglast import parser

from wardgate.audit import (
    DecisionSummary,
    FactsSummary,
    MaskingSummary,
    StatementIntent,
    StatementOutcome,
    _fast,
)
from wardgate.audit._chain import prepare
from wardgate.proxy._sqltext import ValueTokens, clean_text, redact_sql

CASES = [
    # (statement, recorded text, values)
    ("SELECT 1", "SELECT $1", ("1",)),
    ("BEGIN", "BEGIN", ()),
    (
        "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;",
        "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
        ("12345",),
    ),
    ("SELECT 'it''s', 5, 1.5e3", "SELECT $1, $2, $3", ("it's", "5", "1.5e3")),
    ("SELECT $1, 'x'", "SELECT $1, $2", ("x",)),  # numbered after the bind parameters
    ("SELECT $$dollar$$, $t$tagged$t$", "SELECT $1, $2", ("dollar", "tagged")),
    ("SELECT E'a\\'b', B'101', X'ff', U&'d\\0061t'", "SELECT $1, $2, $3, $4",
     ("E'a\\'b'", "B'101'", "X'ff'", "U&'d\\0061t'")),
    ("SELECT 1 -- ada@example.com\n", "SELECT $1 /**/\n", ("1",)),
    ("SELECT /* 4111 1111 1111 1111 */ 2", "SELECT /**/ $1", ("2",)),
    ("PREPARE p AS SELECT 'in a body'", "PREPARE p AS SELECT $1", ("in a body",)),
    ("SET search_path TO 'x'", "SET search_path TO $1", ("x",)),
    ("SELEC 'x' FROM", "SELEC $1 FROM", ("x",)),  # the parser rejects it, the lexer does not
    ("SELECT \"ada@example.com\" FROM t", "SELECT \"ada@example.com\" FROM t", ()),  # a name
]  # fmt: skip


@pytest.mark.parametrize(("sql", "text", "values"), CASES)
def test_constants_and_comments_are_taken_out(sql: str, text: str, values: tuple[str, ...]) -> None:
    assert redact_sql(sql) == (text, values)
    try:
        shape = parser.normalize(sql)
    except parser.ParseError:
        return
    assert redact_sql(sql, shape=shape) == (text, values)  # the fast path agrees


def test_a_negative_number_is_one_value_on_the_shape_path() -> None:
    """normalize folds a unary minus into the constant; the lexer sees two tokens. Either way
    the value is out of the text."""
    sql = "SELECT a FROM t WHERE b = -5"
    assert redact_sql(sql) == ("SELECT a FROM t WHERE b = -$1", ("5",))
    shape = parser.normalize(sql)
    assert redact_sql(sql, shape=shape) == ("SELECT a FROM t WHERE b = $1", ("-5",))


def _emails(text: str) -> list[tuple[str, int, int]]:
    at = text.find("ada@example.com")
    return [("email", at, at + 15)] if at >= 0 else []


@pytest.mark.parametrize(
    ("sql", "text"),
    [
        ("SELECT 'ada@example.com", "SELECT $1"),
        ("SELECT x WHERE y = ada@example.com AND '", "SELECT x WHERE y = [email] AND $1"),
        ("SELECT 12, 'open", "SELECT $1, $2"),
        ("SELECT 'x'\0", "SELECT $1\0"),
    ],
)
def test_text_the_lexer_rejects_is_cut_and_scanned(sql: str, text: str) -> None:
    assert redact_sql(sql, _emails)[0] == text
    assert redact_sql(sql)[0] == f"<statement the lexer rejected: {len(sql)} characters>"


def test_invalid_utf8_from_the_wire_becomes_replacement_characters() -> None:
    raw = b"SELECT x\xff FROM t".decode("utf-8", "surrogateescape")
    text, _ = redact_sql(raw)
    text.encode("utf-8")  # storable
    assert text == "SELECT x\ufffd FROM t" == clean_text(raw)


def test_value_tokens_are_keyed_and_equal_for_equal_values() -> None:
    one, two = ValueTokens(b"a" * 32), ValueTokens(b"b" * 32)
    assert one.token("12345") == one.token(b"12345") != two.token("12345")
    assert one.token(None) is None
    assert one.tokens(["x", None, b"x"]) == (one.token("x"), None, one.token("x"))
    assert one.token("x").startswith("mac:") and len(one.token("x") or "") == 20
    with pytest.raises(ValueError):
        ValueTokens(b"short")


_values = st.one_of(
    st.integers(min_value=0, max_value=10**12).map(str),
    st.text(alphabet=string.ascii_letters + string.digits + "@.-' é", max_size=20).map(
        lambda s: "'" + s.replace("'", "''") + "'"
    ),
    st.text(alphabet=string.ascii_letters + " $", max_size=10)
    .filter(lambda s: "$q$" not in s)
    .map(lambda s: f"$q${s}$q$"),
    st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False).map(str),
)
_templates = st.sampled_from(
    [
        "SELECT {} ",
        "SELECT a FROM t WHERE b = {} AND c IN ({}, {})",
        "INSERT INTO t VALUES ({}, {})",
        "UPDATE t SET a = {} WHERE id = {}",
        "SELECT a FROM t WHERE b LIKE {} ORDER BY a LIMIT {}",
    ]
)


@settings(max_examples=300, deadline=None)
@given(_templates, st.lists(_values, min_size=3, max_size=3))
def test_no_literal_survives_in_the_text(template: str, literals: list[str]) -> None:
    sql = template.format(*literals)
    expected = template.format(*(f"${n}" for n in range(1, 4)))
    shape = parser.normalize(sql)
    for use_shape in (None, shape):
        text, values = redact_sql(sql, shape=use_shape)
        assert text == expected  # every literal replaced, nothing else touched
        assert len(values) == template.count("{}")
    assert redact_sql(sql, shape=shape) == redact_sql(sql)


# -- the fast encoder ----------------------------------------------------------------------------

_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
_ints = st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)


def _both(event: Any, at: int) -> tuple[Any, Any]:
    fast = prepare(event, at=at, durability="strict")
    saved = dict(_fast.FAST_BODIES)
    _fast.FAST_BODIES.clear()
    try:
        generic = prepare(event, at=at, durability="strict")
    finally:
        _fast.FAST_BODIES.update(saved)
    return fast, generic


@settings(max_examples=200, deadline=None)
@given(
    session=_text,
    user=_text,
    text=_text,
    seq=_ints,
    at=_ints,
    params=st.lists(st.one_of(st.none(), _text), max_size=4),
    kinds=st.lists(st.sampled_from(["read", "write", "ddl"]), max_size=3, unique=True),
    effect=st.sampled_from(["allow", "deny", "review"]),
    rules=st.lists(_text, max_size=2),
)
def test_fast_intent_bodies_are_the_canonical_ones(
    session: str,
    user: str,
    text: str,
    seq: int,
    at: int,
    params: list[str | None],
    kinds: list[str],
    effect: str,
    rules: list[str],
) -> None:
    event = StatementIntent(
        session_id=session,
        statement_seq=seq,
        user=user,
        connection="shop",
        text=text,
        parameters=tuple(params),
        facts=FactsSummary(kinds=tuple(sorted(kinds)), commands=("SELECT",), objects=("t:read",)),
        decision=DecisionSummary(effect=effect, rules=tuple(rules), policy_version="v"),
    )
    fast, generic = _both(event, at)
    assert fast == generic


@settings(max_examples=200, deadline=None)
@given(
    seq=_ints,
    rows=st.one_of(st.none(), _ints),
    duration=_ints,
    state=st.one_of(st.none(), _text),
    status=_text,
    columns=st.lists(_text, max_size=2),
    entities=st.dictionaries(_text, st.integers(0, 10), max_size=2),
)
def test_fast_outcome_bodies_are_the_canonical_ones(
    seq: int,
    rows: int | None,
    duration: int,
    state: str | None,
    status: str,
    columns: list[str],
    entities: dict[str, int],
) -> None:
    masking = MaskingSummary(columns=tuple(columns), entities=entities, values=len(columns))
    event = StatementOutcome(
        session_id="s",
        statement_seq=seq,
        status=status,
        rows=rows,
        duration_us=duration,
        sqlstate=state,
        masking=masking,
    )
    fast, generic = _both(event, 1)
    assert fast == generic


def test_the_fast_path_declines_what_the_generic_one_refuses() -> None:
    event = StatementIntent(
        session_id="s", statement_seq=1, user="u", connection="c", text="x",
        decision=DecisionSummary(effect="allow"),
    )  # fmt: skip
    for bad in (
        dataclasses.replace(event, statement_seq=2**63),
        dataclasses.replace(event, text="\ud800"),
        dataclasses.replace(event, parameters=(1.5,)),  # type: ignore[arg-type]
    ):
        with pytest.raises((TypeError, ValueError)):
            prepare(bad, at=1, durability="strict")
