"""Canonical encoding of events and the hash chain over them.

Theory of operation
-------------------
An event's *body* is the canonical JSON of its fields plus the envelope (type, v, at, durability).
Canonical means one byte string per value: keys sorted by code point, no whitespace, UTF-8, only
null / true / false / integers (|n| < 2**63) / strings / arrays / objects. Floats are refused,
because their decimal form differs between JSON libraries; durations and times are integer
microseconds instead. Strings are escaped exactly as Python's ``json.dumps(ensure_ascii=False)``
does (``\\"``, ``\\\\``, ``\\n`` ``\\r`` ``\\t`` ``\\b`` ``\\f``, other C0 controls as
``\\u00xx``; everything else literal), which is the RFC 8259 minimal escaping.

Each stored event carries ``seq`` (1, 2, 3, ... with no gaps), ``prev_hash`` and ``hash``::

    hash(seq) = SHA-256( canonical({"event": BODY, "prev": hash(seq - 1), "seq": seq}) )

with ``hash(0)`` = 64 zeros (the genesis), lowercase hex. Since the keys sort as event < prev <
seq, the hashed bytes are ``{"event":`` BODY ``,"prev":"`` HEX ``","seq":`` N ``}``, so a
verifier hashes the stored body bytes without re-encoding them (`chain_hash`).

Binding ``seq`` and the previous hash into every hash is what makes a changed, removed, inserted
or reordered event visible: any of them breaks either a recomputed hash or a link. Who assigns
``seq`` and reads ``hash(seq - 1)`` — under a lock, so several processes form one chain — is the
store's business (`_store.py`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ._events import EVENT_TYPES, SCHEMA_VERSION, AuditEvent, Durability
from ._fast import FAST_BODIES

__all__ = [
    "GENESIS_HASH",
    "PreparedEvent",
    "canonical",
    "chain_hash",
    "index_columns",
    "plain",
    "prepare",
]

GENESIS_HASH: Final = "0" * 64
_INT_LIMIT: Final = 2**63


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


class _Refused(Exception):
    """Raised by the fast path; `_explain` then finds the offending value and says where."""


def _names(cls: type[Any]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _plain(value: Any) -> Any:
    """Check a value is in the canonical domain and return it as JSON-ready data (fast path).

    This runs for every recorded event, so it dispatches on exact types first and builds no
    error context; `_explain` does that when something is refused.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if -_INT_LIMIT < value < _INT_LIMIT:
            return value
        raise _Refused
    if kind is tuple or kind is list:
        return [_plain(v) for v in value]
    if kind is dict or isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if type(k) is not str:
                raise _Refused
            out[k] = _plain(v)
        return out
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _names(kind)}
    if isinstance(value, str):  # str enums and other subclasses: their plain text
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _plain(int(value))
    # Floats, bytes, datetimes...: no single canonical text, so not allowed in the hashed body.
    raise _Refused


def _explain(value: Any, path: str) -> None:
    """Raise TypeError/ValueError naming the first value `_plain` refuses."""
    if isinstance(value, tuple | list):
        for i, v in enumerate(value):
            _explain(v, f"{path}[{i}]")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{path}: object keys must be strings, not {type(k).__name__}")
            _explain(v, f"{path}.{k}")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for name in _names(type(value)):
            _explain(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, int) and not isinstance(value, bool):
        if not -_INT_LIMIT < value < _INT_LIMIT:
            raise ValueError(f"{path}: integer out of range")
    elif not (value is None or isinstance(value, str | bool)):
        raise TypeError(f"{path}: {type(value).__name__} is not allowed in an audit event")


def plain(value: Any) -> Any:
    """`value` as JSON-ready data; TypeError/ValueError (naming where) outside the domain."""
    try:
        return _plain(value)
    except _Refused:
        _explain(value, "$")
        raise TypeError("value outside the canonical domain") from None


def canonical(value: Any) -> str:
    """The canonical JSON text of ``value`` (see the module docstring)."""
    return _dumps(plain(value))


def _dumps(plain: Any) -> str:
    text = json.dumps(
        plain,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    # A lone surrogate cannot be UTF-8; refuse it here rather than at commit time.
    text.encode("utf-8")
    return text


def chain_hash(prev_hash: str, seq: int, body: str) -> str:
    """SHA-256 hex of ``{"event":BODY,"prev":"PREV","seq":SEQ}`` (the canonical form)."""
    digest = hashlib.sha256(b'{"event":')
    digest.update(body.encode("utf-8"))
    digest.update(b',"prev":"')
    digest.update(prev_hash.encode("ascii"))
    digest.update(b'","seq":')
    digest.update(str(seq).encode("ascii"))
    digest.update(b"}")
    return digest.hexdigest()


@dataclass(slots=True, kw_only=True)
class PreparedEvent:
    """An encoded event waiting for its seq, with the columns the store indexes.

    The indexed columns are derived from the body only (`index_columns`), so verify can re-derive
    them and notice when someone edits a column to hide a row from a search.

    Not frozen, though nothing changes one: two are made per relayed statement, and a frozen
    dataclass's ``__init__`` (``object.__setattr__`` per field) costs four times as much.
    """

    at: int
    type: str
    durability: Durability
    body: str
    session_id: str | None
    user_name: str | None
    connection: str | None
    effect: str | None
    kinds: str | None


def index_columns(obj: Mapping[str, Any]) -> dict[str, str | None]:
    """The searchable columns of a decoded body (kinds as ``,a,b,`` so LIKE ``%,a,%`` matches)."""
    decision = obj.get("decision")
    facts = obj.get("facts")
    effect = decision.get("effect") if isinstance(decision, Mapping) else None
    kinds = facts.get("kinds") if isinstance(facts, Mapping) else None

    def text(value: object) -> str | None:
        return value if isinstance(value, str) else None

    return {
        "session_id": text(obj.get("session_id")),
        "user_name": text(obj.get("user")),
        "connection": text(obj.get("connection")),
        "effect": text(effect),
        "kinds": "," + ",".join(kinds) + "," if isinstance(kinds, list) and kinds else None,
    }


def prepare(event: AuditEvent, *, at: int, durability: Durability) -> PreparedEvent:
    """Encode one event; raises TypeError/ValueError for values outside the canonical domain."""
    cls = type(event)
    fast = FAST_BODIES.get(cls)
    if fast is not None and durability in ("strict", "relaxed"):
        done = fast(event, at, durability, canonical)
        if done is not None:
            body, session_id, user_name, connection, effect, kinds = done
            if not body.isascii():
                body.encode("utf-8")  # a lone surrogate cannot be stored: refuse it here
            return PreparedEvent(
                at=at,
                type=cls.type,
                durability=durability,
                body=body,
                session_id=session_id,
                user_name=user_name,
                connection=connection,
                effect=effect,
                kinds=kinds,
            )
    name = getattr(cls, "type", None)
    if not isinstance(name, str) or EVENT_TYPES.get(name) is not cls:
        raise TypeError(f"{cls.__name__} is not a registered audit event")
    obj = plain(event)
    obj["type"] = name
    obj["v"] = SCHEMA_VERSION
    obj["at"] = at
    obj["durability"] = durability
    return PreparedEvent(
        at=at,
        type=name,
        durability=durability,
        body=_dumps(obj),
        **index_columns(obj),
    )
