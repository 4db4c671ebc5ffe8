"""A generic webhook: signed JSON events for every change of a review.

Each POST carries one event::

    {"type": "review.created", "delivery": "<uuid>", "occurred_at": 1700000000.5,
     "action": "requested", "actor": "alice", "review": {...every review field...}}

with headers ``X-Wardgate-Event`` (the type), ``X-Wardgate-Delivery`` (the same id on every
retry, for deduplication), ``X-Wardgate-Timestamp`` (Unix seconds when this attempt was signed)
and ``X-Wardgate-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}" under the secret>``.
Receivers recompute the HMAC over the raw body, compare in constant time, and refuse timestamps
more than five minutes from their clock (`verify_signature` does exactly that).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from wardgate.config import ConfigError, SecretRef

from .._grants import Grant
from .._model import Review
from .._service import Action, GrantAction
from ._deliver import Failure, Notifier, deliver, log, post_json
from ._payload import review_fields

__all__ = ["EVENTS", "WebhookNotifier", "sign", "verify_signature"]

EVENTS: dict[Action, str] = {
    "requested": "review.created",
    "approve": "review.decided",
    "reject": "review.decided",
    "cancel": "review.cancelled",
    "expire": "review.expired",
    "execute": "review.executed",
    "preview": "review.preview",
}
TOLERANCE = 300.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Wardgate-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE,
) -> bool:
    """What a receiver checks: the signature over the raw body, and a fresh timestamp."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookNotifier(Notifier):
    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: SecretRef,
        *,
        base_dir: Path | None = None,
        public_url: str | None = None,
        retries: int = 3,
        timeout: float = 10.0,
        backoff: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(retries=retries, backoff=backoff)
        self.url = url
        self.secret = secret
        self.base_dir = base_dir
        self.public_url = public_url
        self.clock = clock
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        parts = urlsplit(url)
        # Only scheme and host in logs: a path or query may carry a receiver's token.
        self._where = f"{parts.scheme}://{parts.hostname or '?'}" + (
            f":{parts.port}" if parts.port else ""
        )

    def wants(self, action: Action, review: Review) -> bool:
        return action in EVENTS

    async def send(self, action: Action, review: Review, actor: str) -> None:
        fields = review_fields(review, self.public_url)
        what = f"{EVENTS[action]} of review {review.id}"
        await self._post(EVENTS[action], action, actor, "review", fields, what)

    def on_grant(self, action: GrantAction, grant: Grant, actor: str) -> Awaitable[None] | None:
        """A grant listener (``Approvals.grant_listeners``): ``grant.<action>`` events, signed
        like review events. Break-glass grants are among them, so they are always announced."""
        if self._closed:
            return None
        self._busy += 1
        self._idle.clear()
        return self._grant(action, grant, actor)

    async def _grant(self, action: GrantAction, grant: Grant, actor: str) -> None:
        try:
            event = f"grant.{action}"
            await self._post(event, action, actor, "grant", grant.to_json(), f"{event} {grant.id}")
        except Exception:
            log.exception("webhook failed on %s of grant %s", action, grant.id)
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def _post(
        self, event: str, action: str, actor: str, kind: str, fields: object, what: str
    ) -> None:
        delivery = str(uuid.uuid4())
        body = json.dumps(
            {
                "type": event,
                "delivery": delivery,
                "occurred_at": self.clock(),
                "action": action,
                "actor": actor,
                kind: fields,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()

        async def attempt() -> None:
            try:
                secret = self.secret.resolve(self.base_dir)
            except ConfigError as exc:  # names the variable or file, not a value
                raise Failure(str(exc), retry=False) from None
            timestamp = str(int(self.clock()))
            headers = {
                "X-Wardgate-Event": event,
                "X-Wardgate-Delivery": delivery,
                "X-Wardgate-Timestamp": timestamp,
                "X-Wardgate-Signature": sign(secret, timestamp, body),
            }
            await post_json(self._client, self.url, body, headers)

        where = f"webhook {self._where}: {what}"
        await deliver(attempt, what=where, retries=self.retries, backoff=self.backoff)

    async def _close(self) -> None:
        await self._client.aclose()
