"""IPv4 addresses, validated by ``ipaddress`` (no octet over 255, no leading zeros).

A four-part version number looks exactly like an address. ``10.2.3.4`` alone is reported as an
address (masking a version by mistake costs little; leaking an address does not), but not after
"version", "v", "release" or "build", and never when a fifth part follows (``1.2.3.4.5``).
"""

from __future__ import annotations

import ipaddress
import re

from .._base import Recognizer
from .._shapes import NUMBER


class Ipv4(Recognizer):
    """``192.168.0.1``, ``10.0.0.0/8``."""

    entity = "ip_address"
    min_length = 7
    candidate = NUMBER
    pattern = re.compile(r"(?<![\d.])(?P<value>\d{1,3}(?:\.\d{1,3}){3})(?:/\d{1,2})?(?![\d.])")
    score = 0.85
    context = ("ip", "ip address", "ipv4", "host", "address", "addr", "client", "server")
    anti_context = ("version", "ver", "v", "release", "build", "firmware", "fw", "os", "sdk")

    def valid(self, value: str) -> bool:
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return False
        return True
