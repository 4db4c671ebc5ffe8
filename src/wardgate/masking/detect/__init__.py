"""Value detectors for masking: find sensitive values in text and classify catalog columns.

`Detector.find` reports `Finding` spans (entity, start, end, score) for the entity vocabulary of
`wardgate.masking._entities`; `Detector.classify_column` decides whether a column holds one.
Everything runs offline: validators are python-stdnum, phonenumbers and our own checksums, and
person names come from a gazetteer built from Faker's locale lists.
"""

from __future__ import annotations

from ._base import Finding
from ._columns import ColumnClass
from ._custom import CustomEntity
from ._detector import Detector

__all__ = ["ColumnClass", "CustomEntity", "Detector", "Finding"]
