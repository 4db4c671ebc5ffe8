"""Holding a client's bytes until the intents of the statements in them are stored.

Strict durability means a statement is not sent upstream before its intent is committed. The relay
is a synchronous callback and cannot await, so `AuditGate.relay` queues the chunk's intents with
the writer (`AuditLog.submit` gives a future per intent; one group commit usually takes all of
them, and those of other sessions), holds the chunk's bytes, and writes them upstream when every
future has its seq, in the order the client sent the chunks. If any intent of a chunk was not
stored, nothing of that chunk goes upstream and ``fail`` ends the session (fail closed).

A client that waits for each result (most do) never has its socket paused: that would cost two
system calls per statement. One that keeps pipelining while its chunks wait is paused once more
than `HOLD_CHUNKS` chunks or `HOLD_BYTES` bytes are held, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import Final

from wardgate.audit import AuditError, AuditLog, StatementIntent

from .recording import Pending, StatementRecorder

__all__ = ["AuditGate"]

log = logging.getLogger("wardgate.proxy")


class _Held:
    __slots__ = ("data", "error", "statements", "waiting")

    def __init__(self, data: bytes, waiting: int, statements: Sequence[Pending]) -> None:
        self.data = data
        self.waiting = waiting
        self.statements = statements
        self.error: BaseException | None = None


class AuditGate:
    """Holds bytes for upstream until the intents of their statements are stored.

    ``write`` sends bytes upstream; ``hold(True)`` stops reading from the client (too much
    held), and ``hold(False)`` is called whenever nothing is held any more; ``fail`` ends the
    session when an intent was not stored.
    """

    HOLD_CHUNKS: Final = 8
    HOLD_BYTES: Final = 1 << 20

    def __init__(
        self,
        audit: AuditLog,
        recorder: StatementRecorder,
        *,
        write: Callable[[bytes], None],
        hold: Callable[[bool], None],
        fail: Callable[[BaseException], None],
    ) -> None:
        self._audit = audit
        self._recorder = recorder
        self._write = write
        self._hold = hold
        self._fail = fail
        self._queue: deque[_Held] = deque()
        self._bytes = 0
        self._holding = False
        self._closed = False

    @property
    def holding(self) -> bool:
        return bool(self._queue)

    def relay(self, data: bytes, intents: Sequence[StatementIntent]) -> None:
        """Record ``intents`` and send ``data`` upstream once they are stored (strict) or now
        (relaxed, or no statement in it; still after anything held before it)."""
        rec = self._recorder
        if not intents:
            self.send(data, ())
            return
        if not rec.strict:
            for intent in intents:
                try:
                    self._audit.submit(intent, connection=rec.connection, wait=False)
                except AuditError as exc:
                    log.error("session %s: relaxed intent not recorded: %s", rec.session_id, exc)
            self.send(data, ())
            return
        waits: list[asyncio.Future[int]] = []
        try:
            for intent in intents:
                fut = self._audit.submit(intent, connection=rec.connection)
                assert fut is not None
                waits.append(fut)
        except AuditError as exc:  # not even queued: nothing of this chunk goes upstream
            for fut in waits:
                fut.add_done_callback(_retrieve)
            self.close()
            self._fail(exc)
            return
        self.send(data, waits, rec.take_batch())

    def send(
        self,
        data: bytes,
        waits: Sequence[asyncio.Future[int]],
        statements: Sequence[Pending] = (),
    ) -> None:
        """Write ``data`` upstream once every future in ``waits`` has a seq (and everything
        held before it has gone)."""
        if self._closed:
            return
        if not waits and not self._queue:
            self._write(data)
            return
        held = _Held(data, len(waits), statements)
        self._queue.append(held)
        self._bytes += len(data)
        if not self._holding and (
            len(self._queue) > self.HOLD_CHUNKS or self._bytes > self.HOLD_BYTES
        ):
            self._holding = True
            self._hold(True)
        for fut in waits:
            fut.add_done_callback(partial(self._settled, held))
        if not waits:
            self._drain()

    def _settled(self, held: _Held, fut: asyncio.Future[int]) -> None:
        held.waiting -= 1
        # The exception is retrieved even after close, so a failure is never "unhandled".
        error = AuditError("audit write cancelled") if fut.cancelled() else fut.exception()
        if error is not None and held.error is None:
            held.error = error
        if not self._closed:
            self._drain()

    def _drain(self) -> None:
        while self._queue and self._queue[0].waiting == 0:
            held = self._queue.popleft()
            self._bytes -= len(held.data)
            if held.error is not None:
                self.close()
                self._fail(held.error)
                return
            self._write(held.data)
            if held.statements:
                self._recorder.sent(held.statements)
        if not self._queue:
            self._holding = False
            self._hold(False)

    def close(self) -> None:
        """Drop whatever is held: the session is ending."""
        self._closed = True
        self._queue.clear()


def _retrieve(fut: asyncio.Future[int]) -> None:
    """Take a future's outcome so that a failure nobody awaits is not reported as unhandled."""
    if not fut.cancelled():
        fut.exception()
