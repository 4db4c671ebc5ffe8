"""Loopback HTTP receivers for the notification tests, and a review service on SQLite.

`Receiver` is a real HTTP server (uvicorn on 127.0.0.1, port 0) that records every request and
answers from a script, standing in for Slack's Web API, a Teams webhook or a webhook receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from wardgate.approvals import Approvals, ReviewRequest, ReviewStore

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def ok(body: Any = None, status: int = 200, **headers: str) -> Answer:
    data = b"" if body is None else json.dumps(body).encode()
    return status, {"content-type": "application/json", **headers}, data


@dataclass
class Receiver:
    """Records requests; ``answer`` (called per request) says what to send back."""

    answer: Callable[[Received], Answer] = lambda _r: ok(status=204)
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        got = Received(scope["method"], scope["path"], headers, body)
        self.requests.append(got)
        self._arrived.set()
        status, out_headers, data = self.answer(got)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in out_headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": data})

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def wait_for(
        self, count: int, path: str | None = None, within: float = 10.0
    ) -> list[Received]:
        """Until ``count`` requests (to ``path``) have arrived; those requests."""
        deadline = time.monotonic() + within
        while True:
            got = self.requests if path is None else self.on(path)
            if len(got) >= count:
                return got
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{len(got)} requests to {path or 'any path'}, not {count}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=left)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """``app`` on a real loopback port: its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_config=None,
        access_log=False,
        ws="none",
        interface="asgi3",
    )
    server = _Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the test server did not start")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


@contextlib.asynccontextmanager
async def receiving(answer: Callable[[Received], Answer] | None = None) -> AsyncIterator[Receiver]:
    receiver = Receiver() if answer is None else Receiver(answer=answer)
    async with serving(receiver) as url:
        receiver.url = url
        yield receiver


def closed_port() -> int:
    """A loopback port nothing listens on (a receiver that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Clock:
    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def approvals_in(
    tmp_path: Path, clock: Callable[[], float] = time.time
) -> AsyncIterator[Approvals]:
    """A real approvals service over a real SQLite review store."""
    store = await ReviewStore.open(f"sqlite+aiosqlite:///{tmp_path / 'reviews.db'}")
    approvals = Approvals(store, clock=clock, poll_interval=0.05)
    try:
        yield approvals
    finally:
        await approvals.aclose()


def review_request(**changes: Any) -> ReviewRequest:
    fields: dict[str, Any] = {
        "requester": "alice",
        "connection": "shop",
        "statement": "DELETE FROM orders WHERE id = $1",
        "parameters": ("42",),
        "rules": ("prod-writes",),
        "approvers": ("dba",),
        "reason": "ticket OPS-1",
        **changes,
    }
    return ReviewRequest(**fields)


async def eventually(
    check: Callable[[], bool], within: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("wardgate") and r.levelno == level]
