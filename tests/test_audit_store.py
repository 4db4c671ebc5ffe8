"""The store and the group-commit writer, on real SQLite and real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from audit_support import BACKENDS, intent, outcome, started, store_url_for
from wardgate.audit import (
    AuditError,
    AuditLog,
    AuditStore,
    AuditWriteError,
    AuditWriter,
    CheckpointSigner,
    generate_key,
    iter_events,
    store_url,
    verify,
)
from wardgate.audit._schema import EVENTS
from wardgate.audit._store import normalize_url
from wardgate.config import AuditConfig, ConfigError, GatewayConfig, load_config


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url_for(request.param, tmp_path, request)


@pytest.fixture
async def store(url: str) -> AsyncIterator[AuditStore]:
    opened = await AuditStore.open(url)
    try:
        yield opened
    finally:
        await opened.close()


async def test_record_returns_seq_and_the_event_is_in_a_fresh_engine(
    store: AuditStore, url: str
) -> None:
    async with AuditWriter(store) as writer:
        first = await writer.record(started())
        second = await writer.record(intent())
    assert (first, second) == (1, 2)
    # A second, independent engine (as another process would have) sees both, chained.
    other = await AuditStore.open(url)
    try:
        assert other.store_id == store.store_id
        events = [e async for e in iter_events(other)]
        assert [e.seq for e in events] == [1, 2]
        assert events[1].prev_hash == events[0].hash
        assert events[1].event() == intent()
        assert (await other.head()) == (2, events[1].hash)
    finally:
        await other.close()


async def test_group_commit_batches_concurrent_records(store: AuditStore) -> None:
    async with AuditWriter(store) as writer:
        seqs = await asyncio.gather(*(writer.record(intent("s", i)) for i in range(1, 201)))
        stats = writer.stats
    assert sorted(seqs) == list(range(1, 201))
    assert stats.events == 200
    assert stats.transactions <= 10, stats
    assert store.transactions == stats.transactions
    assert (await verify(store)).ok


async def test_batch_size_is_capped(store: AuditStore) -> None:
    async with AuditWriter(store, max_batch=16) as writer:
        await asyncio.gather(*(writer.record(intent("s", i)) for i in range(100)))
    assert writer.stats.largest_batch <= 16
    assert writer.stats.transactions >= 7


async def test_relaxed_events_say_so_and_close_flushes_them(store: AuditStore) -> None:
    writer = AuditWriter(store)
    await writer.start()
    for i in range(50):
        writer.record_nowait(outcome("s", i))
    await writer.close()  # commits what was accepted
    events = [e async for e in iter_events(store)]
    assert len(events) == 50
    assert {e.data["durability"] for e in events} == {"relaxed"}
    with pytest.raises(AuditWriteError):
        await writer.record(intent())


async def test_failure_reaches_every_waiter_and_the_writer_recovers(url: str) -> None:
    store = await AuditStore.open(url)
    async with AuditWriter(store) as writer:
        await writer.record(started())
        real_append = store.append
        failing = True

        async def flaky(batch: Any) -> int:
            if failing:
                raise OSError("disk on fire")
            return await real_append(batch)

        store.append = flaky  # type: ignore[method-assign]
        results = await asyncio.gather(
            *(writer.record(intent("s", i)) for i in range(20)), return_exceptions=True
        )
        assert all(isinstance(r, AuditWriteError) for r in results), results
        assert isinstance(results[0].__cause__, OSError)  # type: ignore[union-attr]
        writer.record_nowait(outcome())
        await writer.flush()
        assert writer.stats.relaxed_lost == 1
        failing = False
        assert await writer.record(intent("s", 99)) == 2  # nothing of the failed batches stored
    assert (await verify(store)).ok
    await store.close()


async def test_a_real_store_failure_fails_closed(tmp_path: Path) -> None:
    """Another process holds SQLite's write lock past the busy timeout: record raises, then the
    writer recovers once the lock is gone."""
    path = tmp_path / "audit.db"
    store = await AuditStore.open(str(path), busy_timeout=0.2)
    try:
        async with AuditWriter(store) as writer:
            await writer.record(started())
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN EXCLUSIVE")
            try:
                with pytest.raises(AuditWriteError, match="locked"):
                    await asyncio.wait_for(writer.record(intent()), 10)
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            assert await writer.record(intent()) == 2
    finally:
        await store.close()


async def test_unencodable_event_fails_alone(store: AuditStore) -> None:
    async with AuditWriter(store) as writer:
        with pytest.raises(AuditError, match="cannot encode"):
            await writer.record(outcome(rows=2**70))
        assert await writer.record(outcome()) == 1


async def test_backlog_cap_refuses_rather_than_growing(store: AuditStore) -> None:
    async with AuditWriter(store, max_pending=5) as writer:
        for i in range(5):
            writer.record_nowait(outcome("s", i))
        with pytest.raises(AuditWriteError, match="backlog"):
            writer.record_nowait(outcome())
        await writer.flush()
        writer.record_nowait(outcome())


async def test_reopening_does_not_migrate_twice(store: AuditStore, url: str) -> None:
    async with AuditWriter(store) as writer:
        await writer.record(started())
    again = await AuditStore.open(url)
    try:
        assert again.store_id == store.store_id
        assert (await again.head())[0] == 1
    finally:
        await again.close()


async def test_periodic_checkpoints_only_when_the_head_moved(store: AuditStore) -> None:
    pem, _ = generate_key()
    signer = CheckpointSigner.from_text(pem)
    async with AuditWriter(store, signer=signer, checkpoint_interval=0.05) as writer:
        await writer.record(started())
        await asyncio.sleep(0.3)
        quiet = writer.stats.checkpoints
        assert quiet == 1
        await writer.record(intent())
        await asyncio.sleep(0.2)
        assert writer.stats.checkpoints == 2
    checkpoints = await store.checkpoints()
    assert [cp.seq for cp in checkpoints] == [1, 2]
    assert all(cp.signed_by(signer.public_key) for cp in checkpoints)
    report = await verify(store, public_keys=[signer.public_key])
    assert report.ok and report.checkpoints_checked == 2


async def test_postgres_append_function_matches_python_hashing(store: AuditStore) -> None:
    """Both dialects' appends produce hashes the Python chain_hash recomputes (verify does)."""
    async with AuditWriter(store) as writer:
        await asyncio.gather(
            *(writer.record(intent("s", i, text='é ✓ "q" \\ \n')) for i in range(30))
        )
    assert (await verify(store)).events == 30


def test_sigkill_after_record_returned_loses_nothing(tmp_path: Path) -> None:
    """What record() returned is on disk even when the process dies right after."""
    db = tmp_path / "audit.db"
    script = textwrap.dedent(
        """
        import asyncio, sys
        from wardgate.audit import AuditStore, AuditWriter, StatementIntent, DecisionSummary

        async def main():
            store = await AuditStore.open(sys.argv[1])
            writer = AuditWriter(store)
            await writer.start()
            async def client(c):
                for i in range(1, 100000):
                    seq = await writer.record(StatementIntent(
                        session_id=f"c{c}", statement_seq=i, user="u", connection="shop",
                        text="SELECT 1", decision=DecisionSummary(effect="allow")))
                    print(seq, flush=True)
            await asyncio.gather(*(client(c) for c in range(4)))

        asyncio.run(main())
        """
    )
    acknowledged = []
    with subprocess.Popen(
        [sys.executable, "-c", script, str(db)], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            acknowledged.append(int(line))
            if len(acknowledged) >= 300:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    async def check() -> None:
        store = await AuditStore.open(str(db))
        try:
            async with store.engine.connect() as conn:
                stored = set((await conn.execute(select(EVENTS.c.seq))).scalars())
            assert set(acknowledged) <= stored
            assert (await verify(store)).ok
        finally:
            await store.close()

    asyncio.run(check())


async def test_audit_log_picks_durability_per_connection(tmp_path: Path) -> None:
    config = AuditConfig(
        store=str(tmp_path / "a.db"), connection_durability={"reporting": "relaxed"}
    )
    log = await AuditLog.open(config)
    try:
        assert await log.record(intent(connection="shop"), connection="shop") == 1
        assert await log.record(intent(connection="reporting"), connection="reporting") is None
        await log.writer.flush()
        events = [e async for e in iter_events(log.store)]
        assert [e.data["durability"] for e in events] == ["strict", "relaxed"]
        assert log.capturer("s1") is None
    finally:
        await log.close()


def test_config_defaults_keep_old_configs_loading(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("connections: [{name: shop, database: shop, user: svc}]\n")
    cfg = load_config(path)
    assert cfg.audit.durability == "strict" and cfg.audit.checkpoint_key is None
    assert store_url(cfg.audit, cfg.base_dir) == f"sqlite+aiosqlite:///{tmp_path}/wardgate-audit.db"
    assert cfg.audit.durability_for("shop") == "strict"


def test_config_refuses_durability_for_unknown_connection() -> None:
    with pytest.raises(ValueError, match="unknown connections"):
        GatewayConfig.model_validate(
            {
                "connections": [{"name": "shop", "database": "d", "user": "u"}],
                "audit": {"connection_durability": {"nope": "relaxed"}},
            }
        )


def test_store_password_and_key_come_from_secret_refs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wardgate.audit import signer_from_config

    monkeypatch.setenv("AUDIT_PW", "s3cr:t")
    pem, _ = generate_key()
    (tmp_path / "key.pem").write_text(pem)
    config = AuditConfig(
        store="postgresql://audit@db.example/audit",
        store_password="env:AUDIT_PW",  # type: ignore[arg-type]
        checkpoint_key="file:key.pem",  # type: ignore[arg-type]
    )
    assert store_url(config) == "postgresql+asyncpg://audit:s3cr%3At@db.example/audit"
    signer = signer_from_config(config, tmp_path)
    assert signer is not None and signer.key_id == CheckpointSigner.from_text(pem).key_id
    bad = AuditConfig(checkpoint_key="env:AUDIT_PW")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="checkpoint_key"):
        signer_from_config(bad)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("audit.db", "sqlite+aiosqlite:////base/audit.db"),
        ("/var/lib/a.db", "sqlite+aiosqlite:////var/lib/a.db"),
        ("sqlite:////x/a.db", "sqlite+aiosqlite:////x/a.db"),
        ("postgres://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
    ],
)
def test_store_urls(given: str, expected: str) -> None:
    assert normalize_url(given, Path("/base")) == expected


@pytest.mark.parametrize("given", [":memory:", "sqlite://", "mysql://u@h/d"])
def test_store_urls_refused(given: str) -> None:
    with pytest.raises(AuditError):
        normalize_url(given)


async def test_sqlite_store_is_wal_and_synchronous_full(tmp_path: Path) -> None:
    store = await AuditStore.open(str(tmp_path / "a.db"))
    try:
        async with store.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 2  # FULL
    finally:
        await store.close()


def test_raw_body_is_stored_verbatim(tmp_path: Path) -> None:
    async def run() -> str:
        store = await AuditStore.open(str(tmp_path / "a.db"))
        async with AuditWriter(store) as writer:
            await writer.record(intent(text="naïve ✓"))
        async with store.engine.connect() as conn:
            body = (await conn.execute(select(EVENTS.c.body))).scalar_one()
        await store.close()
        return str(body)

    body = asyncio.run(run())
    assert json.loads(body)["text"] == "naïve ✓" and "naïve ✓" in body
