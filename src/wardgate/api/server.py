"""Serving the API: uvicorn on the gateway's own event loop, as the credential exchange is served.

HTTPS with the gateway's certificate when ``tls`` is configured; without it the API listens on
loopback only, since every request carries a credential. uvicorn's access log is off (no URLs or
headers in the logs), its ``Server`` header is off, and ``X-Forwarded-For`` is not believed: the
per-source sign-in guard counts the real peer, which a client cannot rename.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

from wardgate.config import ApiConfig, ConfigError, GatewayConfig
from wardgate.identity.exchange import _loopback, _serve, _Server

__all__ = ["ApiServer", "start_api"]

log = logging.getLogger("wardgate.api")

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


class ApiServer:
    """A running API server: where it listens, and how to stop it."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None]) -> None:
        self._server = server
        self._task = task

    @property
    def port(self) -> int:
        sockets = self._server.servers[0].sockets
        port: int = sockets[0].getsockname()[1]
        return port

    async def aclose(self) -> None:
        """Stop accepting, let requests in flight finish, return when the server has stopped."""
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, SystemExit):
            await self._task


async def start_api(config: GatewayConfig, app: ASGIApp) -> ApiServer:
    """Serve ``app`` where ``config.api`` says (127.0.0.1:6481 by default) on the running loop."""
    listen = config.api or ApiConfig()
    tls = config.tls
    if tls is None and not _loopback(listen.host):
        raise ConfigError("the API carries credentials: off loopback it needs 'tls'")
    uv = uvicorn.Config(
        app,
        host=listen.host,
        port=listen.port,
        interface="asgi3",
        lifespan="off",  # no router has startup work; the gateway owns start and stop
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
    )
    server = _Server(uv)
    task = asyncio.get_running_loop().create_task(_serve(server))
    while not server.started:
        if task.done():
            raise ConfigError(f"the API cannot listen on {listen.host}:{listen.port}")
        await asyncio.sleep(0.01)
    running = ApiServer(server, task)
    scheme = "https" if tls else "http"
    log.info("API listening on %s://%s:%d", scheme, listen.host, running.port)
    return running
