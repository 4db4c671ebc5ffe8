"""The writer features the gateway relies on: futures for the relay, and lingering batches."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from audit_support import intent, outcome
from wardgate.audit import AuditStore, AuditWriteError, AuditWriter, iter_events


@pytest.fixture
async def store(tmp_path: Path) -> AuditStore:
    return await AuditStore.open(str(tmp_path / "audit.db"), sqlite_synchronous="normal")


async def test_events_nobody_waits_for_linger_into_one_batch(store: AuditStore) -> None:
    async with AuditWriter(store, linger=0.2) as writer:
        for i in range(1, 41):
            writer.record_nowait(outcome("s", i), "strict")
            await asyncio.sleep(0.001)  # trickling in, as outcomes do
        await writer.flush()
        assert writer.stats.transactions == 1 and writer.stats.largest_batch == 40
    events = [e async for e in iter_events(store)]
    assert {e.data["durability"] for e in events} == {"strict"}  # the connection's, not waited
    await store.close()


async def test_a_waited_event_ends_the_linger(store: AuditStore) -> None:
    async with AuditWriter(store, linger=5.0) as writer:
        writer.record_nowait(outcome("s", 1))
        start = time.monotonic()
        seq = await writer.submit(intent("s", 2))  # a future, for code that cannot await
        assert time.monotonic() - start < 1.0
        assert seq == 2 and writer.stats.transactions == 1
    await store.close()


async def test_submit_fails_its_future_when_the_batch_fails(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = await AuditStore.open(str(path))
    writer = AuditWriter(store)
    await writer.start()
    blocker = sqlite3.connect(path)
    blocker.execute(
        "CREATE TRIGGER block BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'no'); END"
    )
    blocker.commit()
    future = writer.submit(intent())
    with pytest.raises(AuditWriteError, match="no"):
        await future
    blocker.execute("DROP TRIGGER block")
    blocker.commit()
    blocker.close()
    assert await writer.submit(intent("s", 2)) == 1
    await writer.close()
    await store.close()
