"""Protocol errors, split by who broke the protocol.

The proxy answers a `RemoteProtocolError` from a client with an ErrorResponse (SQLSTATE 08P01) and
closes that one connection; a `LocalProtocolError` means Wardgate itself tried to send something the
protocol does not allow in the current state, which is a bug to surface loudly, never to forward.
"""

from __future__ import annotations

__all__ = ["LocalProtocolError", "ProtocolError", "RemoteProtocolError"]


class ProtocolError(Exception):
    """Base of both protocol errors; carries the SQLSTATE the proxy reports to a client."""

    sqlstate: str = "08P01"

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        if sqlstate is not None:
            self.sqlstate = sqlstate


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that are not a valid message in the current state."""


class LocalProtocolError(ProtocolError):
    """We tried to send a message the protocol does not allow in the current state."""
