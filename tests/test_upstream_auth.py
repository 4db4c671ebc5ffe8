"""The gateway authenticates upstream with md5, SCRAM or trust, and never logs a credential."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest

from conftest import Upstream, gateway_config
from harness import USERS, identities, running_gateway
from wardgate.devdb import EmbeddedPostgres


@pytest.fixture(scope="module", params=["md5", "trust"])
def other_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, EmbeddedPostgres]]:
    pg = EmbeddedPostgres(auth=request.param)
    pg.start()
    try:
        yield request.param, pg
    finally:
        pg.stop()


def test_md5_and_trust_upstreams(other_server: tuple[str, EmbeddedPostgres]) -> None:
    mode, pg = other_server
    inst = pg.instance
    password = secrets.token_urlsafe(12)
    os.environ["WG_OTHER_PW"] = password
    pg.run_sql(
        f"SET password_encryption = '{'md5' if mode == 'md5' else 'scram-sha-256'}';"
        f"CREATE ROLE svc_{mode} LOGIN PASSWORD '{password}'"
    )
    if mode == "md5":
        stored = pg.run_sql(
            f"SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = 'svc_{mode}'"
        )
        assert stored.strip() == "md5"  # the server really stores and asks for md5
    conn_cfg = {
        "name": "other",
        "host": inst.host,
        "port": inst.port,
        "database": "postgres",
        "user": f"svc_{mode}",
        "sslmode": "disable",
    }
    if mode == "md5":
        conn_cfg["password"] = "env:WG_OTHER_PW"
    raw = {
        "listen": {"host": "127.0.0.1", "port": 0},
        "connections": [conn_cfg],
        "identities": identities(),
    }
    with running_gateway(raw) as gw, psycopg.connect(gw.dsn(database="other")) as c:
        assert c.execute("SELECT current_user").fetchone() == (f"svc_{mode}",)
    if mode == "md5":
        os.environ["WG_OTHER_PW"] = "wrong"
        with (
            running_gateway(raw) as gw,
            pytest.raises(psycopg.OperationalError, match="upstream refused"),
        ):
            psycopg.connect(gw.dsn(database="other"))


def test_no_credential_in_logs(upstream: Upstream, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with running_gateway(gateway_config(upstream)) as gw:
        with psycopg.connect(gw.dsn()) as c:
            c.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(gw.dsn(password="wrong-guess-123"))
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "authentication failed" in text  # the log does describe what happened ...
    for secret in (
        os.environ["WARDGATE_TEST_UPSTREAM_PASSWORD"],
        USERS["tester"],
        "wrong-guess-123",
    ):
        assert secret not in text  # ... without any password in it
