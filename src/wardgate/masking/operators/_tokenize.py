"""``tokenize``: deterministic keyed tokens that keep the value's format and type.

Same value, same entity format, same key: same token, in every column and table, so joins,
GROUP BY and DISTINCT work on masked results. Below 2**64 possible values per format the token map
is a permutation (distinct values, distinct tokens); above, an HMAC whose collisions need ~2**32
distinct values. Rotating the keyring's current key changes every token. See `_scramble` for the
construction and `_formats` for what each type and entity keeps.
"""

from __future__ import annotations

from ._base import Operator, ValueMask
from ._context import MaskContext
from ._formats import formatter, transform
from ._keyring import Keyring
from ._scramble import tokens

__all__ = ["Tokenize"]


class Tokenize(Operator):
    name = "tokenize"
    memoizable = True

    def mask(self, value: str, ctx: MaskContext, keyring: Keyring) -> str | None:
        return transform(value, ctx, tokens(keyring))

    def prepare(self, ctx: MaskContext, keyring: Keyring) -> ValueMask:
        return formatter(ctx, tokens(keyring))
