"""asyncio transport around `wardgate.pgwire`: listener, client sessions, upstream sessions."""

from __future__ import annotations

from .server import Gateway

__all__ = ["Gateway"]
