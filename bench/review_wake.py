"""How fast a held statement's waiter learns that another process decided its review.

Two approvals services on one store, each with its own engine and connections, stand for two
gateway processes: B decides, A is waiting in `Approvals.wait`. Measured: the time from B's
decision returning to A's wait returning, on PostgreSQL (LISTEN/NOTIFY; polling set to a minute,
so only the notification can explain a fast wake) and on SQLite (polling at the configured
interval). Also the cost of creating a review and of one decision, as a baseline.

    python bench/review_wake.py [--rounds 30] [--poll 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from wardgate.approvals import Approvals, Approver, ReviewRequest, ReviewStore
from wardgate.devdb import EmbeddedPostgres

DBA = Approver(name="dora", groups=("dbas",))


async def _round(a: Approvals, b: Approvals, i: int) -> tuple[float, float, float]:
    request = ReviewRequest(
        requester="bob",
        connection="shop",
        statement=f"DELETE FROM shop.orders WHERE id = {i}",
        rules=("engineers-write-review",),
        approvers=("dbas",),
    )
    started = time.perf_counter()
    review = await a.request(request)
    created = time.perf_counter() - started
    waiting = asyncio.ensure_future(a.wait(review.id, limit=120))
    await asyncio.sleep(0.05)  # the waiter is parked
    started = time.perf_counter()
    await b.decide(review.id, DBA, "approve")
    decided_at = time.perf_counter()
    woke = await waiting
    assert woke.status == "approved"
    return created, decided_at - started, time.perf_counter() - decided_at


async def _measure(url: str, poll: float, rounds: int) -> dict[str, list[float]]:
    a = Approvals(await ReviewStore.open(url), poll_interval=poll)
    b = Approvals(await ReviewStore.open(url), poll_interval=poll)
    await a.start()
    await b.start()
    out: dict[str, list[float]] = {"create": [], "decide": [], "wake": []}
    try:
        for i in range(rounds):
            created, decided, woke = await _round(a, b, i)
            out["create"].append(created)
            out["decide"].append(decided)
            out["wake"].append(woke)
    finally:
        await a.aclose()
        await b.aclose()
    return out


def _line(name: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[max(0, round(0.95 * len(ms)) - 1)]
    median = statistics.median(ms)
    return f"  {name:<7} median {median:8.2f} ms   p95 {p95:8.2f} ms   max {ms[-1]:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--poll", type=float, default=0.5, help="SQLite poll interval (s)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        pg = EmbeddedPostgres()
        inst = pg.start()
        stack.callback(pg.stop)
        pg.run_sql("CREATE DATABASE reviews", database="postgres")
        pg_url = (
            f"postgresql+asyncpg://{inst.superuser}:{inst.password}@{inst.host}:{inst.port}/reviews"
        )
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        sqlite_url = f"sqlite+aiosqlite:///{tmp / 'reviews.db'}"
        for name, url, poll in (
            ("PostgreSQL, LISTEN/NOTIFY (poll 60 s)", pg_url, 60.0),
            (f"SQLite, polling every {args.poll:g} s", sqlite_url, args.poll),
        ):
            found = asyncio.run(_measure(url, poll, args.rounds))
            print(f"{name}, {args.rounds} rounds:")
            for key in ("create", "decide", "wake"):
                print(_line(key, found[key]))


if __name__ == "__main__":
    main()
