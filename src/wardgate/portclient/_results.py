"""Pure helpers of the doors that use the port client: what they send and how a result is
shaped for JSON.

Kept apart from the link so they can be tested without a connection: the statement text a stated
reason turns into (it is part of what a review is bound to, so it must be stable), the JSON form
of PostgreSQL values, the row and size caps, and the catalog queries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RELKINDS",
    "Shaped",
    "describe_sql",
    "from_text",
    "list_tables_sql",
    "with_reason",
]

_MAX_REASON = 500


def with_reason(sql: str, reason: str) -> str:
    """``sql`` with the reason as the ``/* reason: ... */`` comment the gateway reads.

    The comment goes first and is built the same way every time, so the same statement with the
    same reason is the same text: an approval is bound to the exact text, and an agent that
    calls again after approval must send what was approved. Comment markers and line breaks in
    the reason are dropped, so a reason cannot close the comment and add SQL of its own.
    """
    cleaned = " ".join(reason.replace("*/", " ").replace("/*", " ").split())[:_MAX_REASON]
    return f"/* reason: {cleaned} */ {sql}" if cleaned else sql


#: Type OIDs whose text form JSON carries exactly as a number or boolean: int2, int4, int8, oid;
#: bool. Everything else (numeric, float, dates, json, bytea, user types) stays PostgreSQL's
#: own text, which is exact and what a person reading psql would see.
_INTEGERS = frozenset({21, 23, 20, 26})
_BOOL = 16


def from_text(value: bytes | None, type_oid: int) -> Any:
    """A value in PostgreSQL's text format as JSON: NULL as null, integers and booleans as
    such, anything else as its text (undecodable bytes shown, not dropped)."""
    if value is None:
        return None
    if type_oid in _INTEGERS:
        return int(value)
    if type_oid == _BOOL:
        return value == b"t"
    return value.decode("utf-8", "backslashreplace")


@dataclass
class Shaped:
    """A result cut to what a model should read: at most ``max_rows`` rows and about
    ``max_chars`` characters of row JSON; ``truncated`` says that more rows existed."""

    max_rows: int
    max_chars: int
    columns: list[dict[str, Any]] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    truncated: bool = False
    status: str | None = None
    notices: list[str] = field(default_factory=list)
    _chars: int = 0

    def add(self, row: Sequence[Any]) -> bool:
        """Keep ``row`` (JSON values) if it fits; False (and ``truncated``) once the caps are
        reached, so the caller stops reading: the rest of the result is never fetched."""
        if len(self.rows) >= self.max_rows:
            self.truncated = True
            return False
        share = max(64, self.max_chars // max(1, len(row)))  # a wide first row fits too
        values = [_clip(v, share) for v in row]
        if values != list(row):
            self.truncated = True  # a value longer than the whole budget: cut, and said so
        size = len(json.dumps(values, ensure_ascii=False))
        if self.rows and self._chars + size > self.max_chars:
            self.truncated = True
            return False
        self.rows.append(values)
        self._chars += size
        return True

    def as_dict(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "rows": self.rows,
            "row_count": len(self.rows),
            "truncated": self.truncated,
            "status": self.status,
            "notices": self.notices,
        }


# The catalog tools read pg_catalog's base tables: the information_schema views are views, whose
# columns a masking policy treats as of unknown provenance (masked whole), and they could carry
# values (column defaults, check constraints) that pg_class and pg_attribute do not.


def list_tables_sql(schema: str) -> tuple[str, tuple[str, ...]]:
    """Tables and views the gateway's database role can see, outside the system schemas (or in
    one schema). Whether this identity may read them is the policy's answer, at query time."""
    sql = (
        "SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind"
        " FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"
        " AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
    )
    if schema:
        return sql + " AND n.nspname = $1 ORDER BY 1, 2", (schema,)
    return sql + " ORDER BY 1, 2", ()


#: pg_class.relkind of what `list_tables_sql` lists, in words. Mapped here, not in SQL: plain
#: catalog columns pass a masking gateway as they are, an expression over them need not.
RELKINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "f": "foreign table"}


def describe_sql(table: str) -> tuple[str, tuple[str, ...]]:
    """Columns of ``schema.table`` (or ``table`` in any user schema), in order."""
    schema, _, name = table.rpartition(".")
    sql = (
        "SELECT n.nspname AS schema, a.attname AS column, t.typname AS type,"
        " a.attnotnull AS not_null"
        " FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
        " WHERE c.relname = $1 AND a.attnum > 0 AND NOT a.attisdropped"
        " AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
    )
    if schema:
        return sql + " AND n.nspname = $2 ORDER BY 1, a.attnum", (name, schema)
    return sql + " ORDER BY 1, a.attnum", (name,)


def _clip(value: Any, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "..."
    return value
