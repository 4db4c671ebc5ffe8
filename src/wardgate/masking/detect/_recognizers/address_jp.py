"""Japanese addresses: prefecture, municipality, then chōme-ban-gō numbering."""

from __future__ import annotations

from .._base import Recognizer


class AddressJapan(Recognizer):
    """``東京都千代田区丸の内1丁目9番1号``; the building after it is left to the context."""

    entity = "address"
    candidate = (
        r"[^\s\d\W]{1,4}[都道府県][^\s\d]{1,12}?[市区町村郡][^\s\d]{0,12}?"
        r"\d{1,4}(?:丁目|-)\d{1,4}(?:番地?|-)\d{1,4}号?"
    )
    score = 0.85
