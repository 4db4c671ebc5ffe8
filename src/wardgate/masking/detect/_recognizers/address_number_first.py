"""Street addresses written house number first: ``221B Baker Street``, ``83, rue Berthelot``.

The US/UK/Commonwealth form needs capitalised name words and a street suffix ("Street", "Rd");
the French form a street type after the number. A UK flat or studio may stand in for the house
number ("Flat 6, Hunter Gardens"). A unit ("Apt. 4") and a following
``City, ST 12345`` line are part of the finding.
"""

from __future__ import annotations

import re

from .._base import Recognizer
from .._shapes import WORD_START
from .._streets import EN_SUFFIXES, ROMANCE_TYPES, UNITS

_SUFFIX = "|".join(sorted((re.escape(s) for s in set(EN_SUFFIXES)), key=len, reverse=True))
_TYPE = "|".join(sorted((re.escape(s) for s in set(ROMANCE_TYPES)), key=len, reverse=True))
_UNIT = "|".join(sorted((re.escape(s) for s in set(UNITS)), key=len, reverse=True))
_ARTICLE = r"(?:[dl]['\u2019]|de[ \t]|du[ \t]|des[ \t])"
_TOWN = r"[A-Z][\w'\u2019 .-]{1,40}"
_NAME = r"[^\W\d_][\w'\u2019.-]*"
_STATES = (
    "AL AK AS AZ AR CA CO CT DE DC FM FL GA GU HI ID IL IN IA KS KY LA ME MH MD MA MI MN MS MO MT "
    "NE NV NH NJ NM NY NC ND MP OH OK OR PW PA PR RI SC SD TN TX UT VT VI VA WA WV WI WY AA AE AP"
).replace(" ", "|")


class AddressNumberFirst(Recognizer):
    """House number, then street: English suffix forms and French street types."""

    entity = "address"
    candidate = (
        WORD_START
        + rf"(?:(?:{_UNIT})[ \t]\d{{1,5}}[A-Za-z]?[,\s]{{1,3}}(?=[^\W\d_])"
        + r"|\d{1,5}[A-Za-z]?(?:[-/]\d{1,5}[A-Za-z]?)?,?[ \t])"
        + rf"(?:(?:{_NAME}[ \t]){{1,4}}(?i:{_SUFFIX})\.?(?![\w'\u2019-])"
        + rf"|(?:bis[ \t]|ter[ \t])?(?i:{_TYPE})[ \t](?:{_ARTICLE})?{_NAME}"
        + rf"(?:[ \t](?:{_NAME})){{0,4}})"
        + rf"(?:,?[ \t](?:{_UNIT})[ \t]?[\w-]{{1,6}})?"
        + rf"(?:[,\s]{{1,3}}{_TOWN},[ \t](?:{_STATES})[ \t]\d{{5}}(?:-\d{{4}})?)?"
    )
    score = 0.8
    context = ("address", "addr", "street", "lives at", "ship to", "located at", "adresse")

    def valid(self, value: str) -> bool:
        # the English branch needs a capitalised street name, not "3 large Street-facing rooms"
        words = value.split()
        if words[0].rstrip(".") in _UNIT_WORDS:  # "Flat 6, Hunter Gardens"
            return len(words) >= 4
        return len(words) >= 3 and (not words[1][:1].islower() or words[1].lower() in _LOWER_TYPES)


_LOWER_TYPES = frozenset(t for t in ROMANCE_TYPES) | {"bis", "ter"}
_UNIT_WORDS = frozenset(u.rstrip(".") for u in UNITS)
