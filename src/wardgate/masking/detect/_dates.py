"""Reading calendar dates the ways people write them, for the date-of-birth recognizers."""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["MONTHS", "parse_numeric", "parse_text", "plausible_birth"]

#: month names and abbreviations in the corpus languages -> month number
MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "january jan januar janvier enero gennaio januari jänner",
        "february feb februar février fevrier febrero febbraio februari",
        "march mar märz maerz mars marzo maart",
        "april apr avril abril aprile",
        "may mai mayo maggio mei",
        "june jun juni juin junio giugno",
        "july jul juli juillet julio luglio",
        "august aug august août aout agosto augustus",
        "september sep sept septembre septiembre settembre",
        "october oct oktober octobre octubre ottobre",
        "november nov novembre noviembre",
        "december dec dezember décembre decembre diciembre dicembre",
    ),
    start=1,
):
    for _name in _names.split():
        MONTHS[_name] = _number

_NUMERIC = (
    (re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})"), "ymd"),
    (re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})"), "dmy|mdy"),
    (re.compile(r"(\d{4})()(\d{2})(\d{2})"), "ymd"),
)


def plausible_birth(day: dt.date, today: dt.date | None = None) -> bool:
    """A birth date of someone alive: after 1900 and not in the future."""
    return dt.date(1900, 1, 1) <= day <= (today or dt.date.today())


def _date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def parse_numeric(value: str) -> dt.date | None:
    """``1985-03-12``, ``12/03/1985``, ``03/12/1985``, ``12.03.1985``, ``19850312``."""
    for pattern, order in _NUMERIC:
        m = pattern.fullmatch(value)
        if not m:
            continue
        a, _, b, c = m.groups()
        if order == "ymd":
            return _date(int(a), int(b), int(c))
        return _date(int(c), int(b), int(a)) or _date(int(c), int(a), int(b))
    return None


def parse_text(day: str | None, month: str, year: str) -> dt.date | None:
    """``12 March 1985``, ``March 12th, 1985``, ``12. März 1985``."""
    number = MONTHS.get(month.lower().rstrip("."))
    if number is None:
        return None
    return _date(int(year), number, int(day) if day else 1)
