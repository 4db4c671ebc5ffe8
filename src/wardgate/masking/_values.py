"""PostgreSQL values as masking sees them: leaves of text inside containers, in either format.

Masking works on the text form of scalar values. A column value is taken apart into that form --
array elements, composite fields, JSON strings and numbers, binary scalars decoded -- the leaves
are rewritten, and the value is put back together in the format and type the client asked for.
A value this module cannot take apart raises `Unmaskable`; the caller then refuses the result,
because passing it through unread would be best-effort masking.

Types are described by `TypeInfo` from the catalog (``pg_type``), so domains, enums, arrays of
user types and composite types are handled by what they are built of, not by a fixed OID list.
"""

from __future__ import annotations

import datetime as dt
import json
import struct
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Leaf", "TypeInfo", "Unmaskable", "rewrite", "scalar_rewriter"]

#: A leaf rewriter: (text of a scalar, its type name) -> new text, or None for SQL NULL.
Leaf = Callable[[str, str], str | None]


class Unmaskable(Exception):
    """The value cannot be taken apart and rebuilt safely; it must not reach the client."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeInfo:
    """One ``pg_type`` row: enough to find a value's leaves."""

    oid: int
    name: str
    kind: str = "b"  # typtype: b base, c composite, d domain, e enum, r range, m multirange, p
    element: int = 0  # typelem of an array type (typcategory 'A')
    base: int = 0  # typbasetype of a domain
    fields: tuple[int, ...] = ()  # attribute type OIDs of a composite type
    category: str = "U"


_TEXTUAL = frozenset({"text", "varchar", "bpchar", "name", "unknown", "citext", "char", "xml"})
_EPOCH_DATE = dt.date(2000, 1, 1)
_EPOCH_TS = dt.datetime(2000, 1, 1)
_INTS = {"int2": ">h", "int4": ">i", "int8": ">q", "oid": ">I"}
_FLOATS = {"float4": ">f", "float8": ">d"}


def rewrite(
    value: bytes,
    type_oid: int,
    binary: bool,
    types: Mapping[int, TypeInfo],
    leaf: Leaf,
) -> bytes | None:
    """The value with every leaf passed through ``leaf``; None when the whole value became NULL."""
    info = _resolve(type_oid, types)
    if binary:
        return _rewrite_binary(value, info, types, leaf)
    text = value.decode("utf-8", "surrogateescape")
    out = _rewrite_text(text, info, types, leaf)
    return None if out is None else out.encode("utf-8", "surrogateescape")


def scalar_rewriter(
    type_oid: int,
    binary: bool,
    types: Mapping[int, TypeInfo],
    leaf_for: Callable[[str], Callable[[str], str | None]],
    encoded_for: Callable[[str], Callable[[bytes], bytes | None]] | None = None,
) -> Callable[[bytes], bytes | None] | None:
    """`rewrite` for a column of one scalar type, set up once. With ``leaf = leaf_for(type
    name)``, ``step(value)`` is ``rewrite(value, type_oid, binary, types, lambda t, _: leaf(t))``.
    In text format, ``encoded_for(type name)``, if given, is that step itself (the leaf on the
    value's UTF-8 bytes, see `wardgate.masking.operators.prepare_encoded`).

    None when values of the type are not one leaf each (arrays, composites, JSON, ranges, an
    unknown type): those go through `rewrite`, which takes them apart or refuses them.
    """
    try:
        info = _resolve(type_oid, types)
    except Unmaskable:
        return None
    if _is_array(info) or info.kind in ("c", "r", "m") or info.name in ("record", "json", "jsonb"):
        return None
    if not binary and encoded_for is not None:
        return encoded_for(info.name)
    leaf = leaf_for(info.name)
    if not binary:

        def text_step(value: bytes) -> bytes | None:
            out = leaf(value.decode("utf-8", "surrogateescape"))
            return None if out is None else out.encode("utf-8", "surrogateescape")

        return text_step
    try:
        decode, encode = _scalar_codec(info)
    except Unmaskable:
        return None  # `rewrite` refuses each value of it (none may be NULL-only)
    name = info.name

    def binary_step(value: bytes) -> bytes | None:
        try:
            text = decode(value)
        except (struct.error, ValueError) as exc:
            raise Unmaskable(f"malformed binary {name}") from exc
        new = leaf(text)
        if new is None:
            return None
        try:
            return encode(new)
        except (struct.error, ValueError, OverflowError) as exc:
            raise Unmaskable(f"masked value does not fit type {name}") from exc

    return binary_step


def _is_array(info: TypeInfo) -> bool:
    # record[] is a pseudo-type (category P) with an element type, like the real arrays.
    return bool(info.element) and (info.category == "A" or info.kind == "p")


def _resolve(type_oid: int, types: Mapping[int, TypeInfo]) -> TypeInfo:
    info = types.get(type_oid)
    seen = 0
    while info is not None and info.kind == "d" and seen < 16:
        info, seen = types.get(info.base), seen + 1
    if info is None:
        raise Unmaskable(f"unknown type oid {type_oid}")
    return info


# --- text format -----------------------------------------------------------------------------


def _rewrite_text(
    text: str, info: TypeInfo, types: Mapping[int, TypeInfo], leaf: Leaf
) -> str | None:
    if _is_array(info):
        element = _resolve(info.element, types)
        return _array_text(text, lambda s: _rewrite_text(s, element, types, leaf))
    if info.kind == "c":
        fields = [_resolve(f, types) for f in info.fields]
        return _composite_text(text, fields, types, leaf)
    if info.name == "record":  # an anonymous ROW(...): the text form does not say field types
        return _composite_text(text, None, types, leaf)
    if info.name in ("json", "jsonb"):
        return _json_text(text, leaf)
    if info.kind in ("r", "m"):
        raise Unmaskable(f"range type {info.name}")
    return leaf(text, info.name)


def _array_text(text: str, element: Callable[[str], str | None]) -> str:
    """Rewrite ``{a,"b c",NULL,{d}}`` element by element.

    Explicit bounds (``[5:7]={...}``) are dropped: they can be computed from a sensitive value
    (``array_fill(0, ARRAY[1], ARRAY[secret])``), and a masked array starts at 1 like any other.
    """
    prefix = ""
    if text.startswith("["):
        cut = text.find("=")
        if cut < 0:
            raise Unmaskable("malformed array dimensions")
        text = text[cut + 1 :]
    out: list[str] = []
    i, n = 0, len(text)
    if not text.startswith("{"):
        raise Unmaskable("malformed array")
    while i < n:
        ch = text[i]
        if ch in "{},":
            out.append(ch)
            i += 1
            continue
        if ch.isspace():
            i += 1
            continue
        if ch == '"':
            buf: list[str] = []
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            if i >= n:
                raise Unmaskable("unterminated quoted array element")
            i += 1
            out.append(_quote_array(element("".join(buf))))
            continue
        start = i
        while i < n and text[i] not in ",}":
            i += 1
        raw = text[start:i].strip()
        out.append("NULL" if raw == "NULL" else _quote_array(element(raw)))
    return prefix + "".join(out)


def _quote_array(value: str | None) -> str:
    if value is None:
        return "NULL"
    if value == "" or value.upper() == "NULL" or any(c in value for c in '{},"\\ \t\n'):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


_TEXT_TYPE = TypeInfo(oid=25, name="text", category="S")


def _composite_text(
    text: str, fields: list[TypeInfo] | None, types: Mapping[int, TypeInfo], leaf: Leaf
) -> str:
    """Rewrite ``(a,,"b c")``: an empty unquoted field is NULL, quotes double to escape."""
    if not (text.startswith("(") and text.endswith(")")):
        raise Unmaskable("malformed record")
    body, parts, i = text[1:-1], [], 0
    values: list[str | None] = []
    while True:
        if i < len(body) and body[i] == '"':
            buf: list[str] = []
            i += 1
            while i < len(body):
                c = body[i]
                if c == '"' and i + 1 < len(body) and body[i + 1] == '"':
                    buf.append('"')
                    i += 2
                elif c == "\\" and i + 1 < len(body):
                    buf.append(body[i + 1])
                    i += 2
                elif c == '"':
                    i += 1
                    break
                else:
                    buf.append(c)
                    i += 1
            values.append("".join(buf))
        else:
            start = i
            while i < len(body) and body[i] != ",":
                i += 1
            raw = body[start:i]
            values.append(raw if raw else None)
        if i >= len(body):
            break
        if body[i] != ",":
            raise Unmaskable("malformed record")
        i += 1
    if fields is None:
        fields = [_TEXT_TYPE] * len(values)
    if len(values) != len(fields):
        raise Unmaskable("record field count does not match its type")
    for value, info in zip(values, fields, strict=True):
        new = None if value is None else _rewrite_text(value, info, types, leaf)
        if new is None:
            parts.append("")
        elif new == "" or any(c in new for c in '(),"\\ \t\n'):
            parts.append('"' + new.replace("\\", "\\\\").replace('"', '""') + '"')
        else:
            parts.append(new)
    return "(" + ",".join(parts) + ")"


def _json_text(text: str, leaf: Leaf) -> str:
    try:
        doc = json.loads(text)
    except ValueError:
        raise Unmaskable("malformed json") from None
    return json.dumps(_walk_json(doc, leaf), ensure_ascii=False)


def _walk_json(node: object, leaf: Leaf) -> object:
    """Strings and numbers are leaves, and so are object keys (``jsonb_object_agg(email, 1)``
    makes values into keys). Keys that mask to the same text get a ``#n`` suffix, not merged."""
    if isinstance(node, dict):
        out: dict[str, object] = {}
        for k, v in node.items():
            key = leaf(k, "text") or ""
            n = 1
            while key in out:
                n += 1
                key = f"{key.split('#')[0]}#{n}"
            out[key] = _walk_json(v, leaf)
        return out
    if isinstance(node, list):
        return [_walk_json(v, leaf) for v in node]
    if isinstance(node, str):
        return leaf(node, "text")
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int | float):
        new = leaf(json.dumps(node), "numeric")
        if new is None:
            return None
        try:
            return json.loads(new)
        except ValueError:
            return new
    return node


# --- binary format ---------------------------------------------------------------------------


def _rewrite_binary(
    value: bytes, info: TypeInfo, types: Mapping[int, TypeInfo], leaf: Leaf
) -> bytes | None:
    if _is_array(info):
        return _array_binary(value, types, leaf)
    if info.kind == "c" or info.name == "record":  # binary records carry their field types
        return _composite_binary(value, types, leaf)
    decode, encode = _scalar_codec(info)
    try:
        text = decode(value)
    except (struct.error, ValueError) as exc:
        raise Unmaskable(f"malformed binary {info.name}") from exc
    if info.name in ("json", "jsonb"):
        return encode(_json_text(text, leaf))
    new = leaf(text, info.name)
    if new is None:
        return None
    try:
        return encode(new)
    except (struct.error, ValueError, OverflowError) as exc:
        raise Unmaskable(f"masked value does not fit type {info.name}") from exc


def _scalar_codec(info: TypeInfo) -> tuple[Callable[[bytes], str], Callable[[str], bytes]]:
    name = info.name
    if name in _TEXTUAL or info.kind == "e" or name == "json":
        return _utf8, lambda s: s.encode("utf-8", "surrogateescape")
    if name == "jsonb":
        return _jsonb_decode, lambda s: b"\x01" + s.encode("utf-8", "surrogateescape")
    if name in _INTS:
        fmt = _INTS[name]
        return (lambda b: str(struct.unpack(fmt, b)[0])), (lambda s: struct.pack(fmt, int(s)))
    if name in _FLOATS:
        fmt = _FLOATS[name]
        return (lambda b: repr(struct.unpack(fmt, b)[0])), (lambda s: struct.pack(fmt, float(s)))
    if name == "bool":
        return (lambda b: "t" if b == b"\x01" else "f"), (lambda s: b"\x01" if s == "t" else b"\0")
    if name == "date":
        return _date_decode, _date_encode
    if name in ("timestamp", "timestamptz"):
        return _ts_decode, _ts_encode
    if name == "uuid":
        return (lambda b: str(uuid.UUID(bytes=b))), (lambda s: uuid.UUID(s).bytes)
    raise Unmaskable(f"no binary codec for type {name}")


def _utf8(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _jsonb_decode(b: bytes) -> str:
    if not b or b[0] != 1:
        raise Unmaskable("unknown jsonb binary version")
    return _utf8(b[1:])


def _date_decode(b: bytes) -> str:
    (days,) = struct.unpack(">i", b)
    try:
        return (_EPOCH_DATE + dt.timedelta(days=days)).isoformat()
    except OverflowError:
        raise Unmaskable("date out of Python's range") from None


def _date_encode(s: str) -> bytes:
    return struct.pack(">i", (dt.date.fromisoformat(s[:10]) - _EPOCH_DATE).days)


def _ts_decode(b: bytes) -> str:
    (micros,) = struct.unpack(">q", b)
    try:
        return (_EPOCH_TS + dt.timedelta(microseconds=micros)).isoformat(sep=" ")
    except OverflowError:
        raise Unmaskable("timestamp out of Python's range") from None


def _ts_encode(s: str) -> bytes:
    when = dt.datetime.fromisoformat(s.replace("+00", "+00:00") if s.endswith("+00") else s)
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    delta = when - _EPOCH_TS
    return struct.pack(">q", (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds)


def _array_binary(value: bytes, types: Mapping[int, TypeInfo], leaf: Leaf) -> bytes:
    try:
        ndim, flags, elem_oid = struct.unpack_from(">iiI", value, 0)
        pos = 12 + 8 * ndim
        dims = [struct.unpack_from(">ii", value, 12 + 8 * d)[0] for d in range(ndim)]
    except struct.error:
        raise Unmaskable("malformed binary array") from None
    count = 1
    for d in dims:
        count *= d
    element = _resolve(elem_oid, types)
    header, out, nulls = value[:pos], [], bool(flags)
    for _ in range(count if ndim else 0):
        item, pos = _take(value, pos)
        new = None if item is None else _rewrite_binary(item, element, types, leaf)
        nulls = nulls or new is None
        out.append(_frame(new))
    if pos != len(value):
        raise Unmaskable("trailing bytes in binary array")
    if nulls and not flags:  # a masked-to-NULL element: the header must say the array has NULLs
        header = header[:4] + struct.pack(">i", 1) + header[8:]
    # Lower bounds back to 1 (see _array_text): they can carry a computed secret.
    bounds = b"".join(struct.pack(">ii", size, 1) for size in dims)
    return header[:12] + bounds + b"".join(out)


def _composite_binary(value: bytes, types: Mapping[int, TypeInfo], leaf: Leaf) -> bytes:
    try:
        (count,) = struct.unpack_from(">i", value, 0)
    except struct.error:
        raise Unmaskable("malformed binary record") from None
    pos, out = 4, [value[:4]]
    for _ in range(count):
        try:
            (oid,) = struct.unpack_from(">I", value, pos)
        except struct.error:
            raise Unmaskable("malformed binary record") from None
        item, pos = _take(value, pos + 4)
        new = None if item is None else _rewrite_binary(item, _resolve(oid, types), types, leaf)
        out.append(struct.pack(">I", oid) + _frame(new))
    if pos != len(value):
        raise Unmaskable("trailing bytes in binary record")
    return b"".join(out)


def _take(value: bytes, pos: int) -> tuple[bytes | None, int]:
    try:
        (size,) = struct.unpack_from(">i", value, pos)
    except struct.error:
        raise Unmaskable("truncated binary value") from None
    pos += 4
    if size < 0:
        return None, pos
    if pos + size > len(value):
        raise Unmaskable("truncated binary value")
    return value[pos : pos + size], pos + size


def _frame(item: bytes | None) -> bytes:
    return b"\xff\xff\xff\xff" if item is None else struct.pack(">i", len(item)) + item
