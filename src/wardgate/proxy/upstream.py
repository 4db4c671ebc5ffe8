"""Opening an authenticated session to the real database.

The gateway, not the user, holds the upstream credentials: they are resolved from their reference
only here, used for one authentication exchange, and dropped. Errors raised from this module carry
a SQLSTATE and a message that is safe to show a client (no host secrets, no passwords).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from typing import cast

from wardgate import pgwire as pw
from wardgate.config import ConfigError, ConnectionConfig
from wardgate.pgwire._scram import ScramClient, ScramError, md5_password_response

from ._link import Link

__all__ = ["Upstream", "UpstreamError", "connect_upstream", "send_cancel", "simple_query"]

# Startup parameters a client may pass through to the database. ``user`` and ``database`` come
# from the gateway's connection config; ``replication`` would open a replication session.
_BLOCKED_PARAMS = frozenset({"user", "database", "replication"})


class UpstreamError(Exception):
    """Could not open or authenticate the upstream session."""

    def __init__(self, message: str, sqlstate: str = "08001") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@dataclass(slots=True, kw_only=True)
class Upstream:
    link: Link
    conn: pw.Connection
    process_id: int = 0
    secret_key: bytes = b""
    parameters: list[pw.ParameterStatus] = field(default_factory=list)
    notices: list[pw.NoticeResponse] = field(default_factory=list)
    tls: bool = False


def _client_ssl_context(cfg: ConnectionConfig) -> ssl.SSLContext:
    if cfg.sslmode in ("verify-ca", "verify-full"):
        ctx = ssl.create_default_context(cafile=str(cfg.sslrootcert))
        ctx.check_hostname = cfg.sslmode == "verify-full"
        return ctx
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # libpq's require/prefer: encrypted, not authenticated
    return ctx


async def _open(cfg: ConnectionConfig) -> tuple[Link, bool]:
    loop = asyncio.get_running_loop()
    try:
        _, link = await loop.create_connection(Link, cfg.host, cfg.port)
    except OSError as exc:
        raise UpstreamError(
            f'could not connect to upstream database for connection "{cfg.name}": '
            f"{exc.strerror or type(exc).__name__}"
        ) from None
    if cfg.sslmode == "disable":
        return link, False
    link.write(pw.encode(pw.SSLRequest()))
    answer = await link.read()
    if answer == b"N":
        if cfg.sslmode == "prefer":
            return link, False
        link.close()
        raise UpstreamError(f'upstream for connection "{cfg.name}" does not support TLS')
    if answer != b"S":
        link.close()
        raise UpstreamError(f'upstream for connection "{cfg.name}" answered SSLRequest oddly')
    assert link.transport is not None
    try:
        tls_transport = await loop.start_tls(
            link.transport,
            link,
            _client_ssl_context(cfg),
            server_hostname=cfg.host if cfg.sslmode == "verify-full" else None,
        )
    except (ssl.SSLError, OSError) as exc:
        link.abort()
        raise UpstreamError(
            f'TLS handshake with upstream for connection "{cfg.name}" failed: {exc}'
        ) from None
    link.transport = cast(asyncio.Transport, tls_transport)
    return link, True


async def connect_upstream(
    cfg: ConnectionConfig,
    startup: pw.StartupMessage,
    *,
    max_message_size: int,
) -> Upstream:
    """Connect, authenticate with the gateway's credentials, and read up to ReadyForQuery."""
    try:
        return await asyncio.wait_for(
            _connect(cfg, startup, max_message_size), timeout=cfg.connect_timeout
        )
    except TimeoutError:
        raise UpstreamError(
            f'timed out connecting to upstream database for connection "{cfg.name}"'
        ) from None


async def _connect(
    cfg: ConnectionConfig, startup: pw.StartupMessage, max_message_size: int
) -> Upstream:
    link, tls = await _open(cfg)
    conn = pw.Connection(pw.Role.FRONTEND, max_message_size=max_message_size)
    up = Upstream(link=link, conn=conn, tls=tls)
    params = [("user", cfg.user), ("database", cfg.database)]
    params += [(k, v) for k, v in startup.params if k not in _BLOCKED_PARAMS]
    link.write(conn.send(pw.StartupMessage(params=tuple(params))))
    scram: ScramClient | None = None
    try:
        while conn.phase is not pw.Phase.READY:
            data = await link.read()
            conn.receive_data(data)
            events = conn.next_events()
            if not data and not events:
                raise UpstreamError(f'upstream for connection "{cfg.name}" closed during startup')
            for msg in events:
                scram = _on_startup_message(cfg, up, msg, scram)
    except pw.ProtocolError as exc:
        link.abort()
        raise UpstreamError(f"upstream protocol error during startup: {exc}") from None
    except BaseException:
        link.abort()
        raise
    return up


def _password(cfg: ConnectionConfig) -> str:
    if cfg.password is None:
        raise UpstreamError(
            f'upstream for connection "{cfg.name}" asks for a password and none is configured',
            "28000",
        )
    try:
        return cfg.password.resolve()
    except ConfigError as exc:
        raise UpstreamError(f'credentials for connection "{cfg.name}": {exc}', "28000") from None


def _on_startup_message(
    cfg: ConnectionConfig, up: Upstream, msg: pw.Message, scram: ScramClient | None
) -> ScramClient | None:
    send = up.conn.send
    if isinstance(msg, pw.AuthenticationSASL):
        if "SCRAM-SHA-256" not in msg.mechanisms:
            raise UpstreamError("upstream offers no SASL mechanism the gateway supports", "28000")
        scram = ScramClient(_password(cfg))
        first = scram.client_first()
        mech = b"SCRAM-SHA-256\0" + len(first).to_bytes(4, "big") + first
        up.link.write(send(pw.PasswordMessage(data=mech)))
    elif isinstance(msg, pw.AuthenticationSASLContinue):
        if scram is None:
            raise UpstreamError("upstream sent SASLContinue out of order", "08P01")
        try:
            up.link.write(send(pw.PasswordMessage(data=scram.client_final(msg.data))))
        except ScramError as exc:
            raise UpstreamError(f"SCRAM exchange with upstream failed: {exc}", "28000") from None
    elif isinstance(msg, pw.AuthenticationSASLFinal):
        if scram is None:
            raise UpstreamError("upstream sent SASLFinal out of order", "08P01")
        try:
            scram.verify_server_final(msg.data)
        except ScramError:
            raise UpstreamError("upstream failed to prove it knows the password", "28000") from None
    elif isinstance(msg, pw.AuthenticationMD5Password):
        reply = md5_password_response(cfg.user, _password(cfg), msg.salt) + b"\0"
        up.link.write(send(pw.PasswordMessage(data=reply)))
    elif isinstance(msg, pw.AuthenticationCleartextPassword):
        if not up.tls and cfg.host not in ("127.0.0.1", "::1", "localhost"):
            raise UpstreamError("upstream asks for a cleartext password without TLS", "28000")
        up.link.write(send(pw.PasswordMessage(data=_password(cfg).encode() + b"\0")))
    elif isinstance(msg, pw.AuthenticationOther):
        raise UpstreamError(f"upstream asks for unsupported authentication {msg.code}", "28000")
    elif isinstance(msg, pw.ErrorResponse):
        raise UpstreamError(
            f'upstream refused connection "{cfg.name}": {msg.message}', msg.sqlstate or "08004"
        )
    elif isinstance(msg, pw.BackendKeyData):
        up.process_id, up.secret_key = msg.process_id, msg.secret_key
    elif isinstance(msg, pw.ParameterStatus):
        up.parameters.append(msg)
    elif isinstance(msg, pw.NoticeResponse):
        up.notices.append(msg)
    return scram


async def send_cancel(cfg: ConnectionConfig, process_id: int, secret_key: bytes) -> None:
    """Ask upstream to cancel the query running in one of our upstream sessions."""
    try:
        link, _ = await asyncio.wait_for(_open(cfg), timeout=cfg.connect_timeout)
    except (UpstreamError, TimeoutError):
        return
    link.write(pw.encode(pw.CancelRequest(process_id=process_id, secret_key=secret_key)))
    # PostgreSQL closes a cancel connection without answering; waiting for that keeps the
    # cancel ordered before whatever the caller does next.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(link.read(), timeout=cfg.connect_timeout)
    await link.aclose(grace=cfg.connect_timeout)


async def simple_query(up: Upstream, sql: str) -> list[tuple[str | None, ...]]:
    """Run one query of the gateway's own on an idle upstream session; rows as text.

    Used before the client's relay starts (reading the catalog), so nothing else is in flight on
    the session. An error is raised after ReadyForQuery, leaving the session usable.
    """
    up.link.write(up.conn.send(pw.Query(sql=sql)))
    rows: list[tuple[str | None, ...]] = []
    error: pw.ErrorResponse | None = None
    while True:
        data = await up.link.read()
        if not data:
            raise UpstreamError("upstream closed while the gateway was reading its catalog")
        up.conn.receive_data(data)
        for msg in up.conn.next_events():
            if isinstance(msg, pw.DataRow):
                rows.append(tuple(None if v is None else v.decode() for v in msg.values))
            elif isinstance(msg, pw.ErrorResponse):
                error = msg
            elif isinstance(msg, pw.ReadyForQuery):
                if error is not None:
                    raise UpstreamError(error.message, error.sqlstate or "XX000")
                return rows
