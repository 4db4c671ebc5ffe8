"""Email addresses: RFC 5321 local part and a dotted domain with an alphabetic top-level label."""

from __future__ import annotations

from .._base import Recognizer
from .._shapes import WORD_START

#: "icon@2x.png" is an image name, not an address
_FILE_TLDS = frozenset(["png", "jpg", "jpeg", "gif", "svg", "webp", "css", "js", "ico", "pdf"])
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"


class Email(Recognizer):
    """An address such as ``j.doe+tag@example.co.uk``; IDN domains are allowed.

    The local part may not start with ``//``: that is the userinfo of a URL
    (``postgres://app@db``), which `connection_string` judges.
    """

    entity = "email"
    trigger = "@"
    candidate = (
        WORD_START
        + r"(?!//)[\w!#$%&'*+/=?^`{|}~-][\w!#$%&'*+/=?^`{|}~.-]{0,63}"
        + rf"@{_LABEL}(?:\.{_LABEL}){{1,30}}"
    )
    score = 0.95
    context = ("email", "e mail", "mail")

    def valid(self, value: str) -> bool:
        local, _, domain = value.rpartition("@")
        if local.startswith(".") or local.endswith(".") or ".." in local:
            return False
        tld = domain.rsplit(".", 1)[-1].lower()
        if tld in _FILE_TLDS:
            return False
        return tld.startswith("xn--") or (len(tld) >= 2 and tld.isalpha())
