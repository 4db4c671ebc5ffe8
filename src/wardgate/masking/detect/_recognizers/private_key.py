"""PEM private keys (PKCS#1, PKCS#8, EC, OpenSSH, encrypted), whole or cut short.

A key in a text column may be truncated (a preview, a log line): without its END line the
finding runs over the base64 body that follows the BEGIN line. JSON-escaped newlines (``\\n``)
count as newlines, so a key pasted into a JSON document is found too.
"""

from __future__ import annotations

from .._base import Recognizer

_LABEL = r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"


class PemPrivateKey(Recognizer):
    entity = "private_key"
    trigger = "PRIVATE KEY"
    candidate = (
        _LABEL
        + r"(?:[\s\S]{0,16384}?-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
        + r"|(?:[A-Za-z0-9+/=:,\- \t\r\n]|\\n){0,16384})"
    )
    score = 0.98
