"""Tampering with a store, each way the issue names, and verify naming the first bad event.

The tampering is done the way an attacker with database access would: SQL on the tables, on both
backends. Events 1..20 are intents of one session, with text "statement N".
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from audit_support import BACKENDS, intent, store_url_for
from wardgate.audit import (
    AuditError,
    AuditStore,
    AuditWriter,
    Checkpoint,
    CheckpointSigner,
    chain_hash,
    generate_key,
    prune,
    read_checkpoints,
    verify,
    write_checkpoints,
)
from wardgate.audit._chain import prepare

N = 20


@pytest.fixture(scope="module")
def signer() -> CheckpointSigner:
    return CheckpointSigner.from_text(generate_key()[0])


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AuditStore]:
    opened = await AuditStore.open(store_url_for(request.param, tmp_path, request))
    async with AuditWriter(opened) as writer:
        # One batch; records are enqueued (and so numbered) in call order.
        seqs = await asyncio.gather(
            *(writer.record(intent("s1", i, text=f"statement {i}")) for i in range(1, N + 1))
        )
    assert seqs == list(range(1, N + 1))
    try:
        yield opened
    finally:
        await opened.close()


async def sql(store: AuditStore, statement: str, **params: Any) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(text(statement), params)


async def row(store: AuditStore, seq: int) -> Any:
    async with store.engine.connect() as conn:
        return (
            await conn.execute(text("SELECT * FROM audit_events WHERE seq = :s"), {"s": seq})
        ).one()


async def move_seq(store: AuditStore, old: int, new: int) -> None:
    await sql(store, "UPDATE audit_events SET seq = :new WHERE seq = :old", new=new, old=old)


async def set_head(store: AuditStore, seq: int) -> None:
    digest = (await row(store, seq)).hash
    await sql(store, "UPDATE audit_head SET seq = :s, hash = :h", s=seq, h=digest)


async def check(store: AuditStore, seq: int, kind: str, **kw: Any) -> None:
    report = await verify(store, **kw)
    assert report.problem is not None, report
    assert (report.problem.seq, report.problem.kind) == (seq, kind), report.problem


async def test_untouched_store_verifies(store: AuditStore) -> None:
    report = await verify(store)
    assert report.ok and report.events == N and report.last_seq == N


async def test_edited_field_is_caught(store: AuditStore) -> None:
    await sql(
        store,
        "UPDATE audit_events SET body = replace(body, 'statement 7', 'statement 0') WHERE seq = 7",
    )
    await check(store, 7, "changed")


async def test_edited_index_column_is_caught(store: AuditStore) -> None:
    """Changing only the searchable column would hide the event from `search --user`."""
    await sql(store, "UPDATE audit_events SET user_name = 'mallory' WHERE seq = 7")
    await check(store, 7, "changed")


async def test_deleted_event_is_caught(store: AuditStore) -> None:
    await sql(store, "DELETE FROM audit_events WHERE seq = 7")
    await check(store, 7, "removed")


async def test_deleted_and_renumbered_is_caught(store: AuditStore) -> None:
    await sql(store, "DELETE FROM audit_events WHERE seq = 7")
    for seq in range(8, N + 1):
        await move_seq(store, seq, seq - 1)
    await set_head(store, N - 1)
    await check(store, 7, "removed")


async def test_inserted_event_is_caught_even_when_correctly_hashed(store: AuditStore) -> None:
    for seq in range(N, 6, -1):
        await move_seq(store, seq, seq + 1)
    before = await row(store, 6)
    body = prepare(intent("s1", 99, text="forged"), at=before.at + 1, durability="strict").body
    await sql(
        store,
        "INSERT INTO audit_events (seq, at, type, durability, session_id, user_name, connection,"
        " effect, kinds, prev_hash, hash, body) VALUES (7, :at, 'statement.intent', 'strict',"
        " 's1', 'alice', 'shop', 'allow', ',read,', :prev, :hash, :body)",
        at=before.at + 1,
        prev=before.hash,
        hash=chain_hash(before.hash, 7, body),
        body=body,
    )
    await set_head(store, N + 1)
    await check(store, 7, "inserted")


async def test_reordered_events_are_caught(store: AuditStore) -> None:
    await move_seq(store, 7, -1)
    await move_seq(store, 8, 7)
    await move_seq(store, -1, 8)
    await check(store, 7, "reordered")


async def test_truncated_tail_is_caught_by_a_stored_checkpoint(
    store: AuditStore, signer: CheckpointSigner
) -> None:
    await store.checkpoint(signer, kind="periodic", at=int(time.time() * 1e6))
    await sql(store, "DELETE FROM audit_events WHERE seq > 15")
    await set_head(store, 15)
    await check(store, 16, "truncated", public_keys=[signer.public_key])


async def test_truncated_tail_with_checkpoints_wiped_is_caught_by_an_exported_file(
    store: AuditStore, signer: CheckpointSigner, tmp_path: Path
) -> None:
    await store.checkpoint(signer, kind="periodic", at=int(time.time() * 1e6))
    exported = tmp_path / "checkpoints.jsonl"
    write_checkpoints(exported, await store.checkpoints())
    await sql(store, "DELETE FROM audit_events WHERE seq > 15")
    await sql(store, "DELETE FROM audit_checkpoints")
    await set_head(store, 15)
    # Without the file the cut is invisible: the remaining chain is consistent.
    assert (await verify(store, public_keys=[signer.public_key])).ok
    await check(
        store,
        16,
        "truncated",
        public_keys=[signer.public_key],
        external=read_checkpoints(exported),
    )


async def test_head_row_alone_reveals_a_careless_truncation(store: AuditStore) -> None:
    await sql(store, "DELETE FROM audit_events WHERE seq > 15")
    await check(store, 16, "truncated")


async def test_rewritten_suffix_is_caught_between_checkpoints(
    store: AuditStore, signer: CheckpointSigner
) -> None:
    """The attacker edits event 7 and re-hashes everything after it: only checkpoints see it."""
    async with store.engine.connect() as conn:
        early = await conn.execute(text("SELECT hash FROM audit_events WHERE seq = 5"))
        hash5 = early.scalar_one()
    await store.add_checkpoint(
        signer.sign(store_id=store.store_id, seq=5, hash=hash5, at=1, kind="periodic")
    )
    await store.checkpoint(signer, kind="periodic", at=2)  # at seq 20
    await sql(
        store,
        "UPDATE audit_events SET body = replace(body, 'statement 7', 'statement 0') WHERE seq = 7",
    )
    prev = (await row(store, 6)).hash
    for seq in range(7, N + 1):
        digest = chain_hash(prev, seq, (await row(store, seq)).body)
        await sql(
            store,
            "UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s",
            p=prev,
            h=digest,
            s=seq,
        )
        prev = digest
    await set_head(store, N)
    assert (await verify(store)).problem is not None  # even unsigned, the checkpoints disagree
    await check(store, 6, "rewritten", public_keys=[signer.public_key])


async def test_forged_checkpoint_is_caught(store: AuditStore, signer: CheckpointSigner) -> None:
    await store.checkpoint(signer, kind="periodic", at=1)
    await sql(
        store,
        "UPDATE audit_checkpoints SET body = replace(body, :a, :b)",
        a='"seq":20',
        b='"seq":25',
    )
    await check(store, 25, "bad_checkpoint", public_keys=[signer.public_key])


async def test_checkpoint_of_another_store_is_refused(
    store: AuditStore, signer: CheckpointSigner
) -> None:
    foreign = signer.sign(store_id="other", seq=3, hash="0" * 64, at=1, kind="periodic")
    await check(store, 3, "bad_checkpoint", external=[foreign])


async def test_checkpoint_by_an_unknown_key_is_ignored_with_a_warning(
    store: AuditStore, signer: CheckpointSigner
) -> None:
    stranger = CheckpointSigner.from_text(generate_key()[0])
    bogus = stranger.sign(store_id=store.store_id, seq=N, hash="f" * 64, at=1, kind="periodic")
    report = await verify(store, public_keys=[signer.public_key], external=[bogus])
    assert report.ok and any("unknown key" in w for w in report.warnings)


async def test_prune_leaves_a_chain_that_verifies(
    store: AuditStore, signer: CheckpointSigner
) -> None:
    async with store.engine.connect() as conn:
        at11 = (await conn.execute(text("SELECT at FROM audit_events WHERE seq = 11"))).scalar_one()
    report = await prune(store, cutoff_us=at11, signer=signer, actor="test", chunk=4)
    assert (report.deleted, report.through_seq) == (10, 10)
    assert report.event_seq == N + 1
    result = await verify(store, public_keys=[signer.public_key])
    assert result.ok, result
    assert (result.anchor_seq, result.events) == (10, N + 1 - 10)
    # Nothing more to prune: a no-op, not a new checkpoint or event.
    again = await prune(store, cutoff_us=at11, signer=signer)
    assert again.deleted == 0 and again.event_seq is None


async def test_prefix_deleted_beyond_the_signed_prune_is_caught(
    store: AuditStore, signer: CheckpointSigner
) -> None:
    async with store.engine.connect() as conn:
        at6 = (await conn.execute(text("SELECT at FROM audit_events WHERE seq = 6"))).scalar_one()
    await prune(store, cutoff_us=at6, signer=signer)
    # The attacker deletes more of the start and moves the anchor to match.
    hash8 = (await row(store, 8)).hash
    await sql(store, "DELETE FROM audit_events WHERE seq <= 8")
    await sql(store, "UPDATE audit_meta SET value = '8' WHERE key = 'pruned_through_seq'")
    await sql(store, "UPDATE audit_meta SET value = :h WHERE key = 'pruned_through_hash'", h=hash8)
    await check(store, 6, "removed", public_keys=[signer.public_key])


async def test_prune_refuses_a_store_that_fails_verification(
    store: AuditStore, signer: CheckpointSigner
) -> None:
    await sql(store, "DELETE FROM audit_events WHERE seq = 3")
    with pytest.raises(AuditError, match="fails verification"):
        await prune(store, cutoff_us=2**62, signer=signer)


def test_checkpoint_file_round_trip(tmp_path: Path, signer: CheckpointSigner) -> None:
    cp = signer.sign(store_id="s", seq=4, hash="a" * 64, at=10, kind="manual")
    path = tmp_path / "cp.jsonl"
    write_checkpoints(path, [cp, cp])
    assert read_checkpoints(path) == [cp, cp]
    assert cp.signed_by(signer.public_key)
    tampered = Checkpoint.from_json({**json.loads(cp.to_json()), "seq": 5})
    assert not tampered.signed_by(signer.public_key)
    path.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"cp\.jsonl:1"):
        read_checkpoints(path)
