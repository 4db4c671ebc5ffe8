"""HTTP(S) endpoints of the gateway (the REST API, the credential exchange) on its own loop.

Both carry credentials, so they share one way of being served: uvicorn on the running event
loop (the gateway, not uvicorn, owns the process's signals), the gateway's TLS certificate, and
plain HTTP only on loopback. uvicorn's access log and ``Server`` header are off (no URLs or
headers in the logs), and ``X-Forwarded-For`` is not believed: the per-source sign-in guards
count the real peer, which a client cannot rename.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Generator, MutableMapping
from typing import Any

import uvicorn

from wardgate.config import ConfigError, TLSConfig

__all__ = ["ASGIApp", "HttpServer", "is_loopback", "serve_http"]

log = logging.getLogger("wardgate")

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HttpServer:
    """A running endpoint: where it listens, and how to stop it."""

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


async def serve_http(
    app: ASGIApp, host: str, port: int, tls: TLSConfig | None, *, what: str
) -> HttpServer:
    """Serve ``app`` on ``host:port``; ``what`` names it in errors and logs."""
    if tls is None and not is_loopback(host):
        raise ConfigError(f"the {what} carries credentials: off loopback it needs 'tls'")
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        interface="asgi3",
        lifespan="off",  # the gateway owns start and stop
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
    )
    server = _Server(config)
    task = asyncio.get_running_loop().create_task(_serve(server))
    while not server.started:
        if task.done():
            raise ConfigError(f"the {what} cannot listen on {host}:{port}")
        await asyncio.sleep(0.01)
    running = HttpServer(server, task)
    scheme = "https" if tls else "http"
    log.info("%s listening on %s://%s:%d", what, scheme, host, running.port)
    return running


async def _serve(server: uvicorn.Server) -> None:
    # uvicorn exits the process when it cannot bind; here that only ends this task.
    with contextlib.suppress(SystemExit):
        await server.serve()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
