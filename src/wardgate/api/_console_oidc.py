"""Signing in to the console through the organisation's OpenID Connect provider.

Authorization code flow with PKCE, the browser's own: the console sends the person to the
provider with a fresh ``state``, ``nonce`` and code challenge, and the provider sends them back to
``/console/oidc/callback``. The gateway redeems the code, and the ID token goes through the same
exchange `wardgate login` uses (`IdentityServices.exchange`: signature against the provider's
JWKS, issuer, audience, expiry, group mapping, no configured identity's name), which issues the
gateway credential the session holds. So a person signed in here is exactly who they would be
with ``wardgate login``, with the same groups.

``state`` is kept server-side (once, for ten minutes) and also in a cookie of the browser that
started the sign-in, so a callback that another browser started -- a login forged into the
victim's browser -- is refused. The callback answers with a page that moves on by itself rather
than a redirect: the session cookie is SameSite=Strict, and a redirect chain that began at the
provider is cross-site, so the browser would not send it on the next page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from fastapi import APIRouter, Request
from fastapi.responses import Response

from wardgate.config import ConfigError
from wardgate.identity.ratelimit import source_network
from wardgate.identity.tokens import TokenError

from ._console_web import MAX_SECONDS, SESSION_COOKIE, page, secure_cookies, see_other, sessions_of
from ._deps import report_failure, wiring

__all__ = ["oidc_pages"]

log = logging.getLogger("wardgate.api")

STATE_COOKIE = "wardgate_oidc_state"
_PENDING_SECONDS = 600
_MAX_PENDING = 10_000
_MAX_PENDING_EACH = 20
_DISCOVERY_SECONDS = 3600

oidc_pages = APIRouter()


@dataclass(frozen=True, slots=True)
class _Pending:
    source: str
    verifier: str
    nonce: str
    redirect_uri: str
    created: float


class _PendingLogins:
    """Sign-ins sent to the provider and not back yet: state -> what the callback needs."""

    def __init__(self) -> None:
        self._by_state: dict[str, _Pending] = {}

    def add(self, state: str, pending: _Pending) -> bool:
        """Keep a started sign-in; False when the store is full of unexpired ones. One source
        network's are capped (its oldest goes), and a full store refuses new starts rather
        than evicting other people's sign-ins in flight."""
        now = time.monotonic()
        mine = [k for k, p in self._by_state.items() if p.source == pending.source]
        for key in mine[: max(0, len(mine) - _MAX_PENDING_EACH + 1)]:
            del self._by_state[key]
        if len(self._by_state) >= _MAX_PENDING:
            for key, p in list(self._by_state.items()):
                if now - p.created > _PENDING_SECONDS:
                    del self._by_state[key]
            if len(self._by_state) >= _MAX_PENDING:
                return False
        self._by_state[state] = pending
        return True

    def take(self, state: str) -> _Pending | None:
        """The sign-in ``state`` names, once; None if unknown or too old."""
        pending = self._by_state.pop(state, None)
        if pending is None or time.monotonic() - pending.created > _PENDING_SECONDS:
            return None
        return pending


def _pending(request: Request) -> _PendingLogins:
    state = request.app.state
    found: _PendingLogins | None = getattr(state, "console_oidc_pending", None)
    if found is None:
        found = state.console_oidc_pending = _PendingLogins()
    return found


async def _metadata(request: Request, issuer: str, wait: float) -> dict[str, Any]:
    """The provider's discovery document, kept for an hour."""
    cached: tuple[float, dict[str, Any]] | None = getattr(
        request.app.state, "console_oidc_metadata", None
    )
    if cached is not None and time.monotonic() - cached[0] < _DISCOVERY_SECONDS:
        return cached[1]
    async with httpx.AsyncClient(timeout=wait) as http:
        answer = await http.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
    data = answer.json() if answer.status_code == 200 else {}
    if not isinstance(data, dict) or data.get("issuer") != issuer:
        raise TokenError("the provider's discovery document is missing or names another issuer")
    request.app.state.console_oidc_metadata = (time.monotonic(), data)
    return data


def _callback_url(request: Request) -> str:
    base = wiring(request).public_url or str(request.base_url)
    return base.rstrip("/") + "/console/oidc/callback"


def _failed(message: str, code: int = 401) -> Response:
    response = page("login.html", code, error=message, oidc=True)
    response.delete_cookie(STATE_COOKIE, path="/console/oidc")
    return response


@oidc_pages.get("/oidc/start")
async def oidc_start(request: Request) -> Response:
    services = wiring(request).identity
    oidc = services.config.auth.oidc if services is not None else None
    if oidc is None:
        return page("login.html", 404, error="This gateway has no identity provider.", oidc=False)
    try:
        metadata = await _metadata(request, oidc.issuer, oidc.http_timeout)
    except (TokenError, httpx.HTTPError, ValueError) as exc:
        return _failed(f"The identity provider cannot be reached: {exc}", 502)
    endpoint = metadata.get("authorization_endpoint")
    if not isinstance(endpoint, str):
        return _failed("The identity provider has no authorization endpoint.", 502)
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    redirect_uri = _callback_url(request)
    source = source_network(request.client.host if request.client else "?")
    started = _Pending(source, verifier, nonce, redirect_uri, time.monotonic())
    if not _pending(request).add(state, started):
        return _failed("Too many sign-ins are in progress; try again in a few minutes.", 503)
    query = {
        "response_type": "code",
        "client_id": oidc.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(oidc.scopes),
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    response = see_other(f"{endpoint}?{urlencode(query)}")
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=_PENDING_SECONDS,
        path="/console/oidc",
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back, as it must be
        secure=secure_cookies(request),
    )
    return response


@oidc_pages.get("/oidc/callback")
async def oidc_callback(
    request: Request, state: str = "", code: str = "", error: str = ""
) -> Response:
    services = wiring(request).identity
    oidc = services.config.auth.oidc if services is not None else None
    if services is None or oidc is None:
        return page("login.html", 404, error="This gateway has no identity provider.", oidc=False)
    if error:
        # Nothing is signed in on this path, so it needs no state (some providers, and the test
        # provider, leave it out of error redirects); a state it does name is spent.
        _pending(request).take(state)
        # The provider's words are logged, not shown: anyone can put text in this URL.
        log.info("console sign-in: the identity provider answered %r", error[:100])
        return _failed("The identity provider did not sign you in.")
    mine = request.cookies.get(STATE_COOKIE, "")
    if not state or not hmac.compare_digest(mine.encode(), state.encode()):
        _pending(request).take(state)  # a forged or crossed callback spends the state too
        return _failed("This sign-in was not started in this browser; start it again.", 400)
    pending = _pending(request).take(state)
    if pending is None:
        return _failed("This sign-in has expired or was already used; start it again.", 400)
    if not code:
        return _failed("The identity provider sent no authorization code.")
    source = request.client.host if request.client else "?"
    limiter = wiring(request).limiter
    bucket = f"(api) {source}"
    if not limiter.allows(source, bucket):
        attempts = limiter.refused(source, bucket)
        if attempts:
            report_failure(request, "", "console_oidc", "rate_limited", "too many failed sign-ins",
                           attempts)  # fmt: skip
        return _failed("Too many failed sign-ins; try again later.", 429)
    try:
        id_token = await _redeem(request, code, pending, oidc)
        # The nonce first, so no credential is issued for a token of another sign-in; the
        # exchange then checks the signature the claims read here rely on.
        claims = jwt.decode(id_token, options={"verify_signature": False})
        if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), pending.nonce.encode()):
            raise TokenError("the ID token was not issued for this sign-in (nonce mismatch)")
        issued = await services.exchange(id_token)
    except (TokenError, httpx.HTTPError, ValueError, jwt.InvalidTokenError) as exc:
        limiter.failed(source, bucket)
        code = exc.code if isinstance(exc, TokenError) else "provider_error"
        report_failure(request, "", "console_oidc", code, str(exc))
        return _failed(f"Not signed in: {exc}.")
    sid, _ = sessions_of(request).open(issued.user, issued.credential)
    response = page("signed_in.html", who=None)
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        max_age=MAX_SECONDS,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    response.delete_cookie(STATE_COOKIE, path="/console/oidc")
    return response


async def _redeem(request: Request, code: str, pending: _Pending, oidc: Any) -> str:
    """Trade the authorization code (and the PKCE verifier) for the ID token."""
    metadata = await _metadata(request, oidc.issuer, oidc.http_timeout)
    endpoint = metadata.get("token_endpoint")
    if not isinstance(endpoint, str):
        raise TokenError("the identity provider has no token endpoint")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": pending.redirect_uri,
        "code_verifier": pending.verifier,
        "client_id": oidc.client_id,
    }
    if oidc.client_secret is not None:
        services = wiring(request).identity
        assert services is not None
        try:
            form["client_secret"] = oidc.client_secret.resolve(services.config.base_dir)
        except ConfigError:
            raise TokenError("the client secret for the identity provider is unavailable") from None
    async with httpx.AsyncClient(timeout=oidc.http_timeout) as http:
        answer = await http.post(endpoint, data=form)
    body = (
        answer.json()
        if answer.headers.get("content-type", "").startswith("application/json")
        else {}
    )
    if answer.status_code != 200 or not isinstance(body.get("id_token"), str):
        reason = body.get("error", f"HTTP {answer.status_code}") if isinstance(body, dict) else ""
        raise TokenError(f"the identity provider refused the code: {str(reason)[:100]}")
    token: str = body["id_token"]
    return token
