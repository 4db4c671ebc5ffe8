"""A/B of two gateway source trees in one run: pgbench -S through each, with and without a policy.

Exports `src/` of two commits (`git archive`, so neither the working tree nor uncommitted changes
of others are measured), then starts four gateways from one PostgreSQL: each commit without a
policy and with the 11-rule policy of policy_cost.py (`PYTHONPATH` points each gateway at its
export; audit is off, as in every script but audit_cost.py, where the commit has an audit log).
pgbench -S (simple protocol) runs against every gateway and against PostgreSQL directly, at each
client count, for --rounds rounds with the order rotated every cell. Reported: median TPS,
ratio to direct, and the gateway's CPU microseconds per transaction (from /proc), which is less
sensitive to other load on the machine than TPS is. Usage:

    .venv/bin/python bench/source_ab.py --base 627d105 --head HEAD [--seconds 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
from pathlib import Path

import _harness as h
from pgbench_ratio import _TPS as TPS_LINE
from pgbench_ratio import DBNAME, pgbench, reachable, start_bench_database
from policy_cost import POLICY, TAGS
from streaming import cpu_seconds

REPO = Path(__file__).resolve().parent.parent


def export(stack: contextlib.ExitStack, rev: str) -> tuple[str, Path]:
    """`src/` of ``rev`` in a temp dir; returns the short commit id and the src path."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    out = h._temp_dir(stack, f"wardgate-bench-src-{commit}-")
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return commit, out / "src"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--base", required=True, help="commit A (e.g. the one before a change)")
    ap.add_argument("--head", default="HEAD", help="commit B (default HEAD)")
    ap.add_argument("--seconds", type=int, default=8, help="pgbench -T per run")
    ap.add_argument("--rounds", type=int, default=3, help="repeat the matrix; medians")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--scale", type=int, default=10)
    ns = ap.parse_args()
    h.install_sigterm_handler()
    with contextlib.ExitStack() as stack:
        base, base_src = export(stack, ns.base)
        head, head_src = export(stack, ns.head)
        policy_dir = h._temp_dir(stack, "wardgate-bench-policy-")
        (policy_dir / "bench.yaml").write_text(POLICY)
        pg, inst, direct, facts = start_bench_database(
            stack, ns.scale, {"max_connections": "100", "shared_buffers": "512MB"}
        )
        targets: dict[str, tuple[h.Endpoint, int | None]] = {"direct": (direct, None)}
        for commit, src in ((base, base_src), (head, head_src)):
            # audit off, as in every script but audit_cost.py; older commits have no audit config
            has_audit = "class AuditConfig" in (src / "wardgate" / "config.py").read_text()
            for pol in (False, True):
                ep, proc = h.start_gateway(
                    stack, inst, DBNAME, policy_dir=policy_dir if pol else None,
                    groups=["bench"], tags=TAGS, extra_env={"PYTHONPATH": str(src)},
                    audit_off=has_audit,
                )  # fmt: skip
                targets[f"{commit}{'+policy' if pol else ''}"] = (ep, proc.pid)
        for name, (ep, _) in targets.items():
            if (err := reachable(pg.bin_dir, ep)) is not None:
                raise RuntimeError(f"{name}: SELECT 1 failed: {err}")
            pgbench(pg.bin_dir, ep, ["-S"], 3, 1, "simple")  # warm-up
        names = list(targets)
        tps: dict[tuple[str, int], list[float]] = {}
        cpu: dict[tuple[str, int], list[float]] = {}
        step = 0
        for rnd in range(ns.rounds):
            for clients in ns.clients:
                order = names[step % len(names) :] + names[: step % len(names)]
                step += 1
                for name in order:
                    ep, pid = targets[name]
                    h.log(f"round {rnd + 1}/{ns.rounds} c={clients} -> {name}")
                    cpu0 = cpu_seconds(pid) if pid else 0.0
                    out = pgbench(pg.bin_dir, ep, ["-S"], ns.seconds, clients, "simple")
                    match = TPS_LINE.search(out)
                    assert match is not None
                    t = float(match.group(1))
                    tps.setdefault((name, clients), []).append(t)
                    if pid:
                        used = cpu_seconds(pid) - cpu0
                        cpu.setdefault((name, clients), []).append(used / (t * ns.seconds) * 1e6)
    facts["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: nproc={facts['nproc']} cpu={facts['cpu']} python={facts['python']}")
    print(f"postgres: {facts['postgres']}")
    print(f"load average: start {facts['loadavg']}, end {facts['loadavg_end']}")
    print(f"base {base} ({ns.base}), head {head} ({ns.head})")
    print(f"pgbench -S -M simple, scale={ns.scale}, -T {ns.seconds}, rounds={ns.rounds} (median)")
    print(
        f"{'clients':>7} {'target':<16} {'TPS':>9} {'/direct':>8} {'gw cpu us/tx':>13}"
        f" {'us/tx min..max':>16}"
    )
    for clients in ns.clients:
        d = statistics.median(tps[("direct", clients)])
        for name in names:
            t = statistics.median(tps[(name, clients)])
            c = cpu.get((name, clients))
            cells = f"{statistics.median(c):13.1f} {min(c):7.1f}..{max(c):<7.1f}" if c else ""
            print(f"{clients:>7} {name:<16} {t:9.0f} {t / d:8.2f} {cells}")
    for clients in ns.clients:
        for suffix in ("", "+policy"):
            a = statistics.median(cpu[(base + suffix, clients)])
            b = statistics.median(cpu[(head + suffix, clients)])
            print(
                f"c={clients} gateway{suffix or ' (no policy)'}: head uses {b - a:+.1f} us CPU per"
                f" transaction ({b / a - 1:+.0%}) against base"
            )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        h.log("interrupted; everything started was stopped")
        sys.exit(130)
