"""The PostgreSQL v3 conversation as a sans-IO state machine.

Theory of operation
-------------------
A `Connection` is one end of one conversation. Its ``role`` says which end we play:

* ``Role.BACKEND``: we are the server. The gateway plays this towards clients (psql, drivers).
* ``Role.FRONTEND``: we are the client. The gateway plays this towards the real database.

Bytes that arrive go in with `receive_data` (``b""`` for end of file) and come out of
`next_events` as typed messages; messages we want to send go through `send`, which returns the
bytes to write. Both directions move one shared `Phase`, named after PostgreSQL's protocol
documentation, using the transition table `_TRANSITIONS`; each phase also lists which message tags
each side may send in it (`_FRONTEND_TAGS`, `_BACKEND_TAGS`). A peer that sends a tag its phase does
not allow gets a `RemoteProtocolError`; our own code trying to do so gets a `LocalProtocolError`.

The phase is also what makes framing possible: before the StartupMessage, frontend packets carry no
tag byte, and an SSLRequest is answered by one bare byte rather than a message.

Nothing here does I/O, and nothing imports asyncio or socket: a test enforces it.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from typing import cast

from . import _messages as m
from ._codec import decode_backend, decode_frontend, decode_startup, encode
from ._errors import LocalProtocolError, RemoteProtocolError

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "MAX_STARTUP_PACKET", "Connection", "Phase", "Role"]

MAX_STARTUP_PACKET = 10_000  # PostgreSQL's own MAX_STARTUP_PACKET_LENGTH
DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024 * 1024
_LEN = struct.Struct("!i")
_TAG_LEN = struct.Struct("!ci")


class Role(enum.Enum):
    FRONTEND = "frontend"
    BACKEND = "backend"


class Phase(enum.Enum):
    STARTUP = (
        "startup"  # untagged packets: SSLRequest, GSSENCRequest, StartupMessage, CancelRequest
    )
    AUTHENTICATION = "authentication"  # AuthenticationXXX requests and password messages
    BACKEND_STARTUP = "backend startup"  # after AuthenticationOk: ParameterStatus, BackendKeyData
    READY = "query cycle"  # simple and extended query protocol, pipelining
    COPY_IN = "copy in"
    COPY_OUT = "copy out"
    COPY_BOTH = "copy both"
    CLOSED = "closed"


_Q = frozenset(b"QPBDECSHFXdcf")  # everything a frontend may send in the query cycle
_ASYNC = frozenset(b"NAS")  # NoticeResponse, NotificationResponse, ParameterStatus: any time
_FRONTEND_TAGS: dict[Phase, frozenset[int]] = {
    Phase.STARTUP: frozenset(),  # untagged only
    Phase.AUTHENTICATION: frozenset(b"pX"),
    Phase.BACKEND_STARTUP: frozenset(b"X"),
    Phase.READY: _Q,
    # PostgreSQL ignores Flush and Sync during COPY IN and reports anything else itself;
    # pipelined messages sent before the CopyInResponse may still be in flight, so the query
    # cycle's set applies.
    Phase.COPY_IN: _Q,
    Phase.COPY_OUT: _Q,
    Phase.COPY_BOTH: _Q,
    Phase.CLOSED: frozenset(),
}
_BACKEND_TAGS: dict[Phase, frozenset[int]] = {
    Phase.STARTUP: frozenset(b"E"),  # a server may refuse before authentication starts
    Phase.AUTHENTICATION: frozenset(b"REvN"),
    Phase.BACKEND_STARTUP: frozenset(b"SKZEN"),
    Phase.READY: frozenset(b"TDCIE123nstGHWVZdc") | _ASYNC,
    Phase.COPY_IN: frozenset(b"CEZ") | _ASYNC,
    Phase.COPY_OUT: frozenset(b"dcCEZ") | _ASYNC,
    Phase.COPY_BOTH: frozenset(b"dcCEZ") | _ASYNC,
    Phase.CLOSED: frozenset(),
}
# (phase, message class) -> next phase. Messages not listed keep the phase.
_TRANSITIONS: dict[tuple[Phase, type[m.Message]], Phase] = {
    (Phase.STARTUP, m.StartupMessage): Phase.AUTHENTICATION,
    (Phase.STARTUP, m.CancelRequest): Phase.CLOSED,
    (Phase.STARTUP, m.ErrorResponse): Phase.CLOSED,
    (Phase.AUTHENTICATION, m.AuthenticationOk): Phase.BACKEND_STARTUP,
    (Phase.AUTHENTICATION, m.ErrorResponse): Phase.CLOSED,
    (Phase.BACKEND_STARTUP, m.ReadyForQuery): Phase.READY,
    (Phase.BACKEND_STARTUP, m.ErrorResponse): Phase.CLOSED,
    (Phase.READY, m.CopyInResponse): Phase.COPY_IN,
    (Phase.READY, m.CopyOutResponse): Phase.COPY_OUT,
    (Phase.READY, m.CopyBothResponse): Phase.COPY_BOTH,
    (Phase.COPY_IN, m.CommandComplete): Phase.READY,
    (Phase.COPY_IN, m.ErrorResponse): Phase.READY,
    (Phase.COPY_IN, m.ReadyForQuery): Phase.READY,
    (Phase.COPY_OUT, m.CommandComplete): Phase.READY,
    (Phase.COPY_OUT, m.ErrorResponse): Phase.READY,
    (Phase.COPY_BOTH, m.CommandComplete): Phase.READY,
    (Phase.COPY_BOTH, m.ErrorResponse): Phase.READY,
}


class Connection:
    """One end of a PostgreSQL conversation; see the module docstring."""

    __slots__ = (
        "_buf",
        "_decode",
        "_eof",
        "_max",
        "_phase",
        "_recv_tags",
        "_send_types",
        "_ssl_pending",
        "_trans",
        "role",
        "transaction_status",
    )

    def __init__(self, role: Role, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self.role = role
        self._decode = decode_frontend if role is Role.BACKEND else decode_backend
        self.phase = Phase.STARTUP
        self.transaction_status = "I"
        # Usually the peer's last chunk as is (no copy); a bytearray only while a message is split
        # across chunks, so a large message that trickles in is not copied once per chunk.
        self._buf: bytes | bytearray = b""
        self._eof = False
        self._max = max_message_size
        self._ssl_pending = False

    @property
    def phase(self) -> Phase:
        return self._phase

    @phase.setter
    def phase(self, phase: Phase) -> None:
        # Per-phase tables are looked up once here, not per message: hashing an Enum member is a
        # Python-level call, and this is the gateway's hottest path.
        self._phase = phase
        self._recv_tags, self._send_types = _TABLES[self.role][phase]
        self._trans = _TRANSITIONS_BY_PHASE[phase]

    # --- receiving ------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; ``b""`` means the peer closed its side."""
        if data:
            if self._eof:
                raise RemoteProtocolError("data received after end of file")
            buf = self._buf
            if not buf:
                self._buf = data
            elif type(buf) is bytes:
                self._buf = bytearray(buf) + data
            else:
                buf += data
        else:
            self._eof = True

    @property
    def peer_closed(self) -> bool:
        """True once the peer's end of file has been seen and every whole message consumed."""
        return self._eof and not self._buf

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def next_events(self) -> list[m.Message]:
        """Every complete message buffered so far, decoded and checked against the phase."""
        if self.role is Role.BACKEND and self.phase is Phase.STARTUP:
            return self._next_startup()
        buf = self._buf
        n = len(buf)
        pos = 0
        out: list[m.Message] = []
        decode = self._decode
        copy = type(buf) is not bytes  # slices of a bytearray must become bytes
        try:
            while n - pos >= 5:
                tag = buf[pos]
                (size,) = _LEN.unpack_from(buf, pos + 1)
                if tag not in self._recv_tags:
                    raise RemoteProtocolError(
                        f"unexpected message type {chr(tag)!r} in phase {self._phase.value}"
                    )
                if size < 4 or size > self._max:
                    raise RemoteProtocolError(
                        f"invalid message length {size} for message type {chr(tag)!r}",
                        sqlstate="54000" if size > self._max else None,
                    )
                if n - pos - 1 < size:
                    break
                body = buf[pos + 5 : pos + 1 + size]
                msg = decode(tag, bytes(body) if copy else cast(bytes, body))
                pos += 1 + size
                self._observe(msg)
                out.append(msg)
                if self._phase is Phase.CLOSED:
                    break
        finally:
            if pos:
                self._buf = buf[pos:] if pos < n else b""
        self._check_truncated()
        return out

    def _next_startup(self) -> list[m.Message]:
        buf = self._buf
        if len(buf) < 4:
            self._check_truncated()
            return []
        (size,) = _LEN.unpack_from(buf, 0)
        if size < 8 or size > MAX_STARTUP_PACKET:
            raise RemoteProtocolError(f"invalid length of startup packet: {size}")
        if len(buf) < size:
            self._check_truncated()
            return []
        msg = decode_startup(bytes(buf[4:size]))
        self._buf = buf = buf[size:]
        if isinstance(msg, m.SSLRequest | m.GSSENCRequest):
            if buf:
                # Bytes that arrived before the TLS handshake could have been injected by a
                # man in the middle (CVE-2021-23214); PostgreSQL refuses them, and so do we.
                raise RemoteProtocolError("received unencrypted data after SSL request")
            self._ssl_pending = True
        self._observe(msg)
        if self.phase is Phase.STARTUP:
            return [msg]
        return [msg, *self.next_events()]

    def _check_truncated(self) -> None:
        if self._eof and self._buf:
            raise RemoteProtocolError("connection closed in the middle of a message")

    # --- sending --------------------------------------------------------------------------------

    def send(self, msg: m.Message) -> bytes:
        """Check that we may send ``msg`` now, move the phase, and return its bytes."""
        if type(msg) not in self._send_types or self._ssl_pending:
            self._refuse_outgoing(msg)
        self._observe(msg)
        return encode(msg)

    def send_all(self, msgs: Sequence[m.Message]) -> bytes:
        return b"".join([self.send(msg) for msg in msgs])

    def ssl_response(self, accept: bool) -> bytes:
        """The single byte that answers an SSLRequest or GSSENCRequest (server role only)."""
        if self.role is not Role.BACKEND or not self._ssl_pending:
            raise LocalProtocolError("no SSLRequest or GSSENCRequest is waiting for an answer")
        self._ssl_pending = False
        return b"S" if accept else b"N"

    def _refuse_outgoing(self, msg: m.Message) -> None:
        name = type(msg).__name__
        if self._ssl_pending:
            raise LocalProtocolError("an SSLRequest must be answered before anything else")
        if self._phase is Phase.CLOSED:
            raise LocalProtocolError(f"cannot send {name}: connection is closed")
        raise LocalProtocolError(
            f"a {self.role.value} cannot send {name} in phase {self._phase.value}"
        )

    # --- shared state ---------------------------------------------------------------------------

    def _observe(self, msg: m.Message) -> None:
        cls = type(msg)
        nxt = self._trans.get(cls)
        if nxt is not None:
            self.phase = nxt
        if cls in _SPECIAL:
            if cls is m.ReadyForQuery:
                self.transaction_status = msg.status  # type: ignore[attr-defined]
            elif cls is m.Terminate or msg.severity in ("FATAL", "PANIC"):  # type: ignore[attr-defined]
                self.phase = Phase.CLOSED


_SPECIAL = frozenset({m.ReadyForQuery, m.Terminate, m.ErrorResponse})


def _concrete(base: type[m.Message]) -> list[type[m.Message]]:
    found: list[type[m.Message]] = []
    todo = [base]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.type_code or cls in (
            m.StartupMessage,
            m.SSLRequest,
            m.GSSENCRequest,
            m.CancelRequest,
        ):
            found.append(cls)
    return found


def _sendable(base: type[m.Message], tags: frozenset[int], phase: Phase) -> frozenset[type]:
    if phase is Phase.STARTUP and base is m.FrontendMessage:
        return frozenset(c for c in _concrete(base) if not c.type_code)
    return frozenset(c for c in _concrete(base) if c.type_code and c.type_code[0] in tags)


# role -> phase -> (tags we may receive, message classes we may send)
_TABLES: dict[Role, dict[Phase, tuple[frozenset[int], frozenset[type]]]] = {
    Role.BACKEND: {
        p: (_FRONTEND_TAGS[p], _sendable(m.BackendMessage, _BACKEND_TAGS[p], p)) for p in Phase
    },
    Role.FRONTEND: {
        p: (_BACKEND_TAGS[p], _sendable(m.FrontendMessage, _FRONTEND_TAGS[p], p)) for p in Phase
    },
}
_TRANSITIONS_BY_PHASE: dict[Phase, dict[type, Phase]] = {p: {} for p in Phase}
for (_phase, _cls), _next in _TRANSITIONS.items():
    _TRANSITIONS_BY_PHASE[_phase][_cls] = _next
