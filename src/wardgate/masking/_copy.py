"""COPY TO STDOUT rows, taken apart field by field so the row masker can rewrite them.

PostgreSQL sends one CopyData message per row. The format comes from the COPY statement's own
options (the protocol only says text or binary): text with its backslash escapes, or CSV with its
quote and delimiter. Fields the plan leaves alone are copied byte for byte; rewritten fields are
re-escaped (text) or always quoted (CSV, so an empty string never turns into NULL). Binary COPY
and option combinations not handled here make `CopyFormat.of` raise `Unmaskable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pglast
from pglast import ast

from ._masker import RowMasker
from ._values import Unmaskable

__all__ = ["CopyFormat", "CopyMasker", "encode_field", "split_row"]

_TEXT_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


@dataclass(frozen=True, slots=True)
class CopyFormat:
    csv: bool = False
    delimiter: str = "\t"
    null: str = "\\N"
    quote: str = '"'
    escape: str = '"'
    header: bool = False

    @classmethod
    def of(cls, sql: str) -> CopyFormat:
        """The format a COPY statement asks for (its text as the client sent it)."""
        try:
            (raw,) = pglast.parse_sql(sql)
        except (pglast.parser.ParseError, ValueError):
            raise Unmaskable("the COPY statement could not be read") from None
        stmt = raw.stmt
        if not isinstance(stmt, ast.CopyStmt):
            raise Unmaskable("not a COPY statement")
        opts: dict[str, Any] = {}
        for opt in stmt.options or ():
            if isinstance(opt, ast.DefElem):
                opts[opt.defname or ""] = _value(opt.arg)
        fmt = str(opts.pop("format", "text")).lower()
        if fmt not in ("text", "csv"):
            raise Unmaskable(f"COPY format {fmt} cannot be masked")
        csv = fmt == "csv"
        header = opts.pop("header", False)
        quote = str(opts.pop("quote", '"'))
        out = cls(
            csv=csv,
            delimiter=str(opts.pop("delimiter", "," if csv else "\t")),
            null=str(opts.pop("null", "" if csv else "\\N")),
            quote=quote,
            escape=str(opts.pop("escape", quote)),
            header=header is True or str(header).lower() in ("true", "on", "1", "match"),
        )
        opts.pop("encoding", None)
        opts.pop("force_quote", None)  # changes quoting only, which masked fields always get
        if opts:
            raise Unmaskable(f"COPY options {sorted(opts)} cannot be masked")
        if len(out.delimiter) != 1 or len(out.quote) != 1 or len(out.escape) != 1:
            raise Unmaskable("multi-character COPY delimiters cannot be masked")
        return out


def _value(arg: Any) -> Any:
    if arg is None:
        return True  # a bare option (HEADER) means on
    for attr in ("sval", "boolval", "ival"):
        value = getattr(arg, attr, None)
        if value is not None:
            return value
    if isinstance(arg, tuple):
        return [_value(a) for a in arg]
    return str(arg)


def split_row(line: str, fmt: CopyFormat) -> list[tuple[str, str | None]]:
    """(raw field text, value or None for NULL) per field of one row (without its newline)."""
    if not fmt.csv:
        return [(f, None if f == fmt.null else _unescape(f)) for f in line.split(fmt.delimiter)]
    fields: list[tuple[str, str | None]] = []
    i, n = 0, len(line)
    while True:
        start = i
        if i < n and line[i] == fmt.quote:
            buf, i = [], i + 1
            while i < n:
                c = line[i]
                if c == fmt.escape and i + 1 < n and line[i + 1] in (fmt.quote, fmt.escape):
                    buf.append(line[i + 1])
                    i += 2
                elif c == fmt.quote:
                    i += 1
                    break
                else:
                    buf.append(c)
                    i += 1
            else:
                raise Unmaskable("unterminated quoted CSV field")
            if i < n and line[i] != fmt.delimiter:
                raise Unmaskable("malformed CSV row")
            fields.append((line[start:i], "".join(buf)))
        else:
            while i < n and line[i] != fmt.delimiter:
                i += 1
            raw = line[start:i]
            fields.append((raw, None if raw == fmt.null else raw))
        if i >= n:
            return fields
        i += 1  # the delimiter


@dataclass(slots=True)
class CopyMasker:
    """One COPY TO result: each CopyData row through the row masker, fields re-encoded."""

    fmt: CopyFormat
    masker: RowMasker
    _skip_header: bool = False

    def __post_init__(self) -> None:
        self._skip_header = self.fmt.header

    def row(self, data: bytes) -> bytes:
        if self._skip_header:  # column names, not values
            self._skip_header = False
            return data
        text = data.decode("utf-8", "surrogateescape")
        end = "\r\n" if text.endswith("\r\n") else "\n" if text.endswith("\n") else ""
        fields = split_row(text[: len(text) - len(end)], self.fmt)
        values = tuple(
            None if v is None else v.encode("utf-8", "surrogateescape") for _, v in fields
        )
        new = self.masker.row(values)
        out = []
        for (raw, _), old, value in zip(fields, values, new, strict=True):
            if value == old:
                out.append(raw)
            else:
                out.append(encode_field(None if value is None else value.decode(), self.fmt))
        return (self.fmt.delimiter.join(out) + end).encode("utf-8", "surrogateescape")


def encode_field(value: str | None, fmt: CopyFormat) -> str:
    """A rewritten field in the row's format."""
    if value is None:
        return fmt.null
    if fmt.csv:
        if fmt.escape != fmt.quote:
            value = value.replace(fmt.escape, fmt.escape + fmt.escape)
        return fmt.quote + value.replace(fmt.quote, fmt.escape + fmt.quote) + fmt.quote
    out = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return out.replace(fmt.delimiter, "\\" + fmt.delimiter) if fmt.delimiter != "\\" else out


def _unescape(field: str) -> str:
    if "\\" not in field:
        return field
    out, i, n = [], 0, len(field)
    while i < n:
        c = field[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = field[i + 1]
        if nxt in _TEXT_ESCAPES:
            out.append(_TEXT_ESCAPES[nxt])
            i += 2
        elif nxt in "01234567":
            j = i + 1
            while j < min(i + 4, n) and field[j] in "01234567":
                j += 1
            out.append(chr(int(field[i + 1 : j], 8)))
            i = j
        elif nxt == "x" and i + 2 < n and field[i + 2] in "0123456789abcdefABCDEF":
            j = i + 2
            while j < min(i + 4, n) and field[j] in "0123456789abcdefABCDEF":
                j += 1
            out.append(chr(int(field[i + 2 : j], 16)))
            i = j
        else:
            out.append(nxt)
            i += 2
    return "".join(out)
