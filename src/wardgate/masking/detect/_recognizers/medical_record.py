"""Medical record numbers: formats differ per hospital, so only context makes one (MRN: 0048)."""

from __future__ import annotations

from .._base import Recognizer
from .._shapes import WORD_END, WORD_START


class MedicalRecordNumber(Recognizer):
    """Five to twelve digits, optionally after up to three letters, next to "MRN" and the like."""

    entity = "medical_record"
    min_length = 5
    candidate = WORD_START + r"[A-Z]{0,3}-?\d{5,12}" + WORD_END
    requires_context = True
    context = ("mrn", "medical record*", "med rec", "patient id", "patient no", "patient number",
               "chart number", "chart no", "hospital number", "health record", "case number",
               "emr", "ehr")  # fmt: skip
    score = 0.8
