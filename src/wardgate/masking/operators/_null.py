"""``null``: the value becomes SQL NULL, whatever its type."""

from __future__ import annotations

from ._base import Operator
from ._context import MaskContext
from ._keyring import Keyring

__all__ = ["Null"]


class Null(Operator):
    name = "null"

    def mask(self, value: str, ctx: MaskContext, keyring: Keyring) -> str | None:
        return None
