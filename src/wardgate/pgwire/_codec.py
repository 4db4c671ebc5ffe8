"""Message bodies to typed messages and back.

Decoders take the body (without tag and length) and must consume it exactly: trailing bytes, a
missing NUL terminator or a negative count is a `RemoteProtocolError`, never an IndexError or
struct.error leaking out, because these bytes come from a peer we do not trust. DataRow is the hot
path (one per result row), so it is decoded with a tight loop over a memoryview-free bytes object.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from . import _messages as m
from ._errors import LocalProtocolError, RemoteProtocolError

__all__ = ["decode_backend", "decode_frontend", "decode_startup", "encode", "encode_fields"]

_ENC = "utf-8"
_ERRS = "surrogateescape"

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_I32I32 = struct.Struct("!ii")
_FIELD = struct.Struct("!IhIhih")

SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104
CANCEL_REQUEST_CODE = 80877102


class _Reader:
    """Cursor over one message body; every read is bounds-checked."""

    __slots__ = ("body", "pos")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pos = 0

    def _need(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.body):
            raise RemoteProtocolError("message body is shorter than its contents claim")

    def int16(self) -> int:
        self._need(2)
        (v,) = _I16.unpack_from(self.body, self.pos)
        self.pos += 2
        return int(v)

    def int32(self) -> int:
        self._need(4)
        (v,) = _I32.unpack_from(self.body, self.pos)
        self.pos += 4
        return int(v)

    def uint32(self) -> int:
        self._need(4)
        (v,) = _U32.unpack_from(self.body, self.pos)
        self.pos += 4
        return int(v)

    def count16(self) -> int:
        n = self.int16()
        if n < 0:
            raise RemoteProtocolError("negative count in message")
        return n

    def raw(self, n: int) -> bytes:
        self._need(n)
        start = self.pos
        self.pos += n
        return self.body[start : self.pos]

    def rest(self) -> bytes:
        start = self.pos
        self.pos = len(self.body)
        return self.body[start:]

    def cstr(self) -> str:
        end = self.body.find(b"\0", self.pos)
        if end < 0:
            raise RemoteProtocolError("string in message is not NUL-terminated")
        value = self.body[self.pos : end].decode(_ENC, _ERRS)
        self.pos = end + 1
        return value

    def value(self) -> bytes | None:
        n = self.int32()
        if n == -1:
            return None
        if n < 0:
            raise RemoteProtocolError("invalid value length in message")
        return self.raw(n)

    def done(self) -> None:
        if self.pos != len(self.body):
            raise RemoteProtocolError("message has trailing bytes")


def _cstr(s: str) -> bytes:
    b = s.encode(_ENC, _ERRS)
    if b"\0" in b:
        raise LocalProtocolError("protocol strings cannot contain NUL bytes")
    return b + b"\0"


def _values(values: tuple[bytes | None, ...]) -> bytes:
    parts = [_I16.pack(len(values))]
    for v in values:
        if v is None:
            parts.append(b"\xff\xff\xff\xff")
        else:
            parts.append(_I32.pack(len(v)))
            parts.append(v)
    return b"".join(parts)


def _int16s(values: tuple[int, ...]) -> bytes:
    return _I16.pack(len(values)) + struct.pack(f"!{len(values)}h", *values)


def _read_int16s(r: _Reader) -> tuple[int, ...]:
    return tuple(r.int16() for _ in range(r.count16()))


def _read_values(r: _Reader) -> tuple[bytes | None, ...]:
    return tuple(r.value() for _ in range(r.count16()))


def _read_fields(r: _Reader) -> tuple[tuple[str, str], ...]:
    fields: list[tuple[str, str]] = []
    while True:
        code = r.raw(1)
        if code == b"\0":
            return tuple(fields)
        fields.append((code.decode(_ENC, _ERRS), r.cstr()))


def _fields(fields: tuple[tuple[str, str], ...]) -> bytes:
    parts = []
    for code, value in fields:
        if len(code.encode(_ENC, _ERRS)) != 1 or code == "\0":
            raise LocalProtocolError("error and notice field codes are one non-NUL byte")
        parts.append(code.encode(_ENC, _ERRS) + _cstr(value))
    parts.append(b"\0")
    return b"".join(parts)


# --- Startup packets --------------------------------------------------------------------------


def decode_startup(body: bytes) -> m.FrontendMessage:
    """Decode an untagged startup-phase packet (body excludes the length word)."""
    r = _Reader(body)
    code = r.int32()
    if code == SSL_REQUEST_CODE:
        r.done()
        return m.SSLRequest()
    if code == GSSENC_REQUEST_CODE:
        r.done()
        return m.GSSENCRequest()
    if code == CANCEL_REQUEST_CODE:
        pid = r.int32()
        secret = r.rest()
        if not 4 <= len(secret) <= 256:
            raise RemoteProtocolError("invalid cancel request key length")
        return m.CancelRequest(process_id=pid, secret_key=secret)
    if code >> 16 != 3:
        raise RemoteProtocolError(
            f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: "
            "server supports 3.0 to 3.2",
            sqlstate="0A000",
        )
    params: list[tuple[str, str]] = []
    while True:
        name = r.cstr()
        if name == "":
            break
        params.append((name, r.cstr()))
    r.done()
    return m.StartupMessage(protocol=code, params=tuple(params))


# --- Frontend decoders ------------------------------------------------------------------------


def _d_parse(r: _Reader) -> m.Parse:
    name = r.cstr()
    sql = r.cstr()
    types = tuple(r.uint32() for _ in range(r.count16()))
    return m.Parse(name=name, sql=sql, param_types=types)


def _d_bind(r: _Reader) -> m.Bind:
    portal = r.cstr()
    statement = r.cstr()
    formats = _read_int16s(r)
    params = _read_values(r)
    results = _read_int16s(r)
    return m.Bind(
        portal=portal,
        statement=statement,
        param_formats=formats,
        params=params,
        result_formats=results,
    )


def _kind(r: _Reader) -> str:
    kind = r.raw(1)
    if kind not in (b"S", b"P"):
        raise RemoteProtocolError("Describe and Close take 'S' or 'P'")
    return kind.decode()


def _d_describe(r: _Reader) -> m.Describe:
    kind = _kind(r)
    return m.Describe(kind=kind, name=r.cstr())


def _d_close(r: _Reader) -> m.Close:
    kind = _kind(r)
    return m.Close(kind=kind, name=r.cstr())


def _d_execute(r: _Reader) -> m.Execute:
    portal = r.cstr()
    return m.Execute(portal=portal, max_rows=r.int32())


def _d_function_call(r: _Reader) -> m.FunctionCall:
    oid = r.uint32()
    formats = _read_int16s(r)
    args = _read_values(r)
    return m.FunctionCall(function_oid=oid, arg_formats=formats, args=args, result_format=r.int16())


def _empty(cls: type[m.Message]) -> Callable[[_Reader], m.Message]:
    instance = cls()

    def decode(r: _Reader) -> m.Message:
        return instance

    return decode


_FRONTEND: dict[int, Callable[[_Reader], Any]] = {
    ord("P"): _d_parse,
    ord("B"): _d_bind,
    ord("D"): _d_describe,
    ord("E"): _d_execute,
    ord("C"): _d_close,
    ord("S"): _empty(m.Sync),
    ord("H"): _empty(m.Flush),
    ord("X"): _empty(m.Terminate),
    ord("d"): lambda r: m.CopyData(data=r.rest()),
    ord("c"): _empty(m.CopyDone),
    ord("f"): lambda r: m.CopyFail(message=r.cstr()),
    ord("p"): lambda r: m.PasswordMessage(data=r.rest()),
    ord("F"): _d_function_call,
}


# --- Backend decoders -------------------------------------------------------------------------


def _d_auth(r: _Reader) -> m.BackendMessage:
    code = r.int32()
    if code == 0:
        return m.AuthenticationOk()
    if code == 3:
        return m.AuthenticationCleartextPassword()
    if code == 5:
        return m.AuthenticationMD5Password(salt=r.raw(4))
    if code == 10:
        mechanisms: list[str] = []
        while (name := r.cstr()) != "":
            mechanisms.append(name)
        return m.AuthenticationSASL(mechanisms=tuple(mechanisms))
    if code == 11:
        return m.AuthenticationSASLContinue(data=r.rest())
    if code == 12:
        return m.AuthenticationSASLFinal(data=r.rest())
    if code in (2, 6, 7, 8, 9):
        return m.AuthenticationOther(code=code, data=r.rest())
    raise RemoteProtocolError(f"unknown authentication request {code}")


def _d_key_data(r: _Reader) -> m.BackendKeyData:
    pid = r.int32()
    secret = r.rest()
    if not 4 <= len(secret) <= 256:
        raise RemoteProtocolError("invalid BackendKeyData key length")
    return m.BackendKeyData(process_id=pid, secret_key=secret)


def _d_row_description(r: _Reader) -> m.RowDescription:
    fields = []
    for _ in range(r.count16()):
        name = r.cstr()
        r._need(18)
        table, attr, oid, size, mod, fmt = _FIELD.unpack_from(r.body, r.pos)
        r.pos += 18
        fields.append(
            m.FieldDescription(
                name=name,
                table_oid=table,
                column_attr=attr,
                type_oid=oid,
                type_size=size,
                type_modifier=mod,
                format=fmt,
            )
        )
    return m.RowDescription(fields=tuple(fields))


def _fast_data_row(body: bytes) -> m.DataRow:
    end = len(body)
    if end < 2:
        raise RemoteProtocolError("DataRow is too short")
    (n,) = _I16.unpack_from(body, 0)
    if n < 0:
        raise RemoteProtocolError("negative column count in DataRow")
    pos = 2
    values: list[bytes | None] = []
    append = values.append
    unpack = _I32.unpack_from
    for _ in range(n):
        if pos + 4 > end:
            raise RemoteProtocolError("DataRow is shorter than its contents claim")
        (size,) = unpack(body, pos)
        pos += 4
        if size == -1:
            append(None)
            continue
        if size < 0 or pos + size > end:
            raise RemoteProtocolError("invalid value length in DataRow")
        append(body[pos : pos + size])
        pos += size
    if pos != end:
        raise RemoteProtocolError("message has trailing bytes")
    return m.DataRow(values=tuple(values))


def _one_cstr(body: bytes) -> str:
    """The body of Query and CommandComplete: exactly one NUL-terminated string."""
    if not body or body.find(b"\0") != len(body) - 1:
        raise RemoteProtocolError("string in message is not NUL-terminated")
    return body[:-1].decode(_ENC, _ERRS)


_READY = {s.encode(): m.ReadyForQuery(status=s) for s in "ITE"}


def _fast_ready(body: bytes) -> m.ReadyForQuery:
    msg = _READY.get(body)
    if msg is None:
        raise RemoteProtocolError("invalid transaction status in ReadyForQuery")
    return msg


# Clients repeat the same query shapes, so the same RowDescription bodies come back again and
# again; messages are immutable, so one decoded instance can serve every repeat.
_ROW_DESCRIPTIONS: dict[bytes, m.RowDescription] = {}
_ROW_DESCRIPTION_CACHE_SIZE = 512


def _fast_row_description(body: bytes) -> m.RowDescription:
    msg = _ROW_DESCRIPTIONS.get(body)
    if msg is None:
        r = _Reader(body)
        msg = _d_row_description(r)
        r.done()
        if len(_ROW_DESCRIPTIONS) >= _ROW_DESCRIPTION_CACHE_SIZE:
            _ROW_DESCRIPTIONS.clear()
        _ROW_DESCRIPTIONS[body] = msg
    return msg


def _d_copy_response(cls: type[Any]) -> Callable[[_Reader], Any]:
    def decode(r: _Reader) -> Any:
        fmt = r.raw(1)[0]
        return cls(format=fmt, column_formats=_read_int16s(r))

    return decode


def _d_notification(r: _Reader) -> m.NotificationResponse:
    pid = r.int32()
    channel = r.cstr()
    return m.NotificationResponse(process_id=pid, channel=channel, payload=r.cstr())


def _d_negotiate(r: _Reader) -> m.NegotiateProtocolVersion:
    minor = r.int32()
    count = r.int32()
    if count < 0:
        raise RemoteProtocolError("negative count in message")
    names = tuple(r.cstr() for _ in range(count))
    return m.NegotiateProtocolVersion(newest_minor=minor, unrecognized=names)


_BACKEND: dict[int, Callable[[_Reader], Any]] = {
    ord("R"): _d_auth,
    ord("K"): _d_key_data,
    ord("S"): lambda r: m.ParameterStatus(name=r.cstr(), value=r.cstr()),
    ord("I"): _empty(m.EmptyQueryResponse),
    ord("E"): lambda r: m.ErrorResponse(fields=_read_fields(r)),
    ord("N"): lambda r: m.NoticeResponse(fields=_read_fields(r)),
    ord("1"): _empty(m.ParseComplete),
    ord("2"): _empty(m.BindComplete),
    ord("3"): _empty(m.CloseComplete),
    ord("n"): _empty(m.NoData),
    ord("s"): _empty(m.PortalSuspended),
    ord("t"): lambda r: m.ParameterDescription(
        type_oids=tuple(r.uint32() for _ in range(r.count16()))
    ),
    ord("G"): _d_copy_response(m.CopyInResponse),
    ord("H"): _d_copy_response(m.CopyOutResponse),
    ord("W"): _d_copy_response(m.CopyBothResponse),
    ord("d"): lambda r: m.CopyData(data=r.rest()),
    ord("c"): _empty(m.CopyDone),
    ord("A"): _d_notification,
    ord("V"): lambda r: m.FunctionCallResponse(result=r.value()),
    ord("v"): _d_negotiate,
}


def _decode(table: dict[int, Callable[[_Reader], Any]], side: str, tag: int, body: bytes) -> Any:
    decoder = table.get(tag)
    if decoder is None:
        raise RemoteProtocolError(f"invalid {side} message type {chr(tag)!r}")
    r = _Reader(body)
    msg = decoder(r)
    r.done()
    return msg


# The messages of every query cycle, decoded straight from the body without a _Reader.
_FAST_FRONTEND: dict[int, Callable[[bytes], Any]] = {
    ord("Q"): lambda body: m.Query(sql=_one_cstr(body)),
}
_FAST_BACKEND: dict[int, Callable[[bytes], Any]] = {
    ord("D"): _fast_data_row,
    ord("C"): lambda body: m.CommandComplete(tag=_one_cstr(body)),
    ord("Z"): _fast_ready,
    ord("T"): _fast_row_description,
}


_set = object.__setattr__


def decode_frontend(tag: int, body: bytes) -> m.FrontendMessage:
    """Decode a tagged message a client sent."""
    fast = _FAST_FRONTEND.get(tag)
    msg: m.FrontendMessage = fast(body) if fast else _decode(_FRONTEND, "frontend", tag, body)
    if body and msg.wire_body is None:
        _set(msg, "wire_body", body)
    return msg


def decode_backend(tag: int, body: bytes) -> m.BackendMessage:
    """Decode a tagged message a server sent."""
    fast = _FAST_BACKEND.get(tag)
    msg: m.BackendMessage = fast(body) if fast else _decode(_BACKEND, "backend", tag, body)
    if body and msg.wire_body is None:
        _set(msg, "wire_body", body)
    return msg


# --- Encoders ---------------------------------------------------------------------------------


def _e_startup(msg: Any) -> bytes:
    if isinstance(msg, m.SSLRequest):
        return _I32.pack(SSL_REQUEST_CODE)
    if isinstance(msg, m.GSSENCRequest):
        return _I32.pack(GSSENC_REQUEST_CODE)
    if isinstance(msg, m.CancelRequest):
        return _I32I32.pack(CANCEL_REQUEST_CODE, msg.process_id) + msg.secret_key
    params = b"".join(_cstr(k) + _cstr(v) for k, v in msg.params)
    return _I32.pack(msg.protocol) + params + b"\0"


def _e_auth(msg: Any) -> bytes:
    if isinstance(msg, m.AuthenticationOk):
        return _I32.pack(0)
    if isinstance(msg, m.AuthenticationCleartextPassword):
        return _I32.pack(3)
    if isinstance(msg, m.AuthenticationMD5Password):
        return _I32.pack(5) + msg.salt
    if isinstance(msg, m.AuthenticationSASL):
        return _I32.pack(10) + b"".join(_cstr(x) for x in msg.mechanisms) + b"\0"
    if isinstance(msg, m.AuthenticationSASLContinue):
        return _I32.pack(11) + msg.data
    if isinstance(msg, m.AuthenticationSASLFinal):
        return _I32.pack(12) + msg.data
    assert isinstance(msg, m.AuthenticationOther)
    return _I32.pack(msg.code) + msg.data


def _e_row_description(msg: m.RowDescription) -> bytes:
    parts = [_I16.pack(len(msg.fields))]
    for f in msg.fields:
        parts.append(_cstr(f.name))
        parts.append(
            _FIELD.pack(
                f.table_oid, f.column_attr, f.type_oid, f.type_size, f.type_modifier, f.format
            )
        )
    return b"".join(parts)


def _e_copy_response(msg: Any) -> bytes:
    return bytes([msg.format]) + _int16s(msg.column_formats)


def _e_fv(v: bytes | None) -> bytes:
    return b"\xff\xff\xff\xff" if v is None else _I32.pack(len(v)) + v


_ENCODERS: dict[type[Any], Callable[[Any], bytes]] = {
    m.StartupMessage: _e_startup,
    m.SSLRequest: _e_startup,
    m.GSSENCRequest: _e_startup,
    m.CancelRequest: _e_startup,
    m.PasswordMessage: lambda x: x.data,
    m.Query: lambda x: _cstr(x.sql),
    m.Parse: lambda x: (
        _cstr(x.name)
        + _cstr(x.sql)
        + _I16.pack(len(x.param_types))
        + struct.pack(f"!{len(x.param_types)}I", *x.param_types)
    ),
    m.Bind: lambda x: (
        _cstr(x.portal)
        + _cstr(x.statement)
        + _int16s(x.param_formats)
        + _values(x.params)
        + _int16s(x.result_formats)
    ),
    m.Describe: lambda x: x.kind.encode() + _cstr(x.name),
    m.Close: lambda x: x.kind.encode() + _cstr(x.name),
    m.Execute: lambda x: _cstr(x.portal) + _I32.pack(x.max_rows),
    m.Sync: lambda x: b"",
    m.Flush: lambda x: b"",
    m.Terminate: lambda x: b"",
    m.CopyFail: lambda x: _cstr(x.message),
    m.FunctionCall: lambda x: (
        _U32.pack(x.function_oid)
        + _int16s(x.arg_formats)
        + _values(x.args)
        + _I16.pack(x.result_format)
    ),
    m.CopyData: lambda x: x.data,
    m.CopyDone: lambda x: b"",
    m.AuthenticationOk: _e_auth,
    m.AuthenticationCleartextPassword: _e_auth,
    m.AuthenticationMD5Password: _e_auth,
    m.AuthenticationSASL: _e_auth,
    m.AuthenticationSASLContinue: _e_auth,
    m.AuthenticationSASLFinal: _e_auth,
    m.AuthenticationOther: _e_auth,
    m.BackendKeyData: lambda x: _I32.pack(x.process_id) + x.secret_key,
    m.ParameterStatus: lambda x: _cstr(x.name) + _cstr(x.value),
    m.ReadyForQuery: lambda x: x.status.encode(),
    m.RowDescription: _e_row_description,
    m.DataRow: lambda x: _values(x.values),
    m.CommandComplete: lambda x: _cstr(x.tag),
    m.EmptyQueryResponse: lambda x: b"",
    m.ErrorResponse: lambda x: _fields(x.fields),
    m.NoticeResponse: lambda x: _fields(x.fields),
    m.ParseComplete: lambda x: b"",
    m.BindComplete: lambda x: b"",
    m.CloseComplete: lambda x: b"",
    m.NoData: lambda x: b"",
    m.PortalSuspended: lambda x: b"",
    m.ParameterDescription: lambda x: (
        _I16.pack(len(x.type_oids)) + struct.pack(f"!{len(x.type_oids)}I", *x.type_oids)
    ),
    m.CopyInResponse: _e_copy_response,
    m.CopyOutResponse: _e_copy_response,
    m.CopyBothResponse: _e_copy_response,
    m.NotificationResponse: lambda x: _I32.pack(x.process_id) + _cstr(x.channel) + _cstr(x.payload),
    m.FunctionCallResponse: lambda x: _e_fv(x.result),
    m.NegotiateProtocolVersion: lambda x: (
        _I32.pack(x.newest_minor)
        + _I32.pack(len(x.unrecognized))
        + b"".join(_cstr(n) for n in x.unrecognized)
    ),
}


def encode(msg: m.Message) -> bytes:
    """Frame a message for the wire: tag (if any), then a length that counts itself.

    A decoded message that no stage changed goes out with the body it came in with."""
    body = msg.wire_body
    if body is not None:
        return msg.type_code + _I32.pack(len(body) + 4) + body
    return encode_fields(msg)


def encode_fields(msg: m.Message) -> bytes:
    """Encode from the message's fields alone, ignoring any ``wire_body``."""
    encoder = _ENCODERS.get(type(msg))
    if encoder is None:
        raise LocalProtocolError(f"cannot encode {type(msg).__name__}")
    try:
        body: bytes = encoder(msg)
    except struct.error as exc:
        raise LocalProtocolError(f"{type(msg).__name__} has a field out of range: {exc}") from exc
    return msg.type_code + _I32.pack(len(body) + 4) + body
