"""Street addresses written name first: ``Röhrichtweg 52``, ``Via Elisa, 991``, ``Calle Mayor 5``.

German and Dutch street names end in a compound word ("-straße", "-weg", "-straat", "-laan") or
use it as a separate word ("Berliner Straße"); Spanish, Italian and French ones start with a
street type ("Calle", "Via", "boulevard"). A following postcode and town is part of the finding,
and stands in for the house number when there is none ("chemin Pottier, 43424 Reynaud").
"""

from __future__ import annotations

import re

from .._base import Recognizer
from .._streets import GERMANIC_ENDINGS, ROMANCE_TYPES, UNITS

_ENDING = "|".join(sorted((re.escape(s) for s in set(GERMANIC_ENDINGS)), key=len, reverse=True))
_TYPE = "|".join(
    sorted((re.escape(s) for s in set(ROMANCE_TYPES) if s[0].isalpha()), key=len, reverse=True)
)
_UNIT = "|".join(sorted((re.escape(s) for s in set(UNITS)), key=len, reverse=True))
_ARTICLE = r"(?:de|del|de[ \t]la|di|della|dei|degli|delle|[dl]['\u2019])"
_CAP = r"[^\W\d_a-zß-ÿ][\w'\u2019.-]*"
_NUMBER = r"\d{1,4}[ \t]?[a-zA-Z]?(?:[ \t]?[-/][ \t]?\d{1,4}[a-zA-Z]?)?(?![\w-])"


class AddressNameFirst(Recognizer):
    """Street name, then house number; then optionally a postcode and town."""

    entity = "address"
    candidate = (
        r"(?<![\w'\u2019.-])"
        + rf"(?:(?:{_CAP}[ \t]){{0,3}}[^\W\d_][\w'\u2019-]*?(?i:{_ENDING})"
        + rf"|(?:{_CAP}[ \t]){{1,3}}(?i:{_ENDING})"
        + rf"|(?i:{_TYPE})[ \t](?:{_ARTICLE}[ \t]?)?"
        + rf"{_CAP}(?:[ \t](?:{_CAP}|de|del|di|la|y)){{0,4}}?,?)"
        + rf"(?:[ \t](?:n\.?º?[ \t]?)?{_NUMBER}|(?=[,\n][ \t]?\d{{4,5}}[ \t][^\W\d_]))"
        + rf"(?:,?[ \t](?:{_UNIT})[ \t]?[\w-]{{1,6}})?"
        + r"(?:[,\s]{1,3}\d{4,5}(?:[ \t]?[A-Z]{2})?,?[ \t]?[^\W\d_][\w'\u2019 .()-]{1,40})?"
    )
    score = 0.8
    context = ("address", "adresse", "anschrift", "adres", "indirizzo", "dirección", "direccion")

    def valid(self, value: str) -> bool:
        # "Platz 3" or "via 2" alone is not an address: a name must come with the street word
        head = value.split(",")[0].split()
        return len(head) >= 2 and head[0][:1].isupper()
