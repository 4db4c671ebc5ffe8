"""NIST SP 800-38G FF1 format-preserving encryption over AES.

Theory of operation. FF1 encrypts a string of ``n`` numerals in base ``radix`` to another string
of ``n`` numerals in the same base: a ten-round Feistel network whose two halves are the first
``u = n // 2`` and the last ``v = n - u`` numerals, and whose round function is AES-CBC-MAC over a
fixed block ``P`` (radix, lengths) and a block string ``Q`` (tweak, round number, the half that
does not change this round). The round output is added to the other half modulo ``radix**m``.

Everything here works on the *integer value* of a numeral string (``NUM_radix``), which is what the
standard computes with anyway: the halves are ``divmod(x, radix**v)``, and the byte strings the
standard builds are ``int.to_bytes`` of those integers. Callers that have a mixed-radix or
non-power domain (the masking operators) use `encrypt_int` directly; `encrypt`/`decrypt` take
numeral sequences, as the standard's sample vectors do.

Speed. The masking proxy calls this per value, so the work that depends only on ``(n, tweak)`` is
done once and cached: the CBC-MAC state after ``P`` and the tweak's whole blocks, and, in the
common case where the rest of ``Q`` fits one block, the XOR mask for each round. A round is then
one AES block, two integer conversions and an addition. The AES context is an ECB encryptor used
one block at a time (the CBC chaining is done here), because creating a CBC context per round
would cost more than the rounds themselves. What depends on ``(n, len(tweak))`` alone (the half
sizes, the state after ``P``) is cached apart, so a tweak seen once (a card's kept digits are in
its tweak) costs its own blocks only; the ``(n, tweak)`` cache keeps two generations, so a stream
of one-off tweaks does not evict the ones in steady use. The rounds of one value depend on each
other, so they cannot be batched into one AES call.

Domain. The standard requires ``radix**minlen >= 1_000_000`` and ``2 <= minlen <= maxlen < 2**32``;
`FF1` enforces both. ``allow_small_domain=True`` lifts the one-million floor (never the
``n >= 2`` structural minimum): that is *not* FF1 as approved, and is meant only for keyed
tokens, where a small domain is enumerable by anyone who sees enough tokens whatever the cipher.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["FF1", "MAX_LEN", "MAX_RADIX", "MIN_DOMAIN", "FF1Error"]

#: NIST SP 800-38G Rev. 1: radix**minlen must be at least one million.
MIN_DOMAIN = 1_000_000
MAX_RADIX = 1 << 16
#: maxlen < 2**32 (the length is encoded in four bytes of P).
MAX_LEN = (1 << 32) - 1
_ROUNDS = 10
_CACHE_LIMIT = 4096


class FF1Error(ValueError):
    """An argument outside what FF1 (as configured) accepts. Never carries key material."""


#: (radix**u, radix**v, b, d, CBC-MAC state after P, zero padding, round-number terms)
_Shared = tuple[int, int, int, int, int, bytes, tuple[int, ...]]


class _Setup:
    """What one ``(n, tweak)`` pair fixes: half sizes, byte lengths and the CBC-MAC prefix."""

    __slots__ = ("b", "d_shift", "extra", "masks", "ru", "rv", "size", "state", "tail")

    def __init__(self, ru: int, rv: int, b: int, d: int) -> None:
        self.ru = ru
        self.rv = rv
        self.size = ru * rv
        self.b = b
        # d <= 16: the round value is the top d bytes of one AES block (a shift);
        # otherwise `extra` more blocks are needed and d_shift is the byte count to keep.
        self.d_shift = 8 * (16 - d) if d <= 16 else d
        self.extra = 0 if d <= 16 else (d + 15) // 16 - 1
        self.masks: tuple[int, ...] | None = None  # per-round XOR masks, single-block fast path
        self.state = 0  # CBC-MAC state after P and the tweak's whole blocks
        self.tail = b""  # bytes of T || 0^pad not yet absorbed (< 16)


class FF1:
    """FF1 with one AES key (16, 24 or 32 bytes) and one radix (2..65536).

    Methods take the tweak per call; ``encrypt``/``decrypt`` map numeral sequences (each numeral
    in ``range(radix)``), ``encrypt_int``/``decrypt_int`` map ``NUM_radix`` values of ``n``-numeral
    strings. The key is held only inside the AES context; `repr` shows the radix alone.
    """

    __slots__ = ("_aes", "_maxlen", "_minlen", "_old_setups", "_radix", "_setups", "_shared")

    def __init__(
        self,
        key: bytes,
        radix: int = 10,
        *,
        maxlen: int = MAX_LEN,
        allow_small_domain: bool = False,
    ) -> None:
        if len(key) not in (16, 24, 32):
            raise FF1Error("FF1 needs an AES key of 16, 24 or 32 bytes")
        if not 2 <= radix <= MAX_RADIX:
            raise FF1Error(f"FF1 radix must be in 2..{MAX_RADIX}, not {radix}")
        minlen = 2
        if not allow_small_domain:
            while radix**minlen < MIN_DOMAIN:
                minlen += 1
        if not minlen <= maxlen <= MAX_LEN:
            raise FF1Error(f"FF1 maxlen must be in {minlen}..{MAX_LEN}, not {maxlen}")
        self._radix = radix
        self._minlen = minlen
        self._maxlen = maxlen
        self._aes = Cipher(algorithms.AES(key), modes.ECB()).encryptor().update  # noqa: S305
        self._setups: dict[tuple[int, bytes], _Setup] = {}
        self._old_setups: dict[tuple[int, bytes], _Setup] = {}
        self._shared: dict[tuple[int, int], _Shared] = {}

    def __repr__(self) -> str:
        return f"FF1(radix={self._radix}, minlen={self._minlen}, maxlen={self._maxlen})"

    @property
    def radix(self) -> int:
        return self._radix

    @property
    def minlen(self) -> int:
        """Shortest numeral string accepted: radix**minlen >= 1e6 unless small domains are on."""
        return self._minlen

    @property
    def maxlen(self) -> int:
        return self._maxlen

    # -- numeral strings ------------------------------------------------------------------------

    def encrypt(self, numerals: Sequence[int], tweak: bytes = b"") -> list[int]:
        """FF1.Encrypt(K, T, X) for a numeral string X."""
        n = len(numerals)
        return self._to_numerals(self.encrypt_int(self._num(numerals), n, tweak), n)

    def decrypt(self, numerals: Sequence[int], tweak: bytes = b"") -> list[int]:
        """FF1.Decrypt(K, T, Y) for a numeral string Y."""
        n = len(numerals)
        return self._to_numerals(self.decrypt_int(self._num(numerals), n, tweak), n)

    def _num(self, numerals: Sequence[int]) -> int:
        radix = self._radix
        x = 0
        for digit in numerals:
            if not 0 <= digit < radix:
                raise FF1Error(f"numeral {digit} is outside radix {radix}")
            x = x * radix + digit
        return x

    def _to_numerals(self, x: int, n: int) -> list[int]:
        radix = self._radix
        out = [0] * n
        for i in range(n - 1, -1, -1):
            x, out[i] = divmod(x, radix)
        return out

    # -- integer form ---------------------------------------------------------------------------

    def encrypt_int(self, x: int, n: int, tweak: bytes = b"") -> int:
        """Encrypt the ``n``-numeral string whose value is ``x`` (0 <= x < radix**n)."""
        setup = self._setup(n, tweak)
        if not 0 <= x < setup.size:
            raise FF1Error(f"value is outside radix**{n}")
        rv = setup.rv
        a, b = divmod(x, rv)
        masks = setup.masks
        if masks is not None:
            # Fast path: Q's variable part is one block, so R is one AES call, and d <= 16.
            # Round i updates `a` when i is even and `b` when odd: the standard's
            # (A, B) <- (B, A + F(B)) with the names held still. Unrolled, because the loop's
            # own overhead is a fifth of the cost (int.to_bytes/from_bytes default to big-endian).
            aes, fb, sh, ru = self._aes, int.from_bytes, setup.d_shift, setup.ru
            m0, m1, m2, m3, m4, m5, m6, m7, m8, m9 = masks
            a = (a + (fb(aes((m0 ^ b).to_bytes(16))) >> sh)) % ru
            b = (b + (fb(aes((m1 ^ a).to_bytes(16))) >> sh)) % rv
            a = (a + (fb(aes((m2 ^ b).to_bytes(16))) >> sh)) % ru
            b = (b + (fb(aes((m3 ^ a).to_bytes(16))) >> sh)) % rv
            a = (a + (fb(aes((m4 ^ b).to_bytes(16))) >> sh)) % ru
            b = (b + (fb(aes((m5 ^ a).to_bytes(16))) >> sh)) % rv
            a = (a + (fb(aes((m6 ^ b).to_bytes(16))) >> sh)) % ru
            b = (b + (fb(aes((m7 ^ a).to_bytes(16))) >> sh)) % rv
            a = (a + (fb(aes((m8 ^ b).to_bytes(16))) >> sh)) % ru
            b = (b + (fb(aes((m9 ^ a).to_bytes(16))) >> sh)) % rv
        else:
            for i in range(_ROUNDS):
                y = self._round(setup, i, b)
                a, b = b, (a + y) % (setup.rv if i & 1 else setup.ru)
        return a * rv + b

    def decrypt_int(self, x: int, n: int, tweak: bytes = b"") -> int:
        """Invert `encrypt_int` under the same ``n`` and tweak."""
        setup = self._setup(n, tweak)
        if not 0 <= x < setup.size:
            raise FF1Error(f"value is outside radix**{n}")
        rv = setup.rv
        a, b = divmod(x, rv)
        masks = setup.masks
        if masks is not None:
            aes, fb, sh, ru = self._aes, int.from_bytes, setup.d_shift, setup.ru
            m0, m1, m2, m3, m4, m5, m6, m7, m8, m9 = masks
            b = (b - (fb(aes((m9 ^ a).to_bytes(16))) >> sh)) % rv
            a = (a - (fb(aes((m8 ^ b).to_bytes(16))) >> sh)) % ru
            b = (b - (fb(aes((m7 ^ a).to_bytes(16))) >> sh)) % rv
            a = (a - (fb(aes((m6 ^ b).to_bytes(16))) >> sh)) % ru
            b = (b - (fb(aes((m5 ^ a).to_bytes(16))) >> sh)) % rv
            a = (a - (fb(aes((m4 ^ b).to_bytes(16))) >> sh)) % ru
            b = (b - (fb(aes((m3 ^ a).to_bytes(16))) >> sh)) % rv
            a = (a - (fb(aes((m2 ^ b).to_bytes(16))) >> sh)) % ru
            b = (b - (fb(aes((m1 ^ a).to_bytes(16))) >> sh)) % rv
            a = (a - (fb(aes((m0 ^ b).to_bytes(16))) >> sh)) % ru
        else:
            for i in range(_ROUNDS - 1, -1, -1):
                y = self._round(setup, i, a)
                a, b = (b - y) % (setup.rv if i & 1 else setup.ru), a
        return a * rv + b

    # -- the round function ---------------------------------------------------------------------

    def _setup(self, n: int, tweak: bytes) -> _Setup:
        key = (n, tweak)
        setup = self._setups.get(key)
        if setup is None:
            setup = self._old_setups.get(key)
            if setup is None:
                setup = self._new_setup(n, tweak)
            # Two generations (as in the masking memo): setups in use survive a stream of
            # one-off tweaks (a card's kept digits are in its tweak) instead of being cleared.
            if len(self._setups) >= _CACHE_LIMIT:
                self._old_setups, self._setups = self._setups, {}
            self._setups[key] = setup
        return setup

    def _new_setup(self, n: int, tweak: bytes) -> _Setup:
        t = len(tweak)
        shared = self._shared.get((n, t))
        if shared is None:
            shared = self._shared_setup(n, t)
        ru, rv, b, d, state, pad, rounds = shared
        setup = _Setup(ru, rv, b, d)
        const = tweak + pad
        whole = len(const) // 16 * 16
        for j in range(0, whole, 16):
            block = state ^ int.from_bytes(const[j : j + 16], "big")
            state = int.from_bytes(self._aes(block.to_bytes(16, "big")), "big")
        setup.state = state
        setup.tail = const[whole:]
        if len(setup.tail) + 1 + b == 16 and d <= 16:
            head = state ^ (int.from_bytes(setup.tail, "big") << (8 * (1 + b)))
            setup.masks = tuple([head ^ r for r in rounds])
        return setup

    def _shared_setup(self, n: int, t: int) -> _Shared:
        """What ``(n, len(tweak))`` fixes: half sizes, b, d, the CBC-MAC state after ``P`` (the
        lengths only, not the tweak's bytes), the zero padding and the round-number terms."""
        if not self._minlen <= n <= self._maxlen:
            raise FF1Error(
                f"FF1 with radix {self._radix} takes {self._minlen}..{self._maxlen} numerals,"
                f" not {n}"
            )
        if t > MAX_LEN:
            raise FF1Error("FF1 tweak is too long")
        radix = self._radix
        u = n // 2
        v = n - u
        ru, rv = radix**u, radix**v
        # b = ceil(ceil(v * log2(radix)) / 8), computed exactly: ceil(v*log2 r) == bitlen(r**v - 1).
        b = ((rv - 1).bit_length() + 7) // 8
        d = 4 * ((b + 3) // 4) + 4
        p = (
            bytes((1, 2, 1))
            + radix.to_bytes(3, "big")
            + bytes((10, u % 256))
            + n.to_bytes(4, "big")
            + t.to_bytes(4, "big")
        )
        state = int.from_bytes(self._aes(p), "big")
        rounds = tuple(i << (8 * b) for i in range(_ROUNDS))
        shared = (ru, rv, b, d, state, bytes((-t - b - 1) % 16), rounds)
        if len(self._shared) >= _CACHE_LIMIT:
            self._shared.clear()
        self._shared[n, t] = shared
        return shared

    def _round(self, setup: _Setup, i: int, half: int) -> int:
        """y = NUM(S) for round ``i`` where ``half`` is the unchanged half (general path)."""
        aes = self._aes
        msg = setup.tail + bytes((i,)) + half.to_bytes(setup.b, "big")
        r = setup.state
        for j in range(0, len(msg), 16):
            block = r ^ int.from_bytes(msg[j : j + 16], "big")
            r = int.from_bytes(aes(block.to_bytes(16, "big")), "big")
        if setup.extra == 0:
            return r >> setup.d_shift
        more = b"".join((r ^ j).to_bytes(16, "big") for j in range(1, setup.extra + 1))
        s = r.to_bytes(16, "big") + aes(more)
        return int.from_bytes(s[: setup.d_shift], "big")
