"""Route a value to its format: by PostgreSQL type first, then (for text) by entity.

`transform` is the single entry for the format-preserving operators: `tokenize` calls it with the
token scrambler, `fpe` with the forward FF1 scrambler and `unmask` with the inverse one. Every
format is a bijection under a permutation scrambler, so the same routing inverts itself; the
routing depends only on the type, the entity and features every format keeps (length, shape), so
a masked value is routed exactly as its original was.

Text types (and types this module does not know, which PostgreSQL prints as text) are masked by
entity; a ``bpchar`` has its blank padding stripped first and restored after, since PostgreSQL
ignores it when comparing. ``json``/``jsonb`` are parsed and every string and number leaf masked
(keys, booleans and nulls kept), then re-serialised in ``jsonb``'s style.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ._context import MaskContext, MaskError
from ._ids import card, iban, mac, nino, phone, ssn
from ._net import inet
from ._numbers import INT_RANGES, pg_bool, pg_float, pg_int, pg_numeric, pg_uuid
from ._scramble import Scrambler, TokenScrambler
from ._temporal import pg_date, pg_time, pg_timestamp
from ._text import email, generic, person

__all__ = ["NUMBER_TYPES", "OPAQUE_TYPES", "TEXT_TYPES", "transform", "walk_json"]

TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "name", "char", "citext", "unknown"})
#: Types with a text form no operator here can rewrite in kind (geometry, bit strings, bytea...):
#: format-preserving operators raise `MaskError`, `partial`/`redact` give NULL. Any type in
#: neither set nor handled below (enums, domains over text) is treated as text.
OPAQUE_TYPES = frozenset(
    {
        "bytea", "interval", "money", "bit", "varbit", "point", "line", "lseg", "box", "path",
        "polygon", "circle", "tsvector", "tsquery", "xml", "oid", "xid", "xid8", "cid", "tid",
        "pg_lsn", "int2vector", "oidvector", "regclass", "regtype", "regproc", "txid_snapshot",
        "pg_snapshot", "int4range", "int8range", "numrange", "daterange", "tsrange", "tstzrange",
    }
)  # fmt: skip
NUMBER_TYPES = frozenset({"int2", "int4", "int8", "numeric", "float4", "float8"})
_FLOATS = frozenset({"float4", "float8"})
_TIMESTAMPS = frozenset({"timestamp", "timestamptz"})
_TIMES = frozenset({"time", "timetz"})
_JSON = frozenset({"json", "jsonb"})

_TextFormat = Callable[[str, Scrambler], str]
_ENTITY_FORMATS: dict[str, _TextFormat] = {
    "email": email,
    "phone": phone,
    "card_number": card,
    "iban": iban,
    "us_ssn": ssn,
    "uk_nino": nino,
    "mac_address": mac,
}


def transform(value: str, ctx: MaskContext, s: Scrambler) -> str:
    """``value`` masked (or, with an inverse scrambler, unmasked) in its own format."""
    t = ctx.type_name
    if t in TEXT_TYPES:
        if t == "bpchar":
            # char(n) arrives blank-padded to n: mask the text, pad back, never exceed n.
            body = value.rstrip(" ")
            limit = len(value) if ctx.max_length is None else min(ctx.max_length, len(value))
            return _text(body, limit, ctx, s).ljust(len(value))
        return _text(value, ctx.max_length, ctx, s)
    if t in INT_RANGES:
        if ctx.entity == "card_number" and value.isdigit() and 12 <= len(value) <= 18:
            return card(value, s)
        return pg_int(value, s, t)
    if t == "numeric":
        if ctx.entity == "card_number" and value.isdigit() and 12 <= len(value) <= 19:
            return card(value, s)
        return pg_numeric(value, s)
    if t in _FLOATS:
        return pg_float(value, s, t)
    if t == "date":
        return pg_date(value, s, ctx.options, strict=True) or value
    if t in _TIMESTAMPS:
        return pg_timestamp(value, s, ctx.options, strict=True) or value
    if t in _TIMES:
        return pg_time(value, s, strict=True) or value
    if t == "uuid":
        return pg_uuid(value, s)
    if t in ("inet", "cidr"):
        return inet(value, s, cidr=t == "cidr")
    if t in ("macaddr", "macaddr8"):
        return mac(value, s)
    if t == "bool":
        return pg_bool(value, s)
    if t in _JSON:
        return walk_json(value, lambda leaf, kind: _leaf(leaf, kind, ctx, s))
    if t in OPAQUE_TYPES:
        raise MaskError(f"no format-preserving mask for type {t}; use redact or null")
    return _text(value, ctx.max_length, ctx, s)


def _text(value: str, limit: int | None, ctx: MaskContext, s: Scrambler) -> str:
    entity = ctx.entity
    fmt = _ENTITY_FORMATS.get(entity) if entity is not None else None
    if fmt is not None:
        out = fmt(value, s)
    elif entity == "ip_address":
        out = inet(value, s, max_length=limit)
    elif entity == "date_of_birth":
        out = (
            pg_date(value, s, ctx.options, strict=False)
            or pg_timestamp(value, s, ctx.options, strict=False)
            or generic(value, s)
        )
    elif entity == "person" and isinstance(s, TokenScrambler):
        out = person(value, s)
    else:
        out = generic(value, s)
    if limit is not None and len(out) > limit:
        # Only the lossy token formats can grow (pseudonyms); the generic map never does.
        if s.reversible:
            raise MaskError("masked value would not fit the column's length")
        out = generic(value, s)[:limit]
    return out


# -- JSON ----------------------------------------------------------------------------------------


class _Number(str):
    """A JSON number leaf kept as its source text, so masking sees PostgreSQL's digits."""

    __slots__ = ()


def _load_json(value: str) -> Any:
    try:
        return json.loads(value, parse_int=_Number, parse_float=_Number, parse_constant=_Number)
    except ValueError as exc:
        raise MaskError("json value does not parse") from exc


def _walk(node: Any, leaf: Callable[[str, str], str | None]) -> Any:
    """Rebuild ``node`` with each string/number leaf replaced by ``leaf(text, kind)``."""
    if isinstance(node, dict):
        return {k: _walk(v, leaf) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, leaf) for v in node]
    if isinstance(node, _Number):
        out = leaf(str(node), "number")
        return None if out is None else _Number(out)
    if isinstance(node, str):
        return leaf(node, "string")
    return node


def walk_json(value: str, leaf: Callable[[str, str], str | None]) -> str:
    """Parse, map every string/number leaf (``kind`` is ``'string'`` or ``'number'``), dump."""
    return _dump_json(_walk(_load_json(value), leaf))


def _leaf(text: str, kind: str, ctx: MaskContext, s: Scrambler) -> str:
    if kind == "number":
        if "." in text or "e" in text or "E" in text:
            return pg_float(text, s, "float8")
        return pg_numeric(text, s)
    return _text(text, None, ctx, s)


def _dump_json(node: Any) -> str:
    """Serialise like ``jsonb`` output: ``{"k": v, ...}``, ``[a, b]``, non-ASCII kept."""
    if isinstance(node, dict):
        return "{" + ", ".join(f"{_string(k)}: {_dump_json(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(_dump_json(v) for v in node) + "]"
    if isinstance(node, _Number):
        return str(node)
    if isinstance(node, str):
        return _string(node)
    if node is None:
        return "null"
    return "true" if node else "false"


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
