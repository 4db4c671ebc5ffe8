"""Given names and surnames for the person recognizer, read from Faker's locale lists at run time.

Faker is already a dependency (sample data); its person providers hold first and last names for
~80 locales, so the gazetteer needs no download and no data file of ours. The lists are read
once, lazily, on the first name lookup (about 0.2 s). Words that are names somewhere but are far
more often ordinary capitalised words ("May", "Will", "Street", "London") are dropped: a name is
reported only when the words around it agree.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Iterable

__all__ = ["Gazetteer", "gazetteer"]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: capitalised words that Faker lists as names but that text uses as something else
STOP = frozenset(
    _words(
        "a an and are as at be by can do for from has he her his i if in is it its me my no not "
        "of on or our she so than that the their them then there they this to up us was we were "
        "what when where which who will with you your yes ok hi hello dear thanks thank regards "
        "best sincerely mr mrs ms miss dr prof sir madam herr frau mme mlle sr sra january "
        "february march april may june july august september october november december monday "
        "tuesday wednesday thursday friday saturday sunday today tomorrow yesterday new old "
        "north south east west central upper lower great little big long high low street road "
        "lane avenue park hill way drive court place square island lake river bay port mount "
        "city town village county state country church school hall house home tower bridge "
        "london paris berlin rome madrid amsterdam vienna tokyo york boston chicago dallas "
        "austin jersey washington lincoln houston orlando phoenix denver victoria sydney "
        "america england france germany spain italy china japan india canada europe asia africa "
        "bank group company inc ltd plc llc gmbh corp services service team support sales "
        "account customer user admin system data order total price invoice payment card number "
        "note notes error warning info debug test demo sample example default none null true "
        "false summer winter spring autumn fall christmas easter grant will mark bill rose hope "
        "faith joy grace art chance rich sunny dawn summer page chapter section table figure "
        "list item version release update report"
    )
)
_ATTRS = ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary")
_LAST = ("last_names", "last_names_male", "last_names_female")


class Gazetteer:
    """Case-folded first and last names, and common words that are neither.

    A surname of several words ("van den Velden", "de la Cruz") is also indexed by its last
    word, since the recognizer looks names up one word at a time. ``common`` holds everyday words
    of the corpus languages (Faker's lorem lists): a capitalised word there is not taken for an
    unknown surname.
    """

    def __init__(
        self, first: Iterable[str], last: Iterable[str], common: Iterable[str] = ()
    ) -> None:
        self.first = frozenset(n.casefold() for n in first) - STOP
        lasts = {n.casefold() for n in last}
        lasts |= {n.split()[-1] for n in lasts if " " in n}
        self.last = frozenset(lasts) - STOP
        self.common = frozenset(w.casefold() for w in common) | STOP

    def is_first(self, word: str) -> bool:
        return word.casefold() in self.first

    def is_last(self, word: str) -> bool:
        folded = word.casefold()
        if folded in self.last:
            return True
        parts = folded.split("-")  # "Wieloch-Bolnbach", "Smith-Jones"
        return len(parts) > 1 and any(p in self.last for p in parts)

    def is_name(self, word: str) -> bool:
        return self.is_first(word) or self.is_last(word)

    def is_common(self, word: str) -> bool:
        return word.casefold() in self.common


def _names(provider: type, attrs: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for attr in attrs:
        for klass in provider.__mro__:
            value = klass.__dict__.get(attr)
            if isinstance(value, dict | list | tuple | set | frozenset):
                out.update(v for v in value if isinstance(v, str) and len(v) > 1)
                break
    return out


#: languages whose everyday words (Faker lorem lists) must not pass for unknown surnames
_COMMON = ("en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL")


def _load() -> Gazetteer:
    import faker.providers.lorem as lorem
    import faker.providers.person as person

    first: set[str] = set()
    last: set[str] = set()
    for info in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"{person.__name__}.{info.name}").Provider
        first |= _names(provider, _ATTRS)
        last |= _names(provider, _LAST)
    common: set[str] = set()
    for locale in _COMMON:
        words = importlib.import_module(f"{lorem.__name__}.{locale}").Provider.word_list
        common.update(w for w in words if isinstance(w, str))
    return Gazetteer(first, last, common)


_lock = threading.Lock()
_cache: list[Gazetteer] = []


def gazetteer() -> Gazetteer:
    """The process-wide gazetteer, loaded on first use."""
    if not _cache:
        with _lock:
            if not _cache:
                _cache.append(_load())
    return _cache[0]
