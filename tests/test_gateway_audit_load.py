"""The audit log under load: many clients at once, and a gateway killed mid-stream.

- 50 pgbench clients through the gateway, 2,000 statements each, with strict durability:
  exactly 100,000 statement intents (and as many outcomes), 2,000 per session numbered 1..2000,
  in one chain that verifies, on the SQLite store and on a PostgreSQL store.
- `wardgate serve` killed with SIGKILL while clients insert rows: every row that reached the
  database (every statement that ran) has its intent in the store, and so does every statement
  whose result a client received; the chain verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from audit_support import BACKENDS, store_url_for
from conftest import Upstream, gateway_config
from harness import USERS, check_audit, running_gateway
from wardgate.audit import AuditStore, EventFilter, iter_events, verify
from wardgate.devdb import free_port

CLIENTS = 50
STATEMENTS = 2_000
SCRIPT = "\\set n random(1, 1000000)\nSELECT :n;\n"


def pgbench_path(upstream: Upstream) -> str:
    if upstream.pg is not None:
        return str(upstream.pg.bin_dir / "pgbench")
    found = shutil.which("pgbench")
    if found is None:
        pytest.skip("pgbench not found (external server mode without PostgreSQL client tools)")
    return found


async def _check(url: str) -> tuple[dict[str, int], dict[str, int]]:
    store = await AuditStore.open(url)
    try:
        counts = await check_audit(store)  # verifies the chain, pairs intents and outcomes
        per_session: dict[str, int] = {}
        flt = EventFilter(types=("session.ended",))
        async for event in iter_events(store, flt):
            per_session[event.data["session_id"]] = event.data["statements"]
        return counts, per_session
    finally:
        await store.close()


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", BACKENDS)
def test_fifty_clients_two_thousand_statements_each(
    backend: str, upstream: Upstream, tmp_path: Path, request: Any
) -> None:
    url = store_url_for(backend, tmp_path, request)
    script = tmp_path / "one.sql"
    script.write_text(SCRIPT)
    raw = gateway_config(upstream, audit={"store": url})  # strict, synchronous=FULL: defaults
    started = time.monotonic()
    with running_gateway(raw, check=False) as gw:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PG")},
            "PGPASSWORD": USERS["tester"],
            "PGSSLMODE": "disable",
        }
        argv = [
            pgbench_path(upstream), "-n", "-M", "simple", "-f", str(script),
            "-c", str(CLIENTS), "-j", "2", "-t", str(STATEMENTS),
            "-h", "127.0.0.1", "-p", str(gw.port), "-U", "tester", "shop",
        ]  # fmt: skip
        out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=500)
        assert out.returncode == 0, out.stderr[-2000:]
        assert f"actually processed: {CLIENTS * STATEMENTS}/{CLIENTS * STATEMENTS}" in out.stdout
    ran = time.monotonic() - started
    counts, per_session = asyncio.run(_check(url))
    assert counts["statement.intent"] == CLIENTS * STATEMENTS == 100_000
    assert counts["statement.outcome"] == CLIENTS * STATEMENTS
    assert counts["session.started"] == counts["session.ended"]
    # pgbench's own first connection runs nothing; each client's session ran its 2,000.
    assert sorted(n for n in per_session.values() if n) == [STATEMENTS] * CLIENTS
    print(f"\n{backend}: {CLIENTS}x{STATEMENTS} statements in {ran:.1f} s, checked in "
          f"{time.monotonic() - started - ran:.1f} s")  # fmt: skip


def _client(dsn: str, number: int, acked: dict[int, int], stop: threading.Event) -> None:
    """Insert (number, n) for n = 1, 2, ... until the gateway dies; remember the last acked n."""
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            n = 0
            while not stop.is_set():
                conn.execute(f"INSERT INTO public.crash_rows VALUES ({number}, {n + 1})")
                n += 1
                acked[number] = n
    except psycopg.Error:
        pass


@pytest.mark.slow
def test_sigkill_under_load_loses_no_executed_statement(upstream: Upstream, tmp_path: Path) -> None:
    with psycopg.connect(upstream.admin_dsn(), autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS public.crash_rows")
        admin.execute("CREATE TABLE public.crash_rows(client int, n int)")
        admin.execute("GRANT ALL ON public.crash_rows TO wardgate_svc")
    raw = gateway_config(upstream, audit={"store": "audit.db"})  # next to the config file
    raw["listen"]["port"] = port = free_port()
    config = tmp_path / "gw.yaml"
    config.write_text(yaml.safe_dump(raw))
    acked: dict[int, int] = {}
    stop = threading.Event()
    with subprocess.Popen(
        [sys.executable, "-m", "wardgate.cli.main", "serve", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=os.environ,
    ) as serve:
        try:
            assert serve.stdout is not None and "listening" in serve.stdout.readline()
            threads = []
            for number in range(1, 7):
                dsn = (
                    f"host=127.0.0.1 port={port} dbname=shop user=tester "
                    f"password={USERS['tester']} sslmode=disable application_name=crash-{number}"
                )
                thread = threading.Thread(target=_client, args=(dsn, number, acked, stop))
                thread.start()
                threads.append(thread)
            deadline = time.monotonic() + 20
            while sum(acked.values()) < 600 and time.monotonic() < deadline:
                time.sleep(0.05)
            serve.send_signal(signal.SIGKILL)
        finally:
            with contextlib.suppress(ProcessLookupError):
                serve.kill()
            serve.wait(10)
            stop.set()
    for thread in threads:
        thread.join(20)
    assert serve.returncode == -signal.SIGKILL
    assert sum(acked.values()) >= 600, acked
    with psycopg.connect(upstream.admin_dsn()) as admin:
        executed = admin.execute(
            "SELECT client, max(n), count(*) FROM public.crash_rows GROUP BY 1"
        )
        ran = {client: (top, count) for client, top, count in executed.fetchall()}
    assert set(ran) == set(acked)

    async def read() -> tuple[Any, dict[str, str], dict[str, set[int]]]:
        store = await AuditStore.open(str(tmp_path / "audit.db"))
        try:
            report = await verify(store)
            names: dict[str, str] = {}
            intents: dict[str, set[int]] = {}
            async for e in iter_events(store):
                if e.type == "session.started":
                    names[e.data["session_id"]] = e.data["application_name"]
                elif e.type == "statement.intent":
                    intents.setdefault(e.data["session_id"], set()).add(e.data["statement_seq"])
            return report, names, intents
        finally:
            await store.close()

    report, names, intents = asyncio.run(read())
    assert report.problem is None, report.problem
    by_client = {int(name.split("-")[1]): intents.get(s, set()) for s, name in names.items()}
    for client, (top, count) in ran.items():
        assert count == top  # each statement ran once, in order
        assert acked[client] <= top  # a client only learns of what ran
        missing = set(range(1, top + 1)) - by_client[client]
        assert not missing, f"client {client}: statements {sorted(missing)[:5]} ran unrecorded"
