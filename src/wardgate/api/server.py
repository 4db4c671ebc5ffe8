"""Serving the API where ``config.api`` says, as the credential exchange is served (see
`wardgate.httpserve`: uvicorn on the gateway's loop, TLS or loopback only, no access log)."""

from __future__ import annotations

from wardgate.config import ApiConfig, GatewayConfig
from wardgate.httpserve import ASGIApp, HttpServer, serve_http

__all__ = ["ApiServer", "start_api"]

ApiServer = HttpServer  # (the name callers know)


async def start_api(config: GatewayConfig, app: ASGIApp) -> HttpServer:
    """Serve ``app`` where ``config.api`` says (127.0.0.1:6481 by default) on the running loop."""
    listen = config.api or ApiConfig()
    return await serve_http(app, listen.host, listen.port, config.tls, what="API")
