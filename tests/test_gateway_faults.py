"""Faults: bad bytes, silent clients, failed logins, a dying upstream, vanished clients, cancels.

Every fault must end with a clear ErrorResponse (where the protocol leaves room for one), close only
the connection concerned, and leave the gateway serving everybody else: each test checks the last
part with an ordinary query through the same gateway.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterator

import asyncpg
import psycopg
import pytest

from conftest import UPSTREAM_PASSWORD_ENV, Upstream, gateway_config
from harness import USERS, RunningGateway, running_gateway
from rawpg import (
    Raw,
    cancel_a_sleep,
    create_app_database,
    gateway_errors,
    scram_salt_and_iterations,
    send_cancel,
    serves,
    upstream_backends,
    wait_until,
)
from wardgate import pgwire as pw
from wardgate.devdb import EmbeddedPostgres, free_port

V3 = pw.PROTOCOL_3_0


@pytest.fixture(autouse=True)
def _no_gateway_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A fault in one session must never surface as an internal error or a loop exception."""
    yield
    assert not gateway_errors(caplog)


@pytest.fixture(scope="module")
def strict_gw(upstream: Upstream) -> Iterator[RunningGateway]:
    """Short startup timeout, small messages, and a connection whose upstream is not there."""
    down = upstream.connection("down", port=free_port(), connect_timeout=2)
    cfg = gateway_config(upstream, startup_timeout=1, max_message_size=1024)
    cfg["connections"] = [upstream.connection(), down]
    with running_gateway(cfg) as gw:
        yield gw


# --- 1. malformed bytes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (struct.pack("!ii", 4, V3), "08P01"),  # length shorter than a startup packet
        (struct.pack("!ii", -1, V3), "08P01"),
        (struct.pack("!ii", 10_001, V3), "08P01"),  # over PostgreSQL's 10000-byte limit
        (pw.encode(pw.StartupMessage(protocol=2 << 16, params=(("user", "tester"),))), "0A000"),
        (pw.encode(pw.StartupMessage(protocol=4 << 16)), "0A000"),
        (struct.pack("!ii", 19, V3) + b"user\0tester", "08P01"),  # missing NUL terminators
        (pw.encode(pw.StartupMessage(params=(("user", "tester"),))) + b"hello?", "08P01"),
    ],
    ids=["short", "negative", "huge", "v2", "v4", "unterminated", "garbage-after"],
)
def test_malformed_startup_packet(gateway: RunningGateway, data: bytes, code: str) -> None:
    with Raw(gateway.port) as raw:
        raw.send(data)
        err = raw.expect_fatal()
    assert (err.sqlstate, err.severity) == (code, "FATAL")
    assert err.message
    serves(gateway)


@pytest.mark.parametrize(
    "reply",
    [
        pw.Query(sql="select 1"),  # a valid message, but not during authentication
        pw.PasswordMessage(data=b"SCRAM-SHA-256\0\x00\x00\x00\x10n,,"),  # length lies
        pw.PasswordMessage(data=b"SCRAM-SHA-1\0\x00\x00\x00\x03n,,"),  # not offered
        b"z\x00\x00\x00\x04",
    ],
    ids=["query", "sasl-length", "sasl-mechanism", "unknown-type"],
)
def test_garbage_during_authentication(gateway: RunningGateway, reply: pw.Message | bytes) -> None:
    with Raw(gateway.port) as raw:
        raw.startup("tester")
        assert isinstance(raw.recv(), pw.AuthenticationSASL)
        raw.send(reply)
        err = raw.expect_fatal()
    assert err.sqlstate == "08P01"
    serves(gateway)


@pytest.mark.parametrize(
    "junk",
    [
        b"z\x00\x00\x00\x04",  # unknown message type
        b"Q\x00\x00\x00\x02",  # length below the minimum of 4
        b"Q\xff\xff\xff\xf0",  # negative length
        b"Q\x00\x00\x00\x08abcd",  # Query text without its NUL terminator
        b"D\x00\x00\x00\x06X\x00",  # Describe of neither a statement nor a portal
    ],
    ids=["unknown-type", "short", "negative", "unterminated", "bad-describe"],
)
def test_bad_message_after_auth(gateway: RunningGateway, upstream: Upstream, junk: bytes) -> None:
    app = f"faults-junk-{junk[:1].decode()}-{len(junk)}"
    with Raw(gateway.port) as raw:
        raw.login(application_name=app)
        assert isinstance(raw.query("select 1")[-1], pw.ReadyForQuery)
        raw.send(junk)
        err = raw.expect_fatal()
    assert (err.sqlstate, err.severity) == ("08P01", "FATAL")
    wait_until(lambda: upstream_backends(upstream, app) == 0)  # its upstream session is gone too
    serves(gateway)


@pytest.mark.parametrize(
    "sql",
    ["select pg_sleep(30)", "select repeat('x', 500) from generate_series(1, 10000000)"],
    ids=["sleeping", "streaming"],
)
def test_protocol_violation_while_a_query_runs(
    gateway: RunningGateway, upstream: Upstream, sql: str
) -> None:
    """The upstream query is cancelled, and its late replies must not trip the closed session."""
    app = f"faults-junk-mid-query-{len(sql)}"
    with Raw(gateway.port) as raw:
        raw.login(application_name=app)
        raw.send(pw.Query(sql=sql))
        if "pg_sleep" in sql:
            wait_until(lambda: upstream_backends(upstream, app) == 1)
        else:
            raw.until(pw.DataRow)  # rows keep coming while the gateway reacts to the junk
        raw.send(b"z\x00\x00\x00\x04")
        assert raw.expect_fatal().sqlstate == "08P01"
    assert wait_until(lambda: upstream_backends(upstream, app) == 0) < 3
    time.sleep(0.1)  # let late upstream bytes reach the session before the log check
    serves(gateway)


def test_oversized_message(strict_gw: RunningGateway) -> None:
    with Raw(strict_gw.port) as raw:
        raw.login()
        rows = raw.query("select '" + "x" * 900 + "'")  # just under the 1024-byte limit
        assert any(isinstance(m, pw.DataRow) for m in rows)
        raw.send(pw.Query(sql="select '" + "x" * 2000 + "'"))
        err = raw.expect_fatal()
    assert (err.sqlstate, err.severity) == ("54000", "FATAL")
    serves(strict_gw)


# --- 2. slow and silent clients ---------------------------------------------------------------


@pytest.mark.parametrize("stage", ["silent", "half-packet", "stalled-auth"])
def test_startup_timeout(strict_gw: RunningGateway, stage: str) -> None:
    startup = pw.encode(pw.StartupMessage(params=(("user", "tester"), ("database", "shop"))))
    with Raw(strict_gw.port) as raw:
        start = time.monotonic()
        if stage == "half-packet":
            raw.send(startup[:9])
        elif stage == "stalled-auth":
            raw.send(startup)
            assert isinstance(raw.recv(), pw.AuthenticationSASL)
        err = raw.expect_fatal(timeout=5)
        elapsed = time.monotonic() - start
    assert err.sqlstate == "08P01" and "timeout" in err.message
    assert 0.9 <= elapsed < 2.5
    serves(strict_gw)


# --- 3. routing and authentication failures ---------------------------------------------------


def test_unknown_connection_name(gateway: RunningGateway) -> None:
    with Raw(gateway.port) as raw:
        raw.authenticate("tester", USERS["tester"], database="no_such_db")
        err = raw.expect_fatal()
    assert (err.sqlstate, err.message) == ("3D000", 'connection "no_such_db" does not exist')
    serves(gateway)


def _failed_login(port: int, user: str, password: str) -> bytes:
    with Raw(port) as raw:
        raw.startup(user)
        client, server_first = raw.scram_first(password)
        raw.send(pw.PasswordMessage(data=client.client_final(server_first)))
        frame = raw.recv_frame()
        assert frame is not None and frame[:1] == b"E" and raw.recv_frame() is None
    return frame


def test_bad_password_and_unknown_user_look_alike(gateway: RunningGateway) -> None:
    bad_password = _failed_login(gateway.port, "tester", "wrong-pw")
    unknown_user = _failed_login(gateway.port, "nobody", "wrong-pw")  # same length as "tester"
    err = pw.decode_backend(bad_password[0], bad_password[5:])
    assert isinstance(err, pw.ErrorResponse)
    assert (err.sqlstate, err.severity) == ("28P01", "FATAL")
    assert err.message == 'password authentication failed for user "tester"'
    anonymous = bad_password.replace(b'"tester"', b'"USER"')
    assert anonymous == unknown_user.replace(b'"nobody"', b'"USER"')
    serves(gateway)


def _server_first(port: int, user: str) -> tuple[str, int]:
    with Raw(port) as raw:
        raw.startup(user)
        _, server_first = raw.scram_first("whatever")
    return scram_salt_and_iterations(server_first)


def test_unknown_user_gets_a_stable_plausible_salt(gateway: RunningGateway) -> None:
    ghost = _server_first(gateway.port, "ghost")
    assert _server_first(gateway.port, "ghost") == ghost  # a missing user's salt does not change
    real = _server_first(gateway.port, "tester")
    assert _server_first(gateway.port, "tester") == real
    other_ghost = _server_first(gateway.port, "ghost2")
    assert ghost[1] == real[1] == other_ghost[1]  # same iteration count as real users
    assert len(ghost[0]) == len(real[0])  # same salt size
    assert len({ghost[0], real[0], other_ghost[0]}) == 3  # per-user, like real salts
    serves(gateway)


# --- 4. upstream unreachable ------------------------------------------------------------------


async def test_upstream_down(strict_gw: RunningGateway) -> None:
    with Raw(strict_gw.port) as raw:
        raw.authenticate("tester", USERS["tester"], database="down")
        err = raw.expect_fatal()
    assert err.sqlstate.startswith("08") and '"down"' in err.message
    assert os.environ[UPSTREAM_PASSWORD_ENV] not in err.message
    with pytest.raises(asyncpg.PostgresError) as info:
        await asyncpg.connect(
            host="127.0.0.1", port=strict_gw.port, user="tester", password="tester-pw",
            database="down", ssl=False,
        )  # fmt: skip
    assert info.value.sqlstate.startswith("08")
    serves(strict_gw)


# --- 5. upstream restarting under an open session ---------------------------------------------


@pytest.fixture(scope="module")
def own_pg() -> Iterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(settings={"fsync": "off"})
    pg.start()
    try:
        create_app_database(pg)
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="module")
def own_gw(upstream: Upstream, own_pg: EmbeddedPostgres) -> Iterator[RunningGateway]:
    cfg = gateway_config(upstream)
    cfg["connections"] = [upstream.connection("app", port=own_pg.instance.port, database="app")]
    with running_gateway(cfg) as gw:
        yield gw


@pytest.mark.parametrize("how", ["restart", "kill"])
def test_upstream_goes_away_mid_session(
    own_pg: EmbeddedPostgres, own_gw: RunningGateway, how: str
) -> None:
    with psycopg.connect(own_gw.dsn(database="app"), autocommit=True) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        if how == "restart":
            own_pg.restart()
        else:
            own_pg.kill()
        with pytest.raises(psycopg.OperationalError) as info:
            conn.execute("select 1")
    # restart: PostgreSQL's own FATAL 57P01, relayed; kill: no FATAL, so the gateway's 08006
    assert info.value.sqlstate == ("57P01" if how == "restart" else "08006"), str(info.value)
    if how == "kill":
        with pytest.raises(psycopg.OperationalError, match="could not connect"):
            psycopg.connect(own_gw.dsn(database="app")).close()
        own_pg.start()
    serves(own_gw, database="app")


# --- 6. client vanishes mid-query -------------------------------------------------------------


@pytest.mark.parametrize("close", ["fin", "rst"])
def test_client_disconnect_cancels_upstream_query(
    gateway: RunningGateway, upstream: Upstream, close: str
) -> None:
    app = f"faults-vanish-{close}"
    with Raw(gateway.port) as raw:
        raw.login(application_name=app)
        raw.send(pw.Query(sql="select pg_sleep(30)"))
        wait_until(lambda: upstream_backends(upstream, app) == 1)
        raw.close() if close == "fin" else raw.abort()  # FIN, or RST like a crashed client
    assert wait_until(lambda: upstream_backends(upstream, app) == 0) < 3
    serves(gateway)


# --- 7. cancel requests -----------------------------------------------------------------------


def test_psycopg_cancel(gateway: RunningGateway) -> None:
    with psycopg.connect(gateway.dsn(), autocommit=True) as conn:
        cancel_a_sleep(conn)
    serves(gateway)


def test_cancel_needs_the_right_key(gateway: RunningGateway) -> None:
    with Raw(gateway.port) as raw:
        key = raw.login()
        raw.send(pw.Query(sql="select pg_sleep(30)"))
        wrong = bytes(b ^ 0xFF for b in key.secret_key)
        send_cancel(gateway.port, key.process_id, wrong)
        send_cancel(gateway.port, key.process_id ^ 1, key.secret_key)
        assert raw.silent_for(0.5)  # still sleeping: neither cancel reached upstream
        assert send_cancel(gateway.port, key.process_id, key.secret_key) < 5
        msgs = raw.until(pw.ReadyForQuery)
        errors = [m for m in msgs if isinstance(m, pw.ErrorResponse)]
        assert [e.sqlstate for e in errors] == ["57014"]
        assert isinstance(raw.query("select 1")[-1], pw.ReadyForQuery)
    serves(gateway)


# --- 8. GSSAPI encryption is declined ---------------------------------------------------------


def test_gssenc_request_is_declined(gateway: RunningGateway) -> None:
    with Raw(gateway.port) as raw:
        raw.send(pw.GSSENCRequest())
        assert raw.recv_byte() == b"N"
        raw.send(pw.SSLRequest())  # what libpq tries next; this gateway has no TLS
        assert raw.recv_byte() == b"N"
        raw.login()
        rows = [m for m in raw.query("select 5") if isinstance(m, pw.DataRow)]
        assert rows == [pw.DataRow(values=(b"5",))]
    serves(gateway, gssencmode="prefer")


# --- 9. connection limit ----------------------------------------------------------------------


def test_max_client_connections(upstream: Upstream) -> None:
    with (
        running_gateway(gateway_config(upstream, max_client_connections=2)) as gw,
        psycopg.connect(gw.dsn(), autocommit=True) as first,
        psycopg.connect(gw.dsn(), autocommit=True) as second,
    ):
        with Raw(gw.port) as raw:
            raw.startup("tester")
            err = raw.expect_fatal()
        assert (err.sqlstate, err.message) == ("53300", "sorry, too many clients")
        with pytest.raises(psycopg.OperationalError, match="too many clients"):
            psycopg.connect(gw.dsn()).close()
        first.close()

        def slot_free() -> bool:
            with pytest.raises(psycopg.OperationalError) as info:
                psycopg.connect(gw.dsn(password="bad")).close()
            return "too many clients" not in str(info.value)

        wait_until(slot_free)  # the slot frees once the gateway has seen the close...
        serves(gw)  # ...and the failed login just above gave it back
        assert second.execute("select 2").fetchone() == (2,)


# --- 10. ordinary errors keep the session -----------------------------------------------------


def test_sql_errors_keep_the_session(gateway: RunningGateway) -> None:
    with psycopg.connect(gateway.dsn()) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero) as info:
            conn.execute("select 1/0")
        assert info.value.sqlstate == "22012"
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("select 1")
        conn.rollback()
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("select * from no_such_table where id = %s", (1,))  # extended protocol
        conn.rollback()
        assert conn.execute("select %s::int", (3,)).fetchone() == (3,)
    with Raw(gateway.port) as raw:
        raw.login()
        msgs = raw.query("select 1/0")
        assert [m.sqlstate for m in msgs if isinstance(m, pw.ErrorResponse)] == ["22012"]
        assert msgs[-1] == pw.ReadyForQuery(status="I")
        assert isinstance(raw.query("select 1")[-2], pw.CommandComplete)
    serves(gateway)
