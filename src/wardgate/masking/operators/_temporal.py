"""Dates, timestamps and times in PostgreSQL's ISO output style.

Tokens keep the year and scramble the position inside it (day of year, and for timestamps the
time of day down to the value's own fractional digits): the result is a valid date in the same
year, and the year is what HIPAA's Safe Harbor rule lets a de-identified date keep. With
``date_precision='year'`` tokens generalise to January 1st (midnight) instead. The year's 365 or
366 days are a small domain, so dates are only tokens there; `fpe` scrambles over the whole
calendar 0001-01-01..9999-12-31 instead (3.65 million days, above FF1's floor), which hides the
year too and ignores ``date_precision`` (a reversible mask cannot generalise).

Special values (``infinity``, ``-infinity``, ``24:00:00``) are left alone, and so are BC dates and
years past 9999 under `fpe` (outside the calendar it scrambles over): sentinels and historical
dates, not personal data. Any other text in a date/time column that is not ISO style raises
`MaskError` (the gateway talks ISO DateStyle). Years are proleptic Gregorian, as PostgreSQL's.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from datetime import date

from ._context import MaskError, MaskOptions
from ._scramble import Scrambler

__all__ = ["pg_date", "pg_time", "pg_timestamp"]

_DATE = re.compile(r"(\d{4,})-(\d\d)-(\d\d)")
_TIMESTAMP = re.compile(r"(\d{4,})-(\d\d)-(\d\d)([ T])(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(.*)")
_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(.*)")
_SPECIAL = frozenset({"infinity", "-infinity", "epoch", "allballs"})
_DAY = 86_400
_MIN_ORDINAL = 1  # date(1, 1, 1).toordinal()
_CALENDAR_DAYS = date(9999, 12, 31).toordinal()
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Day of the year (from 0) each month starts on: in a common year, in a leap year.
_STARTS = (
    tuple(sum(_MONTH_DAYS[:m]) for m in range(12)),
    tuple(sum(_MONTH_DAYS[:m]) + (m >= 2) for m in range(12)),
)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _day_of_year(year: int, month: int, day: int) -> int:
    return _STARTS[_leap(year)][month - 1] + day - 1


def _from_day_of_year(year: int, doy: int) -> tuple[int, int]:
    leap = _leap(year)
    if not 0 <= doy < 365 + leap:
        raise AssertionError("day of year out of range")
    starts = _STARTS[leap]
    month = bisect_right(starts, doy)
    return month, doy - starts[month - 1] + 1


def _valid(year: int, month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= _MONTH_DAYS[month - 1] + (month == 2 and _leap(year))


def _scramble_day(
    s: Scrambler, year: int, month: int, day: int, sub: int, unit: int, bc: bool
) -> tuple[int, int, int, int] | None:
    """Map (date, sub-day offset in ``unit`` steps per day) to a new one; None if out of range.

    Tokens: within the year. FPE: across 0001..9999 (AD only).
    """
    if s.reversible:
        if bc or not 1 <= year <= 9999:
            return None
        x = (date(year, month, day).toordinal() - _MIN_ORDINAL) * unit + sub
        y = s.permute(_CALENDAR_DAYS * unit, x, b"d\0cal\0" + unit.to_bytes(8, "big"))
        days, sub = divmod(y, unit)
        d = date.fromordinal(days + _MIN_ORDINAL)
        return d.year, d.month, d.day, sub
    astro = 1 - year if bc else year  # 1 BC is year 0 in the proleptic calendar
    length = 366 if _leap(astro) else 365
    x = _day_of_year(astro, month, day) * unit + sub
    tweak = b"d\0yr\0" + year.to_bytes(4, "big") + bytes((bc,)) + unit.to_bytes(8, "big")
    days, sub = divmod(s.permute(length * unit, x, tweak), unit)
    month, day = _from_day_of_year(astro, days)
    return year, month, day, sub


def pg_date(value: str, s: Scrambler, options: MaskOptions, *, strict: bool) -> str | None:
    """A ``date`` value; None when ``value`` is not an ISO date and ``strict`` is off."""
    body, bc = (value[:-3], True) if value.endswith(" BC") else (value, False)
    m = _DATE.fullmatch(body)
    if m is None:
        return _odd(value, strict)
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    if not _valid(year, month, day):
        return _odd(value, strict)
    if not s.reversible and options.date_precision == "year":
        return f"{m[1]}-01-01" + (" BC" if bc else "")
    got = _scramble_day(s, year, month, day, 0, 1, bc)
    if got is None:
        return value
    year, month, day, _ = got
    return f"{year:0{len(m[1])}d}-{month:02d}-{day:02d}" + (" BC" if bc else "")


def pg_timestamp(value: str, s: Scrambler, options: MaskOptions, *, strict: bool) -> str | None:
    """A ``timestamp``/``timestamptz``: date and time of day together; the zone kept."""
    m = _TIMESTAMP.fullmatch(value)
    if m is None:
        return _odd(value, strict)
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    hh, mi, ss = int(m[5]), int(m[6]), int(m[7])
    frac, rest = m[8] or "", m[9]
    bc = rest.endswith(" BC")
    if not _valid(year, month, day) or hh > 23 or mi > 59 or ss > 59:
        return _odd(value, strict)
    if not s.reversible and options.date_precision == "year":
        return f"{m[1]}-01-01{m[4]}00:00:00{rest}"
    unit = _DAY * 10 ** len(frac)
    sub = ((hh * 60 + mi) * 60 + ss) * 10 ** len(frac) + (int(frac) if frac else 0)
    got = _scramble_day(s, year, month, day, sub, unit, bc)
    if got is None:
        return value
    year, month, day, sub = got
    return f"{year:0{len(m[1])}d}-{month:02d}-{day:02d}{m[4]}{_clock(sub, len(frac))}{rest}"


def pg_time(value: str, s: Scrambler, *, strict: bool) -> str | None:
    """A ``time``/``timetz``: the time of day scrambled, the zone kept."""
    m = _TIME.fullmatch(value)
    if m is None or int(m[1]) > 23 or int(m[2]) > 59 or int(m[3]) > 59:
        return _odd(value, strict)
    frac, rest = m[4] or "", m[5]
    scale = 10 ** len(frac)
    x = ((int(m[1]) * 60 + int(m[2])) * 60 + int(m[3])) * scale + (int(frac) if frac else 0)
    y = s.permute(_DAY * scale, x, b"t\0" + scale.to_bytes(8, "big"))
    return _clock(y, len(frac)) + rest


def _clock(sub: int, digits: int) -> str:
    seconds, frac = divmod(sub, 10**digits)
    minutes, ss = divmod(seconds, 60)
    hh, mi = divmod(minutes, 60)
    text = f"{hh:02d}:{mi:02d}:{ss:02d}"
    return f"{text}.{frac:0{digits}d}" if digits else text


def _odd(value: str, strict: bool) -> str | None:
    """Values of a date/time type that are not plain ISO: sentinels pass, anything else fails."""
    if not strict:
        return None
    if value.lower() in _SPECIAL or value.startswith("24:00:00"):
        return value
    raise MaskError("date/time values must be in PostgreSQL's ISO DateStyle")
