"""Phone numbers: written like one, and valid (with a country code: possible) by phonenumbers.

Validity is no evidence for a bare run of digits: 95-100% of random 9-11-digit strings starting
with 0 are a valid number in one of the regions tried below, and 90% of 10-digit ones starting
with 1-9 in the others. What makes digits a phone number in free text is how they are written,
so without context a number needs one of:

- an international prefix (``+44 20 7946 0958``, ``0044 ...``): valid for its country or, when
  written in groups (``+1-933-842-8828``, ``+44 (0)115 496 0848``), possible for it (the right
  length: unassigned, reserved and fictional ranges are phone numbers too); a signed decimal
  (``+51.507351``) is not one;
- a parenthesised area code (``(0115) 496 0229``, ``(415) 555-2671``), and possible in one of
  the usual regions;
- digits in groups of two or more (``020 7946 0958``, ``03 55 40 77 24``, ``080-5010-5363``),
  valid in one of the usual regions *and grouped the way that region writes that number*
  (libphonenumber's STRICT_GROUPING): validity alone passes "04 02 1949" (a German number) and
  "3807 3584 8452" (an Italian one), grouping does not.

Nor, without context, are dates (``0044-03-15``), IPv4-shaped numbers, the US SSN shape
``123-45-6789`` (the us_ssn recognizer's), or amounts ("737 748 934 EUR" is grouped the way Spain
writes numbers: the currency rules it out).

Bare digits (``4155552671``) need context: a phone column, or "tel"/"call"/"mobile" near them;
with context any possible number counts. "invoice"/"order" right before a number rules it out
unless context vouches for it. A candidate holding several numbers ("0118 496 0374 / 07700
900123") is tried whole, then piece by piece at spaced separators.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

import phonenumbers

from .._base import Finding, Recognizer
from .._context import Context
from .._shapes import NUMBER

#: regions tried, in order, for a number written without a country code: those whose national
#: numbers start with a trunk "0" (or may: Italy keeps its 0, Indians write "081234 56789" and
#: "81234 56789"), and those whose do not (so a miss costs 6-10 parses, not 15)
TRUNK_ZERO_REGIONS = ("GB", "DE", "FR", "NL", "IT", "JP", "AU", "CH", "AT", "IN")
NO_TRUNK_REGIONS = ("US", "CA", "ES", "IT", "IN", "BR")
#: a date at the start (``2023-04-05``, ``12.03.1985 10:30``), not the head of ``06.12.34.56.78``;
#: with spaces only the whole value (``04 02 1949``), as French pairs are spaced too
_DATE = re.compile(r"(\d{1,4})([./-])(\d{1,2})\2(\d{1,4})(?![./-]?\d)")
_SPACED_DATE = re.compile(r"(\d{1,4})( )(\d{1,2}) (\d{1,4})$")
#: "573.129.202.250" is shaped like an IPv4 address (if an invalid one), not like a phone
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
#: "912-70-1234" is written as a US SSN (or ITIN), which the us_ssn recognizer judges
_SSN_SHAPE = re.compile(r"\d{3}-\d{2}-\d{4}")
#: "+51.507351" is a signed decimal (a coordinate), not "+51 507351"
_DECIMAL = re.compile(r"\+\d+\.\d+")
_EXTENSION = re.compile(r"\s*(?:x|ext\.?|#)\s*\d{1,6}$", re.IGNORECASE)
#: a parenthesised area code, with a trunk 0 or North American: nothing else is written so
_AREA_CODE = re.compile(r"\((?:0\d{1,4}|[2-9]\d\d)\)[ -]?\d")
#: the "(0)" of "+44 (0)20 ...": the trunk prefix, dropped when dialling from abroad
_TRUNK = re.compile(r"\(0\)")
_DIGIT_RUNS = re.compile(r"\d+")
#: "1-415-555-2671": North America's trunk prefix, then ten digits
_NANP_TRUNK = re.compile(r"1[ .\-]\(?\d{3}\)?[ .\-]?\d{3}[ .\-]\d{4}$")
#: where a candidate holding several numbers is cut: a separator with space on both sides
_BETWEEN = re.compile(r" [/.\-] | {2,}")
#: the candidate goes on from a digit group ("4978 3435 0729 8299" failed as a whole: its tail
#: "3435 0729 8299" is no phone either)
_TAIL = re.compile(r"[\d)][ .\-/]$")
#: an amount ("737 748 934 EUR", "$ 1 234 567") is written like a Spanish phone number
_CURRENCY = r"(?:[$€£¥]|(?<![a-z])(?:eur|euros?|usd|gbp|chf|jpy|sek|nok|dkk|pln|kr)(?![a-z]))"
_CURRENCY_BEFORE = re.compile(_CURRENCY + r" ?$", re.IGNORECASE)
_CURRENCY_AFTER = re.compile(r" ?" + _CURRENCY, re.IGNORECASE)


class Phone(Recognizer):
    """International numbers, and national numbers with context or written like a phone."""

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
        "acct", "po", "sku", "serial", "id", "version", "ssn", "iban", "pp", "page*",
    )  # fmt: skip

    def search(self, ctx: Context, start: int, end: int) -> Iterator[Finding]:
        whole = self._judge(ctx, start, end)
        if whole is not None:
            yield whole
            return
        text = ctx.text
        if text.find(" ", start, end) < 0:
            return
        cuts = list(_BETWEEN.finditer(text, start, end))
        if not cuts:
            return
        bounds = [start, *(i for m in cuts for i in m.span()), end]
        for s, e in zip(bounds[::2], bounds[1::2], strict=True):
            while s < e and not (text[s].isdigit() or text[s] in "+("):
                s += 1
            while e > s and not (text[e - 1].isdigit() or text[e - 1] == ")"):
                e -= 1
            if e - s >= self.min_length and (piece := self._judge(ctx, s, e)) is not None:
                yield piece

    def _judge(self, ctx: Context, start: int, end: int) -> Finding | None:
        """A finding for ``ctx.text[start:end]`` as one number, or None."""
        text = ctx.text
        core = _EXTENSION.sub("", text[start:end])
        if not 7 <= sum(c.isdigit() for c in core) <= 15:
            return None
        international = core.startswith(("+", "(+", "00"))
        number = "+" + core[2:] if core.startswith("00") else core
        regions = TRUNK_ZERO_REGIONS if core.lstrip("(").startswith("0") else NO_TRUNK_REGIONS
        if ctx.near(start, end, self.context):
            if international:
                possible = _parse_ok(number, None, strict=False)
            else:
                # "Tel. 44 20 7946 0958": with context, a country code without its "+" counts
                possible = any(
                    _parse_ok(core, region, strict=False, as_written=False) for region in regions
                )
            return Finding(self.entity, start, end, self.rate("", True)) if possible else None
        if ctx.before(start, self.anti_context):
            return None
        grouped = _grouped(core, international=international)
        if not grouped and (not international or core.startswith("00")):
            return None  # bare digits; "004796267937" is a zero-padded id
        if (
            _TAIL.search(text, max(0, start - 2), start)
            or _CURRENCY_BEFORE.search(text, max(0, start - 6), start)
            or _CURRENCY_AFTER.match(text, end)
            or _is_date(core)
            or _DOTTED_QUAD.fullmatch(core)
            or _SSN_SHAPE.fullmatch(core)
            or _DECIMAL.fullmatch(core)  # a coordinate
        ):
            return None
        if international:
            if _parse_ok(number, None, strict=True):
                return Finding(self.entity, start, end, self.score)
            if grouped and _parse_ok(number, None, strict=False):
                return Finding(self.entity, start, end, round(self.score - 0.1, 2))
            return None
        area_code = _AREA_CODE.match(core) is not None
        for region in regions:
            if (
                _parse_ok(core, region, strict=False)
                if area_code
                else _parse_ok(core, region, strict=True) and _grouped_as_in(core, region)
            ):
                return Finding(self.entity, start, end, round(self.score - 0.1, 2))
        return None


def _is_date(core: str) -> bool:
    """Whether ``core`` starts with (or, spaced, is) a plausible date: Y-M-D, D-M-Y or M-D-Y.

    "0123-45-6789" (a Japanese number) has the shape of a date but no month 45.
    """
    m = _DATE.match(core) or _SPACED_DATE.match(core)
    if m is None:
        return False
    a, _, b, c = m.groups()
    x, y, z = int(a), int(b), int(c)
    if len(a) == 4:
        return len(c) <= 2 and 1 <= y <= 12 and 1 <= z <= 31
    if len(a) > 2 or len(c) not in (2, 4):
        return False
    return (1 <= y <= 12 and 1 <= x <= 31) or (1 <= x <= 12 and 1 <= y <= 31)


def _grouped(core: str, *, international: bool = False) -> bool:
    """Whether ``core`` is written in groups the way phone numbers are.

    Either its first group is in parentheses (an area code) or it has two or more groups; every
    group but the country code, a "(0)" trunk and North America's "1-" has two digits or more
    ("715.142.242.7" and "1 234 567" are not phones). Written nationally, the first group (an
    area code, or India's "081234") has at most six digits, the last at most ten and those
    between at most five: "3782 822463 10005" is printed like a card, not like a phone.
    """
    runs = _DIGIT_RUNS.findall(_TRUNK.sub(" ", core))
    if international or _NANP_TRUNK.match(core):
        runs = runs[1:]  # the country code may be one digit; a separator must follow it
        return bool(runs) and all(len(r) >= 2 for r in runs)
    if len(runs) < 2 and not core.startswith("("):
        return False
    sizes = len(runs[0]) <= 6 and len(runs[-1]) <= 10 and all(len(r) <= 5 for r in runs[1:-1])
    return sizes and all(len(r) >= 2 for r in runs)


def _grouped_as_in(core: str, region: str) -> bool:
    """Whether ``core``'s digit groups are ones ``region`` writes that number in.

    libphonenumber's STRICT_GROUPING: no group of the way the region formats the number (or an
    alternate format it lists) is split. "03 55 40 77 24" is how France writes that number;
    "04 02 1949" is no way Germany writes 040 21949, and "3807 3584 8452" no way Italy writes
    380 7358 48452. This is what tells a phone from other grouped digits once validity, which
    nearly every digit string has somewhere, cannot.
    """
    matcher = phonenumbers.PhoneNumberMatcher(
        core, region, leniency=phonenumbers.Leniency.STRICT_GROUPING, max_tries=1
    )
    return any(m.start == 0 and m.end == len(core) for m in matcher)


def _parse_ok(number: str, region: str | None, *, strict: bool, as_written: bool = True) -> bool:
    """Whether ``number`` parses for ``region`` and is valid (strict) or merely possible.

    With a region and ``as_written``, the digits written must be the national number, after at
    most the region's trunk prefix: libphonenumber would otherwise read "9173 2325 8232" as
    India's country code 91 without its "+", and "9077 7390 6204" as a Brazilian number after
    the carrier code 90. That also lets a valid number be ruled out before parsing (a parse
    costs ~25 us): its national number must fit the region's general pattern.
    """
    exact = region is not None and as_written
    written = "".join(c for c in number if c.isdigit()) if exact else ""
    if exact and strict:
        trunk, general = _region_facts(str(region))
        national = written[len(trunk) :] if trunk and written.startswith(trunk) else written
        if not (general.fullmatch(written) or general.fullmatch(national)):
            return False
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return False
    if exact:
        national = phonenumbers.national_significant_number(parsed)
        if written not in (national, _region_facts(str(region))[0] + national):
            return False
    if strict:
        return phonenumbers.is_valid_number(parsed)
    return phonenumbers.is_possible_number(parsed)


@functools.cache
def _region_facts(region: str) -> tuple[str, re.Pattern[str]]:
    """A region's trunk prefix ("0", "1" or none) and the pattern every national number fits."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None:
        return "", re.compile(r"\d+")
    pattern = metadata.general_desc.national_number_pattern or r"\d+"
    return metadata.national_prefix or "", re.compile(pattern)
