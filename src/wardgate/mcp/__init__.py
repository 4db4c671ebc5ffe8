"""The MCP door: tools for AI agents that go through the gateway like any other client.

An agent's MCP host starts ``wardgate mcp``; each tool call becomes a statement sent to the
gateway's PostgreSQL port (`wardgate.portclient`), signed in as the agent's service identity (its
API key), optionally acting for a person. So the agent gets exactly what that identity gets there
-- the same policy decisions, reviews, masking and audit records -- because it is the same path,
not a copy of it. The MCP server holds no database credentials and cannot widen what the
identity may do.
"""

from __future__ import annotations

from .server import build_server

__all__ = ["build_server"]
