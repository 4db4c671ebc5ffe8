"""Dates of birth: a plausible date next to birth context, or in a ``dob`` column.

A date alone is not personal data (order dates, timestamps), so context is required. Numeric
forms share the ``NUMBER`` candidate; written forms ("12 March 1985", "March 12th, 1985") have
their own, keyed on a month name.
"""

from __future__ import annotations

import re

from .._base import Recognizer
from .._dates import MONTHS, parse_numeric, parse_text, plausible_birth
from .._shapes import NUMBER, WORD_END, WORD_START

BIRTH = (
    "dob", "d o b", "birth*", "born", "bday", "geboren", "geb", "geburtsdatum", "geburtstag",
    "né", "née", "nee", "naissance", "nacido", "nacida", "nacimiento", "nato", "nata",
    "nascita", "geboortedatum", "geboren op",
)  # fmt: skip

_MONTH = "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True))


class BirthDateNumeric(Recognizer):
    """``1985-03-12``, ``12/03/1985``, ``12.03.1985`` with birth context."""

    entity = "date_of_birth"
    candidate = NUMBER
    min_length = 8
    pattern = re.compile(
        r"(?<![\d.\-/])(?:\d{4}([-/.])\d{1,2}\1\d{1,2}|\d{1,2}([-/.])\d{1,2}\2\d{4}|\d{8})"
        r"(?![\d.\-/])"
    )
    requires_context = True
    context = BIRTH
    score = 0.85

    def valid(self, value: str) -> bool:
        day = parse_numeric(value)
        return day is not None and plausible_birth(day)


class BirthDateText(Recognizer):
    """``12 March 1985``, ``March 12th, 1985``, ``12. März 1985`` with birth context."""

    entity = "date_of_birth"
    candidate = (
        WORD_START
        + rf"(?i:(?:\d{{1,2}}(?:st|nd|rd|th|er)?\.?\s(?:de\s)?(?:{_MONTH})\.?,?\s(?:de\s)?\d{{4}})"
        + rf"|(?:(?:{_MONTH})\.?\s\d{{1,2}}(?:st|nd|rd|th)?,?\s\d{{4}}))"
        + WORD_END
    )
    pattern = re.compile(
        rf"(?i)(?:(?P<d1>\d{{1,2}})(?:st|nd|rd|th|er)?\.?\s(?:de\s)?(?P<m1>{_MONTH})\.?,?\s"
        rf"(?:de\s)?(?P<y1>\d{{4}})|(?P<m2>{_MONTH})\.?\s(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?,?\s"
        rf"(?P<y2>\d{{4}}))"
    )
    requires_context = True
    context = BIRTH
    score = 0.85

    def valid(self, value: str) -> bool:
        m = self.pattern.fullmatch(value)
        if m is None:
            return False
        if m["m1"]:
            day = parse_text(m["d1"], m["m1"], m["y1"])
        else:
            day = parse_text(m["d2"], m["m2"], m["y2"])
        return day is not None and plausible_birth(day)
