"""``partial``: keep the last N significant characters, mask the rest, keep separators.

Significant characters are letters and digits; everything else (spaces, ``-``, ``@``, ``.``,
parentheses) stays, so ``4111 1111 1111 1234`` reads ``**** **** **** 1234`` and a phone keeps its
layout. N is ``options.keep_last`` (default 4) but never more than half the significant characters:
a short value would otherwise be shown whole (``keep_last=4`` on a 4-digit PIN).

Text types use ``*``. Numbers zero the masked digits (``1234567`` -> ``4567``, ``-12.3456`` ->
``-0.3456``), keeping sign, scale and exponent, so the result still parses as the column's type;
UUIDs and MAC addresses zero their masked hex digits. Types whose values would not survive a
partial mask (dates, times, IP addresses, booleans, opaque types) become NULL. JSON masks each
string and number leaf.
"""

from __future__ import annotations

import re

from ._base import Operator, ValueMask
from ._context import MaskContext
from ._formats import NUMBER_TYPES, OPAQUE_TYPES, walk_json
from ._keyring import Keyring

__all__ = ["Partial", "partial_text"]

_NUMBER = re.compile(r"(-?)(\d+)(?:\.(\d+))?([eE][-+]?\d+)?")
# Significant characters: str.isalnum() exactly (\w is isalnum() plus "_"), or hex digits.
_ALNUM = re.compile(r"[^\W_]")
_HEX_DIGIT = re.compile(r"[0-9a-fA-F]")
_NULL_TYPES = OPAQUE_TYPES | {
    "date", "timestamp", "timestamptz", "time", "timetz", "inet", "cidr", "bool",
}  # fmt: skip


def _kept(count: int, keep_last: int) -> int:
    return min(keep_last, count // 2)


def partial_text(value: str, keep_last: int, fill: str = "*", *, hex_only: bool = False) -> str:
    """``value`` with all but its last ``keep`` significant characters replaced by ``fill``."""
    significant = _HEX_DIGIT if hex_only else _ALNUM
    count = len(significant.findall(value))
    masked = count - _kept(count, keep_last)
    # sub() replaces the first `masked` matches (but count=0 would mean all of them)
    return significant.sub(fill, value, count=masked) if masked else value


def partial_number(value: str, keep_last: int) -> str:
    """Zero all but the last kept digits of a decimal number; keep sign, scale and exponent."""
    m = _NUMBER.fullmatch(value)
    if m is None:  # NaN, Infinity
        return value
    sign, whole, frac, exp = m[1], m[2], m[3] or "", m[4] or ""
    digits = whole + frac
    keep = _kept(len(digits), keep_last)
    masked = "0" * (len(digits) - keep) + (digits[len(digits) - keep :] if keep else "")
    new_whole = masked[: len(whole)].lstrip("0") or "0"
    new_frac = masked[len(whole) :]
    if not masked.strip("0"):
        sign = ""
    return sign + new_whole + ("." + new_frac if frac else "") + exp


class Partial(Operator):
    name = "partial"

    def prepare(self, ctx: MaskContext, keyring: Keyring) -> ValueMask:
        t, keep = ctx.type_name, ctx.options.keep_last
        if t in NUMBER_TYPES:
            return lambda value: partial_number(value, keep)
        if t in ("uuid", "macaddr", "macaddr8"):
            return lambda value: partial_text(value, keep, "0", hex_only=True)
        if t in ("json", "jsonb") or t in _NULL_TYPES:
            return super().prepare(ctx, keyring)
        return lambda value: partial_text(value, keep)

    def mask(self, value: str, ctx: MaskContext, keyring: Keyring) -> str | None:
        t, keep = ctx.type_name, ctx.options.keep_last
        if t in NUMBER_TYPES:
            return partial_number(value, keep)
        if t in ("uuid", "macaddr", "macaddr8"):
            return partial_text(value, keep, "0", hex_only=True)
        if t in ("json", "jsonb"):
            return walk_json(
                value,
                lambda leaf, kind: (
                    partial_number(leaf, keep) if kind == "number" else partial_text(leaf, keep)
                ),
            )
        if t in _NULL_TYPES:
            return None
        return partial_text(value, keep)
