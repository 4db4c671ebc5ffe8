"""Slack review messages, posted to and updated on a fake Slack Web API on loopback."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from notify_support import (
    Received,
    approvals_in,
    closed_port,
    eventually,
    ok,
    receiving,
    records,
    review_request,
)
from wardgate.approvals import Approver
from wardgate.approvals.notify import SlackNotifier, notifiers_from_config
from wardgate.config import ApprovalsConfig

TOKEN_ENV, SIGNING_ENV = "WARDGATE_TEST_SLACK_TOKEN", "WARDGATE_TEST_SLACK_SIGNING"
TOKEN = "xoxb-1111-2222-fake-bot-token"
POST, UPDATE = "/api/chat.postMessage", "/api/chat.update"
BOB = Approver(name="bob", groups=("dba",))


def slack_api(request: Received) -> tuple[int, dict[str, str], bytes]:
    """Slack's answers: the channel id and message ts of a post, ok for an update."""
    if request.path == POST:
        return ok({"ok": True, "channel": "C0REVIEWS", "ts": "1700000000.000100"})
    return ok({"ok": True})


def slack(monkeypatch: pytest.MonkeyPatch, api_url: str, retries: int = 2) -> SlackNotifier:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv(SIGNING_ENV, "signing-secret")
    config = ApprovalsConfig.model_validate(
        {
            "public_url": "https://wg.example",
            "slack": {
                "bot_token": f"env:{TOKEN_ENV}",
                "signing_secret": f"env:{SIGNING_ENV}",
                "channel": "#db-approvals",
                "api_url": api_url,
            },
            "notify_retries": retries,
            "notify_timeout": 2,
        }
    )
    (notifier,) = notifiers_from_config(config, None, backoff=0.01)
    assert isinstance(notifier, SlackNotifier)
    return notifier


def block_texts(blocks: list[dict[str, Any]]) -> str:
    """Every text of a message, joined (what a reader of the channel sees)."""
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [f["text"] for f in block.get("fields", ())]
        out += [e["text"] for e in block.get("elements", ()) if e.get("type") == "mrkdwn"]
    return "\n".join(out)


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


async def test_a_review_is_posted_then_updated_as_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with receiving(slack_api) as fake, approvals_in(tmp_path) as approvals:
        notifier = slack(monkeypatch, f"{fake.url}/api/")
        approvals.listeners.append(notifier)
        req = review_request()
        review = await approvals.request(req)
        (posted,) = await fake.wait_for(1, POST)
        await approvals.set_preview(review.id, "would delete 1 row from orders")
        await approvals.decide(review.id, BOB, "approve")
        await fake.wait_for(2, UPDATE)
        assert notifier.message_of(review.id) == ("C0REVIEWS", "1700000000.000100")
        await approvals.consume(review.id, req.binding)
        updates = await fake.wait_for(3, UPDATE)
        await notifier.aclose()

    assert posted.headers["authorization"] == f"Bearer {TOKEN}"
    message = posted.json()
    assert message["channel"] == "#db-approvals"
    assert review.id in message["text"]
    text = block_texts(message["blocks"])
    assert "```DELETE FROM orders WHERE id = $1```" in text
    assert "$1 = '42'" in text
    assert "ticket OPS-1" in text
    assert "alice (human)" in text and "prod-writes" in text and "0/1 from dba" in text
    assert f"<https://wg.example/console/reviews/{review.id}|open in Wardgate>" in text
    approve, reject = buttons(message["blocks"])
    assert (approve["action_id"], approve["value"]) == ("wardgate_approve", review.id)
    assert (reject["action_id"], reject["value"]) == ("wardgate_reject", review.id)
    assert approve["style"] == "primary" and reject["style"] == "danger"

    previewed, approved, executed = (u.json() for u in updates)
    for update in (previewed, approved, executed):
        assert (update["channel"], update["ts"]) == ("C0REVIEWS", "1700000000.000100")
    assert all(u.headers["authorization"] == f"Bearer {TOKEN}" for u in updates)
    assert "would delete 1 row from orders" in block_texts(previewed["blocks"])
    assert len(buttons(previewed["blocks"])) == 2  # still pending
    assert buttons(approved["blocks"]) == []
    assert "approved by bob; not yet run" in block_texts(approved["blocks"])
    assert "bob approve via api" in block_texts(approved["blocks"])
    assert "executed at" in block_texts(executed["blocks"])
    assert notifier.message_of(review.id) is None  # settled: forgotten


async def test_requester_text_cannot_ping_or_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statement = "SELECT '<!channel> <https://evil.example|click>' ```" + "x" * 5000
    async with receiving(slack_api) as fake, approvals_in(tmp_path) as approvals:
        notifier = slack(monkeypatch, f"{fake.url}/api/")
        approvals.listeners.append(notifier)
        await approvals.request(review_request(statement=statement, reason="<@U0BOSS> said ok"))
        (posted,) = await fake.wait_for(1, POST)
        await notifier.aclose()

    blocks = posted.json()["blocks"]
    text = block_texts(blocks)
    assert "<!channel>" not in text and "<https://evil" not in text and "<@U0BOSS>" not in text
    assert "&lt;!channel&gt;" in text and "&lt;@U0BOSS&gt; said ok" in text
    assert "more characters" in text  # clipped, and says so
    for block in blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
    assert "<!channel>" not in posted.json()["text"]


async def test_rate_limited_post_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wardgate")
    limited = [ok({"ok": False, "error": "ratelimited"}, status=429, **{"retry-after": "0"})]

    def answer(request: Received) -> tuple[int, dict[str, str], bytes]:
        return limited.pop() if limited else slack_api(request)

    async with receiving(answer) as fake, approvals_in(tmp_path) as approvals:
        notifier = slack(monkeypatch, f"{fake.url}/api/")
        approvals.listeners.append(notifier)
        review = await approvals.request(review_request())
        await fake.wait_for(2, POST)
        await eventually(lambda: notifier.message_of(review.id) is not None, what="the post")
        await notifier.aclose()
    (warning,) = records(caplog, logging.WARNING)
    assert "HTTP 429 ratelimited" in warning.getMessage()
    assert not records(caplog, logging.ERROR)


async def test_a_slack_error_is_logged_once_without_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    refused = ok({"ok": False, "error": "channel_not_found"})
    async with receiving(lambda _r: refused) as fake, approvals_in(tmp_path) as approvals:
        notifier = slack(monkeypatch, f"{fake.url}/api/", retries=3)
        approvals.listeners.append(notifier)
        review = await approvals.request(review_request())
        await eventually(lambda: bool(records(caplog, logging.ERROR)), what="the failure log")
        assert (await approvals.decide(review.id, BOB, "approve")).status == "approved"
        await notifier.aclose()
    assert len(fake.on(POST)) == 1  # not retried: it would fail the same way
    assert fake.on(UPDATE) == []  # nothing posted, so nothing to update
    (error,) = records(caplog, logging.ERROR)
    assert "channel_not_found" in error.getMessage()
    assert TOKEN not in caplog.text


async def test_slack_down_is_retried_and_leaves_the_review_decidable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with approvals_in(tmp_path) as approvals:
        notifier = slack(monkeypatch, f"http://127.0.0.1:{closed_port()}/api/", retries=2)
        approvals.listeners.append(notifier)
        review = await approvals.request(review_request())
        await eventually(lambda: bool(records(caplog, logging.ERROR)), what="the failure log")
        decided = await approvals.decide(review.id, BOB, "approve")
        assert decided.status == "approved"
        await notifier.aclose()
        stored = await approvals.get(review.id)
    assert stored is not None and stored.status == "approved"
    (error,) = records(caplog, logging.ERROR)
    assert f"slack requested of review {review.id} failed after 3 attempts" in error.getMessage()
    assert len(records(caplog, logging.WARNING)) == 2
    assert TOKEN not in caplog.text
    assert notifier.message_of(review.id) is None


async def test_a_change_made_in_another_process_updates_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gateway A posts the message; the review is approved through gateway B (its own
    approvals service and notifier, nothing shared but the store): B updates A's message."""
    from wardgate.approvals import Approvals

    async with receiving(slack_api) as fake, approvals_in(tmp_path) as approvals:
        config = ApprovalsConfig.model_validate(
            {
                "slack": {
                    "bot_token": f"env:{TOKEN_ENV}",
                    "signing_secret": f"env:{SIGNING_ENV}",
                    "channel": "#db-approvals",
                    "api_url": f"{fake.url}/api/",
                },
                "notify_timeout": 2,
            }
        )
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
        monkeypatch.setenv(SIGNING_ENV, "signing-secret")
        (a,) = notifiers_from_config(config, None, backoff=0.01, refs=approvals.store)
        approvals.listeners.append(a)
        review = await approvals.request(review_request())
        await fake.wait_for(1, POST)
        await eventually(lambda: a.message_of(review.id) is not None, what="the post")
        other = Approvals(approvals.store)  # gateway B: another service, same store
        (b,) = notifiers_from_config(config, None, backoff=0.01, refs=approvals.store)
        other.listeners.append(b)
        await other.decide(review.id, BOB, "approve")
        (update,) = await fake.wait_for(1, UPDATE)
        await a.aclose()
        await b.aclose()
    assert (update.json()["channel"], update.json()["ts"]) == ("C0REVIEWS", "1700000000.000100")
    assert "approved by bob" in block_texts(update.json()["blocks"])
