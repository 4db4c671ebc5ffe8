"""Client side of signing in: OAuth 2.0 flows that get an OIDC token for `wardgate login`.

* Authorization code with PKCE (RFC 7636) on a loopback redirect (RFC 8252): a one-shot HTTP
  listener on 127.0.0.1 and a random port receives the provider's redirect; ``state`` ties it to
  this login, the code verifier to this process, the ``nonce`` to the ID token.
* Device authorization (RFC 8628) for machines without a browser: show a code, poll the token
  endpoint, honour ``slow_down``.

Both return the provider's token response; the caller takes the ID token to the gateway's
exchange (`wardgate.identity.exchange`), which validates it properly. The nonce is checked here
on the unverified token only to catch a response injected into this login; trust comes from the
gateway's check.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import jwt

__all__ = ["FlowError", "OAuthClient", "authorization_code_login", "device_login", "discover"]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class FlowError(Exception):
    """Signing in did not complete; the message says why (never with a token in it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OAuthClient:
    metadata: dict[str, Any]  # the provider's discovery document
    client_id: str
    client_secret: str | None = None
    scopes: Sequence[str] = ("openid", "email", "profile")

    def credentials(self) -> dict[str, str]:
        out = {"client_id": self.client_id}
        if self.client_secret is not None:
            out["client_secret"] = self.client_secret
        return out


def discover(http: httpx.Client, issuer: str) -> dict[str, Any]:
    data = _json(http.get(issuer.rstrip("/") + "/.well-known/openid-configuration"))
    if data.get("issuer") != issuer:
        raise FlowError("the provider's discovery document names another issuer")
    return data


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise FlowError(
            f"unexpected answer from {response.url.host} ({response.status_code})"
        ) from None
    if not isinstance(data, dict):
        raise FlowError(f"unexpected answer from {response.url.host}")
    return data


def _token_request(http: httpx.Client, client: OAuthClient, form: dict[str, str]) -> httpx.Response:
    endpoint = client.metadata.get("token_endpoint")
    if not isinstance(endpoint, str):
        raise FlowError("the provider has no token endpoint")
    return http.post(endpoint, data={**form, **client.credentials()})


# --- authorization code + PKCE ---------------------------------------------------------------


class _Callback(BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path != "/callback":
            self.send_error(404)
            return
        self.server.result = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = b"<p>Wardgate sign-in: you can close this window.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.done.set()

    def log_message(self, format: str, *args: Any) -> None:
        """The query holds the authorization code: keep it out of stderr."""


class _CallbackServer(HTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Callback)
        self.result: dict[str, str] | None = None
        self.done = threading.Event()


def authorization_code_login(
    http: httpx.Client,
    client: OAuthClient,
    open_url: Callable[[str], object],
    *,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Send the person to the provider (``open_url``), wait for the redirect, redeem the code."""
    endpoint = client.metadata.get("authorization_endpoint")
    if not isinstance(endpoint, str):
        raise FlowError("the provider has no authorization endpoint")
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    server = _CallbackServer()
    redirect_uri = f"http://127.0.0.1:{server.server_port}/callback"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        query = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(client.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        open_url(f"{endpoint}?{urlencode(query)}")
        if not server.done.wait(timeout):
            raise FlowError("no answer from the browser in time")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    result = server.result or {}
    if not secrets.compare_digest(result.get("state", ""), state):
        raise FlowError("the redirect does not belong to this sign-in (state mismatch)")
    if "error" in result:
        raise FlowError(f"the provider refused: {result['error']}")
    if "code" not in result:
        raise FlowError("the redirect carried no authorization code")
    form = {
        "grant_type": "authorization_code",
        "code": result["code"],
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    tokens = _json(_token_request(http, client, form))
    _check_tokens(tokens, nonce)
    return tokens


def _check_tokens(tokens: dict[str, Any], nonce: str | None) -> None:
    if "error" in tokens:
        raise FlowError(f"the provider refused: {tokens['error']}")
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise FlowError("the provider sent no ID token (is 'openid' among the scopes?)")
    if nonce is not None:
        try:
            claims = jwt.decode(id_token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise FlowError("the provider sent a malformed ID token") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise FlowError("the ID token was not issued for this sign-in (nonce mismatch)")


# --- device authorization ----------------------------------------------------------------------


def device_login(
    http: httpx.Client,
    client: OAuthClient,
    show: Callable[[str, str, str | None], object],
    *,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Show the user code (``show(user_code, verification_uri, complete_uri)``), then poll."""
    endpoint = client.metadata.get("device_authorization_endpoint")
    if not isinstance(endpoint, str):
        raise FlowError("the provider does not offer the device flow (no device endpoint)")
    grant = _json(
        http.post(endpoint, data={"scope": " ".join(client.scopes), **client.credentials()})
    )
    try:
        device_code, user_code = str(grant["device_code"]), str(grant["user_code"])
        uri = str(grant.get("verification_uri") or grant["verification_url"])
    except KeyError:
        raise FlowError("the provider's device answer is incomplete") from None
    complete = grant.get("verification_uri_complete")
    show(user_code, uri, complete if isinstance(complete, str) else None)
    interval = float(grant.get("interval", 5))
    deadline = clock() + float(grant.get("expires_in", 600))
    while clock() < deadline:
        sleep(interval)
        form = {"grant_type": DEVICE_GRANT, "device_code": device_code}
        tokens = _json(_token_request(http, client, form))
        error = tokens.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5  # RFC 8628 3.5
            continue
        _check_tokens(tokens, None)
        return tokens
    raise FlowError("the device code expired before sign-in finished")
