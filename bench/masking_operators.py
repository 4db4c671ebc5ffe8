"""Per-value cost of the masking operators: microseconds per value, per operator, entity and type.

In this process, no database: each case masks --values distinct generated values (seeded, so runs
compare) through `wardgate.masking.operators.mask`, exactly as the proxy calls it per column value,
--passes times per round, for --rounds rounds. Reported: the median and the best round, in
microseconds of process CPU time per value, and for reference the bare FF1 call the
format-preserving cases are built on. The first
pass of each case is not timed (it fills FF1's per-(length, tweak) setup cache, as the first rows
of a result would). Usage:

    .venv/bin/python bench/masking_operators.py [--values 500] [--passes 4] [--rounds 7] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import string
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from wardgate.masking._ff1 import FF1
from wardgate.masking.operators import Keyring, MaskContext, MaskOptions, mask

Gen = Callable[[random.Random], str]


def _digits(r: random.Random, n: int) -> str:
    return "".join(r.choice(string.digits) for _ in range(n))


def _luhn(body: str) -> str:
    total = 0
    for k, c in enumerate(reversed(body)):
        d = int(c) * (2 if k % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def _grouped(card: str) -> str:
    return " ".join(card[i : i + 4] for i in range(0, len(card), 4))


def _iban(r: random.Random) -> str:
    bban = _digits(r, 18)
    check = 98 - int(bban + "131400") % 97  # DE = 13 14
    return f"DE{check:02d}{bban}"


def _word(r: random.Random, lo: int, hi: int) -> str:
    return "".join(r.choice(string.ascii_lowercase) for _ in range(r.randint(lo, hi)))


GENERATORS: dict[str, Gen] = {
    "email": lambda r: f"{_word(r, 4, 10)}.{_word(r, 3, 8)}@example.com",
    "phone": lambda r: f"+1 ({r.randint(200, 999)}) {_digits(r, 3)}-{_digits(r, 4)}",
    "card": lambda r: _grouped(_luhn("4" + _digits(r, 14))),
    "iban": _iban,
    "ssn": lambda r: f"{r.randint(1, 665):03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}",
    "person": lambda r: f"{_word(r, 3, 8).title()} {_word(r, 4, 10).title()}",
    "word8": lambda r: _word(r, 8, 8),
    "code10": lambda r: f"{_word(r, 3, 3).upper()}-{_digits(r, 6)}",
    "text200": lambda r: " ".join(_word(r, 2, 9) for _ in range(40))[:200],
    "int4": lambda r: str(r.randint(-(2**31), 2**31 - 1)),
    "int4small": lambda r: str(r.randint(0, 999)),
    "int8": lambda r: str(r.randint(-(2**63), 2**63 - 1)),
    "numeric": lambda r: f"{r.uniform(-1e6, 1e6):.2f}",
    "date": lambda r: f"{r.randint(1940, 2020)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
    "timestamptz": lambda r: (
        f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} "
        f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{_digits(r, 6)}+00"
    ),
    "uuid": lambda r: str(uuid.UUID(int=r.getrandbits(128), version=4)),
    "inet": lambda r: ".".join(str(r.randint(0, 255)) for _ in range(4)),
}

# (operator, entity, type, generator)
CASES: list[tuple[str, str | None, str, str]] = [
    ("tokenize", "email", "text", "email"),
    ("tokenize", "phone", "text", "phone"),
    ("tokenize", "card_number", "text", "card"),
    ("tokenize", "iban", "text", "iban"),
    ("tokenize", "us_ssn", "text", "ssn"),
    ("tokenize", "person", "text", "person"),
    ("tokenize", None, "text", "word8"),
    ("tokenize", None, "varchar", "code10"),
    ("tokenize", None, "text", "text200"),
    ("tokenize", None, "int4", "int4"),
    ("tokenize", None, "int4", "int4small"),
    ("tokenize", None, "int8", "int8"),
    ("tokenize", None, "numeric", "numeric"),
    ("tokenize", None, "date", "date"),
    ("tokenize", None, "timestamptz", "timestamptz"),
    ("tokenize", None, "uuid", "uuid"),
    ("tokenize", None, "inet", "inet"),
    ("fpe", "email", "text", "email"),
    ("fpe", "card_number", "text", "card"),
    ("fpe", "us_ssn", "text", "ssn"),
    ("fpe", None, "text", "word8"),
    ("fpe", None, "int8", "int8"),
    ("fpe", None, "date", "date"),
    ("fpe", None, "uuid", "uuid"),
    ("partial", "card_number", "text", "card"),
    ("partial", None, "int8", "int8"),
    ("redact", None, "text", "word8"),
    ("null", None, "text", "word8"),
]


def measure(fn: Callable[[], object], count: int, passes: int, rounds: int) -> list[float]:
    """CPU us per item for each round (``fn`` processes ``count`` items per call).

    Process CPU time, not wall time: the cost per value is CPU work, and on a shared machine
    wall time also counts the time other processes held the core.
    """
    fn()  # warm: FF1 setup cache, keyring memo
    per_round = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(passes):
            fn()
        per_round.append((time.process_time() - start) / (passes * count) * 1e6)
    return per_round


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=int, default=500)
    parser.add_argument("--passes", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    keyring = Keyring(keys={"bench": bytes(range(32))}, current="bench")
    rows: list[dict[str, object]] = []
    load_start = os.getloadavg()

    ff1 = FF1(bytes(range(32)), 10)
    rng = random.Random(1)
    nums = [rng.randrange(10**10) for _ in range(args.values)]
    ref = measure(
        lambda: [ff1.encrypt_int(x, 10, b"t") for x in nums], args.values, args.passes, args.rounds
    )
    rows.append(_row("FF1.encrypt_int (reference)", "-", "radix 10, 10 digits", ref))

    for operator, entity, type_name, gen in CASES:
        rng = random.Random(gen)
        values = [GENERATORS[gen](rng) for _ in range(args.values)]
        ctx = MaskContext(entity=entity, type_name=type_name, options=MaskOptions())

        def run(values: list[str] = values, ctx: MaskContext = ctx, op: str = operator) -> None:
            for v in values:
                mask(op, v, ctx, keyring)

        times = measure(run, len(values), args.passes, args.rounds)
        rows.append(_row(operator, entity or "-", f"{type_name} ({gen})", times))

    print(
        f"{'operator':28} {'entity':12} {'type (values)':26} {'median us':>10} {'best us':>8}"
        "  (CPU time per value)"
    )
    for row in rows:
        print(
            f"{row['operator']!s:28} {row['entity']!s:12} {row['type']!s:26}"
            f" {row['median_us']:>10.2f} {row['best_us']:>8.2f}"
        )
    facts = {
        "nproc": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "python": sys.version.split()[0],
        "kernel": platform.release(),
        "loadavg_start": " ".join(f"{x:.2f}" for x in load_start),
        "loadavg_end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "values": str(args.values),
        "passes": str(args.passes),
        "rounds": str(args.rounds),
    }
    print("  ".join(f"{k}={v}" for k, v in facts.items()))
    if args.json:
        args.json.write_text(json.dumps({"machine": facts, "rows": rows}, indent=2))


def _row(operator: str, entity: str, type_label: str, times: list[float]) -> dict[str, object]:
    return {
        "operator": operator,
        "entity": entity,
        "type": type_label,
        "median_us": statistics.median(times),
        "best_us": min(times),
        "rounds_us": times,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    main()
