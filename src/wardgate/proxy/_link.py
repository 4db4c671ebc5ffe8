"""One socket, seen as an asyncio Protocol with two modes.

During startup and authentication the session is a sequential conversation, so `Link.read` lets a
coroutine await the next chunk. Once both ends are authenticated the session switches the link to
relay mode (`Link.relay`): each chunk goes straight to a callback that decodes, acts on and
re-encodes messages and writes them to the other link, with no coroutine or queue per chunk.
That is where the gateway's throughput comes from.

Backpressure: when the peer's write buffer passes its high-water mark asyncio calls our
`pause_writing`, and we stop reading from the *other* side until it drains. Memory then stays
bounded whatever the result size, because nothing is read faster than it can be written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

__all__ = ["Link", "LinkClosed"]


class LinkClosed(Exception):
    """The socket closed (or was reset) while we waited to read from it."""


class Link(asyncio.Protocol):
    __slots__ = (
        "_chunks",
        "_closed",
        "_gone",
        "_lost",
        "_on_data",
        "_on_eof",
        "_waiter",
        "exc",
        "feeder",
        "held",
        "transport",
        "writing_paused",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.feeder: Link | None = None  # the link whose reads we pause when our writes back up
        self._chunks: list[bytes] = []
        self._closed = False
        self._lost = False  # connection_lost has run: the transport is gone, not merely at EOF
        self._gone: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._on_data: Callable[[bytes], None] | None = None
        self._on_eof: Callable[[BaseException | None], None] | None = None
        self.exc: BaseException | None = None
        # Reading from this link is held by its session (audit intents being stored): only the
        # session resumes it, not the other link's resume_writing.
        self.held = False
        self.writing_paused = False  # our write buffer is above its high-water mark

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._on_data is not None:
            self._on_data(data)
            return
        self._chunks.append(data)
        self._wake()

    def eof_received(self) -> bool:
        self._finish(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)
        self._finish(exc)

    def pause_writing(self) -> None:
        self.writing_paused = True
        if self.feeder is not None and self.feeder.transport is not None:
            self.feeder.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        feeder = self.feeder
        if feeder is not None and feeder.transport is not None and not feeder.held:
            feeder.transport.resume_reading()

    def hold_reading(self, held: bool) -> None:
        """Stop (True) or resume (False) reading, for the session's own reasons; while our
        ``feeder`` (the peer we write to) has its buffer full, reading stays paused."""
        self.held = held
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if held:
            transport.pause_reading()
        elif self.feeder is None or not self.feeder.writing_paused:
            transport.resume_reading()

    # --- for the session --------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    async def read(self) -> bytes:
        """The next chunk received; ``b""`` once the peer has closed."""
        while not self._chunks:
            if self._closed:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._chunks.pop(0)

    def relay(
        self,
        on_data: Callable[[bytes], None],
        on_eof: Callable[[BaseException | None], None],
    ) -> None:
        """Switch to relay mode; data already read but not consumed is delivered first."""
        self._on_data = on_data
        self._on_eof = on_eof
        pending, self._chunks = self._chunks, []
        for chunk in pending:
            on_data(chunk)
        if self._closed:
            on_eof(self.exc)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def aclose(self, grace: float = 5.0) -> None:
        """Close, and wait until the transport is really gone.

        `close` only starts closing: over TLS that is a close_notify round trip, and an event loop
        closed while one is still in flight fails (uvloop: EBUSY). A peer that never answers is
        aborted after ``grace`` seconds.
        """
        self.close()
        if self._lost or self.transport is None:
            return
        if self._gone is None:
            self._gone = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._gone), grace)
        except TimeoutError:
            self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _finish(self, exc: BaseException | None) -> None:
        if self._closed:
            return
        self._closed = True
        self.exc = exc
        self._wake()
        if self._on_eof is not None:
            self._on_eof(exc)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
