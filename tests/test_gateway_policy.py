"""Policy enforced through the gateway, with PostgreSQL's own error semantics kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from conftest import Upstream, gateway_config
from harness import USERS, RunningGateway, running_gateway
from wardgate.config import ConfigError, GatewayConfig
from wardgate.devdb import free_port
from wardgate.pgwire._scram import make_verifier
from wardgate.proxy import Gateway

POLICY = {
    "rules": [
        {
            "id": "testers-read",
            "match": {
                "groups": ["testers"],
                "statement_kinds": ["read", "transaction", "session", "utility"],
            },
            "effect": "allow",
        },
        {
            "id": "testers-write-notes",
            "match": {"groups": ["testers"], "statement_kinds": ["write"], "objects": ["*.notes"]},
            "effect": "allow",
        },
        {
            "id": "readers-read",
            "match": {"groups": ["readers"], "statement_kinds": ["read", "transaction", "utility"]},
            "effect": "allow",
        },
        {
            "id": "no-deletes",
            "match": {"commands": ["DELETE"]},
            "effect": "deny",
            "message": "deletes are not allowed here",
        },
        {
            "id": "updates-need-review",
            "match": {"groups": ["testers"], "commands": ["UPDATE"]},
            "effect": "review",
            "review": {"approvers": ["dbas"], "approvals": 1, "grant_ttl": 3600, "wait": "retry"},
        },
    ]
}


@pytest.fixture(scope="module")
def policy_gw(
    upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    directory = tmp_path_factory.mktemp("policy")
    (directory / "rules.yaml").write_text(yaml.safe_dump(POLICY))
    with psycopg.connect(upstream.admin_dsn(), autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS public.notes")
        admin.execute("CREATE TABLE public.notes(id int)")
        admin.execute("GRANT ALL ON public.notes TO wardgate_svc")
        # A write the parser cannot see: only the database's read-only mode stops it.
        admin.execute(
            "CREATE OR REPLACE FUNCTION public.sneaky() RETURNS int LANGUAGE sql VOLATILE "
            "AS $$ INSERT INTO public.notes VALUES (99) RETURNING 1 $$"
        )
    raw: dict[str, Any] = gateway_config(upstream, policy_dir=str(directory))
    raw["identities"] = [
        {**i, "groups": ["testers"]} if i["name"] == "tester" else i for i in raw["identities"]
    ]
    reader = {
        "name": "reader",
        "groups": ["readers"],
        "scram_verifier": make_verifier("reader-pw").to_text(),
    }
    raw["identities"].append(reader)
    with running_gateway(raw) as gw:
        yield gw


@pytest.fixture
def conn(policy_gw: RunningGateway) -> Iterator[psycopg.Connection]:
    with psycopg.connect(policy_gw.dsn(), autocommit=True) as c:
        yield c


def _count(c: psycopg.Connection) -> int:
    row = c.execute("SELECT count(*) FROM notes").fetchone()
    assert row is not None
    return int(row[0])


def test_allowed_statements_run(conn: psycopg.Connection) -> None:
    before = _count(conn)
    conn.execute("INSERT INTO notes VALUES (%s)", (1,))
    assert _count(conn) == before + 1


def test_denied_statement_names_the_rule_and_session_goes_on(conn: psycopg.Connection) -> None:
    with pytest.raises(
        psycopg.errors.InsufficientPrivilege, match="deletes are not allowed"
    ) as err:
        conn.execute("DELETE FROM notes")
    assert err.value.sqlstate == "42501"
    assert "no-deletes" in (err.value.diag.message_detail or "")
    assert conn.execute("SELECT 'still here'").fetchone() == ("still here",)


def test_nothing_of_a_refused_multi_statement_message_runs(conn: psycopg.Connection) -> None:
    before = _count(conn)
    res = conn.pgconn.exec_(b"INSERT INTO notes VALUES (2); DELETE FROM notes")
    assert res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"42501"
    assert _count(conn) == before  # the allowed INSERT in the same message did not run either


def test_refusal_inside_a_transaction_aborts_it_like_postgres(policy_gw: RunningGateway) -> None:
    with psycopg.connect(policy_gw.dsn()) as c:
        before = _count(c)
        c.execute("INSERT INTO notes VALUES (3)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DELETE FROM notes")
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            c.execute("SELECT 1")
        c.rollback()
        assert _count(c) == before  # the insert before the refusal was rolled back too


def test_extended_protocol_and_pipeline(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM notes WHERE id = %s", (1,), prepare=True)
    assert conn.execute("SELECT %s::int", (5,)).fetchone() == (5,)
    with conn.pipeline():
        ok = conn.execute("SELECT %s::int", (6,))
    assert ok.fetchone() == (6,)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.pipeline():
        conn.execute("DELETE FROM notes WHERE id = %s", (1,))
    assert conn.execute("SELECT 7").fetchone() == (7,)


def test_sql_level_execute_is_decided_on_what_was_prepared(conn: psycopg.Connection) -> None:
    conn.execute("INSERT INTO notes VALUES (7)")
    before = _count(conn)
    conn.execute("PREPARE wipe AS DELETE FROM notes")  # a write to notes: testers may prepare it
    for sql in ("EXECUTE wipe", "EXPLAIN ANALYZE EXECUTE wipe"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="deletes are not allowed"):
            conn.execute(sql)
    assert _count(conn) == before
    conn.execute("PREPARE add_one AS INSERT INTO notes VALUES (8)")
    conn.execute("EXECUTE add_one")  # an allowed body runs
    assert _count(conn) == before + 1
    conn.execute("DEALLOCATE wipe")
    with pytest.raises(psycopg.errors.InvalidSqlStatementName):
        conn.execute("EXECUTE wipe")  # gone: PostgreSQL's own error, nothing to decide


def test_review_in_retry_mode_refuses_naming_the_review(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"review rv-\w+ is pending"):
        conn.execute("UPDATE notes SET id = 0")


def test_unparsable_and_unmatched_statements_are_denied(
    conn: psycopg.Connection, policy_gw: RunningGateway
) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="unparsable statement denied"):
        conn.execute("SELEC 1")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="CREATE TABLE denied"):
        conn.execute("CREATE TABLE evil(x int)")  # ddl: no rule allows it
    with (
        psycopg.connect(policy_gw.dsn(user="other"), autocommit=True) as other,  # no groups
        pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"\(default deny\)"),
    ):
        other.execute("SELECT 1")


def test_a_broken_policy_refuses_to_start(upstream: Upstream, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("rules:\n  - id: x\n    effect: maybe\n")
    cfg = GatewayConfig.model_validate(gateway_config(upstream, policy_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        Gateway(cfg)
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(gateway_config(upstream, policy_dir=str(tmp_path))))
    serve = subprocess.run(
        [sys.executable, "-m", "wardgate.cli.main", "serve", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        env=os.environ,
    )
    assert serve.returncode == 2 and "bad.yaml" in serve.stderr


def test_read_only_identities_are_held_read_only_by_the_database(policy_gw: RunningGateway) -> None:
    dsn = policy_gw.dsn(
        user="reader", password="reader-pw", options="'-c default_transaction_read_only=off'"
    )
    with psycopg.connect(dsn, autocommit=True) as c:
        # The client's own options were dropped: the session is read-only upstream.
        assert c.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        before = _count(c)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            c.execute("SELECT public.sneaky()")  # a read to the parser, a write in fact
        for lift in (
            "BEGIN READ WRITE",
            "SELECT set_config('default_transaction_read_only', 'off', false)",
            "START TRANSACTION READ WRITE",
        ):
            # set_config is read *and* session: the readers' rule lists no session kind, so
            # the policy refuses it before the read-only guard needs to.
            with pytest.raises(
                psycopg.errors.InsufficientPrivilege, match=r"read-only|no policy rule allows it"
            ):
                c.execute(lift)
        assert c.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        assert _count(c) == before


def test_sessions_that_may_write_are_not_read_only(conn: psycopg.Connection) -> None:
    assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("off",)


def _wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _allowed(gw: RunningGateway) -> bool:
    with psycopg.connect(gw.dsn(), autocommit=True) as c:
        try:
            c.execute("SELECT 1")
        except psycopg.errors.InsufficientPrivilege:
            return False
        return True


def test_policy_reloads_on_change_and_refuses_a_broken_version(
    upstream: Upstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(POLICY))
    raw: dict[str, Any] = gateway_config(
        upstream, policy_dir=str(tmp_path), policy_reload_interval=0.1
    )
    raw["identities"] = [{**i, "groups": ["testers"]} for i in raw["identities"]]
    with running_gateway(raw) as gw, psycopg.connect(gw.dsn(), autocommit=True) as held:
        held.execute("SELECT 1")
        prepared = held.cursor()
        prepared.execute("SELECT %s::int", (1,), prepare=True)
        rules.write_text(yaml.safe_dump({"rules": []}))  # now nothing is allowed
        assert _wait_for(lambda: not _allowed(gw))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            held.execute("SELECT 1")  # sessions opened before the reload follow it too
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            prepared.execute("SELECT %s::int", (1,), prepare=True)  # decided again at Execute
        rules.write_text("rules: [ {id: broken")  # a broken edit must not take effect
        assert _wait_for(lambda: "policy reload REFUSED" in caplog.text)
        assert not _allowed(gw)  # the last good version is still in force
        rules.write_text(yaml.safe_dump(POLICY))
        assert _wait_for(lambda: _allowed(gw))


def test_sighup_reloads_a_running_wardgate_serve(upstream: Upstream, tmp_path: Path) -> None:
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    (policy_dir / "rules.yaml").write_text(yaml.safe_dump({"rules": []}))
    raw = gateway_config(upstream, policy_dir=str(policy_dir), policy_reload_interval=0)
    raw["listen"]["port"] = free_port()
    raw["identities"] = [{**i, "groups": ["testers"]} for i in raw["identities"]]
    config = tmp_path / "gw.yaml"
    config.write_text(yaml.safe_dump(raw))
    with subprocess.Popen(
        [sys.executable, "-m", "wardgate.cli.main", "serve", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=os.environ,
    ) as serve:
        try:
            assert serve.stdout is not None and "listening" in serve.stdout.readline()
            dsn = (
                f"host=127.0.0.1 port={raw['listen']['port']} dbname=shop user=tester "
                f"password={USERS['tester']} sslmode=disable"
            )
            with psycopg.connect(dsn, autocommit=True) as c:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    c.execute("SELECT 1")
                (policy_dir / "rules.yaml").write_text(yaml.safe_dump(POLICY))
                time.sleep(0.2)
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    c.execute("SELECT 1")  # no watcher: nothing changes until SIGHUP
                serve.send_signal(signal.SIGHUP)

                def reloaded() -> bool:
                    try:
                        c.execute("SELECT 1")
                    except psycopg.errors.InsufficientPrivilege:
                        return False
                    return True

                assert _wait_for(reloaded)
        finally:
            serve.terminate()
            serve.wait(10)
