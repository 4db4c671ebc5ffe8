"""The REST API (FastAPI): reviews of held statements, for people and the `wardgate review` CLI.

Routes (all under ``/v1``, all authenticated; see docs/api.md)::

    GET  /v1/reviews?status=&requester=&limit=   reviews visible to the caller, newest first
    GET  /v1/reviews/{id}                        one review
    POST /v1/reviews/{id}/approve   {"reason"?}  a verdict as the caller
    POST /v1/reviews/{id}/reject    {"reason"}   a rejection needs a reason
    POST /v1/reviews/{id}/cancel    {"reason"?}  the requester withdraws it

Visibility: a review is shown to its requester, to the person an agent requested it for, and to
members of its approver groups, and to nobody else: to anyone else it does not exist (404), so
ids, statements and parameter values do not leak across teams.

Errors are ``{"error": "..."}``: 401 no or bad credential (with ``WWW-Authenticate: Bearer``),
403 the caller sees the review but may not do this (decide their own review, cancel someone
else's, an agent or service deciding at all), 404 no such review (or not visible), 409 the
review's state forbids it (already decided, expired, voted twice), 422 a malformed request (a
rejection without a reason), 429 too many failed sign-ins from this source.

The API composes `wardgate.approvals`; every rule about who may decide what lives there and is
enforced there again. The checks here only pick the status code and keep refusals from saying
more than the caller may know. Credentials are never logged (uvicorn's access log is off, and
refusals log the reason and the source only).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import math
from collections.abc import Awaitable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Security
from fastapi.security import HTTPBearer
from fastapi.security.http import HTTPBase

import wardgate
from wardgate.approvals import Approvals, Review, ReviewError, Status
from wardgate.config import GatewayConfig, RateLimitConfig
from wardgate.identity.ratelimit import RateLimiter
from wardgate.identity.service import IdentityServices

from ._http import ApiError, BodyLimit, add_error_handlers
from ._models import ApproveBody, CancelBody, ErrorOut, RejectBody, ReviewList, ReviewOut
from .auth import (
    Authenticator,
    AuthError,
    Principal,
    authenticator_from_config,
    limiter_from_config,
)

__all__ = ["VIAS", "ApiError", "api_from_config", "create_app", "visible"]

log = logging.getLogger("wardgate.api")

VIAS: tuple[str, ...] = ("api", "cli", "console")  # what a client may say it decided through
_SCAN = 1000  # reviews considered per listing, newest first, before visibility is applied
_CHALLENGE = 'Bearer realm="wardgate"'

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

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (401, "No credential, or one that proves nobody."),
        (403, "The caller may see the review but may not do this to it."),
        (404, "No such review, or none the caller may see."),
        (409, "The review's state does not allow it."),
        (422, "The request is malformed."),
        (429, "Too many failed sign-ins from this source."),
    )
}


def visible(review: Review, who: Principal) -> bool:
    """Whether ``who`` may see ``review``: its requester, who it was for, or an approver."""
    return who.name in (review.requester, review.on_behalf_of) or bool(
        set(who.groups) & set(review.approvers)
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Wiring:
    """What one app's routes use, kept on ``app.state`` so the routes can be module-level."""

    approvals: Approvals
    authenticate: Authenticator
    limiter: RateLimiter


def create_app(
    approvals: Approvals,
    authenticate: Authenticator,
    *,
    routers: Sequence[APIRouter] = (),
    limiter: RateLimiter | None = None,
) -> FastAPI:
    """The API over ``approvals``. ``limiter`` counts failed sign-ins per source (default: the
    stock `RateLimitConfig`); ``routers`` (Slack interactions...) are included as they are."""
    app = FastAPI(
        title="Wardgate API",
        version=wardgate.__version__,
        description=__doc__,
        openapi_url="/openapi.json",
        docs_url=None,  # the interactive pages load scripts from a CDN; the document is enough
        redoc_url=None,
    )
    app.state.wardgate = _Wiring(
        approvals, authenticate, limiter if limiter is not None else RateLimiter(RateLimitConfig())
    )
    app.add_middleware(BodyLimit)
    add_error_handlers(app)
    app.include_router(_reviews)
    for extra in routers:
        app.include_router(extra)
    return app


def _wiring(request: Request) -> _Wiring:
    wiring: _Wiring = request.app.state.wardgate
    return wiring


async def _principal(
    request: Request,
    _bearer_doc: Annotated[object, Security(_bearer)],
    _basic_doc: Annotated[object, Security(_basic)],
) -> Principal:
    wiring = _wiring(request)
    source = request.client.host if request.client else "?"
    credential = _credential(request.headers.get("authorization"))
    if credential is None:
        raise ApiError(
            401,
            "send a credential: 'Authorization: Bearer <credential>'"
            " (or HTTP Basic with an API key)",
            {"WWW-Authenticate": _CHALLENGE},
        )
    guard = wiring.limiter
    bucket = f"(api) {source}"  # per source only: a shared key would let anyone lock all out
    if not guard.allows(source, bucket):
        wait = max(1, math.ceil(guard.retry_after(source, bucket)))
        raise ApiError(429, "too many failed sign-ins; try again later", {"Retry-After": str(wait)})
    try:
        return await wiring.authenticate(credential)
    except AuthError as exc:
        guard.failed(source, bucket)
        log.info("API sign-in from %s refused: %s", source, exc)
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
    return _wiring(request).approvals


Who = Annotated[Principal, Depends(_principal)]
Via = Annotated[str, Depends(_via)]
Reviews = Annotated[Approvals, Depends(_approvals)]
ReviewId = Annotated[str, Path(min_length=1, max_length=32)]


async def _shown(approvals: Approvals, review_id: str, who: Principal) -> Review:
    review = await approvals.get(review_id)
    if review is None or not visible(review, who):
        raise ApiError(404, f"review {review_id} does not exist or is not visible to you")
    return review


async def _applied(change: Awaitable[Review]) -> ReviewOut:
    try:
        return ReviewOut.of(await change)
    except ReviewError as exc:
        raise ApiError(409, str(exc)) from None


def _may_decide(review: Review, who: Principal) -> None:
    if who.kind != "human":
        raise ApiError(403, f"only people decide reviews, not the {who.kind} {who.name}")
    if who.name in (review.requester, review.on_behalf_of):
        raise ApiError(403, "nobody may decide a review of their own statement")


_reviews = APIRouter(prefix="/v1", tags=["reviews"], responses=_ERRORS)


@_reviews.get("/reviews", response_model=ReviewList)
async def list_reviews(
    approvals: Reviews,
    who: Who,
    status: Status | None = None,
    requester: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ReviewList:
    """Reviews the caller may see (see Visibility), newest first."""
    # A review lapses when it is read after its expiry, so the store may still hold an expired
    # one as pending or approved: "expired" is decided here, on the current state of all.
    stored = None if status == "expired" else status
    found = await approvals.listing(status=stored, requester=requester, limit=_SCAN)
    if status is not None:
        found = [r for r in found if r.status == status]
    return ReviewList(reviews=[ReviewOut.of(r) for r in found if visible(r, who)][:limit])


@_reviews.get("/reviews/{review_id}", response_model=ReviewOut)
async def get_review(approvals: Reviews, review_id: ReviewId, who: Who) -> ReviewOut:
    """One review, if the caller may see it."""
    return ReviewOut.of(await _shown(approvals, review_id, who))


@_reviews.post("/reviews/{review_id}/approve", response_model=ReviewOut)
async def approve(
    approvals: Reviews, review_id: ReviewId, who: Who, by: Via, body: ApproveBody | None = None
) -> ReviewOut:
    """Approve as the caller; the review is approved once enough approvers have."""
    review = await _shown(approvals, review_id, who)
    _may_decide(review, who)
    reason = (body.reason or "") if body is not None else ""
    actor = dataclasses.replace(who, via=by)
    return await _applied(approvals.decide(review.id, actor, "approve", reason))


@_reviews.post("/reviews/{review_id}/reject", response_model=ReviewOut)
async def reject(
    approvals: Reviews, review_id: ReviewId, who: Who, by: Via, body: RejectBody
) -> ReviewOut:
    """Reject as the caller, with a reason: the statement will not run."""
    review = await _shown(approvals, review_id, who)
    _may_decide(review, who)
    if not body.reason.strip():
        raise ApiError(422, "a rejection needs a reason")
    actor = dataclasses.replace(who, via=by)
    return await _applied(approvals.decide(review.id, actor, "reject", body.reason))


@_reviews.post("/reviews/{review_id}/cancel", response_model=ReviewOut)
async def cancel(
    approvals: Reviews, review_id: ReviewId, who: Who, by: Via, body: CancelBody | None = None
) -> ReviewOut:
    """Withdraw a pending (or approved, not yet run) review: its requester only."""
    review = await _shown(approvals, review_id, who)
    if who.name not in (review.requester, review.on_behalf_of):
        raise ApiError(403, f"only {review.requester} may cancel review {review.id}")
    reason = (body.reason or "") if body is not None else ""
    return await _applied(approvals.cancel(review.id, who.name, reason, via=by))


def api_from_config(
    config: GatewayConfig,
    approvals: Approvals,
    services: IdentityServices | None = None,
    *,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """`create_app` wired the gateway's way: its credentials, its sign-in limiter."""
    return create_app(
        approvals,
        authenticator_from_config(config, services),
        routers=routers,
        limiter=limiter_from_config(config, services),
    )


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
