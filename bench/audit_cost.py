"""What the audit log costs: pgbench through the gateway with audit off and on, as a ratio.

Targets, each its own `wardgate serve` process in front of one embedded PostgreSQL:

- ``audit-off``: ``audit: {enabled: false}``, the baseline;
- ``sqlite-strict`` / ``sqlite-relaxed``: the default SQLite store (WAL, ``synchronous=FULL``),
  with every statement waiting for its intent to be committed, or not waiting (relaxed);
- ``pg-strict`` / ``pg-relaxed``: a PostgreSQL store, a separate database on the same server
  as the upstream (so on this 2-core machine it competes with the upstream for CPU, as a store on
  one host would);
- ``sqlite-strict-normal`` (not run unless named): strict with ``sqlite_synchronous: normal``,
  no disk sync per commit (survives a process crash, not a power loss).

pgbench select-only (-S) and -N (the TPC-B-like script without branch/teller updates: BEGIN,
UPDATE, SELECT, INSERT, END) run at 8 and 1 clients against each target, rotating the target
order per cell. Printed: TPS, the ratio to audit-off, gateway CPU microseconds per transaction,
and the events each store holds afterwards (so a run whose audit silently did nothing shows).
The issue's target: audit costs <= 10% of throughput at 8 clients. Usage:

    .venv/bin/python bench/audit_cost.py [--seconds 10] [--rounds 1] [--policy]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path

import _harness as h
from pgbench_ratio import _TPS as TPS_LINE
from pgbench_ratio import DBNAME, pgbench, reachable, start_bench_database
from streaming import cpu_seconds

TARGETS = (
    "audit-off",
    "sqlite-strict",
    "sqlite-relaxed",
    "pg-strict",
    "pg-relaxed",
    "sqlite-strict-normal",
)
DEFAULT_TARGETS = TARGETS[:5]
SCRIPTS = {"select-only": ["-S"], "simple-update (-N)": ["-N"]}


def _audit_yaml(target: str, workdir: Path, inst: h.PgInstance) -> str:
    if target == "audit-off":
        return "audit: {enabled: false}\n"
    durability = target.split("-")[1]
    if target.startswith("sqlite"):
        store = str(workdir / f"{target}.db")
        sync = "normal" if target.endswith("-normal") else "full"
        return (
            f"audit: {{store: '{store}', durability: {durability}, sqlite_synchronous: {sync}}}\n"
        )
    db = f"audit_{target.replace('-', '_')}"
    url = f"postgresql://{inst.superuser}@{inst.host}:{inst.port}/{db}"
    return (
        f"audit: {{store: '{url}', store_password: 'env:BENCH_PG_PASSWORD', "
        f"durability: {durability}}}\n"
    )


def _events(target: str, workdir: Path, pg: h.EmbeddedPostgres) -> int | None:
    """Events in the target's store (None for audit-off)."""
    if target == "audit-off":
        return None
    if target.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(workdir / f"{target}.db")) as conn:
            return int(conn.execute("SELECT count(*) FROM audit_events").fetchone()[0])
    db = f"audit_{target.replace('-', '_')}"
    return int(pg.run_sql("SELECT count(*) FROM audit_events", db).strip())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10, help="pgbench -T per run (default 10)")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the matrix; medians")
    ap.add_argument("--scale", type=int, default=10, help="pgbench -i -s (default 10)")
    ap.add_argument("--warmup", type=int, default=3, help="seconds of -S warm-up per target")
    ap.add_argument("--clients", default="8,1", help="comma-separated client counts")
    ap.add_argument(
        "--targets",
        default=",".join(DEFAULT_TARGETS),
        help=f"comma-separated, audit-off first; of {', '.join(TARGETS)}",
    )
    ap.add_argument("--policy", action="store_true", help="enforce bench/policy_cost.py's policy")
    ns = ap.parse_args()
    targets = [t for t in ns.targets.split(",") if t]
    if targets[0] != "audit-off" or any(t not in TARGETS for t in targets):
        ap.error(f"--targets must start with audit-off and name only {', '.join(TARGETS)}")
    clients = [int(c) for c in ns.clients.split(",")]
    h.install_sigterm_handler()
    with contextlib.ExitStack() as stack:
        pg, inst, _direct, facts = start_bench_database(
            stack, ns.scale, {"max_connections": "200", "shared_buffers": "512MB"}
        )
        workdir = h._temp_dir(stack, "wardgate-bench-audit-")
        kw: dict[str, object] = {}
        if ns.policy:
            from policy_cost import POLICY, TAGS

            (workdir / "policy").mkdir()
            (workdir / "policy" / "bench.yaml").write_text(POLICY)
            kw = {"policy_dir": workdir / "policy", "groups": ["bench"], "tags": TAGS}
        gateways: dict[str, tuple[h.Endpoint, subprocess.Popen[str]]] = {}
        for target in targets:
            if target.startswith("pg"):
                pg.run_sql(f"CREATE DATABASE audit_{target.replace('-', '_')}")
            extra = _audit_yaml(target, workdir, inst)
            gateways[target] = h.start_gateway(stack, inst, DBNAME, extra_config=extra, **kw)  # type: ignore[arg-type]
        for name, (ep, _) in gateways.items():
            if (err := reachable(pg.bin_dir, ep)) is not None:
                raise RuntimeError(f"{name}: SELECT 1 failed: {err}")
            pgbench(pg.bin_dir, ep, ["-S"], ns.warmup, 1, "simple")
        tps: dict[tuple[str, str, int], list[float]] = {}
        cpu: dict[tuple[str, str, int], list[float]] = {}
        step = 0
        for rnd in range(ns.rounds):
            for script, args in SCRIPTS.items():
                for c in clients:
                    order = targets[step % len(targets) :] + targets[: step % len(targets)]
                    step += 1
                    for name in order:
                        ep, proc = gateways[name]
                        if "-N" in args:
                            pg.run_sql("VACUUM pgbench_accounts; TRUNCATE pgbench_history", DBNAME)
                        h.log(f"round {rnd + 1}/{ns.rounds} {script} c={c} -> {name}")
                        cpu0 = cpu_seconds(proc.pid)
                        out = pgbench(pg.bin_dir, ep, args, ns.seconds, c, "simple")
                        match = TPS_LINE.search(out)
                        assert match is not None
                        t = float(match.group(1))
                        tps.setdefault((name, script, c), []).append(t)
                        used = cpu_seconds(proc.pid) - cpu0
                        cpu.setdefault((name, script, c), []).append(used / (t * ns.seconds) * 1e6)
        events = {name: _events(name, workdir, pg) for name in targets}
    facts["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nmachine: nproc={facts['nproc']} cpu={facts['cpu']} python={facts['python']}")
    print(f"postgres: {facts['postgres']}")
    print(f"load average: start {facts['loadavg']}, end {facts['loadavg_end']}")
    policy = "with the policy of bench/policy_cost.py" if ns.policy else "no policy"
    run = f"scale={ns.scale}, -T {ns.seconds}, rounds={ns.rounds} (median)"
    print(f"pgbench -M simple, {run}, {policy}")
    print(
        f"{'script':<20} {'clients':>7} {'target':<21} {'TPS':>9} {'/off':>6} {'gw cpu us/tx':>13}"
    )
    med = {k: statistics.median(v) for k, v in tps.items()}
    for script in SCRIPTS:
        for c in clients:
            base = med[("audit-off", script, c)]
            for name in targets:
                t = med[(name, script, c)]
                us = statistics.median(cpu[(name, script, c)])
                print(f"{script:<20} {c:>7} {name:<21} {t:9.0f} {t / base:6.2f} {us:13.1f}")
    print("\nevents stored: " + ", ".join(f"{n}={e}" for n, e in events.items() if e is not None))
    print("\ntarget (audit costs <= 10% of throughput at 8 clients):")
    for script in SCRIPTS:
        if 8 not in clients:
            break
        base = med[("audit-off", script, 8)]
        for name in targets[1:]:
            ratio = med[(name, script, 8)] / base
            verdict = "MET" if ratio >= 0.90 else "NOT MET"
            print(
                f"  {script:<20} {name:<21} {verdict}: kept {ratio:.1%}, a cost of {1 - ratio:.1%}"
            )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        h.log("interrupted; everything started was stopped")
        sys.exit(130)
