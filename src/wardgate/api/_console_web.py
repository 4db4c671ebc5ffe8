"""What every console page shares: sessions, forms, rendering, and the headers that keep
script out. See `console` for what the console is and how sessions and forgery are handled."""

from __future__ import annotations

import dataclasses
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from wardgate.printable import printable

from ._deps import wiring
from .auth import AuthError, Principal

__all__ = [
    "SESSION_COOKIE",
    "ConsoleSessions",
    "Session",
    "oidc_available",
    "page",
    "posted_form",
    "secure_cookies",
    "see_other",
    "sessions_of",
    "signed_in",
    "signed_in_posting",
    "to_login",
]

SESSION_COOKIE = "wardgate_console"
IDLE_SECONDS = 30 * 60
MAX_SECONDS = 8 * 3600
MAX_SESSIONS = 10_000
MAX_SESSIONS_EACH = 20
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

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("wardgate.api", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def shown_literally(text: object) -> str:
    """Text a requester wrote, as `printable` shows it, newlines and tabs kept."""
    return printable(text, keep="\n\t")


_templates.filters["literal"] = shown_literally


@dataclasses.dataclass
class Session:
    owner: str  # who signed in: sessions are capped per person
    credential: str
    csrf: str
    created: float
    seen: float


class ConsoleSessions:
    """Signed-in browsers: random id -> credential, in memory, bounded and expiring."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._by_id: dict[str, Session] = {}

    def open(self, owner: str, credential: str) -> tuple[str, Session]:
        """A new session for ``owner``. One person's sessions are capped (their oldest goes),
        so nobody with a valid credential can push everyone else's sessions out by signing in
        over and over; the total is capped too, expired sessions going first."""
        now = self._clock()
        mine = [sid for sid, s in self._by_id.items() if s.owner == owner]
        for sid in mine[: max(0, len(mine) - MAX_SESSIONS_EACH + 1)]:
            del self._by_id[sid]
        if len(self._by_id) >= MAX_SESSIONS:
            self._sweep(now)
            while len(self._by_id) >= MAX_SESSIONS:
                del self._by_id[next(iter(self._by_id))]  # the oldest
        sid = secrets.token_urlsafe(32)
        session = Session(owner, credential, secrets.token_urlsafe(32), now, now)
        self._by_id[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
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


def secure_cookies(request: Request) -> bool:
    """Whether cookies get ``Secure``: over TLS, or when people reach the API over https (a TLS
    proxy in front of a loopback gateway: the request here is plain http, the browser's not)."""
    public = wiring(request).public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def oidc_available(request: Request) -> bool:
    """Whether the login page offers signing in through the identity provider."""
    services = wiring(request).identity
    return services is not None and services.config.auth.oidc is not None


def page(name: str, code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("who", None)
    context.setdefault("csrf", "")
    context.setdefault("error", None)
    context.setdefault("notice", None)
    context.setdefault("oidc", False)
    html = _templates.get_template(name).render(ago=_ago, when=_when, **context)
    return HTMLResponse(html, status_code=code, headers=_HEADERS)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=_HEADERS)


def to_login(request: Request, error: str | None = None) -> Response:
    if error:
        response: Response = page("login.html", 401, error=error, oidc=oidc_available(request))
    else:
        response = see_other("/console/login")
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


async def signed_in(request: Request) -> tuple[Principal, Session] | Response:
    """The signed-in person, with their credential checked again; else the way to sign in."""
    sessions = sessions_of(request)
    sid = request.cookies.get(SESSION_COOKIE)
    session = sessions.get(sid)
    if session is None:
        return to_login(request)
    try:
        who = await wiring(request).authenticate(session.credential)
    except AuthError as exc:
        sessions.close(sid)
        return to_login(request, f"Signed out: {exc}.")
    return who, session


async def posted_form(request: Request, session: Session | None) -> dict[str, str] | Response:
    """The posted form, if it comes from this site and carries the session's CSRF token."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
        return page("login.html", 403, error="This request came from another site.")
    body = await request.body()
    if len(body) > _MAX_FORM:
        return page("login.html", 413, error="The form is too large.")
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    token = fields.get("csrf", "").encode()
    if session is not None and not hmac.compare_digest(token, session.csrf.encode()):
        return page("login.html", 403, error="The form has expired; open the page again.")
    return fields


async def signed_in_posting(
    request: Request,
) -> tuple[Principal, Session, dict[str, str]] | Response:
    """A state-changing POST: the signed-in person, their session and the form, once the form
    has passed the origin and CSRF checks; else the page to answer with."""
    found = await signed_in(request)
    if isinstance(found, Response):
        return found
    who, session = found
    form = await posted_form(request, session)
    if isinstance(form, Response):
        return form
    return who, session, form


def _ago(ts: float) -> str:
    seconds = max(0, int(time.time() - ts))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
