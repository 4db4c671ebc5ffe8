"""Impact preview for reviewers: what a held statement would do, before anyone approves it.

``plan``: the planner's estimate (``EXPLAIN``, which runs nothing): for a write, the rows the
scan under the ModifyTable node expects and the table it changes. ``count``: the exact number of
rows affected, by running the statement inside a transaction that is then rolled back. That runs
the statement's triggers and takes its locks for the moment it runs, so policy asks for it
explicitly (``preview: count``), and a statement timeout bounds it.

Both run on a connection of their own with the gateway's credentials, never on the client's
session (whose transaction state the client owns). A preview that fails says why; it never
blocks the review.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

from wardgate import pgwire as pw
from wardgate.config import ConnectionConfig

from .upstream import UpstreamError, connect_upstream

__all__ = ["impact"]

log = logging.getLogger("wardgate.proxy")

_TIMEOUT = 30.0
_COUNT_TIMEOUT_MS = 10_000


async def impact(
    cfg: ConnectionConfig,
    sql: str,
    params: Sequence[str | None],
    kinds: frozenset[str],
    mode: str,
    max_message_size: int = 64 * 1024 * 1024,
) -> str:
    """One line for the review; never raises (a failure is the preview's text)."""
    if any(p is not None and p.startswith("\\") for p in params):
        return "no preview: the statement has binary parameters"
    try:
        return await asyncio.wait_for(
            _impact(cfg, sql, params, kinds, mode, max_message_size), timeout=_TIMEOUT
        )
    except TimeoutError:
        return "no preview: the estimate took too long"
    except (UpstreamError, pw.ProtocolError, OSError) as exc:
        return f"no preview: {exc}"


async def _impact(
    cfg: ConnectionConfig,
    sql: str,
    params: Sequence[str | None],
    kinds: frozenset[str],
    mode: str,
    max_message_size: int,
) -> str:
    startup = pw.StartupMessage(params=(("application_name", "wardgate-preview"),))
    up = await connect_upstream(cfg, startup, max_message_size=max_message_size)
    try:
        rows, _, error = await _run(up, _extended(f"EXPLAIN (FORMAT JSON, VERBOSE) {sql}", params))
        if error is not None:
            return f"no plan preview: {error.message}"
        plan = _plan_line(rows)
        if mode != "count" or "write" not in kinds:
            return plan
        setup = pw.Query(
            sql=f"BEGIN; SET LOCAL statement_timeout = {_COUNT_TIMEOUT_MS}"
        )  # a constant: nothing of the client's goes into this text
        messages = [setup, *_extended(sql, params), pw.Query(sql="ROLLBACK")]
        _, tags, error = await _run(up, messages, readies=3)
        if error is not None:
            return f"{plan}; exact count failed: {error.message}"
        counted = next((t for t in reversed(tags) if t.split()[0] in _VERBS), None)
        if counted is None:
            return plan
        verb, n = _VERBS[counted.split()[0]], int(counted.split()[-1])
        return f"{plan}; exact: {verb} {n:,} rows (run in a transaction that was rolled back)"
    finally:
        if up.conn.phase is not pw.Phase.CLOSED:
            up.link.write(pw.encode(pw.Terminate()))
        await up.link.aclose()


_VERBS = {"DELETE": "deletes", "UPDATE": "updates", "INSERT": "inserts", "MERGE": "merges"}


def _extended(sql: str, params: Sequence[str | None]) -> list[pw.Message]:
    encoded = tuple(None if p is None else p.encode() for p in params)
    return [
        pw.Parse(name="", sql=sql),
        pw.Bind(portal="", statement="", params=encoded),
        pw.Execute(portal="", max_rows=0),
        pw.Sync(),
    ]


async def _run(
    up: Any, messages: list[pw.Message], readies: int = 1
) -> tuple[list[str], list[str], pw.ErrorResponse | None]:
    up.link.write(b"".join(up.conn.send(m) for m in messages))
    rows: list[str] = []
    tags: list[str] = []
    error: pw.ErrorResponse | None = None
    while readies:
        data = await up.link.read()
        if not data:
            raise UpstreamError("upstream closed during the preview")
        up.conn.receive_data(data)
        for msg in up.conn.next_events():
            if isinstance(msg, pw.DataRow) and msg.values and msg.values[0] is not None:
                rows.append(msg.values[0].decode())
            elif isinstance(msg, pw.CommandComplete):
                tags.append(msg.tag)
            elif isinstance(msg, pw.ErrorResponse) and error is None:
                error = msg
            elif isinstance(msg, pw.ReadyForQuery):
                readies -= 1
    return rows, tags, error


def _plan_line(rows: list[str]) -> str:
    try:
        plan = json.loads("\n".join(rows))[0]["Plan"]
    except (ValueError, LookupError, TypeError):
        return "no plan preview: unreadable plan"
    if plan.get("Node Type") == "ModifyTable":
        relation = ".".join(p for p in (plan.get("Schema"), plan.get("Relation Name")) if p)
        children = plan.get("Plans") or [plan]
        estimate = int(children[0].get("Plan Rows", 0))
        verb = _VERBS.get(str(plan.get("Operation", "")).upper(), "changes")
        return f"plan estimate: {verb} ~{estimate:,} rows of {relation or 'a table'}"
    return f"plan estimate: ~{int(plan.get('Plan Rows', 0)):,} rows ({plan.get('Node Type')})"
