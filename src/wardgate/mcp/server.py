"""``wardgate mcp``: an MCP server (stdio) whose tools run SQL through a Wardgate gateway.

Each server process is one agent session: it signs in to the gateway's PostgreSQL port as the
agent's service identity with its API key (read from the environment, never from the command
line, where other users of the machine could see it), optionally naming the person it acts for,
and asks for reviews to refuse at once (``wardgate.review_wait=retry``) rather than hold the
tool call open for as long as a reviewer takes: the model is told the review's id and calls
again with the same statement once a person has approved it.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import Any

import psycopg
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from psycopg import pq

from ._results import Shaped, describe_sql, from_text, list_tables_sql, refusal_text, with_reason

__all__ = ["GatewayTarget", "build_server"]

MAX_ROWS = 1000
MAX_CHARS = 200_000

_INSTRUCTIONS = (
    "SQL access to a PostgreSQL database through the Wardgate access gateway. Every statement is "
    "decided by policy for this agent's identity (and the person it acts for): it may be "
    "refused (SQLSTATE 42501), held for a human review (42501 naming the review: once "
    "approved, call `query` again with exactly the same sql and reason), or run with sensitive "
    "values replaced by consistent tokens. Everything is recorded. Say why in `reason` when a "
    "statement changes data."
)


@dataclass(frozen=True)
class GatewayTarget:
    """Where the gateway listens and who signs in: the agent's identity and API key."""

    host: str
    port: int
    user: str
    api_key: str
    database: str
    on_behalf_of: str | None = None
    sslmode: str | None = None
    connect_timeout: float = 10.0

    def conninfo(self) -> dict[str, Any]:
        options = ["-c wardgate.review_wait=retry"]
        if self.on_behalf_of:
            # PostgreSQL's options syntax: a backslash escapes a space in a value.
            options.append("-c wardgate.on_behalf_of=" + self.on_behalf_of.replace(" ", "\\ "))
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.api_key,
            "dbname": self.database,
            "options": " ".join(options),
            "sslmode": self.sslmode or ("prefer" if _loopback(self.host) else "require"),
            "connect_timeout": max(1, int(self.connect_timeout)),
            "application_name": "wardgate-mcp",
        }


def _loopback(host: str) -> bool:
    if host in ("localhost", "") or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Link:
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
                shaped.notices.append(diag.message_primary or "")

            conn.add_notice_handler(notice)
            try:
                error = await self._exchange(conn, sql, params, shaped)
            except psycopg.Error as exc:  # the connection itself failed
                self._conn = None
                raise ToolError(f"connection to the gateway lost: {str(exc).strip()}") from None
            finally:
                conn.remove_notice_handler(notice)
            if error is not None:
                raise ToolError(error)
            return shaped

    async def _exchange(
        self,
        conn: psycopg.AsyncConnection[Any],
        sql: str,
        params: tuple[str, ...],
        shaped: Shaped,
    ) -> str | None:
        """Send one statement and read its results into ``shaped``; the refusal's text if the
        gateway or the database refused it."""
        pg = conn.pgconn
        pg.send_query_params(sql.encode(), [p.encode() for p in params] or None)
        while pg.flush():
            await _ready(pg.socket, write=True)
        pg.set_single_row_mode()
        error: str | None = None
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
                error = "the statement is empty"
            elif status in (pq.ExecStatus.COPY_OUT, pq.ExecStatus.COPY_IN):
                await _leave_copy(conn, status == pq.ExecStatus.COPY_IN)
                error = "COPY is not available through this tool: use SELECT"
            elif status == pq.ExecStatus.FATAL_ERROR and not cancelled:
                error = _refusal(res)
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
            raise ToolError(f"cannot sign in to the gateway: {str(exc).strip()}") from None
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


def _columns(conn: psycopg.AsyncConnection[Any], res: pq.abc.PGresult) -> list[dict[str, Any]]:
    out = []
    for i in range(res.nfields):
        oid = res.ftype(i)
        info = conn.adapters.types.get(oid)
        name = (res.fname(i) or b"").decode("utf-8", "backslashreplace")
        out.append({"name": name, "type": info.name if info else f"oid {oid}"})
    return out


def _refusal(res: pq.abc.PGresult) -> str:
    def field(code: pq.DiagnosticField) -> str | None:
        value = res.error_field(code)
        return value.decode("utf-8", "backslashreplace") if value else None

    return refusal_text(
        field(pq.DiagnosticField.SQLSTATE),
        field(pq.DiagnosticField.MESSAGE_PRIMARY) or "error",
        field(pq.DiagnosticField.MESSAGE_DETAIL),
        field(pq.DiagnosticField.MESSAGE_HINT),
    )


def build_server(target: GatewayTarget) -> MCPServer:
    """The MCP server with its tools bound to ``target``."""
    link = _Link(target)
    server = MCPServer("wardgate", instructions=_INSTRUCTIONS)
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=ToolAnnotations(destructive_hint=True, open_world_hint=False))
    async def query(sql: str, reason: str = "", max_rows: int = 100) -> dict[str, Any]:
        """Run one SQL statement through the gateway and return its columns and rows.

        Sensitive values come back masked as consistent tokens (equal values, equal tokens).
        `reason` is recorded and shown to reviewers. At most `max_rows` rows (up to 1000) are
        returned; `truncated` says whether the result had more.
        """
        if not sql.strip():
            raise ToolError("sql is empty")
        limit = min(max(max_rows, 1), MAX_ROWS)
        shaped = await link.run(with_reason(sql, reason), (), limit, MAX_CHARS)
        return shaped.as_dict()

    @server.tool(annotations=read_only)
    async def list_tables(schema: str = "") -> dict[str, Any]:
        """Tables and views this identity can see (optionally in one schema)."""
        sql, params = list_tables_sql(schema)
        return (await link.run(sql, params, MAX_ROWS, MAX_CHARS)).as_dict()

    @server.tool(annotations=read_only)
    async def describe_table(table: str) -> dict[str, Any]:
        """Columns of a table or view: `schema.table`, or `table` in any visible schema."""
        if not table.strip():
            raise ToolError("table is empty")
        sql, params = describe_sql(table.strip())
        return (await link.run(sql, params, MAX_ROWS, MAX_CHARS)).as_dict()

    return server
