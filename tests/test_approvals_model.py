"""The review state machine as pure functions, and the store's compare-and-set on both stores."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import Upstream
from wardgate.approvals import (
    Approvals,
    Approver,
    ReviewError,
    ReviewRequest,
    ReviewStore,
    binding_of,
    requester_reason,
)
from wardgate.approvals._model import cancel, consume, expire, judge, new_review

REQ = ReviewRequest(
    requester="bob",
    connection="prod",
    statement="DELETE FROM shop.orders WHERE id = $1",
    parameters=("7",),
    rules=("engineers-write-review",),
    approvers=("dbas",),
    expires_in=600,
    grant_ttl=60,
)
DORA = Approver(name="dora", groups=("dbas",))
ERIN = Approver(name="erin", groups=("dbas", "security"))


def test_approval_needs_an_approver_from_the_groups_and_never_the_requester() -> None:
    review = new_review(REQ, now=0)
    with pytest.raises(ReviewError, match="their own"):
        judge(review, Approver(name="bob", groups=("dbas",)), "approve", "", 1)
    with pytest.raises(ReviewError, match="not in an approver group"):
        judge(review, Approver(name="eve", groups=("engineers",)), "approve", "", 1)
    approved = judge(review, DORA, "approve", "", 1)
    assert approved.status == "approved" and approved.approvals == 1


def test_the_person_an_agent_acts_for_cannot_approve_either() -> None:
    review = new_review(dataclasses.replace(REQ, requester="agent-7", on_behalf_of="dora"), 0)
    with pytest.raises(ReviewError, match="their own"):
        judge(review, DORA, "approve", "", 1)
    assert cancel(review, "dora", "", 1).status == "cancelled"


def test_two_approvals_from_two_people() -> None:
    review = new_review(dataclasses.replace(REQ, approvals=2), 0)
    once = judge(review, DORA, "approve", "", 1)
    assert once.status == "pending"
    with pytest.raises(ReviewError, match="already decided"):
        judge(once, DORA, "approve", "", 2)
    assert judge(once, ERIN, "approve", "", 2).status == "approved"


def test_every_rules_quorum_must_be_met() -> None:
    quorum = ((("dbas",), 1), (("security",), 1))
    review = new_review(dataclasses.replace(REQ, quorum=quorum), 0)
    assert judge(review, DORA, "approve", "", 1).status == "pending"  # dbas only
    assert judge(review, ERIN, "approve", "", 1).status == "approved"  # counts for both


def test_rejection_needs_a_reason_and_is_final() -> None:
    review = new_review(REQ, 0)
    with pytest.raises(ReviewError, match="needs a reason"):
        judge(review, DORA, "reject", "  ", 1)
    rejected = judge(review, DORA, "reject", "no", 1)
    assert rejected.status == "rejected"
    with pytest.raises(ReviewError, match="rejected"):
        judge(rejected, ERIN, "approve", "", 2)


def test_only_the_requester_cancels() -> None:
    review = new_review(REQ, 0)
    with pytest.raises(ReviewError, match="only bob"):
        cancel(review, "dora", "", 1)
    assert cancel(review, "bob", "oops", 1).status == "cancelled"


def test_expiry_of_pending_and_of_unused_approvals() -> None:
    review = new_review(REQ, 0)
    assert expire(review, 599).status == "pending"
    assert expire(review, 600).status == "expired"
    with pytest.raises(ReviewError, match="expired"):
        judge(review, DORA, "approve", "", 601)
    approved = judge(review, DORA, "approve", "", 100)
    assert expire(approved, 159).status == "approved"
    with pytest.raises(ReviewError, match="expired"):
        consume(approved, approved.binding, 160)  # grant_ttl passed unused


def test_consume_runs_once_and_only_the_bound_statement() -> None:
    approved = judge(new_review(REQ, 0), DORA, "approve", "", 1)
    other = dataclasses.replace(REQ, parameters=("8",)).binding
    with pytest.raises(ReviewError, match="different statement"):
        consume(approved, other, 2)
    done = consume(approved, approved.binding, 2)
    assert done.status == "executed"
    with pytest.raises(ReviewError, match="executed"):
        consume(done, approved.binding, 3)


_texts = st.text(max_size=12)
_params = st.lists(st.one_of(st.none(), _texts), max_size=3).map(tuple)


@given(
    a=st.tuples(_texts, st.one_of(st.none(), _texts), _texts, _texts, _params),
    b=st.tuples(_texts, st.one_of(st.none(), _texts), _texts, _texts, _params),
)
def test_binding_differs_whenever_anything_bound_differs(a: Any, b: Any) -> None:
    assert (binding_of(*a) == binding_of(*b)) == (a == b)


def test_reason_comes_from_a_comment() -> None:
    assert requester_reason("DELETE FROM t /* reason: INC-4711  cleanup */") == "INC-4711 cleanup"
    assert requester_reason("DELETE FROM t /* just a comment */") is None
    assert requester_reason("/* reason:   */ DELETE FROM t") is None


def test_round_trip_through_json() -> None:
    review = judge(new_review(dataclasses.replace(REQ, approvals=2), 0), DORA, "approve", "ok", 1)
    assert type(review).from_json(review.to_json()) == review


# --- the store, on SQLite and PostgreSQL ---------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
async def approvals(
    request: pytest.FixtureRequest, tmp_path: Path, upstream: Upstream
) -> AsyncIterator[Approvals]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/reviews.db"
    else:
        with psycopg.connect(upstream.admin_dsn("postgres"), autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS wg_reviews_model WITH (FORCE)")
            admin.execute("CREATE DATABASE wg_reviews_model")
        url = (
            f"postgresql+asyncpg://{upstream.superuser}:{upstream.password}"
            f"@{upstream.host}:{upstream.port}/wg_reviews_model"
        )
    service = Approvals(await ReviewStore.open(url), poll_interval=0.05)
    await service.start()
    yield service
    await service.aclose()


async def test_racing_consumers_run_an_approval_once(approvals: Approvals) -> None:
    review = await approvals.request(REQ)
    await approvals.decide(review.id, DORA, "approve")
    other = Approvals(approvals.store)  # a second gateway on the same store
    results = await asyncio.gather(
        *(svc.consume(review.id, REQ.binding) for svc in (approvals, other) * 5),
        return_exceptions=True,
    )
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 1
    assert all(isinstance(r, ReviewError) for r in results if isinstance(r, BaseException))


async def test_racing_approvers_both_count(approvals: Approvals) -> None:
    review = await approvals.request(dataclasses.replace(REQ, approvals=2, statement="X"))
    await asyncio.gather(
        approvals.decide(review.id, DORA, "approve"), approvals.decide(review.id, ERIN, "approve")
    )
    final = await approvals.get(review.id)
    assert final is not None and final.status == "approved" and final.approvals == 2


async def test_request_reuses_the_pending_review_of_the_same_statement(
    approvals: Approvals,
) -> None:
    req = dataclasses.replace(REQ, statement="UPDATE t SET x = 1")
    first = await approvals.request(req)
    assert (await approvals.request(req)).id == first.id
    other = await approvals.request(dataclasses.replace(req, requester="carol"))
    assert other.id != first.id


async def test_wait_wakes_on_a_decision_made_by_another_service(approvals: Approvals) -> None:
    review = await approvals.request(dataclasses.replace(REQ, statement="UPDATE t SET y = 2"))
    elsewhere = Approvals(
        await ReviewStore.open(str(approvals.store.engine.url.render_as_string(False)))
    )
    try:
        waiting = asyncio.ensure_future(approvals.wait(review.id, limit=10))
        await asyncio.sleep(0.1)
        await elsewhere.decide(review.id, DORA, "approve")
        woke = await asyncio.wait_for(waiting, 5)
        assert woke.status == "approved"
    finally:
        await elsewhere.aclose()


async def test_listing_expired_finds_reviews_that_lapsed_unread(approvals: Approvals) -> None:
    clock = [1000.0]
    service = Approvals(approvals.store, clock=lambda: clock[0])
    req = dataclasses.replace(REQ, statement="UPDATE t SET z = 3", expires_in=10)
    review = await service.request(req)
    clock[0] += 11  # nobody reads it: it is still stored as pending
    assert [r.id for r in await service.listing(status="expired")] == [review.id]
    assert review.id not in [r.id for r in await service.listing(status="pending")]
