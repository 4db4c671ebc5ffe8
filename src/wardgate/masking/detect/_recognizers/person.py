"""Person names in free text and in name columns, from a gazetteer of given names and surnames.

A run of capitalised words is a name when it starts with a known given name and ends with a
known surname ("Maria del Carmen Ruiz", "Karsten Wieloch-Bolnbach"). With context (a name
column, or "Dear", "Mr.", "patient" just before) a run of capitalised words one of which is a
known name is enough, and so is a single known name. Japanese and Chinese names count when
written with a space between surname and given name, as forms do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .._base import Finding, Recognizer
from .._context import Context
from .._gazetteer import Gazetteer, gazetteer
from .._streets import EN_SUFFIXES


def _upper_class() -> str:
    """A regex class of the uppercase letters of the Latin, Greek and Cyrillic blocks."""
    return "[" + "".join(re.escape(chr(c)) for c in range(0x41, 0x530) if chr(c).isupper()) + "]"


_UP = _upper_class()
_PARTICLES = frozenset(
    [
        "van",
        "von",
        "de",
        "der",
        "den",
        "del",
        "della",
        "di",
        "da",
        "dos",
        "das",
        "du",
        "le",
        "la",
        "ter",
        "ten",
        "bin",
        "al",
        "el",
        "y",
        "zu",
    ]
)
_PARTICLE = "|".join(sorted(_PARTICLES))
_WORD = rf"{_UP}[\w'\u2019]*(?:-{_UP}?[\w'\u2019]+)?\.?"
_CJK = r"[\u3040-\u30ff\u3400-\u9fff]"
_TOKENS = re.compile(rf"{_WORD}|(?:{_PARTICLE})(?!\w)|{_CJK}+")
_Token = tuple[int, int, str]

#: words that make the capitalised word(s) after them a name
TITLES = (
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "dear", "herr", "frau", "mme",
    "mlle", "sr", "sra", "srta", "sig", "dott", "hi", "hello", "hey", "thanks", "regards",
    "cheers", "signed", "name", "named", "patient", "customer", "contact", "employee", "client",
    "attn", "attention", "by", "from", "cc", "nom", "nombre", "nome", "naam",
)  # fmt: skip
#: column names whose values are names
NAME_COLUMNS = (
    "name", "names", "full name", "first name", "last name", "given name", "surname",
    "family name", "firstname", "lastname", "fullname", "middle name", "forename", "contact",
    "author", "owner", "holder", "recipient", "sender", "cardholder", "signatory", "patient",
    "customer", "employee", "person", "nom", "nombre", "nome", "naam", "vorname", "nachname",
    "apellido*", "cognome",
)  # fmt: skip
#: qualifiers that make a ``*_name`` column hold something other than a person's name
NOT_PERSON_COLUMNS = (
    "street", "company", "business", "org", "organisation", "organization", "product", "file",
    "host", "hostname", "domain", "user name", "username", "display", "brand", "city", "country",
    "table", "column", "schema", "database", "server", "app", "project", "item", "category",
    "tag", "role", "group", "team", "place", "location", "store", "shop", "bank", "event", "job",
    "title", "device", "service", "queue", "bucket", "key", "field", "class", "module", "package",
)  # fmt: skip
_SUFFIXES = frozenset(s.casefold() for s in EN_SUFFIXES)


class PersonName(Recognizer):
    """Given name + surname runs; single names and partial matches with context."""

    entity = "person"
    trigger = rf"{_UP}|{_CJK}"
    candidate = (
        rf"(?<![\w'\u2019-])(?:{_WORD}(?:[ \t](?:(?:{_PARTICLE})[ \t]){{0,2}}{_WORD}){{0,4}}"
        rf"|{_CJK}{{1,4}}[ \u3000]{_CJK}{{1,4}})"
    )
    score = 0.8

    def search(self, ctx: Context, start: int, end: int) -> Iterator[Finding]:
        g = gazetteer()
        tokens = [(m.start(), m.end(), m.group()) for m in _TOKENS.finditer(ctx.text, start, end)]
        column = ctx.named(NAME_COLUMNS) and not ctx.named(NOT_PERSON_COLUMNS)
        i = 0
        while i < len(tokens):
            s, _, word = tokens[i]
            if not _capital(word):
                i += 1
                continue
            titled = column or ctx.before(s, TITLES)
            j, score = _full_name_end(g, tokens, i), self.score
            if j is None:
                j, score = _unknown_surname_end(g, tokens, i), self.score - 0.1
            if j is not None and not titled and tokens[j][2].casefold() in _SUFFIXES:
                j = None  # "Ethan Stream", "Mary Glens": a street named after someone
            if j is None and titled:
                j, score = _loose_name_end(g, tokens, i), self.score - 0.1
            if j is None:
                i += 1
                continue
            yield Finding(self.entity, s, tokens[j][1], min(1.0, score + 0.05 * titled))
            i = j + 1


def _is_cjk(word: str) -> bool:
    return "\u3040" <= word[0] <= "\u9fff"


def _capital(word: str) -> bool:
    return word[0].isupper() or _is_cjk(word)


def _adjacent(tokens: list[_Token], j: int) -> bool:
    """Whether token ``j`` follows token ``j - 1`` after a single space."""
    return tokens[j][0] - tokens[j - 1][1] == 1


def _full_name_end(g: Gazetteer, tokens: list[_Token], i: int) -> int | None:
    """Index of the surname ending a "given [middle...] surname" run that starts at ``i``.

    CJK names are written surname first ("木村 陽一"): two known names in either order count.
    """
    first = tokens[i][2].rstrip(".")
    if _is_cjk(first):
        if i + 1 < len(tokens) and _is_cjk(tokens[i + 1][2]) and g.is_name(first):
            return i + 1 if g.is_name(tokens[i + 1][2]) else None
        return None
    if len(first) < 2 or not g.is_first(first):
        return None
    best = None
    for j in range(i + 1, min(i + 5, len(tokens))):
        word = tokens[j][2].rstrip(".")
        if not _adjacent(tokens, j):
            break
        if word in _PARTICLES:
            continue
        if not _capital(word):
            break
        if len(word) > 1 and g.is_last(word):
            best = j
        elif len(word) > 1 and not g.is_first(word):  # a middle initial ("J.") may stand between
            break
    return best


def _unknown_surname_end(g: Gazetteer, tokens: list[_Token], i: int) -> int | None:
    """A known given name, then one capitalised word that could be a surname we do not list.

    The long tail of surnames is far longer than any list ("Hendrickson"), so a known given
    name followed by a capitalised word that is not an everyday word, a month, a street suffix
    or the start of a longer title ("Jordan Valley Water Authority") is taken as a name.
    """
    first = tokens[i][2]
    if _is_cjk(first) or len(first) < 2 or not g.is_first(first.rstrip(".")):
        return None
    j = i + 1
    if j >= len(tokens) or not _adjacent(tokens, j):
        return None
    word = tokens[j][2]
    if not (word[0].isupper() and word[1:].islower() and word.isalpha() and len(word) >= 3):
        return None
    if g.is_common(word) or word.casefold() in _SUFFIXES:
        return None
    if j + 1 < len(tokens) and _adjacent(tokens, j + 1) and _capital(tokens[j + 1][2]):
        return None
    return j


def _loose_name_end(g: Gazetteer, tokens: list[_Token], i: int) -> int | None:
    """With context: the end of a run of capitalised words at least one of which is a name."""
    known = False
    last = None
    for j in range(i, min(i + 4, len(tokens))):
        word = tokens[j][2].rstrip(".")
        if j > i and not _adjacent(tokens, j):
            break
        if word in _PARTICLES:
            continue
        if not _capital(word):
            break
        known = known or (len(word) > 1 and g.is_name(word))
        last = j
    return last if known else None
