"""Initial audit store: events, chain head, meta (store id, prune anchor), checkpoints.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_GENESIS = "0" * 64

# PostgreSQL appends in one round trip: lock the head, chain, insert, move the head. The hash is
# the one `wardgate.audit._chain.chain_hash` computes (SHA-256 over {"event":BODY,"prev":"HEX",
# "seq":N}); verify recomputes it in Python, so the two cannot drift unnoticed.
_APPEND_FUNCTION = """
CREATE FUNCTION wardgate_audit_append(
    p_at bigint[], p_type text[], p_durability text[], p_session_id text[], p_user_name text[],
    p_connection text[], p_effect text[], p_kinds text[], p_body text[]
) RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
    v_seq bigint;
    v_prev text;
    v_first bigint;
    v_hashes text[] := '{}';
    v_prevs text[] := '{}';
    v_seqs bigint[] := '{}';
BEGIN
    SELECT seq, hash INTO v_seq, v_prev FROM audit_head WHERE id = 1 FOR UPDATE;
    v_first := v_seq + 1;
    FOR i IN 1 .. coalesce(array_length(p_body, 1), 0) LOOP
        v_seq := v_seq + 1;
        v_seqs := v_seqs || v_seq;
        v_prevs := v_prevs || v_prev;
        v_prev := encode(sha256(convert_to(
            '{"event":' || p_body[i] || ',"prev":"' || v_prev || '","seq":' || v_seq || '}',
            'UTF8')), 'hex');
        v_hashes := v_hashes || v_prev;
    END LOOP;
    INSERT INTO audit_events (seq, at, type, durability, session_id, user_name, connection,
                              effect, kinds, prev_hash, hash, body)
    SELECT * FROM unnest(v_seqs, p_at, p_type, p_durability, p_session_id, p_user_name,
                         p_connection, p_effect, p_kinds, v_prevs, v_hashes, p_body);
    UPDATE audit_head SET seq = v_seq, hash = v_prev WHERE id = 1;
    RETURN v_first;
END
$fn$
"""


def upgrade() -> None:
    seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "audit_events",
        sa.Column("seq", seq, primary_key=True, autoincrement=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("durability", sa.String(16), nullable=False),
        sa.Column("session_id", sa.String(128)),
        sa.Column("user_name", sa.String(256)),
        sa.Column("connection", sa.String(128)),
        sa.Column("effect", sa.String(16)),
        sa.Column("kinds", sa.String(256)),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_events_session", "audit_events", ["session_id", "seq"])
    op.create_index("ix_audit_events_user", "audit_events", ["user_name", "seq"])
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    meta = op.create_table(
        "audit_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": _GENESIS}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_APPEND_FUNCTION)
    op.bulk_insert(
        meta,
        [
            {"key": "store_id", "value": uuid.uuid4().hex},
            {"key": "pruned_through_seq", "value": "0"},
            {"key": "pruned_through_hash", "value": _GENESIS},
        ],
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION wardgate_audit_append")
    for table in ("audit_checkpoints", "audit_meta", "audit_head", "audit_events"):
        op.drop_table(table)
