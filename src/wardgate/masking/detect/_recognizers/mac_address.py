"""MAC addresses: six hex pairs joined by ``:`` or ``-``, or Cisco's three dotted quads."""

from __future__ import annotations

from .._base import Recognizer

_PAIR = "[0-9A-Fa-f]{2}"


class MacAddress(Recognizer):
    """``00:1A:2B:3C:4D:5E``, ``00-1a-2b-3c-4d-5e``, ``001a.2b3c.4d5e``."""

    entity = "mac_address"
    trigger = r"[0-9A-Fa-f]{2}[:-][0-9A-Fa-f]{2}[:-]|[0-9A-Fa-f]{4}\."
    candidate = (
        rf"(?<![\w:.-])(?:(?:{_PAIR}:){{5}}{_PAIR}|(?:{_PAIR}-){{5}}{_PAIR}"
        r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![\w:.-])"
    )
    score = 0.9
    context = ("mac", "mac address", "hwaddr", "ether", "bssid")

    def valid(self, value: str) -> bool:
        # "12-34-56-78-90-12" is as likely an id as a MAC: without colons it needs a hex letter
        return ":" in value or any(c.isalpha() for c in value)
