"""UK National Insurance numbers: two letters, six digits, a suffix A-D.

HMRC never allocates prefixes starting D, F, I, Q, U or V, second letters D, F, I, O, Q, U or V,
nor BG, GB, KN, NK, NT, TN and ZZ (ZZ is what sample and test data use).
"""

from __future__ import annotations

from .._base import Recognizer
from .._shapes import WORD_END, WORD_START

_BANNED = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


class UkNino(Recognizer):
    """``QQ 12 34 56 C`` style (with or without spaces), with a valid prefix."""

    entity = "uk_nino"
    candidate = (
        WORD_START + r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]" + WORD_END
    )
    score = 0.9
    context = ("nino", "national insurance", "ni number", "ni no")

    def valid(self, value: str) -> bool:
        return value[:2] not in _BANNED
