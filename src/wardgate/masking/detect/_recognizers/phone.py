"""Phone numbers, validated by ``phonenumbers`` (libphonenumber's metadata).

International numbers (``+44 20 7946 0958``, ``0044 ...``) must be valid for their country.
National numbers need more: in a phone column or after "tel"/"call"/"mobile" a *possible*
number in any of the usual regions counts; without context only a valid number written the way
people write phones (``(415) 555-0132``, ``020 7946 0958``) does, and never one shaped like a
date or preceded by "invoice"/"order".
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers

from .._base import Finding, Recognizer
from .._context import Context
from .._shapes import NUMBER

#: regions tried, in order, for a number written without a country code: those whose national
#: numbers start with a trunk "0", and those whose do not (so a miss costs 6-9 parses, not 15)
TRUNK_ZERO_REGIONS = ("GB", "DE", "FR", "NL", "IT", "JP", "AU", "CH", "AT")
NO_TRUNK_REGIONS = ("US", "CA", "ES", "IT", "IN", "BR")
_DATE = re.compile(r"\d{1,4}([./-])\d{1,2}\1\d{1,4}")
#: digits grouped the way phones are printed: an optional parenthesised area code, then groups
#: of two or more digits ending in one of three or more ("715.142.242.7" is not a phone)
_GROUPED = re.compile(r"(?:\(\d{2,5}\) ?)?(?:\d{2,5}[ .-]){1,4}\d{3,8}")
#: "573.129.202.250" is shaped like an IPv4 address (if an invalid one), not like a phone
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_EXTENSION = re.compile(r"\s*(?:x|ext\.?|#)\s*\d{1,6}$", re.IGNORECASE)


class Phone(Recognizer):
    """International and, with context or phone-like grouping, national phone numbers."""

    entity = "phone"
    min_length = 7
    candidate = NUMBER
    score = 0.85
    context = (
        "phone*", "tel", "telephone", "telefon*", "mobile", "mobil", "cell", "call", "fax",
        "contact", "whatsapp", "sms", "text me", "ring", "téléphone", "teléfono", "telefono",
        "móvil", "cellulare", "numéro", "msisdn", "landline", "tél",
    )  # fmt: skip
    anti_context = (
        "invoice", "inv", "order", "ref", "reference", "tracking", "ticket", "case", "account",
        "acct", "po", "sku", "serial", "id", "version", "ssn", "iban",
    )  # fmt: skip

    def search(self, ctx: Context, start: int, end: int) -> Iterator[Finding]:
        value = ctx.text[start:end]
        core = _EXTENSION.sub("", value)
        count = sum(c.isdigit() for c in core)
        if not 7 <= count <= 15:
            return
        vouched = ctx.near(start, end, self.context)
        if not vouched and ctx.before(start, self.anti_context):
            return
        if core.startswith(("+", "(+", "00")):
            number = "+" + core[2:] if core.startswith("00") else core
            if _parse_ok(number, None, strict=not vouched):
                yield Finding(self.entity, start, end, self.rate(value, vouched))
            return
        if not vouched and (
            _DATE.match(core) or _DOTTED_QUAD.fullmatch(core) or not _GROUPED.fullmatch(core)
        ):
            return
        regions = TRUNK_ZERO_REGIONS if core.lstrip("(").startswith("0") else NO_TRUNK_REGIONS
        if any(_parse_ok(core, region, strict=not vouched) for region in regions):
            yield Finding(self.entity, start, end, self.rate(value, vouched) - 0.1 * (not vouched))


def _parse_ok(number: str, region: str | None, *, strict: bool) -> bool:
    """Whether ``number`` parses for ``region`` and is valid (strict) or merely possible."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return False
    if strict:
        return phonenumbers.is_valid_number(parsed)
    return phonenumbers.is_possible_number(parsed)
