"""US Social Security numbers under the SSA's assignment rules.

Area 000, 666 and 900-999, group 00 and serial 0000 are never issued, nor are the two numbers
printed on sample cards. ``123-45-6789`` with dashes or spaces stands on its own; nine bare digits
need context (a column named ``ssn``, "SSN:" before it), or every nine-digit id would be one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .._base import Finding, Recognizer
from .._context import Context
from .._shapes import NUMBER

_SAMPLES = frozenset({"078051120", "219099999", "123456789"})


class UsSsn(Recognizer):
    """``123-45-6789``, ``123 45 6789``; ``123456789`` only with context."""

    entity = "us_ssn"
    min_length = 9
    candidate = NUMBER
    pattern = re.compile(r"(?<![\d-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\d-])")
    score = 0.85
    context = ("ssn", "social security*", "social sec", "ss no", "ss number", "ss#", "ssa")
    anti_context = ("order", "invoice", "inv", "ref", "tracking", "phone", "tel", "fax")

    def search(self, ctx: Context, start: int, end: int) -> Iterator[Finding]:
        for m in self.pattern.finditer(ctx.text, start, end):
            area, sep, group, serial = m.groups()
            if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
                continue
            if area + group + serial in _SAMPLES:
                continue
            s, e = m.span()
            vouched = ctx.near(s, e, self.context)
            if not vouched and (not sep or ctx.before(s, self.anti_context)):
                continue
            yield Finding(self.entity, s, e, self.rate("", vouched))
