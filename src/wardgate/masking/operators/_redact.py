"""``redact``: a fixed marker where the type can hold one, SQL NULL where it cannot.

Text types get ``[REDACTED]`` (clipped to ``varchar(n)``/``char(n)``); ``json``/``jsonb`` get
the marker as a JSON string, which is valid in both. Numbers, dates, UUIDs, addresses, booleans
and the opaque types have no value that reads as "redacted" (any number would pass for data), so
they become NULL; clients must already handle NULL in a nullable result.
"""

from __future__ import annotations

from ._base import Operator
from ._context import MaskContext
from ._formats import NUMBER_TYPES, OPAQUE_TYPES, TEXT_TYPES
from ._keyring import Keyring

__all__ = ["MARKER", "Redact"]

MARKER = "[REDACTED]"
_NOT_TEXT = NUMBER_TYPES | OPAQUE_TYPES | {
    "date", "timestamp", "timestamptz", "time", "timetz", "uuid", "inet", "cidr", "macaddr",
    "macaddr8", "bool",
}  # fmt: skip


class Redact(Operator):
    name = "redact"

    def mask(self, value: str, ctx: MaskContext, keyring: Keyring) -> str | None:
        t = ctx.type_name
        if t in ("json", "jsonb"):
            return '"' + MARKER + '"'
        if t in TEXT_TYPES or t not in _NOT_TEXT:
            return MARKER if ctx.max_length is None else MARKER[: ctx.max_length]
        return None
