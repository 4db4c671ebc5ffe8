"""IP addresses (``inet``, ``cidr`` and ``ip_address`` spans in text).

The address is scrambled as a whole 32- or 128-bit number, so the family is kept and any address
can come out (a private address is not kept private: that would say something about the host).
``inet`` keeps its ``/prefix`` suffix; ``cidr`` scrambles only the network bits and leaves the host
bits zero, as the type requires. Output is the canonical text (PostgreSQL's for ``inet``), so
`fpe` unmasks to the canonical form of the original. When a text column is too short for the
canonical form (``varchar(n)`` narrower than the address could be), tokens fall back to a
length-preserving variant: IPv4 octets keep their digit counts, IPv6 hex digits stay hex digits.
"""

from __future__ import annotations

import ipaddress
import re

from ._context import MaskError
from ._scramble import Scrambler, TokenScrambler
from ._text import generic

__all__ = ["inet"]

_HEX = "0123456789abcdef"
_DOTTED = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
# IPv4 octet values by digit count: 0-9, 10-99, 100-255.
_OCTET = {1: (0, 10), 2: (10, 90), 3: (100, 156)}


def inet(value: str, s: Scrambler, *, cidr: bool = False, max_length: int | None = None) -> str:
    if not cidr and max_length is None and _DOTTED.fullmatch(value):
        # Plain IPv4, the common case: skip the ipaddress module (its parse and str cost more
        # than the scrambling).
        parts = value.split(".")
        if all(len(p) == 1 or (p[0] != "0" and int(p) < 256) for p in parts):
            a, b, c, d = map(int, parts)
            y = s.permute(1 << 32, (a << 24) | (b << 16) | (c << 8) | d, b"ip4")
            return f"{y >> 24}.{(y >> 16) & 255}.{(y >> 8) & 255}.{y & 255}"
    addr_text, slash, prefix_text = value.partition("/")
    try:
        addr = ipaddress.ip_address(addr_text)
        bits = addr.max_prefixlen
        prefix = int(prefix_text) if slash else bits
    except ValueError:
        return generic(value, s)
    if not 0 <= prefix <= bits:
        return generic(value, s)
    tag = b"ip4" if bits == 32 else b"ip6"
    x = int(addr)
    if cidr:
        host = bits - prefix
        y = s.permute(1 << prefix, x >> host, tag + b"\0net" + bytes((prefix,))) << host
    else:
        y = s.permute(1 << bits, x, tag)
    out = str(ipaddress.ip_address(y) if bits == 32 else ipaddress.IPv6Address(y))
    if slash:
        out += "/" + prefix_text
    if max_length is not None and len(out) > max_length:
        if not isinstance(s, TokenScrambler):
            raise MaskError("fpe output of an IP address would not fit the column's length")
        return _same_length(value, s)
    return out


def _same_length(value: str, s: Scrambler) -> str:
    """Tokens only: an address of the same text length (see the module docstring)."""
    if ":" not in value:
        parts = value.split(".")
        if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 for p in parts):
            return generic(value, s)
        x, n = 0, 1
        for p in parts:
            lo, size = _OCTET[len(p)]
            x = x * size + min(max(int(p) - lo, 0), size - 1)
            n *= size
        y = s.permute(n, x, b"ip4-len\0" + ".".join(str(len(p)) for p in parts).encode())
        out = []
        for p in reversed(parts):
            lo, size = _OCTET[len(p)]
            y, r = divmod(y, size)
            out.append(str(lo + r))
        return ".".join(reversed(out))
    pos = [i for i, c in enumerate(value) if c in "0123456789abcdefABCDEF"]
    if "." in value or not pos:
        return generic(value, s)
    x = int("".join(value[i] for i in pos), 16)
    shape = "".join("x" if c in "0123456789abcdefABCDEF" else c for c in value)
    y = s.permute(16 ** len(pos), x, b"ip6-len\0" + shape.encode())
    chars = list(value)
    for k, i in enumerate(reversed(pos)):
        chars[i] = _HEX[(y >> (4 * k)) & 15]
    return "".join(chars)
