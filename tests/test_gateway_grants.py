"""Just-in-time grants through the real gateway: a role held for a while, as a policy fact."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from conftest import Upstream
from harness import RunningGateway
from review_support import create_accounts, review_gateway
from wardgate.approvals import Approver, GrantRequest, ReviewError
from wardgate.audit import iter_events

POLICY: dict[str, Any] = {
    "rules": [
        {
            "id": "engineers-read",
            "match": {"groups": ["engineers"], "statement_kinds": ["read", "session", "utility"]},
            "effect": "allow",
        },
        {
            "id": "engineers-write-on-grant",
            "match": {
                "groups": ["engineers"],
                "statement_kinds": ["write"],
                "when": "'write' in grant.roles",
            },
            "effect": "allow",
        },
    ],
    "access": [
        {
            "role": "write",
            "connections": ["shop"],
            "requesters": ["engineers"],
            "approvers": ["dbas"],
            "max_duration": 600,
            "break_glass": ["oncall"],
            "break_glass_max": 120,
        }
    ],
}
DBA = Approver(name="other", groups=("dbas",))
UPDATE = "UPDATE public.rv_accounts SET balance = balance WHERE id = 1"


@pytest.fixture(scope="module")
def gw(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    create_accounts(upstream)
    with review_gateway(upstream, tmp_path_factory.mktemp("grants"), POLICY) as running:
        yield running


def _request(gw: RunningGateway, duration: float = 300, **extra: Any) -> Any:
    approvals = gw.gateway.approvals
    policy = gw.gateway.policy
    assert approvals is not None and policy is not None
    fields: dict[str, Any] = {
        "requester": "tester",
        "groups": ("engineers",),
        "connection": "shop",
        "role": "write",
        "duration": duration,
        "reason": "INC-1 data fix",
        **extra,
    }
    spec = policy.current.access_role(fields["role"], fields["connection"])
    return gw.call(approvals.request_grant(GrantRequest(**fields), spec))


def _spec(gw: RunningGateway) -> Any:
    assert gw.gateway.policy is not None
    return gw.gateway.policy.current.access_role("write", "shop")


def _writes(conn: psycopg.Connection) -> bool:
    try:
        conn.execute(UPDATE)
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def _eventually(check: Any, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_an_approved_grant_allows_until_it_ends(gw: RunningGateway) -> None:
    approvals = gw.gateway.approvals
    assert approvals is not None
    with psycopg.connect(gw.dsn(), autocommit=True) as conn:
        assert not _writes(conn), "no grant, no write"
        grant = _request(gw, duration=2)
        assert grant.status == "pending"
        assert not _writes(conn), "a pending request grants nothing"
        active = gw.call(approvals.decide_grant(grant.id, DBA, "approve", spec=_spec(gw)))
        assert active.status == "active" and active.ends_at - active.starts_at == 2
        # The same session sees it at once (decisions are cached per set of roles).
        assert _writes(conn)
        assert _eventually(lambda: not _writes(conn), timeout=6), "the grant must lapse"


def test_revoking_ends_the_grant_at_once(gw: RunningGateway) -> None:
    approvals = gw.gateway.approvals
    assert approvals is not None
    with psycopg.connect(gw.dsn(), autocommit=True) as conn:
        grant = _request(gw)
        gw.call(approvals.decide_grant(grant.id, DBA, "approve", spec=_spec(gw)))
        assert _writes(conn)
        revoked = gw.call(approvals.revoke_grant(grant.id, DBA, "done"))
        assert revoked.status == "revoked"
        assert not _writes(conn)


def test_grant_rules_no_self_approval_and_policy_maximum(gw: RunningGateway) -> None:
    approvals = gw.gateway.approvals
    assert approvals is not None
    grant = _request(gw)
    me = Approver(name="tester", groups=("dbas", "engineers"))
    with pytest.raises(ReviewError, match="their own access"):
        gw.call(approvals.decide_grant(grant.id, me, "approve", spec=_spec(gw)))
    with pytest.raises(ReviewError, match="at most 600s"):
        _request(gw, duration=601)
    with pytest.raises(ReviewError, match="no role 'admin'"):
        _request(gw, role="admin")
    with pytest.raises(ReviewError, match="may not request"):
        _request(gw, groups=("analysts",))
    with pytest.raises(ReviewError, match="needs a reason"):
        _request(gw, reason=" ")
    with pytest.raises(ReviewError, match="may not break glass"):
        _request(gw, break_glass=True, duration=60)
    gw.call(approvals.revoke_grant(grant.id, Approver(name="tester", groups=("engineers",))))


def test_break_glass_is_immediate_capped_and_recorded(gw: RunningGateway) -> None:
    with pytest.raises(ReviewError, match="at most 120s"):
        _request(gw, groups=("engineers", "oncall"), break_glass=True, duration=121)
    grant = _request(gw, groups=("engineers", "oncall"), break_glass=True, duration=60)
    assert grant.status == "active" and grant.break_glass
    with psycopg.connect(gw.dsn(), autocommit=True) as conn:
        assert _writes(conn)
    approvals = gw.gateway.approvals
    assert approvals is not None
    gw.call(approvals.revoke_grant(grant.id, DBA, "incident over"))

    async def grant_events(store: Any) -> list[Any]:
        return [e.data async for e in iter_events(store) if e.type == "grant.changed"]

    def actions() -> list[str]:
        return [e["action"] for e in gw.store()(grant_events) if e["grant_id"] == grant.id]

    assert _eventually(lambda: len(actions()) == 2), actions()  # recorded without waiting
    assert actions() == ["break_glass", "revoke"]
    mine = [e for e in gw.store()(grant_events) if e["grant_id"] == grant.id]
    assert mine[0]["break_glass"] is True and mine[0]["reason"] == "INC-1 data fix"
