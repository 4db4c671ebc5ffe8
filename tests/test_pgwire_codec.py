"""Round trips for every message type, byte-by-byte framing, truncation and fuzzing.

The decoder faces untrusted peers: whatever bytes arrive, it either yields messages that re-encode
to exactly those bytes, or raises `RemoteProtocolError` -- never any other exception.
"""

from __future__ import annotations

import dataclasses
import struct
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NonInteractiveExampleWarning

from wardgate import pgwire as pw
from wardgate.pgwire import _messages

# Strings as they come off the wire: any bytes but NUL, decoded the way the codec does.
wire_text = st.binary(max_size=40).map(
    lambda b: b.replace(b"\0", b"").decode("utf-8", "surrogateescape")
)
i16 = st.integers(-(2**15), 2**15 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
u32 = st.integers(0, 2**32 - 1)
value = st.none() | st.binary(max_size=64)
values = st.lists(value, max_size=8).map(tuple)
formats = st.lists(st.sampled_from([0, 1]), max_size=8).map(tuple)
fields = st.lists(
    st.tuples(st.sampled_from(list("SVCMDHPpqWstcdnFLR")), wire_text), max_size=8
).map(tuple)
key = st.binary(min_size=4, max_size=256)

FRONTEND = [
    st.builds(pw.Query, sql=wire_text),
    st.builds(
        pw.Parse, name=wire_text, sql=wire_text, param_types=st.lists(u32, max_size=6).map(tuple)
    ),
    st.builds(
        pw.Bind,
        portal=wire_text,
        statement=wire_text,
        param_formats=formats,
        params=values,
        result_formats=formats,
    ),
    st.builds(pw.Describe, kind=st.sampled_from("SP"), name=wire_text),
    st.builds(pw.Close, kind=st.sampled_from("SP"), name=wire_text),
    st.builds(pw.Execute, portal=wire_text, max_rows=i32),
    st.just(pw.Sync()),
    st.just(pw.Flush()),
    st.just(pw.Terminate()),
    st.builds(pw.CopyData, data=st.binary(max_size=128)),
    st.just(pw.CopyDone()),
    st.builds(pw.CopyFail, message=wire_text),
    st.builds(
        pw.FunctionCall, function_oid=u32, arg_formats=formats, args=values, result_format=i16
    ),
    st.builds(pw.PasswordMessage, data=st.binary(max_size=64)),
]
STARTUP = [
    st.builds(
        pw.StartupMessage,
        protocol=st.sampled_from([196608, 196610]),
        params=st.lists(st.tuples(wire_text.filter(bool), wire_text), max_size=6).map(tuple),
    ),
    st.just(pw.SSLRequest()),
    st.just(pw.GSSENCRequest()),
    st.builds(pw.CancelRequest, process_id=i32, secret_key=key),
]
field_desc = st.builds(
    pw.FieldDescription,
    name=wire_text,
    table_oid=u32,
    column_attr=i16,
    type_oid=u32,
    type_size=i16,
    type_modifier=i32,
    format=i16,
)
BACKEND = [
    st.just(pw.AuthenticationOk()),
    st.just(pw.AuthenticationCleartextPassword()),
    st.builds(pw.AuthenticationMD5Password, salt=st.binary(min_size=4, max_size=4)),
    st.builds(
        pw.AuthenticationSASL, mechanisms=st.lists(wire_text.filter(bool), max_size=3).map(tuple)
    ),
    st.builds(pw.AuthenticationSASLContinue, data=st.binary(max_size=64)),
    st.builds(pw.AuthenticationSASLFinal, data=st.binary(max_size=64)),
    st.builds(
        pw.AuthenticationOther, code=st.sampled_from([2, 6, 7, 8, 9]), data=st.binary(max_size=16)
    ),
    st.builds(pw.BackendKeyData, process_id=i32, secret_key=key),
    st.builds(pw.ParameterStatus, name=wire_text, value=wire_text),
    st.builds(pw.ReadyForQuery, status=st.sampled_from("ITE")),
    st.builds(pw.RowDescription, fields=st.lists(field_desc, max_size=5).map(tuple)),
    st.builds(pw.DataRow, values=values),
    st.builds(pw.CommandComplete, tag=wire_text),
    st.just(pw.EmptyQueryResponse()),
    st.builds(pw.ErrorResponse, fields=fields),
    st.builds(pw.NoticeResponse, fields=fields),
    st.just(pw.ParseComplete()),
    st.just(pw.BindComplete()),
    st.just(pw.CloseComplete()),
    st.just(pw.NoData()),
    st.just(pw.PortalSuspended()),
    st.builds(pw.ParameterDescription, type_oids=st.lists(u32, max_size=6).map(tuple)),
    st.builds(pw.CopyInResponse, format=st.sampled_from([0, 1]), column_formats=formats),
    st.builds(pw.CopyOutResponse, format=st.sampled_from([0, 1]), column_formats=formats),
    st.builds(pw.CopyBothResponse, format=st.sampled_from([0, 1]), column_formats=formats),
    st.builds(pw.CopyData, data=st.binary(max_size=128)),
    st.just(pw.CopyDone()),
    st.builds(pw.NotificationResponse, process_id=i32, channel=wire_text, payload=wire_text),
    st.builds(pw.FunctionCallResponse, result=value),
    st.builds(
        pw.NegotiateProtocolVersion,
        newest_minor=i32,
        unrecognized=st.lists(wire_text, max_size=3).map(tuple),
    ),
]


def _concrete(base: type) -> set[type]:
    out = set()
    for name in _messages.__all__:
        obj = getattr(_messages, name)
        abstract = name in ("Message", "FrontendMessage", "BackendMessage")
        if isinstance(obj, type) and issubclass(obj, base) and not abstract:
            out.add(obj)
    return out


def test_strategies_cover_every_message_type() -> None:
    """A new message class without a round-trip strategy fails here, not silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        covered = {type(s.example()) for s in FRONTEND + STARTUP + BACKEND}
    every = _concrete(pw.FrontendMessage) | _concrete(pw.BackendMessage)
    assert every - covered == set()


def _split(wire: bytes, tagged: bool = True) -> tuple[int, bytes]:
    if tagged:
        (size,) = struct.unpack("!i", wire[1:5])
        assert size == len(wire) - 1
        return wire[0], wire[5:]
    (size,) = struct.unpack("!i", wire[:4])
    assert size == len(wire)
    return 0, wire[4:]


@given(st.one_of(FRONTEND))
def test_frontend_round_trip(msg: pw.FrontendMessage) -> None:
    wire = pw.encode(msg)
    tag, body = _split(wire)
    decoded = pw.decode_frontend(tag, body)
    assert decoded == msg
    assert pw.encode_fields(decoded) == wire  # the encoder proper, not the kept body
    assert pw.encode(decoded) == wire


@given(st.one_of(BACKEND))
def test_backend_round_trip(msg: pw.BackendMessage) -> None:
    wire = pw.encode(msg)
    tag, body = _split(wire)
    decoded = pw.decode_backend(tag, body)
    assert decoded == msg
    assert pw.encode_fields(decoded) == wire
    assert pw.encode(decoded) == wire


@given(st.one_of(STARTUP))
def test_startup_round_trip(msg: pw.FrontendMessage) -> None:
    wire = pw.encode(msg)
    _, body = _split(wire, tagged=False)
    assert pw.decode_startup(body) == msg


def _ready(role: pw.Role) -> pw.Connection:
    conn = pw.Connection(role)
    conn.phase = pw.Phase.READY
    return conn


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(BACKEND[8:14] + BACKEND[15:22] + BACKEND[27:29]), max_size=12))
def test_backend_stream_whole_and_byte_by_byte(msgs: list[pw.BackendMessage]) -> None:
    """Framing gives the same events for the stream whole, byte by byte, and with a trailing
    partial message that stays buffered."""
    wire = b"".join(pw.encode(m) for m in msgs)
    whole = _ready(pw.Role.FRONTEND)
    whole.receive_data(wire + b"D\0\0")  # the start of a further message
    assert whole.next_events() == msgs
    assert whole.buffered == 3
    one = _ready(pw.Role.FRONTEND)
    got: list[pw.Message] = []
    for i in range(len(wire)):
        one.receive_data(wire[i : i + 1])
        got += one.next_events()
    assert got == msgs


@given(st.lists(st.one_of(FRONTEND[:-1]), min_size=1, max_size=12))
def test_frontend_stream_byte_by_byte(msgs: list[pw.FrontendMessage]) -> None:
    msgs = [m for m in msgs if not isinstance(m, pw.Terminate)] + [pw.Sync()]
    wire = b"".join(pw.encode(m) for m in msgs)
    conn = _ready(pw.Role.BACKEND)
    got: list[pw.Message] = []
    for i in range(len(wire)):
        conn.receive_data(wire[i : i + 1])
        got += conn.next_events()
    assert got == msgs


@given(st.one_of(BACKEND[8:14]), st.data())
def test_truncated_message_at_eof_is_a_protocol_error(
    msg: pw.BackendMessage, data: st.DataObject
) -> None:
    wire = pw.encode(msg)
    cut = data.draw(st.integers(1, len(wire) - 1))
    conn = _ready(pw.Role.FRONTEND)
    conn.receive_data(wire[:cut])
    assert conn.next_events() == []
    conn.receive_data(b"")
    with pytest.raises(pw.RemoteProtocolError):
        conn.next_events()


@given(st.sampled_from(sorted(set(b"QPBDECSHXdcfpF"))), st.binary(max_size=64))
def test_fuzz_frontend_bodies(tag: int, body: bytes) -> None:
    try:
        msg = pw.decode_frontend(tag, body)
    except pw.RemoteProtocolError:
        return
    assert pw.encode_fields(msg)[5:] == body  # whatever decodes re-encodes to the same bytes


@given(st.sampled_from(sorted(set(b"RKSZTDCIEN123nstGHWdcAVv"))), st.binary(max_size=64))
def test_fuzz_backend_bodies(tag: int, body: bytes) -> None:
    try:
        msg = pw.decode_backend(tag, body)
    except pw.RemoteProtocolError:
        return
    assert pw.encode_fields(msg)[5:] == body


@given(st.binary(max_size=256), st.sampled_from(list(pw.Phase)), st.sampled_from(list(pw.Role)))
def test_fuzz_connection_only_raises_protocol_errors(
    data: bytes, phase: pw.Phase, role: pw.Role
) -> None:
    conn = pw.Connection(role, max_message_size=1 << 16)
    conn.phase = phase
    try:
        conn.receive_data(data)
        conn.next_events()
        conn.receive_data(b"")
        conn.next_events()
    except pw.RemoteProtocolError:
        pass


@given(st.binary(max_size=64))
def test_fuzz_startup_packets(body: bytes) -> None:
    conn = pw.Connection(pw.Role.BACKEND)
    try:
        conn.receive_data(struct.pack("!i", len(body) + 4) + body)
        conn.next_events()
    except pw.RemoteProtocolError:
        pass


def test_encode_refuses_nul_in_strings() -> None:
    with pytest.raises(pw.LocalProtocolError):
        pw.encode(pw.Query(sql="select 1\0; drop table x"))


def test_non_utf8_bytes_round_trip_exactly() -> None:
    body = b"select '\xe9t\xe9'\0"  # latin-1 client_encoding
    msg = pw.decode_frontend(ord("Q"), body)
    assert pw.encode(msg) == b"Q" + struct.pack("!i", len(body) + 4) + body


@pytest.mark.parametrize(
    "decode, tag, body",
    [
        (pw.decode_frontend, b"Q", b""),  # no NUL terminator at all
        (pw.decode_frontend, b"Q", b"select 1\0extra\0"),
        (pw.decode_backend, b"C", b""),
        (pw.decode_backend, b"C", b"SELECT 1"),
        (pw.decode_backend, b"Z", b""),
        (pw.decode_backend, b"Z", b"II"),
        (pw.decode_backend, b"Z", b"X"),
        (pw.decode_backend, b"D", b"\0\1\0\0\0\1ab"),  # value longer than declared
        (pw.decode_backend, b"D", b"\0\0x"),  # trailing bytes
        (pw.decode_backend, b"D", b"\xff\xff"),  # negative column count
        (pw.decode_backend, b"T", b"\0\1name\0"),  # field description cut short
    ],
)
def test_fast_path_decoders_refuse_malformed_bodies(decode: Any, tag: bytes, body: bytes) -> None:
    with pytest.raises(pw.RemoteProtocolError):
        decode(tag[0], body)


def test_repeated_row_descriptions_decode_equal() -> None:
    msg = pw.RowDescription(fields=(pw.FieldDescription(name="a", type_oid=23),))
    body = pw.encode(msg)[5:]
    first, second = pw.decode_backend(ord("T"), body), pw.decode_backend(ord("T"), body)
    assert first == second == msg


def test_a_changed_message_is_encoded_from_its_fields() -> None:
    """Stages change messages with dataclasses.replace; the old wire body must not leak out."""
    row = pw.decode_backend(ord("D"), pw.encode(pw.DataRow(values=(b"4111111111111111",)))[5:])
    masked = dataclasses.replace(row, values=(b"XXXX",))
    assert row.wire_body is not None and masked.wire_body is None
    assert b"4111" not in pw.encode(masked)
    assert pw.encode(masked) == pw.encode_fields(pw.DataRow(values=(b"XXXX",)))
