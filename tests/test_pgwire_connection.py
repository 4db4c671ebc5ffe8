"""The phase machine: who may send what, when, and what moves the conversation on."""

from __future__ import annotations

import ast
import struct
from pathlib import Path

import pytest

import wardgate.pgwire
from wardgate import pgwire as pw


def _packet(msg: pw.Message) -> bytes:
    return pw.encode(msg)


def test_pgwire_imports_no_io() -> None:
    """pgwire is sans-IO: no module in it may import asyncio, socket, ssl or selectors."""
    banned = {"asyncio", "socket", "ssl", "selectors", "uvloop"}
    pkg = Path(wardgate.pgwire.__file__).parent
    for path in pkg.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in banned, f"{path.name} imports {name}"


def test_server_side_full_startup_sequence() -> None:
    server = pw.Connection(pw.Role.BACKEND)
    server.receive_data(_packet(pw.SSLRequest()))
    assert server.next_events() == [pw.SSLRequest()]
    assert server.ssl_response(False) == b"N"
    server.receive_data(_packet(pw.StartupMessage(params=(("user", "u"), ("database", "d")))))
    [startup] = server.next_events()
    assert isinstance(startup, pw.StartupMessage) and startup.get("user") == "u"
    assert server.phase is pw.Phase.AUTHENTICATION
    server.send(pw.AuthenticationSASL(mechanisms=("SCRAM-SHA-256",)))
    server.receive_data(_packet(pw.PasswordMessage(data=b"x")))
    assert server.next_events() == [pw.PasswordMessage(data=b"x")]
    server.send(pw.AuthenticationOk())
    assert server.phase is pw.Phase.BACKEND_STARTUP
    server.send(pw.ParameterStatus(name="server_version", value="18"))
    server.send(pw.BackendKeyData(process_id=1, secret_key=b"abcd"))
    server.send(pw.ReadyForQuery(status="I"))
    assert server.phase is pw.Phase.READY


def test_plaintext_injected_after_ssl_request_is_refused() -> None:
    server = pw.Connection(pw.Role.BACKEND)
    server.receive_data(_packet(pw.SSLRequest()) + _packet(pw.StartupMessage(params=())))
    with pytest.raises(pw.RemoteProtocolError, match="after SSL request"):
        server.next_events()


def test_ssl_request_must_be_answered_before_anything_else() -> None:
    server = pw.Connection(pw.Role.BACKEND)
    server.receive_data(_packet(pw.SSLRequest()))
    server.next_events()
    with pytest.raises(pw.LocalProtocolError):
        server.send(pw.ErrorResponse.build("08P01", "nope"))


def test_query_messages_refused_before_authentication() -> None:
    server = pw.Connection(pw.Role.BACKEND)
    server.receive_data(_packet(pw.StartupMessage(params=(("user", "u"),))))
    server.next_events()
    server.receive_data(_packet(pw.Query(sql="select 1")))
    with pytest.raises(pw.RemoteProtocolError, match="unexpected message type 'Q'"):
        server.next_events()


def test_we_cannot_send_rows_during_authentication() -> None:
    server = pw.Connection(pw.Role.BACKEND)
    server.receive_data(_packet(pw.StartupMessage(params=(("user", "u"),))))
    server.next_events()
    with pytest.raises(pw.LocalProtocolError):
        server.send(pw.DataRow(values=(b"secret",)))


@pytest.mark.parametrize("size", [3, 300 * 1024 * 1024])
def test_bad_message_lengths(size: int) -> None:
    client = pw.Connection(pw.Role.FRONTEND)
    client.phase = pw.Phase.READY
    client.receive_data(b"D" + struct.pack("!i", size))
    with pytest.raises(pw.RemoteProtocolError, match="invalid message length"):
        client.next_events()


@pytest.mark.parametrize("size", [4, 7, 10_001])
def test_bad_startup_lengths(size: int) -> None:
    server = pw.Connection(pw.Role.BACKEND)
    server.receive_data(struct.pack("!i", size) + b"\0" * 8)
    with pytest.raises(pw.RemoteProtocolError, match="startup packet"):
        server.next_events()


def test_protocol_version_2_is_refused_with_feature_not_supported() -> None:
    server = pw.Connection(pw.Role.BACKEND)
    server.receive_data(struct.pack("!ii", 9, 2 << 16) + b"\0")
    with pytest.raises(pw.RemoteProtocolError) as err:
        server.next_events()
    assert err.value.sqlstate == "0A000"


def test_copy_phases_follow_the_server() -> None:
    client = pw.Connection(pw.Role.FRONTEND)
    client.phase = pw.Phase.READY
    client.send(pw.Query(sql="copy t to stdout"))
    client.receive_data(
        _packet(pw.CopyOutResponse(format=0, column_formats=(0,)))
        + _packet(pw.CopyData(data=b"1\n"))
        + _packet(pw.CopyDone())
    )
    events = client.next_events()
    assert client.phase is pw.Phase.COPY_OUT and len(events) == 3
    client.receive_data(
        _packet(pw.CommandComplete(tag="COPY 1")) + _packet(pw.ReadyForQuery(status="T"))
    )
    client.next_events()
    assert client.phase is pw.Phase.READY and client.transaction_status == "T"
    # Authentication requests are not allowed once the session is running.
    client.receive_data(_packet(pw.AuthenticationOk()))
    with pytest.raises(pw.RemoteProtocolError):
        client.next_events()


def test_fatal_error_and_terminate_close_the_conversation() -> None:
    client = pw.Connection(pw.Role.FRONTEND)
    client.phase = pw.Phase.READY
    client.receive_data(_packet(pw.ErrorResponse.build("57P01", "bye", severity="FATAL")))
    client.next_events()
    assert client.phase is pw.Phase.CLOSED
    with pytest.raises(pw.LocalProtocolError):
        client.send(pw.Query(sql="select 1"))
    server = pw.Connection(pw.Role.BACKEND)
    server.phase = pw.Phase.READY
    server.receive_data(_packet(pw.Terminate()) + _packet(pw.Query(sql="select 1")))
    assert server.next_events() == [pw.Terminate()]  # nothing after Terminate is taken


def test_public_surface_is_exactly_all() -> None:
    public = {n for n in dir(pw) if not n.startswith("_")}
    assert set(pw.__all__) <= public
    assert public - set(pw.__all__) <= {"annotations"}
