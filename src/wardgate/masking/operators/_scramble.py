"""Keyed maps of an integer domain ``[0, n)`` onto itself: the engine under `tokenize` and `fpe`.

Every format-preserving operator works the same way: a format parses a value into a template that
stays (separators, a kept prefix, a sign) and an integer ``x`` in a domain ``[0, n)`` that changes
(the digits, the letters, the day of the year), asks a `Scrambler` for ``permute(n, x, tweak)``
and renders the result back through the template. Writing each format once against this interface
gives `tokenize`, `fpe` and `unmask` from the same code: they differ only in the scrambler.

* `TokenScrambler` (token sub-key, one-way use). For ``n < 2**64`` it is a *permutation*: FF1
  over the digit or letter string when ``n`` is a power of 10 or 26, else over the shortest bit
  or digit string covering ``n``, cycle-walked back into ``[0, n)`` (re-encrypt while the result
  is ``>= n``: still a bijection, under two calls on average). Distinct inputs then give distinct
  tokens, so DISTINCT counts and GROUP BY on masked data are exact. Small domains are allowed
  (FF1's one-million floor lifted): a token for one of 90 two-digit numbers is enumerable by
  anyone holding a few value/token pairs whatever the construction, so nothing is lost, and a
  bijection beats a hash that merges ~1/3 of them. For
  ``n >= 2**64`` it is HMAC-SHA256 reduced mod ``n``: collisions need ~2**32 distinct values of
  one format, and it costs one HMAC instead of ten AES rounds.
* `FpeScrambler` (fpe sub-key, reversible): the same FF1 permutation and cycle walk, forward or
  inverse, with the standard's domain floor enforced: ``n < 1,000,000`` raises `DomainTooSmall`.

The tweak (built by each format) names the format and whatever template parts must separate
domains (an e-mail's domain, a card's kept prefix), never the column, so tokens are stable across
tables.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from array import array
from collections.abc import Callable
from typing import Any

from .._ff1 import FF1, MIN_DOMAIN
from ._context import DomainTooSmall
from ._keyring import Keyring

__all__ = ["PRF_DOMAIN", "FpeScrambler", "Scrambler", "TokenScrambler", "fpe", "tokens"]

#: From this domain size up, tokens are HMAC outputs instead of a permutation.
PRF_DOMAIN = 1 << 64
#: Domains up to this size that are used often get their whole permutation computed once and
#: looked up (`Scrambler._small`); at most _TABLE_ENTRIES entries (2 bytes each) per scrambler.
_TABLE_DOMAIN = 4096
_TABLE_ENTRIES = 1 << 20
# Domains that are whole numeral strings (all digits, all letters) need no cycle walk.
_POWERS = {10**k: (10, k) for k in range(1, 80)} | {26**k: (26, k) for k in range(1, 60)}


class Scrambler:
    """A keyed map of ``[0, n)`` to itself under a tweak (see the module docstring)."""

    __slots__ = (
        "_inverse",
        "_letters",
        "_plans",
        "_table_entries",
        "_tables",
        "_ten",
        "_two",
        "_uses",
        "format_cache",
    )

    #: Whether outputs can be mapped back (`fpe`); formats that are lossy by design (person
    #: pseudonyms, date generalisation) apply only when this is false.
    reversible = False

    def __init__(self, key: bytes, *, small: bool, inverse: bool = False) -> None:
        self._ten = FF1(key, 10, allow_small_domain=small)
        self._letters = FF1(key, 26, allow_small_domain=small)
        self._two = FF1(key, 2, allow_small_domain=small)
        self._inverse = inverse
        self._plans: dict[int, tuple[Callable[[int, int, bytes], int], int]] = {}
        self._tables: dict[tuple[int, bytes], array[int]] = {}
        self._uses: dict[tuple[int, bytes], int] = {}
        self._table_entries = 0
        #: What formats work out once per value shape under this key (see `_text._layout`).
        self.format_cache: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(inverse={self._inverse})"

    def permute(self, n: int, x: int, tweak: bytes) -> int:
        raise NotImplementedError

    def _walk(self, n: int, x: int, tweak: bytes) -> int:
        if n <= _TABLE_DOMAIN and 0 <= x < n:
            return self._small(n, x, tweak)
        return self._cycle(n, x, tweak)

    def _small(self, n: int, x: int, tweak: bytes) -> int:
        """A small domain used often (the days of one year) is permuted once, whole."""
        key = (n, tweak)
        table = self._tables.get(key)
        if table is not None:
            return table[x]
        uses = self._uses.get(key, 0) + 1
        if uses < max(16, n >> 2):  # building costs n calls: only for a domain in steady use
            if len(self._uses) >= 16384:
                self._uses.clear()
            self._uses[key] = uses
            return self._cycle(n, x, tweak)
        self._uses.pop(key, None)
        self._table_entries += n
        if self._table_entries > _TABLE_ENTRIES:
            self._tables.clear()
            self._table_entries = n
        table = self._tables[key] = array("H", [self._cycle(n, i, tweak) for i in range(n)])
        return table[x]

    def _cycle(self, n: int, x: int, tweak: bytes) -> int:
        plan = self._plans.get(n)
        if plan is None:
            plan = self._plan(n)
        step, length = plan
        y = step(x, length, tweak)
        while y >= n:  # never, for an exact power of the radix
            y = step(y, length, tweak)
        return y

    def _plan(self, n: int) -> tuple[Callable[[int, int, bytes], int], int]:
        """Which FF1 and how many numerals cover ``[0, n)``; kept per ``n``."""
        exact = _POWERS.get(n)
        ff1, length = None, 0
        if exact is not None:
            radix, length = exact
            ff1 = self._ten if radix == 10 else self._letters
            if length < ff1.minlen:
                ff1 = None
        if ff1 is None:
            # Cycle-walk over whichever covering string wastes less: bits (< 2x n) or decimal
            # digits (a k-digit bucket 10**(k-1)..10**k-1 needs only 10/9 of a call on average).
            two = self._two
            bits = max(two.minlen, (n - 1).bit_length())
            ff1, length = two, bits
            digits = len(str(n - 1))
            if n < 1 << 256 and 10**digits < 1 << bits and digits >= self._ten.minlen:
                ff1, length = self._ten, digits
        plan = (ff1.decrypt_int if self._inverse else ff1.encrypt_int, length)
        if len(self._plans) >= 4096:
            self._plans.clear()
        self._plans[n] = plan
        return plan


class TokenScrambler(Scrambler):
    """One-way keyed tokens: a permutation below `PRF_DOMAIN`, HMAC above it."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        # One key per primitive (AES for FF1, HMAC-SHA256 for the PRF), both from the token key.
        super().__init__(hmac.digest(key, b"ff1", "sha256"), small=True)
        # HMAC-SHA256 with the ipad/opad states prepared once: copying two hash states is about
        # four times cheaper than hmac.digest, which re-keys on every call.
        block = hmac.digest(key, b"prf", "sha256").ljust(64, b"\0")
        self._inner: Any = hashlib.sha256(bytes(c ^ 0x36 for c in block))
        self._outer: Any = hashlib.sha256(bytes(c ^ 0x5C for c in block))

    def permute(self, n: int, x: int, tweak: bytes) -> int:
        if n > _TABLE_DOMAIN and n < PRF_DOMAIN:  # the common case, as `_cycle` without a call
            step, length = self._plans.get(n) or self._plan(n)
            y = step(x, length, tweak)
            while y >= n:
                y = step(y, length, tweak)
            return y
        if n <= 1:
            return 0
        if n < PRF_DOMAIN:
            return self._walk(n, x, tweak)
        size = (n.bit_length() + 7) // 8
        return self.prf_int(n, tweak, size.to_bytes(2, "big") + x.to_bytes(size, "big"))

    def prf_int(self, n: int, tweak: bytes, data: bytes) -> int:
        """An integer in ``[0, n)`` from HMAC(token key, tweak, data); bias below 2**-64."""
        head = b"i" + len(tweak).to_bytes(2, "big") + tweak + data
        want = n.bit_length() + 64
        out = self._hmac(head)
        counter = 1
        while len(out) * 8 < want:
            out += self._hmac(head + counter.to_bytes(4, "big"))
            counter += 1
        return int.from_bytes(out, "big") % n

    def keystream(self, tweak: bytes, data: bytes, count: int) -> tuple[int, ...]:
        """``count`` 16-bit values from HMAC(token key, tweak, data) in counter mode.

        For long values: one value per changing character, reduced mod 10 or 26 by the caller
        (bias below 0.05%), instead of a big-integer round trip that is quadratic in length.
        """
        head = b"s" + len(tweak).to_bytes(2, "big") + tweak + data
        blocks = [self._hmac(head + i.to_bytes(4, "big")) for i in range((2 * count + 31) // 32)]
        return struct.unpack(f">{count}H", b"".join(blocks)[: 2 * count])

    def _hmac(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        digest: bytes = outer.digest()
        return digest


class FpeScrambler(Scrambler):
    """FF1 under the fpe sub-key, forward (mask) or inverse (unmask); NIST's domain floor."""

    __slots__ = ()
    reversible = True

    def __init__(self, key: bytes, *, inverse: bool) -> None:
        super().__init__(key, small=False, inverse=inverse)

    def permute(self, n: int, x: int, tweak: bytes) -> int:
        if n < MIN_DOMAIN:
            raise DomainTooSmall(
                f"fpe needs a format with at least {MIN_DOMAIN:,} possible values;"
                f" this one has {n:,}"
            )
        return self._walk(n, x, tweak)


def tokens(keyring: Keyring) -> TokenScrambler:
    """The token scrambler for the keyring's current key (built once per keyring)."""
    kid = keyring.current
    return keyring.memo(("token", kid), lambda: TokenScrambler(keyring.subkey("token", kid)))


def fpe(keyring: Keyring, key_id: str | None = None, *, inverse: bool = False) -> FpeScrambler:
    """The FF1 scrambler for ``key_id`` (default: current), forward or inverse."""
    kid = keyring.current if key_id is None else key_id
    slot = ("fpe-inverse" if inverse else "fpe", kid)
    return keyring.memo(slot, lambda: FpeScrambler(keyring.subkey("fpe", kid), inverse=inverse))
