"""Postcodes: a full UK postcode stands alone; US ZIP and 4-5 digit postcodes need context."""

from __future__ import annotations

import re

from .._base import Recognizer
from .._shapes import NUMBER, WORD_END, WORD_START

POSTCODE_WORDS = ("zip", "zip code", "zipcode", "postcode", "post code", "postal code", "plz",
                  "postleitzahl", "code postal", "cp", "cap", "postcode", "address")  # fmt: skip


class UkPostcode(Recognizer):
    """``SW1A 1AA``, ``EC1V 9HX``, ``M1 1AE``: outward code, space, inward code."""

    entity = "address"
    candidate = WORD_START + r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}" + WORD_END
    score = 0.7
    context = POSTCODE_WORDS


class NumericPostcode(Recognizer):
    """``94105``, ``94105-1234``, ``10115``, ``1011 AB`` in a zip/postcode column or after "zip"."""

    entity = "address"
    candidate = NUMBER
    min_length = 4
    pattern = re.compile(r"(?<![\d-])(?:\d{5}(?:-\d{4})?|\d{4})(?![\d-])")
    requires_context = True
    context = POSTCODE_WORDS[:-1]
    score = 0.6
