"""Audit store write throughput: events/s committed by one writer with group commit.

N concurrent producers each loop ``await writer.record(StatementIntent(...))`` — the strict path
a statement waits on — against one store: SQLite (WAL, synchronous=FULL, then NORMAL) in a temp
dir and PostgreSQL 18 (embedded, fsync on, synchronous_commit on). Reported per cell: events/s,
transactions (commits), mean batch, and the p50/p99 latency of one `record` call. Then the relaxed
path: one producer queues --relaxed-events with `record_nowait` and waits for the flush (the
writer's ceiling). Also the cost of encoding one event (`prepare`), which the producer pays on the
event loop. Usage:

    .venv/bin/python bench/audit_store.py [--seconds 5] [--producers 1 8 64] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

import _harness as h

from wardgate.audit import (
    AuditStore,
    AuditWriter,
    DecisionSummary,
    FactsSummary,
    StatementIntent,
)
from wardgate.audit._chain import prepare


def _event(producer: int, number: int) -> StatementIntent:
    return StatementIntent(
        session_id=f"bench-{producer}",
        statement_seq=number,
        user="bench",
        connection="bench",
        text=f"SELECT abalance FROM pgbench_accounts WHERE aid = {number}",
        facts=FactsSummary(
            kinds=("read",), commands=("SELECT",), objects=("pgbench_accounts:read",)
        ),
        decision=DecisionSummary(effect="allow", rules=("bench-read",), policy_version="v1"),
    )


async def _cell(url: str, producers: int, seconds: float, **open_kw: Any) -> dict[str, Any]:
    store = await AuditStore.open(url, **open_kw)
    latencies: list[float] = []
    try:
        async with AuditWriter(store) as writer:
            deadline = time.perf_counter() + seconds

            async def producer(p: int) -> None:
                n = 0
                while time.perf_counter() < deadline:
                    n += 1
                    t0 = time.perf_counter()
                    await writer.record(_event(p, n))
                    latencies.append(time.perf_counter() - t0)

            start = time.perf_counter()
            await asyncio.gather(*(producer(p) for p in range(producers)))
            elapsed = time.perf_counter() - start
            stats = writer.stats
    finally:
        await store.close()
    latencies.sort()
    return {
        "producers": producers,
        "events_per_s": round(stats.events / elapsed),
        "events": stats.events,
        "transactions": stats.transactions,
        "mean_batch": round(stats.events / max(stats.transactions, 1), 1),
        "p50_us": round(statistics.median(latencies) * 1e6),
        "p99_us": round(latencies[int(len(latencies) * 0.99)] * 1e6),
    }


async def _relaxed(url: str, events: int, **open_kw: Any) -> dict[str, Any]:
    """record_nowait as fast as one producer can, then flush: the writer's ceiling."""
    store = await AuditStore.open(url, **open_kw)
    try:
        async with AuditWriter(store, max_pending=events + 1) as writer:
            start = time.perf_counter()
            for i in range(events):
                writer.record_nowait(_event(0, i))
                if i % 512 == 511:
                    await asyncio.sleep(0)  # let the writer run, as a busy gateway would
            enqueued = time.perf_counter() - start
            await writer.flush()
            elapsed = time.perf_counter() - start
            stats = writer.stats
    finally:
        await store.close()
    return {
        "producers": "relaxed",
        "events_per_s": round(stats.events / elapsed),
        "events": stats.events,
        "transactions": stats.transactions,
        "mean_batch": round(stats.events / max(stats.transactions, 1), 1),
        "enqueue_us": round(enqueued / events * 1e6, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--producers", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--uvloop", action="store_true", help="Run on uvloop (as the gateway).")
    parser.add_argument("--relaxed-events", type=int, default=50_000)
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    h.install_sigterm_handler()

    sample = _event(0, 1)
    n = 20000
    prepare_us = timeit.timeit(lambda: prepare(sample, at=1, durability="strict"), number=n) / n
    results: dict[str, Any] = {"prepare_us": round(prepare_us * 1e6, 1), "cells": []}
    h.log(f"prepare (encode one intent): {prepare_us * 1e6:.1f} us")

    def run(coro: Any) -> Any:
        if args.uvloop:
            import uvloop

            return uvloop.run(coro)
        return asyncio.run(coro)

    with contextlib.ExitStack() as stack:
        pg, inst = h.start_postgres(stack, {"fsync": "on", "synchronous_commit": "on"})
        results["machine"] = h.machine_facts(pg)
        targets: list[tuple[str, str, dict[str, Any]]] = []
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wg-audit-bench-")))
        for sync in ("full", "normal"):
            targets.append(
                (f"sqlite-{sync}", str(tmp / f"{sync}.db"), {"sqlite_synchronous": sync})
            )
        pg.run_sql("CREATE DATABASE audit_bench")
        targets.append(("postgresql", inst.dsn("audit_bench"), {}))
        for name, url, kw in targets:
            for producers in args.producers:
                cell = run(_cell(url, producers, args.seconds, **kw))
                cell["store"] = name
                results["cells"].append(cell)
                h.log(
                    f"{name:<12} producers={producers:<3} {cell['events_per_s']:>6} ev/s  "
                    f"tx={cell['transactions']:<6} batch={cell['mean_batch']:<5} "
                    f"p50={cell['p50_us']}us p99={cell['p99_us']}us"
                )
            cell = run(_relaxed(url, args.relaxed_events, **kw))
            cell["store"] = name
            results["cells"].append(cell)
            h.log(
                f"{name:<12} relaxed       {cell['events_per_s']:>6} ev/s  "
                f"tx={cell['transactions']:<6} batch={cell['mean_batch']:<5} "
                f"enqueue={cell['enqueue_us']}us/event"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
