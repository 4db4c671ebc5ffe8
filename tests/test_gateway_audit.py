"""What the gateway records, with real clients: sessions, statements, decisions, outcomes.

Each test drives a real gateway in front of the test PostgreSQL and reads back the audit store it
wrote to. The harness also checks every gateway's store when it stops (`harness.check_audit`:
the chain verifies, one outcome per intent, every started session ended).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from audit_support import recorded, session_of, statements
from conftest import Upstream, gateway_config
from harness import RunningGateway, running_gateway
from rawpg import Raw, cancel_a_sleep, wait_until
from wardgate import pgwire as pw
from wardgate.audit import generate_key
from wardgate.config import ConfigError, GatewayConfig
from wardgate.identity.tokens import issue_token
from wardgate.proxy import Gateway
from wardgate.proxy._gate import AuditGate
from wardgate.proxy._link import Link

POLICY = {
    "rules": [
        {
            "id": "analysts-read",
            "match": {
                "groups": ["analysts"],
                "statement_kinds": ["read", "transaction", "utility", "session"],
            },
            "effect": "allow",
            "mask": [
                {"columns": ["shop.customers.email"], "operator": "tokenize"},
                {"entities": ["email", "phone"], "operator": "tokenize"},
            ],
        },
        {
            "id": "analysts-write-notes",
            "match": {"groups": ["analysts"], "statement_kinds": ["write"], "objects": ["*.notes"]},
            "effect": "allow",
        },
        {
            "id": "no-deletes",
            "match": {"commands": ["DELETE"]},
            "effect": "deny",
            "message": "deletes are not allowed here",
        },
    ]
}
TOKEN_KEY_ENV = "WARDGATE_TEST_AUDIT_TOKEN_KEY"
MASK_KEY_ENV = "WARDGATE_TEST_AUDIT_MASK_KEY"


def audit_config(
    upstream: Upstream, directory: Path, *, audit: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A gateway with the test policy, masking, a token identity and a SQLite audit store."""
    policy_dir = directory / "policy"
    policy_dir.mkdir(exist_ok=True)
    (policy_dir / "rules.yaml").write_text(yaml.safe_dump(POLICY))
    key_pem, _ = generate_key()
    (directory / "checkpoint.pem").write_text(key_pem)
    os.environ[TOKEN_KEY_ENV] = "t" * 40
    os.environ[MASK_KEY_ENV] = "m" * 40
    raw: dict[str, Any] = gateway_config(
        upstream,
        policy_dir=str(policy_dir),
        policy_reload_interval=0,
        masking={"keys": {"k1": f"env:{MASK_KEY_ENV}"}, "current": "k1"},
        tokens={"signing_key": f"env:{TOKEN_KEY_ENV}"},
        audit={
            "store": str(directory / "audit.db"),
            "checkpoint_key": f"file:{directory / 'checkpoint.pem'}",
            **(audit or {}),
        },
    )
    raw["identities"] = [{**i, "groups": ["analysts"]} for i in raw["identities"]]
    raw["identities"].append(
        {"name": "svc", "auth": "token", "kind": "service", "groups": ["analysts"]}
    )
    return raw


@pytest.fixture(scope="module")
def audit_gw(
    upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    with psycopg.connect(upstream.admin_dsn(), autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS public.notes")
        admin.execute("CREATE TABLE public.notes(id int)")
        admin.execute("GRANT ALL ON public.notes TO wardgate_svc")
    with running_gateway(audit_config(upstream, tmp_path_factory.mktemp("audit-gw"))) as gw:
        yield gw


def wardgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wardgate.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
    )


def test_a_session_is_recorded_as_it_happened(audit_gw: RunningGateway) -> None:
    dsn = audit_gw.dsn(application_name="audit-session")
    with psycopg.connect(dsn, autocommit=True) as c:
        masked = c.execute("SELECT id, email FROM shop.customers ORDER BY id LIMIT 5").fetchall()
        assert len(masked) == 5
        c.execute("INSERT INTO notes VALUES (1), (2)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DELETE FROM notes")
        with pytest.raises(psycopg.errors.DivisionByZero):
            c.execute("SELECT 1/0")
        assert c.execute("SELECT %s::int", (7,)).fetchone() == (7,)
    events = recorded(audit_gw)
    session = session_of(events, "audit-session")
    start = next(e.data for e in events if e.data.get("session_id") == session)
    assert start["type"] == "session.started"
    assert start["user"] == "tester" and start["groups"] == ["analysts"]
    assert start["identity_kind"] == "human" and start["auth_method"] == "scram"
    assert start["connection"] == "shop" and start["client_addr"].startswith("127.0.0.1:")
    assert start["gateway"] == audit_gw.gateway.name
    version = audit_gw.gateway.policy.current.version  # type: ignore[union-attr]
    st = statements(events, session)
    assert sorted(st) == [1, 2, 3, 4, 5]
    for entry in st.values():
        assert entry["intent"]["decision"]["policy_version"] == version
        assert entry["intent"]["user"] == "tester" and entry["intent"]["connection"] == "shop"

    read = st[1]
    assert read["intent"]["text"] == "SELECT id, email FROM shop.customers ORDER BY id LIMIT $1"
    assert read["intent"]["facts"]["kinds"] == ["read"]
    assert read["intent"]["facts"]["objects"] == ["shop.customers:read"]
    assert read["intent"]["decision"]["effect"] == "allow"
    assert read["intent"]["decision"]["rules"] == ["analysts-read"]
    assert read["outcome"]["status"] == "ok" and read["outcome"]["rows"] == 5
    assert read["outcome"]["masking"]["columns"] == ["email"]
    assert read["outcome"]["masking"]["values"] == 5

    write = st[2]
    assert write["intent"]["decision"]["rules"] == ["analysts-write-notes"]
    assert write["intent"]["facts"]["kinds"] == ["write"]
    assert write["outcome"] == {**write["outcome"], "status": "ok", "rows": 2, "sqlstate": None}
    assert write["outcome"]["masking"] == {"columns": [], "entities": {}, "values": 0}

    denied = st[3]
    assert denied["intent"]["decision"]["effect"] == "deny"
    assert denied["intent"]["decision"]["rules"] == ["no-deletes"]
    assert denied["intent"]["decision"]["message"] == "deletes are not allowed here"
    assert denied["outcome"]["status"] == "denied" and denied["outcome"]["sqlstate"] == "42501"

    failed = st[4]
    assert failed["intent"]["text"] == "SELECT $1/$2"
    assert failed["outcome"]["status"] == "error" and failed["outcome"]["sqlstate"] == "22012"

    bound = st[5]  # the extended protocol: the bind parameter is $1, recorded as a token
    assert bound["intent"]["text"] == "SELECT $1::int"
    (param,) = bound["intent"]["parameters"]
    assert param.startswith("mac:") and len(param) == 20
    assert bound["outcome"]["rows"] == 1
    end = next(
        e.data for e in events if e.type == "session.ended" and e.data["session_id"] == session
    )
    assert end["reason"] == "client_closed" and end["statements"] == 5 and end["duration_us"] > 0


def test_equal_values_give_equal_tokens_whether_literal_or_bound(audit_gw: RunningGateway) -> None:
    with psycopg.connect(audit_gw.dsn(application_name="tokens"), autocommit=True) as c:
        c.execute("SELECT count(*) FROM shop.customers WHERE email = 'x@example.com'")
        c.execute("SELECT count(*) FROM shop.customers WHERE email = %s", ("x@example.com",))
        c.execute("SELECT count(*) FROM shop.customers WHERE email = %s", ("y@example.com",))
    st = statements(recorded(audit_gw), session_of(recorded(audit_gw), "tokens"))
    literal, bound, other = (st[n]["intent"]["parameters"] for n in (1, 2, 3))
    assert literal == bound != other


def test_verify_and_replay_from_the_command_line(audit_gw: RunningGateway) -> None:
    with psycopg.connect(audit_gw.dsn(application_name="replayed"), autocommit=True) as c:
        c.execute("SELECT id FROM shop.customers WHERE id = 3").fetchall()
    events = recorded(audit_gw)
    session = session_of(events, "replayed")
    store = audit_gw.config.audit.store
    verify = wardgate("audit", "verify", "--store", store)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.startswith(f"ok: {len(events)} events")
    replay = wardgate("audit", "replay", session, "--store", store)
    assert replay.returncode == 0, replay.stderr
    assert "tester -> shop" in replay.stdout
    assert "SELECT id FROM shop.customers WHERE id = $1" in replay.stdout
    assert "#1 ok rows=1" in replay.stdout
    assert "client_closed after 1 statements" in replay.stdout


def test_token_identities_are_recorded_as_such(audit_gw: RunningGateway) -> None:
    token = issue_token(os.environ[TOKEN_KEY_ENV].encode(), "svc", 300)
    dsn = audit_gw.dsn(user="svc", password=token, application_name="as-service")
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SELECT 1")
    events = recorded(audit_gw)
    start = next(
        e.data
        for e in events
        if e.type == "session.started" and e.data["session_id"] == session_of(events, "as-service")
    )
    assert start["auth_method"] == "token" and start["identity_kind"] == "service"
    assert token not in str([e.data for e in events])


def test_how_statements_end(audit_gw: RunningGateway) -> None:
    with Raw(audit_gw.port) as raw:
        raw.login(application_name="pipelined")
        # One unit of the extended protocol: an error, then an Execute PostgreSQL skips.
        raw.send(
            pw.Parse(sql="SELECT 1/0"), pw.Bind(), pw.Execute(),
            pw.Parse(sql="SELECT 2"), pw.Bind(), pw.Execute(),
            pw.Sync(),
        )  # fmt: skip
        raw.until(pw.ReadyForQuery)
        # Executes of one portal with a row limit: each Execute is a statement of its own.
        raw.send(
            pw.Query(sql="BEGIN"),
            pw.Parse(sql="SELECT generate_series(1, 5)"), pw.Bind(),
            pw.Execute(max_rows=3), pw.Execute(max_rows=3),
            pw.Sync(), pw.Query(sql="COMMIT"),
        )  # fmt: skip
        for _ in range(3):
            raw.until(pw.ReadyForQuery)
    with psycopg.connect(audit_gw.dsn(application_name="cancelled"), autocommit=True) as c:
        cancel_a_sleep(c)
    raw = Raw(audit_gw.port)
    raw.login(application_name="interrupted")
    raw.send(pw.Query(sql="SELECT pg_sleep(30)"))
    session = session_of(recorded(audit_gw), "interrupted")
    raw.abort()

    def ended() -> bool:
        return any(
            e.type == "session.ended" and e.data["session_id"] == session
            for e in recorded(audit_gw)
        )

    wait_until(ended)
    events = recorded(audit_gw)

    def outcomes(app: str) -> list[tuple[str, int | None, str | None]]:
        st = statements(events, session_of(events, app))
        return [
            (s["outcome"]["status"], s["outcome"]["rows"], s["outcome"]["sqlstate"])
            for s in st.values()
        ]

    assert outcomes("pipelined") == [
        ("error", None, "22012"),
        ("skipped", None, None),
        ("ok", None, None),  # BEGIN
        ("ok", None, None),  # PortalSuspended after 3 rows: no count in it
        ("ok", 2, None),
        ("ok", None, None),  # COMMIT
    ]
    assert outcomes("cancelled") == [("cancelled", None, "57014"), ("ok", 1, None)]
    assert outcomes("interrupted") == [("interrupted", None, None)]
    end = [e.data for e in events if e.type == "session.ended" and e.data["session_id"] == session]
    assert end[0]["reason"] == "client_lost"


def test_sessions_end_for_the_reason_they_did(upstream: Upstream, tmp_path: Path) -> None:
    with running_gateway(audit_config(upstream, tmp_path)) as gw:
        with psycopg.connect(gw.dsn(application_name="upstream-killed"), autocommit=True) as c:
            c.execute("SELECT 1")
            with psycopg.connect(upstream.admin_dsn(), autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'upstream-killed'"
                )
            with pytest.raises(psycopg.OperationalError):
                c.execute("SELECT 1")
        raw = Raw(gw.port)
        raw.login(application_name="at-shutdown")
        store = gw.config.audit.store
    raw.close()  # the gateway closed first
    exported = wardgate("audit", "export", "--store", store)
    data = [json.loads(line) for line in exported.stdout.splitlines()]
    reasons = {d["session_id"]: d["reason"] for d in data if d["type"] == "session.ended"}
    names = {d["session_id"]: d["application_name"] for d in data if d["type"] == "session.started"}
    assert {names[s]: r for s, r in reasons.items()} == {
        "upstream-killed": "upstream_lost",
        "at-shutdown": "shutdown",
    }
    loaded = [d for d in data if d["type"] == "policy.loaded"]
    assert len(loaded) == 1 and loaded[0]["rules"] == len(POLICY["rules"])


def test_policy_versions_are_recorded(upstream: Upstream, tmp_path: Path) -> None:
    with running_gateway(audit_config(upstream, tmp_path)) as gw:
        first = gw.gateway.policy.current.version  # type: ignore[union-attr]
        rules = tmp_path / "policy" / "rules.yaml"
        rules.write_text(yaml.safe_dump({"rules": POLICY["rules"][:1]}))

        async def reload() -> bool:
            return gw.gateway.reload_policy()

        assert gw.call(reload())
        second = gw.gateway.policy.current.version  # type: ignore[union-attr]
        rules.write_text("rules: [ {id: broken")
        assert not gw.call(reload())
        events = [e.data for e in recorded(gw)]
    kinds = [(d["type"], d.get("version"), d.get("rules")) for d in events]
    assert kinds == [
        ("policy.loaded", first, 3),
        ("policy.loaded", second, 1),
        ("policy.refused", None, None),
    ]
    assert "rules.yaml" in " ".join(events[2]["errors"])
    assert events[2]["source"] == str(tmp_path / "policy")


def test_results_can_be_captured_as_the_client_saw_them(upstream: Upstream, tmp_path: Path) -> None:
    raw = audit_config(upstream, tmp_path, audit={"capture_results": True})
    with running_gateway(raw) as gw:
        with psycopg.connect(gw.dsn(application_name="captured"), autocommit=True) as c:
            seen = c.execute("SELECT id, email FROM shop.customers ORDER BY id LIMIT 3").fetchall()
            c.execute("SELECT %s::text", ("bound",))
        events = recorded(gw)
        session = session_of(events, "captured")
        replay = wardgate("audit", "replay", session, "--store", gw.config.audit.store)
    results = [e.data for e in events if e.type == "statement.result"]
    assert [r["statement_seq"] for r in results] == [1, 2]
    assert results[0]["columns"] == ["id", "email"]
    assert results[0]["captured"] == [[str(i), e] for i, e in seen]  # masked, as received
    assert results[0]["rows_seen"] == 3 and not results[0]["truncated"]
    assert results[1]["captured"] == [["bound"]]
    assert seen[0][1] in replay.stdout


def test_a_gateway_without_audit_records_nothing(upstream: Upstream, tmp_path: Path) -> None:
    raw = gateway_config(upstream, audit={"enabled": False, "store": str(tmp_path / "a.db")})
    with running_gateway(raw) as gw, psycopg.connect(gw.dsn(), autocommit=True) as c:
        c.execute("SELECT 1")
        assert gw.gateway.audit is None
    assert not (tmp_path / "a.db").exists()


async def test_a_store_that_cannot_be_opened_keeps_the_gateway_from_starting(
    upstream: Upstream,
) -> None:
    raw = gateway_config(upstream, audit={"store": "postgresql://nobody:secret@127.0.0.1:1/x"})
    gateway = Gateway(GatewayConfig.model_validate(raw))
    with pytest.raises(ConfigError, match="cannot open the audit store") as err:
        await gateway.start()
    assert "secret" not in str(err.value)
    await gateway.close()


def test_a_pipelining_client_is_recorded_in_order(
    audit_gw: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Statements sent in many chunks without waiting: each chunk is held until its intents are
    stored, the client's socket is paused while too much is held, and everything goes upstream
    and into the log once, in order."""
    holds: list[bool] = []
    hold_reading = Link.hold_reading

    def spy(self: Link, held: bool) -> None:
        holds.append(held)
        hold_reading(self, held)

    monkeypatch.setattr(AuditGate, "HOLD_CHUNKS", 1)
    monkeypatch.setattr(Link, "hold_reading", spy)
    chunks, per_chunk = 40, 50
    count = chunks * per_chunk
    with Raw(audit_gw.port) as raw:
        raw.login(application_name="pipeliner")
        # Another writer holds the store's write lock: commits wait, so chunks pile up held.
        lock = sqlite3.connect(audit_gw.config.audit.store, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        try:
            for c in range(chunks):
                numbers = range(c * per_chunk + 1, (c + 1) * per_chunk + 1)
                raw.send(*(pw.Query(sql=f"SELECT {n}") for n in numbers))
                time.sleep(0.01)
            assert raw.silent_for(0.2)  # nothing ran: nothing was recorded yet
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        answers = []
        for _ in range(count):
            msgs = raw.until(pw.ReadyForQuery)
            answers.append(next(m for m in msgs if isinstance(m, pw.DataRow)).values[0])
    assert answers == [str(n).encode() for n in range(1, count + 1)]
    assert True in holds and holds[-1] is False  # it paused, and it resumed
    events = recorded(audit_gw)
    st = statements(events, session_of(events, "pipeliner"))
    tokens = audit_gw.gateway.masking.value_tokens
    assert sorted(st) == list(range(1, count + 1))
    assert [st[n]["intent"]["parameters"] for n in st] == [
        [tokens.token(str(n))] for n in range(1, count + 1)
    ]
    assert {(s["outcome"]["status"], s["outcome"]["rows"]) for s in st.values()} == {("ok", 1)}
