"""Shared by the audit tests: a store on each backend, and sample events."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import psycopg

from wardgate.audit import (
    DecisionSummary,
    FactsSummary,
    SessionStarted,
    StatementIntent,
    StatementOutcome,
)

BACKENDS = ["sqlite", "postgresql"]


def pg_database(upstream: Any) -> str:
    """A new empty database on the test run's PostgreSQL; its URL."""
    name = f"audit_{secrets.token_hex(6)}"
    with psycopg.connect(upstream.admin_dsn("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}".encode())
    return (
        f"postgresql://{upstream.superuser}:{upstream.password}@"
        f"{upstream.host}:{upstream.port}/{name}"
    )


_RESET = b"""
TRUNCATE audit_events, audit_checkpoints;
UPDATE audit_head SET seq = 0, hash = repeat('0', 64);
UPDATE audit_meta SET value = '0' WHERE key = 'pruned_through_seq';
UPDATE audit_meta SET value = repeat('0', 64) WHERE key = 'pruned_through_hash';
"""
_shared: dict[str, tuple[str, str]] = {}


def _pg_empty(upstream: Any) -> str:
    """One database for the run, emptied for each test (CREATE DATABASE costs ~0.25 s here)."""
    if "pg" not in _shared:
        url = pg_database(upstream)
        _shared["pg"] = (url, url.rsplit("/", 1)[1])
    url, name = _shared["pg"]
    with psycopg.connect(upstream.admin_dsn(name), autocommit=True) as conn:
        if conn.execute(b"SELECT to_regclass('audit_events')").fetchone() != (None,):
            conn.execute(_RESET)
    return url


def store_url_for(backend: str, tmp_path: Path, request: Any, *, fresh: bool = False) -> str:
    """An empty store's URL; ``fresh`` gives PostgreSQL a new database, schema not yet made."""
    if backend == "sqlite":
        return str(tmp_path / "audit.db")
    upstream = request.getfixturevalue("upstream")
    return pg_database(upstream) if fresh else _pg_empty(upstream)


def started(session: str = "s1", user: str = "alice") -> SessionStarted:
    return SessionStarted(
        session_id=session,
        user=user,
        groups=("analysts",),
        auth_method="scram",
        connection="shop",
        client_addr="127.0.0.1",
        application_name="psql",
    )


def intent(
    session: str = "s1",
    number: int = 1,
    *,
    user: str = "alice",
    text: str = "SELECT email FROM customers",
    effect: str = "allow",
    kinds: tuple[str, ...] = ("read",),
    connection: str = "shop",
) -> StatementIntent:
    return StatementIntent(
        session_id=session,
        statement_seq=number,
        user=user,
        connection=connection,
        text=text,
        parameters=("***",),
        facts=FactsSummary(kinds=kinds, commands=("SELECT",), objects=("public.customers:read",)),
        decision=DecisionSummary(effect=effect, rules=("r1",), policy_version="v1"),
    )


def outcome(session: str = "s1", number: int = 1, rows: int = 3) -> StatementOutcome:
    return StatementOutcome(
        session_id=session, statement_seq=number, status="ok", rows=rows, duration_us=1500
    )


# -- gateways that record ------------------------------------------------------------------------


def recorded(gw: Any) -> list[Any]:
    """Every event a running gateway (`harness.RunningGateway`) has recorded so far, as
    `StoredEvent`s; outcomes are queued without waiting, so the writer is flushed first."""
    from wardgate.audit import iter_events

    audit = gw.gateway.audit
    if audit is not None:
        gw.call(audit.writer.flush())

    async def read(store: Any) -> list[Any]:
        return [event async for event in iter_events(store)]

    return list(gw.store()(read))


def session_of(events: list[Any], application_name: str) -> str:
    """The session id of the one session a client opened with this application_name."""
    ids = [
        e.data["session_id"]
        for e in events
        if e.type == "session.started" and e.data.get("application_name") == application_name
    ]
    assert len(ids) == 1, f"{len(ids)} sessions named {application_name!r}"
    return str(ids[0])


def statements(events: list[Any], session_id: str) -> dict[int, dict[str, Any]]:
    """statement_seq -> {"intent": data, "outcome": data} for one session."""
    out: dict[int, dict[str, Any]] = {}
    for e in events:
        if e.data.get("session_id") == session_id and "statement_seq" in e.data:
            kind = e.type.split(".", 1)[1]
            out.setdefault(int(e.data["statement_seq"]), {})[kind] = e.data
    return out
