"""IPv6 addresses, validated by ``ipaddress``; times like ``12:30:45`` never parse as one."""

from __future__ import annotations

import ipaddress

from .._base import Recognizer


class Ipv6(Recognizer):
    """``2001:db8::8a2e:370:7334``, ``fe80::1%eth0``, ``::ffff:192.0.2.1``."""

    entity = "ip_address"
    trigger = r":[0-9A-Fa-f]{0,4}:"
    candidate = (
        r"(?<![\w:.])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:.]{3,45}(?:%[\w.]{1,16})?"
        r"(?![\w:])"
    )
    score = 0.9
    context = ("ip", "ipv6", "ip address", "address", "addr", "host")

    def valid(self, value: str) -> bool:
        address = value.split("%", 1)[0]
        if sum(c != ":" for c in address) < 2:  # "::" and "1::" are addresses, but not in prose
            return False
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return False
        return True
