"""Numbers, booleans and UUIDs in PostgreSQL's text output.

Numbers keep their sign, their scale (digits after the point) and, for tokens, their digit count,
and stay inside their type's range: the value space is cut into *buckets* (same sign, same number
of integer digits, clipped to the type's bounds) and each value is permuted inside its bucket, so
the masked value is the same kind of number (a 4-digit amount stays a 4-digit amount) and distinct
inputs stay distinct. FPE cannot permute tiny buckets (FF1's floor is one million values), so for
`fpe` all magnitudes below 10**6 (in scaled units) share one bucket per sign: small numbers keep
their sign but not their digit count, and an ``int2`` (65,536 values in all) cannot be encrypted.
``NaN`` and the infinities pass unchanged.

Floats (``float4``/``float8``) are treated as a decimal mantissa with the exponent kept; a
result outside the type's range is walked on to the next in-range value of the cycle.

UUIDs keep the version nibble and the three variant bits, so an RFC 4122 UUID stays one of the
same version (and any other variant stays that variant), and the other 121 bits are scrambled.
"""

from __future__ import annotations

import re

from ._context import MaskError
from ._ids import walk
from ._scramble import Scrambler
from ._text import generic

__all__ = ["INT_RANGES", "pg_bool", "pg_float", "pg_int", "pg_numeric", "pg_uuid"]

INT_RANGES: dict[str, tuple[int, int]] = {
    "int2": (-(2**15), 2**15 - 1),
    "int4": (-(2**31), 2**31 - 1),
    "int8": (-(2**63), 2**63 - 1),
}
_NUMERIC = re.compile(r"(-?)(\d+)(?:\.(\d+))?")
_FLOAT = re.compile(r"(-?)(\d+)(?:\.(\d+))?([eE][-+]?\d+)?")
_FLOAT_MAX = {"float4": 3.4028234663852886e38, "float8": 1.7976931348623157e308}
_FPE_FLOOR = 10**6


def _bucket(v: int, floor: int, stretch: int, lo: int | None, hi: int | None) -> tuple[int, int]:
    """The inclusive range of values permuted together with ``v``.

    Non-negative: ``[0, floor)`` or ``[10**(k-1), 10**k)`` for a k-digit ``v``. Negative: the
    mirror image, except that the lowest bucket is ``[-(floor - 1 + stretch), -1]`` (zero has no
    negative), so with ``stretch=1`` it still holds ``floor`` values, as FPE needs. Clipped to
    ``[lo, hi]``.
    """
    m = abs(v)
    top0 = floor - 1 + (stretch if v < 0 else 0)
    if m <= top0:
        a, b = (1 if v < 0 else 0), top0
    else:
        k = len(str(m))
        a, b = max(10 ** (k - 1), top0 + 1), 10**k - 1
    if v >= 0:
        return a, b if hi is None else min(b, hi)
    return (-b if lo is None else max(-b, lo)), -a


def _permute_int(
    s: Scrambler, v: int, scale_digits: int, lo: int | None, hi: int | None, tag: bytes
) -> int:
    """Permute ``v`` (an integer in units of 10**-scale_digits) inside its bucket."""
    if s.reversible:
        floor = max(_FPE_FLOOR, 10 ** (1 + scale_digits))
        stretch = 1
    else:
        floor = 10 ** (1 + scale_digits)
        stretch = 0
    a, b = _bucket(v, floor, stretch, lo, hi)
    tweak = tag + str(a).encode() + b":" + str(b).encode()
    return a + s.permute(b - a + 1, v - a, tweak)


def pg_int(value: str, s: Scrambler, type_name: str) -> str:
    lo, hi = INT_RANGES[type_name]
    try:
        v = int(value)
    except ValueError:
        raise MaskError(f"{type_name} value does not parse") from None
    if not lo <= v <= hi:
        raise MaskError(f"{type_name} value is out of range")
    return str(_permute_int(s, v, 0, lo, hi, b"n\0"))


def pg_numeric(value: str, s: Scrambler) -> str:
    m = _NUMERIC.fullmatch(value)
    if m is None:  # NaN, Infinity, -Infinity
        return value
    sign, whole, frac = m[1], m[2], m[3] or ""
    v = int(whole + frac)
    if sign:
        if v == 0:
            return value
        v = -v
    y = _permute_int(s, v, len(frac), None, None, b"n\0" + str(len(frac)).encode() + b"\0")
    return _decimal(y, len(frac))


def _decimal(y: int, scale: int) -> str:
    sign = "-" if y < 0 else ""
    whole, frac = divmod(abs(y), 10**scale)
    return f"{sign}{whole}.{frac:0{scale}d}" if scale else f"{sign}{whole}"


def pg_float(value: str, s: Scrambler, type_name: str) -> str:
    m = _FLOAT.fullmatch(value)
    if m is None:  # NaN, Infinity, -Infinity
        return value
    sign, whole, frac, exp = m[1], m[2], m[3] or "", m[4] or ""
    v = int(whole + frac)
    if v == 0:
        return value  # 0 and -0
    if sign:
        v = -v
    limit = _FLOAT_MAX.get(type_name, _FLOAT_MAX["float8"])
    scale = len(frac)
    tag = b"f\0" + str(scale).encode() + exp.encode() + b"\0"
    if not exp:  # plain notation: at most 17 significant digits, far inside any float range
        return _decimal(_permute_int(s, v, scale, None, None, tag), scale)
    # Exponent form: walk within the bucket past results that overflow the type.
    a, b = _bucket(v, 10 ** (1 + scale), 0, None, None)
    if s.reversible:
        a, b = _bucket(v, max(_FPE_FLOOR, 10 ** (1 + scale)), 1, None, None)
    tweak = tag + str(a).encode() + b":" + str(b).encode()

    def fits(off: int) -> bool:
        return abs(float(_decimal(a + off, scale) + exp)) <= limit

    return _decimal(a + walk(s, b - a + 1, v - a, tweak, fits), scale) + exp


def pg_bool(value: str, s: Scrambler) -> str:
    """A keyed swap of ``t``/``f`` (or none): tokens on a two-value domain."""
    if value not in ("t", "f"):
        return value
    return "tf"[s.permute(2, value == "f", b"b")]


def pg_uuid(value: str, s: Scrambler) -> str:
    hexits = value.replace("-", "")
    if len(hexits) != 32:
        return generic(value, s)
    x = int(hexits, 16)
    # Bits 76-79 are the version; bits 61-63 the variant (1 to 3 of them significant).
    version, variant = (x >> 76) & 0xF, (x >> 61) & 0x7
    free = ((x >> 80) << 73) | (((x >> 64) & 0xFFF) << 61) | (x & ((1 << 61) - 1))
    y = s.permute(1 << 121, free, b"u\0" + bytes((version, variant)))
    out = (
        ((y >> 73) << 80)
        | (version << 76)
        | (((y >> 61) & 0xFFF) << 64)
        | (variant << 61)
        | (y & ((1 << 61) - 1))
    )
    h = f"{out:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
