"""The audit store: SQLite (default) or PostgreSQL through SQLAlchemy 2 async.

Theory of operation: one chain, several writers
-----------------------------------------------
Several gateway processes may append to one store at the same moment, and all of them must build
one chain: seq 1, 2, 3, ... with each hash linking to the one before. So the store, not the
process, assigns seq and reads the previous hash, under a lock that makes appends take turns:

- ``audit_head`` has a single row (seq, hash): the chain head.
- An append is one transaction: lock the head row, chain the batch onto it, INSERT the batch,
  UPDATE the head, COMMIT. On PostgreSQL the lock is ``SELECT ... FOR UPDATE`` on that row (a
  second writer blocks there and, in READ COMMITTED, then reads the head the first one committed);
  on SQLite it is ``BEGIN IMMEDIATE``, which takes the database's single write lock before the
  head is read (a plain deferred BEGIN would let two writers read the same head and then fail to
  upgrade their locks).
- The global order is therefore the commit order, seq has no gaps (it is not a database sequence,
  which would skip numbers on rollback), and a batch that rolls back leaves no trace.

The lock is held only for the hashing (microseconds per event: bodies are encoded before the lock)
and the INSERT; group commit (`_writer.py`) makes one such transaction carry many events.

How each dialect runs the append transaction, and why, is in `_append.py`.

Schema changes are Alembic migrations (``alembic/versions``), run on open inside one transaction
that is serialised across processes (``BEGIN IMMEDIATE`` / ``pg_advisory_xact_lock``), so several
gateways starting at once create the tables once.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from sqlalchemy import Connection, Row, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ._append import WRITE_OPTION, PostgresAppender, SqliteAppender, sqlite_hooks
from ._chain import PreparedEvent
from ._checkpoint import Checkpoint, CheckpointSigner
from ._errors import StoreError
from ._schema import CHECKPOINTS, EVENTS, HEAD, META

__all__ = ["AuditStore", "PruneStep", "normalize_url"]


_ALEMBIC_DIR: Final = Path(__file__).with_name("alembic")
# Arbitrary constant key for pg_advisory_xact_lock: "wardgate audit migrate".
_MIGRATION_LOCK: Final = 0x57617264_4175_64


def normalize_url(store: str, base_dir: Path | None = None) -> str:
    """Turn a config value into an async SQLAlchemy URL.

    A plain path (relative to ``base_dir``) is a SQLite file; ``sqlite://`` and ``postgresql://``
    URLs get the async drivers (aiosqlite, asyncpg).
    """
    if "://" not in store:
        if store in ("", ":memory:"):
            raise StoreError("the audit store must be a file or a server: in-memory is not durable")
        path = Path(store).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        return f"sqlite+aiosqlite:///{path.resolve()}"
    scheme, _, rest = store.partition("://")
    base = scheme.split("+", 1)[0]
    if base == "sqlite":
        if rest in ("", "/", "/:memory:"):
            raise StoreError("the audit store must be a file or a server: in-memory is not durable")
        return f"sqlite+aiosqlite://{rest}"
    if base in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    raise StoreError(f"unsupported audit store {scheme!r}: use a SQLite path or postgresql://")


def _upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
    cfg = Config()
    cfg.set_main_option("script_location", str(_ALEMBIC_DIR))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneStep:
    """One prune transaction: events up to ``through_seq`` deleted, anchored by ``checkpoint``."""

    deleted: int
    through_seq: int
    through_hash: str
    checkpoint: Checkpoint


class AuditStore:
    """The tables of one audit store and the few transactions that change them.

    Appends and prunes are the only writes; everything else reads (see `_query` and `_verify`).
    """

    def __init__(
        self, engine: AsyncEngine, *, store_id: str, appender: SqliteAppender | PostgresAppender
    ) -> None:
        self._engine = engine
        self._appender = appender
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self.store_id: Final = store_id
        self.dialect: Final = engine.dialect.name
        # Committed append transactions by this object: how group commit shows in tests and bench.
        self.transactions = 0

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        sqlite_synchronous: Literal["full", "normal"] = "full",
        busy_timeout: float = 30.0,
    ) -> AuditStore:
        """Connect, create or migrate the schema, and read the store id.

        ``url`` is anything `normalize_url` takes. ``busy_timeout`` bounds how long a SQLite
        writer waits for another process's write lock.
        """
        url = normalize_url(url)
        appender: SqliteAppender | PostgresAppender
        if url.startswith("sqlite"):
            path = make_url(url).database
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(url, connect_args={"timeout": busy_timeout})
            sqlite_hooks(engine.sync_engine, sqlite_synchronous, busy_timeout)
        else:
            engine = create_async_engine(
                url,
                pool_size=4,
                max_overflow=8,
                connect_args={
                    "server_settings": {
                        "synchronous_commit": "on",
                        "application_name": "wardgate-audit",
                    }
                },
            )
        try:
            async with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
                await conn.run_sync(_upgrade)
            async with engine.connect() as conn:
                store_id = await _meta(conn, "store_id")
        except BaseException:
            await engine.dispose()
            raise
        if url.startswith("sqlite"):
            appender = SqliteAppender(url, sqlite_synchronous, busy_timeout)
        else:
            appender = PostgresAppender(engine)
        return cls(engine, store_id=store_id, appender=appender)

    @property
    def engine(self) -> AsyncEngine:
        """For reads (queries, verify); writes go through the methods below."""
        return self._engine

    async def close(self) -> None:
        try:
            await self._appender.close()
        finally:
            await self._engine.dispose()

    async def append(self, batch: Sequence[PreparedEvent]) -> int:
        """Chain and commit ``batch`` in one transaction; returns the seq of its first event."""
        if not batch:
            raise ValueError("empty batch")
        first = await self._appender.append(batch)
        self.transactions += 1
        return first

    async def head(self) -> tuple[int, str]:
        """The committed chain head (seq, hash); (0, genesis) for an empty store."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(HEAD.c.seq, HEAD.c.hash))).one()
        return int(row.seq), str(row.hash)

    async def anchor(self) -> tuple[int, str]:
        """The last pruned event (seq, hash): where the remaining chain starts."""
        async with self._engine.connect() as conn:
            seq = await _meta(conn, "pruned_through_seq")
            digest = await _meta(conn, "pruned_through_hash")
        return int(seq), digest

    async def rows(
        self, *, after_seq: int = 0, through_seq: int | None = None, page: int = 2000
    ) -> AsyncIterator[Row[Any]]:
        """Every event row in seq order, fetched a page at a time (keyset, so O(1) per page)."""
        last = after_seq
        while True:
            query = select(EVENTS).where(EVENTS.c.seq > last).order_by(EVENTS.c.seq).limit(page)
            if through_seq is not None:
                query = query.where(EVENTS.c.seq <= through_seq)
            async with self._engine.connect() as conn:
                batch = (await conn.execute(query)).all()
            for row in batch:
                yield row
            if len(batch) < page:
                return
            last = batch[-1].seq

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        async with self._write_engine.begin() as conn:
            await _insert_checkpoint(conn, checkpoint)

    async def checkpoints(self) -> list[Checkpoint]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id))).all()
        return [
            Checkpoint.from_json({**json.loads(row.body), "signature": row.signature})
            for row in rows
        ]

    async def checkpoint(
        self, signer: CheckpointSigner, *, kind: str, at: int | None = None
    ) -> Checkpoint:
        """Sign the current head (time ``at``, default now); keep the checkpoint in the store."""
        if at is None:
            at = time.time_ns() // 1000
        seq, digest = await self.head()
        cp = signer.sign(store_id=self.store_id, seq=seq, hash=digest, at=at, kind=kind)
        await self.add_checkpoint(cp)
        return cp

    async def prune_through(
        self, through_seq: int, signer: CheckpointSigner, *, at: int
    ) -> PruneStep | None:
        """Delete events up to ``through_seq`` in one transaction and anchor the rest.

        The anchor (meta) and a signed ``prune`` checkpoint naming the last deleted event are
        written in the same transaction, so a crash leaves either both or neither. Returns None
        when there is nothing to delete.
        """
        async with self._write_engine.begin() as conn:
            # Serialises concurrent prunes on PostgreSQL (SQLite's BEGIN IMMEDIATE already does).
            anchor_row = (
                await conn.execute(
                    select(META.c.value).where(META.c.key == "pruned_through_seq").with_for_update()
                )
            ).one()
            anchor = int(anchor_row.value)
            if through_seq <= anchor:
                return None
            digest = (
                await conn.execute(select(EVENTS.c.hash).where(EVENTS.c.seq == through_seq))
            ).scalar_one_or_none()
            if digest is None:
                raise StoreError(f"event {through_seq} is missing; run `wardgate audit verify`")
            result = await conn.execute(
                EVENTS.delete().where(EVENTS.c.seq > anchor, EVENTS.c.seq <= through_seq)
            )
            for key, value in (
                ("pruned_through_seq", str(through_seq)),
                ("pruned_through_hash", digest),
            ):
                await conn.execute(META.update().where(META.c.key == key).values(value=value))
            cp = signer.sign(
                store_id=self.store_id, seq=through_seq, hash=digest, at=at, kind="prune"
            )
            await _insert_checkpoint(conn, cp)
        return PruneStep(
            deleted=result.rowcount, through_seq=through_seq, through_hash=digest, checkpoint=cp
        )

    async def first_seq_at_or_after(self, at: int) -> int | None:
        """The lowest seq whose event time is ``at`` or later (None: every event is older)."""
        async with self._engine.connect() as conn:
            value = (
                await conn.execute(select(func.min(EVENTS.c.seq)).where(EVENTS.c.at >= at))
            ).scalar()
        return None if value is None else int(value)


async def _meta(conn: AsyncConnection, key: str) -> str:
    value = (await conn.execute(select(META.c.value).where(META.c.key == key))).scalar()
    if value is None:
        raise StoreError(f"audit store has no {key!r}; was it created by wardgate?")
    return str(value)


async def _insert_checkpoint(conn: AsyncConnection, cp: Checkpoint) -> None:
    await conn.execute(
        CHECKPOINTS.insert().values(
            seq=cp.seq,
            hash=cp.hash,
            at=cp.at,
            kind=cp.kind,
            key_id=cp.key_id,
            body=cp.payload().decode(),
            signature=cp.signature,
        )
    )
