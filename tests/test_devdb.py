"""EmbeddedPostgres against the real bundled server: TCP, password auth, lifecycle."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from wardgate.devdb import EmbeddedPostgres, EmbeddedPostgresError, PgInstance, free_port


@pytest.fixture(scope="module")
def scram_pg() -> Iterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(settings={"fsync": "off"})
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


def _refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def test_scram_password_login(scram_pg: EmbeddedPostgres) -> None:
    inst = scram_pg.instance
    with psycopg.connect(inst.dsn(), connect_timeout=5) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        verifier = conn.execute(
            "select rolpassword from pg_authid where rolname = current_user"
        ).fetchone()
        rules = conn.execute(
            "select distinct auth_method from pg_hba_file_rules where type = 'host'"
        ).fetchall()
    assert verifier is not None and str(verifier[0]).startswith("SCRAM-SHA-256$")
    assert rules == [("scram-sha-256",)]


def test_wrong_password_is_rejected(scram_pg: EmbeddedPostgres) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(scram_pg.instance.dsn(password="not-the-password"), connect_timeout=5)


def test_listens_on_loopback_tcp_only(scram_pg: EmbeddedPostgres) -> None:
    inst = scram_pg.instance
    assert inst.host == "127.0.0.1"
    assert scram_pg.run_sql("show listen_addresses") == "127.0.0.1\n"
    assert scram_pg.run_sql("show port") == f"{inst.port}\n"


def test_run_sql(scram_pg: EmbeddedPostgres) -> None:
    assert scram_pg.run_sql("select 1; select 'two'") == "1\ntwo\n"
    assert scram_pg.run_sql("select datname from pg_database where datname = 'template1'") == (
        "template1\n"
    )
    with pytest.raises(EmbeddedPostgresError, match="no_such_table"):
        scram_pg.run_sql("select 1; select * from no_such_table; select 2")


def test_restart_and_crash_keep_data(scram_pg: EmbeddedPostgres) -> None:
    port = scram_pg.instance.port
    scram_pg.run_sql("create table kept (v text); insert into kept values ('before restart')")
    scram_pg.restart()
    assert scram_pg.instance.port == port
    scram_pg.run_sql("insert into kept values ('before crash')")
    scram_pg.kill()
    assert not scram_pg.running
    assert _refuses(port)
    scram_pg.start()  # crash recovery replays the WAL
    assert scram_pg.instance.port == port
    assert scram_pg.run_sql("select v from kept order by v") == "before crash\nbefore restart\n"


def test_md5_auth_and_cleanup() -> None:
    password = "p@ss w'rd/:?%"  # must survive URI quoting and initdb's pwfile
    with EmbeddedPostgres(auth="md5", password=password) as pg:
        inst = pg.instance
        assert inst.password == password
        with psycopg.connect(inst.dsn(), connect_timeout=5) as conn:
            row = conn.execute(
                "select rolpassword from pg_authid where rolname = current_user"
            ).fetchone()
            assert row is not None and str(row[0]).startswith("md5")
            assert conn.execute("show password_encryption").fetchone() == ("md5",)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(inst.dsn(password="wrong"), connect_timeout=5)
        assert inst.datadir.is_dir()
    assert not inst.datadir.parent.exists()
    assert _refuses(inst.port)
    pg.stop()  # idempotent
    pg.kill()  # and harmless once stopped


def test_caller_datadir_survives_stop(tmp_path: Path) -> None:
    # Under pytest's 0700 root (so it must become traversable), and too long for a unix socket.
    datadir = tmp_path / ("long-" * 14) / "pgdata"
    first = EmbeddedPostgres(datadir, password="pw1")
    first.start()
    first.run_sql("create table survivor (id int); insert into survivor values (7)")
    socket_dir = Path(first.run_sql("show unix_socket_directories").strip())
    assert socket_dir != datadir and socket_dir.is_dir()
    first.stop()
    assert (datadir / "PG_VERSION").is_file()
    assert not socket_dir.exists()
    # The cluster's password was fixed by initdb; a new handle must be told it.
    with EmbeddedPostgres(datadir, password="pw1") as second:
        assert second.run_sql("select id from survivor") == "7\n"
        assert second.instance.datadir == datadir


def test_auto_port_is_repicked_when_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    offered = iter([taken])
    monkeypatch.setattr(
        "wardgate.devdb.free_port", lambda host="127.0.0.1": next(offered, None) or free_port()
    )
    try:
        with EmbeddedPostgres() as pg:
            assert pg.instance.port != taken
            assert pg.run_sql("select 1") == "1\n"
    finally:
        blocker.close()


def test_start_failure_reports_server_log() -> None:
    pg = EmbeddedPostgres(settings={"shared_buffers": "lots"})
    with pytest.raises(EmbeddedPostgresError, match="invalid value for parameter") as info:
        pg.start()
    assert "server log" in str(info.value)
    assert not pg.running
    pg.stop()


@pytest.mark.parametrize("ending", ["return", "os.kill(os.getpid(), signal.SIGKILL)"])
def test_owner_death_stops_forgotten_server(ending: str) -> None:
    """atexit covers a normal exit; the watchdog covers deaths atexit never sees."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from wardgate.devdb import EmbeddedPostgres
        inst = EmbeddedPostgres().start()
        print(inst.port, inst.datadir, flush=True)
        def end():
            {ending}
        end()
        """
    )
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr
    port, datadir = proc.stdout.split()
    deadline = time.monotonic() + 15
    while not (_refuses(int(port)) and not Path(datadir).exists()):
        assert time.monotonic() < deadline, "server or its directory outlived its owner"
        time.sleep(0.05)


def test_settings_that_would_mislead_pginstance_are_rejected() -> None:
    with pytest.raises(ValueError, match="port"):
        EmbeddedPostgres(settings={"port": "5432"})
    with pytest.raises(ValueError, match="single line"):
        EmbeddedPostgres(password="two\nlines")


def test_dsn_quoting() -> None:
    inst = PgInstance(
        host="127.0.0.1", port=5433, superuser="postgres", password="a/b@c", datadir=Path("/x")
    )
    assert inst.dsn() == "postgresql://postgres:a%2Fb%40c@127.0.0.1:5433/postgres"
    assert inst.dsn("shop", user="alice") == "postgresql://alice@127.0.0.1:5433/shop"
    assert inst.dsn(user="bob", password="pw") == "postgresql://bob:pw@127.0.0.1:5433/postgres"


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
