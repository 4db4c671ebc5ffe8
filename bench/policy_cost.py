"""What policy enforcement costs: `analyze` + `decide` per statement, and pgbench through it.

Part 1 (in this process): microseconds per statement for `wardgate.sql.analyze` cold (caches
cleared before every call), `analyze` of pgbench's select-only statement with a new literal each
time (the shape-cache path a real workload takes), `decide` on that analysis under a realistic
11-rule policy, and the two together. Medians over --repeats.

Part 2: pgbench -S (simple protocol) at 8 and 1 clients against PostgreSQL directly, through the
gateway without a policy and through the gateway enforcing the same policy (identity `bench` in
group `bench`), all in one run, rotating the target order per cell. The issue's target: the policy
path keeps >= 90% of the no-policy gateway's TPS at 8 clients. Usage:

    .venv/bin/python bench/policy_cost.py [--seconds 10] [--rounds 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _harness as h
from pgbench_ratio import _TPS as TPS_LINE
from pgbench_ratio import DBNAME, pgbench, reachable, start_bench_database
from streaming import cpu_seconds

from wardgate.policy import Connection, Identity, decide, load_policy
from wardgate.sql import analyze
from wardgate.sql._analyze import clear_cache  # not re-exported by wardgate.sql

SELECT_ONLY = "SELECT abalance FROM pgbench_accounts WHERE aid = {};"  # what pgbench -S sends
TAGS = {"env": "bench"}
# pgbench names its tables unqualified (schema None), and an allow pattern covers an unqualified
# relation only when its schema part is `*` (docs/policy.md, Objects): `public.pgbench_*` alone
# would default-deny every pgbench statement, so the bench rules list both forms.
POLICY = """\
rules:
  - id: bench-read
    match: {groups: [bench], statement_kinds: [read, utility, transaction, session],
            objects: ["public.pgbench_*", "*.pgbench_*"]}
    effect: allow
  - id: bench-write
    match: {groups: [bench], statement_kinds: [write], objects: ["public.pgbench_*", "*.pgbench_*"]}
    effect: allow
    guardrails: {deny_unbounded_writes: true}
  - id: no-credentials
    match: {objects: ["*.pg_authid", "*.pg_shadow", "*.api_tokens"]}
    effect: deny
    message: credentials are not readable through the gateway
  - id: deny-admin
    match: {statement_kinds: [admin]}
    effect: deny
  - id: deny-privilege
    match: {statement_kinds: [privilege]}
    effect: deny
  - id: review-ddl
    match: {statement_kinds: [ddl]}
    effect: review
    review: {approvers: [dbas], approvals: 1, grant_ttl: 3600}
  - id: analysts-read-outside-prod
    match: {groups: [analysts], statement_kinds: [read],
            when: "connection.tags.env != 'prod' || 'oncall' in identity.groups"}
    effect: allow
    guardrails: {row_limit: 10000, statement_timeout_ms: 60000}
  - id: agents-read
    match: {groups: [agents], kinds_of_identity: [agent], statement_kinds: [read],
            objects: ["public.pgbench_accounts"]}
    effect: allow
    guardrails: {row_limit: 1000}
  - id: agents-no-side-effects
    match: {groups: [agents], when: "statement.hidden_write || statement.read_only_breaking"}
    effect: deny
  - id: dbas-all
    match: {groups: [dbas]}
    effect: allow
  - id: dbas-unparsable
    match: {groups: [dbas], unparsable: true}
    effect: allow
"""


def per_call_us(fn: Callable[[Any], object], batches: list[list[Any]]) -> list[float]:
    """Microseconds per call of fn over each batch (one batch per repeat)."""
    out = []
    for batch in batches:
        t0 = time.perf_counter()
        for item in batch:
            fn(item)
        out.append((time.perf_counter() - t0) / len(batch) * 1e6)
    return out


def micro(policy_dir: Path, n: int, repeats: int) -> None:
    policy = load_policy(policy_dir)
    ident = Identity(name=h.GATEWAY_USER, groups=frozenset({"bench"}), kind="human")
    conn = Connection(name=DBNAME, tags=TAGS)
    texts = [[SELECT_ONLY.format(1 + r * n + i) for i in range(n)] for r in range(repeats + 1)]
    analysis = analyze(texts[0][0])  # also primes the shape cache for the warm cases
    checks = {
        texts[0][0]: "allow",
        "UPDATE pgbench_accounts SET abalance = 0;": "deny",
        "SELECT rolpassword FROM pg_authid;": "deny",
        "CREATE TABLE public.pgbench_x (i int);": "review",
    }
    for sql, want in checks.items():  # the policy means what this benchmark claims it means
        got = decide(policy, ident, conn, analyze(sql)).effect
        assert got == want, f"{sql!r}: expected {want}, got {got}"

    def cold(sql: str) -> object:
        clear_cache()
        return analyze(sql)

    def dec(a: Any) -> object:
        return decide(policy, ident, conn, a)

    def both(sql: str) -> object:
        return decide(policy, ident, conn, analyze(sql))

    cases: list[tuple[str, Callable[[Any], object], list[list[Any]]]] = [
        ("analyze, cold (cache cleared)", cold, [t[: max(n // 10, 1)] for t in texts[1:]]),
        ("analyze, new literal (shape hit)", analyze, texts[1:]),
        ("decide (bench read, 11 rules)", dec, [[analysis] * n]),
        ("analyze + decide", both, texts[1:]),
    ]
    analyze(texts[0][1])  # one shape hit before timing
    print(f"micro: {n} statements per repeat ({n // 10} cold), median of {repeats} repeats")
    print(f"{'case':<34} {'us/stmt':>8} {'stmts/s':>10} {'us min..max':>14}")
    for name, fn, batches in cases:
        if len(batches) == 1:
            batches = batches * repeats
        us = per_call_us(fn, batches)
        med = statistics.median(us)
        print(f"{name:<34} {med:8.2f} {1e6 / med:10.0f} {min(us):6.2f}..{max(us):<6.2f}")
    clear_cache()


def refused(pg_bin: Path, ep: h.Endpoint, sql: str) -> bool:
    out = subprocess.run(
        [str(pg_bin / "psql"), "-X", "-At", "-c", sql],
        capture_output=True,
        text=True,
        env=ep.libpq_env(),
        timeout=30,
        check=False,
    )
    return out.returncode != 0 and "denied by policy" in out.stderr


def macro(ns: argparse.Namespace, policy_dir: Path) -> None:
    with contextlib.ExitStack() as stack:
        pg, inst, direct, facts = start_bench_database(
            stack, ns.scale, {"max_connections": "100", "shared_buffers": "512MB"}
        )
        kw: dict[str, Any] = {"groups": ["bench"], "tags": TAGS}
        plain, plain_proc = h.start_gateway(stack, inst, DBNAME, **kw)
        policed, policed_proc = h.start_gateway(stack, inst, DBNAME, policy_dir=policy_dir, **kw)
        targets = {"direct": (direct, None), "gateway": (plain, plain_proc)}
        targets["gateway+policy"] = (policed, policed_proc)
        for name, (ep, _) in targets.items():
            if (err := reachable(pg.bin_dir, ep)) is not None:
                raise RuntimeError(f"{name}: SELECT 1 failed: {err}")
        if not refused(pg.bin_dir, policed, "SELECT rolpassword FROM pg_authid"):
            raise RuntimeError("gateway+policy did not refuse a pg_authid read: not enforcing")
        if refused(pg.bin_dir, plain, "SELECT rolpassword FROM pg_authid"):
            raise RuntimeError("gateway without policy refused a statement")
        for ep, _ in targets.values():  # warm every path, including the analysis caches
            pgbench(pg.bin_dir, ep, ["-S"], ns.warmup, 1, "simple")
        tps: dict[tuple[str, int], list[float]] = {}
        cpu: dict[tuple[str, int], list[float]] = {}
        names, step = list(targets), 0
        for rnd in range(ns.rounds):
            for clients in (8, 1):
                order = names[step % 3 :] + names[: step % 3]
                step += 1
                for name in order:
                    ep, proc = targets[name]
                    h.log(f"round {rnd + 1}/{ns.rounds} c={clients} -> {name}")
                    cpu0 = cpu_seconds(proc.pid) if proc else 0.0
                    out = pgbench(pg.bin_dir, ep, ["-S"], ns.seconds, clients, "simple")
                    match = TPS_LINE.search(out)
                    assert match is not None
                    tps.setdefault((name, clients), []).append(float(match.group(1)))
                    if proc:
                        tx = float(match.group(1)) * ns.seconds
                        cpu.setdefault((name, clients), []).append(
                            (cpu_seconds(proc.pid) - cpu0) / tx * 1e6
                        )
    facts["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nmachine: nproc={facts['nproc']} cpu={facts['cpu']} python={facts['python']}")
    print(f"postgres: {facts['postgres']}")
    print(f"load average: start {facts['loadavg']}, end {facts['loadavg_end']}")
    print(f"pgbench -S -M simple, scale={ns.scale}, -T {ns.seconds}, rounds={ns.rounds} (median)")
    head = f"{'target':<15} {'TPS':>9} {'/direct':>8} {'/gateway':>9} {'gw cpu us/tx':>13}"
    print(f"{'clients':>7} {head}")
    med = {k: statistics.median(v) for k, v in tps.items()}
    for clients in (8, 1):
        for name in names:
            t = med[(name, clients)]
            c = f"{statistics.median(cpu[(name, clients)]):13.1f}" if (name, clients) in cpu else ""
            r_dir = t / med[("direct", clients)]
            r_gw = "" if name == "direct" else f"{t / med[('gateway', clients)]:9.2f}"
            print(f"{clients:>7} {name:<15} {t:9.0f} {r_dir:8.2f} {r_gw:>9} {c:>13}")
    ratio = med[("gateway+policy", 8)] / med[("gateway", 8)]
    verdict = "MET" if ratio >= 0.90 else "NOT MET"
    print(
        f"\ntarget (policy path costs <= 10% of the no-policy gateway's TPS at 8 clients): "
        f"{verdict} -- gateway+policy kept {ratio:.1%} of it, a cost of {1 - ratio:.1%}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10, help="pgbench -T per run (default 10)")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the pgbench matrix; medians")
    ap.add_argument("--scale", type=int, default=10, help="pgbench -i -s (default 10)")
    ap.add_argument("--warmup", type=int, default=3, help="seconds of -S warm-up per target")
    ap.add_argument("--micro-n", type=int, default=20000, help="statements per micro repeat")
    ap.add_argument("--repeats", type=int, default=7, help="micro repeats (median reported)")
    ap.add_argument("--micro-only", action="store_true", help="skip the pgbench part")
    ns = ap.parse_args()
    h.install_sigterm_handler()
    with contextlib.ExitStack() as stack:
        policy_dir = h._temp_dir(stack, "wardgate-bench-policy-")
        (policy_dir / "bench.yaml").write_text(POLICY)
        micro(policy_dir, ns.micro_n, ns.repeats)
        if not ns.micro_only:
            macro(ns, policy_dir)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        h.log("interrupted; everything started was stopped")
        sys.exit(130)
