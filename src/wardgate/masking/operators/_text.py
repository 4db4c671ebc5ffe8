"""Formats for free-form strings: the generic class-preserving map, e-mail addresses and names.

Generic map. Every ASCII digit stays a digit, every ASCII letter a letter of the same case, every
other character stays where it is; the changing characters are read as one mixed-radix number
(radix 10 or 26 per position) and scrambled as a whole, so length, character classes and
separators survive and, below `PRF_DOMAIN`, distinct inputs give distinct outputs. The template of
kept characters and classes (the "shape") goes into the tweak, so ``ab-cd`` and ``abc-d`` do not
betray that they share letters. Non-ASCII letters and digits: tokens turn them into ASCII letters
of the same case and ASCII digits (their code points go into the tweak, so they still separate
values); FPE leaves them in place, because a reversible map needs a fixed alphabet on both sides.

E-mail. The local part goes through the generic map with the lower-cased domain in the tweak, and
the domain is kept: the result is then a syntactically valid address whenever the input was (the
map keeps dots, quotes and ``+`` where they were), it stays deliverable-looking and groupable by
provider, and the identifying part (the mailbox) is what changes. A small company's own domain can
itself narrow a person down; directives that care can add `partial` or `redact` for such columns.

Names (tokens only): each word of a person's name is replaced by a name picked by HMAC from fixed
lists, keeping the number of words and each word's case style. Picks come from a few hundred names,
so different people can share a pseudonym; the generic map is the exact alternative.
"""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple

from ._context import MaskError
from ._names import ANY_NAMES, FIRST_NAMES, LAST_NAMES
from ._scramble import Scrambler, TokenScrambler

__all__ = ["email", "generic", "person"]

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()
_DIGITS = "0123456789"
# Class markers in a shape: '0' digit, 'a' lower-case letter, 'A' upper-case letter.
_SHAPE = str.maketrans(_DIGITS + _LOWER + _UPPER, "0" * 10 + "a" * 26 + "A" * 26)
# A shape as a str.format template: one '{}' per changing character, braces escaped.
_TEMPLATE = str.maketrans({"0": "{}", "a": "{}", "A": "{}", "{": "{{", "}": "}}"})
_KEPT_IN_SHAPE = re.compile(r"[^0aA]+")
_KEPT_IN_PLAIN = re.compile(r"[^0-9A-Za-z]+")
# Letters as base-26 numerals in int()'s notation, so a letters-only run converts in C.
_B26 = str.maketrans(_LOWER + _UPPER, (_DIGITS + _LOWER[:16]) * 2)
_ALPHABET = {"0": _DIGITS, "a": _LOWER, "A": _UPPER}
_RADIX = {"0": 10, "a": 26, "A": 26}
_PAIRS = [a + b for a in _LOWER for b in _LOWER]  # base-676 numerals for letter pairs
# The generic map refuses strings longer than this for FPE (FF1 over ~50k bits per value).
MAX_FPE_CHARS = 10_000


def _shape_of(value: str, reversible: bool) -> tuple[str, str, bytes]:
    """(value with non-ASCII letters replaced, shape, bytes of those letters for the tweak)."""
    if value.isascii():
        return value, value.translate(_SHAPE), b""
    plain: list[str] = []
    shape: list[str] = []
    extra: list[str] = []
    for ch in value:
        if ch.isascii():
            plain.append(ch)
            shape.append(ch.translate(_SHAPE))
        elif not reversible and (ch.isalpha() or ch.isdecimal()):
            mark = "0" if ch.isdecimal() else "A" if ch.isupper() else "a"
            plain.append(mark)
            shape.append(mark)
            extra.append(ch)
        else:  # kept as is: the code point stays visible (FPE), punctuation, symbols
            plain.append(ch)
            shape.append(ch)
    return "".join(plain), "".join(shape), "".join(extra).encode()


def _tweak(tag: bytes, shape: str, extra: bytes) -> bytes:
    raw = shape.encode("utf-8", "surrogatepass")
    if extra:
        raw += b"\0" + extra
    if len(raw) > 48:  # keep FF1's per-(length, tweak) cache entries small
        raw = hashlib.sha256(raw).digest()[:16]
    return tag + raw


class _Layout(NamedTuple):
    """What a value's shape fixes for the generic map (kept per scrambler, see `_layout`)."""

    classes: str  # the changing characters' classes, in order
    template: str  # str.format template of the kept characters ("" when nothing is kept)
    digits: int
    letters: int
    n: int  # size of the domain: 10**digits * 26**letters
    runs: tuple[tuple[int, int, str, int], ...]  # (start, end, class, radix**length) per run


_RUNS = re.compile(r"0+|a+|A+")
_LAYOUTS = 8192


def _layout(s: Scrambler, shape: str) -> _Layout | None:
    """The layout of ``shape`` (None: nothing changes). Values repeat their shapes far more than
    themselves (an e-mail's local part, a code), so each is worked out once per scrambler."""
    cache = s.format_cache
    found: _Layout | None = cache.get(shape)
    if found is not None or shape in cache:
        return found
    classes = _KEPT_IN_SHAPE.sub("", shape)
    if classes:
        digits = classes.count("0")
        letters = len(classes) - digits
        runs = tuple(
            (m.start(), m.end(), m[0][0], (10 if m[0][0] == "0" else 26) ** len(m[0]))
            for m in _RUNS.finditer(classes)
        )
        template = "" if classes == shape else shape.translate(_TEMPLATE)
        found = _Layout(classes, template, digits, letters, 10**digits * 26**letters, runs)
    if len(cache) >= _LAYOUTS:
        cache.clear()
    cache[shape] = found
    return found


def generic(value: str, s: Scrambler, tag: bytes = b"g\0") -> str:
    """Length-, class- and separator-preserving keyed map (see the module docstring).

    The string is split into a ``str.format`` template of the kept characters and the run of
    changing characters (the template, classes, tweak and domain are the shape's `_layout`);
    conversions to and from integers go run by run of one class, with ``int``/``str`` in C, so
    short values cost little beyond the scrambler itself.
    """
    if value.isascii():
        plain, shape, extra = value, value.translate(_SHAPE), b""
    else:
        plain, shape, extra = _shape_of(value, s.reversible)
    layout = _layout(s, shape)
    if layout is None:
        return value
    classes, template, digits, letters, n, runs = layout
    tweak = _tweak(tag, shape, extra)
    run = _KEPT_IN_PLAIN.sub("", plain) if template else plain
    if isinstance(s, TokenScrambler) and digits * 3.33 + letters * 4.7 > 64.5:
        # Large domain: no integer round trip; one keystream value per changing character.
        stream = s.keystream(tweak, plain.encode("utf-8", "surrogatepass"), len(classes))
        out = "".join(_ALPHABET[m][v % _RADIX[m]] for m, v in zip(classes, stream, strict=True))
    elif s.reversible and len(classes) > MAX_FPE_CHARS:
        raise MaskError(f"fpe handles at most {MAX_FPE_CHARS} letters and digits per value")
    elif not letters:  # digits only: int() and str() convert in C
        out = str(s.permute(n, int(run), tweak)).zfill(digits)
    else:
        if not digits:
            x = int(run.translate(_B26), 26)
        else:
            x = 0
            for start, end, mark, size in runs:
                piece = run[start:end]
                x = x * size + (int(piece) if mark == "0" else int(piece.translate(_B26), 26))
        out = _render(runs, s.permute(n, x, tweak))
    return template.format(*out) if template else out


def _render(runs: tuple[tuple[int, int, str, int], ...], y: int) -> str:
    """The changing characters for ``y`` in mixed radix (most significant first)."""
    parts: list[str] = []
    for start, end, mark, size in reversed(runs):
        y, r = divmod(y, size)
        if mark == "0":
            parts.append(str(r).zfill(end - start))
        else:
            letters = _base26(r, end - start)
            parts.append(letters if mark == "a" else letters.upper())
    parts.reverse()
    return "".join(parts)


def _base26(r: int, length: int) -> str:
    """``r`` as ``length`` lower-case letters, big-endian (two letters per division)."""
    pairs: list[str] = []
    while length >= 2:
        r, q = divmod(r, 676)
        pairs.append(_PAIRS[q])
        length -= 2
    if length:
        pairs.append(_LOWER[r % 26])
    pairs.reverse()
    return "".join(pairs)


def email(value: str, s: Scrambler) -> str:
    """Local part through the generic map keyed by the domain; the domain kept."""
    at = value.rfind("@")
    if at <= 0 or at == len(value) - 1:
        return generic(value, s)
    domain = value[at + 1 :]
    local = generic(value[:at], s, b"e\0" + domain.lower().encode() + b"\0")
    return local + "@" + domain


_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "jr", "sr"})


def person(value: str, s: TokenScrambler) -> str:
    """A pseudonym with as many words as ``value``, each in the original word's case style."""
    words = value.split(" ")
    parts = [_core(w) for w in words]
    real = [i for i, (_, core, _) in enumerate(parts) if core and core.lower() not in _TITLES]
    if not real:
        return generic(value, s)
    seed = value.encode("utf-8", "surrogatepass")
    for k, i in enumerate(real):
        lead, core, trail = parts[i]
        if len(core) == 1:  # an initial stays an initial
            pick = _UPPER[s.prf_int(26, b"pi\0" + k.to_bytes(2, "big"), seed)]
        else:
            names = ANY_NAMES if len(real) == 1 else FIRST_NAMES if k == 0 else LAST_NAMES
            pick = names[s.prf_int(len(names), b"pn\0" + k.to_bytes(2, "big"), seed)]
        words[i] = lead + _case_like(core, pick) + trail
    for i, (_, core, _) in enumerate(parts):
        if not core and any(c.isalnum() for c in words[i]):  # "3rd", "C3PO": shape-kept token
            words[i] = generic(words[i], s, b"pw\0")
    return " ".join(words)


def _core(word: str) -> tuple[str, str, str]:
    """Split leading/trailing punctuation off a word; the core is letters, ' and - only."""
    if word.isalpha():  # the common case: a plain word is its own core
        return "", word, ""
    start, end = 0, len(word)
    while start < end and not word[start].isalpha():
        start += 1
    while end > start and not word[end - 1].isalpha():
        end -= 1
    core = word[start:end]
    if (
        not core
        or not all(c.isalpha() or c in "'-" for c in core)
        or any(c.isalnum() for c in word[:start] + word[end:])
    ):
        return word, "", ""  # not a name word ("3rd", "C3PO"): left to the caller
    return word[:start], core, word[end:]


def _case_like(model: str, name: str) -> str:
    if model.isupper() and len(model) > 1:
        return name.upper()
    if model.islower():
        return name.lower()
    return name
