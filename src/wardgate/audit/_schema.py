"""The audit store's tables, for queries. Migrations (``alembic/versions``) create them.

``audit_events`` is append-only: the only statements that touch an existing row are the prune's
DELETE of a prefix. ``audit_head`` holds one row, the chain head, which every append locks and
moves in the same transaction as its INSERT (see `_store.py` for why). ``audit_meta`` keeps the
store id and the prune anchor (the last deleted event's seq and hash).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

__all__ = ["CHECKPOINTS", "EVENTS", "HEAD", "META", "METADATA", "VERSION_TABLE"]

METADATA: Final = MetaData()
# Own version table name, so the audit tables can share a database with other Wardgate state.
VERSION_TABLE: Final = "wardgate_audit_version"

# INTEGER PRIMARY KEY on SQLite makes seq the rowid: no second index to maintain per insert.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")

EVENTS: Final = Table(
    "audit_events",
    METADATA,
    Column("seq", _SEQ, primary_key=True, autoincrement=False),
    Column("at", BigInteger, nullable=False),
    Column("type", String(64), nullable=False),
    Column("durability", String(16), nullable=False),
    Column("session_id", String(128)),
    Column("user_name", String(256)),
    Column("connection", String(128)),
    Column("effect", String(16)),
    Column("kinds", String(256)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_audit_events_session", "session_id", "seq"),
    Index("ix_audit_events_user", "user_name", "seq"),
    Index("ix_audit_events_at", "at"),
)

HEAD: Final = Table(
    "audit_head",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

META: Final = Table(
    "audit_meta",
    METADATA,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

CHECKPOINTS: Final = Table(
    "audit_checkpoints",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("signature", Text, nullable=False),
)
