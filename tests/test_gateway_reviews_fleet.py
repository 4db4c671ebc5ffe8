"""Reviews shared by several processes: an approval given in one wakes the statement another
gateway holds (LISTEN/NOTIFY on PostgreSQL, polling on SQLite); restarts and a broken store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from conftest import Upstream, gateway_config
from harness import running_gateway
from review_support import (
    HeldClient,
    balance,
    create_accounts,
    pending_review,
    reset,
    review_policy,
)

_APPROVER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from wardgate.approvals import Approver, open_approvals
    from wardgate.config import load_config

    async def main() -> None:
        approvals = await open_approvals(load_config(Path(sys.argv[1])))
        try:
            pending = await approvals.listing(status="pending")
            review = pending[0]
            await approvals.decide(review.id, Approver(name="other", groups=("dbas",)), "approve")
            print(review.id)
        finally:
            await approvals.aclose()

    asyncio.run(main())
    """
)


def _raw(upstream: Upstream, tmp_path: Path, approvals: dict[str, Any]) -> dict[str, Any]:
    policy_dir = tmp_path / "policy"
    policy_dir.mkdir(exist_ok=True)
    (policy_dir / "rules.yaml").write_text(yaml.safe_dump(review_policy()))
    raw: dict[str, Any] = gateway_config(upstream, policy_dir=str(policy_dir), approvals=approvals)
    groups = {"tester": ["engineers"], "other": ["dbas"]}
    raw["identities"] = [{**i, "groups": groups[i["name"]]} for i in raw["identities"]]
    return raw


def _approve_elsewhere(raw: dict[str, Any], tmp_path: Path) -> str:
    """Approve the pending review from another process that shares only the store."""
    path = tmp_path / "approver.yaml"
    path.write_text(yaml.safe_dump(raw))
    done = subprocess.run(
        [sys.executable, "-c", _APPROVER, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _pg_store(upstream: Upstream, name: str) -> str:
    with psycopg.connect(upstream.admin_dsn("postgres"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    return (
        f"postgresql://{upstream.superuser}:{upstream.password}"
        f"@{upstream.host}:{upstream.port}/{name}"
    )


@pytest.fixture(scope="module", autouse=True)
def _accounts(upstream: Upstream) -> None:
    create_accounts(upstream)


@pytest.mark.parametrize("store", ["postgresql", "sqlite"])
def test_an_approval_in_another_process_wakes_the_held_statement(
    upstream: Upstream, tmp_path: Path, store: str
) -> None:
    reset(upstream)
    if store == "postgresql":
        # Polling every minute: only NOTIFY can wake the statement within seconds.
        approvals = {"store": _pg_store(upstream, "wg_fleet"), "poll_interval": 60}
    else:
        approvals = {"store": str(tmp_path / "reviews.db"), "poll_interval": 0.2}
    raw = _raw(upstream, tmp_path, approvals)
    with running_gateway(raw) as gw:
        held = HeldClient(gw.dsn(), "UPDATE public.rv_accounts SET balance = 21 WHERE id = 21")
        held.start()
        review = pending_review(gw)
        approved_at = time.monotonic()
        assert _approve_elsewhere(raw, tmp_path) == review.id
        held.join(20)
        woke = time.monotonic() - approved_at
        assert held.error is None, held.error
        assert held.result[0] == "UPDATE 1"
        assert woke < 15, f"the held statement took {woke:.1f}s to wake"
    assert balance(upstream, 21) == 21


def test_restart_while_held_runs_nothing_until_the_client_asks_again(
    upstream: Upstream, tmp_path: Path
) -> None:
    reset(upstream)
    raw = _raw(upstream, tmp_path, {"store": str(tmp_path / "reviews.db")})
    sql = "UPDATE public.rv_accounts SET balance = 22 WHERE id = 22"
    with running_gateway(raw) as gw:
        held = HeldClient(gw.dsn(), sql)
        held.start()
        review = pending_review(gw)
    held.join(15)
    assert held.error is not None, "the client must learn its statement did not run"
    # The review outlived the gateway and is still decidable; approving it runs nothing.
    assert _approve_elsewhere(raw, tmp_path) == review.id
    time.sleep(0.5)
    assert balance(upstream, 22) == 100
    # Sent again through a new gateway, the approved statement runs, once.
    with running_gateway(raw) as gw, psycopg.connect(gw.dsn(), autocommit=True) as conn:
        assert conn.execute(sql).statusmessage == "UPDATE 1"
        assert gw.gateway.approvals is not None
        assert gw.call(gw.gateway.approvals.get(review.id)).status == "executed"
    assert balance(upstream, 22) == 22


def test_an_unavailable_store_refuses_the_statement(upstream: Upstream, tmp_path: Path) -> None:
    reset(upstream)
    url = _pg_store(upstream, "wg_fleet_down")
    raw = _raw(upstream, tmp_path, {"store": url})
    with running_gateway(raw) as gw:
        with psycopg.connect(upstream.admin_dsn("wg_fleet_down"), autocommit=True) as admin:
            admin.execute("DROP TABLE wardgate_reviews")
        with psycopg.connect(gw.dsn(), autocommit=True) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="unavailable"):
                conn.execute("UPDATE public.rv_accounts SET balance = 23 WHERE id = 23")
            assert conn.execute("SELECT 1").fetchone() == (1,)  # the session goes on
    assert balance(upstream, 23) == 100


def test_an_approval_through_another_gateways_api_wakes_the_held_statement(
    upstream: Upstream, tmp_path: Path
) -> None:
    """Two gateway processes on one PostgreSQL review store: the DBA approves with `wardgate
    review approve` against gateway B's API; the statement held by gateway A runs. Polling is
    set to a minute, so only LISTEN/NOTIFY can wake it in time."""
    from wardgate.devdb import free_port

    reset(upstream)
    os.environ["WARDGATE_TEST_FLEET_KEY"] = "fleet-signing-key-0123456789abcdef"
    approvals = {"store": _pg_store(upstream, "wg_fleet_api"), "poll_interval": 60}
    raw = _raw(upstream, tmp_path, approvals)
    raw["tokens"] = {"signing_key": "env:WARDGATE_TEST_FLEET_KEY"}
    api_port = free_port()
    b_raw = {
        **raw,
        "listen": {"host": "127.0.0.1", "port": free_port()},
        "api": {"host": "127.0.0.1", "port": api_port},
        "audit": {"store": str(tmp_path / "b-audit.db")},
    }
    b_path = tmp_path / "b.yaml"
    b_path.write_text(yaml.safe_dump(b_raw))
    cli = [sys.executable, "-m", "wardgate.cli.main"]
    b = subprocess.Popen(
        [*cli, "serve", "-c", str(b_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ,
    )
    try:
        _wait_for_port(api_port, b)
        token = subprocess.run(
            [*cli, "token", "issue", "-c", str(b_path), "--identity", "other"],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ,
        ).stdout.strip()
        with running_gateway(raw) as gw:
            held = HeldClient(gw.dsn(), "UPDATE public.rv_accounts SET balance = 24 WHERE id = 24")
            held.start()
            review = pending_review(gw)
            approved_at = time.monotonic()
            env = {**os.environ, "WARDGATE_TOKEN": token}
            api = f"http://127.0.0.1:{api_port}"
            done = subprocess.run(
                [*cli, "review", "approve", review.id, "--api", api, "--reason", "ok"],
                capture_output=True,
                text=True,
                env=env,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            held.join(20)
            woke = time.monotonic() - approved_at
            assert held.error is None, held.error
            assert held.result[0] == "UPDATE 1"
            assert woke < 15, f"the held statement took {woke:.1f}s to wake"
    finally:
        b.terminate()
        b.wait(30)
        if b.stderr is not None:
            b.stderr.close()
    assert balance(upstream, 24) == 24


def _wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            assert proc.stderr is not None
            raise AssertionError(f"gateway B exited: {proc.stderr.read().decode()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("gateway B did not start its API")
