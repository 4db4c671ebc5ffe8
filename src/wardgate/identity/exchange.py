"""The credential exchange: an OIDC token in, a short-lived gateway credential out, over HTTPS.

Why HTTP and not the PostgreSQL port: the person's client (psql, a BI tool) can only send a
password, and can read nothing back but rows; `wardgate login` needs to *receive* a credential.
An HTTP POST carrying the OIDC token as a bearer token is the ordinary shape of that (as in
OAuth 2.0 token exchange), and the credential then works in every unmodified client for its whole
lifetime (12 h by default) while the OIDC token itself expires in minutes.

This is a bare ASGI application, no framework: two routes do not need one, and it can be mounted
unchanged into the REST API when that arrives. uvicorn serves it on the gateway's event loop,
with the gateway's TLS certificate; without TLS it may listen on loopback only.

Routes:
  ``GET  /v1/identity/oidc``      what `wardgate login` needs to sign in (issuer, client id...)
  ``POST /v1/identity/exchange``  ``Authorization: Bearer <OIDC token>`` -> the credential

Nothing secret is logged: uvicorn's access log is off, errors name the reason, not the token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from wardgate.httpserve import HttpServer, serve_http

from .tokens import TokenError

if TYPE_CHECKING:
    from .service import IdentityServices

__all__ = ["ExchangeApp", "start_exchange"]

log = logging.getLogger("wardgate.identity")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_MAX_BODY = 64 * 1024


def exchange_user(source: str) -> str:
    """The rate limiter's user key for exchange attempts: per source, so that one client's
    failures never lock every other client out of the exchange (one shared key would)."""
    return f"(exchange from {source})"


class ExchangeApp:
    def __init__(self, services: IdentityServices) -> None:
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/v1/identity/oidc" and method == "GET":
            await _json(send, 200, self._bootstrap())
        elif path == "/v1/identity/exchange" and method == "POST":
            await self._exchange(scope, receive, send)
        else:
            await _json(send, 404, {"error": "not found"})

    def _bootstrap(self) -> dict[str, Any]:
        cfg = self.services.config
        oidc = cfg.auth.oidc
        assert oidc is not None  # the config requires oidc for the exchange
        out: dict[str, Any] = {
            "issuer": oidc.issuer,
            "client_id": oidc.client_id,
            "scopes": list(oidc.scopes),
            "pg_port": self.services.pg_port,
            "credential_ttl": int(cfg.auth.credential_ttl),
        }
        if oidc.client_secret is not None:
            # Only a *public* client's secret belongs here (docs/identity.md): it is not secret.
            out["client_secret"] = oidc.client_secret.resolve(cfg.base_dir)
        return out

    async def _exchange(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        source = str(client[0]) if client else "?"
        limiter = self.services.limiter
        if not limiter.allows(source, exchange_user(source)):
            attempts = limiter.refused(source, exchange_user(source))
            if attempts:
                self.services.report_failure(
                    source, "", "oidc_exchange", "rate_limited", "too many failed attempts",
                    attempts=attempts,
                )  # fmt: skip
            await _json(send, 429, {"error": "too many failed attempts; try again later"})
            return
        await _drain(receive)
        token = _bearer(scope)
        if token is None:
            await _json(send, 401, {"error": "send the OIDC token as 'Authorization: Bearer'"})
            return
        try:
            issued = await self.services.exchange(token)
        except TokenError as exc:
            limiter.failed(source, exchange_user(source))
            log.info("credential exchange from %s refused: %s", source, exc)
            self.services.report_failure(source, "", "oidc_exchange", exc.code, str(exc))
            await _json(send, 401, {"error": str(exc)})
            return
        await _json(
            send,
            200,
            {
                "credential": issued.credential,
                "credential_id": issued.credential_id,
                "user": issued.user,
                "groups": list(issued.groups),
                "expires_at": issued.expires_at,
            },
        )


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


async def _drain(receive: Receive) -> None:
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if size > _MAX_BODY or not message.get("more_body", False):
            return


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def start_exchange(services: IdentityServices) -> HttpServer:
    cfg = services.config
    listen = cfg.auth.exchange
    assert listen is not None
    return await serve_http(
        ExchangeApp(services), listen.host, listen.port, cfg.tls, what="credential exchange"
    )
