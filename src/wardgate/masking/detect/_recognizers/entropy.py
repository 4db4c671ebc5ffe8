"""High-entropy tokens: long random-looking strings that are likely keys, tokens or passwords.

Hard negatives decide the design: hex digests (md5/sha1/sha256, git ids) and UUIDs are ids, not
secrets, so pure-hex strings count only with context ("token", "secret" in the column or just
before); base64 that decodes to readable text, base64 images, and camelCase or snake_case
identifiers are excluded. The entropy floor is ~the 1st percentile of random base62 strings of
the same length (measured: 3.4 bits at 16 characters, 4.2 at 32, 4.5 at 40).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterator

from .._base import Finding, Recognizer
from .._context import Context
from .._shapes import OPAQUE
from .._validators import shannon_entropy

_HEX = re.compile(r"[0-9a-fA-F]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_WORDS = re.compile(r"[A-Z]?[a-z]{3,}")
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
#: base64 of PNG, JPEG, GIF, WebP, SVG and PDF files: data, not credentials
_IMAGE_PREFIXES = ("iVBORw0KGg", "/9j/", "R0lGOD", "UklGR", "PHN2Zy", "JVBERi0")
SECRET_WORDS = (
    "token*", "secret*", "api key", "apikey", "key", "keys", "auth*", "bearer", "credential*",
    "access key", "private", "session", "signature", "sig", "passw*", "pwd", "client secret",
)  # fmt: skip


#: context strong enough to make a hex string a secret ("key" alone is not: "private_key_id")
HEX_SECRET_WORDS = (
    "token*", "secret*", "api key", "apikey", "access token", "passw*", "client secret",
    "signing key", "hmac*", "webhook secret",
)  # fmt: skip


def entropy_floor(length: int) -> float:
    """Bits per character below which a string of ``length`` is unlikely to be random."""
    return min(0.84 * math.log2(length), 4.85)


def _readable_base64(value: str) -> bool:
    if len(value) % 4 or not _B64.fullmatch(value):
        return False
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in raw)
    return printable >= 0.95 * len(raw)


def looks_random(value: str, vouched: bool, hex_vouched: bool = False) -> bool:
    """Whether ``value`` is plausibly a machine-made secret rather than an id or a word.

    ``vouched``: secret context is near; ``hex_vouched``: context strong enough for hex too.
    """
    core = value.rstrip("=")
    n = len(core)
    if n < (16 if vouched else 24) or _UUID.fullmatch(core) or value.startswith(_IMAGE_PREFIXES):
        return False
    if _HEX.fullmatch(core):
        return hex_vouched and n >= 32
    lower = any(c.islower() for c in core)
    upper = any(c.isupper() for c in core)
    digit = any(c.isdigit() for c in core)
    if sum((lower, upper, digit)) < (2 if vouched else 3):
        return False
    if sum(len(w) for w in _WORDS.findall(core)) > 0.5 * n:
        return False
    if _readable_base64(value):
        return False
    return shannon_entropy(core) >= entropy_floor(n) - (0.2 if vouched else 0.0)


class HighEntropyToken(Recognizer):
    entity = "high_entropy_token"
    candidate = OPAQUE
    context = SECRET_WORDS
    score = 0.5  # below every vendor recognizer, which wins an overlap

    def search(self, ctx: Context, start: int, end: int) -> Iterator[Finding]:
        vouched = ctx.near(start, end, self.context)
        hex_vouched = vouched and ctx.near(start, end, HEX_SECRET_WORDS)
        if looks_random(ctx.text[start:end], vouched, hex_vouched):
            yield Finding(self.entity, start, end, self.rate("", vouched))
