"""Delivering one notification: bounded retries with backoff, failures logged, never raised.

A notifier is a review listener (`wardgate.approvals.Listener`) with an HTTP client. For every
change it wants, it returns a coroutine the approvals service runs as a task; the coroutine
sends the change in order with the other changes of the same review (a Slack message must be
posted before it can be updated), retrying what can succeed later (connection errors, timeouts,
HTTP 408/425/429/5xx) up to ``retries`` more times with exponential backoff and jitter, honouring
``Retry-After``. What fails for good is logged and dropped: the review is untouched and stays
decidable through every other channel.

Logs name the notifier and the reason (an HTTP status, an error class, Slack's error code), never
a token, a signing secret or a secret URL (a Teams webhook URL *is* its credential).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx

from .._model import Review
from .._service import Action

__all__ = ["Failure", "Notifier", "deliver", "post_json"]

log = logging.getLogger("wardgate.approvals.notify")

T = TypeVar("T")
MAX_BACKOFF = 30.0


class Failure(Exception):
    """One delivery attempt failed; ``retry`` says whether trying again may help."""

    def __init__(self, reason: str, *, retry: bool = True, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.after = after


async def deliver(
    attempt: Callable[[], Awaitable[T]],
    *,
    what: str,
    retries: int,
    backoff: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T | None:
    """``attempt()`` until it succeeds or fails for good: its result, or None (logged)."""
    for n in range(retries + 1):
        try:
            return await attempt()
        except Failure as exc:
            if not exc.retry or n == retries:
                tries = f"{n + 1} attempt" + ("s" if n else "")
                log.error("%s failed after %s, dropped: %s", what, tries, exc.reason)
                return None
            delay = backoff * 2**n * random.uniform(0.5, 1.0)
            if exc.after is not None:
                delay = max(delay, exc.after)
            delay = min(delay, MAX_BACKOFF)
            log.warning(
                "%s failed (attempt %d of %d): %s; retrying in %.1fs",
                what,
                n + 1,
                retries + 1,
                exc.reason,
                delay,
            )
            await sleep(delay)
    return None  # pragma: no cover - the loop always returns


async def post_json(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> None:
    """POST one JSON body; raises `Failure` with a reason that names no URL."""
    try:
        response = await client.post(
            url, content=body, headers={"content-type": "application/json", **headers}
        )
    except httpx.TimeoutException:
        raise Failure("timed out") from None
    except httpx.NetworkError as exc:  # the OS reason ("Connection refused"), not the URL
        raise Failure(f"{type(exc).__name__}: {_first_line(exc)}") from None
    except (httpx.ProtocolError, httpx.ProxyError) as exc:
        raise Failure(type(exc).__name__) from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # their text may quote the URL
        raise Failure(type(exc).__name__, retry=False) from None
    status = response.status_code
    if status < 300:
        return
    retry = status in (408, 425, 429) or status >= 500
    raise Failure(f"HTTP {status}", retry=retry, after=retry_after(response.headers))


def retry_after(headers: httpx.Headers | dict[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header (delta or HTTP date), capped; None without one."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_BACKOFF)


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()
    return text[0][:200] if text else "no detail"


class Notifier:
    """Base of the notifiers: a listener that sends each wanted change in per-review order."""

    name = "notifier"

    def __init__(self, *, retries: int, backoff: float) -> None:
        self.retries = retries
        self.backoff = backoff
        self._order: dict[str, tuple[asyncio.Lock, int]] = {}
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    def wants(self, action: Action, review: Review) -> bool:
        raise NotImplementedError

    async def send(self, action: Action, review: Review, actor: str) -> None:
        """Deliver one change (using `deliver`); must not raise."""
        raise NotImplementedError

    async def _close(self) -> None:
        """Release what the notifier holds (its HTTP client)."""

    async def aclose(self, grace: float = 10.0) -> None:
        """Take no more changes, let deliveries in flight finish (up to ``grace`` seconds),
        then release the HTTP client."""
        self._closed = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=grace)
        if self._busy:
            log.warning("%s closed with %d deliveries unfinished", self.name, self._busy)
        await self._close()

    def __call__(self, action: Action, review: Review, actor: str) -> Awaitable[None] | None:
        if self._closed or not self.wants(action, review):
            return None
        self._busy += 1
        self._idle.clear()
        return self._in_order(action, review, actor)

    async def _in_order(self, action: Action, review: Review, actor: str) -> None:
        lock, users = self._order.get(review.id, (asyncio.Lock(), 0))
        self._order[review.id] = (lock, users + 1)
        try:
            async with lock:
                await self.send(action, review, actor)
        except Exception:  # a bug here must not reach the approvals service either
            log.exception("%s failed on %s of review %s", self.name, action, review.id)
        finally:
            lock, users = self._order[review.id]
            if users <= 1:
                del self._order[review.id]
            else:
                self._order[review.id] = (lock, users - 1)
            self._busy -= 1
            if not self._busy:
                self._idle.set()
