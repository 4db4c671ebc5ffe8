"""Adaptive Cards for reviews, posted to a real Teams-style incoming webhook on loopback."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from notify_support import (
    approvals_in,
    closed_port,
    eventually,
    ok,
    receiving,
    records,
    review_request,
)
from wardgate.approvals import Approver
from wardgate.approvals.notify import TeamsNotifier, notifiers_from_config
from wardgate.config import ApprovalsConfig

URL_ENV = "WARDGATE_TEST_TEAMS_URL"
TOKEN = "sig=teams-webhook-credential"
BOB = Approver(name="bob", groups=("dba",))
CAROL = Approver(name="carol", groups=("dba",))


def teams(
    monkeypatch: pytest.MonkeyPatch, url: str, public_url: str | None = "https://wg.example"
) -> TeamsNotifier:
    monkeypatch.setenv(URL_ENV, url)
    config = ApprovalsConfig.model_validate(
        {
            "public_url": public_url,
            "teams": {"webhook_url": f"env:{URL_ENV}"},
            "notify_retries": 2,
            "notify_timeout": 2,
        }
    )
    (notifier,) = notifiers_from_config(config, None, backoff=0.01)
    assert isinstance(notifier, TeamsNotifier)
    return notifier


def card_of(message: dict[str, Any]) -> dict[str, Any]:
    """The Adaptive Card in a Teams message envelope, checked for its required shape."""
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["version"] == "1.4"
    assert card["body"]
    for element in card["body"]:
        assert element["type"] in {"TextBlock", "RichTextBlock", "FactSet"}
        if element["type"] == "RichTextBlock":
            assert all(run["type"] == "TextRun" for run in element["inlines"])
    return card  # type: ignore[no-any-return]


def texts(card: dict[str, Any]) -> list[str]:
    out = []
    for element in card["body"]:
        if element["type"] == "TextBlock":
            out.append(element["text"])
        elif element["type"] == "RichTextBlock":
            out += [run["text"] for run in element["inlines"]]
    return out


def facts(card: dict[str, Any]) -> dict[str, str]:
    (factset,) = [e for e in card["body"] if e["type"] == "FactSet"]
    return {f["title"]: f["value"] for f in factset["facts"]}


async def test_a_new_review_posts_a_card_linking_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        receiving(lambda _r: ok(status=202)) as receiver,
        approvals_in(tmp_path) as approvals,
    ):
        notifier = teams(monkeypatch, f"{receiver.url}/webhookb2/abc?{TOKEN}")
        approvals.listeners.append(notifier)
        review = await approvals.request(
            review_request(statement="UPDATE users SET role = 'admin' WHERE [x](http://evil) = 1")
        )
        (got,) = await receiver.wait_for(1)
        await notifier.aclose()

    assert got.method == "POST" and got.path == "/webhookb2/abc"
    assert got.headers["content-type"] == "application/json"
    card = card_of(got.json())
    shown = texts(card)
    assert shown[0] == f"Review {review.id}: approval needed"
    assert "UPDATE users SET role = 'admin' WHERE [x](http://evil) = 1" in shown
    assert "$1 = '42'" in shown
    assert "ticket OPS-1" in shown
    assert facts(card)["Requester"] == "alice (human)"
    assert facts(card)["Connection"] == "shop"
    assert facts(card)["Rules"] == "prod-writes"
    assert facts(card)["Approvals"] == "0/1"
    # Requester text never sits in a Markdown-rendering TextBlock.
    assert all("evil" not in e.get("text", "") for e in card["body"] if e["type"] == "TextBlock")
    (action,) = card["actions"]
    assert action == {
        "type": "Action.OpenUrl",
        "title": "Open review",
        "url": f"https://wg.example/console/reviews/{review.id}",
    }


async def test_only_settled_reviews_get_an_outcome_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with receiving() as receiver, approvals_in(tmp_path) as approvals:
        notifier = teams(monkeypatch, f"{receiver.url}/hook")
        approvals.listeners.append(notifier)
        req = review_request(approvals=2)
        review = await approvals.request(req)
        await approvals.decide(review.id, BOB, "approve")  # 1 of 2: no card
        await approvals.decide(review.id, CAROL, "approve")
        await approvals.consume(review.id, req.binding)
        got = await receiver.wait_for(3)
        await notifier.aclose()

    assert len(got) == 3
    approved, executed = card_of(got[1].json()), card_of(got[2].json())
    assert texts(approved)[0] == f"Review {review.id}: approved"
    assert "approved by bob, carol; not yet run" in texts(approved)
    assert texts(executed)[0] == f"Review {review.id}: executed"
    assert approved["actions"][0]["url"] == f"https://wg.example/console/reviews/{review.id}"


async def test_a_rejection_card_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with receiving() as receiver, approvals_in(tmp_path) as approvals:
        notifier = teams(monkeypatch, f"{receiver.url}/hook", public_url=None)
        approvals.listeners.append(notifier)
        review = await approvals.request(review_request())
        await approvals.decide(review.id, BOB, "reject", "use the archive job instead")
        first, second = await receiver.wait_for(2)
        await notifier.aclose()

    new, rejected = card_of(first.json()), card_of(second.json())
    assert "actions" not in new  # no public_url: nothing to link to
    assert f"Decide with: wardgate review approve {review.id}" in texts(new)
    assert texts(rejected)[0] == f"Review {review.id}: rejected"
    assert "rejected by bob: use the archive job instead" in texts(rejected)


async def test_teams_down_is_retried_logged_without_the_url_and_harmless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wardgate")
    async with approvals_in(tmp_path) as approvals:
        notifier = teams(monkeypatch, f"http://127.0.0.1:{closed_port()}/webhookb2/x?{TOKEN}")
        approvals.listeners.append(notifier)
        review = await approvals.request(review_request())
        await eventually(lambda: bool(records(caplog, logging.ERROR)), what="the failure log")
        assert (await approvals.decide(review.id, BOB, "approve")).status == "approved"
        await notifier.aclose()

    failed = records(caplog, logging.ERROR)[0].getMessage()
    assert f"teams card (requested) for review {review.id} failed after 3 attempts" in failed
    assert len(records(caplog, logging.WARNING)) >= 2
    assert TOKEN not in caplog.text and "webhookb2" not in caplog.text


async def test_throttled_teams_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wardgate")
    answers = iter([ok(status=429, **{"retry-after": "0"}), ok(status=200)])
    async with receiving(lambda _r: next(answers)) as receiver, approvals_in(tmp_path) as approvals:
        notifier = teams(monkeypatch, f"{receiver.url}/hook")
        approvals.listeners.append(notifier)
        await approvals.request(review_request())
        first, second = await receiver.wait_for(2)
        await notifier.aclose()
    assert first.body == second.body
    assert "HTTP 429" in records(caplog, logging.WARNING)[0].getMessage()
    assert not records(caplog, logging.ERROR)
