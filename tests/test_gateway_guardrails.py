"""Policy guardrails enforced by the gateway: a row cap and a statement timeout per statement."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from conftest import Upstream, capped_gateway
from harness import RunningGateway

POLICY = {
    "rules": [
        {
            "id": "capped-read",
            "match": {"groups": ["capped"], "statement_kinds": ["read", "transaction", "utility"]},
            "effect": "allow",
            "guardrails": {"row_limit": 5, "statement_timeout_ms": 400},
        }
    ]
}


@pytest.fixture(scope="module")
def capped(
    upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    with capped_gateway(upstream, tmp_path_factory.mktemp("guardrails"), POLICY) as gw:
        yield gw


@pytest.fixture
def conn(capped: RunningGateway) -> Iterator[psycopg.Connection]:
    with psycopg.connect(capped.dsn(user="capped", password="capped-pw"), autocommit=True) as c:
        yield c


def test_results_within_the_row_cap_pass(conn: psycopg.Connection) -> None:
    assert conn.execute("SELECT g FROM generate_series(1, 5) g").fetchall() == [
        (i,) for i in range(1, 6)
    ]


@pytest.mark.parametrize("prepare", [False, True], ids=["simple", "extended"])
def test_row_cap_ends_the_statement_and_the_session_goes_on(
    conn: psycopg.Connection, prepare: bool
) -> None:
    with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="at most 5 rows") as err:
        # A cross join streams its first rows at once (generate_series would materialize
        # first). 50^5 rows would stream for many minutes: the test's timeout fails it unless
        # the upstream cancel really ends the statement.
        conn.execute(
            "SELECT a.id FROM shop.customers a, shop.customers b, shop.customers c, "
            "shop.customers d, shop.customers e",
            prepare=prepare,
        )
    assert "capped-read" in (err.value.diag.message_detail or "")
    assert conn.execute("SELECT 'next'").fetchone() == ("next",)


def test_statement_timeout_cancels_upstream(conn: psycopg.Connection) -> None:
    started = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled, match="policy's statement timeout"):
        conn.execute("SELECT pg_sleep(10)")
    assert time.monotonic() - started < 3
    time.sleep(0.5)  # longer than the timeout: an idle session is not cancelled
    assert conn.execute("SELECT 'still fine'").fetchone() == ("still fine",)


def test_quick_statements_are_not_touched_by_the_timer(conn: psycopg.Connection) -> None:
    for i in range(20):
        assert conn.execute("SELECT %s::int", (i,)).fetchone() == (i,)
        assert conn.execute("SELECT pg_sleep(0.02)").fetchone() == ("",)
