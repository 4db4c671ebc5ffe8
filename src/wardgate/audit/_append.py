"""The append transaction, shaped per dialect for latency (a strict statement waits on it).

Latency matters as much as throughput, because a strict statement waits for its intent's commit.
Measured here, the disk sync is the small part (~0.2 ms); the rest is per-statement overhead:
aiosqlite hops to its thread for every cursor call (~20 hops, ~3 ms per append) and each asyncpg
round trip through SQLAlchemy costs ~0.25 ms. So the append transaction is shaped per dialect:

- SQLite: the whole transaction runs as one function on a dedicated thread, as four plain DB-API
  calls on a connection from a synchronous SQLAlchemy engine: one thread hop per batch.
- PostgreSQL: one round trip, ``SELECT wardgate_audit_append(arrays...)``, a PL/pgSQL function
  created by the migration that does the same steps (``SELECT ... FOR UPDATE`` on the head, chain,
  INSERT, UPDATE) in the function call's own transaction. It computes the chain hash with
  PostgreSQL's ``sha256``; `verify` recomputes every hash in Python, so the two implementations
  are checked against each other by every verify (and by the tests on both stores).

Durability: SQLite runs in WAL mode with ``synchronous=FULL`` by default, so a commit has reached
the disk (the WAL is fsynced) before ``append`` returns — the promise a strict intent event makes
is "stored before the statement runs", and NORMAL would keep it across a process crash but not a
power loss. ``sqlite_synchronous="normal"`` is offered for operators who accept that. PostgreSQL
connections set ``synchronous_commit=on`` whatever the server default is.

Both run the same steps as `_store.py` describes: lock the head, chain, insert, move the head.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ._chain import PreparedEvent, chain_hash

__all__ = ["WRITE_OPTION", "PostgresAppender", "SqliteAppender", "sqlite_hooks"]

# Execution option that makes a SQLite transaction BEGIN IMMEDIATE (take the write lock first).
WRITE_OPTION: Final = "wardgate_write"


def sqlite_hooks(engine: Engine, synchronous: str, busy_timeout: float) -> None:
    """Every SQLite connection: busy timeout, WAL, the synchronous level; we issue BEGIN."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Driver autocommit: we issue BEGIN ourselves, so writes can say IMMEDIATE.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")


def _sqlite_rows(
    seq: int, prev: str, batch: Sequence[PreparedEvent]
) -> tuple[list[tuple[Any, ...]], str]:
    """The batch chained onto (seq, prev) as the INSERT's parameter tuples, in `_COLUMNS`
    order, and the hash of the last one. This runs under SQLite's write lock: no dicts."""
    rows = []
    for ev in batch:
        seq += 1
        digest = chain_hash(prev, seq, ev.body)
        rows.append(
            (
                seq, ev.at, ev.type, ev.durability, ev.session_id, ev.user_name, ev.connection,
                ev.effect, ev.kinds, prev, digest, ev.body,
            )
        )  # fmt: skip
        prev = digest
    return rows, prev


_COLUMNS: Final = (
    "seq", "at", "type", "durability", "session_id", "user_name", "connection", "effect", "kinds",
    "prev_hash", "hash", "body",
)  # fmt: skip
_SQLITE_HEAD: Final = "SELECT seq, hash FROM audit_head WHERE id = 1"
_SQLITE_INSERT: Final = (
    "INSERT INTO audit_events (seq, at, type, durability, session_id, user_name, connection, "
    "effect, kinds, prev_hash, hash, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_MOVE_HEAD: Final = "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1"


class SqliteAppender:
    """Appends on a dedicated thread: one thread hop per batch, and plain DB-API calls.

    The engine sets the connection up (the same pragmas as every store connection); the
    transaction itself is four DB-API calls, because SQLAlchemy's per-statement work (~0.1 ms
    each, measured) was most of a batch's cost here, against ~50 us for the raw statements.
    """

    def __init__(self, url: str, synchronous: str, busy_timeout: float) -> None:
        sync_url = make_url(url).set(drivername="sqlite")
        self._engine = create_engine(sync_url, connect_args={"timeout": busy_timeout})
        sqlite_hooks(self._engine, synchronous, busy_timeout)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="wardgate-audit-sqlite")
        self._conn: Any = None

    def _run(self, batch: Sequence[PreparedEvent]) -> int:
        if self._conn is None:
            self._conn = self._engine.raw_connection()
        conn = self._conn
        cursor = conn.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                seq, prev = cursor.execute(_SQLITE_HEAD).fetchone()
                rows, last = _sqlite_rows(int(seq), str(prev), batch)
                cursor.executemany(_SQLITE_INSERT, rows)
                cursor.execute(_SQLITE_MOVE_HEAD, (int(seq) + len(rows), last))
                cursor.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    cursor.execute("ROLLBACK")
                raise
        except BaseException:
            # Whatever failed, the next batch starts on a fresh connection.
            self._conn = None
            with contextlib.suppress(Exception):
                cursor.close()
            with contextlib.suppress(Exception):
                conn.invalidate()
            raise
        cursor.close()
        return int(seq) + 1

    async def append(self, batch: Sequence[PreparedEvent]) -> int:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, batch)

    def _dispose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._engine.dispose()

    async def close(self) -> None:
        # sqlite3 connections must be closed by the thread that made them.
        await asyncio.get_running_loop().run_in_executor(self._thread, self._dispose)
        self._thread.shutdown(wait=True)


_PG_APPEND: Final = "SELECT wardgate_audit_append($1, $2, $3, $4, $5, $6, $7, $8, $9)"
_PG_ARGS: Final = (*_COLUMNS[1:-3], "body")


class PostgresAppender:
    """Appends in one round trip: the ``wardgate_audit_append`` function, called on the asyncpg
    connection underneath a SQLAlchemy connection that this appender keeps checked out.

    Going through SQLAlchemy's execute (pool checkout, parameter processing) doubled the call
    (~0.94 ms against ~0.47 ms for the call itself, measured), so the hot call uses the driver
    directly; the connection still comes from (and is set up by) the engine. Outside a
    transaction asyncpg is in autocommit, so the function call is its own transaction.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._driver: Any = None

    async def append(self, batch: Sequence[PreparedEvent]) -> int:
        if self._conn is None:
            conn = await self._engine.connect()
            try:
                self._driver = (await conn.get_raw_connection()).driver_connection
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        args = [[getattr(ev, name) for ev in batch] for name in _PG_ARGS]
        try:
            first = await self._driver.fetchval(_PG_APPEND, *args)
        except BaseException:
            # After an error or a cancel mid-call the connection's state is unknown: replace it.
            conn, self._conn, self._driver = self._conn, None, None
            await conn.invalidate()
            await conn.close()
            raise
        return int(first)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn, self._driver = self._conn, None, None
            await conn.close()
