"""A client of the gateway's own PostgreSQL port for the MCP and REST doors: see `_link`."""

from __future__ import annotations

from ._link import GatewayLink, GatewayTarget, LinkError, LinkLost, Refused, SignInFailed
from ._results import RELKINDS, Shaped, describe_sql, from_text, list_tables_sql, with_reason

__all__ = [
    "RELKINDS",
    "GatewayLink",
    "GatewayTarget",
    "LinkError",
    "LinkLost",
    "Refused",
    "Shaped",
    "SignInFailed",
    "describe_sql",
    "from_text",
    "list_tables_sql",
    "with_reason",
]
