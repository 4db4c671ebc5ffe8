"""The Slack interactions endpoint, served by uvicorn on loopback, driven with signed requests.

A fake Slack Web API (also on loopback) receives the review message, its updates, the rejection
form and the ephemeral replies; the reviews live in a real SQLite store.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from notify_support import (
    Clock,
    Received,
    Receiver,
    approvals_in,
    ok,
    receiving,
    review_request,
    serving,
)
from wardgate.api.slack import slack_router
from wardgate.approvals import Approvals, Review
from wardgate.approvals.notify import SlackNotifier
from wardgate.config import SlackConfig

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-interactions-test"
ENDPOINT = "/v1/slack/interactions"
USERS = {"UBOB": "bob", "UALICE": "alice", "UMALLORY": "mallory"}
GROUPS = {"bob": ("dba",), "alice": ("dba", "eng"), "mallory": ("eng",)}
POST, UPDATE, VIEWS_OPEN = "/api/chat.postMessage", "/api/chat.update", "/api/views.open"
REPLY = "/actions/T0001/1234/response-token"


def slack_api(request: Received) -> tuple[int, dict[str, str], bytes]:
    if request.path == POST:
        return ok({"ok": True, "channel": "C0REVIEWS", "ts": "1700000000.000200"})
    if request.path.startswith("/actions/"):
        return 200, {"content-type": "text/plain"}, b"ok"
    return ok({"ok": True})


@dataclass
class Setup:
    approvals: Approvals
    slack: Receiver
    client: httpx.AsyncClient
    clock: Clock

    def signed(
        self, payload: dict[str, Any], *, at: float | None = None, secret: str = SIGNING_SECRET
    ) -> tuple[bytes, dict[str, str]]:
        """A request as Slack sends it: the form-encoded payload, signed v0."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        ts = str(int(self.clock() if at is None else at))
        base = b"v0:" + ts.encode() + b":" + body
        signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": signature,
        }
        return body, headers

    async def send(self, payload: dict[str, Any], **kw: Any) -> httpx.Response:
        body, headers = self.signed(payload, **kw)
        return await self.client.post(ENDPOINT, content=body, headers=headers)

    def press(self, user: str, action: str, review_id: str) -> dict[str, Any]:
        return {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
            "trigger_id": f"trigger-{user}-{action}",
            "response_url": self.slack.url + REPLY,
            "container": {"channel_id": "C0REVIEWS", "message_ts": "1700000000.000200"},
            "actions": [
                {
                    "type": "button",
                    "action_id": f"wardgate_{action}",
                    "block_id": "wardgate_review",
                    "value": review_id,
                }
            ],
        }

    def reject_form(self, user: str, review_id: str, reason: str | None) -> dict[str, Any]:
        return {
            "type": "view_submission",
            "user": {"id": user},
            "view": {
                "callback_id": "wardgate_reject",
                "private_metadata": review_id,
                "state": {
                    "values": {"reason": {"reason": {"type": "plain_text_input", "value": reason}}}
                },
            },
        }

    async def review(self) -> Review:
        review = await self.approvals.request(review_request())
        await self.slack.wait_for(1, POST)
        return review

    async def current(self, review_id: str) -> Review:
        review = await self.approvals.get(review_id)
        assert review is not None
        return review


@pytest.fixture
async def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Setup]:
    monkeypatch.setenv("WARDGATE_TEST_SLACK_TOKEN", TOKEN)
    (tmp_path / "signing").write_text(SIGNING_SECRET + "\n")
    clock = Clock()
    async with contextlib.AsyncExitStack() as stack:
        fake = await stack.enter_async_context(receiving(slack_api))
        config = SlackConfig.model_validate(
            {
                "bot_token": "env:WARDGATE_TEST_SLACK_TOKEN",
                "signing_secret": "file:signing",  # relative to the config directory
                "channel": "C0REVIEWS",
                "users": USERS,
                "api_url": f"{fake.url}/api/",
            }
        )
        approvals = await stack.enter_async_context(approvals_in(tmp_path))
        notifier = SlackNotifier(config, base_dir=tmp_path, retries=1, backoff=0.01)
        approvals.listeners.append(notifier)
        stack.push_async_callback(notifier.aclose)
        app = FastAPI()
        app.include_router(
            slack_router(
                approvals, config, tmp_path, groups_of=lambda n: GROUPS.get(n, ()), clock=clock
            )
        )
        url = await stack.enter_async_context(serving(app))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=url))
        yield Setup(approvals, fake, client, clock)


async def test_approve_from_slack_decides_and_updates_the_message(setup: Setup) -> None:
    review = await setup.review()
    response = await setup.send(setup.press("UBOB", "approve", review.id))
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert response.json()["text"].startswith(f"You approved review {review.id}")

    current = await setup.current(review.id)
    assert current.status == "approved"
    (verdict,) = current.verdicts
    assert (verdict.approver, verdict.verdict, verdict.via) == ("bob", "approve", "slack")

    (update,) = await setup.slack.wait_for(1, UPDATE)
    message = update.json()
    assert (message["channel"], message["ts"]) == ("C0REVIEWS", "1700000000.000200")
    assert not [b for b in message["blocks"] if b["type"] == "actions"]  # buttons gone
    assert any("approved by bob" in b.get("text", {}).get("text", "") for b in message["blocks"])
    (reply,) = await setup.slack.wait_for(1, REPLY)
    assert reply.json()["response_type"] == "ephemeral"
    assert reply.json()["replace_original"] is False
    assert reply.json()["text"].startswith(f"You approved review {review.id}")


async def test_a_wrong_signature_is_refused(setup: Setup) -> None:
    review = await setup.review()
    response = await setup.send(setup.press("UBOB", "approve", review.id), secret="not-the-secret")
    assert response.status_code == 401
    assert response.json() == {"error": "bad signature"}
    # A correctly signed header over a different body is refused too.
    body, headers = setup.signed(setup.press("UBOB", "approve", "rv-other"))
    forged = body.replace(b"rv-other", review.id.encode())
    response = await setup.client.post(ENDPOINT, content=forged, headers=headers)
    assert response.status_code == 401
    assert (await setup.current(review.id)).status == "pending"


async def test_missing_signature_headers_are_refused(setup: Setup) -> None:
    review = await setup.review()
    body, _ = setup.signed(setup.press("UBOB", "approve", review.id))
    response = await setup.client.post(ENDPOINT, content=body)
    assert response.status_code == 401
    assert (await setup.current(review.id)).verdicts == ()


async def test_a_stale_request_is_refused(setup: Setup) -> None:
    review = await setup.review()
    response = await setup.send(setup.press("UBOB", "approve", review.id), at=setup.clock() - 301)
    assert response.status_code == 401
    assert response.json() == {"error": "stale request timestamp"}
    response = await setup.send(setup.press("UBOB", "approve", review.id), at=setup.clock() + 301)
    assert response.status_code == 401
    assert (await setup.current(review.id)).status == "pending"
    # Within the window it is accepted.
    response = await setup.send(setup.press("UBOB", "approve", review.id), at=setup.clock() - 290)
    assert response.status_code == 200
    assert (await setup.current(review.id)).status == "approved"


async def test_a_replayed_request_is_refused(setup: Setup) -> None:
    review = await setup.approvals.request(review_request(approvals=2))
    body, headers = setup.signed(setup.press("UBOB", "approve", review.id))
    first = await setup.client.post(ENDPOINT, content=body, headers=headers)
    assert first.status_code == 200
    again = await setup.client.post(ENDPOINT, content=body, headers=headers)
    assert again.status_code == 401
    assert again.json() == {"error": "replayed request"}
    assert len((await setup.current(review.id)).verdicts) == 1
    # Once the window has passed the request is stale anyway, so forgetting it is safe.
    setup.clock.now += 301
    late = await setup.client.post(ENDPOINT, content=body, headers=headers)
    assert late.json() == {"error": "stale request timestamp"}


async def test_an_unknown_slack_user_is_refused(setup: Setup) -> None:
    review = await setup.review()
    response = await setup.send(setup.press("UNOBODY", "approve", review.id))
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert "not linked to a Wardgate identity" in response.json()["text"]
    (reply,) = await setup.slack.wait_for(1, REPLY)
    assert "not linked" in reply.json()["text"]
    current = await setup.current(review.id)
    assert (current.status, current.verdicts) == ("pending", ())


async def test_self_approval_via_slack_is_refused(setup: Setup) -> None:
    review = await setup.review()  # requested by alice, who is in the approver group
    response = await setup.send(setup.press("UALICE", "approve", review.id))
    assert response.status_code == 200
    assert "nobody may decide a review of their own statement" in response.json()["text"]
    current = await setup.current(review.id)
    assert (current.status, current.verdicts) == ("pending", ())


async def test_an_approver_outside_the_groups_is_refused(setup: Setup) -> None:
    review = await setup.review()
    response = await setup.send(setup.press("UMALLORY", "approve", review.id))
    assert "mallory is not in an approver group" in response.json()["text"]
    assert (await setup.current(review.id)).status == "pending"


async def test_reject_asks_for_a_reason_in_a_form(setup: Setup) -> None:
    review = await setup.review()
    response = await setup.send(setup.press("UBOB", "reject", review.id))
    assert response.status_code == 200
    (opened,) = await setup.slack.wait_for(1, VIEWS_OPEN)
    assert opened.headers["authorization"] == f"Bearer {TOKEN}"
    form = opened.json()
    assert form["trigger_id"] == "trigger-UBOB-reject"
    assert form["view"]["callback_id"] == "wardgate_reject"
    assert form["view"]["private_metadata"] == review.id
    assert (await setup.current(review.id)).status == "pending"  # pressing decides nothing

    empty = await setup.send(setup.reject_form("UBOB", review.id, "  "))
    assert empty.json() == {
        "response_action": "errors",
        "errors": {"reason": "a rejection needs a reason"},
    }
    assert (await setup.current(review.id)).status == "pending"

    outsider = await setup.send(setup.reject_form("UNOBODY", review.id, "no"))
    assert outsider.json()["response_action"] == "errors"
    assert (await setup.current(review.id)).status == "pending"

    done = await setup.send(setup.reject_form("UBOB", review.id, "scope it to one customer"))
    assert done.status_code == 200 and done.content == b""
    current = await setup.current(review.id)
    assert current.status == "rejected"
    (verdict,) = current.verdicts
    assert (verdict.approver, verdict.reason, verdict.via) == (
        "bob",
        "scope it to one customer",
        "slack",
    )
    (update,) = await setup.slack.wait_for(1, UPDATE)
    texts = json.dumps(update.json()["blocks"])
    assert "rejected by bob: scope it to one customer" in texts


async def test_reject_of_a_settled_review_opens_no_form(setup: Setup) -> None:
    review = await setup.review()
    await setup.send(setup.press("UBOB", "approve", review.id))
    response = await setup.send(setup.press("UALICE", "reject", review.id))
    assert response.json()["text"] == (
        f"Not rejected: review {review.id} is approved: it can no longer be decided"
    )
    assert setup.slack.on(VIEWS_OPEN) == []


async def test_reject_by_someone_who_may_not_decide_opens_no_form(setup: Setup) -> None:
    review = await setup.review()  # requested by alice
    own = await setup.send(setup.press("UALICE", "reject", review.id))
    assert own.json()["text"] == "Not rejected: nobody may decide a review of their own statement"
    outsider = await setup.send(setup.press("UMALLORY", "reject", review.id))
    assert outsider.json()["text"].startswith("Not rejected: mallory is not in an approver group")
    assert setup.slack.on(VIEWS_OPEN) == []
    assert (await setup.current(review.id)).status == "pending"


async def test_replies_go_only_to_slack(setup: Setup) -> None:
    review = await setup.review()
    async with receiving() as elsewhere:
        press = setup.press("UBOB", "approve", review.id)
        press["response_url"] = elsewhere.url + REPLY  # signed, yet not a Slack address
        response = await setup.send(press)
        assert response.status_code == 200
        assert (await setup.current(review.id)).status == "approved"
        # A later press that does reply shows the replies have been sent by now.
        await setup.send(setup.press("UMALLORY", "approve", review.id))
        (reply,) = await setup.slack.wait_for(1, REPLY)
        assert "approved" in reply.json()["text"]
        await asyncio.sleep(0.2)
    assert elsewhere.requests == []


async def test_a_malformed_payload_is_a_bad_request(setup: Setup) -> None:
    body = b"payload=%7Bnot-json"
    ts = str(int(setup.clock()))
    base = b"v0:" + ts.encode() + b":" + body
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    headers = {"x-slack-request-timestamp": ts, "x-slack-signature": signature}
    response = await setup.client.post(ENDPOINT, content=body, headers=headers)
    assert response.status_code == 400
