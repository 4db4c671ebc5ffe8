"""Payment card numbers: Luhn-valid, and in an issuer's range (IIN) at a length it uses, or
printed the way cards are printed.

A Luhn check alone passes one random number in ten, and EAN-13 barcodes, UPC-A codes and IMEIs
pass it as often, so it is never enough on its own. Three things can add to it:

- the issuer table below (the published IIN ranges and lengths), which is what a bare
  ``4111111111111111`` is judged by. 13-digit Visa numbers (long retired, the shape of every
  EAN-13 barcode) and 12-15-digit numbers in Maestro's wide 50/56-69 block (order numbers and
  UPC-A codes: about one random 12-digit number in 150 would pass) are left out of it;
  Maestro's own named prefixes (5018, 6759...) are in it at every length Maestro uses;
- card grouping: 14 to 19 digits printed in fours (``4111 1111 1111 1111``) or as 4-6-5 /
  4-6-4 (American Express, Diners) with one separator throughout. With that, a prefix in any
  issuer's block counts at any of these lengths, and a 16- or 19-digit number starting 3-6 (the
  payment industries of ISO/IEC 7812) counts whatever its prefix. Twelve digits in fours are
  references and tracking numbers as often as cards: they count only by the table;
- card context (a ``card_number`` column, "card" before it): any Luhn-valid 12 to 19 digits.

Without context, a number right after "tracking", "isbn", "imei" and the like, or in a column
so named, is that thing and not a card; nor is one with two kinds of separator
(``20-00-00 12345678`` is a sort code and an account number).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .._base import Finding, Recognizer
from .._context import Context
from .._shapes import NUMBER
from .._validators import digits, luhn

_LONG = frozenset(range(16, 20))
_ANY = frozenset(range(12, 20))
#: (low prefix, high prefix, lengths); prefixes compare as strings of the same width. From the
#: networks' published IIN ranges (ISO/IEC 7812 register as summarised by Wikipedia, "Payment
#: card number").
_RANGES: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("4", "4", frozenset({16, 19})),  # Visa (13 digits: only with context)
    ("51", "55", frozenset({16})),  # Mastercard
    ("2221", "2720", frozenset({16})),  # Mastercard 2-series
    ("34", "34", frozenset({15})),  # American Express
    ("37", "37", frozenset({15})),
    ("6011", "6011", _LONG),  # Discover
    ("644", "649", _LONG),
    ("65", "65", _LONG),  # Discover, RuPay, Troy
    ("3528", "3589", _LONG),  # JCB (and RuPay's 353, 356)
    ("1800", "1800", frozenset({15})),  # JCB, 15-digit
    ("2131", "2131", frozenset({15})),
    ("300", "305", frozenset(range(14, 20))),  # Diners Club (Carte Blanche)
    ("3095", "3095", frozenset(range(14, 20))),
    ("36", "36", frozenset(range(14, 20))),  # Diners Club International
    ("38", "39", frozenset(range(14, 20))),
    ("62", "62", _LONG),  # UnionPay (and Discover's 622126-622925)
    ("81", "81", _LONG),  # UnionPay 8100-8171, RuPay 81
    ("82", "82", frozenset({16})),  # RuPay
    ("60", "60", frozenset({16})),  # RuPay
    ("2200", "2204", _LONG),  # Mir
    ("2205", "2205", frozenset({16})),  # BORICA
    ("31", "31", frozenset({19})),  # China T-Union
    ("9792", "9792", frozenset({16})),  # Troy
    ("8600", "8600", frozenset({16})),  # UzCard
    ("9860", "9860", frozenset({16})),  # Humo
    ("5018", "5018", _ANY),  # Maestro's named prefixes, 12-19 digits
    ("5020", "5020", _ANY),
    ("5038", "5038", _ANY),
    ("5893", "5893", _ANY),
    ("6304", "6304", _ANY),
    ("6759", "6759", _ANY),  # Maestro (UK)
    ("6761", "6763", _ANY),
    ("676770", "676770", _ANY),
    ("676774", "676774", _ANY),
    ("50", "50", _LONG),  # Maestro's wide block (Verve 506099-507964, Dankort 5019 in it)
    ("56", "58", _LONG),
    ("63", "63", _LONG),  # Maestro, InterPayment 636, InstaPayment 637-639
    ("67", "67", _LONG),
)

#: how cards are printed: fours (16 = 4-4-4-4, 19 = 4-4-4-4-3, 12-15 and 17-18 end in a shorter
#: group), or American Express's 4-6-5 and Diners' 4-6-4
_SPLITS = re.compile(r"(?:4,)+[1-4]|4,6,[45]")
_SEPARATOR = re.compile(r"[ -]")
#: the number goes on from a digit group: "6326 7015 0036" inside "6662 6326 7015 0036" (whose
#: Luhn check failed) is no card of its own
_TAIL = re.compile(r"\d[ -]$")
#: ISO/IEC 7812 major industry identifiers of payment cards: travel and entertainment, banking
#: and financial, merchandising and banking (2, airlines, holds only Mastercard's 2-series and
#: Mir, which are in the table; "2023-0415-..." references are not cards)
_PAYMENT_MII = frozenset("3456")


def issuer_accepts(number: str, *, any_length: bool = False) -> bool:
    """Whether some card issuer uses ``number``'s prefix at its length (or at any length)."""
    for low, high, lengths in _RANGES:
        if (any_length or len(number) in lengths) and low <= number[: len(low)] <= high:
            return True
    return False


def card_grouped(printed: str) -> bool:
    """Whether ``printed`` is split into card groups (one separator used throughout)."""
    if len(set(_SEPARATOR.findall(printed))) != 1:
        return False
    lengths = ",".join(str(len(g)) for g in _SEPARATOR.split(printed))
    return _SPLITS.fullmatch(lengths) is not None


def printed_as_card(printed: str, number: str) -> bool:
    """Whether the way ``number`` is printed makes it a card whatever the issuer table says."""
    if len(number) < 14 or not card_grouped(printed):
        return False  # 12-13 digits in fours: references and tracking numbers as often
    if len(number) in (16, 19) and number[0] in _PAYMENT_MII:
        return True
    return issuer_accepts(number, any_length=True)


class PaymentCard(Recognizer):
    """``4111 1111 1111 1111``, ``5555-5555-5555-4444``, ``378282246310005``."""

    entity = "card_number"
    min_length = 12
    candidate = NUMBER
    pattern = re.compile(r"(?<!\d)\d(?:[ -]?\d){11,18}(?!\d)")
    score = 0.95
    context = ("card*", "credit*", "cc", "visa", "mastercard", "amex", "pan", "kreditkarte")
    #: schemes that share the Luhn (or a mod-10) check: before the number or in the column name
    anti_context = ("tracking", "isbn", "ean", "upc", "gtin", "imei", "barcode", "sku", "serial")

    def search(self, ctx: Context, start: int, end: int) -> Iterator[Finding]:
        for m in self.pattern.finditer(ctx.text, start, end):
            number = digits(m.group())
            if not luhn(number):
                continue
            s, e = m.span()
            if ctx.near(s, e, self.context):
                # with card context any Luhn-valid 12-19 digits count (test cards, new ranges)
                yield Finding(self.entity, s, e, self.rate("", True))
                continue
            printed = m.group()
            if (
                (" " in printed and "-" in printed)
                or _TAIL.search(ctx.text, max(0, s - 2), s)
                or ctx.before(s, self.anti_context)
                or ctx.named(self.anti_context)
            ):
                continue
            if issuer_accepts(number) or printed_as_card(printed, number):
                yield Finding(self.entity, s, e, self.score)
