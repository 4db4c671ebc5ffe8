"""Sans-IO PostgreSQL v3 wire protocol: typed messages, codecs, framing, the phase machine, SCRAM.

Nothing in this package performs I/O or imports asyncio or socket; the proxy drives it.
"""

from __future__ import annotations

from ._codec import decode_backend, decode_frontend, decode_startup, encode, encode_fields
from ._connection import DEFAULT_MAX_MESSAGE_SIZE, MAX_STARTUP_PACKET, Connection, Phase, Role
from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._messages import *  # noqa: F403
from ._messages import __all__ as _message_names
from ._options import startup_setting

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "MAX_STARTUP_PACKET",
    "Connection",
    "LocalProtocolError",
    "Phase",
    "ProtocolError",
    "RemoteProtocolError",
    "Role",
    "decode_backend",
    "decode_frontend",
    "decode_startup",
    "encode",
    "encode_fields",
    "startup_setting",
    *_message_names,
]
