"""Formats for structured identifiers: cards, phones, IBANs, US SSNs, UK NINOs, MAC addresses.

Each keeps the value's separators and the parts that identify a *kind* rather than a person (a
card's brand prefix and last four, a phone's country code, an IBAN's country), scrambles the rest
as one number, and restores the check digits the format has, so validators downstream accept the
result. All are bijections on their input sets (see the per-function notes), so `fpe` can invert
them and tokens stay distinct.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from ._scramble import Scrambler
from ._text import generic

__all__ = ["card", "iban", "luhn_residue", "mac", "mod97", "nino", "phone", "ssn", "walk"]


_NOT_DIGIT = re.compile(r"[^0-9]+")
# A value as a str.format template with one '{}' per ASCII digit (braces escaped).
_DIGIT_SLOTS = str.maketrans({**dict.fromkeys("0123456789", "{}"), "{": "{{", "}": "}}"})
_DOUBLED = str.maketrans("0123456789", "0246813579")  # Luhn: 2d, minus 9 when above 9
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_ALNUM_SLOTS = str.maketrans(
    {**dict.fromkeys(string.digits + string.ascii_letters, "{}"), "{": "{{", "}": "}}"}
)
# IBAN letters as their two-digit numbers (A=10 .. Z=35, either case), so int() does MOD 97.
_LETTER_NUMBERS = str.maketrans(
    {c: str(10 + i) for i, c in enumerate(string.ascii_uppercase)}
    | {c: str(10 + i) for i, c in enumerate(string.ascii_lowercase)}
)


def _digits(value: str) -> str:
    return _NOT_DIGIT.sub("", value)


def _put(value: str, digits: str) -> str:
    """``value`` with its ASCII digits replaced, in order, by ``digits``."""
    if len(value) == len(digits):  # nothing but the digits: no template to fill
        return digits
    return value.translate(_DIGIT_SLOTS).format(*digits)


def walk(s: Scrambler, n: int, x: int, tweak: bytes, inside: Callable[[int], bool]) -> int:
    """Cycle-walk a permutation of ``[0, n)`` until the result satisfies ``inside``.

    Restricted to inputs that satisfy ``inside``, this is a bijection of that subset (follow the
    permutation's cycle to the next member), and with the inverse scrambler it inverts itself.
    """
    y = s.permute(n, x, tweak)
    while not inside(y):
        y = s.permute(n, y, tweak)
    return y


def luhn_residue(digits: str) -> int:
    """Sum of the Luhn-weighted digits mod 10 (0 for a valid number)."""
    rev = digits[::-1]
    total = sum(rev[::2].encode()) + sum(rev[1::2].translate(_DOUBLED).encode())
    return (total - 48 * len(digits)) % 10  # the byte sums count each digit's ASCII 48 too


def card(value: str, s: Scrambler) -> str:
    """Keep the brand prefix and the last four; scramble the middle; keep the Luhn residue.

    For 12-19 digits the kept prefix is ``min(6, len - 11)`` digits (at least 1), which always
    identifies the brand (brand prefixes are 1-4 digits; 16-digit cards keep 5) and leaves six or
    more middle digits to scramble: 10**6 values, FF1's floor, so `fpe` works on every card and
    tokens are a bijection. The digit just before the last four is then chosen so the Luhn residue
    is the input's: valid cards stay valid, and the map is invertible for any input.
    """
    ds = _digits(value)
    nd = len(ds)
    if not 12 <= nd <= 19:
        return generic(value, s)
    p = max(1, min(6, nd - 11))
    fix = nd - 5
    middle = ds[p:fix]
    tweak = b"c\0" + ds[:p].encode() + b"\0" + ds[nd - 4 :].encode()
    y = s.permute(10 ** len(middle), int(middle), tweak)
    out = ds[:p] + str(y).zfill(len(middle)) + "0" + ds[nd - 4 :]
    # The fix digit sits 4 places from the right: Luhn weight 1, so it adds itself to the sum.
    check = (luhn_residue(ds) - luhn_residue(out)) % 10
    return _put(value, out[:fix] + str(check) + out[fix + 1 :])


def _cc_length(prefix: str) -> int:
    return next((k for k in (1, 2, 3) if int(prefix[:k]) in COUNTRY_CODE_TO_REGION_CODE), 0)


# The length of the country code a number's first three digits start with (0: none).
_CC_LENGTH = {f"{i:03d}": _cc_length(f"{i:03d}") for i in range(1000)}


def phone(value: str, s: Scrambler) -> str:
    """Keep the country code (or trunk prefix) and the next digit; scramble the other digits.

    ``+CC`` (or ``00CC``) keeps the country code, found against libphonenumber's table; a national
    number keeps a leading trunk ``0`` or NANP ``1``. The first digit of the national number is
    kept too (area codes and mobile prefixes are regional, not personal, and a leading 0 or 1
    there changes how a number parses). Lengths are kept, so a number libphonenumber accepts as
    possible stays possible. Separators and extensions keep their places.
    """
    ds = _digits(value)
    if len(ds) < 5:
        return generic(value, s)
    head = value.lstrip()
    keep = 1
    if head.startswith("+") or (head.startswith("00") and len(ds) > 8):
        start = 0 if head.startswith("+") else 2
        cc = _CC_LENGTH[ds[start : start + 3]]
        keep = start + cc + 1
    elif ds[0] == "0" or (ds[0] == "1" and len(ds) == 11):
        keep = 2
    rest = ds[keep:]
    if not rest:
        return value
    y = s.permute(10 ** len(rest), int(rest), b"p\0" + ds[:keep].encode())
    return _put(value, ds[:keep] + str(y).zfill(len(rest)))


def ssn(value: str, s: Scrambler) -> str:
    """A valid SSN (area 001-899 but 666, group 01-99, serial 0001-9999) maps to a valid SSN.

    Valid SSNs are numbered 0..n-1 (n = 898 * 99 * 9999) and permuted; any other 9-digit string
    (ITINs, 000 groups) is cycle-walked among the other 9-digit strings, so both sets map onto
    themselves and the whole map stays invertible.
    """
    ds = _digits(value)
    if len(ds) != 9:
        return generic(value, s)
    area, group, serial = int(ds[:3]), int(ds[3:5]), int(ds[5:])
    if _valid_ssn(area, group, serial):
        x = ((area - 1 - (area > 666)) * 99 + group - 1) * 9999 + serial - 1
        y = s.permute(898 * 99 * 9999, x, b"ssn")
        y, serial = divmod(y, 9999)
        a, group = divmod(y, 99)
        area = a + 1 + (a >= 665)
        out = f"{area:03d}{group + 1:02d}{serial + 1:04d}"
    else:
        y = walk(s, 10**9, int(ds), b"ssn-other", lambda v: not _valid_ssn(*_ssn_parts(v)))
        out = f"{y:09d}"
    return _put(value, out)


def _ssn_parts(v: int) -> tuple[int, int, int]:
    return v // 1_000_000, v // 10_000 % 100, v % 10_000


def _valid_ssn(area: int, group: int, serial: int) -> bool:
    return 1 <= area <= 899 and area != 666 and group >= 1 and serial >= 1


def nino(value: str, s: Scrambler) -> str:
    """UK National Insurance number: letters kept (prefix and suffix), six digits scrambled."""
    ds = _digits(value)
    if len(ds) != 6:
        return generic(value, s)
    letters = "".join(c for c in value if c.isalpha()).upper()
    y = s.permute(10**6, int(ds), b"nino\0" + letters.encode())
    return _put(value, f"{y:06d}")


_HEX = "0123456789abcdef"


def mac(value: str, s: Scrambler) -> str:
    """Hex digits stay hex digits, separators stay; the whole address scrambled.

    Letters come out upper-case if the input had any upper-case letter, else lower-case: MAC
    addresses are case-insensitive, and a per-position case could not be carried over to positions
    that change between digit and letter. `fpe` therefore inverts up to letter case.
    """
    pos = [i for i, c in enumerate(value) if c in "0123456789abcdefABCDEF"]
    if len(pos) not in (12, 16):
        return generic(value, s)
    x = int("".join(value[i] for i in pos), 16)
    y = s.permute(16 ** len(pos), x, b"mac")
    hexits = f"{y:0{len(pos)}x}"
    if any(c.isupper() for c in value):
        hexits = hexits.upper()
    out = list(value)
    for i, c in zip(pos, hexits, strict=True):
        out[i] = c
    return "".join(out)


def mod97(chars: str) -> int:
    """ISO 7064 MOD 97-10 remainder of an ASCII alphanumeric string (letters A=10 .. Z=35)."""
    return int(chars.translate(_LETTER_NUMBERS)) % 97


def iban(value: str, s: Scrambler) -> str:
    """Keep the country code and separators; scramble the BBAN class by class; fix the check.

    The BBAN goes through the generic map (digits stay digits, letters letters, as the country's
    BBAN layout requires), keyed by the country. The check digits are then the ones in 02..98
    that give the output the input's mod-97 residue: a valid IBAN (residue 1) stays valid, and the
    residue is recoverable from the output, so the map is invertible (check digits 00, 01 and 99
    never occur in valid IBANs and come back as their mod-97 equivalents).
    """
    compact = _NOT_ALNUM.sub("", value)
    if (
        not 5 <= len(compact) <= 34
        or not compact.isascii()
        or not compact[:2].isalpha()
        or not compact[2:4].isdigit()
    ):
        return generic(value, s)
    cc, bban = compact[:2], compact[4:]
    new_bban = generic(bban, s, b"iban\0" + cc.upper().encode() + b"\0")
    residue = mod97(bban + cc + compact[2:4])
    base = mod97(new_bban + cc + "00")
    check = (residue - base) % 97
    if check < 2:
        check += 97
    new = cc + f"{check:02d}" + new_bban
    if len(compact) == len(value):  # no separators: no template to fill
        return new
    return value.translate(_ALNUM_SLOTS).format(*new)
