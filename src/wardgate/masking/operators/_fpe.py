"""``fpe``: reversible format-preserving encryption (NIST FF1) for authorised unmasking.

The same formats as `tokenize`, under FF1 with the keyring's fpe sub-key, with nothing lossy:
person names keep their letters' classes instead of becoming pseudonyms, dates are encrypted over
the whole calendar rather than generalised, and a value whose format has fewer than one million
possible values raises `DomainTooSmall` (FF1's approved floor) instead of being weakly encrypted.
The ciphertext carries no key id: whoever masks records which key was current, and `unmask` takes
it, so values masked before a rotation still decrypt.
"""

from __future__ import annotations

from ._base import Operator, ValueMask
from ._context import MaskContext
from ._formats import formatter, transform
from ._keyring import Keyring
from ._scramble import fpe

__all__ = ["Fpe"]


class Fpe(Operator):
    name = "fpe"
    memoizable = True
    reversible = True

    def mask(self, value: str, ctx: MaskContext, keyring: Keyring) -> str | None:
        return transform(value, ctx, fpe(keyring))

    def prepare(self, ctx: MaskContext, keyring: Keyring) -> ValueMask:
        return formatter(ctx, fpe(keyring))

    def unmask(self, value: str, ctx: MaskContext, keyring: Keyring, key_id: str | None) -> str:
        return transform(value, ctx, fpe(keyring, key_id, inverse=True))
