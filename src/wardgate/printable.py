"""Text from outside shown to people: invisible and direction-changing characters made visible.

Control characters can forge lines and move a terminal's cursor (a log read with `wardgate audit
tail`); bidi overrides and zero-width characters can make text read as something other than what
it is (a statement in front of the person approving it: the "Trojan Source" trick). Each such
character becomes ``⟨U+XXXX⟩``, so nothing is lost and nothing is hidden.
"""

from __future__ import annotations

import unicodedata

__all__ = ["printable"]

_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def printable(text: object, keep: str = "") -> str:
    """``text`` with every control, format, separator, surrogate, private-use and unassigned
    character (but those in ``keep``, e.g. newlines in a statement) shown as its code point."""
    out = []
    for ch in str(text):
        hidden = not ch.isprintable() or unicodedata.category(ch) in _HIDDEN
        if hidden and ch not in keep:
            out.append(f"\u27e8U+{ord(ch):04X}\u27e9")
        else:
            out.append(ch)
    return "".join(out)
