"""The web console: reviewers see the reviews they may decide and decide them in a browser.

Server-rendered pages (Jinja2, autoescaped) with plain HTML forms: no script runs in the page,
so the Content-Security-Policy allows none, and nothing is loaded from elsewhere. The console
composes the same pieces as the REST API -- its authenticator, its sign-in limiter, its
visibility rule, and `wardgate.approvals`, where every rule about who may decide lives -- so a
verdict given here is the same verdict, recorded with ``via: console``.

Sessions. A person signs in with a gateway credential (what ``wardgate login`` or ``wardgate
token issue`` printed). The credential stays on the server, in memory, under a random session
id; the browser holds only the id, in an HttpOnly, SameSite=Strict cookie (Secure over TLS).
The credential is checked again on every page, so expiry and revocation end a session at once.
Sessions also end after 30 minutes idle or 8 hours, and on sign-out; a restart of the gateway
signs everyone out (sessions are not shared between gateways either: sign in to each).

Forgery. Every form carries the session's CSRF token (compared in constant time), and a
request whose Origin header names another site is refused, on top of the SameSite cookie.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wardgate.approvals import Approvals, Review, ReviewError

from ._console_grants import grant_pages
from ._console_oidc import oidc_pages
from ._console_web import (
    MAX_SECONDS,
    SESSION_COOKIE,
    ConsoleSessions,
    oidc_available,
    page,
    posted_form,
    secure_cookies,
    see_other,
    sessions_of,
    signed_in,
    signed_in_posting,
    to_login,
)
from ._deps import refusal, report_failure, wiring
from ._visibility import visible
from .auth import AuthError, Principal

__all__ = ["ConsoleSessions", "console_router"]

STATUSES = ("pending", "approved", "executed", "rejected", "expired", "cancelled")
# What a redirect after a verdict may say: fixed texts, so nothing is reflected from the URL.
_DONE = {
    "approve": "You approved this review.",
    "reject": "You rejected this review.",
    "cancel": "You withdrew this request.",
}

console_router = APIRouter(prefix="/console", include_in_schema=False)


@console_router.get("")
async def console_home() -> Response:
    return see_other("/console/reviews")


@console_router.get("/static/console.css")
async def console_css() -> Response:
    css = resources.files("wardgate.api").joinpath("static/console.css").read_text()
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@console_router.get("/login")
async def login_page(request: Request) -> Response:
    return page("login.html", oidc=oidc_available(request))


@console_router.post("/login")
async def login(request: Request) -> Response:
    form = await posted_form(request, None)
    if isinstance(form, Response):
        return form
    wired = wiring(request)
    source = request.client.host if request.client else "?"
    bucket = f"(api) {source}"  # the API's bucket: guessing on either counts on both
    if not wired.limiter.allows(source, bucket):
        attempts = wired.limiter.refused(source, bucket)
        if attempts:
            report_failure(request, "", "console", "rate_limited", "too many failed sign-ins",
                           attempts)  # fmt: skip
        why = "Too many failed sign-ins; try again later."
        return page("login.html", 429, error=why, oidc=oidc_available(request))
    credential = form.get("credential", "").strip()
    try:
        who = await wired.authenticate(credential)
    except AuthError as exc:
        wired.limiter.failed(source, bucket)
        report_failure(request, "", "console", "invalid_credential", str(exc))
        why = f"Not signed in: {exc}."
        return page("login.html", 401, error=why, oidc=oidc_available(request))
    sid, _ = sessions_of(request).open(who.name, credential)
    response = see_other("/console/reviews")
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        max_age=MAX_SECONDS,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


@console_router.post("/logout")
async def logout(request: Request) -> Response:
    sessions = sessions_of(request)
    sid = request.cookies.get(SESSION_COOKIE)
    form = await posted_form(request, sessions.get(sid))
    if isinstance(form, Response):
        return form
    sessions.close(sid)
    return to_login(request)


@console_router.get("/reviews")
async def reviews_page(request: Request, status: str = "pending") -> Response:
    found = await signed_in(request)
    if isinstance(found, Response):
        return found
    who, session = found
    if status not in STATUSES:
        status = "pending"
    approvals: Approvals = wiring(request).approvals
    stored = None if status == "expired" else status
    listed = await approvals.listing(status=stored, limit=1000)
    shown = [r for r in listed if r.status == status and visible(r, who)][:200]
    return page(
        "reviews.html",
        who=who,
        csrf=session.csrf,
        reviews=shown,
        status=status,
        statuses=STATUSES,
    )


async def _review(request: Request, review_id: str, who: Principal) -> Review | None:
    review = await wiring(request).approvals.get(review_id[:64])
    return review if review is not None and visible(review, who) else None


@console_router.get("/reviews/{review_id}")
async def review_page(request: Request, review_id: str, done: str = "") -> Response:
    found = await signed_in(request)
    if isinstance(found, Response):
        return found
    who, session = found
    review = await _review(request, review_id, who)
    if review is None:
        return page("reviews.html", 404, who=who, csrf=session.csrf, reviews=[],
                     status="pending", statuses=STATUSES,
                     error="No such review, or none you can see.")  # fmt: skip
    return page("review.html", who=who, csrf=session.csrf, r=review, notice=_DONE.get(done))


@console_router.post("/reviews/{review_id}/{action}")
async def review_action(request: Request, review_id: str, action: str) -> Response:
    posted = await signed_in_posting(request)
    if isinstance(posted, Response):
        return posted
    who, session, form = posted
    review = await _review(request, review_id, who)
    if review is None or action not in _DONE:
        return page("reviews.html", 404, who=who, csrf=session.csrf, reviews=[],
                     status="pending", statuses=STATUSES,
                     error="No such review, or none you can see.")  # fmt: skip
    approvals: Approvals = wiring(request).approvals
    reason = form.get("reason", "").strip()[:500]
    actor = dataclasses.replace(who, via="console")
    try:
        if action == "cancel":
            await approvals.cancel(review.id, who.name, reason, via="console")
        else:
            verdict: Literal["approve", "reject"] = "approve" if action == "approve" else "reject"
            await approvals.decide(review.id, actor, verdict, reason)
    except ReviewError as exc:
        fresh = await approvals.get(review.id) or review
        code = refusal(exc).status
        return page("review.html", code, who=who, csrf=session.csrf, r=fresh, error=str(exc))
    return see_other(f"/console/reviews/{review.id}?done={action}")


console_router.include_router(grant_pages)
console_router.include_router(oidc_pages)
