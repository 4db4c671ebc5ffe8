"""A bug inside one session's relay ends that session with XX000; the gateway keeps serving."""

from __future__ import annotations

import time

import psycopg
import pytest

from conftest import Upstream, gateway_config
from harness import running_gateway
from wardgate.proxy.session import Session


def test_internal_error_in_relay_is_contained(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = Session._from_upstream

    def broken(self: Session, data: bytes) -> None:
        if b"boom-marker" in data:
            raise RuntimeError("simulated bug")
        original(self, data)

    monkeypatch.setattr(Session, "_from_upstream", broken)
    with running_gateway(gateway_config(upstream)) as gw:
        with (
            psycopg.connect(gw.dsn(), autocommit=True) as victim,
            pytest.raises(psycopg.Error, match="internal error in the gateway") as err,
        ):
            victim.execute("SELECT 'boom-marker'")
        assert err.value.sqlstate == "XX000"
        with psycopg.connect(gw.dsn(), autocommit=True) as bystander:
            assert bystander.execute("SELECT 'still serving'").fetchone() == ("still serving",)
            # The victim's upstream session was ended too, not left behind.
            deadline = time.monotonic() + 5
            while True:
                left = bystander.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%boom-marker%' "
                    "AND pid <> pg_backend_pid()"
                ).fetchone()
                if left == (0,) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert left == (0,)
    assert "simulated bug" in caplog.text  # logged with its traceback for the operator
