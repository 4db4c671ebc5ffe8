"""Signed webhook events for reviews, delivered to a real HTTP receiver on loopback."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from pathlib import Path

import pytest

from notify_support import (
    Clock,
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
from wardgate.approvals.notify import (
    WebhookNotifier,
    notifiers_from_config,
    verify_signature,
)
from wardgate.config import ApprovalsConfig, ConfigError

SECRET_ENV = "WARDGATE_TEST_WEBHOOK_SECRET"
SECRET = "whsec-0123456789abcdef"
BOB = Approver(name="bob", groups=("dba",), via="api")


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


def webhook(url: str, retries: int = 3) -> WebhookNotifier:
    config = ApprovalsConfig.model_validate(
        {
            "public_url": "https://wardgate.example.com/",
            "webhooks": [{"url": url, "secret": f"env:{SECRET_ENV}"}],
            "notify_retries": retries,
            "notify_timeout": 2,
        }
    )
    (notifier,) = notifiers_from_config(config, None, backoff=0.01)
    assert isinstance(notifier, WebhookNotifier)
    return notifier


def expected_signature(secret: str, got: Received) -> str:
    """Computed here as a receiver would, independently of the gateway's `sign`."""
    signed = got.headers["x-wardgate-timestamp"].encode() + b"." + got.body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


async def test_events_are_signed_and_describe_the_review(tmp_path: Path) -> None:
    async with receiving() as receiver, approvals_in(tmp_path) as approvals:
        notifier = webhook(receiver.url + "/hooks/wardgate")
        approvals.listeners.append(notifier)
        req = review_request()
        review = await approvals.request(req)
        await approvals.decide(review.id, BOB, "approve")
        await approvals.consume(review.id, req.binding)
        got = await receiver.wait_for(3)
        await notifier.aclose()

    assert [r.json()["type"] for r in got] == [
        "review.created",
        "review.decided",
        "review.executed",
    ]
    assert {r.path for r in got} == {"/hooks/wardgate"}
    deliveries = set()
    for r in got:
        body = r.json()
        assert r.method == "POST"
        assert r.headers["content-type"] == "application/json"
        assert r.headers["x-wardgate-event"] == body["type"]
        assert r.headers["x-wardgate-delivery"] == body["delivery"]
        deliveries.add(str(uuid.UUID(body["delivery"])))
        assert abs(int(r.headers["x-wardgate-timestamp"]) - time.time()) < 60
        signature = r.headers["x-wardgate-signature"]
        assert signature == expected_signature(SECRET, r)
        ts = r.headers["x-wardgate-timestamp"]
        assert verify_signature(SECRET, ts, r.body, signature)
        assert not verify_signature("another-secret", ts, r.body, signature)
        assert not verify_signature(SECRET, ts, r.body + b" ", signature)
        assert signature != expected_signature("another-secret", r)
    assert len(deliveries) == 3

    created, decided, executed = (r.json() for r in got)
    assert created["action"] == "requested" and created["actor"] == "alice"
    rv = created["review"]
    assert rv["id"] == review.id
    assert rv["requester"] == "alice"
    assert rv["connection"] == "shop"
    assert rv["statement"] == "DELETE FROM orders WHERE id = $1"
    assert rv["parameters"] == ["42"]
    assert rv["rules"] == ["prod-writes"]
    assert rv["approvers"] == ["dba"]
    assert rv["status"] == "pending"
    assert rv["approvals"] == 0 and rv["approvals_needed"] == 1
    assert rv["reason"] == "ticket OPS-1"
    assert rv["url"] == f"https://wardgate.example.com/v1/reviews/{review.id}"
    assert rv["console_url"] == f"https://wardgate.example.com/console/reviews/{review.id}"
    assert decided["actor"] == "bob"
    assert decided["review"]["status"] == "approved"
    assert decided["review"]["approvals"] == 1
    (verdict,) = decided["review"]["verdicts"]
    assert verdict["approver"] == "bob" and verdict["verdict"] == "approve"
    assert executed["review"]["status"] == "executed"
    assert executed["review"]["executed_at"] is not None


async def test_cancelled_and_expired_reviews_are_announced(tmp_path: Path) -> None:
    clock = Clock()
    async with receiving() as receiver, approvals_in(tmp_path, clock) as approvals:
        notifier = webhook(receiver.url)
        approvals.listeners.append(notifier)
        withdrawn = await approvals.request(review_request(statement="DELETE FROM a"))
        lapsing = await approvals.request(review_request(statement="DELETE FROM b", expires_in=60))
        await approvals.cancel(withdrawn.id, "alice", "wrong table")
        clock.now += 61
        assert (await approvals.get(lapsing.id)).status == "expired"  # type: ignore[union-attr]
        got = await receiver.wait_for(4)
        await notifier.aclose()

    by_type = {(r.json()["type"], r.json()["review"]["id"]) for r in got}
    assert ("review.cancelled", withdrawn.id) in by_type
    assert ("review.expired", lapsing.id) in by_type
    cancelled = next(r.json() for r in got if r.json()["type"] == "review.cancelled")
    assert cancelled["review"]["verdicts"][-1]["reason"] == "wrong table"
    for r in got:
        assert verify_signature(
            SECRET,
            r.headers["x-wardgate-timestamp"],
            r.body,
            r.headers["x-wardgate-signature"],
            now=clock.now,
        )


async def test_a_failing_receiver_is_retried_with_the_same_delivery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wardgate")
    answers = iter([ok(status=503), ok(status=502, **{"retry-after": "0"}), ok(status=200)])
    async with receiving(lambda _r: next(answers)) as receiver, approvals_in(tmp_path) as approvals:
        notifier = webhook(receiver.url, retries=3)
        approvals.listeners.append(notifier)
        await approvals.request(review_request())
        got = await receiver.wait_for(3)
        await notifier.aclose()

    assert len({r.headers["x-wardgate-delivery"] for r in got}) == 1
    assert len({r.body for r in got}) == 1
    for r in got:  # each attempt is signed afresh
        assert r.headers["x-wardgate-signature"] == expected_signature(SECRET, r)
    retrying = records(caplog, logging.WARNING)
    assert len(retrying) == 2
    assert "HTTP 503" in retrying[0].getMessage()
    assert not records(caplog, logging.ERROR)


async def test_a_refusing_receiver_is_not_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wardgate")
    async with (
        receiving(lambda _r: ok(status=400)) as receiver,
        approvals_in(tmp_path) as approvals,
    ):
        notifier = webhook(receiver.url, retries=3)
        approvals.listeners.append(notifier)
        await approvals.request(review_request())
        await receiver.wait_for(1)
        await eventually(lambda: bool(records(caplog, logging.ERROR)), what="an error log")
        await notifier.aclose()
    assert len(receiver.requests) == 1
    assert "HTTP 400" in records(caplog, logging.ERROR)[0].getMessage()


async def test_a_receiver_that_is_down_leaves_the_review_decidable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wardgate")
    url = f"http://127.0.0.1:{closed_port()}/hooks/tok-sekrit-path?key=also-sekrit"
    async with approvals_in(tmp_path) as approvals:
        notifier = webhook(url, retries=2)
        approvals.listeners.append(notifier)
        review = await approvals.request(review_request())
        await eventually(lambda: bool(records(caplog, logging.ERROR)), what="the failure log")
        decided = await approvals.decide(review.id, BOB, "approve")
        assert decided.status == "approved"
        stored = await approvals.get(review.id)
        assert stored is not None and stored.status == "approved"
        await notifier.aclose()

    def about(level: int, event: str) -> list[str]:
        return [m for r in records(caplog, level) if event in (m := r.getMessage())]

    for event in ("review.created", "review.decided"):
        (failed,) = about(logging.ERROR, event)
        assert f"{event} of review {review.id} failed after 3 attempts" in failed
        assert len(about(logging.WARNING, event)) == 2  # retried twice
    logged = caplog.text
    assert SECRET not in logged
    assert "sekrit" not in logged


def test_verifying_refuses_stale_and_malformed_timestamps() -> None:
    body = b'{"type":"review.created"}'
    sent = 1_700_000_000
    signature = "sha256=" + hmac.new(SECRET.encode(), b"%d." % sent + body, "sha256").hexdigest()
    assert verify_signature(SECRET, str(sent), body, signature, now=sent + 299)
    assert not verify_signature(SECRET, str(sent), body, signature, now=sent + 301)
    assert not verify_signature(SECRET, str(sent), body, signature, now=sent - 301)
    assert not verify_signature(SECRET, "soon", body, signature, now=sent)
    assert not verify_signature(SECRET, str(sent + 1), body, signature, now=sent)


def test_a_missing_secret_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV)
    config = ApprovalsConfig.model_validate(
        {"webhooks": [{"url": "https://hooks.example.com/x", "secret": f"env:{SECRET_ENV}"}]}
    )
    with pytest.raises(ConfigError, match=SECRET_ENV):
        notifiers_from_config(config, None)


async def test_grant_events_including_break_glass_are_signed(tmp_path: Path) -> None:
    from wardgate.approvals import GrantRequest
    from wardgate.policy import AccessSpec

    spec = AccessSpec(
        role="write", requesters=("engineers",), approvers=("dba",), break_glass=("oncall",)
    )
    async with receiving() as receiver, approvals_in(tmp_path) as approvals:
        notifier = webhook(receiver.url + "/hooks")
        approvals.grant_listeners.append(notifier.on_grant)
        request = GrantRequest(
            requester="carol",
            groups=("engineers", "oncall"),
            connection="prod",
            role="write",
            duration=60,
            reason="INC-9 outage",
            break_glass=True,
        )
        grant = await approvals.request_grant(request, spec)
        await approvals.revoke_grant(grant.id, BOB, "over")
        got = await receiver.wait_for(2)
        await notifier.aclose()
    assert [r.json()["type"] for r in got] == ["grant.break_glass", "grant.revoke"]
    first = got[0].json()
    assert first["grant"]["id"] == grant.id and first["grant"]["break_glass"] is True
    assert first["grant"]["reason"] == "INC-9 outage" and first["actor"] == "carol"
    for r in got:
        assert r.headers["x-wardgate-signature"] == expected_signature(SECRET, r)
        assert r.headers["x-wardgate-event"] == r.json()["type"]
