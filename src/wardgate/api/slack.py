"""Slack interactions: the Approve and Reject buttons of review messages.

``POST /v1/slack/interactions`` is the app's *Interactivity Request URL*. Every request must
carry Slack's signature: ``X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">``
under the app's signing secret, with ``X-Slack-Request-Timestamp`` within five minutes of our
clock; a signature already seen in that window is a replay and refused too (401 for all three;
the window is remembered in this process only).

The person who pressed is the Slack user id in the payload, mapped to a gateway identity by
``approvals.slack.users`` (anyone else is refused), with that identity's groups from
``groups_of``. The approvals model then judges them like any approver, with the rules it holds
for every channel (no self-approval, approver groups only, one vote each, pending reviews only);
its refusal, the same message the REST API answers with, is shown to them.

*Approve* decides at once. *Reject* needs a reason, which a button cannot carry, so it opens a
form (``views.open``), once the model has said the presser could decide the review at all; its
submission (``view_submission``) rejects with the reason typed, and
shows a refusal inline in the form. Replies go to the interaction's ``response_url`` as
ephemeral messages (only the presser sees them), after the HTTP answer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from slack_sdk.signature import Clock, SignatureVerifier
from starlette.background import BackgroundTask

from wardgate.approvals import Approvals, Approver, ReviewError, check_judge
from wardgate.approvals.notify import (
    ACTION_APPROVE,
    ACTION_REJECT,
    REASON_BLOCK,
    REJECT_VIEW,
    Failure,
    SlackApi,
    outcome,
    reject_view,
)
from wardgate.config import ConfigError, SlackConfig

__all__ = ["slack_router"]

log = logging.getLogger("wardgate.api.slack")

TOLERANCE = 300.0  # seconds a signed request stays valid (Slack's own recommendation)
_MAX_BODY = 1024 * 1024
GroupsOf = Callable[[str], tuple[str, ...]]


def slack_router(
    approvals: Approvals,
    config: SlackConfig,
    base_dir: Path | None,
    *,
    groups_of: GroupsOf | None = None,
    clock: Callable[[], float] = time.time,
    timeout: float = 5.0,
) -> APIRouter:
    """The interactions endpoint; ``groups_of(name)`` gives a gateway identity's groups."""
    handler = _Interactions(approvals, config, base_dir, groups_of, clock, timeout)
    router = APIRouter()

    @router.post("/v1/slack/interactions", include_in_schema=False)
    async def interactions(request: Request) -> Response:
        return await handler.handle(request)

    return router


class _At(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


class _Interactions:
    def __init__(
        self,
        approvals: Approvals,
        config: SlackConfig,
        base_dir: Path | None,
        groups_of: GroupsOf | None,
        clock: Callable[[], float],
        timeout: float,
    ) -> None:
        self.approvals = approvals
        self.config = config
        self.base_dir = base_dir
        self.groups_of = groups_of
        self.clock = clock
        self.api = SlackApi(config, base_dir, timeout=timeout)
        self._seen: dict[str, float] = {}  # signature -> when it stops being acceptable

    async def handle(self, request: Request) -> Response:
        body = await _read(request)
        if body is None:
            return JSONResponse({"error": "request too large"}, status_code=413)
        refused = self._verify(
            request.headers.get("x-slack-request-timestamp"),
            request.headers.get("x-slack-signature"),
            body,
        )
        if refused is not None:
            status, reason = refused
            source = request.client.host if request.client else "?"
            log.warning("Slack interaction from %s refused: %s", source, reason)
            return JSONResponse({"error": reason}, status_code=status)
        payload = _payload(body)
        if payload is None:
            return JSONResponse({"error": "no interaction payload"}, status_code=400)
        kind = payload.get("type")
        view = payload.get("view")
        if kind == "block_actions":
            return await self._pressed(payload)
        if (
            kind == "view_submission"
            and isinstance(view, dict)
            and view.get("callback_id") == REJECT_VIEW
        ):
            return await self._reject_submitted(payload, view)
        return Response(status_code=200)

    # --- verification ---------------------------------------------------------------------------

    def _verify(
        self, timestamp: str | None, signature: str | None, body: bytes
    ) -> tuple[int, str] | None:
        if not timestamp or not signature:
            return 401, "missing Slack signature headers"
        try:
            sent = int(timestamp)
        except ValueError:
            return 401, "bad request timestamp"
        now = self.clock()
        if abs(now - sent) > TOLERANCE:
            return 401, "stale request timestamp"
        try:
            secret = self.config.signing_secret.resolve(self.base_dir)
        except ConfigError as exc:
            log.error("Slack signing secret unavailable: %s", exc)
            return 503, "Slack interactions are not available"
        if not SignatureVerifier(secret, clock=_At(now)).is_valid(body, timestamp, signature):
            return 401, "bad signature"
        for seen, until in list(self._seen.items()):
            if until < now:
                del self._seen[seen]
        if signature in self._seen:
            return 401, "replayed request"
        self._seen[signature] = sent + TOLERANCE
        return None

    # --- the buttons ----------------------------------------------------------------------------

    async def _pressed(self, payload: dict[str, Any]) -> Response:
        actions = payload.get("actions")
        action = actions[0] if isinstance(actions, list) and actions else {}
        action_id = action.get("action_id") if isinstance(action, dict) else None
        review_id = action.get("value") if isinstance(action, dict) else None
        if action_id not in (ACTION_APPROVE, ACTION_REJECT) or not isinstance(review_id, str):
            return Response(status_code=200)
        approver = self._approver(payload)
        if approver is None:
            return self._reply(payload, _NOT_LINKED)
        if action_id == ACTION_APPROVE:
            try:
                review = await self.approvals.decide(review_id, approver, "approve")
            except ReviewError as exc:
                return self._reply(payload, f"Not approved: {exc}")
            log.info("review %s approved by %s via Slack", review_id, approver.name)
            return self._reply(payload, f"You approved review {review.id}: {outcome(review)}")
        return await self._ask_reason(payload, review_id, approver)

    async def _ask_reason(
        self, payload: dict[str, Any], review_id: str, approver: Approver
    ) -> Response:
        review = await self.approvals.get(review_id)
        if review is None:
            return self._reply(payload, f"Review {review_id} does not exist.")
        try:  # no form for a rejection that could not count: the model's refusal at once
            check_judge(review, approver, self.clock())
        except ReviewError as exc:
            return self._reply(payload, f"Not rejected: {exc}")
        trigger = payload.get("trigger_id")
        try:
            if not isinstance(trigger, str):
                raise Failure("no trigger_id", retry=False)
            await self.api.open_view(trigger, reject_view(review_id))
        except Failure as exc:
            log.warning("cannot open the Slack rejection form for %s: %s", review_id, exc.reason)
            return self._reply(
                payload,
                f"Could not open the rejection form. Reject with a reason instead: "
                f"`wardgate review reject {review_id} --reason '...'`",
            )
        return Response(status_code=200)

    async def _reject_submitted(self, payload: dict[str, Any], view: dict[str, Any]) -> Response:
        review_id = str(view.get("private_metadata", ""))
        approver = self._approver(payload)
        if approver is None:
            return _form_error(_NOT_LINKED)
        try:
            reason = view["state"]["values"][REASON_BLOCK][REASON_BLOCK]["value"] or ""
        except (KeyError, TypeError):
            reason = ""
        try:
            await self.approvals.decide(review_id, approver, "reject", str(reason))
        except ReviewError as exc:
            return _form_error(str(exc))
        log.info("review %s rejected by %s via Slack", review_id, approver.name)
        return Response(status_code=200)  # an empty answer closes the form

    def _approver(self, payload: dict[str, Any]) -> Approver | None:
        user = payload.get("user")
        user_id = user.get("id") if isinstance(user, dict) else None
        name = self.config.users.get(user_id) if isinstance(user_id, str) else None
        if name is None:
            log.warning("Slack user %s is not mapped to a gateway identity; refused", user_id)
            return None
        groups = tuple(self.groups_of(name)) if self.groups_of is not None else ()
        return Approver(name=name, groups=groups, via="slack")

    # --- replies --------------------------------------------------------------------------------

    def _reply(self, payload: dict[str, Any], text: str) -> Response:
        """An ephemeral message for the presser: the answer, and through ``response_url``."""
        url = payload.get("response_url")
        task = None
        if isinstance(url, str) and self._may_respond(url):
            task = BackgroundTask(self._respond, url, text)
        body = {"response_type": "ephemeral", "replace_original": False, "text": text}
        return JSONResponse(body, background=task)

    async def _respond(self, url: str, text: str) -> None:
        try:
            await self.api.respond(url, text)
        except Failure as exc:
            log.warning("Slack reply not delivered: %s", exc.reason)

    def _may_respond(self, url: str) -> bool:
        """Slack's own hooks host, or the configured API host (a proxy, a test double)."""
        parts, api = urlsplit(url), urlsplit(self.config.api_url)
        if parts.scheme == "https" and parts.hostname == "hooks.slack.com":
            return True
        return (parts.scheme, parts.netloc) == (api.scheme, api.netloc)


_NOT_LINKED = (
    "Your Slack account is not linked to a Wardgate identity, so it cannot decide reviews."
    " Ask an administrator to add it to approvals.slack.users."
)


def _form_error(text: str) -> Response:
    return JSONResponse(
        {"response_action": "errors", "errors": {REASON_BLOCK: text[:150]}}, status_code=200
    )


async def _read(request: Request) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _payload(body: bytes) -> dict[str, Any] | None:
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=16)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, IndexError):
        return None
    return payload if isinstance(payload, dict) else None
