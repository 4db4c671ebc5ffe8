"""Typed PostgreSQL v3 protocol messages.

Every message is a frozen, slotted, keyword-only dataclass so that later pipeline stages
(policy, masking, audit) can read and rebuild messages without any chance of mutating one that
another stage still holds. Text fields are `str` decoded from the wire with UTF-8 and
``surrogateescape``: whatever bytes a client sends (in any client_encoding) re-encode to exactly
the same bytes. Row values stay `bytes` because only a type-aware codec can interpret them.

Type codes overlap between directions (``D`` is Describe from a frontend but DataRow from a
backend), so messages are split into `FrontendMessage` and `BackendMessage`; CopyData and
CopyDone are both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

__all__ = [
    "PROTOCOL_3_0",
    "AuthenticationCleartextPassword",
    "AuthenticationMD5Password",
    "AuthenticationOk",
    "AuthenticationOther",
    "AuthenticationSASL",
    "AuthenticationSASLContinue",
    "AuthenticationSASLFinal",
    "BackendKeyData",
    "BackendMessage",
    "Bind",
    "BindComplete",
    "CancelRequest",
    "Close",
    "CloseComplete",
    "CommandComplete",
    "CopyBothResponse",
    "CopyData",
    "CopyDone",
    "CopyFail",
    "CopyInResponse",
    "CopyOutResponse",
    "DataRow",
    "Describe",
    "EmptyQueryResponse",
    "ErrorResponse",
    "Execute",
    "FieldDescription",
    "Flush",
    "FrontendMessage",
    "FunctionCall",
    "FunctionCallResponse",
    "GSSENCRequest",
    "Message",
    "NegotiateProtocolVersion",
    "NoData",
    "NoticeResponse",
    "NotificationResponse",
    "ParameterDescription",
    "ParameterStatus",
    "Parse",
    "ParseComplete",
    "PasswordMessage",
    "PortalSuspended",
    "Query",
    "ReadyForQuery",
    "RowDescription",
    "SSLRequest",
    "StartupMessage",
    "Sync",
    "Terminate",
]

PROTOCOL_3_0 = 196608  # (3 << 16) | 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of all messages; ``type_code`` is the one-byte tag, empty for startup packets.

    ``wire_body`` holds the body a decoded message arrived with, so forwarding a message no stage
    changed costs no re-encoding. It is not part of equality, and `dataclasses.replace` (how a
    stage changes a message) leaves it empty, so a changed message is always encoded from its
    fields. The round-trip property tests prove both encodings are the same bytes.
    """

    type_code: ClassVar[bytes] = b""
    wire_body: bytes | None = field(default=None, init=False, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FrontendMessage(Message):
    """Sent by a client (frontend) to a server (backend)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendMessage(Message):
    """Sent by a server (backend) to a client (frontend)."""


# --- Untagged startup-phase packets (frontend) ------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StartupMessage(FrontendMessage):
    protocol: int = PROTOCOL_3_0
    params: tuple[tuple[str, str], ...] = ()

    def get(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return default


@dataclass(frozen=True, slots=True, kw_only=True)
class SSLRequest(FrontendMessage):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class GSSENCRequest(FrontendMessage):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRequest(FrontendMessage):
    process_id: int
    secret_key: bytes


# --- Tagged frontend messages -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordMessage(FrontendMessage):
    """PasswordMessage, SASLInitialResponse and SASLResponse share tag ``p``; only the
    authentication exchange in progress says which one it is, so the body stays raw here."""

    type_code: ClassVar[bytes] = b"p"
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Query(FrontendMessage):
    type_code: ClassVar[bytes] = b"Q"
    sql: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Parse(FrontendMessage):
    type_code: ClassVar[bytes] = b"P"
    name: str = ""
    sql: str
    param_types: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Bind(FrontendMessage):
    type_code: ClassVar[bytes] = b"B"
    portal: str = ""
    statement: str = ""
    param_formats: tuple[int, ...] = ()
    params: tuple[bytes | None, ...] = ()
    result_formats: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Describe(FrontendMessage):
    type_code: ClassVar[bytes] = b"D"
    kind: str  # "S" statement or "P" portal
    name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Execute(FrontendMessage):
    type_code: ClassVar[bytes] = b"E"
    portal: str = ""
    max_rows: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Close(FrontendMessage):
    type_code: ClassVar[bytes] = b"C"
    kind: str  # "S" statement or "P" portal
    name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Sync(FrontendMessage):
    type_code: ClassVar[bytes] = b"S"


@dataclass(frozen=True, slots=True, kw_only=True)
class Flush(FrontendMessage):
    type_code: ClassVar[bytes] = b"H"


@dataclass(frozen=True, slots=True, kw_only=True)
class Terminate(FrontendMessage):
    type_code: ClassVar[bytes] = b"X"


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyFail(FrontendMessage):
    type_code: ClassVar[bytes] = b"f"
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCall(FrontendMessage):
    type_code: ClassVar[bytes] = b"F"
    function_oid: int
    arg_formats: tuple[int, ...] = ()
    args: tuple[bytes | None, ...] = ()
    result_format: int = 0


# --- Messages both sides send -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyData(FrontendMessage, BackendMessage):
    type_code: ClassVar[bytes] = b"d"
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyDone(FrontendMessage, BackendMessage):
    type_code: ClassVar[bytes] = b"c"


# --- Backend messages -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationOk(BackendMessage):
    type_code: ClassVar[bytes] = b"R"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationCleartextPassword(BackendMessage):
    type_code: ClassVar[bytes] = b"R"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationMD5Password(BackendMessage):
    type_code: ClassVar[bytes] = b"R"
    salt: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationSASL(BackendMessage):
    type_code: ClassVar[bytes] = b"R"
    mechanisms: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationSASLContinue(BackendMessage):
    type_code: ClassVar[bytes] = b"R"
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationSASLFinal(BackendMessage):
    type_code: ClassVar[bytes] = b"R"
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationOther(BackendMessage):
    """Kerberos, GSSAPI and SSPI requests: decoded so they can be refused by name."""

    type_code: ClassVar[bytes] = b"R"
    code: int
    data: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendKeyData(BackendMessage):
    """The secret is bytes: protocol 3.2 (PostgreSQL 18) allows up to 256 bytes, 3.0 uses 4."""

    type_code: ClassVar[bytes] = b"K"
    process_id: int
    secret_key: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterStatus(BackendMessage):
    type_code: ClassVar[bytes] = b"S"
    name: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadyForQuery(BackendMessage):
    type_code: ClassVar[bytes] = b"Z"
    status: str  # "I" idle, "T" in transaction, "E" failed transaction


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldDescription:
    name: str
    table_oid: int = 0
    column_attr: int = 0
    type_oid: int
    type_size: int = -1
    type_modifier: int = -1
    format: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RowDescription(BackendMessage):
    type_code: ClassVar[bytes] = b"T"
    fields: tuple[FieldDescription, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DataRow(BackendMessage):
    type_code: ClassVar[bytes] = b"D"
    values: tuple[bytes | None, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandComplete(BackendMessage):
    type_code: ClassVar[bytes] = b"C"
    tag: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EmptyQueryResponse(BackendMessage):
    type_code: ClassVar[bytes] = b"I"


@dataclass(frozen=True, slots=True, kw_only=True)
class _FieldsMessage(BackendMessage):
    """ErrorResponse and NoticeResponse: ordered (field code, value) pairs, as on the wire."""

    fields: tuple[tuple[str, str], ...]

    def field(self, code: str, default: str = "") -> str:
        for key, value in self.fields:
            if key == code:
                return value
        return default

    @property
    def sqlstate(self) -> str:
        return self.field("C")

    @property
    def message(self) -> str:
        return self.field("M")

    @property
    def severity(self) -> str:
        return self.field("V") or self.field("S")


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorResponse(_FieldsMessage):
    type_code: ClassVar[bytes] = b"E"

    @classmethod
    def build(
        cls,
        sqlstate: str,
        message: str,
        *,
        severity: str = "ERROR",
        detail: str | None = None,
        hint: str | None = None,
    ) -> ErrorResponse:
        """Errors Wardgate itself raises; ``S`` and ``V`` both set so old and new clients agree."""
        fields = [("S", severity), ("V", severity), ("C", sqlstate), ("M", message)]
        if detail:
            fields.append(("D", detail))
        if hint:
            fields.append(("H", hint))
        return cls(fields=tuple(fields))


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticeResponse(_FieldsMessage):
    type_code: ClassVar[bytes] = b"N"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseComplete(BackendMessage):
    type_code: ClassVar[bytes] = b"1"


@dataclass(frozen=True, slots=True, kw_only=True)
class BindComplete(BackendMessage):
    type_code: ClassVar[bytes] = b"2"


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseComplete(BackendMessage):
    type_code: ClassVar[bytes] = b"3"


@dataclass(frozen=True, slots=True, kw_only=True)
class NoData(BackendMessage):
    type_code: ClassVar[bytes] = b"n"


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalSuspended(BackendMessage):
    type_code: ClassVar[bytes] = b"s"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterDescription(BackendMessage):
    type_code: ClassVar[bytes] = b"t"
    type_oids: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyInResponse(BackendMessage):
    type_code: ClassVar[bytes] = b"G"
    format: int
    column_formats: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyOutResponse(BackendMessage):
    type_code: ClassVar[bytes] = b"H"
    format: int
    column_formats: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyBothResponse(BackendMessage):
    type_code: ClassVar[bytes] = b"W"
    format: int
    column_formats: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationResponse(BackendMessage):
    type_code: ClassVar[bytes] = b"A"
    process_id: int
    channel: str
    payload: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCallResponse(BackendMessage):
    type_code: ClassVar[bytes] = b"V"
    result: bytes | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NegotiateProtocolVersion(BackendMessage):
    type_code: ClassVar[bytes] = b"v"
    newest_minor: int
    unrecognized: tuple[str, ...] = ()
