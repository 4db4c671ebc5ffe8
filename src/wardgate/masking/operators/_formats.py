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

__all__ = ["NUMBER_TYPES", "OPAQUE_TYPES", "TEXT_TYPES", "formatter", "transform", "walk_json"]

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
    return formatter(ctx, s)(value)


def formatter(ctx: MaskContext, s: Scrambler) -> Callable[[str], str]:
    """`transform` with the routing by type and entity done once: ``formatter(ctx, s)(value)``
    is ``transform(value, ctx, s)``, for callers that mask many values of one context."""
    t = ctx.type_name
    if t in TEXT_TYPES:
        if t == "bpchar":
            return _bpchar(ctx, s)
        return _text_format(ctx, s, ctx.max_length)
    card_entity = ctx.entity == "card_number"
    if t in INT_RANGES:

        def integer(value: str) -> str:
            if card_entity and value.isdigit() and 12 <= len(value) <= 18:
                return card(value, s)
            return pg_int(value, s, t)

        return integer
    if t == "numeric":

        def numeric(value: str) -> str:
            if card_entity and value.isdigit() and 12 <= len(value) <= 19:
                return card(value, s)
            return pg_numeric(value, s)

        return numeric
    options = ctx.options
    if t in _FLOATS:
        return lambda value: pg_float(value, s, t)
    if t == "date":
        return lambda value: pg_date(value, s, options, strict=True) or value
    if t in _TIMESTAMPS:
        return lambda value: pg_timestamp(value, s, options, strict=True) or value
    if t in _TIMES:
        return lambda value: pg_time(value, s, strict=True) or value
    if t == "uuid":
        return lambda value: pg_uuid(value, s)
    if t in ("inet", "cidr"):
        cidr = t == "cidr"
        return lambda value: inet(value, s, cidr=cidr)
    if t in ("macaddr", "macaddr8"):
        return lambda value: mac(value, s)
    if t == "bool":
        return lambda value: pg_bool(value, s)
    if t in _JSON:
        text = _text_format(ctx, s, None)
        return lambda value: walk_json(value, lambda leaf, kind: _leaf(leaf, kind, text, s))
    if t in OPAQUE_TYPES:

        def opaque(value: str) -> str:
            raise MaskError(f"no format-preserving mask for type {t}; use redact or null")

        return opaque
    return _text_format(ctx, s, ctx.max_length)


def _bpchar(ctx: MaskContext, s: Scrambler) -> Callable[[str], str]:
    """char(n) arrives blank-padded to n: mask the text, pad back, never exceed n."""
    most = ctx.max_length
    by_limit: dict[int, Callable[[str], str]] = {}  # values of one char(n) share one length

    def bpchar(value: str) -> str:
        limit = len(value) if most is None else min(most, len(value))
        text = by_limit.get(limit)
        if text is None:
            if len(by_limit) >= 64:
                by_limit.clear()
            text = by_limit[limit] = _text_format(ctx, s, limit)
        return text(value.rstrip(" ")).ljust(len(value))

    return bpchar


def _text_format(ctx: MaskContext, s: Scrambler, limit: int | None) -> Callable[[str], str]:
    """The text format ``ctx.entity`` selects, within ``limit`` characters."""
    entity = ctx.entity
    fmt = _ENTITY_FORMATS.get(entity) if entity is not None else None
    base: Callable[[str], str]
    if fmt is not None:
        entity_format = fmt
        base = lambda value: entity_format(value, s)  # noqa: E731
    elif entity == "ip_address":
        base = lambda value: inet(value, s, max_length=limit)  # noqa: E731
    elif entity == "date_of_birth":
        options = ctx.options

        def base(value: str) -> str:
            return (
                pg_date(value, s, options, strict=False)
                or pg_timestamp(value, s, options, strict=False)
                or generic(value, s)
            )

    elif entity == "person" and isinstance(s, TokenScrambler):
        tokens = s
        base = lambda value: person(value, tokens)  # noqa: E731
    else:
        base = lambda value: generic(value, s)  # noqa: E731
    if limit is None:
        return base
    reversible = s.reversible
    most = limit

    def limited(value: str) -> str:
        out = base(value)
        if len(out) > most:
            # Only the lossy token formats can grow (pseudonyms); the generic map never does.
            if reversible:
                raise MaskError("masked value would not fit the column's length")
            out = generic(value, s)[:most]
        return out

    return limited


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


def _leaf(value: str, kind: str, text: Callable[[str], str], s: Scrambler) -> str:
    if kind == "number":
        if "." in value or "e" in value or "E" in value:
            return pg_float(value, s, "float8")
        return pg_numeric(value, s)
    return text(value)


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
