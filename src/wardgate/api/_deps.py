"""What every route of the API depends on: the app's wiring, the authenticated caller, the
channel a verdict came through, the error responses the OpenAPI document lists, and the status
code for each kind of refusal from `wardgate.approvals`."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Header, Request, Security
from fastapi.security import HTTPBearer
from fastapi.security.http import HTTPBase

from wardgate.approvals import (
    Approvals,
    Conflict,
    Invalid,
    NotAllowed,
    NotFound,
    ReviewError,
)
from wardgate.identity.ratelimit import RateLimiter
from wardgate.identity.store import looks_like_api_key
from wardgate.identity.tokens import looks_like_token

from ._http import ApiError
from ._models import ErrorOut
from .auth import Authenticator, AuthError, Principal

if TYPE_CHECKING:
    from wardgate.config import GatewayConfig
    from wardgate.identity.service import IdentityServices
    from wardgate.policy import Policy

__all__ = [
    "VIAS",
    "PolicyOf",
    "Service",
    "Via",
    "Who",
    "Wiring",
    "applied",
    "credential_of",
    "error_responses",
    "refusal",
    "report_failure",
    "wiring",
]

log = logging.getLogger("wardgate.api")

VIAS: tuple[str, ...] = ("api", "cli", "console")  # what a client may say it decided through
_CHALLENGE = 'Bearer realm="wardgate"'

PolicyOf = Callable[[], "Policy | None"]  # the policy in force now (it may be reloaded)

# The status for each kind of refusal the approvals model raises; the message is the model's.
_REFUSALS: tuple[tuple[type[ReviewError], int], ...] = (
    (NotAllowed, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Invalid, 422),
)
_T = TypeVar("_T")

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="credential",
    description="A gateway credential or token (wgt1...): `wardgate login` or `token issue`.",
)
_basic = HTTPBase(
    scheme="basic",
    auto_error=False,
    scheme_name="apiKey",
    description="A service identity's API key: user = identity name, password = wga_... key.",
)


@dataclasses.dataclass(frozen=True, slots=True)
class Wiring:
    """What one app's routes use, kept on ``app.state`` so the routes can be module-level."""

    approvals: Approvals
    authenticate: Authenticator
    limiter: RateLimiter
    policy_of: PolicyOf | None = None
    # The gateway's identity services, for the console's sign-in through the OIDC provider.
    identity: IdentityServices | None = None
    public_url: str | None = None  # the API as people reach it (``approvals.public_url``)
    # Where the `exec` route sends statements: the gateway's own PostgreSQL port, and its
    # config (which identities sign in there with SCRAM, so not with an API credential).
    gateway_port: Callable[[], int] | None = None
    config: GatewayConfig | None = None


def wiring(request: Request) -> Wiring:
    found: Wiring = request.app.state.wardgate
    return found


def error_responses(noun: str, *extra: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """The refusals a route over ``noun`` (review, grant) may answer, for the OpenAPI document."""
    return {
        code: {"model": ErrorOut, "description": text}
        for code, text in (
            (401, "No credential, or one that proves nobody."),
            (403, f"The caller may see the {noun} but may not do this to it."),
            (404, f"No such {noun}, or none the caller may see."),
            (409, f"The {noun}'s state does not allow it."),
            (422, "The request is malformed."),
            (429, "Too many failed sign-ins from this source."),
            *extra,
        )
    }


def refusal(exc: ReviewError) -> ApiError:
    """The model's refusal as an HTTP error: its kind picks the status, its message is kept."""
    status = next((code for kind, code in _REFUSALS if isinstance(exc, kind)), 409)
    return ApiError(status, str(exc))


async def applied(change: Awaitable[_T]) -> _T:
    """The result of a change made through `Approvals`, or its refusal as an `ApiError`."""
    try:
        return await change
    except ReviewError as exc:
        raise refusal(exc) from None


async def _principal(
    request: Request,
    _bearer_doc: Annotated[object, Security(_bearer)],
    _basic_doc: Annotated[object, Security(_basic)],
) -> Principal:
    wired = wiring(request)
    source = request.client.host if request.client else "?"
    credential = _credential(request.headers.get("authorization"))
    if credential is None:
        raise ApiError(
            401,
            "send a credential: 'Authorization: Bearer <credential>'"
            " (or HTTP Basic with an API key)",
            {"WWW-Authenticate": _CHALLENGE},
        )
    guard = wired.limiter
    bucket = f"(api) {source}"  # per source only: a shared key would let anyone lock all out
    if not guard.allows(source, bucket):
        attempts = guard.refused(source, bucket)
        if attempts:
            report_failure(request, "", "api", "rate_limited", "too many failed sign-ins", attempts)
        wait = max(1, math.ceil(guard.retry_after(source, bucket)))
        raise ApiError(429, "too many failed sign-ins; try again later", {"Retry-After": str(wait)})
    try:
        return await wired.authenticate(credential)
    except AuthError as exc:
        guard.failed(source, bucket)
        log.info("API sign-in from %s refused: %s", source, exc)
        report_failure(request, _named(credential), "api", "invalid_credential", str(exc))
        raise ApiError(
            401, str(exc), {"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'}
        ) from None


def _via(
    x_wardgate_via: Annotated[
        str | None, Header(description=f"One of {', '.join(VIAS)} (default api).")
    ] = None,
) -> str:
    if x_wardgate_via is None:
        return "api"
    if x_wardgate_via not in VIAS:
        raise ApiError(422, f"X-Wardgate-Via must be one of {', '.join(VIAS)}")
    return x_wardgate_via


def _approvals(request: Request) -> Approvals:
    return wiring(request).approvals


Who = Annotated[Principal, Depends(_principal)]
Via = Annotated[str, Depends(_via)]
Service = Annotated[Approvals, Depends(_approvals)]


def report_failure(
    request: Request, user: str, method: str, reason: str, detail: str, attempts: int = 1
) -> None:
    """A refused sign-in at the API or the console, to the gateway's audit log (auth.failed)."""
    services = wiring(request).identity
    if services is not None:
        source = request.client.host if request.client else "?"
        services.report_failure(source, user, method, reason, detail, attempts=attempts)


def _named(credential: str) -> str:
    """The identity name a Basic credential names, for the audit record of a refusal; empty
    for a bearer token, and for a "name" that is itself a secret (a key or token sent in the
    user field, as `curl -u KEY:` does), which must not land in the log."""
    user, sep, _ = credential.partition(":")  # RFC 7617: the user id holds no colon
    if not sep or looks_like_api_key(user) or looks_like_token(user) or user.count(".") == 2:
        return ""
    return user


def credential_of(request: Request) -> str | None:
    """The credential the request carries (what `Who` authenticated)."""
    return _credential(request.headers.get("authorization"))


def _credential(header: str | None) -> str | None:
    """The credential in an Authorization header: a bearer token, or ``name:secret`` (Basic)."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "bearer":
        return value
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded if ":" in decoded else None
    return None
