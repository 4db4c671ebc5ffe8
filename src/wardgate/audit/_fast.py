"""Canonical bodies of the two per-statement events without the generic walk.

Every statement the gateway relays produces a `StatementIntent` and a `StatementOutcome`, so their
encoding is on the hot path: the generic `plain` + ``json.dumps(sort_keys=True)`` costs ~18 us for
an intent, most of it walking the nested facts and decision, which are the same objects for every
statement of one shape (the enforcer caches them). Here each of the two events is written out key
by key in sorted order with the C string encoder ``json.dumps`` itself uses, and the nested parts
are encoded once per object (memoised by identity). The result is byte-for-byte the generic
encoding: a property test compares them, and anything outside the expected types (a field that is
not a ``str``, an int out of range) makes the fast path decline and the generic one decide.
"""

from __future__ import annotations

from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any, Final

from ._events import SCHEMA_VERSION, Durability, StatementIntent, StatementOutcome

__all__ = ["FAST_BODIES", "Body"]

_INT_LIMIT: Final = 2**63
_enc: Callable[[str], str] = encode_basestring

# (body, session_id, user_name, connection, effect, kinds) or None to take the generic path.
Body = tuple[str, str | None, str | None, str | None, str | None, str | None]
_memo: dict[int, tuple[object, str]] = {}
_NO_MASKING: Final = '{"columns":[],"entities":{},"values":0}'
_MEMO_MAX: Final = 8192


def _part(obj: object, encode: Callable[[object], str]) -> str:
    """The canonical JSON of a nested part, once per object (kept alive while memoised)."""
    hit = _memo.get(id(obj))
    if hit is not None and hit[0] is obj:
        return hit[1]
    text = encode(obj)
    if len(_memo) >= _MEMO_MAX:
        _memo.clear()
    _memo[id(obj)] = (obj, text)
    return text


def _strs(values: Any) -> str | None:
    """A JSON array of strings (or nulls), or None if a member is something else."""
    out = []
    for v in values:
        if type(v) is str:
            out.append(_enc(v))
        elif v is None:
            out.append("null")
        else:
            return None
    return "[" + ",".join(out) + "]"


def _int(value: Any) -> str | None:
    if type(value) is int and -_INT_LIMIT < value < _INT_LIMIT:
        return str(value)
    return None


def _intent(
    ev: Any, at: int, durability: Durability, encode: Callable[[object], str]
) -> Body | None:
    if not (
        type(ev.session_id) is str
        and type(ev.user) is str
        and type(ev.connection) is str
        and type(ev.text) is str
        and type(ev.parameters) is tuple
        and type(ev.approvals) is tuple
    ):
        return None
    seq, when = _int(ev.statement_seq), _int(at)
    params, approvals = _strs(ev.parameters), _strs(ev.approvals)
    if seq is None or when is None or params is None or approvals is None or None in ev.approvals:
        return None
    facts, decision = ev.facts, ev.decision
    kinds = facts.kinds
    effect = decision.effect
    if type(effect) is not str or type(kinds) is not tuple:
        return None
    try:
        facts_json, decision_json = _part(facts, encode), _part(decision, encode)
    except (TypeError, ValueError):
        return None  # the generic path refuses it, naming the field from the event's root
    body = "".join(
        (
            '{"approvals":', approvals,
            ',"at":', when,
            ',"connection":', _enc(ev.connection),
            ',"decision":', decision_json,
            ',"durability":"', durability,
            '","facts":', facts_json,
            ',"parameters":', params,
            ',"session_id":', _enc(ev.session_id),
            ',"statement_seq":', seq,
            ',"text":', _enc(ev.text),
            ',"type":"statement.intent","user":', _enc(ev.user),
            ',"v":', str(SCHEMA_VERSION), "}",
        )
    )  # fmt: skip
    index_kinds = "," + ",".join(kinds) + "," if kinds else None
    return body, ev.session_id, ev.user, ev.connection, effect, index_kinds


def _outcome(
    ev: Any, at: int, durability: Durability, encode: Callable[[object], str]
) -> Body | None:
    if type(ev.session_id) is not str or type(ev.status) is not str:
        return None
    seq, when, duration = _int(ev.statement_seq), _int(at), _int(ev.duration_us)
    rows = "null" if ev.rows is None else _int(ev.rows)
    state = ev.sqlstate
    if type(state) is str:
        state = _enc(state)
    elif state is None:
        state = "null"
    else:
        return None
    if seq is None or when is None or duration is None or rows is None:
        return None
    m = ev.masking
    # Most results mask nothing; a summary that did is new for every statement: not memoised.
    try:
        masking = _NO_MASKING if not (m.columns or m.entities or m.values) else encode(m)
    except (TypeError, ValueError):
        return None
    body = "".join(
        (
            '{"at":', when,
            ',"durability":"', durability,
            '","duration_us":', duration,
            ',"masking":', masking,
            ',"rows":', rows,
            ',"session_id":', _enc(ev.session_id),
            ',"sqlstate":', state,
            ',"statement_seq":', seq,
            ',"status":', _enc(ev.status),
            ',"type":"statement.outcome","v":', str(SCHEMA_VERSION), "}",
        )
    )  # fmt: skip
    return body, ev.session_id, None, None, None, None


FAST_BODIES: Final[dict[type[Any], Callable[..., Body | None]]] = {
    StatementIntent: _intent,
    StatementOutcome: _outcome,
}
