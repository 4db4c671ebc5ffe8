"""Fail closed: a statement whose intent cannot be stored does not run.

The store is broken three ways while the gateway serves: a trigger that refuses every insert into
`audit_events` (SQLite and PostgreSQL: the append transaction fails), and a PostgreSQL store that
stops accepting connections (the appender's connection is killed and cannot come back). Then:

- a statement on a strict connection fails with a clear FATAL error, and did not run upstream (the
  rows it would have inserted are not there), nor did anything sent with it; the session ends;
- no new session opens on a strict connection (its start cannot be recorded);
- a relaxed connection keeps working (its events say ``durability: relaxed``);
- once the store is back, sessions that were open and idle go on, new ones open, and the chain
  verifies.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from audit_support import recorded, store_url_for
from conftest import Upstream, gateway_config
from harness import running_gateway
from rawpg import Raw
from wardgate import pgwire as pw
from wardgate.audit import verify

VARIANTS = ["sqlite-trigger", "pg-trigger", "pg-stopped"]
REFUSED = "audit log is unavailable"


def breaker(
    variant: str, url: str, upstream: Upstream
) -> tuple[Callable[[], None], Callable[[], None]]:
    """(break the store, repair it)."""
    if variant == "sqlite-trigger":

        def sqlite(sql: str) -> None:
            with contextlib.closing(sqlite3.connect(url)) as conn:
                conn.execute(sql)
                conn.commit()

        return (
            lambda: sqlite(
                "CREATE TRIGGER test_block BEFORE INSERT ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'the disk is full'); END"
            ),
            lambda: sqlite("DROP TRIGGER test_block"),
        )
    name = url.rsplit("/", 1)[1]

    def pg(sql: str, database: str = name) -> None:
        with psycopg.connect(upstream.admin_dsn(database), autocommit=True) as conn:
            conn.execute(sql.encode())

    if variant == "pg-trigger":
        return (
            lambda: pg(
                "CREATE FUNCTION test_block() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'the disk is full'; END $$; "
                "CREATE TRIGGER test_block BEFORE INSERT ON audit_events "
                "FOR EACH ROW EXECUTE FUNCTION test_block()"
            ),
            lambda: pg("DROP TRIGGER test_block ON audit_events; DROP FUNCTION test_block()"),
        )
    return (
        lambda: pg(
            f"ALTER DATABASE {name} ALLOW_CONNECTIONS false; "
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
            "postgres",
        ),
        lambda: pg(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true", "postgres"),
    )


def rows(upstream: Upstream) -> list[int]:
    with psycopg.connect(upstream.admin_dsn(), autocommit=True) as c:
        return [r[0] for r in c.execute("SELECT id FROM public.fc_rows ORDER BY id").fetchall()]


@pytest.mark.parametrize("variant", VARIANTS)
def test_statements_fail_closed_when_the_store_cannot_be_written(
    variant: str, upstream: Upstream, tmp_path: Path, request: Any
) -> None:
    with psycopg.connect(upstream.admin_dsn(), autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS public.fc_rows")
        admin.execute("CREATE TABLE public.fc_rows(id int)")
        admin.execute("GRANT ALL ON public.fc_rows TO wardgate_svc")
    url = store_url_for(
        "sqlite" if variant.startswith("sqlite") else "postgresql",
        tmp_path,
        request,
        fresh=variant == "pg-stopped",
    )
    raw = gateway_config(
        upstream,
        audit={"store": url, "connection_durability": {"reporting": "relaxed"}},
    )
    raw["connections"].append(upstream.connection("reporting"))
    break_store, repair_store = breaker(variant, url, upstream)
    with running_gateway(raw, check=False) as gw:
        idle = psycopg.connect(gw.dsn(application_name="idle"), autocommit=True)
        strict = psycopg.connect(gw.dsn(), autocommit=True)
        relaxed = psycopg.connect(gw.dsn(database="reporting"), autocommit=True)
        pipelined = Raw(gw.port)
        pipelined.login()
        try:
            break_store()
            with pytest.raises(psycopg.OperationalError, match=REFUSED):
                strict.execute("INSERT INTO fc_rows VALUES (1)")
            assert strict.closed or strict.broken
            # Two statements in one chunk: neither runs.
            pipelined.send(
                pw.Query(sql="INSERT INTO fc_rows VALUES (2)"),
                pw.Query(sql="INSERT INTO fc_rows VALUES (3)"),
            )
            error = pipelined.expect_fatal()
            assert error.sqlstate == "58030" and REFUSED in error.message
            with pytest.raises(psycopg.OperationalError, match=REFUSED):
                psycopg.connect(gw.dsn(), connect_timeout=10)
            relaxed.execute("INSERT INTO fc_rows VALUES (10)")  # relaxed: it runs
            assert rows(upstream) == [10]  # and nothing of the strict statements did
            repair_store()
            idle.execute("INSERT INTO fc_rows VALUES (20)")
            with psycopg.connect(gw.dsn(), autocommit=True) as again:
                again.execute("INSERT INTO fc_rows VALUES (30)")
            assert rows(upstream) == [10, 20, 30]
        finally:
            for conn in (idle, strict, relaxed):
                conn.close()
            pipelined.close()
        events = [e.data for e in recorded(gw)]
        report = gw.store()(verify)
    assert report.problem is None
    relaxed_events = [e for e in events if e.get("connection") == "reporting"]
    assert relaxed_events and {e["durability"] for e in relaxed_events} == {"relaxed"}
    assert {e["durability"] for e in events if e.get("connection") == "shop"} == {"strict"}
    ended = [e for e in events if e["type"] == "session.ended" and e["reason"] == "audit_failed"]
    assert ended == []  # their ends were not recordable either: the store was down
