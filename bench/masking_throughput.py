"""Masking throughput: rows/s of a 10-column `SELECT *`, direct and through the gateway (masked).

Creates `customers` with --rows rows and 10 columns, six of them sensitive (full_name, email,
phone, card_number, iban, date_of_birth) and four not (id, amount numeric, status text, created_at
timestamptz), and `customers_notes`: the same rows plus a free-text `notes` column (about 3 in 8
notes name a person, an email address or a phone number). Then, for n = --small and n = --rows,
streams `SELECT * FROM <table> LIMIT n` through:

- direct: PostgreSQL itself (the baseline for every ratio);
- nopolicy: the gateway without a policy (no decisions, no masking machinery);
- pass: the gateway with a policy that allows the read and masks nothing (pass-through);
- tokenize: the six sensitive columns named in `columns` directives, operator `tokenize`;
- partial: email, phone, card_number, iban `partial`; full_name, date_of_birth `redact`;
- scan: as tokenize, plus an `entities` directive, which makes the gateway scan every other text
  column (status, notes) with the detectors and replace what they find.

Clients: psycopg in text format (`cursor.stream`, libpq chunked rows, extended protocol), asyncpg
in binary format (a server-side cursor in a transaction, `prefetch=--chunk`), and psycopg `COPY
(SELECT ...) TO STDOUT` (text). Wall time includes connecting. Every stream is repeated --repeat
times in rotated order; medians are reported, as rows/s and as ratios to direct and to the
pass-through gateway measured in the same run. Each size gets freshly started gateways (one per
policy), whose peak RSS (VmHWM) is read after a warm-up query and again after the streams: if the
masker holds no rows, the peak does not grow from --small to --rows. Before timing, the first rows
of every masked target are compared with direct, to show which columns were actually changed.

Part 1, in this process: per-value CPU cost on values sampled from the table, of
`Detector().find(value, column=...)` against Presidio's `AnalyzerEngine.analyze` (set up offline as
in masking_accuracy.py, pattern recognizers only), and of `mask("tokenize", ...)`. Usage:

    .venv/bin/python bench/masking_throughput.py [--rows 1000000] [--small 100000] [--repeat 3]
    .venv/bin/python bench/masking_throughput.py --rows 100000 --small 20000 --repeat 1   # quick

Row g is customer g (only the names repeat within a memo's reach); ``--customers N`` draws each
row's sensitive values from N customers instead, to measure masking of repeating values.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _harness as h
import asyncpg
import psycopg
from streaming import cpu_seconds

from wardgate.devdb import PgInstance

DBNAME = "bench"
KEY_ENV = "BENCH_MASK_KEY"
MASK_KEY = "wardgate-bench-masking-key-0123456789abcdef"  # >= 32 bytes, fixed: same tokens per run
MASKING_CONFIG = f'masking: {{keys: {{k1: "env:{KEY_ENV}"}}, current: k1, catalog_ttl: 86400}}\n'
SENSITIVE = ("full_name", "email", "phone", "card_number", "iban", "date_of_birth")
COLUMNS = ("id", *SENSITIVE[:6], "amount", "status", "created_at")  # table order
ENTITY_OF = {
    "full_name": "person",
    "email": "email",
    "phone": "phone",
    "card_number": "card_number",
    "iban": "iban",
    "date_of_birth": "date_of_birth",
}
TYPE_OF = {"date_of_birth": "date"}

_RULE = (
    "rules:\n"
    "  - id: bench-read\n"
    "    match: {groups: [bench], statement_kinds: [read, export, utility, transaction, session]}\n"
    "    effect: allow\n"
)
_TOKENIZE = f"      - {{columns: [{', '.join(SENSITIVE)}], operator: tokenize}}\n"
POLICIES: dict[str, str | None] = {
    "nopolicy": None,
    "pass": _RULE,
    "tokenize": _RULE + "    mask:\n" + _TOKENIZE,
    "partial": _RULE
    + "    mask:\n"
    + "      - {columns: [email, phone, card_number, iban], operator: partial}\n"
    + "      - {columns: [full_name, date_of_birth], operator: redact}\n",
    "scan": _RULE
    + "    mask:\n"
    + _TOKENIZE
    + "      - {entities: [person, email, phone, card_number, iban, date_of_birth],"
    " operator: tokenize}\n",
}
MASKED = ("tokenize", "partial", "scan")


@dataclass(frozen=True, slots=True)
class Variant:
    target: str  # "direct" or a policy name
    table: str
    client: str  # psycopg | asyncpg | copy
    group: str

    @property
    def label(self) -> str:
        return f"{self.table}/{self.client}/{self.target}"


def variants(groups: Sequence[str]) -> list[Variant]:
    out: list[Variant] = []
    if "main" in groups:
        for t in ("direct", "nopolicy", "pass", "tokenize", "partial", "scan"):
            out.append(Variant(t, "customers", "psycopg", "main"))
    if "notes" in groups:
        for t in ("direct", "pass", "scan"):
            out.append(Variant(t, "customers_notes", "psycopg", "notes"))
    for client in ("asyncpg", "copy"):
        if client in groups:
            for t in ("direct", "pass", "tokenize"):
                out.append(Variant(t, "customers", client, client))
    return out


@dataclass
class Measurement:
    rows: int
    variant: Variant
    seconds: list[float] = field(default_factory=list)
    gateway_cpu: list[float] = field(default_factory=list)
    median_s: float = 0.0
    rows_per_s: float = 0.0
    ratio_to_direct: float | None = None
    ratio_to_pass: float | None = None
    gateway_cpu_s: float | None = None
    changed_columns: list[str] | None = None
    notes_changed: dict[str, str] | None = None  # kind of note -> "changed/checked"
    error: str | None = None


# ---------------------------------------------------------------------------------------- data

_FIRST = [
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger",
    "Radia", "John", "Hedy", "Tim", "Karen", "Donald", "Katherine", "Claude", "Shafi", "Leslie",
    "Sophie", "Niklaus", "Jean", "Fernando", "Lucia", "Mateo", "Chloe", "Yusuf", "Priya", "Hiro",
    "Ingrid", "Pavel", "Amara", "Diego", "Elena", "Omar", "Freya", "Tomasz", "Aisha", "Lars",
]  # fmt: skip
_LAST = [
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
    "Allen", "Dijkstra", "Perlman", "McCarthy", "Lamarr", "Berners-Lee", "Jones", "Knuth",
    "Johnson", "Shannon", "Goldwasser", "Lamport", "Wilson", "Wirth", "Sammet", "Corbato",
    "Garcia", "Rossi", "Martin", "Demir", "Sharma", "Tanaka", "Larsen", "Novak", "Okafor",
    "Alvarez", "Petrova", "Haddad", "Nilsen", "Kowalski", "Rahman", "Berg",
]  # fmt: skip


def _array(words: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join("'" + w.replace("'", "''") + "'" for w in words) + "]"


def create_tables(conninfo: str, rows: int, notes: bool, customers: int = 0) -> None:
    """``customers`` > 0: the six sensitive columns of row g are those of customer c, drawn
    uniformly at random (seeded) from 1..customers, as in an orders table joined with its
    customers; id, amount, status and created_at stay per row. 0: every row its own customer."""
    first, last, nf, nl = _array(_FIRST), _array(_LAST), len(_FIRST), len(_LAST)
    pick = f"1 + floor(random() * {int(customers)})::bigint" if customers > 0 else "g"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS customers, customers_notes")
        # Luhn check digit appended to a digit string (position 1 from the right is doubled)
        conn.execute(
            "CREATE OR REPLACE FUNCTION luhn(body text) RETURNS text LANGUAGE sql IMMUTABLE AS $$"
            " SELECT body || ((10 - sum(CASE WHEN i % 2 = 1 THEN (2 * x) / 10 + (2 * x) % 10"
            " ELSE x END) % 10) % 10)::text"
            " FROM (SELECT i, substr(reverse(body), i, 1)::int AS x"
            " FROM generate_series(1, length(body)) AS i) AS d $$"
        )
        conn.execute(
            "CREATE TABLE customers (id bigint PRIMARY KEY, full_name text NOT NULL,"
            " email text NOT NULL, phone text NOT NULL, card_number text NOT NULL,"
            " iban text NOT NULL, date_of_birth date NOT NULL, amount numeric(12,2) NOT NULL,"
            " status text NOT NULL, created_at timestamptz NOT NULL)"
        )
        conn.execute("SELECT setseed(0.42)")  # the same customers in every run
        conn.execute(
            "INSERT INTO customers SELECT g, f || ' ' || l,"
            " lower(f) || '.' || lower(replace(l, '-', '')) || (c % 997)::text || '@'"
            " || (ARRAY['example.com', 'mail.example.org', 'corp.example.net'])[1 + c % 3],"
            " '+1 (' || (201 + c % 700)::text || ') ' || (201 + (c * 7) % 700)::text || '-'"
            " || lpad(((c * 13) % 10000)::text, 4, '0'),"
            " luhn('4' || lpad(((c * 104729) % 100000000000000)::text, 14, '0')),"
            " 'DE' || lpad((98 - (bban || '131400')::numeric % 97)::text, 2, '0') || bban,"
            " date '1950-01-01' + ((c * 37) % 20000)::int,"
            " ((g * 7919) % 1000000) / 100.0,"
            " (ARRAY['paid', 'pending', 'refunded', 'failed', 'shipped'])[1 + g % 5],"
            " timestamptz '2024-01-01' + g * interval '1 second'"
            f" FROM (SELECT g, c, ({first})[1 + c % {nf}] AS f,"
            f" ({last})[1 + (c / {nf}) % {nl}] AS l,"
            " lpad(((c * 7919 + 12345) % 1000000000000000000)::text, 18, '0') AS bban"
            f" FROM (SELECT g, {pick} AS c FROM generate_series(1::bigint, {int(rows)}) AS g) AS r)"
            " AS s"
        )
        conn.execute("VACUUM ANALYZE customers")
        _log_size(conn, "customers", rows)
        if notes:
            conn.execute(
                "CREATE TABLE customers_notes AS SELECT c.*, CASE id % 8"
                " WHEN 1 THEN 'Sent the invoice copy to ' || email || ' as requested.'"
                " WHEN 2 THEN 'Asked to be called back on ' || phone || ' after 5pm.'"
                " WHEN 3 THEN 'Spoke with ' || full_name || ' about the late delivery.'"
                " WHEN 4 THEN 'Order ' || id || ' delivered on ' || created_at::date || '.'"
                " ELSE 'Customer satisfied with the packaging; no follow-up needed.'"
                " END AS notes FROM customers c ORDER BY id"
            )
            conn.execute("ALTER TABLE customers_notes ADD PRIMARY KEY (id)")
            conn.execute("VACUUM ANALYZE customers_notes")
            _log_size(conn, "customers_notes", rows)


def _log_size(conn: psycopg.Connection[Any], table: str, rows: int) -> None:
    size = conn.execute(f"SELECT pg_size_pretty(pg_total_relation_size('{table}'))").fetchone()
    h.log(f"table {table}: {rows} rows, {size[0] if size else '?'}")


# --------------------------------------------------------------------------------- streaming


def _select(table: str) -> str:
    return f"SELECT * FROM {table} LIMIT %s"


def stream_psycopg(ep: h.Endpoint, table: str, n: int, chunk: int) -> int:
    count = 0
    with psycopg.connect(ep.conninfo()) as conn, conn.cursor() as cur:
        for _row in cur.stream(_select(table), (n,), size=chunk):
            count += 1
    return count


async def _asyncpg_stream(ep: h.Endpoint, table: str, n: int, chunk: int) -> int:
    conn = await asyncpg.connect(
        host=ep.host, port=ep.port, user=ep.user, password=ep.password, database=ep.dbname,
        ssl=False, timeout=10,
    )  # fmt: skip
    count = 0
    try:
        async with conn.transaction():
            async for _row in conn.cursor(f"SELECT * FROM {table} LIMIT $1", n, prefetch=chunk):
                count += 1
    finally:
        await conn.close()
    return count


def stream_asyncpg(ep: h.Endpoint, table: str, n: int, chunk: int) -> int:
    return asyncio.run(_asyncpg_stream(ep, table, n, chunk))


def stream_copy(ep: h.Endpoint, table: str, n: int, chunk: int) -> int:
    count = 0
    sql = f"COPY (SELECT * FROM {table} LIMIT {int(n)}) TO STDOUT"
    with psycopg.connect(ep.conninfo()) as conn, conn.cursor() as cur, cur.copy(sql) as copy:
        for data in copy:
            count += bytes(data).count(b"\n")
    return count


STREAMS: dict[str, Callable[[h.Endpoint, str, int, int], int]] = {
    "psycopg": stream_psycopg,
    "asyncpg": stream_asyncpg,
    "copy": stream_copy,
}


def first_rows(ep: h.Endpoint, v: Variant, n: int = 800) -> list[tuple[str | None, ...]]:
    """The first rows of the variant's query, every value as text, for the masked-columns check."""
    if v.client == "asyncpg":

        async def go() -> list[tuple[str | None, ...]]:
            conn = await asyncpg.connect(
                host=ep.host, port=ep.port, user=ep.user, password=ep.password,
                database=ep.dbname, ssl=False, timeout=10,
            )  # fmt: skip
            try:
                rows = await conn.fetch(f"SELECT * FROM {v.table} LIMIT $1", n)
            finally:
                await conn.close()
            return [tuple(None if x is None else str(x) for x in r) for r in rows]

        return asyncio.run(go())
    with psycopg.connect(ep.conninfo()) as conn, conn.cursor() as cur:
        if v.client == "copy":
            out = []
            with cur.copy(f"COPY (SELECT * FROM {v.table} LIMIT {n}) TO STDOUT") as copy:
                for data in copy:
                    for line in bytes(data).decode().splitlines():
                        out.append(tuple(None if x == "\\N" else x for x in line.split("\t")))
            return out
        cur.execute(_select(v.table), (n,))
        names = [d.name for d in cur.description or ()]
        h.log(f"{v.label}: columns {', '.join(names)}")
        return [tuple(None if x is None else str(x) for x in r) for r in cur.fetchall()]


def changed_columns(
    direct: list[tuple[str | None, ...]], masked: list[tuple[str | None, ...]], names: list[str]
) -> list[str]:
    if len(direct) != len(masked):
        return [f"<{len(masked)} rows, expected {len(direct)}>"]
    return [
        name
        for i, name in enumerate(names)
        if any(a[i] != b[i] for a, b in zip(direct, masked, strict=True))
    ]


NOTE_KINDS = {1: "email", 2: "phone", 3: "person", 4: "order+date", 0: "plain"}


def notes_changed(
    direct: list[tuple[str | None, ...]], masked: list[tuple[str | None, ...]]
) -> dict[str, str]:
    """How many notes of each kind (see create_tables) the gateway changed."""
    col = len(COLUMNS)  # notes is the last column
    changed: dict[str, list[int]] = {k: [0, 0] for k in NOTE_KINDS.values()}
    for a, b in zip(direct, masked, strict=False):
        kind = NOTE_KINDS.get(int(a[0] or 0) % 8, "plain")
        changed[kind][1] += 1
        changed[kind][0] += a[col] != b[col]
    return {k: f"{c}/{n}" for k, (c, n) in changed.items()}


# --------------------------------------------------------------------------------- gateways


def start_gateways(
    stack: contextlib.ExitStack,
    inst: PgInstance,
    policy_root: Path,
    needed: Sequence[str],
    n: int,
    profile_dir: Path | None,
) -> dict[str, tuple[h.Endpoint, subprocess.Popen[str]]]:
    out = {}
    for name in needed:
        text = POLICIES[name]
        policy_dir = None
        if text is not None:
            policy_dir = policy_root / name
            policy_dir.mkdir(exist_ok=True)
            (policy_dir / "bench.yaml").write_text(text)
        wrapper: list[str] = []
        if profile_dir is not None:
            out_file = profile_dir / f"{name}-{n}.prof"
            wrapper = [sys.executable, "-m", "cProfile", "-o", str(out_file)]
        out[name] = h.start_gateway(
            stack, inst, DBNAME, policy_dir=policy_dir, groups=["bench"],
            extra_config=MASKING_CONFIG, extra_env={KEY_ENV: MASK_KEY}, wrapper=wrapper,
        )  # fmt: skip
    return out


def measure_size(
    inst: PgInstance, direct: h.Endpoint, n: int, vs: list[Variant], ns: argparse.Namespace
) -> tuple[list[Measurement], dict[str, tuple[int, int]]]:
    results = [Measurement(n, v) for v in vs]
    memory: dict[str, tuple[int, int]] = {}
    needed = sorted({v.target for v in vs if v.target != "direct"}, key=list(POLICIES).index)
    with contextlib.ExitStack() as gw_stack:  # fresh gateways per size, so VmHWM is per size
        policy_root = h._temp_dir(gw_stack, "wardgate-bench-mask-policy-")
        gws = start_gateways(gw_stack, inst, policy_root, needed, n, ns.cprofile)
        idle = {}
        for name, (ep, proc) in gws.items():  # warm-up: catalog read, plans; then idle peak
            with psycopg.connect(ep.conninfo()) as conn:
                conn.execute("SELECT * FROM customers LIMIT 10").fetchall()
            idle[name] = h.peak_rss_kib(proc.pid)
        reference: dict[tuple[str, str], list[tuple[str | None, ...]]] = {}
        for m in results:  # which columns does each target change? (first rows vs direct)
            v = m.variant
            key = (v.table, v.client)
            ep = direct if v.target == "direct" else gws[v.target][0]
            try:
                rows = first_rows(ep, v)
            except (psycopg.Error, asyncpg.PostgresError, OSError) as exc:
                m.error = f"{type(exc).__name__}: {exc}"
                h.log(f"{v.label}: FAILED {m.error}")
                continue
            if v.target == "direct":
                reference[key] = rows
            else:
                names = [*COLUMNS, "notes"] if v.table == "customers_notes" else list(COLUMNS)
                m.changed_columns = changed_columns(reference[key], rows, names)
                if v.table == "customers_notes":
                    m.notes_changed = notes_changed(reference[key], rows)
        step = 0
        for rnd in range(ns.repeat):
            for _ in range(len(results)):
                m = results[step % len(results)]  # rotate: a different first target each round
                step += 1
                if m.error:
                    continue
                v = m.variant
                gw_proc: subprocess.Popen[str] | None = None
                ep = direct
                if v.target != "direct":
                    ep, gw_proc = gws[v.target]
                cpu0 = cpu_seconds(gw_proc.pid) if gw_proc else 0.0
                t0 = time.perf_counter()
                try:
                    got = STREAMS[v.client](ep, v.table, n, ns.chunk)
                except (psycopg.Error, asyncpg.PostgresError, OSError) as exc:
                    m.error = f"{type(exc).__name__}: {exc}"
                    h.log(f"{v.label} n={n}: FAILED {m.error}")
                    continue
                m.seconds.append(time.perf_counter() - t0)
                if gw_proc:
                    m.gateway_cpu.append(cpu_seconds(gw_proc.pid) - cpu0)
                if got != n:
                    m.error = f"expected {n} rows, got {got}"
                h.log(f"round {rnd + 1}/{ns.repeat} {v.label:34} n={n:>8}: {m.seconds[-1]:.3f} s")
            step += 1
        for name, (_, proc) in gws.items():
            memory[name] = (idle[name], h.peak_rss_kib(proc.pid))
    for m in results:
        if m.seconds:
            m.median_s = statistics.median(m.seconds)
            m.rows_per_s = n / m.median_s
        if m.gateway_cpu:
            m.gateway_cpu_s = statistics.median(m.gateway_cpu)
    by = {(m.variant.table, m.variant.client, m.variant.target): m for m in results}
    for m in results:
        v = m.variant
        base = by.get((v.table, v.client, "direct"))
        passed = by.get((v.table, v.client, "pass"))
        if m.median_s and base and base.median_s:
            m.ratio_to_direct = base.median_s / m.median_s
        if m.median_s and passed and passed.median_s and v.target != "direct":
            m.ratio_to_pass = passed.median_s / m.median_s
    return results, memory


# -------------------------------------------------------------------------------- per value


def micro(conninfo: str, ns: argparse.Namespace) -> list[dict[str, Any]]:
    """CPU microseconds per value: Detector.find, Presidio analyze, and tokenize."""
    from wardgate.masking.detect import Detector
    from wardgate.masking.operators import Keyring, MaskContext, mask

    table = "customers_notes" if "notes" in ns.groups else "customers"
    cols = [*SENSITIVE, "status"] + (["notes"] if table == "customers_notes" else [])
    with psycopg.connect(conninfo) as conn:  # ids spread by a prime step: every kind of note
        cur = conn.execute(
            f"SELECT {', '.join(c + '::text' for c in cols)} FROM {table} WHERE id IN"
            f" (SELECT 1 + (i * 7919) % {ns.rows} FROM generate_series(0, {ns.micro_values - 1}) i)"
        )
        sample = cur.fetchall()
    detector = Detector()
    engines: dict[str, Callable[[str, str], object]] = {
        "wardgate": lambda v, c: detector.find(v, column=c)
    }
    if not ns.no_presidio:
        from masking_accuracy import presidio_engine

        h.log("setting up Presidio (offline, pattern recognizers only) ...")
        engines["presidio"] = presidio_engine()
    keyring = Keyring(keys={"k1": MASK_KEY.encode()}, current="k1")
    rows: list[dict[str, Any]] = []
    for i, col in enumerate(cols):
        values = [r[i] for r in sample]
        row: dict[str, Any] = {"column": col, "values": len(values)}
        for name, run in engines.items():
            row[f"{name}_hits"] = sum(1 for v in values if run(v, col))  # also the warm-up
            row[f"{name}_us"] = _cpu_us(run, values, (col,), ns)
        if col in ENTITY_OF:
            ctx = MaskContext(entity=ENTITY_OF[col], type_name=TYPE_OF.get(col, "text"))
            row["tokenize_us"] = _cpu_us(
                lambda v, c, k: mask("tokenize", v, c, k), values, (ctx, keyring), ns
            )
        rows.append(row)
        h.log(f"micro {col}: {row}")
    return rows


def _cpu_us(
    fn: Callable[..., object], values: list[str], args: tuple[Any, ...], ns: argparse.Namespace
) -> float:
    """Median CPU microseconds per ``fn(value, *args)`` over --micro-rounds rounds."""
    for v in values:  # warm
        fn(v, *args)
    per_round = []
    for _ in range(ns.micro_rounds):
        t0 = time.process_time()
        for v in values:
            fn(v, *args)
        per_round.append((time.process_time() - t0) / len(values) * 1e6)
    return statistics.median(per_round)


def print_micro(rows: list[dict[str, Any]], ns: argparse.Namespace) -> None:
    presidio = not ns.no_presidio
    print(
        f"per value, CPU us (median of {ns.micro_rounds} rounds over {rows[0]['values']} values"
        " sampled from the table; detectors get the column name as context)"
    )
    head = f"{'column':<14} {'find us':>8} {'hits':>5}"
    if presidio:
        head += f" {'presidio us':>12} {'hits':>5} {'presidio/find':>14}"
    head += f" {'tokenize us':>12}"
    print(head)
    for r in rows:
        line = f"{r['column']:<14} {r['wardgate_us']:8.2f} {r['wardgate_hits']:5}"
        if presidio:
            ratio = r["presidio_us"] / r["wardgate_us"]
            line += f" {r['presidio_us']:12.1f} {r['presidio_hits']:5} {ratio:13.1f}x"
        tok = f"{r['tokenize_us']:12.2f}" if "tokenize_us" in r else f"{'-':>12}"
        print(line + " " + tok)
    six = [r for r in rows if r["column"] in ENTITY_OF]
    find6 = sum(r["wardgate_us"] for r in six)
    tok6 = sum(r["tokenize_us"] for r in six)
    print(f"six sensitive columns, one row: find {find6:.1f} us, tokenize {tok6:.1f} us", end="")
    if presidio:
        pres6 = sum(r["presidio_us"] for r in six)
        print(f", presidio {pres6:.0f} us ({pres6 / find6:.0f}x find)")
    else:
        print()


# ----------------------------------------------------------------------------------- report


def print_report(
    ns: argparse.Namespace,
    facts: dict[str, str],
    results: list[Measurement],
    memory: dict[int, dict[str, tuple[int, int]]],
) -> None:
    print(f"machine: nproc={facts['nproc']} cpu={facts['cpu']} python={facts['python']}")
    print(f"postgres: {facts['postgres']}")
    print(f"load average: start {facts['loadavg']}, end {facts['loadavg_end']}")
    if ns.customers:
        print(f"data: sensitive columns of {ns.customers} customers, repeated over the rows")
    print(
        f"clients: psycopg {psycopg.__version__} (libpq {psycopg.pq.version()}) text,"
        f" asyncpg {asyncpg.__version__} binary; chunk {ns.chunk} rows; median of {ns.repeat}"
    )
    print()
    head = (
        f"{'rows':>8} {'table/client':<24} {'target':<9} {'median s':>9} {'rows/s':>9}"
        f" {'/direct':>8} {'/pass':>6} {'gw cpu s':>9} {'gw us/row':>10}"
    )
    print(head)
    print("-" * len(head))
    for m in results:
        v = m.variant
        where = f"{v.table}/{v.client}"
        if not m.seconds:
            print(f"{m.rows:>8} {where:<24} {v.target:<9} {'FAILED':>9}")
            continue
        rd = f"{m.ratio_to_direct:8.2f}" if m.ratio_to_direct is not None else f"{'-':>8}"
        rp = f"{m.ratio_to_pass:6.2f}" if m.ratio_to_pass is not None else f"{'-':>6}"
        cpu = f"{m.gateway_cpu_s:9.2f}" if m.gateway_cpu_s is not None else f"{'-':>9}"
        per = f"{m.gateway_cpu_s / m.rows * 1e6:10.2f}" if m.gateway_cpu_s else f"{'-':>10}"
        print(
            f"{m.rows:>8} {where:<24} {v.target:<9} {m.median_s:9.3f} {m.rows_per_s:9.0f}"
            f" {rd} {rp} {cpu} {per}"
        )
    print()
    print("gateway peak RSS (VmHWM), MiB: idle = after a warm-up query; after = after the streams")
    sizes = sorted(memory)
    print(f"{'gateway':<9} " + " ".join(f"{f'idle {n}':>12} {f'after {n}':>13}" for n in sizes))
    for name in POLICIES:
        cells = [memory[n].get(name) for n in sizes]
        if all(c is None for c in cells):
            continue
        line = f"{name:<9} "
        for c in cells:
            line += f"{c[0] / 1024:12.1f} {c[1] / 1024:13.1f} " if c else f"{'-':>12} {'-':>13} "
        print(line.rstrip())
    print()
    print("columns changed through each gateway (first 800 rows compared with direct):")
    seen = set()
    for m in results:
        v = m.variant
        if v.target == "direct" or m.changed_columns is None or v.label in seen:
            continue
        seen.add(v.label)
        print(f"  {v.label:34} {', '.join(m.changed_columns) or '(none)'}")
        if m.notes_changed:
            kinds = ", ".join(f"{k} {c}" for k, c in m.notes_changed.items())
            print(f"  {'':34} notes changed by kind: {kinds}")
    for m in results:
        if m.error:
            print(f"note: {m.variant.label} n={m.rows}: {m.error.splitlines()[0][:300]}")
    largest = [m for m in results if m.rows == max(memory) and m.ratio_to_pass is not None]
    masked = [m for m in largest if m.variant.target in MASKED]
    if masked:
        print()
        for m in masked:
            verdict = "MET" if (m.ratio_to_pass or 0) >= 0.5 else "NOT MET"
            print(
                f"target masked >= 0.5x pass-through: {verdict:7} {m.variant.label:34}"
                f" {m.ratio_to_pass:.2f}x pass-through, {m.ratio_to_direct or 0:.2f}x direct"
            )


def print_profiles(profile_dir: Path, top: int) -> None:
    """Per masked gateway: busy time, where the masking goes (cumulative), and top own-time."""
    import pstats

    watch = (
        ("masking/_masker.py", "row"), ("masking/_values.py", "rewrite"),
        ("operators/_base.py", "mask"), ("operators/_memo.py", "memoized"),
        ("operators/_base.py", "encoded"), ("masking/_ff1.py", "encrypt_int"),
        ("detect/_detector.py", "find"), ("pgwire/_codec.py", "_fast_data_row"),
    )  # fmt: skip
    for path in sorted(profile_dir.glob("*.prof")):
        if path.stem.split("-")[0] not in MASKED:
            continue
        stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
        items = []
        for (file, line, func), (_cc, calls, own, cum, _callers) in stats.items():
            short = (
                "wardgate/" + file.split("/src/wardgate/", 1)[1]
                if "/src/wardgate/" in file
                else file
            )
            where = f"{short}:{line}({func})"
            items.append((where, (file, func), calls, own, cum))
        total = sum(i[3] for i in items)
        idle = sum(i[3] for i in items if i[0].endswith("(run)") and "asyncio/runners" in i[0])
        busy = total - idle
        print(f"\ncProfile of gateway {path.stem}: {busy:.2f} s busy, not counting the")
        print(f"{idle:.2f} s own time of asyncio.run (waiting, and uvloop's C code)")
        print("  cumulative time, share of busy:")
        for suffix, name in watch:
            for where, (file, func), calls, _own, cum in items:
                if file.endswith(suffix) and func == name:
                    print(f"  {cum:7.2f} s {cum / busy:6.1%} {calls:>9} calls  {where}")
                    break
        print(f"  top {top} by own time:")
        ranked = sorted((i for i in items if not i[0].endswith("runners.py:86(run)")),
                        key=lambda i: -i[3])  # fmt: skip
        for where, _short, calls, own, cum in ranked[:top]:
            print(f"  {own:7.2f} s {own / busy:6.1%} {calls:>9} calls  (cum {cum:6.2f} s)  {where}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="table size / large result")
    ap.add_argument("--small", type=int, default=100_000, help="small result size (0: skip)")
    ap.add_argument("--repeat", type=int, default=3, help="streams per target and size")
    ap.add_argument("--chunk", type=int, default=1000, help="rows per fetch (stream size/prefetch)")
    ap.add_argument(
        "--groups",
        nargs="+",
        default=["main", "notes", "asyncpg", "copy"],
        choices=["main", "notes", "asyncpg", "copy"],
        help="main: psycopg SELECT on customers, every policy; notes: customers_notes"
        " direct/pass/scan; asyncpg, copy: direct/pass/tokenize with that client",
    )
    ap.add_argument(
        "--customers",
        type=int,
        default=0,
        help="draw the sensitive columns of each row from this many customers (uniformly at"
        " random, seeded), as an orders table joined with customers would repeat them;"
        " 0 (default): every row a different customer",
    )
    ap.add_argument("--micro-values", type=int, default=300, help="values per column (part 1)")
    ap.add_argument("--micro-rounds", type=int, default=5, help="rounds per column (part 1)")
    ap.add_argument("--no-presidio", action="store_true", help="part 1 without Presidio")
    ap.add_argument("--no-micro", action="store_true", help="skip part 1")
    ap.add_argument("--micro-only", action="store_true", help="skip the streams")
    ap.add_argument(
        "--cprofile",
        type=Path,
        metavar="DIR",
        help="run every gateway under cProfile, write DIR/<policy>-<rows>.prof and print the top"
        " functions of the masked ones (slows the gateways: figures are not comparable)",
    )
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ns = ap.parse_args()
    h.install_sigterm_handler()
    if ns.cprofile:
        ns.cprofile.mkdir(parents=True, exist_ok=True)
    vs = variants(ns.groups)
    results: list[Measurement] = []
    memory: dict[int, dict[str, tuple[int, int]]] = {}
    micro_rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        pg, inst = h.start_postgres(stack, {"max_connections": "50", "shared_buffers": "1GB"})
        pg.run_sql(f"CREATE DATABASE {DBNAME}")
        direct = h.direct_endpoint(inst, DBNAME)
        facts = h.machine_facts(pg)
        h.log(f"load average at start: {facts['loadavg']}")
        create_tables(direct.conninfo(), ns.rows, "notes" in ns.groups, ns.customers)
        if not ns.no_micro:
            micro_rows = micro(direct.conninfo(), ns)
        if not ns.micro_only:
            for table in {v.table for v in vs}:  # warm caches; not measured
                stream_psycopg(direct, table, ns.rows, ns.chunk)
            for n in [x for x in (ns.small, ns.rows) if x > 0]:
                got, memory[n] = measure_size(inst, direct, n, vs, ns)
                results.extend(got)
    facts["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if micro_rows:
        print_micro(micro_rows, ns)
        print()
    if results:
        print_report(ns, facts, results, memory)
    else:
        print(f"load average: start {facts['loadavg']}, end {facts['loadavg_end']}")
    if ns.cprofile:
        print_profiles(ns.cprofile, 15)
    if ns.json:
        payload = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "argv": sys.argv,
            "machine": facts,
            "psycopg": psycopg.__version__,
            "asyncpg": asyncpg.__version__,
            "micro": micro_rows,
            "results": [asdict(m) for m in results],
            "memory_kib": {str(n): mem for n, mem in memory.items()},
        }
        ns.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if all(m.error is None for m in results) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        h.log("interrupted; everything started was stopped")
        sys.exit(130)
