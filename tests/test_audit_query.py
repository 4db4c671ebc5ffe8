"""Queries shared by the CLI and (later) the API: search, tail, follow, export, replay, capture."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from audit_support import BACKENDS, intent, outcome, started, store_url_for
from wardgate.audit import (
    CSV_COLUMNS,
    AuditStore,
    AuditWriter,
    EventFilter,
    ResultCapturer,
    SessionEnded,
    StoredEvent,
    chain_hash,
    export,
    follow,
    read_jsonl,
    rebuild_body,
    replay,
    search,
    tail,
)


@pytest.fixture(scope="module", params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AuditStore]:
    """One store per backend for the module: these tests only read."""
    tmp_path = tmp_path_factory.mktemp("audit")
    opened = await AuditStore.open(store_url_for(request.param, tmp_path, request, fresh=True))
    capture = ResultCapturer("s1", max_statement_bytes=1000, max_session_bytes=1000)
    statement = capture.start(1, ("email", "note"))
    statement.add_row(("a***@example.com", None))
    statement.add_row(("b***@example.com", '50%_off \\ "quoted"'))
    async with AuditWriter(opened) as writer:
        for event in [
            started("s1", "alice"),
            intent("s1", 1, text="SELECT email, note FROM customers"),
            statement.finish(),
            outcome("s1", 1, rows=2),
            started("s2", "bob"),
            intent("s2", 1, user="bob", text="DELETE FROM orders", effect="deny", kinds=("write",)),
            outcome("s2", 1, rows=0),
            intent("s1", 2, text="SELECT '50%_off' AS promo", connection="shop"),
            outcome("s1", 2, rows=1),
            SessionEnded(
                session_id="s1",
                user="alice",
                connection="shop",
                reason="client_closed",
                statements=2,
                duration_us=5_000_000,
            ),
        ]:
            await writer.record(event)
    try:
        yield opened
    finally:
        await opened.close()


def seqs(events: list[StoredEvent]) -> list[int]:
    return [e.seq for e in events]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (EventFilter(user="bob"), [5, 6]),
        (EventFilter(session_id="s2"), [5, 6, 7]),
        (EventFilter(effect="deny"), [6]),
        (EventFilter(kind="write"), [6]),
        (EventFilter(kind="rea"), []),  # kinds match whole names
        (EventFilter(text="customers"), [2]),
        (EventFilter(text="CUSTOMERS"), [2]),  # case-insensitive
        (EventFilter(text="50%_off"), [8]),  # LIKE wildcards are literal
        (EventFilter(text='"quoted"'), []),  # captured values are not statement text
        (EventFilter(text="alice"), []),  # nor is the user name
        (EventFilter(types=("session.started", "session.ended")), [1, 5, 10]),
        (EventFilter(user="alice", types=("statement.intent",)), [2, 8]),
        (EventFilter(connection="nowhere"), []),
    ],
)
async def test_search(store: AuditStore, flt: EventFilter, expected: list[int]) -> None:
    assert seqs(await search(store, flt)) == expected


async def test_search_by_time_range(store: AuditStore) -> None:
    events = await search(store)
    middle = events[4].at
    assert seqs(await search(store, EventFilter(since_us=middle))) == list(range(5, 11))
    assert seqs(await search(store, EventFilter(until_us=middle))) == [1, 2, 3, 4]


async def test_search_limit_and_paging(store: AuditStore) -> None:
    assert seqs(await search(store, limit=3)) == [1, 2, 3]
    assert seqs(await search(store, limit=3, after_seq=3)) == [4, 5, 6]


async def test_tail(store: AuditStore) -> None:
    assert seqs(await tail(store, limit=3)) == [8, 9, 10]
    assert seqs(await tail(store, EventFilter(user="bob"), limit=5)) == [5, 6]
    assert seqs(await tail(store, EventFilter(text="select"), limit=1)) == [8]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_follow_sees_new_events(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = await AuditStore.open(store_url_for(backend, tmp_path, request))
    try:
        await _follow(store)
    finally:
        await store.close()


async def _follow(store: AuditStore) -> None:
    async with AuditWriter(store) as writer:
        for i in range(10):
            await writer.record(outcome("s0", i))
    stop = asyncio.Event()
    seen: list[int] = []

    async def consume() -> None:
        async for event in follow(
            store, EventFilter(user="carol"), after_seq=10, poll=0.02, stop=stop
        ):
            seen.append(event.seq)
            if len(seen) == 2:
                stop.set()

    task = asyncio.create_task(consume())
    async with AuditWriter(store) as writer:
        await writer.record(intent("s3", 1, user="carol"))
        await writer.record(outcome("s3", 1))  # no user column: not matched
        await writer.record(intent("s3", 2, user="carol"))
    await asyncio.wait_for(task, 10)
    assert seen == [11, 13]


async def test_jsonl_export_round_trips_and_verifies_offline(store: AuditStore) -> None:
    out = io.StringIO()
    assert await export(store, out, fmt="jsonl") == 10
    records = read_jsonl(out.getvalue().splitlines())
    assert [r["seq"] for r in records] == list(range(1, 11))
    events = await search(store)
    prev = "0" * 64
    for record, event in zip(records, events, strict=True):
        assert record == json.loads(json.dumps(event.record()))
        # The chain can be re-checked from the export alone.
        assert record["prev_hash"] == prev
        assert chain_hash(prev, record["seq"], rebuild_body(record)) == record["hash"]
        prev = record["hash"]
    assert records[1]["decision"]["effect"] == "allow" and records[1]["time"].endswith("Z")


async def test_csv_export_keeps_every_field(store: AuditStore) -> None:
    out = io.StringIO()
    await export(store, out, fmt="csv", flt=EventFilter(session_id="s1"))
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS
    events = await search(store, EventFilter(session_id="s1"))
    assert len(rows) == len(events) == 7
    for row, event in zip(rows, events, strict=True):
        # Put the flattened columns back together: the record must come out whole.
        rebuilt: dict[str, object] = json.loads(row["details"]) if row["details"] else {}
        for column in CSV_COLUMNS:
            if column == "details" or row[column] == "":
                continue
            value: object = row[column]
            if column in ("seq", "statement_seq", "rows", "duration_us"):
                value = int(row[column])
            elif row[column][:1] in "[{" or row[column] in ("true", "false"):
                value = json.loads(row[column])
            parent = {
                "kinds": "facts",
                "commands": "facts",
                "objects": "facts",
                "effect": "decision",
                "rules": "decision",
                "policy_version": "decision",
                "masked_columns": "masking",
                "masked_entities": "masking",
            }.get(column)
            if parent is None:
                rebuilt[column] = value
            else:
                key = {"masked_columns": "columns", "masked_entities": "entities"}.get(
                    column, column
                )
                rebuilt.setdefault(parent, {})[key] = value  # type: ignore[index]
        expected = {k: v for k, v in event.record().items() if k not in ("v", "at")}
        # CSV has no null: an empty cell stands for it.
        assert {k: v for k, v in rebuilt.items() if v is not None} == {
            k: v for k, v in expected.items() if v is not None
        }


async def test_replay_groups_a_session_with_timing_and_results(store: AuditStore) -> None:
    session = await replay(store, "s1")
    assert session is not None and session.started is not None and session.ended is not None
    assert [s.statement_seq for s in session.statements] == [1, 2]
    first, second = session.statements
    assert first.intent is not None and first.outcome is not None
    assert first.intent.data["text"] == "SELECT email, note FROM customers"
    assert first.results[0].data["captured"][0] == ["a***@example.com", None]
    assert 0 <= first.offset_us <= second.offset_us
    assert second.results == ()
    assert await replay(store, "nope") is None


def test_capture_caps_per_statement_and_per_session() -> None:
    capturer = ResultCapturer("s", max_statement_bytes=30, max_session_bytes=50)
    first = capturer.start(1, ("v",))
    for _ in range(10):
        first.add_row(("0123456789",))  # 11 bytes each
    one = first.finish()
    assert len(one.captured) == 2 and one.truncated and one.rows_seen == 10
    second = capturer.start(2, ("v",))
    for _ in range(5):
        second.add_row(("0123456789",))
    two = second.finish()
    assert len(two.captured) == 2 and two.truncated  # 50 - 22 = 28 bytes left in the session
    third = capturer.start(3, ("v",))
    third.add_row((None,))
    assert third.finish().captured == ((None,),)
