"""Reading the audit log: tail, follow, search, export, session replay.

The one place queries live: the CLI uses these now and the REST API will serve the same ones, so
a filter means the same thing at every door.

Searches narrow by the indexed columns in SQL, then confirm in Python on the decoded body (the
text filter in particular: SQL sees the JSON-escaped body, Python sees the statement text).
Text matching is a case-insensitive substring (ASCII case folding on SQLite's side).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, TextIO

from sqlalchemy import Select, select

from ._chain import canonical
from ._events import EXPORT_KEYS, decode_event
from ._schema import EVENTS
from ._store import AuditStore

__all__ = [
    "CSV_COLUMNS",
    "EventFilter",
    "ReplayStatement",
    "SessionReplay",
    "StoredEvent",
    "csv_row",
    "export",
    "follow",
    "iter_events",
    "read_jsonl",
    "rebuild_body",
    "replay",
    "search",
    "tail",
]


def _iso(at: int) -> str:
    return (
        datetime.fromtimestamp(at // 1_000_000, UTC)
        .replace(microsecond=at % 1_000_000)
        .strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEvent:
    """One stored event: its place in the chain and its decoded body (``data``)."""

    seq: int
    hash: str
    prev_hash: str
    data: Mapping[str, Any]

    @property
    def type(self) -> str:
        return str(self.data["type"])

    @property
    def at(self) -> int:
        """Microseconds since the epoch, stamped when the event was recorded."""
        return int(self.data["at"])

    @property
    def time(self) -> str:
        return _iso(self.at)

    def event(self) -> Any:
        """The event as its dataclass (`SessionStarted`, `StatementIntent`, ...)."""
        return decode_event(self.data)

    def record(self) -> dict[str, Any]:
        """The export record: seq, time, hash, prev_hash, then the body's fields."""
        return {
            "seq": self.seq,
            "time": self.time,
            "hash": self.hash,
            "prev_hash": self.prev_hash,
            **self.data,
        }

    @classmethod
    def from_row(cls, row: Any) -> StoredEvent:
        return cls(seq=row.seq, hash=row.hash, prev_hash=row.prev_hash, data=json.loads(row.body))


def rebuild_body(record: Mapping[str, Any]) -> str:
    """The hashed body of an exported JSON-lines record, so an export can be checked offline."""
    return canonical({k: v for k, v in record.items() if k not in EXPORT_KEYS})


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """Every set field must match. Times are microseconds since the epoch, ``until`` exclusive."""

    user: str | None = None
    connection: str | None = None
    session_id: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    effect: str | None = None
    kind: str | None = None
    text: str | None = None
    types: tuple[str, ...] = ()

    def where(self, query: Select[Any]) -> Select[Any]:
        c = EVENTS.c
        if self.user is not None:
            query = query.where(c.user_name == self.user)
        if self.connection is not None:
            query = query.where(c.connection == self.connection)
        if self.session_id is not None:
            query = query.where(c.session_id == self.session_id)
        if self.since_us is not None:
            query = query.where(c.at >= self.since_us)
        if self.until_us is not None:
            query = query.where(c.at < self.until_us)
        if self.effect is not None:
            query = query.where(c.effect == self.effect)
        if self.kind is not None:
            query = query.where(c.kinds.contains(f",{self.kind},", autoescape=True))
        if self.types:
            query = query.where(c.type.in_(self.types))
        if self.text:
            escaped = json.dumps(self.text, ensure_ascii=False)[1:-1]
            query = query.where(c.body.icontains(escaped, autoescape=True))
        return query

    def matches(self, event: StoredEvent) -> bool:
        """The part SQL cannot decide exactly: the text filter applies to statement text only."""
        if not self.text:
            return True
        text = event.data.get("text")
        return isinstance(text, str) and self.text.lower() in text.lower()


async def _pages(
    store: AuditStore, flt: EventFilter, *, after_seq: int, page: int
) -> AsyncIterator[tuple[list[StoredEvent], int]]:
    """(matching events, last seq scanned) per page, so a poller can move past non-matches."""
    last = after_seq
    while True:
        query = flt.where(select(EVENTS).where(EVENTS.c.seq > last)).order_by(EVENTS.c.seq)
        async with store.engine.connect() as conn:
            rows = (await conn.execute(query.limit(page))).all()
        if not rows:
            return
        last = rows[-1].seq
        events = [StoredEvent.from_row(row) for row in rows]
        yield [e for e in events if flt.matches(e)], last
        if len(rows) < page:
            return


async def iter_events(
    store: AuditStore, flt: EventFilter = EventFilter(), *, after_seq: int = 0, page: int = 1000
) -> AsyncIterator[StoredEvent]:
    """Every matching event in seq order, a page at a time."""
    async for events, _ in _pages(store, flt, after_seq=after_seq, page=page):
        for event in events:
            yield event


async def search(
    store: AuditStore, flt: EventFilter = EventFilter(), *, limit: int = 100, after_seq: int = 0
) -> list[StoredEvent]:
    """The first ``limit`` matching events after ``after_seq``, oldest first."""
    out: list[StoredEvent] = []
    async for event in iter_events(store, flt, after_seq=after_seq, page=max(limit, 100)):
        out.append(event)
        if len(out) >= limit:
            break
    return out


async def tail(
    store: AuditStore, flt: EventFilter = EventFilter(), *, limit: int = 20
) -> list[StoredEvent]:
    """The last ``limit`` matching events, oldest first."""
    out: list[StoredEvent] = []
    before: int | None = None
    while len(out) < limit:
        query = flt.where(select(EVENTS))
        if before is not None:
            query = query.where(EVENTS.c.seq < before)
        page = max(limit, 100)
        async with store.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(EVENTS.c.seq.desc()).limit(page))).all()
        for row in rows:
            event = StoredEvent.from_row(row)
            if flt.matches(event):
                out.append(event)
        if len(rows) < page:
            break
        before = rows[-1].seq
    return sorted(out[:limit], key=lambda e: e.seq)


async def follow(
    store: AuditStore,
    flt: EventFilter = EventFilter(),
    *,
    after_seq: int,
    poll: float = 0.5,
    stop: asyncio.Event | None = None,
) -> AsyncIterator[StoredEvent]:
    """Matching events after ``after_seq`` as they are committed, until ``stop`` is set."""
    last = after_seq
    while stop is None or not stop.is_set():
        async for events, scanned in _pages(store, flt, after_seq=last, page=1000):
            for event in events:
                yield event
            last = scanned
        if stop is None:
            await asyncio.sleep(poll)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll)


# -- export --------------------------------------------------------------------------------

CSV_COLUMNS: Final = (
    "seq",
    "time",
    "type",
    "durability",
    "session_id",
    "user",
    "connection",
    "statement_seq",
    "text",
    "kinds",
    "commands",
    "objects",
    "effect",
    "rules",
    "policy_version",
    "status",
    "rows",
    "duration_us",
    "sqlstate",
    "masked_columns",
    "masked_entities",
    "hash",
    "prev_hash",
    "details",
)
"""CSV columns, in order. List and object values are JSON; ``details`` holds every other field."""

_FLAT: Final = {
    "kinds": ("facts", "kinds"),
    "commands": ("facts", "commands"),
    "objects": ("facts", "objects"),
    "effect": ("decision", "effect"),
    "rules": ("decision", "rules"),
    "policy_version": ("decision", "policy_version"),
    "masked_columns": ("masking", "columns"),
    "masked_entities": ("masking", "entities"),
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return str(value)


def csv_row(event: StoredEvent) -> dict[str, str]:
    """One CSV row (`CSV_COLUMNS`) for an event; nothing of the body is dropped."""
    record = event.record()
    rest = {k: v for k, v in record.items() if k not in ("v", "at")}
    row: dict[str, str] = {}
    for column in CSV_COLUMNS:
        if column == "details":
            continue
        if column in _FLAT:
            part, key = _FLAT[column]
            parent = rest.get(part)
            if isinstance(parent, dict) and key in parent:
                row[column] = _cell(parent.pop(key))
                if not parent:
                    rest.pop(part)
            else:
                row[column] = ""
        else:
            row[column] = _cell(rest.pop(column, None))
    row["details"] = _cell(rest) if rest else ""
    return row


async def export(
    store: AuditStore,
    out: TextIO,
    *,
    fmt: Literal["jsonl", "csv"] = "jsonl",
    flt: EventFilter = EventFilter(),
) -> int:
    """Write matching events to ``out``; returns how many. Field names are documented and stable."""
    count = 0
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    async for event in iter_events(store, flt):
        if writer is not None:
            writer.writerow(csv_row(event))
        else:
            out.write(json.dumps(event.record(), ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count


# -- replay --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayStatement:
    """One statement of a session: when it started (from the session start), how it went."""

    statement_seq: int
    offset_us: int
    intent: StoredEvent | None = None
    outcome: StoredEvent | None = None
    results: tuple[StoredEvent, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionReplay:
    session_id: str
    started: StoredEvent | None
    ended: StoredEvent | None
    statements: tuple[ReplayStatement, ...] = field(default_factory=tuple)


async def replay(store: AuditStore, session_id: str) -> SessionReplay | None:
    """A session's events grouped per statement, in order, with timing; None if unknown."""
    started = ended = None
    parts: dict[int, dict[str, Any]] = {}
    async for event in iter_events(store, EventFilter(session_id=session_id)):
        kind = event.type
        if kind == "session.started":
            started = event
        elif kind == "session.ended":
            ended = event
        elif "statement_seq" in event.data:
            entry = parts.setdefault(int(event.data["statement_seq"]), {"results": []})
            if kind == "statement.intent":
                entry["intent"] = event
            elif kind == "statement.outcome":
                entry["outcome"] = event
            elif kind == "statement.result":
                entry["results"].append(event)
    if started is None and ended is None and not parts:
        return None
    origin = started.at if started is not None else None
    statements = []
    for number in sorted(parts):
        entry = parts[number]
        first: StoredEvent = entry.get("intent") or entry.get("outcome") or entry["results"][0]
        if origin is None:
            origin = first.at
        statements.append(
            ReplayStatement(
                statement_seq=number,
                offset_us=first.at - origin,
                intent=entry.get("intent"),
                outcome=entry.get("outcome"),
                results=tuple(entry["results"]),
            )
        )
    return SessionReplay(
        session_id=session_id, started=started, ended=ended, statements=tuple(statements)
    )


def read_jsonl(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Parse an exported JSON-lines file back into records."""
    return [json.loads(line) for line in lines if line.strip()]
