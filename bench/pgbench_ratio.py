"""pgbench throughput through Wardgate and pgbouncer, as a ratio to direct PostgreSQL.

One run: start an embedded PostgreSQL, `pgbench -i -s SCALE` into database `bench`, start
pgbouncer (session pooling) and the gateway, then run pgbench select-only (-S) and the default
TPC-B-like script at 1 and 8 clients against each target. The target order is rotated from one
(script, clients) cell to the next so that no target always runs first or last. Usage:

    .venv/bin/python bench/pgbench_ratio.py [--seconds 15] [--protocol simple|extended]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import _harness as h

from wardgate.devdb import EmbeddedPostgres, EmbeddedPostgresError, PgInstance

DBNAME = "bench"
SCRIPTS = {"select-only": ["-S"], "tpcb-like": []}
_TPS = re.compile(r"^tps = ([\d.]+) \(without initial connection time\)", re.M)
_LAT = re.compile(r"^latency average = ([\d.]+) ms", re.M)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.M)
_XACTS = re.compile(r"^number of transactions actually processed: (\d+)", re.M)


@dataclass
class Result:
    target: str
    script: str
    clients: int
    tps: float | None
    tps_rounds: list[float]
    latency_ms: float | None
    transactions: int
    failed: int
    ratio_to_direct: float | None = None
    error: str | None = None


def pgbench(
    pg_bin: Path, ep: h.Endpoint, args: list[str], seconds: int, clients: int, protocol: str
) -> str:
    argv = [
        str(pg_bin / "pgbench"),
        "-n",
        "-M",
        protocol,
        "-T",
        str(seconds),
        "-c",
        str(clients),
        "-j",
        str(min(clients, 2)),
        *args,
    ]
    out = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=ep.libpq_env(),
        timeout=seconds + 120,
        check=False,
    )
    if out.returncode != 0 or not _TPS.search(out.stdout):
        raise RuntimeError(f"pgbench exit {out.returncode}: {(out.stderr or out.stdout)[-800:]}")
    return out.stdout


def reachable(pg_bin: Path, ep: h.Endpoint) -> str | None:
    """None if `SELECT 1` works through the endpoint, else the error text."""
    cmd = [str(pg_bin / "psql"), "-X", "-At", "-c", "SELECT 1"]
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, env=ep.libpq_env(), timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        return "psql SELECT 1 timed out after 30 s"
    if out.returncode == 0 and out.stdout.strip() == "1":
        return None
    return (out.stderr or out.stdout).strip() or f"psql exit {out.returncode}"


def prewarm(pg: EmbeddedPostgres) -> None:
    """Load the pgbench tables and indexes into shared_buffers so no target pays for cold I/O."""
    tables = ["pgbench_accounts", "pgbench_accounts_pkey", "pgbench_branches", "pgbench_tellers"]
    try:
        pg.run_sql("CREATE EXTENSION IF NOT EXISTS pg_prewarm", DBNAME)
        sql = "".join(f"SELECT pg_prewarm('{t}');\n" for t in tables)
    except EmbeddedPostgresError as exc:
        h.log(f"pg_prewarm unavailable ({exc}); falling back to a full scan")
        sql = "SELECT count(*) FROM pgbench_accounts;\n"
    pg.run_sql(sql, DBNAME)


def start_bench_database(
    stack: contextlib.ExitStack, scale: int, settings: dict[str, str]
) -> tuple[EmbeddedPostgres, PgInstance, h.Endpoint, dict[str, str]]:
    """PostgreSQL with a prewarmed pgbench database; also the machine facts to print."""
    pg, inst = h.start_postgres(stack, settings)
    pg.run_sql(f"CREATE DATABASE {DBNAME}")
    direct = h.direct_endpoint(inst, DBNAME)
    h.log(f"pgbench -i -s {scale} ...")
    init = [str(pg.bin_dir / "pgbench"), "-i", "-q", "-s", str(scale)]
    subprocess.run(init, env=direct.libpq_env(), check=True, capture_output=True, timeout=900)
    prewarm(pg)
    return pg, inst, direct, h.machine_facts(pg)


def run_cell(
    pg: EmbeddedPostgres, ep: h.Endpoint, script: str, clients: int, ns: argparse.Namespace
) -> tuple[float, float | None, int, int]:
    """One pgbench run: (tps, average latency ms, failed transactions, transactions)."""
    if script == "tpcb-like":  # what pgbench's own pre-run vacuum does, done directly for everyone
        pg.run_sql(
            "VACUUM pgbench_branches; VACUUM pgbench_tellers; TRUNCATE pgbench_history;", DBNAME
        )
    out = pgbench(pg.bin_dir, ep, SCRIPTS[script], ns.seconds, clients, ns.protocol)
    match = _TPS.search(out)
    assert match is not None
    lat, failed, xacts = _LAT.search(out), _FAILED.search(out), _XACTS.search(out)
    return (
        float(match.group(1)),
        float(lat.group(1)) if lat else None,
        int(failed.group(1)) if failed else 0,
        int(xacts.group(1)) if xacts else 0,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=int, default=15, help="pgbench -T per run (default 15)")
    ap.add_argument("--protocol", choices=["simple", "extended", "prepared"], default="simple")
    ap.add_argument("--scale", type=int, default=10, help="pgbench -i -s (default 10)")
    ap.add_argument("--clients", default="1,8", help="comma-separated client counts")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved repeats; medians")
    ap.add_argument("--warmup", type=int, default=3, help="seconds of -S warm-up per target")
    ap.add_argument("--skip-gateway", action="store_true")
    ap.add_argument("--skip-pgbouncer", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ns = ap.parse_args()
    client_counts = [int(c) for c in ns.clients.split(",")]
    h.install_sigterm_handler()
    notes: list[str] = []
    results: list[Result] = []
    with contextlib.ExitStack() as stack:
        pg, inst, direct, facts = start_bench_database(
            stack, ns.scale, {"max_connections": "200", "shared_buffers": "512MB"}
        )
        targets = [direct]
        if not ns.skip_pgbouncer:
            try:
                if (pgb := h.start_pgbouncer(stack, inst, DBNAME)) is not None:
                    targets.append(pgb)
                else:
                    notes.append("pgbouncer: skipped (not installed and could not install)")
            except RuntimeError as exc:
                notes.append(f"pgbouncer: did not start: {exc}")
        if not ns.skip_gateway:
            try:
                gw, _proc = h.start_gateway(stack, inst, DBNAME)
                if (err := reachable(pg.bin_dir, gw)) is None:
                    targets.append(gw)
                else:
                    notes.append(f"gateway: started but SELECT 1 through it failed: {err}")
            except (RuntimeError, subprocess.SubprocessError) as exc:
                notes.append(f"gateway: did not start: {exc}")
        for note in notes:
            h.log(note)
        for ep in targets:  # warm up every path (connections, caches, the gateway's code paths)
            with contextlib.suppress(RuntimeError):
                pgbench(pg.bin_dir, ep, ["-S"], ns.warmup, 1, ns.protocol)
        cells = [(s, c) for s in SCRIPTS for c in client_counts]
        table = {
            (ep.name, s, c): Result(ep.name, s, c, None, [], None, 0, 0)
            for s, c in cells
            for ep in targets
        }
        lat_rounds: dict[tuple[str, str, int], list[float]] = {key: [] for key in table}
        step = 0
        for rnd in range(ns.rounds):  # rounds outermost: each round visits every cell once
            for script, clients in cells:
                k = step % len(targets)  # rotate the order so no target is always first/last
                step += 1
                for ep in targets[k:] + targets[:k]:
                    res = table[(ep.name, script, clients)]
                    if res.error:
                        continue
                    h.log(f"round {rnd + 1}/{ns.rounds} {script} c={clients} -> {ep.name}")
                    try:
                        tps, lat, failed, xacts = run_cell(pg, ep, script, clients, ns)
                    except (RuntimeError, subprocess.SubprocessError) as exc:
                        res.error = str(exc)
                        h.log(f"  FAILED: {exc}")
                        continue
                    res.tps_rounds.append(tps)
                    if lat is not None:
                        lat_rounds[(ep.name, script, clients)].append(lat)
                    res.failed += failed
                    res.transactions += xacts
        for script, clients in cells:
            base = table[("direct", script, clients)]
            for ep in targets:
                key = (ep.name, script, clients)
                res = table[key]
                if res.tps_rounds and not res.error:
                    res.tps = statistics.median(res.tps_rounds)
                    res.latency_ms = statistics.median(lat_rounds[key]) if lat_rounds[key] else None
                    if base.tps:
                        res.ratio_to_direct = res.tps / base.tps
                results.append(res)
    facts["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print_report(ns, facts, results, notes)
    if ns.json:
        payload = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "argv": sys.argv,
            "seconds": ns.seconds,
            "protocol": ns.protocol,
            "scale": ns.scale,
            "rounds": ns.rounds,
            "machine": facts,
            "notes": notes,
            "results": [asdict(r) for r in results],
        }
        ns.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


def print_report(
    ns: argparse.Namespace, facts: dict[str, str], results: list[Result], notes: list[str]
) -> None:
    print(f"machine: nproc={facts['nproc']} cpu={facts['cpu']} python={facts['python']}")
    print(f"postgres: {facts['postgres']}")
    print(f"load average: start {facts['loadavg']}, end {facts['loadavg_end']}")
    print(f"pgbench: scale={ns.scale} -T {ns.seconds} -M {ns.protocol} rounds={ns.rounds}")
    print()
    head = f"{'target':<10} {'script':<12} {'clients':>7} {'TPS':>10} {'lat ms':>8} {'/direct':>8}"
    if ns.rounds > 1:
        head += f"  {'TPS min..max over rounds':<24}"
    print(head)
    print("-" * len(head))
    for r in results:
        tps = f"{r.tps:10.1f}" if r.tps is not None else f"{'FAILED':>10}"
        lat = f"{r.latency_ms:8.3f}" if r.latency_ms is not None else f"{'-':>8}"
        ratio = f"{r.ratio_to_direct:8.2f}" if r.ratio_to_direct is not None else f"{'-':>8}"
        line = f"{r.target:<10} {r.script:<12} {r.clients:>7} {tps} {lat} {ratio}"
        if ns.rounds > 1 and r.tps_rounds:
            line += f"  {min(r.tps_rounds):.0f}..{max(r.tps_rounds):.0f}"
        print(line)
    for r in results:
        if r.failed:
            print(f"note: {r.target} {r.script} c={r.clients}: {r.failed} failed transactions")
        if r.error:
            print(f"note: {r.target} {r.script} c={r.clients}: {r.error.splitlines()[0][:300]}")
    for note in notes:
        print(f"note: {note.splitlines()[0][:300]}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        h.log("interrupted; everything started was stopped")
        sys.exit(130)
