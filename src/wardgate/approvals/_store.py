"""Where reviews live: SQLite on one machine, PostgreSQL when several gateways share them.

Each review is one row: a few indexed columns for lookups (binding, status, requester) and the
whole record as JSON. Changes are compare-and-set on a ``version`` column, so two approvers, or
an approval racing an expiry, or two gateways consuming the same approval, cannot both win: the
loser re-reads and re-applies its transition, which then refuses with the real state.

On PostgreSQL every change also sends ``NOTIFY wardgate_reviews, '<id>'`` in the same
transaction, so a gateway holding a statement wakes as soon as another gateway, the API or the
CLI decides its review; SQLite has no such channel and the service polls instead.

The tables sit beside the audit tables (they may share a database: the default store *is* the
audit store) and are created on first open with ``CREATE TABLE IF NOT EXISTS`` semantics.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ._grants import Grant
from ._model import Review

__all__ = ["CHANNEL", "ReviewStore"]

log = logging.getLogger("wardgate.approvals")

CHANNEL: Final = "wardgate_reviews"
_METADATA: Final = MetaData()
REVIEWS: Final = Table(
    "wardgate_reviews",
    _METADATA,
    Column("id", String(32), primary_key=True),
    Column("binding", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("requester", String(256), nullable=False),
    Column("connection", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_wardgate_reviews_binding", "binding", "created_at"),
    Index("ix_wardgate_reviews_status", "status", "created_at"),
)
GRANTS: Final = Table(
    "wardgate_grants",
    _METADATA,
    Column("id", String(32), primary_key=True),
    Column("requester", String(256), nullable=False),
    Column("connection", String(128), nullable=False),
    Column("role", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("ends_at", Float),
    Column("version", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_wardgate_grants_status", "status", "ends_at"),
)


REFS: Final = Table(
    "wardgate_notify_refs",
    _METADATA,
    Column("review_id", String(32), primary_key=True),
    Column("notifier", String(32), primary_key=True),
    Column("ref", Text, nullable=False),
)


class ReviewStore:
    """Async access to the reviews table (SQLAlchemy 2 async: aiosqlite or asyncpg)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self._listener: Any = None

    @classmethod
    async def open(cls, url: str) -> ReviewStore:
        """``url`` is an async SQLAlchemy URL (see `wardgate.audit.normalize_url`)."""
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        engine = create_async_engine(url, **kwargs)
        store = cls(engine)
        async with engine.begin() as conn:
            if store.postgres:  # several gateways starting at once create the table once
                await conn.execute(text("SELECT pg_advisory_xact_lock(5718823142)"))
            await conn.run_sync(_METADATA.create_all, checkfirst=True)
        return store

    async def close(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            try:
                await listener.close()
            except Exception as exc:  # closing anyway
                log.debug("closing the review listener: %s", exc)
        await self.engine.dispose()

    # --- reviews ------------------------------------------------------------------------------

    async def insert(self, review: Review) -> None:
        await self._insert(_REVIEW, review)

    async def load(self, review_id: str) -> tuple[Review, int] | None:
        return await self._load(_REVIEW, review_id)

    async def replace(self, review: Review, version: int) -> bool:
        """Store ``review`` if the row is still at ``version``; False: someone changed it first."""
        return await self._replace(_REVIEW, review, version)

    async def by_binding(self, binding: str) -> list[tuple[Review, int]]:
        """Reviews of one exact statement, newest first."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(REVIEWS.c.body, REVIEWS.c.version)
                    .where(REVIEWS.c.binding == binding)
                    .order_by(REVIEWS.c.created_at.desc())
                    .limit(20)
                )
            ).all()
        return [(_REVIEW.decode(body), int(version)) for body, version in rows]

    async def listing(
        self, *, status: str | None = None, requester: str | None = None, limit: int = 100
    ) -> list[Review]:
        return await self._listing(_REVIEW, status, requester, limit)

    # --- grants (same shape: indexed columns, JSON body, compare-and-set) ---------------------

    async def insert_grant(self, grant: Grant) -> None:
        await self._insert(_GRANT, grant)

    async def load_grant(self, grant_id: str) -> tuple[Grant, int] | None:
        return await self._load(_GRANT, grant_id)

    async def replace_grant(self, grant: Grant, version: int) -> bool:
        return await self._replace(_GRANT, grant, version)

    async def grant_listing(
        self, *, status: str | None = None, requester: str | None = None, limit: int = 100
    ) -> list[Grant]:
        return await self._listing(_GRANT, status, requester, limit)

    async def active_grants(self, now: float) -> list[Grant]:
        """Grants in force now (the gateway's cache of ``grant.roles`` reads these)."""
        query = select(GRANTS.c.body).where(GRANTS.c.status == "active", GRANTS.c.ends_at > now)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_GRANT.decode(body) for (body,) in rows]

    # --- where notifiers put a review's message (a Slack channel and ts) -----------------------

    async def save_ref(self, review_id: str, notifier: str, ref: str) -> None:
        """Remember a notifier's handle on a review's message, so that whichever process
        changes the review next (another gateway, the API) can update that message."""
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(REFS).where(REFS.c.review_id == review_id, REFS.c.notifier == notifier)
            )
            await conn.execute(insert(REFS).values(review_id=review_id, notifier=notifier, ref=ref))

    async def load_ref(self, review_id: str, notifier: str) -> str | None:
        async with self.engine.connect() as conn:
            query = select(REFS.c.ref).where(
                REFS.c.review_id == review_id, REFS.c.notifier == notifier
            )
            row = (await conn.execute(query)).first()
        return None if row is None else str(row[0])

    # --- one table's rows: insert, load, compare-and-set, list ---------------------------------

    async def _insert(self, kind: _Kind[_R], record: _R) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(kind.table).values(version=1, **kind.columns(record)))
            await self._notify(conn, kind.columns(record)["id"])

    async def _load(self, kind: _Kind[_R], record_id: str) -> tuple[_R, int] | None:
        table = kind.table
        async with self.engine.connect() as conn:
            query = select(table.c.body, table.c.version).where(table.c.id == record_id)
            row = (await conn.execute(query)).first()
        return None if row is None else (kind.decode(row[0]), int(row[1]))

    async def _replace(self, kind: _Kind[_R], record: _R, version: int) -> bool:
        table, columns = kind.table, kind.columns(record)
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(table)
                .where(table.c.id == columns["id"], table.c.version == version)
                .values(version=version + 1, **columns)
            )
            if result.rowcount != 1:
                return False
            await self._notify(conn, columns["id"])
        return True

    async def _listing(
        self, kind: _Kind[_R], status: str | None, requester: str | None, limit: int
    ) -> list[_R]:
        table = kind.table
        query = select(table.c.body).order_by(table.c.created_at.desc()).limit(limit)
        if status is not None:
            query = query.where(table.c.status == status)
        if requester is not None:
            query = query.where(table.c.requester == requester)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [kind.decode(body) for (body,) in rows]

    async def listen(self, wake: Callable[[str], None]) -> bool:
        """Call ``wake(review_id)`` on every change by anyone (PostgreSQL only; False: poll)."""
        if not self.postgres:
            return False
        import asyncpg  # type: ignore[import-untyped]

        url = self.engine.url.set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        self._listener = await asyncpg.connect(dsn)

        def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            wake(payload)

        await self._listener.add_listener(CHANNEL, on_notify)
        return True

    async def _notify(self, conn: Any, review_id: str) -> None:
        if self.postgres:
            await conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": review_id})


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _review_columns(review: Review) -> dict[str, Any]:
    return {
        "id": review.id,
        "binding": review.binding,
        "status": review.status,
        "requester": review.requester,
        "connection": review.connection,
        "created_at": review.created_at,
        "expires_at": review.expires_at,
        "body": _json(review.to_json()),
    }


def _grant_columns(grant: Grant) -> dict[str, Any]:
    return {
        "id": grant.id,
        "requester": grant.requester,
        "connection": grant.connection,
        "role": grant.role,
        "status": grant.status,
        "created_at": grant.created_at,
        "ends_at": grant.ends_at,
        "body": _json(grant.to_json()),
    }


_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class _Kind(Generic[_R]):
    """How one kind of record sits in its table: its columns, and back from the JSON body."""

    table: Table
    columns: Callable[[_R], dict[str, Any]]
    decode: Callable[[str], _R]


_REVIEW: Final = _Kind(REVIEWS, _review_columns, lambda b: Review.from_json(json.loads(b)))
_GRANT: Final = _Kind(GRANTS, _grant_columns, lambda b: Grant.from_json(json.loads(b)))
