"""Text forms shared by the doors (CLI now, REST API later): times, ages, one-line summaries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

from ._query import StoredEvent

__all__ = ["parse_duration", "parse_time", "summary"]

_DURATION: Final = re.compile(r"^(\d+)([smhdw])$")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``45s``, ``2w``."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 90d, 12h, 30m")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_time(text: str) -> int:
    """An ISO 8601 time (UTC unless it says otherwise) or a duration ago; microseconds."""
    try:
        return int((datetime.now(UTC) - parse_duration(text)).timestamp() * 1_000_000)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO 8601 time nor a duration") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


def _cut(text: str, width: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def summary(event: StoredEvent) -> str:
    """One line for a human: what happened, without the whole body."""
    d = event.data
    kind = event.type
    if kind == "session.started":
        where = f" from {d['client_addr']}" if d.get("client_addr") else ""
        app = f" ({d['application_name']})" if d.get("application_name") else ""
        return f"{d['user']} -> {d['connection']}{where}{app} auth={d.get('auth_method', '')}"
    if kind == "session.ended":
        seconds = d.get("duration_us", 0) / 1e6
        return (
            f"{d['user']} {d['reason']} after {d.get('statements', 0)} statements, {seconds:.1f}s"
        )
    if kind == "statement.intent":
        decision = d.get("decision", {})
        rules = ",".join(decision.get("rules", [])) or "default"
        return (
            f"#{d['statement_seq']} {d['user']}@{d['connection']} "
            f"{decision.get('effect')} [{rules}] {_cut(d.get('text', ''))}"
        )
    if kind == "statement.outcome":
        masking = d.get("masking", {})
        masked = f" masked={','.join(masking['columns'])}" if masking.get("columns") else ""
        state = f" sqlstate={d['sqlstate']}" if d.get("sqlstate") else ""
        return (
            f"#{d['statement_seq']} {d['status']} rows={d.get('rows')} "
            f"{d.get('duration_us', 0) / 1000:.1f}ms{state}{masked}"
        )
    if kind == "statement.result":
        cut = " (truncated)" if d.get("truncated") else ""
        return f"#{d['statement_seq']} {len(d.get('captured', []))} rows captured{cut}"
    skip = {"type", "v", "at", "durability"}
    return " ".join(f"{k}={v}" for k, v in d.items() if k not in skip)
