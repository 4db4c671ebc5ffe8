"""A blocking raw-socket PostgreSQL client for fault tests, and helpers the fault tests share.

Real drivers refuse to send malformed packets, so tests that probe the gateway's handling of bad
input build frames with `wardgate.pgwire.encode` (or by hand) and send them with `Raw`, which
sends exactly the bytes it is given and decodes whatever comes back.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable

import psycopg
import pytest

from conftest import UPSTREAM_PASSWORD_ENV, Upstream
from harness import RunningGateway
from wardgate import pgwire as pw
from wardgate.devdb import EmbeddedPostgres
from wardgate.pgwire._scram import ScramClient


def serves(gw: RunningGateway, **extra: str) -> None:
    """The gateway still answers an ordinary client."""
    with psycopg.connect(gw.dsn(**extra), autocommit=True, connect_timeout=5) as conn:
        assert conn.execute("select 41 + 1").fetchone() == (42,)


def gateway_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Errors the gateway logged (internal errors, exceptions escaping asyncio callbacks)."""
    return [
        r.getMessage()
        for r in caplog.get_records("call")
        if r.levelno >= logging.ERROR and r.name.split(".")[0] in ("asyncio", "wardgate")
    ]


def upstream_backends(upstream: Upstream, app: str) -> int:
    """Upstream sessions whose client passed ``application_name=app`` through the gateway."""
    with psycopg.connect(upstream.admin_dsn(), autocommit=True) as conn:
        sql = "select count(*) from pg_stat_activity where application_name = %s"
        row = conn.execute(sql, (app,)).fetchone()
    assert row is not None
    return int(row[0])


def create_app_database(pg: EmbeddedPostgres) -> None:
    """The gateway's service role and an empty database `app` on a dedicated server."""
    secret = os.environ[UPSTREAM_PASSWORD_ENV].replace("'", "''")
    pg.run_sql(f"CREATE ROLE wardgate_svc LOGIN PASSWORD '{secret}'")
    pg.run_sql("CREATE DATABASE app OWNER wardgate_svc")


def wait_until(pred: Callable[[], bool], timeout: float = 5.0) -> float:
    start = time.monotonic()
    while not pred():
        assert time.monotonic() - start < timeout, "condition not reached in time"
        time.sleep(0.02)
    return time.monotonic() - start


def cancel_a_sleep(conn: psycopg.Connection) -> None:
    """Cancel a running pg_sleep(30) from another thread; the session must stay usable.

    `cancel_safe`, not `cancel`: libpq's PQcancel blocks while holding the GIL, which starves a
    gateway running in this same process and deadlocks.
    """
    timer = threading.Timer(0.3, conn.cancel_safe)
    timer.start()
    start = time.monotonic()
    try:
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("select pg_sleep(30)")
    finally:
        timer.join()
    assert time.monotonic() - start < 5
    assert conn.execute("select 7").fetchone() == (7,)


class Raw:
    """One TCP connection; `recv` decodes backend frames, `None` means the peer closed."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.key: pw.BackendKeyData | None = None

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def abort(self) -> None:
        """Close with RST instead of FIN (SO_LINGER 0), like a crashed client."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def send(self, *parts: pw.Message | bytes) -> None:
        data = b"".join(p if isinstance(p, bytes) else pw.encode(p) for p in parts)
        self.sock.sendall(data)

    def _fill(self, n: int) -> bool:
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return False
            self.buf += chunk
        return True

    def recv_byte(self) -> bytes:
        """The one-byte answer to SSLRequest / GSSENCRequest."""
        assert self._fill(1), "connection closed instead of answering"
        byte, self.buf = self.buf[:1], self.buf[1:]
        return byte

    def recv_frame(self) -> bytes | None:
        """One whole backend message (tag, length, body) or None at end of file."""
        if not self._fill(5):
            assert not self.buf, f"connection closed inside a message: {self.buf!r}"
            return None
        (size,) = struct.unpack_from("!i", self.buf, 1)
        assert self._fill(1 + size), "connection closed inside a message"
        frame, self.buf = self.buf[: 1 + size], self.buf[1 + size :]
        return frame

    def recv(self) -> pw.BackendMessage | None:
        frame = self.recv_frame()
        return None if frame is None else pw.decode_backend(frame[0], frame[5:])

    def until(self, kind: type[pw.BackendMessage]) -> list[pw.BackendMessage]:
        """Messages up to and including the first `kind`; fails on end of file."""
        out: list[pw.BackendMessage] = []
        while True:
            msg = self.recv()
            assert msg is not None, f"connection closed while waiting for {kind.__name__}: {out}"
            out.append(msg)
            if isinstance(msg, kind):
                return out

    def expect_fatal(self, timeout: float = 10.0) -> pw.ErrorResponse:
        """The gateway's last word: an ErrorResponse, then a closed socket."""
        self.sock.settimeout(timeout)
        msgs = []
        while (msg := self.recv()) is not None:
            msgs.append(msg)
        errors = [m for m in msgs if isinstance(m, pw.ErrorResponse)]
        assert errors, f"connection closed without an ErrorResponse: {msgs}"
        assert msgs[-1] is errors[-1], f"messages after the error: {msgs}"
        return errors[-1]

    def silent_for(self, seconds: float) -> bool:
        """True when nothing arrives (and the socket stays open) for `seconds`."""
        if self.buf:
            return False
        self.sock.settimeout(seconds)
        try:
            self.sock.recv(1, socket.MSG_PEEK)  # data or end of file: either way, not silent
            return False
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(10.0)

    def startup(self, user: str, database: str = "shop", **params: str) -> None:
        pairs = (("user", user), ("database", database), *params.items())
        self.send(pw.StartupMessage(params=pairs))

    def scram_first(self, password: str) -> tuple[ScramClient, bytes]:
        """Answer AuthenticationSASL; returns the client and the server-first message."""
        msg = self.recv()
        assert isinstance(msg, pw.AuthenticationSASL), msg
        assert "SCRAM-SHA-256" in msg.mechanisms
        client = ScramClient(password)
        first = client.client_first()
        self.send(
            pw.PasswordMessage(data=b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first)
        )
        cont = self.recv()
        assert isinstance(cont, pw.AuthenticationSASLContinue), cont
        return client, cont.data

    def authenticate(self, user: str, password: str, database: str = "shop", **params: str) -> None:
        """Startup plus a full SCRAM exchange, up to AuthenticationSASLFinal."""
        self.startup(user, database, **params)
        client, server_first = self.scram_first(password)
        self.send(pw.PasswordMessage(data=client.client_final(server_first)))
        final = self.recv()
        assert isinstance(final, pw.AuthenticationSASLFinal), final
        client.verify_server_final(final.data)

    def login(
        self,
        user: str = "tester",
        password: str = "tester-pw",
        database: str = "shop",
        **params: str,
    ) -> pw.BackendKeyData:
        """Authenticate and read up to the first ReadyForQuery; returns the cancel key."""
        self.authenticate(user, password, database, **params)
        msgs = self.until(pw.ReadyForQuery)
        assert isinstance(msgs[0], pw.AuthenticationOk), msgs
        keys = [m for m in msgs if isinstance(m, pw.BackendKeyData)]
        assert len(keys) == 1
        self.key = keys[0]
        return keys[0]

    def query(self, sql: str) -> list[pw.BackendMessage]:
        self.send(pw.Query(sql=sql))
        return self.until(pw.ReadyForQuery)


def send_cancel(port: int, process_id: int, secret_key: bytes) -> float:
    """Send a CancelRequest; returns how long the gateway took to close the socket."""
    start = time.monotonic()
    with Raw(port) as raw:
        raw.send(pw.CancelRequest(process_id=process_id, secret_key=secret_key))
        assert raw.recv_frame() is None  # no answer, by protocol: just a close
    return time.monotonic() - start


def scram_salt_and_iterations(server_first: bytes) -> tuple[str, int]:
    attrs = dict(part.split("=", 1) for part in server_first.decode().split(","))
    return attrs["s"], int(attrs["i"])
