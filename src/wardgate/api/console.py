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
import hmac
import secrets
import time
from collections.abc import Callable
from importlib import resources
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from wardgate.approvals import Approvals, Review, ReviewError

from ._deps import refusal, wiring
from ._visibility import visible
from .auth import AuthError, Principal

__all__ = ["ConsoleSessions", "console_router"]

SESSION_COOKIE = "wardgate_console"
IDLE_SECONDS = 30 * 60
MAX_SECONDS = 8 * 3600
MAX_SESSIONS = 10_000
STATUSES = ("pending", "approved", "executed", "rejected", "expired", "cancelled")
_MAX_FORM = 16 * 1024

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null` with forms.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# What a redirect after a verdict may say: fixed texts, so nothing is reflected from the URL.
_DONE = {
    "approve": "You approved this review.",
    "reject": "You rejected this review.",
    "cancel": "You withdrew this request.",
}

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("wardgate.api", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


@dataclasses.dataclass
class _Session:
    credential: str
    csrf: str
    created: float
    seen: float


class ConsoleSessions:
    """Signed-in browsers: random id -> credential, in memory, bounded and expiring."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._by_id: dict[str, _Session] = {}

    def open(self, credential: str) -> tuple[str, _Session]:
        now = self._clock()
        if len(self._by_id) >= MAX_SESSIONS:
            self._sweep(now)
            while len(self._by_id) >= MAX_SESSIONS:
                del self._by_id[next(iter(self._by_id))]  # the oldest
        sid = secrets.token_urlsafe(32)
        session = _Session(credential, secrets.token_urlsafe(32), now, now)
        self._by_id[sid] = session
        return sid, session

    def get(self, sid: str | None) -> _Session | None:
        session = self._by_id.get(sid) if sid else None
        if session is None:
            return None
        now = self._clock()
        if now - session.seen > IDLE_SECONDS or now - session.created > MAX_SECONDS:
            self.close(sid)
            return None
        session.seen = now
        return session

    def close(self, sid: str | None) -> None:
        if sid:
            self._by_id.pop(sid, None)

    def __len__(self) -> int:
        return len(self._by_id)

    def _sweep(self, now: float) -> None:
        for sid, s in list(self._by_id.items()):
            if now - s.seen > IDLE_SECONDS or now - s.created > MAX_SECONDS:
                del self._by_id[sid]


def sessions_of(request: Request) -> ConsoleSessions:
    state = request.app.state
    found: ConsoleSessions | None = getattr(state, "console_sessions", None)
    if found is None:
        found = state.console_sessions = ConsoleSessions()
    return found


console_router = APIRouter(prefix="/console", include_in_schema=False)


def _page(name: str, code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("who", None)
    context.setdefault("csrf", "")
    context.setdefault("error", None)
    context.setdefault("notice", None)
    html = _templates.get_template(name).render(ago=_ago, when=_when, **context)
    return HTMLResponse(html, status_code=code, headers=_HEADERS)


def _to(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=_HEADERS)


def _to_login(request: Request, error: str | None = None) -> Response:
    if error:
        response: Response = _page("login.html", 401, error=error)
    else:
        response = _to("/console/login")
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


async def _signed_in(request: Request) -> tuple[Principal, _Session] | Response:
    """The signed-in person, with their credential checked again; else the way to sign in."""
    sessions = sessions_of(request)
    sid = request.cookies.get(SESSION_COOKIE)
    session = sessions.get(sid)
    if session is None:
        return _to_login(request)
    try:
        who = await wiring(request).authenticate(session.credential)
    except AuthError as exc:
        sessions.close(sid)
        return _to_login(request, f"Signed out: {exc}.")
    return who, session


async def _form(request: Request, session: _Session | None) -> dict[str, str] | Response:
    """The posted form, if it comes from this site and carries the session's CSRF token."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
        return _page("login.html", 403, error="This request came from another site.")
    body = await request.body()
    if len(body) > _MAX_FORM:
        return _page("login.html", 413, error="The form is too large.")
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if session is not None and not hmac.compare_digest(fields.get("csrf", ""), session.csrf):
        return _page("login.html", 403, error="The form has expired; open the page again.")
    return fields


@console_router.get("")
async def console_home() -> Response:
    return _to("/console/reviews")


@console_router.get("/static/console.css")
async def console_css() -> Response:
    css = resources.files("wardgate.api").joinpath("static/console.css").read_text()
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@console_router.get("/login")
async def login_page() -> Response:
    return _page("login.html")


@console_router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request, None)
    if isinstance(form, Response):
        return form
    wired = wiring(request)
    source = request.client.host if request.client else "?"
    bucket = f"(api) {source}"  # the API's bucket: guessing on either counts on both
    if not wired.limiter.allows(source, bucket):
        return _page("login.html", 429, error="Too many failed sign-ins; try again later.")
    credential = form.get("credential", "").strip()
    try:
        await wired.authenticate(credential)
    except AuthError as exc:
        wired.limiter.failed(source, bucket)
        return _page("login.html", 401, error=f"Not signed in: {exc}.")
    sid, _ = sessions_of(request).open(credential)
    response = _to("/console/reviews")
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        max_age=MAX_SECONDS,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@console_router.post("/logout")
async def logout(request: Request) -> Response:
    sessions = sessions_of(request)
    sid = request.cookies.get(SESSION_COOKIE)
    form = await _form(request, sessions.get(sid))
    if isinstance(form, Response):
        return form
    sessions.close(sid)
    return _to_login(request)


@console_router.get("/reviews")
async def reviews_page(request: Request, status: str = "pending") -> Response:
    found = await _signed_in(request)
    if isinstance(found, Response):
        return found
    who, session = found
    if status not in STATUSES:
        status = "pending"
    approvals: Approvals = wiring(request).approvals
    stored = None if status == "expired" else status
    listed = await approvals.listing(status=stored, limit=1000)
    shown = [r for r in listed if r.status == status and visible(r, who)][:200]
    return _page(
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
    found = await _signed_in(request)
    if isinstance(found, Response):
        return found
    who, session = found
    review = await _review(request, review_id, who)
    if review is None:
        return _page("reviews.html", 404, who=who, csrf=session.csrf, reviews=[],
                     status="pending", statuses=STATUSES,
                     error="No such review, or none you can see.")  # fmt: skip
    return _page("review.html", who=who, csrf=session.csrf, r=review, notice=_DONE.get(done))


@console_router.post("/reviews/{review_id}/{action}")
async def review_action(request: Request, review_id: str, action: str) -> Response:
    found = await _signed_in(request)
    if isinstance(found, Response):
        return found
    who, session = found
    form = await _form(request, session)
    if isinstance(form, Response):
        return form
    review = await _review(request, review_id, who)
    if review is None or action not in _DONE:
        return _page("reviews.html", 404, who=who, csrf=session.csrf, reviews=[],
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
        return _page("review.html", code, who=who, csrf=session.csrf, r=fresh, error=str(exc))
    return _to(f"/console/reviews/{review.id}?done={action}")


def _ago(ts: float) -> str:
    seconds = max(0, int(time.time() - ts))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
