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
import yaml

from conftest import Upstream, gateway_config
from harness import RunningGateway, running_gateway
from wardgate.approvals import Approver, Review, ReviewError
from wardgate.audit import iter_events

DBA = Approver(name="other", groups=("dbas",), via="test")


def _policy(**review: Any) -> dict[str, Any]:
    return {
        "rules": [
            {
                "id": "engineers-read",
                "match": {
                    "groups": ["engineers"],
                    "statement_kinds": ["read", "transaction", "session", "utility"],
                },
                "effect": "allow",
            },
            {
                "id": "engineers-write-review",
                "match": {"groups": ["engineers"], "statement_kinds": ["write"]},
                "effect": "review",
                "review": {"approvers": ["dbas"], "approvals": 1, **review},
            },
        ]
    }


@pytest.fixture(scope="module")
def accounts(upstream: Upstream) -> None:
    with psycopg.connect(upstream.admin_dsn(), autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS public.rv_accounts")
        admin.execute("CREATE TABLE public.rv_accounts(id int PRIMARY KEY, balance int)")
        admin.execute("INSERT INTO public.rv_accounts SELECT g, 100 FROM generate_series(1,50) g")
        admin.execute("GRANT ALL ON public.rv_accounts TO wardgate_svc")


def _gateway(upstream: Upstream, directory: Any, policy: dict[str, Any], **extra: Any) -> Any:
    (directory / "rules.yaml").write_text(yaml.safe_dump(policy))
    raw: dict[str, Any] = gateway_config(upstream, policy_dir=str(directory), **extra)
    groups = {"tester": ["engineers"], "other": ["dbas"]}
    raw["identities"] = [{**i, "groups": groups[i["name"]]} for i in raw["identities"]]
    return running_gateway(raw)


@pytest.fixture(scope="module")
def gw(
    upstream: Upstream, accounts: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    with _gateway(upstream, tmp_path_factory.mktemp("rv-policy"), _policy()) as running:
        yield running


def _balance(upstream: Upstream, account: int) -> int:
    with psycopg.connect(upstream.admin_dsn()) as admin:
        row = admin.execute(
            "SELECT balance FROM public.rv_accounts WHERE id = %s", (account,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def _reset(upstream: Upstream) -> None:
    with psycopg.connect(upstream.admin_dsn(), autocommit=True) as admin:
        admin.execute("UPDATE public.rv_accounts SET balance = 100")


def _pending(gw: RunningGateway, *, timeout: float = 10) -> Review:
    """The one pending review (waits for the held statement to create it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        approvals = gw.gateway.approvals
        if approvals is not None:
            found = gw.call(approvals.listing(status="pending"))
            if found:
                assert len(found) == 1, found
                return found[0]
        time.sleep(0.05)
    raise AssertionError("no pending review appeared")


def _decide(gw: RunningGateway, review_id: str, verdict: str = "approve", reason: str = "") -> Any:
    approvals = gw.gateway.approvals
    assert approvals is not None
    return gw.call(approvals.decide(review_id, DBA, verdict, reason))  # type: ignore[arg-type]


class _Held(threading.Thread):
    """A client statement run on a thread, since a held statement blocks its caller."""

    def __init__(self, dsn: str, sql: str, params: Any = None) -> None:
        super().__init__(daemon=True)
        self.dsn, self.sql, self.params = dsn, sql, params
        self.notices: list[str] = []
        self.result: Any = None
        self.error: BaseException | None = None
        self.conn: psycopg.Connection | None = None
        self.connected = threading.Event()

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                self.conn = conn
                conn.add_notice_handler(lambda d: self.notices.append(d.message_primary or ""))
                self.connected.set()
                cur = conn.execute(self.sql, self.params)
                self.result = (cur.statusmessage, cur.fetchall() if cur.description else None)
        except BaseException as exc:
            self.error = exc
        finally:
            self.connected.set()


def test_held_statement_runs_once_approved(gw: RunningGateway, upstream: Upstream) -> None:
    _reset(upstream)
    held = _Held(gw.dsn(), "UPDATE public.rv_accounts SET balance = 1 WHERE id = 7")
    held.start()
    review = _pending(gw)
    assert review.statement == "UPDATE public.rv_accounts SET balance = 1 WHERE id = 7"
    assert review.requester == "tester" and review.approvers == ("dbas",)
    time.sleep(0.3)
    assert held.is_alive(), "the client must wait while the review is pending"
    assert _balance(upstream, 7) == 100, "nothing runs before approval"
    _decide(gw, review.id)
    held.join(15)
    assert held.error is None, held.error
    assert held.result[0] == "UPDATE 1"
    assert _balance(upstream, 7) == 1
    assert any(review.id in n and "waiting for approval" in n for n in held.notices)
    final = gw.call(gw.gateway.approvals.get(review.id))  # type: ignore[union-attr]
    assert final.status == "executed"


def test_rejection_reaches_the_client_with_its_reason(
    gw: RunningGateway, upstream: Upstream
) -> None:
    _reset(upstream)
    held = _Held(gw.dsn(), "UPDATE public.rv_accounts SET balance = 2 WHERE id = 8")
    held.start()
    review = _pending(gw)
    with pytest.raises(ReviewError, match="needs a reason"):
        _decide(gw, review.id, "reject", "")
    _decide(gw, review.id, "reject", "not during the freeze")
    held.join(15)
    assert isinstance(held.error, psycopg.errors.InsufficientPrivilege)
    assert "rejected by other: not during the freeze" in str(held.error)
    assert _balance(upstream, 8) == 100


def test_requester_cannot_approve_their_own_statement(
    gw: RunningGateway, upstream: Upstream
) -> None:
    _reset(upstream)
    held = _Held(gw.dsn(), "UPDATE public.rv_accounts SET balance = 3 WHERE id = 9")
    held.start()
    review = _pending(gw)
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
    assert _balance(upstream, 9) == 100


def test_other_sessions_are_not_slowed_by_a_held_one(
    gw: RunningGateway, upstream: Upstream
) -> None:
    held = _Held(gw.dsn(), "UPDATE public.rv_accounts SET balance = 4 WHERE id = 10")
    held.start()
    review = _pending(gw)
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
    _reset(upstream)
    held = _Held(gw.dsn(), "UPDATE public.rv_accounts SET balance = 5 WHERE id = 11")
    held.start()
    review = _pending(gw)
    assert held.conn is not None
    held.conn.cancel_safe()
    held.join(15)
    assert isinstance(held.error, psycopg.errors.QueryCanceled)
    assert "waited for approval" in str(held.error)
    # An approval now runs nothing: nobody waits for the statement any more.
    _decide(gw, review.id)
    time.sleep(0.3)
    assert _balance(upstream, 11) == 100


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
        review = _pending(gw)
        _decide(gw, review.id, "reject", "no")
        t.join(15)
        assert isinstance(box.get("error"), psycopg.errors.InsufficientPrivilege)
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_approval_binds_to_the_exact_statement_and_parameters(
    upstream: Upstream, accounts: None, tmp_path: Any
) -> None:
    """Retry mode: an approved review runs only the very same text and values, once."""
    _reset(upstream)
    with (
        _gateway(upstream, tmp_path, _policy(wait="retry")) as rgw,
        psycopg.connect(rgw.dsn(), autocommit=True) as conn,
    ):
        sql = "UPDATE public.rv_accounts SET balance = %s WHERE id = %s"
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"review rv-\w+ is pending"):
            conn.execute(sql, (42, 13))
        review = _pending(rgw)
        assert review.parameters == ("42", "13")
        _decide(rgw, review.id)
        # The same statement with other values is another statement: a new review.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="pending"):
            conn.execute(sql, (42, 14))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="pending"):
            conn.execute("UPDATE public.rv_accounts SET balance = 42 WHERE id = 13")
        assert _balance(upstream, 13) == 100 and _balance(upstream, 14) == 100
        # The approved one runs, once.
        assert conn.execute(sql, (42, 13)).statusmessage == "UPDATE 1"
        assert _balance(upstream, 13) == 42
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="pending"):
            conn.execute(sql, (42, 13))
        # Another identity cannot use it either (binding names the requester).
        assert rgw.gateway.approvals is not None
        done = rgw.call(rgw.gateway.approvals.get(review.id))
        assert done.status == "executed"


def test_a_pending_review_expires(upstream: Upstream, accounts: None, tmp_path: Any) -> None:
    _reset(upstream)
    with _gateway(upstream, tmp_path, _policy(expires=1)) as egw:
        held = _Held(egw.dsn(), "UPDATE public.rv_accounts SET balance = 7 WHERE id = 15")
        held.start()
        held.join(20)
        assert "expired without a decision" in str(held.error)
        assert _balance(upstream, 15) == 100


def test_impact_preview_plan_and_exact_count(
    upstream: Upstream, accounts: None, tmp_path: Any
) -> None:
    _reset(upstream)
    with _gateway(upstream, tmp_path, _policy(wait="retry", preview="count")) as pgw:
        with (
            psycopg.connect(pgw.dsn(), autocommit=True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("DELETE FROM public.rv_accounts WHERE id <= 20 /* reason: cleanup */")
        review = _pending(pgw)
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
    _reset(upstream)
    with _gateway(upstream, tmp_path, _policy()) as agw:
        held = _Held(agw.dsn(), "UPDATE public.rv_accounts SET balance = 9 WHERE id = 16")
        held.start()
        review = _pending(agw)
        _decide(agw, review.id, "approve", "ok for the ticket")
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
