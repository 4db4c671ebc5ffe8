"""Candidate shapes several recognizers share, as regex source for the combined pass.

A shape is deliberately loose (it finds *candidates*) but always bounded in length and anchored
at word boundaries, so that the scan stays linear on hostile input: when no recognizer accepts a
candidate the scan resumes one character later, and the left boundary stops it from restarting
inside the same run of digits.
"""

from __future__ import annotations

__all__ = ["NUMBER", "OPAQUE", "WORD_END", "WORD_START"]

#: a candidate never starts right after a word character or a joining character ("INV-2023")
WORD_START = r"(?<![\w.\-/+@])"
WORD_END = r"(?![\w@])"

#: digits with the separators people type inside numbers: ``+44 (0)20 7946 0958``,
#: ``4111-1111-1111-1111``, ``123-45-6789``, ``1985-03-12``, ``192.168.0.1``, ``756.9217.0769.85``,
#: and a phone extension (``x123``). At most 40 digit-or-separator steps, so a candidate is at
#: most ~130 characters. It must not stop in the middle of ``10.2.3`` or ``2023-01``.
NUMBER = (
    WORD_START
    + r"(?:\+|\(\+?)?\d(?:\d|[ .\-/()]{1,3}(?=\(?\d)){0,40}\)?"
    + r"(?: ?(?:x|ext\.?) ?\d{1,6})?(?![\w@]|\.\d|-\d)"
)

#: an opaque token: base64, base64url or alphanumeric with ``_-``, 16 to 512 characters
OPAQUE = r"(?<![\w+/\-])[A-Za-z0-9+/_\-]{16,512}={0,2}(?![\w+/=\-])"
