"""Statements held for review, through the real gateway, with real clients and PostgreSQL.

Each test pins a property of the approvals issue: the client waits (hold) or is refused with the
review's id (retry); an approval lets exactly the approved statement run, once; rejection,
expiry and the client's cancel end the wait with an error; other sessions are not slowed; the
reviewer sees an impact preview; everything is in the audit log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from conftest import Upstream
from harness import RunningGateway
from review_support import (
    HeldClient,
    balance,
    create_accounts,
    decide,
    pending_review,
    reset,
    review_gateway,
    review_policy,
)
from wardgate.approvals import Approver, ReviewError
from wardgate.audit import iter_events


@pytest.fixture(scope="module")
def accounts(upstream: Upstream) -> None:
    create_accounts(upstream)


@pytest.fixture(scope="module")
def gw(
    upstream: Upstream, accounts: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    with review_gateway(upstream, tmp_path_factory.mktemp("rv-policy"), review_policy()) as running:
        yield running


def test_held_statement_runs_once_approved(gw: RunningGateway, upstream: Upstream) -> None:
    reset(upstream)
    held = HeldClient(gw.dsn(), "UPDATE public.rv_accounts SET balance = 1 WHERE id = 7")
    held.start()
    review = pending_review(gw)
    assert review.statement == "UPDATE public.rv_accounts SET balance = 1 WHERE id = 7"
    assert review.requester == "tester" and review.approvers == ("dbas",)
    time.sleep(0.3)
    assert held.is_alive(), "the client must wait while the review is pending"
    assert balance(upstream, 7) == 100, "nothing runs before approval"
    decide(gw, review.id)
    held.join(15)
    assert held.error is None, held.error
    assert held.result[0] == "UPDATE 1"
    assert balance(upstream, 7) == 1
    assert any(review.id in n and "waiting for approval" in n for n in held.notices)
    final = gw.call(gw.gateway.approvals.get(review.id))  # type: ignore[union-attr]
    assert final.status == "executed"


def test_rejection_reaches_the_client_with_its_reason(
    gw: RunningGateway, upstream: Upstream
) -> None:
    reset(upstream)
    held = HeldClient(gw.dsn(), "UPDATE public.rv_accounts SET balance = 2 WHERE id = 8")
    held.start()
    review = pending_review(gw)
    with pytest.raises(ReviewError, match="needs a reason"):
        decide(gw, review.id, "reject", "")
    decide(gw, review.id, "reject", "not during the freeze")
    held.join(15)
    assert isinstance(held.error, psycopg.errors.InsufficientPrivilege)
    assert "rejected by other: not during the freeze" in str(held.error)
    assert balance(upstream, 8) == 100


def test_requester_cannot_approve_their_own_statement(
    gw: RunningGateway, upstream: Upstream
) -> None:
    reset(upstream)
    held = HeldClient(gw.dsn(), "UPDATE public.rv_accounts SET balance = 3 WHERE id = 9")
    held.start()
    review = pending_review(gw)
    approvals = gw.gateway.approvals
    assert approvals is not None
    me = Approver(name="tester", groups=("dbas", "engineers"))  # even if in the approver group
    with pytest.raises(ReviewError, match="their own statement"):
        gw.call(approvals.decide(review.id, me, "approve"))
    outsider = Approver(name="mallory", groups=("engineers",))
    with pytest.raises(ReviewError, match="not in an approver group"):
        gw.call(approvals.decide(review.id, outsider, "approve"))
    assert held.is_alive()
    gw.call(approvals.cancel(review.id, "tester", "changed my mind"))
    held.join(15)
    assert "was cancelled" in str(held.error)
    assert balance(upstream, 9) == 100


def test_other_sessions_are_not_slowed_by_a_held_one(
    gw: RunningGateway, upstream: Upstream
) -> None:
    held = HeldClient(gw.dsn(), "UPDATE public.rv_accounts SET balance = 4 WHERE id = 10")
    held.start()
    review = pending_review(gw)
    try:
        with psycopg.connect(gw.dsn(), autocommit=True) as other:
            started = time.monotonic()
            for _ in range(50):
                assert other.execute("SELECT count(*) FROM public.rv_accounts").fetchone() == (50,)
            elapsed = time.monotonic() - started
        assert held.is_alive()
        assert elapsed < 5, f"50 reads took {elapsed:.1f}s beside a held statement"
    finally:
        gw.call(gw.gateway.approvals.cancel(review.id, "tester"))  # type: ignore[union-attr]
        held.join(15)


def test_client_cancel_ends_the_wait_and_the_session_goes_on(
    gw: RunningGateway, upstream: Upstream
) -> None:
    reset(upstream)
    held = HeldClient(gw.dsn(), "UPDATE public.rv_accounts SET balance = 5 WHERE id = 11")
    held.start()
    review = pending_review(gw)
    assert held.conn is not None
    held.conn.cancel_safe()
    held.join(15)
    assert isinstance(held.error, psycopg.errors.QueryCanceled)
    assert "waited for approval" in str(held.error)
    # An approval now runs nothing: nobody waits for the statement any more.
    decide(gw, review.id)
    time.sleep(0.3)
    assert balance(upstream, 11) == 100


def test_session_goes_on_after_a_rejection(gw: RunningGateway, upstream: Upstream) -> None:
    with psycopg.connect(gw.dsn(), autocommit=True) as conn:
        box: dict[str, BaseException] = {}

        def run() -> None:
            try:
                conn.execute("UPDATE public.rv_accounts SET balance = 6 WHERE id = 12")
            except BaseException as exc:
                box["error"] = exc

        t = threading.Thread(target=run, daemon=True)
        t.start()
        review = pending_review(gw)
        decide(gw, review.id, "reject", "no")
        t.join(15)
        assert isinstance(box.get("error"), psycopg.errors.InsufficientPrivilege)
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_approval_binds_to_the_exact_statement_and_parameters(
    upstream: Upstream, accounts: None, tmp_path: Any
) -> None:
    """Retry mode: an approved review runs only the very same text and values, once."""
    reset(upstream)
    with (
        review_gateway(upstream, tmp_path, review_policy(wait="retry")) as rgw,
        psycopg.connect(rgw.dsn(), autocommit=True) as conn,
    ):
        sql = "UPDATE public.rv_accounts SET balance = %s WHERE id = %s"
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"review rv-\w+ is pending"):
            conn.execute(sql, (42, 13))
        review = pending_review(rgw)
        assert review.parameters == ("42", "13")
        decide(rgw, review.id)
        # The same statement with other values is another statement: a new review.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="pending"):
            conn.execute(sql, (42, 14))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="pending"):
            conn.execute("UPDATE public.rv_accounts SET balance = 42 WHERE id = 13")
        assert balance(upstream, 13) == 100 and balance(upstream, 14) == 100
        # The approved one runs, once.
        assert conn.execute(sql, (42, 13)).statusmessage == "UPDATE 1"
        assert balance(upstream, 13) == 42
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="pending"):
            conn.execute(sql, (42, 13))
        # Another identity cannot use it either (binding names the requester).
        assert rgw.gateway.approvals is not None
        done = rgw.call(rgw.gateway.approvals.get(review.id))
        assert done.status == "executed"


def test_a_pending_review_expires(upstream: Upstream, accounts: None, tmp_path: Any) -> None:
    reset(upstream)
    with review_gateway(upstream, tmp_path, review_policy(expires=1)) as egw:
        held = HeldClient(egw.dsn(), "UPDATE public.rv_accounts SET balance = 7 WHERE id = 15")
        held.start()
        held.join(20)
        assert "expired without a decision" in str(held.error)
        assert balance(upstream, 15) == 100


def test_impact_preview_plan_and_exact_count(
    upstream: Upstream, accounts: None, tmp_path: Any
) -> None:
    reset(upstream)
    with review_gateway(upstream, tmp_path, review_policy(wait="retry", preview="count")) as pgw:
        with (
            psycopg.connect(pgw.dsn(), autocommit=True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("DELETE FROM public.rv_accounts WHERE id <= 20 /* reason: cleanup */")
        review = pending_review(pgw)
        assert review.reason == "cleanup"
        deadline = time.monotonic() + 15
        while review.preview is None and time.monotonic() < deadline:
            time.sleep(0.1)
            review = pgw.call(pgw.gateway.approvals.get(review.id))  # type: ignore[union-attr]
        assert review.preview is not None
        assert "plan estimate: deletes ~" in review.preview
        assert "rows of public.rv_accounts" in review.preview
        assert "exact: deletes 20 rows" in review.preview
    # The count ran in a transaction that was rolled back.
    with psycopg.connect(upstream.admin_dsn()) as admin:
        assert admin.execute("SELECT count(*) FROM public.rv_accounts").fetchone() == (50,)


def test_reviews_are_in_the_audit_log(upstream: Upstream, accounts: None, tmp_path: Any) -> None:
    reset(upstream)
    with review_gateway(upstream, tmp_path, review_policy()) as agw:
        held = HeldClient(agw.dsn(), "UPDATE public.rv_accounts SET balance = 9 WHERE id = 16")
        held.start()
        review = pending_review(agw)
        decide(agw, review.id, "approve", "ok for the ticket")
        held.join(15)
        assert held.error is None

        async def events(store: Any) -> list[Any]:
            return [e async for e in iter_events(store)]

        found = agw.store()(events)
    by_type: dict[str, list[Any]] = {}
    for event in found:
        by_type.setdefault(event.type, []).append(event.data)
    requested = by_type["review.requested"]
    assert [e["review_id"] for e in requested] == [review.id]
    assert requested[0]["binding"] == review.binding and requested[0]["requester"] == "tester"
    actions = [(e["action"], e["actor"], e["status"]) for e in by_type["review.changed"]]
    assert ("approve", "other", "approved") in actions
    assert ("execute", "gateway", "executed") in actions
    intents = [e for e in by_type["statement.intent"] if e.get("approvals")]
    assert len(intents) == 1 and list(intents[0]["approvals"]) == [review.id]
    assert intents[0]["decision"]["effect"] == "review"
    assert "9" not in intents[0]["parameters"]  # literals stay tokenized in the audit log
    assert "16" not in intents[0]["text"]


def test_the_reason_can_come_from_a_session_setting_or_startup_option(
    gw: RunningGateway, upstream: Upstream
) -> None:
    reset(upstream)
    with psycopg.connect(gw.dsn(), autocommit=True) as conn:
        conn.execute("SET wardgate.reason = 'INC-77 refund fix'")
        box: dict[str, Any] = {}
        t = threading.Thread(
            target=lambda: box.setdefault(
                "r", conn.execute("UPDATE public.rv_accounts SET balance = 8 WHERE id = 17")
            ),
            daemon=True,
        )
        t.start()
        review = pending_review(gw)
        assert review.reason == "INC-77 refund fix"
        decide(gw, review.id)
        t.join(15)
    dsn = make_conninfo(gw.dsn(), options=r"-c wardgate.reason=INC-78\ startup")
    held = HeldClient(dsn, "UPDATE public.rv_accounts SET balance = 8 WHERE id = 18")
    held.start()
    review = pending_review(gw)
    assert review.reason == "INC-78 startup"
    decide(gw, review.id)
    held.join(15)
    assert held.error is None
