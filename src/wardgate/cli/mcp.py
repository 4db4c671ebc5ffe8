"""`wardgate mcp`: serve the MCP tools over stdio for an agent's MCP host.

The agent's API key comes from the environment (``WARDGATE_API_KEY``), as MCP hosts pass
secrets to the servers they start; a key on the command line would be visible to every user of
the machine in the process list.
"""

from __future__ import annotations

import os

import typer

__all__ = ["API_KEY_ENV", "mcp_command"]

API_KEY_ENV = "WARDGATE_API_KEY"


def mcp_command(
    host: str = typer.Option("127.0.0.1", "--host", help="The gateway's PostgreSQL host."),
    port: int = typer.Option(6432, "--port", help="The gateway's PostgreSQL port."),
    user: str = typer.Option(..., "--user", help="The agent's service identity."),
    connection: str = typer.Option(
        ..., "--connection", "-d", help="The gateway connection (the database name to ask for)."
    ),
    on_behalf_of: str | None = typer.Option(
        None, "--on-behalf-of", help="The person the agent acts for (decided for both)."
    ),
    sslmode: str | None = typer.Option(
        None, "--sslmode", help="libpq sslmode (default: prefer on loopback, else verify-full)."
    ),
    sslrootcert: str | None = typer.Option(
        None, "--sslrootcert", help="The CA certificate that signs the gateway's certificate."
    ),
) -> None:
    """Serve SQL tools to an AI agent over MCP (stdio), through the gateway's governed path."""
    key = os.environ.get(API_KEY_ENV, "")
    if not key:
        typer.echo(f"error: set {API_KEY_ENV} to the agent's API key", err=True)
        raise typer.Exit(2)
    from wardgate.mcp import build_server
    from wardgate.portclient import GatewayTarget

    target = GatewayTarget(
        host=host,
        port=port,
        user=user,
        secret=key,
        database=connection,
        on_behalf_of=on_behalf_of,
        sslmode=sslmode,
        sslrootcert=sslrootcert,
        application_name="wardgate-mcp",
    )
    build_server(target).run("stdio")
