"""Failed sign-ins in the audit log (``auth.failed``): who was tried, from where, how and why,
never the secret; and bounded, so that failing cannot flood the audit store."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import Upstream, gateway_config
from harness import running_gateway
from identity_support import SIGNING_KEY, identity_config
from wardgate.audit import AuthFailed, decode_event, iter_events, open_store
from wardgate.audit._chain import prepare
from wardgate.config import GatewayConfig, RateLimitConfig
from wardgate.identity.ratelimit import RateLimiter
from wardgate.identity.store import IdentityStore
from wardgate.identity.tokens import issue_token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _failures(config: GatewayConfig) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        store = await open_store(config.audit, config.base_dir)
        try:
            return [e.data async for e in iter_events(store) if e.type == "auth.failed"]
        finally:
            await store.close()

    return asyncio.run(read())


def _audit_bytes(tmp: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp.glob("audit.db*"))


def _with_audit(raw: dict[str, Any], tmp: Path) -> dict[str, Any]:
    raw["audit"] = {"store": str(tmp / "audit.db"), "sqlite_synchronous": "normal"}
    return raw


def test_event_round_trips_through_its_body() -> None:
    event = AuthFailed(
        user="alice",
        client_addr="10.0.0.1:5000",
        method="scram",
        reason="rate_limited",
        detail="too many failed attempts",
        attempts=7,
        suppressed=2,
        gateway="gw:1",
    )
    body = prepare(event, at=5, durability="strict").body
    assert json.loads(body)["type"] == "auth.failed"
    assert decode_event(json.loads(body)) == event


def test_refusals_are_reported_once_per_bucket_per_interval() -> None:
    clock = Clock()
    cfg = RateLimitConfig(pair_burst=2, pair_per_minute=1, report_interval=60)
    limiter = RateLimiter(cfg, clock)
    for _ in range(2):
        limiter.failed("10.0.0.1", "alice")
    assert not limiter.allows("10.0.0.1", "alice")
    assert limiter.refused("10.0.0.1", "alice") == 1  # the first refusal is reported at once
    assert [limiter.refused("10.0.0.1", "alice") for _ in range(9)] == [0] * 9
    clock.now += 61
    assert limiter.refused("10.0.0.1", "alice") == 10  # the nine held, and this one
    # A spray over many user names from one source is one key: the source's bucket.
    spray = RateLimiter(RateLimitConfig(source_burst=3, pair_burst=100), clock)
    for i in range(3):
        spray.failed("10.0.0.9", f"user{i}")
    reports = [spray.refused("10.0.0.9", f"victim{i}") for i in range(50)]
    assert reports == [1] + [0] * 49


def test_the_audit_budget_caps_events_and_says_how_many_were_left_out() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimitConfig(audit_per_minute=3), clock)
    assert [limiter.audit_slot() for _ in range(5)] == [0, 0, 0, None, None]
    clock.now += 20  # one event's worth of budget back (3 a minute)
    assert limiter.audit_slot() == 2
    assert limiter.audit_slot() is None


def test_failed_passwords_and_tokens_are_recorded_without_secrets(
    upstream: Upstream, tmp_path: Path
) -> None:
    raw = _with_audit(identity_config(upstream, tmp_path), tmp_path)
    raw["identities"].append({"name": "ci-bot", "auth": "token", "groups": ["ci"]})
    raw["auth"]["rate_limit"] = {"pair_burst": 100, "source_burst": 100, "user_burst": 100}
    store = IdentityStore(tmp_path / "identities.db")
    _, api_key = store.create("sql-agent", kind="agent", owner="o", groups=())
    wrong_password = "Tr0ub4dor&3-wrong"
    key = SIGNING_KEY.encode()
    expired = issue_token(key, "ci-bot", 60, now=time.time() - 3600)
    good = issue_token(key, "ci-bot", 600)
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    wrong_key = api_key[:-1] + ("0" if api_key[-1] != "0" else "1")
    credential = issue_token(key, "alice@example.com", 600, groups=("dba",), kind="human")
    attempts = [
        ("tester", wrong_password, "scram", "bad_password"),
        ("ci-bot", forged, "token", "bad_signature"),
        ("ci-bot", expired, "token", "expired"),
        ("ci-bot", wrong_password, "token", "malformed"),
        ("sql-agent", wrong_key, "api_key", "bad_key"),
        ("bob@example.com", credential, "credential", "wrong_user"),
        ("someone", wrong_password, "unknown", "unsupported"),
    ]
    with running_gateway(raw) as gw:
        for user, secret, _, _ in attempts:
            with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
                psycopg.connect(gw.dsn(user=user, password=secret))
        psycopg.connect(gw.dsn(user="ci-bot", password=good)).close()  # successes: no event
    failures = _failures(gw.config)
    got = [(f["user"], f["method"], f["reason"]) for f in failures]
    assert got == [(user, method, reason) for user, _, method, reason in attempts]
    for f in failures:
        assert f["client_addr"].startswith("127.0.0.1:") and f["gateway"] == gw.gateway.name
        assert f["attempts"] == 1 and f["suppressed"] == 0 and f["detail"]
    blob = _audit_bytes(tmp_path)
    for secret in (wrong_password, forged, expired, good, api_key, wrong_key, credential):
        assert secret.encode() not in blob
    for token in (forged, expired, credential):
        assert token.split(".")[2].encode() not in blob  # nor a token's signature
    assert api_key[17:].encode() not in blob and wrong_key[17:].encode() not in blob


def test_rate_limited_attempts_are_recorded_in_bounded_numbers(
    upstream: Upstream, tmp_path: Path
) -> None:
    raw = _with_audit(gateway_config(upstream), tmp_path)
    raw["auth"] = {
        "rate_limit": {"pair_burst": 3, "pair_per_minute": 1, "report_interval": 0.5},
    }
    with running_gateway(raw) as gw:
        for _ in range(3):
            with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
                psycopg.connect(gw.dsn(password="guess"))
        for _ in range(6):
            with pytest.raises(psycopg.OperationalError, match="too many failed sign-in"):
                psycopg.connect(gw.dsn(password="guess"))
        time.sleep(0.6)
        with pytest.raises(psycopg.OperationalError, match="too many failed sign-in"):
            psycopg.connect(gw.dsn(password="guess"))
    failures = _failures(gw.config)
    assert [f["reason"] for f in failures] == ["bad_password"] * 3 + ["rate_limited"] * 2
    limited = failures[3:]
    assert [f["attempts"] for f in limited] == [1, 6]  # 7 refusals in 2 events
    assert all(f["user"] == "tester" and f["method"] == "scram" for f in limited)
    assert b"guess" not in _audit_bytes(tmp_path)


def test_audit_budget_in_the_gateway_and_tls_refusals(upstream: Upstream, tmp_path: Path) -> None:
    raw = _with_audit(identity_config(upstream, tmp_path), tmp_path)
    raw["tokens"]["allow_loopback_plaintext"] = False
    raw["auth"]["rate_limit"] = {"pair_burst": 100, "source_burst": 100, "audit_per_minute": 2}
    with running_gateway(raw) as gw:
        for _ in range(5):
            with pytest.raises(psycopg.OperationalError, match="only over TLS"):
                psycopg.connect(gw.dsn(user="sql-agent", password="wga_x"))
    failures = _failures(gw.config)
    assert [(f["method"], f["reason"]) for f in failures] == [("password", "tls_required")] * 2


@pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib.*")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:oidc_provider_mock.*")
def test_refusals_at_the_exchange_the_api_and_the_console_are_recorded(
    upstream: Upstream, tmp_path: Path
) -> None:
    """Every door that signs people in records its refusals, as the PostgreSQL port does."""
    import base64

    import httpx

    from identity_support import running_provider

    with running_provider() as provider:
        raw = _with_audit(identity_config(upstream, tmp_path, provider), tmp_path)
        raw["api"] = {"host": "127.0.0.1", "port": 0}
        _, api_key = IdentityStore(tmp_path / "identities.db").create(
            "audited-bot", kind="agent", owner="o", groups=()
        )
        wrong_key = api_key[:-1] + ("0" if api_key[-1] != "0" else "1")
        forged = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
        with running_gateway(raw) as gw:
            exchange = f"http://127.0.0.1:{gw.gateway.identity.exchange_port}"
            api = f"http://127.0.0.1:{gw.gateway.api.port}"
            refused = httpx.post(
                f"{exchange}/v1/identity/exchange", headers={"Authorization": f"Bearer {forged}"}
            )
            assert refused.status_code == 401
            basic = base64.b64encode(f"audited-bot:{wrong_key}".encode()).decode()
            assert (
                httpx.get(
                    f"{api}/v1/reviews", headers={"Authorization": f"Basic {basic}"}
                ).status_code
                == 401
            )
            console = httpx.post(f"{api}/console/login", data={"credential": wrong_key})
            assert console.status_code == 401
            # a key sent in the user field (curl -u KEY:), and control text in the user field
            for user, secret in ((wrong_key, ""), ("x\n99 forged\x1b[2J", wrong_key)):
                basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
                headers = {"Authorization": f"Basic {basic}"}
                assert httpx.get(f"{api}/v1/reviews", headers=headers).status_code == 401
    failures = _failures(gw.config)
    got = [(f["user"], f["method"]) for f in failures]
    assert got == [
        ("", "oidc_exchange"),
        ("audited-bot", "api"),
        ("", "console"),
        ("", "api"),  # the key in the user field is not recorded as a name
        ("x\u27e8U+000A\u27e999 forged\u27e8U+001B\u27e9[2J", "api"),  # shown, not obeyed
    ]
    assert all(f["client_addr"] == "127.0.0.1" and f["detail"] for f in failures)
    blob = _audit_bytes(tmp_path)
    for secret in (forged, wrong_key, wrong_key[17:]):
        assert secret.encode() not in blob
