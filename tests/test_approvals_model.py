"""The review state machine as pure functions, and the store's compare-and-set on both stores."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import Upstream
from wardgate.approvals import (
    Approvals,
    Approver,
    Conflict,
    Grant,
    GrantRequest,
    Invalid,
    NotAllowed,
    NotFound,
    Review,
    ReviewError,
    ReviewRequest,
    ReviewStore,
    binding_of,
    check_judge,
    requester_reason,
)
from wardgate.approvals._grants import (
    decide_grant,
    expire_grant,
    new_grant,
    revoke_grant,
)
from wardgate.approvals._model import cancel, consume, expire, judge, new_review
from wardgate.policy import AccessSpec

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


# --- kinds of refusal: each rule raises the kind every channel answers by -----------------------

BOT = Approver(name="report-bot", groups=("dbas",), kind="agent")
CI = Approver(name="ci", groups=("dbas",), kind="service")


def test_the_kinds_of_refusal_are_review_errors_and_distinct() -> None:
    kinds = (NotAllowed, Conflict, Invalid, NotFound)
    assert all(issubclass(kind, ReviewError) for kind in kinds)
    assert not any(issubclass(a, b) for a in kinds for b in kinds if a is not b)
    assert Approver(name="x").kind == "human"  # who is not said to be otherwise is a person


def _decided(review: Review) -> Review:
    return judge(review, DORA, "approve", "", 1)


@pytest.mark.parametrize(
    ("case", "kind", "message"),
    [
        ("an agent", NotAllowed, "only people decide reviews, not the agent report-bot"),
        ("a service", NotAllowed, "only people decide reviews, not the service ci"),
        ("the requester", NotAllowed, "nobody may decide a review of their own statement"),
        ("who an agent acted for", NotAllowed, "nobody may decide a review of their own"),
        ("an outsider", NotAllowed, "eve is not in an approver group of review"),
        ("a second vote", Conflict, "dora has already decided review"),
        ("a decided review", Conflict, "is approved: it can no longer be decided"),
        ("an expired review", Conflict, "is expired: it can no longer be decided"),
        ("a blank rejection", Invalid, "a rejection needs a reason"),
    ],
)
def test_each_rule_of_judging_raises_its_kind(
    case: str, kind: type[ReviewError], message: str
) -> None:
    review = new_review(dataclasses.replace(REQ, approvals=2), 0)
    attempts: dict[str, Any] = {
        "an agent": lambda: judge(review, BOT, "approve", "", 1),
        "a service": lambda: judge(review, CI, "reject", "no", 1),
        "the requester": lambda: judge(
            review, Approver(name="bob", groups=("dbas",)), "approve", "", 1
        ),
        "who an agent acted for": lambda: judge(
            new_review(dataclasses.replace(REQ, requester="bot", on_behalf_of="dora"), 0),
            DORA,
            "reject",
            "mine",
            1,
        ),
        "an outsider": lambda: judge(
            review, Approver(name="eve", groups=("eng",)), "approve", "", 1
        ),
        "a second vote": lambda: judge(_decided(review), DORA, "approve", "", 2),
        "a decided review": lambda: judge(_decided(new_review(REQ, 0)), ERIN, "approve", "", 2),
        "an expired review": lambda: judge(review, DORA, "approve", "", 600),
        "a blank rejection": lambda: judge(review, DORA, "reject", " \t ", 1),
    }
    with pytest.raises(kind, match=message):
        attempts[case]()


def test_check_judge_refuses_as_judge_does_without_deciding() -> None:
    review = new_review(REQ, 0)
    check_judge(review, DORA, 1)  # dora could decide it: nothing raised, nothing changed
    assert review.verdicts == ()
    for who, kind in ((BOT, NotAllowed), (Approver(name="bob", groups=("dbas",)), NotAllowed)):
        with pytest.raises(kind):
            check_judge(review, who, 1)
    with pytest.raises(Conflict, match="approved"):
        check_judge(_decided(review), ERIN, 2)


def test_cancel_consume_and_new_review_raise_their_kinds() -> None:
    review = new_review(REQ, 0)
    with pytest.raises(NotAllowed, match="only bob may cancel"):
        cancel(review, "dora", "", 1)
    with pytest.raises(Conflict, match="cannot be cancelled"):
        cancel(cancel(review, "bob", "", 1), "bob", "", 2)
    approved = _decided(review)
    with pytest.raises(Conflict, match="different statement"):
        consume(approved, "0" * 64, 2)
    with pytest.raises(Conflict, match="not approved"):
        consume(review, review.binding, 2)
    with pytest.raises(Invalid, match="needs approver groups"):
        new_review(dataclasses.replace(REQ, approvers=()), 0)


# --- grants: the same kinds -------------------------------------------------------------------

SPEC = AccessSpec(
    role="write",
    connections=("shop",),
    requesters=("eng",),
    approvers=("dbas",),
    max_duration=3600,
    break_glass=("oncall",),
    break_glass_max=900,
)
ASK = GrantRequest(
    requester="alice",
    groups=("eng", "oncall"),
    connection="shop",
    role="write",
    duration=1800,
    reason="INC-4711",
)


def _grant(**changes: Any) -> Grant:
    return new_grant(dataclasses.replace(ASK, **changes), SPEC, 0)


@pytest.mark.parametrize(
    ("changes", "spec", "kind", "message"),
    [
        ({}, None, Invalid, "the policy offers no role 'write' on connection 'shop'"),
        ({"reason": "  "}, SPEC, Invalid, "a grant request needs a reason"),
        ({"duration": 0}, SPEC, Invalid, "a grant needs a positive duration"),
        ({"duration": -5}, SPEC, Invalid, "a grant needs a positive duration"),
        ({"duration": 3601}, SPEC, Invalid, "role 'write' may be granted for at most 3600s"),
        ({"groups": ("sales",)}, SPEC, NotAllowed, "alice may not request role 'write'"),
        (
            {"break_glass": True, "groups": ("eng",)},
            SPEC,
            NotAllowed,
            "alice may not break glass for role 'write'",
        ),
        (
            {"break_glass": True, "requester_kind": "agent"},
            SPEC,
            NotAllowed,
            "only people may break glass, not the agent alice",
        ),
        (
            {"break_glass": True, "requester_kind": "service"},
            SPEC,
            NotAllowed,
            "only people may break glass, not the service alice",
        ),
        (
            {"break_glass": True, "duration": 901},
            SPEC,
            Invalid,
            "break-glass access to 'write' lasts at most 900s",
        ),
    ],
)
def test_each_rule_of_requesting_raises_its_kind(
    changes: dict[str, Any], spec: AccessSpec | None, kind: type[ReviewError], message: str
) -> None:
    with pytest.raises(kind, match=message):
        new_grant(dataclasses.replace(ASK, **changes), spec, 0)


def test_agents_may_ask_and_people_may_break_glass() -> None:
    asked = _grant(requester="report-bot", requester_kind="agent", groups=("eng",))
    assert asked.status == "pending"
    urgent = _grant(break_glass=True, duration=600)
    assert (urgent.status, urgent.starts_at, urgent.ends_at) == ("active", 0, 600)


@pytest.mark.parametrize(
    ("case", "kind", "message"),
    [
        ("an agent", NotAllowed, "only people decide grants, not the agent report-bot"),
        ("a service", NotAllowed, "only people decide grants, not the service ci"),
        ("the requester", NotAllowed, "nobody may approve their own access"),
        ("an outsider", NotAllowed, "eve is not in an approver group of grant"),
        ("a second vote", Conflict, "dora has already decided grant"),
        ("a decided grant", Conflict, "is active: it can no longer be decided"),
        ("an expired request", Conflict, "is expired: it can no longer be decided"),
        ("a blank rejection", Invalid, "a rejection needs a reason"),
        ("a role no longer offered", Conflict, "the policy no longer offers role 'write'"),
        ("a shorter maximum now", Conflict, "role 'write' may now be granted for at most 600s"),
    ],
)
def test_each_rule_of_deciding_a_grant_raises_its_kind(
    case: str, kind: type[ReviewError], message: str
) -> None:
    twice = SPEC.model_copy(update={"approvals": 2})
    grant = new_grant(ASK, twice, 0)
    shorter = SPEC.model_copy(update={"max_duration": 600})
    me = Approver(name="alice", groups=("dbas",))
    attempts: dict[str, Any] = {
        "an agent": lambda: decide_grant(grant, BOT, "approve", "", 1, SPEC),
        "a service": lambda: decide_grant(grant, CI, "reject", "no", 1, SPEC),
        "the requester": lambda: decide_grant(grant, me, "approve", "", 1, SPEC),
        "an outsider": lambda: decide_grant(
            grant, Approver(name="eve", groups=("eng",)), "approve", "", 1, SPEC
        ),
        "a second vote": lambda: decide_grant(
            decide_grant(grant, DORA, "approve", "", 1, SPEC), DORA, "approve", "", 2, SPEC
        ),
        "a decided grant": lambda: decide_grant(
            decide_grant(_grant(), DORA, "approve", "", 1, SPEC), ERIN, "approve", "", 2, SPEC
        ),
        "an expired request": lambda: decide_grant(grant, DORA, "approve", "", 24 * 3600, SPEC),
        "a blank rejection": lambda: decide_grant(grant, DORA, "reject", " ", 1, SPEC),
        "a role no longer offered": lambda: decide_grant(grant, DORA, "approve", "", 1, None),
        "a shorter maximum now": lambda: decide_grant(grant, DORA, "approve", "", 1, shorter),
    }
    with pytest.raises(kind, match=message):
        attempts[case]()


def test_the_policy_in_force_is_asked_only_to_approve() -> None:
    grant = _grant()
    # A rejection needs no policy: withdrawing the role does not keep a request from being refused.
    assert decide_grant(grant, DORA, "reject", "no", 1, None).status == "rejected"
    # The approver groups and approvals needed stay those of the request.
    looser = SPEC.model_copy(update={"approvers": ("security",), "approvals": 3})
    active = decide_grant(grant, DORA, "approve", "", 1, looser)
    assert (active.status, active.starts_at, active.ends_at) == ("active", 1, 1801)


def test_each_rule_of_revoking_raises_its_kind() -> None:
    active = decide_grant(_grant(), DORA, "approve", "", 1, SPEC)
    with pytest.raises(NotAllowed, match="only people revoke others' grants, not the agent"):
        revoke_grant(active, BOT, "", 2)  # in dbas, but not a person
    with pytest.raises(NotAllowed, match="eve may not revoke grant"):
        revoke_grant(active, Approver(name="eve", groups=("eng",)), "", 2)
    revoked = revoke_grant(active, ERIN, "done", 2)
    assert (revoked.status, revoked.ends_at) == ("revoked", 2)
    with pytest.raises(Conflict, match="is revoked"):
        revoke_grant(revoked, ERIN, "", 3)
    # Giving access back is always allowed, whatever kind of identity holds it.
    held = _grant(requester="report-bot", requester_kind="agent", groups=("eng",))
    bot = Approver(name="report-bot", groups=("eng",), kind="agent")
    assert revoke_grant(held, bot, "", 1).status == "cancelled"
    assert expire_grant(active, 1801).status == "expired"
    with pytest.raises(Conflict, match="is expired"):
        revoke_grant(active, ERIN, "", 1801)


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


async def test_missing_ids_are_not_found(approvals: Approvals) -> None:
    with pytest.raises(NotFound, match="review rv-00000000 does not exist"):
        await approvals.decide("rv-00000000", DORA, "approve")
    with pytest.raises(NotFound, match="grant gr-00000000 does not exist"):
        await approvals.revoke_grant("gr-00000000", DORA)


class _Contended:
    """A store on which every compare-and-set loses, as if another process always won."""

    def __init__(self, review: Review, grant: Grant) -> None:
        self.review, self.grant = review, grant

    async def load(self, _id: str) -> tuple[Review, int]:
        return self.review, 1

    async def load_grant(self, _id: str) -> tuple[Grant, int]:
        return self.grant, 1

    async def replace(self, _review: Review, _version: int) -> bool:
        return False

    async def replace_grant(self, _grant: Grant, _version: int) -> bool:
        return False


async def test_losing_every_race_is_a_conflict() -> None:
    review = new_review(REQ, 0)
    service = Approvals(cast("ReviewStore", _Contended(review, _grant())), clock=lambda: 1.0)
    with pytest.raises(Conflict, match="changing too fast"):
        await service.decide(review.id, DORA, "approve")
    with pytest.raises(Conflict, match="changing too fast"):
        await service.decide_grant("gr-1", DORA, "approve", spec=SPEC)
