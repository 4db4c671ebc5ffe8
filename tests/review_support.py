"""Shared by the review tests: the policy, the table, and a client that waits on a thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import yaml

from conftest import Upstream, gateway_config
from harness import RunningGateway, running_gateway
from wardgate.approvals import Approver, Review

DBA = Approver(name="other", groups=("dbas",), via="test")


def review_policy(**review: Any) -> dict[str, Any]:
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


def create_accounts(upstream: Upstream) -> None:
    with psycopg.connect(upstream.admin_dsn(), autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS public.rv_accounts")
        admin.execute("CREATE TABLE public.rv_accounts(id int PRIMARY KEY, balance int)")
        admin.execute("INSERT INTO public.rv_accounts SELECT g, 100 FROM generate_series(1,50) g")
        admin.execute("GRANT ALL ON public.rv_accounts TO wardgate_svc")


def review_gateway(upstream: Upstream, directory: Any, policy: dict[str, Any], **extra: Any) -> Any:
    (directory / "rules.yaml").write_text(yaml.safe_dump(policy))
    raw: dict[str, Any] = gateway_config(upstream, policy_dir=str(directory), **extra)
    groups = {"tester": ["engineers"], "other": ["dbas"]}
    raw["identities"] = [{**i, "groups": groups[i["name"]]} for i in raw["identities"]]
    return running_gateway(raw)


def balance(upstream: Upstream, account: int) -> int:
    with psycopg.connect(upstream.admin_dsn()) as admin:
        row = admin.execute(
            "SELECT balance FROM public.rv_accounts WHERE id = %s", (account,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def reset(upstream: Upstream) -> None:
    with psycopg.connect(upstream.admin_dsn(), autocommit=True) as admin:
        admin.execute("UPDATE public.rv_accounts SET balance = 100")


def pending_review(gw: RunningGateway, *, timeout: float = 10) -> Review:
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


def decide(gw: RunningGateway, review_id: str, verdict: str = "approve", reason: str = "") -> Any:
    approvals = gw.gateway.approvals
    assert approvals is not None
    return gw.call(approvals.decide(review_id, DBA, verdict, reason))  # type: ignore[arg-type]


class HeldClient(threading.Thread):
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
