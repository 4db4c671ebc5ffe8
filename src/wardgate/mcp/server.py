"""``wardgate mcp``: an MCP server (stdio) whose tools run SQL through a Wardgate gateway.

Each server process is one agent session: it signs in to the gateway's PostgreSQL port as the
agent's service identity with its API key (read from the environment, never from the command
line, where other users of the machine could see it), optionally naming the person it acts for
(`wardgate.portclient`). Reviews refuse at once: the model is told the review's id and calls
again with the same statement once a person has approved it.
"""

from __future__ import annotations

from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from wardgate.portclient import (
    RELKINDS,
    GatewayLink,
    GatewayTarget,
    LinkError,
    Refused,
    Shaped,
    describe_sql,
    list_tables_sql,
    with_reason,
)

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


def build_server(target: GatewayTarget) -> MCPServer:
    """The MCP server with its tools bound to ``target``."""
    link = GatewayLink(target)
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
        return (await _run(link, with_reason(sql, reason), (), limit)).as_dict()

    @server.tool(annotations=read_only)
    async def list_tables(schema: str = "") -> dict[str, Any]:
        """Tables and views this identity can see (optionally in one schema)."""
        sql, params = list_tables_sql(schema)
        shaped = await _run(link, sql, params, MAX_ROWS)
        for row in shaped.rows:
            row[2] = RELKINDS.get(row[2], row[2])
        return shaped.as_dict()

    @server.tool(annotations=read_only)
    async def describe_table(table: str) -> dict[str, Any]:
        """Columns of a table or view: `schema.table`, or `table` in any visible schema."""
        if not table.strip():
            raise ToolError("table is empty")
        sql, params = describe_sql(table.strip())
        return (await _run(link, sql, params, MAX_ROWS)).as_dict()

    return server


async def _run(link: GatewayLink, sql: str, params: tuple[str, ...], max_rows: int) -> Shaped:
    """The statement's result, or a tool error the model reads (SQLSTATE first)."""
    try:
        return await link.run(sql, params, max_rows, MAX_CHARS)
    except Refused as exc:
        raise ToolError(exc.text()) from None
    except LinkError as exc:
        raise ToolError(str(exc)) from None
