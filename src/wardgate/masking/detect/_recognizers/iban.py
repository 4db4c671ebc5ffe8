"""IBANs: a country's exact length, then the ISO 7064 mod-97 check; printed with spaces or not."""

from __future__ import annotations

from collections.abc import Iterator

from .._base import Finding, Recognizer
from .._context import Context
from .._shapes import WORD_END, WORD_START
from .._validators import mod97

#: IBAN length per country (the SWIFT IBAN registry)
LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


class Iban(Recognizer):
    """``DE89 3704 0044 0532 0130 00`` or ``GB82WEST12345698765432``.

    The candidate may run on into the next word ("... 00 EUR"): the country's length says where
    the IBAN ends, so the finding stops there.
    """

    entity = "iban"
    candidate = WORD_START + r"[A-Z]{2}\d\d(?: ?[A-Z0-9]){11,30}" + WORD_END
    score = 0.95
    context = ("iban", "account", "bank", "konto", "compte", "cuenta", "conto", "rekening")

    def search(self, ctx: Context, start: int, end: int) -> Iterator[Finding]:
        text = ctx.text
        length = LENGTHS.get(text[start : start + 2])
        if length is None:
            return
        taken, i = 0, start
        while i < end and taken < length:
            if text[i] != " ":
                taken += 1
            i += 1
        if taken != length or (i < len(text) and text[i].isalnum()):
            return
        if mod97(text[start:i]):
            yield Finding(self.entity, start, i, self.rate("", ctx.near(start, i, self.context)))
