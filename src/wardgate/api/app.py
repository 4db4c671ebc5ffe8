"""The REST API (FastAPI): reviews of held statements and just-in-time grants, for people and the
`wardgate review` and `wardgate access` CLIs.

Routes (all under ``/v1``, all authenticated; see docs/api.md)::

    GET  /v1/reviews?status=&requester=&limit=   reviews visible to the caller, newest first
    GET  /v1/reviews/{id}                        one review
    POST /v1/reviews/{id}/approve   {"reason"?}  a verdict as the caller
    POST /v1/reviews/{id}/reject    {"reason"}   a rejection needs a reason
    POST /v1/reviews/{id}/cancel    {"reason"?}  the requester withdraws it

    POST /v1/grants  {connection, role, duration, reason, break_glass?}   ask for a role
    GET  /v1/grants?status=&requester=&limit=    grants visible to the caller, newest first
    GET  /v1/grants/{id}                         one grant
    POST /v1/grants/{id}/approve    {"reason"?}  an approval as the caller
    POST /v1/grants/{id}/reject     {"reason"}   a rejection needs a reason
    POST /v1/grants/{id}/revoke     {"reason"?}  end it early (or withdraw a pending request)

    POST /v1/exec   {connection, sql, reason?, max_rows?, on_behalf_of?}   run one statement
                                                 through the gateway's port, as the caller

    /console                                     the web console for reviewers (console.py)

Visibility: a review is shown to its requester, to the person an agent requested it for, and to
members of its approver groups; a grant to its requester and the members of its approver groups;
to anyone else they do not exist (404), so ids, statements and parameter values do not leak
across teams.

Errors are ``{"error": "..."}``: 401 no or bad credential (with ``WWW-Authenticate: Bearer``),
403 the caller sees it but may not do this (decide their own review or grant, cancel someone
else's, an agent or service deciding at all, ask for a role their groups may not), 404 no such
review or grant (or not visible), 409 its state forbids it (already decided, expired, voted
twice), 422 a malformed request (a rejection without a reason, a grant longer than the policy
allows), 429 too many failed sign-ins from this source, 503 no policy to check a grant against.

The API composes `wardgate.approvals`; every rule about who may decide what lives there, and
only there. The API decides what each caller may see (404 before any rule is asked), takes the
caller's identity (name, groups, kind) from the credential, and answers each refusal of the
model by its kind: `NotAllowed` 403, `Conflict` 409, `Invalid` 422. Credentials are never logged
(uvicorn's access log is off, and refusals log the reason and the source only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, Query

import wardgate
from wardgate.approvals import Approvals, Review, Status
from wardgate.config import GatewayConfig, RateLimitConfig
from wardgate.identity.ratelimit import RateLimiter
from wardgate.identity.service import IdentityServices

from ._deps import VIAS, PolicyOf, Service, Via, Who, Wiring, applied, error_responses
from ._http import ApiError, BodyLimit, add_error_handlers
from ._models import ApproveBody, CancelBody, RejectBody, ReviewList, ReviewOut
from ._visibility import visible
from .auth import Authenticator, Principal, authenticator_from_config, limiter_from_config
from .console import console_router
from .exec import exec_router
from .grants import grants_router

__all__ = ["VIAS", "ApiError", "api_from_config", "create_app", "visible"]

_SCAN = 1000  # reviews considered per listing, newest first, before visibility is applied


def create_app(
    approvals: Approvals,
    authenticate: Authenticator,
    *,
    routers: Sequence[APIRouter] = (),
    limiter: RateLimiter | None = None,
    policy_of: PolicyOf | None = None,
    identity: IdentityServices | None = None,
    public_url: str | None = None,
    gateway_port: Callable[[], int] | None = None,
    config: GatewayConfig | None = None,
) -> FastAPI:
    """The API over ``approvals``. ``limiter`` counts failed sign-ins per source (default: the
    stock `RateLimitConfig`); ``policy_of`` returns the policy in force, whose ``access:``
    entries grant requests are checked against (without it, requests are refused with 503);
    ``identity`` (the gateway's identity services) lets people sign in to the console through
    the OIDC provider, whose redirect comes back to ``public_url`` (default: the address the
    browser used); ``gateway_port`` (the gateway's PostgreSQL port, and ``config``) enables the
    ``exec`` route; ``routers`` (Slack interactions...) are included as they are."""
    app = FastAPI(
        title="Wardgate API",
        version=wardgate.__version__,
        description=__doc__,
        openapi_url="/openapi.json",
        docs_url=None,  # the interactive pages load scripts from a CDN; the document is enough
        redoc_url=None,
    )
    app.state.wardgate = Wiring(
        approvals,
        authenticate,
        limiter if limiter is not None else RateLimiter(RateLimitConfig()),
        policy_of,
        identity,
        public_url,
        gateway_port,
        config,
    )
    app.add_middleware(BodyLimit)
    add_error_handlers(app)
    app.include_router(_reviews)
    app.include_router(grants_router)
    app.include_router(exec_router)
    app.include_router(console_router)
    for extra in routers:
        app.include_router(extra)
    return app


ReviewId = Annotated[str, Path(min_length=1, max_length=32)]


async def _shown(approvals: Approvals, review_id: str, who: Principal) -> Review:
    review = await approvals.get(review_id)
    if review is None or not visible(review, who):
        raise ApiError(404, f"review {review_id} does not exist or is not visible to you")
    return review


_reviews = APIRouter(prefix="/v1", tags=["reviews"], responses=error_responses("review"))


@_reviews.get("/reviews", response_model=ReviewList)
async def list_reviews(
    approvals: Service,
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
async def get_review(approvals: Service, review_id: ReviewId, who: Who) -> ReviewOut:
    """One review, if the caller may see it."""
    return ReviewOut.of(await _shown(approvals, review_id, who))


@_reviews.post("/reviews/{review_id}/approve", response_model=ReviewOut)
async def approve(
    approvals: Service, review_id: ReviewId, who: Who, by: Via, body: ApproveBody | None = None
) -> ReviewOut:
    """Approve as the caller; the review is approved once enough approvers have."""
    review = await _shown(approvals, review_id, who)
    reason = (body.reason or "") if body is not None else ""
    actor = dataclasses.replace(who, via=by)
    return ReviewOut.of(await applied(approvals.decide(review.id, actor, "approve", reason)))


@_reviews.post("/reviews/{review_id}/reject", response_model=ReviewOut)
async def reject(
    approvals: Service, review_id: ReviewId, who: Who, by: Via, body: RejectBody
) -> ReviewOut:
    """Reject as the caller, with a reason: the statement will not run."""
    review = await _shown(approvals, review_id, who)
    actor = dataclasses.replace(who, via=by)
    return ReviewOut.of(await applied(approvals.decide(review.id, actor, "reject", body.reason)))


@_reviews.post("/reviews/{review_id}/cancel", response_model=ReviewOut)
async def cancel(
    approvals: Service, review_id: ReviewId, who: Who, by: Via, body: CancelBody | None = None
) -> ReviewOut:
    """Withdraw a pending (or approved, not yet run) review: its requester only."""
    review = await _shown(approvals, review_id, who)
    reason = (body.reason or "") if body is not None else ""
    return ReviewOut.of(await applied(approvals.cancel(review.id, who.name, reason, via=by)))


def api_from_config(
    config: GatewayConfig,
    approvals: Approvals,
    services: IdentityServices | None = None,
    *,
    routers: Sequence[APIRouter] = (),
    policy_of: PolicyOf | None = None,
    gateway_port: Callable[[], int] | None = None,
) -> FastAPI:
    """`create_app` wired the gateway's way: its credentials, its sign-in limiter, its policy."""
    return create_app(
        approvals,
        authenticator_from_config(config, services),
        routers=routers,
        limiter=limiter_from_config(config, services),
        policy_of=policy_of,
        identity=services,
        public_url=config.approvals.public_url,
        gateway_port=gateway_port,
        config=config,
    )
