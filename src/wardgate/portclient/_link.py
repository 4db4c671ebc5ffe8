"""A client of the gateway's own PostgreSQL port, for the doors that are not PostgreSQL clients
themselves (the MCP server, the REST ``exec`` route).

They sign in as the caller and send the caller's statement there, so the statement goes through
the one pipeline -- identified, decided, held for review, masked, recorded -- instead of a copy
of it (DESIGN.md: the doors compose the pipeline, they do not reimplement it). Reviews are asked
to refuse at once (``wardgate.review_wait=retry``): neither door can hold a caller open while a
person decides, so the refusal names the review and the caller sends the statement again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq

from ._results import Shaped, from_text

MAX_NOTICES = 100
MAX_NOTICE_CHARS = 2000

__all__ = ["GatewayLink", "GatewayTarget", "LinkError", "LinkLost", "Refused", "SignInFailed"]


class LinkError(Exception):
    """The statement did not run; the message says why and never contains the secret."""


class SignInFailed(LinkError):
    """The gateway refused the sign-in (wrong or revoked secret, unknown identity) or is down."""


class LinkLost(LinkError):
    """The connection broke during the statement; the next one signs in again."""


class Refused(LinkError):
    """The gateway or the database refused the statement: SQLSTATE, message, detail, hint."""

    def __init__(
        self,
        sqlstate: str | None,
        message: str,
        detail: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message
        self.detail = detail
        self.hint = hint

    def text(self) -> str:
        """SQLSTATE first (a program can branch on 42501), then the gateway's own words."""
        parts = [f"{self.sqlstate or 'error'}: {self.message}"]
        parts += [f"detail: {self.detail}"] if self.detail else []
        parts += [f"hint: {self.hint}"] if self.hint else []
        return "\n".join(parts)


@dataclass(frozen=True)
class GatewayTarget:
    """Where the gateway listens and who signs in there: an identity and its secret (an API
    key, a token or a gateway credential: whatever the PostgreSQL port accepts for it)."""

    host: str
    port: int
    user: str
    secret: str = field(repr=False)  # never in a repr, a log line or a traceback's locals
    database: str = ""
    on_behalf_of: str | None = None
    sslmode: str | None = None
    sslrootcert: str | None = None  # the CA that signs the gateway's certificate
    connect_timeout: float = 10.0
    application_name: str = "wardgate-client"

    def conninfo(self) -> dict[str, Any]:
        options = ["-c wardgate.review_wait=retry"]
        if self.on_behalf_of:
            # PostgreSQL's options syntax: a backslash escapes the next character (a space, or a
            # backslash), so the value cannot end early and add options of its own.
            value = "".join(
                "\\" + ch if ch == "\\" or ch.isspace() else ch for ch in self.on_behalf_of
            )  # PostgreSQL splits options at any whitespace, not only spaces
            options.append("-c wardgate.on_behalf_of=" + value)
        # Off this machine the secret travels as a password message: the gateway must prove it
        # is the gateway (verify-full), or anyone in the path could take the key.
        sslmode = self.sslmode or ("prefer" if _loopback(self.host) else "verify-full")
        extra = {"sslrootcert": self.sslrootcert} if self.sslrootcert else {}
        return {
            **extra,
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.secret,
            "dbname": self.database,
            "options": " ".join(options),
            "sslmode": sslmode,
            "connect_timeout": max(1, int(self.connect_timeout)),
            "application_name": self.application_name,
        }


def _loopback(host: str) -> bool:
    if host in ("localhost", "") or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class GatewayLink:
    """One autocommit connection to the gateway, opened on first use and again after it broke;
    tool calls take turns on it (a PostgreSQL connection runs one statement at a time).

    Statements go out on libpq's asynchronous API in single-row mode, so a result is read only
    as far as the caps allow and the rest is cancelled, never buffered; psycopg's own cursors
    either buffer the whole result or, when streaming, drop the command tag of a write.
    """

    def __init__(self, target: GatewayTarget) -> None:
        self._target = target
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    async def run(self, sql: str, params: tuple[str, ...], max_rows: int, max_chars: int) -> Shaped:
        async with self._lock:
            conn = await self._connection()
            shaped = Shaped(max_rows=max_rows, max_chars=max_chars)

            def notice(diag: psycopg.errors.Diagnostic) -> None:
                if len(shaped.notices) < MAX_NOTICES:
                    shaped.notices.append((diag.message_primary or "")[:MAX_NOTICE_CHARS])

            conn.add_notice_handler(notice)
            try:
                error = await self._exchange(conn, sql, params, shaped)
            except psycopg.Error as exc:  # the connection itself failed
                self._conn = None
                raise LinkLost(f"connection to the gateway lost: {str(exc).strip()}") from None
            except BaseException:
                # Cancelled (the caller gave up) or failed midway: the statement may still be
                # running. Ask the server to cancel it and drop the connection, so the caller's
                # "cancelled" is true and the next call starts clean.
                self._conn = None
                await asyncio.shield(_abandon(conn))
                raise
            finally:
                conn.remove_notice_handler(notice)
            if error is not None:
                raise error
            return shaped

    async def _exchange(
        self,
        conn: psycopg.AsyncConnection[Any],
        sql: str,
        params: tuple[str, ...],
        shaped: Shaped,
    ) -> Refused | None:
        """Send one statement and read its results into ``shaped``; the refusal if the gateway
        or the database refused it."""
        pg = conn.pgconn
        pg.send_query_params(sql.encode(), [p.encode() for p in params] or None)
        while pg.flush():
            await _ready(pg.socket, write=True)
        pg.set_single_row_mode()
        error: Refused | None = None
        cancelled = False
        while (res := await _result(pg)) is not None:
            status = res.status
            if status == pq.ExecStatus.SINGLE_TUPLE:
                if not shaped.columns:
                    shaped.columns = _columns(conn, res)
                if cancelled:
                    continue
                row = [from_text(res.get_value(0, i), res.ftype(i)) for i in range(res.nfields)]
                if not shaped.add(row):
                    await conn.cancel_safe()  # the rest of the result is not read
                    cancelled = True
            elif status in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK):
                if not shaped.columns and res.nfields:
                    shaped.columns = _columns(conn, res)
                shaped.status = (res.command_status or b"").decode() or None
            elif status == pq.ExecStatus.EMPTY_QUERY:
                error = Refused(None, "the statement is empty")
            elif status in (pq.ExecStatus.COPY_OUT, pq.ExecStatus.COPY_IN):
                await _leave_copy(conn, status == pq.ExecStatus.COPY_IN)
                error = Refused(None, "COPY is not available here: use SELECT")
            elif status == pq.ExecStatus.FATAL_ERROR:
                refused = _refusal(res)
                if not (cancelled and refused.sqlstate == "57014"):
                    error = refused  # only the cancel the caps asked for is expected
        return error

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        try:
            self._conn = await psycopg.AsyncConnection.connect(
                **self._target.conninfo(), autocommit=True
            )
        except psycopg.Error as exc:
            # The reason (wrong key, revoked identity, gateway down) without the secret: libpq
            # never repeats the password in its messages.
            raise SignInFailed(f"cannot sign in to the gateway: {str(exc).strip()}") from None
        return self._conn


async def _ready(fd: int, *, write: bool = False) -> None:
    """Wait until libpq's socket can be read (or written)."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def wake() -> None:
        if not done.done():
            done.set_result(None)

    (loop.add_writer if write else loop.add_reader)(fd, wake)
    try:
        await done
    finally:
        (loop.remove_writer if write else loop.remove_reader)(fd)


async def _result(pg: pq.abc.PGconn) -> pq.abc.PGresult | None:
    while pg.is_busy():
        await _ready(pg.socket)
        pg.consume_input()
    return pg.get_result()


async def _leave_copy(conn: psycopg.AsyncConnection[Any], copy_in: bool) -> None:
    """End a COPY the tool does not carry: fail a COPY FROM, cancel and drain a COPY TO."""
    pg = conn.pgconn
    if copy_in:
        pg.put_copy_end(b"COPY is not available through the MCP tool")
        while pg.flush():
            await _ready(pg.socket, write=True)
        return
    await conn.cancel_safe()
    while True:
        size, _ = pg.get_copy_data(1)
        if size == 0:
            await _ready(pg.socket)
            pg.consume_input()
        elif size < 0:
            return


async def _abandon(conn: psycopg.AsyncConnection[Any]) -> None:
    """Cancel whatever the connection is running and close it, within a few seconds."""
    with contextlib.suppress(Exception):  # best effort: the connection is closed next anyway
        await asyncio.wait_for(conn.cancel_safe(), 5)
    await conn.close()


def _columns(conn: psycopg.AsyncConnection[Any], res: pq.abc.PGresult) -> list[dict[str, Any]]:
    out = []
    for i in range(res.nfields):
        oid = res.ftype(i)
        info = conn.adapters.types.get(oid)
        name = (res.fname(i) or b"").decode("utf-8", "backslashreplace")
        out.append({"name": name, "type": info.name if info else f"oid {oid}"})
    return out


def _refusal(res: pq.abc.PGresult) -> Refused:
    def field(code: pq.DiagnosticField) -> str | None:
        value = res.error_field(code)
        return value.decode("utf-8", "backslashreplace") if value else None

    return Refused(
        field(pq.DiagnosticField.SQLSTATE),
        field(pq.DiagnosticField.MESSAGE_PRIMARY) or "error",
        field(pq.DiagnosticField.MESSAGE_DETAIL),
        field(pq.DiagnosticField.MESSAGE_HINT),
    )
