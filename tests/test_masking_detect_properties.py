"""Property tests for the detectors: hostile input never breaks `find`, generated valid
identifiers (Luhn-completed cards of every network, mod-97 IBANs, emails, SSNs, phone numbers
written as their country writes them) are always found, and their look-alikes (Luhn-failing
cards, UUIDs, hex, dates, amounts, coordinates) are not.

The generators here build values from the published rules (issuer prefixes, check digits), not
from the detectors' own regexes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import string

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from wardgate.masking._entities import ENTITIES
from wardgate.masking.detect import Detector

DETECTOR = Detector()
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# text that is likely to hit the candidate shapes: digits, separators, @, capitals, prefixes
_PIECES = st.sampled_from(
    ["4111", " ", "-", ".", "@", ":", "/", "+44", "(0)", "AKIA", "ghp_", "eyJ", "=", "\n",
     "John", "Smith", "Street", "12", "x", "IBAN", "DE89", "SSN", "-----BEGIN PRIVATE KEY-----",
     "postgres://", "password", "丁目", "木村", "é", "\u200b", "\x00"]
)  # fmt: skip
HOSTILE = st.one_of(
    st.text(max_size=300),
    st.lists(_PIECES | st.text(max_size=5), max_size=60).map("".join),
)


def _check_invariants(text: str, column: str | None) -> None:
    hits = DETECTOR.find(text, column=column)
    for f in hits:
        assert 0 <= f.start < f.end <= len(text)
        assert f.entity in ENTITIES
        assert 0.0 < f.score <= 1.0
    for a, b in itertools.pairwise(hits):
        assert a.end <= b.start


@SETTINGS
@given(HOSTILE, st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["ssn", "phone"])))
def test_find_never_raises_and_findings_are_well_formed(text: str, column: str | None) -> None:
    _check_invariants(text, column)


@SETTINGS
@given(HOSTILE)
def test_classify_column_never_raises(sample: str) -> None:
    DETECTOR.classify_column(
        table="t", column="c", type_name="text", comment=sample, samples=[sample, sample[:5]]
    )


@pytest.mark.timeout(90)
def test_hostile_long_values_stay_linear() -> None:
    # Long runs that every shape half-matches. A pattern that backtracks catastrophically on one
    # of them never finishes, and the timeout fails the test; no timing is asserted (2 shared
    # cores make that flaky), only that the scan ends and keeps its invariants.
    for text in ("1 " * 50_000, "a@" * 50_000, "A" * 100_000, "1." * 50_000, "Ab1" * 30_000,
                 "John Smith " * 10_000, "-----BEGIN PRIVATE KEY-----" * 2_000):  # fmt: skip
        _check_invariants(text, None)


# -- generated valid identifiers are found -----------------------------------------------------


def luhn_complete(body: str) -> str:
    """``body`` plus the check digit that makes it Luhn-valid."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


# (prefix, length) pairs from the card networks' published IIN ranges (ISO/IEC 7812 register as
# Wikipedia's "Payment card number" lists it), written out here rather than read from the detector
_ISSUERS = [
    ("4", 16), ("4", 19),  # Visa
    ("51", 16), ("55", 16), ("2221", 16), ("2720", 16),  # Mastercard
    ("34", 15), ("37", 15),  # American Express
    ("6011", 16), ("6011", 19), ("644", 16), ("649", 19), ("65", 16),  # Discover
    ("3528", 16), ("3589", 16), ("3528", 19), ("1800", 15), ("2131", 15),  # JCB
    ("300", 14), ("305", 16), ("3095", 14), ("36", 14), ("36", 19),  # Diners
    ("38", 14), ("39", 16),
    ("62", 16), ("62", 19), ("8100", 16), ("8171", 19),  # UnionPay
    ("2200", 16), ("2204", 19),  # Mir
    ("5018", 12), ("5020", 13), ("5038", 15), ("5893", 19), ("6304", 12), ("6304", 16),  # Maestro
    ("6759", 12), ("6761", 18), ("6763", 12), ("676770", 12), ("676774", 19),
    ("60", 16), ("82", 16), ("508", 16),  # RuPay
    ("9792", 16), ("9860", 16), ("8600", 16), ("2205", 16), ("31", 19),  # Troy, Humo, UzCard...
]  # fmt: skip
#: how cards are printed: American Express 4-6-5, Diners 4-6-4, everything else in fours
_PRINTED = {15: (4, 6, 5), 14: (4, 6, 4)}


def printed(number: str, sep: str) -> str:
    sizes = _PRINTED.get(len(number), (4,) * ((len(number) + 3) // 4))
    out, i = [], 0
    for size in sizes:
        out.append(number[i : i + size])
        i += size
    return sep.join(out)


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    prefix, length = draw(st.sampled_from(_ISSUERS))
    size = length - len(prefix) - 1
    return luhn_complete(prefix + draw(st.text(string.digits, min_size=size, max_size=size)))


@st.composite
def cards(draw: st.DrawFn) -> str:
    number = draw(card_numbers())
    sep = draw(st.sampled_from(["", " ", "-"]))
    return printed(number, sep) if sep else number


@SETTINGS
@given(cards(), st.sampled_from(["{}", "card: {}", "Paid with {} yesterday", "{} exp 12/29",
                                 "Note: {} / Anna Weber - follow up"]))  # fmt: skip
def test_every_valid_card_is_found(card: str, template: str) -> None:
    text = template.format(card)
    start = text.index(card)
    hits = [(f.entity, f.start, f.end) for f in DETECTOR.find(text)]
    assert ("card_number", start, start + len(card)) in hits, (text, hits)


@SETTINGS
@given(card_numbers(), st.integers(1, 9), st.sampled_from(["", " ", "-"]),
       st.sampled_from(["{}", "Updated {} yesterday.", "Note: {} - follow up"]))  # fmt: skip
def test_luhn_failing_cards_are_not_cards(number: str, bump: int, sep: str, template: str) -> None:
    bad = number[:-1] + str((int(number[-1]) + bump) % 10)
    text = template.format(printed(bad, sep) if sep else bad)
    assert all(f.entity != "card_number" for f in DETECTOR.find(text)), text


@SETTINGS
@given(st.sampled_from("3456"), st.integers(0, 10**14 - 1), st.sampled_from([" ", "-"]))
def test_sixteen_digits_printed_in_fours_are_cards_whatever_the_issuer(
    mii: str, body: int, sep: str
) -> None:
    card = printed(luhn_complete(f"{mii}{body:014d}"), sep)
    text = f"Updated {card} yesterday."
    hits = [(f.entity, text[f.start : f.end]) for f in DETECTOR.find(text)]
    assert ("card_number", card) in hits, hits


@SETTINGS
@given(st.sampled_from("17"), st.integers(0, 10**14 - 1), st.sampled_from(["", " ", "-"]))
def test_luhn_valid_numbers_outside_payment_industries_are_not_cards(
    mii: str, body: int, sep: str
) -> None:
    number = luhn_complete(f"{mii}{body:014d}")
    text = printed(number, sep) if sep else number
    assert all(f.entity != "card_number" for f in DETECTOR.find(text, column="reference")), text


@SETTINGS
@given(st.uuids(), st.binary(min_size=6, max_size=32))
def test_uuids_and_hex_are_neither_cards_nor_phones(value: object, raw: bytes) -> None:
    hexed = raw.hex()
    texts = [str(value), str(value).upper(), f"request {value} failed", f"sha {hexed} ok"]
    if any(c in "abcdef" for c in hexed):  # all-digit "hex" is a number like any other
        texts += [hexed, hexed.upper()]
    for text in texts:
        found = {f.entity for f in DETECTOR.find(text)}
        assert not found & {"card_number", "phone"}, (text, found)


_IBAN_COUNTRIES = {"DE": 22, "GB": 22, "FR": 27, "ES": 24, "IT": 27, "NL": 18, "BE": 16, "CH": 21,
                   "AT": 20, "PL": 28, "NO": 15, "MT": 31}  # fmt: skip


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country, length = draw(st.sampled_from(sorted(_IBAN_COUNTRIES.items())))
    bban = draw(
        st.text(string.ascii_uppercase + string.digits, min_size=length - 4, max_size=length - 4)
    )
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(digits) % 97
    iban = f"{country}{check:02d}{bban}"
    if draw(st.booleans()):
        iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


@SETTINGS
@given(ibans(), st.sampled_from(["{}", "IBAN: {}", "Transfer to {} by Friday", "{} EUR"]))
def test_every_valid_iban_is_found(iban: str, template: str) -> None:
    text = template.format(iban)
    start = text.index(iban)
    hits = [(f.entity, f.start, f.end) for f in DETECTOR.find(text)]
    assert ("iban", start, start + len(iban)) in hits, (text, hits)


@SETTINGS
@given(st.emails(), st.sampled_from(["{}", "mail me at {} today", "<{}>", "{}, thanks"]))
def test_every_email_is_found(email: str, template: str) -> None:
    text = template.format(email)
    start = text.index(email)
    hits = [(f.entity, f.start, f.end) for f in DETECTOR.find(text)]
    assert ("email", start, start + len(email)) in hits, (text, hits)


@st.composite
def ssns(draw: st.DrawFn) -> str:
    area = draw(st.integers(1, 899).filter(lambda a: a != 666))
    group = draw(st.integers(1, 99))
    serial = draw(st.integers(1, 9999))
    sep = draw(st.sampled_from(["-", " "]))
    return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"


@SETTINGS
@given(ssns(), st.sampled_from(["{}", "SSN: {}", "social security number {} on file"]))
def test_every_valid_ssn_is_found(ssn: str, template: str) -> None:
    text = template.format(ssn)
    start = text.index(ssn)
    if ssn.replace(" ", "-") in ("078-05-1120", "219-09-9999", "123-45-6789"):
        return  # the published sample numbers are excluded on purpose
    hits = [(f.entity, f.start, f.end) for f in DETECTOR.find(text)]
    assert ("us_ssn", start, start + len(ssn)) in hits, (text, hits)


@SETTINGS
@given(st.integers(900, 999), st.integers(1, 99), st.integers(1, 9999))
def test_ssn_areas_900_and_up_are_never_ssns(area: int, group: int, serial: int) -> None:
    text = f"SSN {area}-{group:02d}-{serial:04d}"
    assert all(f.entity != "us_ssn" for f in DETECTOR.find(text))


# -- phone numbers: written the way their country writes them, they are found -----------------

_PHONE_REGIONS = ("GB", "DE", "FR", "NL", "IT", "JP", "AU", "CH", "AT", "US", "CA", "ES", "IN",
                  "BR")  # fmt: skip


@st.composite
def phone_numbers(draw: st.DrawFn) -> phonenumbers.PhoneNumber:
    """A valid number of a region: its example number with the last digits redrawn."""
    region = draw(st.sampled_from(_PHONE_REGIONS))
    kind = draw(st.sampled_from([PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE]))
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None
    nsn = phonenumbers.national_significant_number(example)
    k = draw(st.integers(1, 4))
    tail = draw(st.text(string.digits, min_size=k, max_size=k))
    number = phonenumbers.parse(f"+{example.country_code}{nsn[:-k]}{tail}")
    assume(phonenumbers.is_valid_number(number))
    assume(phonenumbers.region_code_for_number(number) == region)
    return number


_FORMATS = [PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL, PhoneNumberFormat.E164]
_PLAIN = ["{}", "See {} for details.", "Note: {} / Anna Weber - follow up"]


@SETTINGS
@given(phone_numbers(), st.sampled_from(_FORMATS), st.sampled_from(_PLAIN))
def test_valid_phone_numbers_as_written_are_found(
    number: phonenumbers.PhoneNumber, fmt: int, template: str
) -> None:
    phone = phonenumbers.format_number(number, fmt)
    text = template.format(phone)
    start = text.index(phone)
    hits = [(f.entity, f.start, f.end) for f in DETECTOR.find(text)]
    assert ("phone", start, start + len(phone)) in hits, (text, hits)


@SETTINGS
@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)),
       st.sampled_from(["%d %m %Y", "%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%Y %m %d",
                        "%d-%m-%Y %H:%M", "%d.%m.%y"]),
       st.sampled_from(["{}", "Delivered {}", "Note: {} - follow up"]))  # fmt: skip
def test_dates_are_not_phones(day: dt.date, fmt: str, template: str) -> None:
    text = template.format(dt.datetime.combine(day, dt.time(10, 30)).strftime(fmt))
    assert all(f.entity != "phone" for f in DETECTOR.find(text)), text


@SETTINGS
@given(st.integers(1_000_000, 999_999_999_999), st.sampled_from(["EUR", "€", "CHF", "USD", "kr"]),
       st.booleans())  # fmt: skip
def test_amounts_are_not_phones(amount: int, currency: str, before: bool) -> None:
    spaced = f"{amount:,}".replace(",", " ")
    text = f"Total {currency} {spaced}" if before else f"Total {spaced} {currency}"
    assert all(f.entity != "phone" for f in DETECTOR.find(text)), text


@SETTINGS
@given(st.floats(-89.9, 89.9), st.floats(-179.9, 179.9))
def test_signed_coordinates_are_not_phones(lat: float, lon: float) -> None:
    text = f"{lat:+.6f}, {lon:+.6f}"
    assert all(f.entity != "phone" for f in DETECTOR.find(text)), text
