"""`wardgate audit ...` as an operator runs it (typer's CliRunner, real SQLite store)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit_support import intent, outcome, started
from wardgate.audit import AuditStore, AuditWriter, ResultCapturer, parse_duration, parse_time
from wardgate.cli.main import app

runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", *args])
    return result.exit_code, result.output


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"

    async def seed() -> None:
        store = await AuditStore.open(str(path))
        capture = ResultCapturer("s1", max_statement_bytes=100, max_session_bytes=100)
        rows = capture.start(1, ("email",))
        rows.add_row(("a***@example.com",))
        async with AuditWriter(store) as writer:
            for event in (
                started("s1", "alice"),
                intent("s1", 1),
                rows.finish(),
                outcome("s1", 1, rows=1),
                started("s2", "bob"),
                intent("s2", 1, user="bob", text="DROP TABLE orders", effect="deny"),
            ):
                await writer.record(event)
        await store.close()

    asyncio.run(seed())
    return path


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "checkpoint.pem"
    code, out = cli("keygen", "--output", str(path))
    assert code == 0 and "public key:" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return path


def test_tail(db: Path) -> None:
    code, out = cli("tail", "--store", str(db), "-n", "2")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].split()[0] == "5" and "DROP TABLE orders" in lines[1]
    code, out = cli("tail", "--store", str(db), "--json", "--user", "alice")
    assert [json.loads(line)["seq"] for line in out.splitlines()] == [1, 2]


def test_search(db: Path) -> None:
    code, out = cli("search", "--store", str(db), "--effect", "deny", "--json")
    assert code == 0 and [json.loads(x)["seq"] for x in out.splitlines()] == [6]
    code, out = cli("search", "--store", str(db), "--text", "drop", "--since", "1h")
    assert code == 0 and out.count("\n") == 1 and "deny" in out
    code, out = cli("search", "--store", str(db), "--since", "2001-01-01T00:00:00Z", "-n", "2")
    assert code == 0 and out.count("\n") == 2
    code, out = cli("search", "--store", str(db), "--since", "yesterday-ish")
    assert code == 2 and "neither an ISO 8601 time nor a duration" in out


def test_verify_ok_then_tampered(db: Path) -> None:
    code, out = cli("verify", "--store", str(db))
    assert code == 0 and out.startswith("ok: 6 events")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_events SET body = replace(body, 'alice', 'eve') WHERE seq = 2")
    code, out = cli("verify", "--store", str(db))
    assert code == 1 and "FAILED at seq 2: changed" in out


def test_export_both_formats(db: Path, tmp_path: Path) -> None:
    code, out = cli("export", "--store", str(db), "--format", "jsonl", "--session", "s2")
    assert code == 0 and [json.loads(x)["seq"] for x in out.splitlines()] == [5, 6]
    target = tmp_path / "out.csv"
    code, out = cli("export", "--store", str(db), "--format", "csv", "-o", str(target))
    assert code == 0 and "6 events written" in out
    assert target.read_text().splitlines()[0].startswith("seq,time,type,durability,session_id")
    code, out = cli("export", "--store", str(db), "--format", "xml")
    assert code == 2


def test_replay(db: Path) -> None:
    code, out = cli("replay", "s1", "--store", str(db))
    assert code == 0
    assert "alice -> shop" in out and "SELECT email FROM customers" in out
    assert "a***@example.com" in out and "-> #1 ok rows=1" in out
    code, out = cli("replay", "nope", "--store", str(db))
    assert code == 1 and "no events" in out


def test_checkpoint_export_and_verify_against_the_file(db: Path, key: Path, tmp_path: Path) -> None:
    code, out = cli("checkpoint", "--store", str(db), "--key", str(key))
    assert code == 0 and json.loads(out)["seq"] == 6
    exported = tmp_path / "cps.jsonl"
    code, out = cli("checkpoint", "export", "--store", str(db), "-o", str(exported))
    assert code == 0 and len(exported.read_text().splitlines()) == 1
    # Cut the tail, checkpoints table included; only the exported file remembers.
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM audit_events WHERE seq > 4")
        conn.execute("DELETE FROM audit_checkpoints")
        conn.execute(
            "UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_events WHERE seq = 4)"
        )
    code, out = cli("verify", "--store", str(db), "--public-key", str(key))
    assert code == 0
    args = ["verify", "--store", str(db), "--public-key", str(key), "--checkpoint", str(exported)]
    code, out = cli(*args)
    assert code == 1 and "FAILED at seq 5: truncated" in out


def test_prune_with_the_key_from_config(db: Path, key: Path, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "connections: [{name: shop, database: shop, user: svc}]\n"
        f"audit: {{store: {db.name}, checkpoint_key: 'file:{key.name}'}}\n"
    )
    code, out = cli("prune", "--config", str(config), "--older-than", "0s", "--yes")
    assert code == 0 and "pruned 6 events through seq 6; recorded as event 7" in out
    code, out = cli("verify", "--config", str(config))
    assert code == 0 and "(pruned through 6)" in out
    code, out = cli("prune", "--store", str(db), "--older-than", "90d", "--yes")
    assert code == 2 and "needs the checkpoint key" in out


def test_store_is_required_once(db: Path, tmp_path: Path) -> None:
    code, out = cli("tail")
    assert code == 2 and "exactly one of --config or --store" in out
    code, out = cli("tail", "--config", str(tmp_path / "missing.yaml"))
    assert code == 2 and "cannot read" in out


@pytest.mark.parametrize(
    ("text", "seconds"), [("90d", 90 * 86400), ("12h", 43200), ("30m", 1800), ("2w", 1209600)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_times() -> None:
    assert parse_time("1970-01-01T00:00:01Z") == 1_000_000
    assert parse_time("1970-01-01T01:00:00+01:00") == 0
    with pytest.raises(ValueError):
        parse_duration("90 days")
