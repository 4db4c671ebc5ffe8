"""Context: the words around a value and the names of the column and table it came from.

Many identifiers are only identifiers in context: nine bare digits are an SSN in a column named
``ssn`` or after "SSN:", and an order number anywhere else. Names are split into lowercase words
(``customerSSN`` and ``customer_ssn`` both give ``customer ssn``) and a context phrase matches
when it is a run of whole words there, or in the few words of text right before the value.
"""

from __future__ import annotations

import functools
import re

__all__ = ["Context", "name_words", "phrase_in"]

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9a-zà-öø-ÿ]+")
#: how far back (characters) the text before a value is read for context words
WINDOW = 48


def name_words(*names: str | None) -> str:
    """Identifiers as space-separated lowercase words, padded with spaces: ``" date of birth "``."""
    parts: list[str] = []
    for name in names:
        if name:
            parts.append(_NON_WORD.sub(" ", _CAMEL.sub(" ", name).lower()))
    return " " + " ".join(" ".join(parts).split()) + " "


@functools.lru_cache(maxsize=256)
def _phrases(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """One regex for a tuple of phrases, so a context check is one C-level search."""
    alts = [re.escape(p[:-1]) if p.endswith("*") else re.escape(p) + " " for p in phrases]
    return re.compile(" (?:" + "|".join(sorted(alts, key=len, reverse=True)) + ")")


def phrase_in(words: str, phrases: tuple[str, ...]) -> bool:
    """Whether any phrase is a run of whole words of ``words`` (as made by `name_words`).

    A phrase ending in ``*`` also matches as a word prefix (``"passw*"`` matches "passwords").
    """
    return bool(phrases) and _phrases(phrases).search(words) is not None


class Context:
    """One `Detector.find` call's text and naming context; context checks are cached per call.

    Most values carry no context word at all, so `anywhere` (is a phrase in the names or
    anywhere in the text?) is answered once per recognizer and call, and recognizers that
    require context skip their candidates without looking at them when it says no.
    """

    __slots__ = ("_anywhere", "_text_words", "_window_cache", "names", "text")

    def __init__(self, text: str, column: str | None = None, table: str | None = None) -> None:
        self.text = text
        self.names = name_words(column, table)
        self._window_cache: dict[int, str] = {}
        self._anywhere: dict[int, bool] = {}
        self._text_words: str | None = None

    def _window(self, start: int) -> str:
        words = self._window_cache.get(start)
        if words is None:
            words = name_words(self.text[max(0, start - WINDOW) : start])
            self._window_cache[start] = words
        return words

    def named(self, phrases: tuple[str, ...]) -> bool:
        """Whether the column or table name carries one of ``phrases``."""
        return phrase_in(self.names, phrases)

    def anywhere(self, phrases: tuple[str, ...]) -> bool:
        """Whether the names or any part of the text carry one of ``phrases``."""
        key = id(phrases)
        hit = self._anywhere.get(key)
        if hit is None:
            if self._text_words is None:
                self._text_words = name_words(self.text)
            hit = self.named(phrases) or phrase_in(self._text_words, phrases)
            self._anywhere[key] = hit
        return hit

    def near(self, start: int, end: int, phrases: tuple[str, ...]) -> bool:
        """Whether the column/table names or the text just before ``start`` carry a phrase.

        The text after the value counts too when it is a short trailing label
        ("123456789 (SSN)"), which is how people write it in notes.
        """
        if not self.anywhere(phrases):
            return False
        if self.named(phrases) or phrase_in(self._window(start), phrases):
            return True
        return phrase_in(name_words(self.text[end : end + 16]), phrases)

    def before(self, start: int, phrases: tuple[str, ...]) -> bool:
        """Whether one of ``phrases`` ends right before ``start`` (the last word or two)."""
        if not self.anywhere(phrases):
            return False
        words = self._window(start).split()[-2:]
        return phrase_in(" " + " ".join(words) + " ", phrases)
