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
