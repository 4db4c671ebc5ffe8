"""Slack: a review message in the approvers' channel, kept up to date as the review changes.

`SlackApi` calls the Web API through slack_sdk's `WebClient` in a worker thread (its asyncio
client needs aiohttp, which Wardgate does not otherwise carry; a notifier sends a few messages
an hour). slack_sdk's own retries are off: `deliver` retries, honouring Slack's Retry-After.

The channel and timestamp of each posted message are kept in memory, by review id, until the
review is settled: a restarted gateway cannot update messages it posted before (the review
itself is unaffected; docs/notifications.md says so).
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import math
import re
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from wardgate.config import ConfigError, SlackConfig

from .._model import Review
from .._service import Action
from ._deliver import Failure, Notifier, deliver, retry_after
from ._slack_blocks import review_blocks, review_text

__all__ = ["SlackApi", "SlackNotifier"]

log = logging.getLogger("wardgate.approvals.notify")

T = TypeVar("T")
_RETRY_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
_REMEMBERED = 10_000  # messages whose location is kept (oldest forgotten first)


class SlackApi:
    """The few Web API calls Wardgate makes, as coroutines raising `Failure`."""

    def __init__(self, config: SlackConfig, base_dir: Path | None, *, timeout: float) -> None:
        self.config = config
        self.base_dir = base_dir
        self.timeout = max(1, math.ceil(timeout))

    def _client(self) -> WebClient:
        try:
            token = self.config.bot_token.resolve(self.base_dir)
        except ConfigError as exc:  # names the variable or file, never a value
            raise Failure(str(exc), retry=False) from None
        return WebClient(
            token=token, base_url=self.config.api_url, timeout=self.timeout, retry_handlers=[]
        )

    async def _run(self, call: Callable[[WebClient], SlackResponse]) -> dict[str, Any]:
        client = self._client()
        try:
            response = await asyncio.to_thread(call, client)
        except SlackApiError as exc:
            raise _failure(exc.response) from None
        except OSError as exc:  # URLError, refused, timed out
            raise Failure(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None
        except http.client.HTTPException as exc:  # a broken response
            raise Failure(type(exc).__name__) from None
        except SlackClientError as exc:
            raise Failure(type(exc).__name__, retry=False) from None
        return response.data if isinstance(response.data, dict) else {}

    async def post(self, blocks: list[dict[str, Any]], text: str) -> tuple[str, str]:
        """chat.postMessage to the configured channel: where the message went (channel, ts)."""
        channel = self.config.channel
        data = await self._run(
            lambda c: c.chat_postMessage(channel=channel, text=text, blocks=blocks)
        )
        return str(data.get("channel") or channel), str(data.get("ts", ""))

    async def update(self, channel: str, ts: str, blocks: list[dict[str, Any]], text: str) -> None:
        await self._run(lambda c: c.chat_update(channel=channel, ts=ts, text=text, blocks=blocks))

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self._run(lambda c: c.views_open(trigger_id=trigger_id, view=view))

    async def respond(self, response_url: str, text: str) -> None:
        """An ephemeral reply through an interaction's ``response_url``."""

        def send() -> int:
            hook = WebhookClient(response_url, timeout=self.timeout, retry_handlers=[])
            reply = hook.send(text=text, response_type="ephemeral", replace_original=False)
            return int(reply.status_code)

        try:
            status = await asyncio.to_thread(send)
        except OSError as exc:
            raise Failure(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None
        except http.client.HTTPException as exc:
            raise Failure(type(exc).__name__) from None
        if status >= 300:
            raise Failure(f"HTTP {status}", retry=False)


def _failure(response: SlackResponse) -> Failure:
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error", ""))
    code = error if _ERROR_CODE.fullmatch(error) else ""
    retry = status == 429 or status >= 500 or code in _RETRY_ERRORS
    reason = f"HTTP {status}" + (f" {code}" if code else "")
    headers = {str(k): str(v) for k, v in response.headers.items()}
    return Failure(reason, retry=retry, after=retry_after(headers))


class MessageRefs(Protocol):
    """Where notifiers keep a handle on each review's message (`ReviewStore` is one)."""

    async def save_ref(self, review_id: str, notifier: str, ref: str) -> None: ...

    async def load_ref(self, review_id: str, notifier: str) -> str | None: ...


class SlackNotifier(Notifier):
    name = "slack"

    def __init__(
        self,
        config: SlackConfig,
        *,
        base_dir: Path | None = None,
        public_url: str | None = None,
        retries: int = 3,
        timeout: float = 10.0,
        backoff: float = 1.0,
        refs: MessageRefs | None = None,
    ) -> None:
        super().__init__(retries=retries, backoff=backoff)
        self.api = SlackApi(config, base_dir, timeout=timeout)
        self.public_url = public_url
        self.refs = refs  # the review store: where each review's message is, for every process
        self._posted: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def wants(self, action: Action, review: Review) -> bool:
        # Every change: the post of a new review may still be in flight, so whether there is
        # a message to update is decided in `send`, under the review's lock.
        return True

    def _remember(self, review_id: str, where: tuple[str, str]) -> None:
        self._posted[review_id] = where
        while len(self._posted) > _REMEMBERED:
            self._posted.popitem(last=False)

    async def _stored(self, review_id: str) -> tuple[str, str] | None:
        """The message another process (or this one before a restart) posted."""
        if self.refs is None:
            return None
        try:
            ref = await self.refs.load_ref(review_id, self.name)
        except Exception as exc:
            log.warning("where the Slack message of %s is could not be read: %s", review_id, exc)
            return None
        channel, _, ts = (ref or "").partition(" ")
        return (channel, ts) if channel and ts else None

    def message_of(self, review_id: str) -> tuple[str, str] | None:
        """Where the message for a review was posted (channel, ts), while it is remembered."""
        return self._posted.get(review_id)

    async def send(self, action: Action, review: Review, actor: str) -> None:
        blocks, text = review_blocks(review, self.public_url), review_text(review)
        what = f"slack {action} of review {review.id}"
        if action == "requested":
            posted = await deliver(
                lambda: self.api.post(blocks, text),
                what=what,
                retries=self.retries,
                backoff=self.backoff,
            )
            if posted is not None and posted[1]:
                self._remember(review.id, posted)
                if self.refs is not None:
                    try:
                        await self.refs.save_ref(review.id, self.name, " ".join(posted))
                    except Exception as exc:  # the message stays; only other processes miss it
                        log.warning(
                            "where the Slack message of %s is was not stored: %s", review.id, exc
                        )
            return
        where = self._posted.get(review.id) or await self._stored(review.id)
        if where is None:
            log.debug("no Slack message known for review %s; not updated", review.id)
            return
        channel, ts = where
        await deliver(
            lambda: self.api.update(channel, ts, blocks, text),
            what=what,
            retries=self.retries,
            backoff=self.backoff,
        )
        if review.final:
            self._posted.pop(review.id, None)
