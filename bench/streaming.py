"""Large-result streaming through Wardgate vs direct PostgreSQL: throughput and gateway memory.

Creates a table of ROWS rows (bigint, int, timestamptz, ~40-byte text), then reads
`SELECT * FROM t LIMIT n` for n = SMALL and n = ROWS with psycopg's `cursor.stream()` (libpq
chunked-rows mode: the client never holds the whole result, and the gateway must relay every
DataRow). Each size gets a freshly started gateway process, whose peak RSS (VmHWM in
/proc/<pid>/status) is read when idle and again after the streams: if the gateway relays without
buffering whole results, the peak should not grow with the result size. Usage:

    .venv/bin/python bench/streaming.py [--rows 1000000] [--small 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import _harness as h
import psycopg

DBNAME = "bench"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Measurement:
    rows: int
    target: str
    seconds: list[float] = field(default_factory=list)
    median_s: float = 0.0
    rows_per_s: float = 0.0
    ratio_to_direct: float | None = None
    gateway_cpu_s: float | None = None  # gateway process user+sys CPU per stream (median)
    gateway_vmhwm_idle_kib: int | None = None
    gateway_vmhwm_after_kib: int | None = None
    error: str | None = None


def create_table(conninfo: str, rows: int) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS t")
        conn.execute(
            "CREATE TABLE t (id bigint PRIMARY KEY, n int NOT NULL, ts timestamptz NOT NULL,"
            " s text NOT NULL)"
        )
        conn.execute(
            "INSERT INTO t SELECT g, (g::bigint * 7919) %% 1000003,"
            " timestamptz '2024-01-01' + g * interval '1 second',"
            " substr(md5(g::text) || md5((g + 1)::text), 1, 40)"
            " FROM generate_series(1, %s) AS g",
            (rows,),
        )
        conn.execute("VACUUM ANALYZE t")
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('t'))").fetchone()
        h.log(f"table t: {rows} rows, {size[0] if size else '?'}")


def stream_once(conninfo: str, limit: int, chunk: int) -> float:
    """Wall time to connect, stream every row of `SELECT * FROM t LIMIT n`, and count them."""
    start = time.perf_counter()
    count = 0
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for _row in cur.stream("SELECT * FROM t LIMIT %s", (limit,), size=chunk):
            count += 1
    elapsed = time.perf_counter() - start
    if count != limit:
        raise RuntimeError(f"expected {limit} rows, got {count}")
    return elapsed


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime, stime


def measure_size(
    inst: h.PgInstance, direct: h.Endpoint, n: int, ns: argparse.Namespace
) -> tuple[Measurement, Measurement]:
    d = Measurement(n, "direct")
    g = Measurement(n, "gateway")
    with contextlib.ExitStack() as gw_stack:  # a fresh gateway per size, so VmHWM is per size
        try:
            gw, proc = h.start_gateway(gw_stack, inst, DBNAME)
            with psycopg.connect(gw.conninfo()) as conn:  # let it settle after one tiny query
                conn.execute("SELECT 1").fetchone()
            g.gateway_vmhwm_idle_kib = h.peak_rss_kib(proc.pid)
        except (RuntimeError, OSError, psycopg.Error, subprocess.SubprocessError) as exc:
            g.error = f"gateway unusable: {exc}"
            h.log(g.error)
            gw = None
        cpu: list[float] = []
        for i in range(ns.repeat):  # alternate which target goes first
            order = [(d, direct), (g, gw)] if i % 2 == 0 else [(g, gw), (d, direct)]
            for m, ep in order:
                if ep is None or m.error:
                    continue
                before = cpu_seconds(proc.pid) if m is g else 0.0
                try:
                    m.seconds.append(stream_once(ep.conninfo(), n, ns.chunk))
                except (psycopg.Error, RuntimeError) as exc:
                    m.error = f"{type(exc).__name__}: {exc}"
                    h.log(f"{m.target} n={n}: FAILED {m.error}")
                    continue
                if m is g:
                    cpu.append(cpu_seconds(proc.pid) - before)
                h.log(f"{m.target:8} n={n:>8}: {m.seconds[-1]:.3f} s")
        if gw is not None:
            g.gateway_vmhwm_after_kib = h.peak_rss_kib(proc.pid)
            g.gateway_cpu_s = statistics.median(cpu) if cpu else None
    for m in (d, g):
        if m.seconds:
            m.median_s = statistics.median(m.seconds)
            m.rows_per_s = n / m.median_s
    if d.seconds and g.seconds:
        g.ratio_to_direct = d.median_s / g.median_s  # throughput ratio (1.0 = as fast as direct)
        d.ratio_to_direct = 1.0
    return d, g


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="table size / large result")
    ap.add_argument("--small", type=int, default=100_000, help="small result size")
    ap.add_argument("--repeat", type=int, default=3, help="streams per target and size")
    ap.add_argument("--chunk", type=int, default=1000, help="cursor.stream(size=...) rows/chunk")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ns = ap.parse_args()
    h.install_sigterm_handler()
    results: list[Measurement] = []
    with contextlib.ExitStack() as stack:
        pg, inst = h.start_postgres(stack, {"max_connections": "50", "shared_buffers": "512MB"})
        pg.run_sql(f"CREATE DATABASE {DBNAME}")
        direct = h.direct_endpoint(inst, DBNAME)
        facts = h.machine_facts(pg)
        create_table(direct.conninfo(), ns.rows)
        stream_once(direct.conninfo(), ns.rows, ns.chunk)  # warm caches; not measured
        for n in (ns.small, ns.rows):
            results.extend(measure_size(inst, direct, n, ns))
    facts["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print_report(ns, facts, results)
    if ns.json:
        payload = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "argv": sys.argv,
            "machine": facts,
            "psycopg": psycopg.__version__,
            "libpq": psycopg.pq.version(),
            "results": [asdict(m) for m in results],
        }
        ns.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if all(m.error is None for m in results) else 1


def print_report(ns: argparse.Namespace, facts: dict[str, str], results: list[Measurement]) -> None:
    print(f"machine: nproc={facts['nproc']} cpu={facts['cpu']} python={facts['python']}")
    print(f"postgres: {facts['postgres']}")
    print(f"load average: start {facts['loadavg']}, end {facts['loadavg_end']}")
    print(
        f"client: psycopg {psycopg.__version__} (libpq {psycopg.pq.version()}), "
        f"cursor.stream(size={ns.chunk}), median of {ns.repeat}"
    )
    print()
    head = (
        f"{'rows':>9} {'target':<8} {'median s':>9} {'rows/s':>11} {'/direct':>8}"
        f" {'gw cpu s':>9} {'gw VmHWM idle':>14} {'gw VmHWM after':>15}"
    )
    print(head)
    print("-" * len(head))
    for m in results:
        if not m.seconds:
            print(f"{m.rows:>9} {m.target:<8} {'FAILED':>9}")
            continue
        ratio = f"{m.ratio_to_direct:8.2f}" if m.ratio_to_direct is not None else f"{'-':>8}"
        cpu = f"{m.gateway_cpu_s:9.2f}" if m.gateway_cpu_s is not None else f"{'-':>9}"
        idle = f"{m.gateway_vmhwm_idle_kib / 1024:11.1f} MiB" if m.gateway_vmhwm_idle_kib else ""
        after = f"{m.gateway_vmhwm_after_kib / 1024:12.1f} MiB" if m.gateway_vmhwm_after_kib else ""
        print(
            f"{m.rows:>9} {m.target:<8} {m.median_s:9.3f} {m.rows_per_s:11.0f} {ratio} {cpu}"
            f" {idle:>14} {after:>15}"
        )
    for m in results:
        if m.error:
            print(f"note: {m.target} n={m.rows}: {m.error.splitlines()[0][:300]}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        h.log("interrupted; everything started was stopped")
        sys.exit(130)
