"""Group commit: many concurrent `record` calls, one transaction (and one disk sync) per batch.

A strict ``record`` must not return before its event is committed, because the caller sends the
statement upstream only then. One transaction per event would cost a disk sync per statement, so
callers enqueue and wait on a future while a single background task drains the queue: it takes
everything waiting (up to ``max_batch``, optionally lingering ``max_wait`` seconds for more),
appends it in one transaction, and resolves every future with its seq. While that commit is in
flight, new events pile up and form the next batch, so batching grows with load by itself and a
lone client pays no linger.

Failures are delivered to every waiter of the batch as `AuditWriteError`: the caller refuses the
statement (fail closed). The next batch tries again, so a store that comes back resumes service.

``record_nowait`` (relaxed durability) enqueues and returns at once; the event says
``durability: "relaxed"`` in its hashed envelope. A batch nobody waits for lingers up to
``linger`` seconds to grow (a waited-for event ends the wait), since each transaction has a fixed
cost. A relaxed event lost to a failed batch cannot
be reported to anyone, so it is logged and counted in ``stats.relaxed_lost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._chain import PreparedEvent, prepare
from ._checkpoint import CheckpointSigner
from ._errors import AuditError, AuditWriteError
from ._events import AuditEvent, Durability
from ._store import AuditStore

__all__ = ["AuditWriter", "WriterStats", "now_us", "record_direct"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WriterStats:
    """Counters since the writer started (read them; the writer updates them)."""

    events: int = 0
    transactions: int = 0
    failed_transactions: int = 0
    relaxed_lost: int = 0
    unawaited_lost: int = 0  # events queued without a waiter (relaxed, outcomes) lost in a failure
    largest_batch: int = 0
    checkpoints: int = 0


def now_us() -> int:
    return time.time_ns() // 1000


async def record_direct(store: AuditStore, event: AuditEvent) -> int:
    """Append one strict event in its own transaction, without a writer (CLI, maintenance jobs)."""
    try:
        prepared = prepare(event, at=now_us(), durability="strict")
    except (TypeError, ValueError) as exc:
        raise AuditError(f"cannot encode {type(event).__name__}: {exc}") from None
    return await store.append([prepared])


_Item = tuple[PreparedEvent, "asyncio.Future[int] | None"]


class AuditWriter:
    """Appends events to one store with group commit; optionally signs periodic checkpoints.

    Use ``async with AuditWriter(store) as writer:`` or `start` / `close`. ``close`` commits
    everything already accepted before it returns.
    """

    def __init__(
        self,
        store: AuditStore,
        *,
        max_batch: int = 512,
        max_wait: float = 0.0,
        max_pending: int = 100_000,
        linger: float = 0.0,
        signer: CheckpointSigner | None = None,
        checkpoint_interval: float = 0.0,
        clock: Callable[[], int] = now_us,
    ) -> None:
        if max_batch < 1 or max_pending < 1 or max_wait < 0 or linger < 0:
            raise ValueError("max_batch and max_pending must be positive, max_wait and linger >= 0")
        self.store = store
        self.stats = WriterStats()
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._max_pending = max_pending
        self._linger = linger
        self._signer = signer
        self._interval = checkpoint_interval
        self._clock = clock
        self._pending: deque[_Item] = deque()
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()  # a waited-for event is queued, or a batch is full
        self._awaited = 0  # queued events with a waiter
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._last_checkpoint: tuple[int, str] | None = None

    async def __aenter__(self) -> AuditWriter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._drain(), name="audit-writer")
        if self._signer is not None and self._interval > 0:
            self._checkpoint_task = asyncio.create_task(
                self._checkpoints(), name="audit-checkpoints"
            )

    def _enqueue(
        self, event: Any, durability: Durability, waiter: bool
    ) -> asyncio.Future[int] | None:
        if self._closing or self._task is None or self._task.done():
            raise AuditWriteError("the audit writer is not running")
        if len(self._pending) >= self._max_pending:
            raise AuditWriteError(f"audit backlog is full ({self._max_pending} events waiting)")
        try:
            prepared = prepare(event, at=self._clock(), durability=durability)
        except (TypeError, ValueError) as exc:
            raise AuditError(f"cannot encode {type(event).__name__}: {exc}") from None
        future = asyncio.get_running_loop().create_future() if waiter else None
        self._pending.append((prepared, future))
        self._idle.clear()
        self._wake.set()
        if waiter:
            self._awaited += 1
            self._urgent.set()
        elif len(self._pending) >= self._max_batch:
            self._urgent.set()
        return future

    async def record(self, event: AuditEvent) -> int:
        """Store ``event`` durably and return its seq; raises `AuditWriteError` if it was not."""
        future = self._enqueue(event, "strict", waiter=True)
        assert future is not None
        return await future

    def record_nowait(self, event: AuditEvent, durability: Durability = "relaxed") -> None:
        """Queue ``event`` (marked ``durability: relaxed`` by default) without waiting for it.

        It is committed with a later batch; if that batch fails nobody is told (it is logged and
        counted in ``stats.relaxed_lost`` / ``stats.unawaited_lost``). ``durability="strict"``
        is for events of a strict connection that gate nothing (a statement's outcome).
        """
        self._enqueue(event, durability, waiter=False)

    def submit(self, event: AuditEvent) -> asyncio.Future[int]:
        """Queue a strict event and return the future of its seq, without awaiting it.

        For callers that cannot await (the relay is a synchronous callback): the future fails
        with `AuditWriteError` if the event was not stored. Raises at once if it cannot even be
        queued.
        """
        future = self._enqueue(event, "strict", waiter=True)
        assert future is not None
        return future

    async def flush(self) -> None:
        """Wait until everything queued so far has been committed (or has failed)."""
        await self._idle.wait()

    async def close(self) -> None:
        """Refuse new events, commit the queued ones, stop the background tasks."""
        if self._task is None or self._closing:
            return
        self._closing = True
        self._wake.set()
        self._urgent.set()
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoint_task
        await self._task
        if self._signer is not None and self._interval > 0:
            try:
                await self._checkpoint_if_moved("shutdown")
            except Exception as exc:  # the events are stored; only the last checkpoint is lost
                log.warning("audit checkpoint at shutdown failed: %s", exc)

    async def _drain(self) -> None:
        while True:
            if not self._pending:
                self._idle.set()
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._max_wait > 0 and len(self._pending) < self._max_batch and not self._closing:
                await asyncio.sleep(self._max_wait)
            elif self._linger > 0 and not self._awaited and not self._closing:
                await self._let_it_grow()
            count = min(len(self._pending), self._max_batch)
            batch = [self._pending.popleft() for _ in range(count)]
            self._awaited -= sum(future is not None for _, future in batch)
            await self._commit(batch)

    async def _let_it_grow(self) -> None:
        """Nobody waits for what is queued (relaxed events, outcomes): give the batch up to
        ``linger`` seconds to grow, unless a waited-for event arrives or the batch is full.
        A transaction costs ~0.1-0.2 ms of CPU whatever its size, so this is what keeps
        relaxed recording cheap."""
        self._urgent.clear()
        if len(self._pending) >= self._max_batch:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._urgent.wait(), self._linger)

    async def _commit(self, batch: list[_Item]) -> None:
        try:
            first = await self.store.append([prepared for prepared, _ in batch])
        except Exception as exc:
            self.stats.failed_transactions += 1
            self.stats.relaxed_lost += sum(
                future is None and prepared.durability == "relaxed" for prepared, future in batch
            )
            self.stats.unawaited_lost += sum(future is None for _, future in batch)
            log.error("audit batch of %d events not stored: %s", len(batch), exc)
            for _, future in batch:
                if future is not None and not future.done():
                    failure = AuditWriteError(f"audit store write failed: {exc}")
                    failure.__cause__ = exc
                    future.set_exception(failure)
            return
        self.stats.transactions += 1
        self.stats.events += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        for offset, (_, future) in enumerate(batch):
            if future is not None and not future.done():
                future.set_result(first + offset)

    async def _checkpoints(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._checkpoint_if_moved("periodic")
            except Exception as exc:  # a checkpoint is a safeguard, never a reason to stop
                log.warning("audit checkpoint failed: %s", exc)

    async def _checkpoint_if_moved(self, kind: str) -> None:
        """Sign the head if it moved since our last checkpoint (idle gateways sign nothing)."""
        assert self._signer is not None
        head = await self.store.head()
        if head == self._last_checkpoint or head[0] == 0:
            return
        cp = await self.store.checkpoint(self._signer, kind=kind, at=self._clock())
        self._last_checkpoint = (cp.seq, cp.hash)
        self.stats.checkpoints += 1
