"""Payment card numbers: Luhn-valid, with an issuer range (IIN) and a length that issuer uses.

The IIN table keeps false positives down: a Luhn check alone passes one random number in ten,
and EAN-13 barcodes pass it as often. So 13-digit Visa and 12/13-digit Maestro numbers (long
retired, and the shape of every barcode) are not accepted without context; with card context
(a ``card_number`` column, "card" before it) any Luhn-valid 12 to 19 digits are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .._base import Finding, Recognizer
from .._context import Context
from .._shapes import NUMBER
from .._validators import digits, luhn

#: (low prefix, high prefix, lengths); prefixes compare as strings of the same width
_RANGES: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("4", "4", frozenset({16, 19})),  # Visa
    ("51", "55", frozenset({16})),  # Mastercard
    ("2221", "2720", frozenset({16})),  # Mastercard 2-series
    ("34", "34", frozenset({15})),  # American Express
    ("37", "37", frozenset({15})),
    ("6011", "6011", frozenset({16, 17, 18, 19})),  # Discover
    ("644", "649", frozenset({16, 17, 18, 19})),
    ("65", "65", frozenset({16, 17, 18, 19})),
    ("3528", "3589", frozenset({16, 17, 18, 19})),  # JCB
    ("1800", "1800", frozenset({15})),  # JCB, 15-digit
    ("2131", "2131", frozenset({15})),
    ("300", "305", frozenset({14, 15, 16, 17, 18, 19})),  # Diners Club
    ("3095", "3095", frozenset({14, 15, 16, 17, 18, 19})),
    ("36", "36", frozenset({14, 15, 16, 17, 18, 19})),
    ("38", "39", frozenset({16, 17, 18, 19})),
    ("62", "62", frozenset({16, 17, 18, 19})),  # UnionPay (and Discover's 622126-622925)
    ("50", "50", frozenset({16, 17, 18, 19})),  # Maestro
    ("56", "58", frozenset({16, 17, 18, 19})),
    ("63", "63", frozenset({16, 17, 18, 19})),
    ("67", "67", frozenset({16, 17, 18, 19})),
)


def issuer_accepts(number: str) -> bool:
    """Whether some card issuer uses ``number``'s prefix at its length."""
    for low, high, lengths in _RANGES:
        if len(number) in lengths and low <= number[: len(low)] <= high:
            return True
    return False


class PaymentCard(Recognizer):
    """``4111 1111 1111 1111``, ``5555-5555-5555-4444``, ``378282246310005``."""

    entity = "card_number"
    min_length = 12
    candidate = NUMBER
    pattern = re.compile(r"(?<!\d)\d(?:[ -]?\d){11,18}(?!\d)")
    score = 0.95
    context = ("card*", "credit*", "cc", "visa", "mastercard", "amex", "pan", "kreditkarte")

    def search(self, ctx: Context, start: int, end: int) -> Iterator[Finding]:
        for m in self.pattern.finditer(ctx.text, start, end):
            number = digits(m.group())
            if not luhn(number):
                continue
            vouched = ctx.near(m.start(), m.end(), self.context)
            # with card context any Luhn-valid 12-19 digits count (test cards, new IIN ranges)
            if vouched or issuer_accepts(number):
                yield Finding(self.entity, m.start(), m.end(), self.rate("", vouched))
