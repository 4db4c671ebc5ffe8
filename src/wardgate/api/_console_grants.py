"""The console's access pages: ask for a role for a while, and approve, reject or revoke
grants. The same calls as the grant routes of the API (`grants`): the request is checked
against the policy in force, an approval against the policy in force *now*, and every rule
about who may decide is `wardgate.approvals`'s."""

from __future__ import annotations

import dataclasses
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wardgate.approvals import Approvals, Grant, GrantRequest, ReviewError

from ._console_web import page, see_other, signed_in, signed_in_posting
from ._deps import refusal, wiring
from ._models import parse_duration
from .auth import Principal
from .grants import grant_visible

__all__ = ["grant_pages"]

GRANT_STATUSES = ("pending", "active", "rejected", "cancelled", "expired", "revoked")
_DONE = {
    "approve": "You approved this grant.",
    "reject": "You rejected this grant.",
    "revoke": "The grant was revoked.",
    "requested": "Your request was recorded.",
}

grant_pages = APIRouter(include_in_schema=False)


def _roles_for(request: Request, who: Principal) -> list[tuple[str, str, str]]:
    """(role, connections, description) the policy offers to the person's groups."""
    policy_of = wiring(request).policy_of
    policy = policy_of() if policy_of is not None else None
    if policy is None:
        return []
    mine = set(who.groups)
    return [
        (s.role, ", ".join(s.connections), s.description)
        for s in policy.access
        if mine & set(s.requesters) or mine & set(s.break_glass)
    ]


async def _listing(
    request: Request,
    status: str,
    *,
    code: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    found = await signed_in(request)
    if isinstance(found, Response):
        return found
    who, session = found
    if status not in GRANT_STATUSES:
        status = "pending"
    approvals: Approvals = wiring(request).approvals
    stored = None if status == "expired" else status
    listed = await approvals.grants(status=stored, limit=1000)
    shown = [g for g in listed if g.status == status and grant_visible(g, who)][:200]
    return page(
        "grants.html",
        code,
        who=who,
        csrf=session.csrf,
        grants=shown,
        status=status,
        statuses=GRANT_STATUSES,
        roles=_roles_for(request, who),
        error=error,
        notice=notice,
    )


@grant_pages.get("/grants")
async def grants_page(request: Request, status: str = "pending", done: str = "") -> Response:
    return await _listing(request, status, notice=_DONE.get(done))


@grant_pages.post("/grants")
async def ask_for_access(request: Request) -> Response:
    posted = await signed_in_posting(request)
    if isinstance(posted, Response):
        return posted
    who, _, form = posted
    policy_of = wiring(request).policy_of
    policy = policy_of() if policy_of is not None else None
    if policy is None:
        return await _listing(request, "pending", code=503, error="No policy is loaded.")
    role, connection = form.get("role", "").strip(), form.get("connection", "").strip()
    try:
        seconds = parse_duration(form.get("duration", "").strip())
    except ValueError as exc:
        return await _listing(request, "pending", code=422, error=str(exc))
    asked = GrantRequest(
        requester=who.name,
        requester_kind=who.kind,
        groups=tuple(who.groups),
        connection=connection[:256],
        role=role[:256],
        duration=float(seconds),
        reason=form.get("reason", "").strip()[:500],
        break_glass=form.get("break_glass") == "on",
    )
    try:
        grant = await wiring(request).approvals.request_grant(
            asked, policy.access_role(asked.role, asked.connection)
        )
    except ReviewError as exc:
        return await _listing(request, "pending", code=refusal(exc).status, error=str(exc))
    return see_other(f"/console/grants/{grant.id}?done=requested")


async def _grant(request: Request, grant_id: str, who: Principal) -> Grant | None:
    grant = await wiring(request).approvals.get_grant(grant_id[:64])
    return grant if grant is not None and grant_visible(grant, who) else None


@grant_pages.get("/grants/{grant_id}")
async def grant_page(request: Request, grant_id: str, done: str = "") -> Response:
    found = await signed_in(request)
    if isinstance(found, Response):
        return found
    who, session = found
    grant = await _grant(request, grant_id, who)
    if grant is None:
        return await _listing(
            request, "pending", code=404, error="No such grant, or none you can see."
        )
    return page("grant.html", who=who, csrf=session.csrf, g=grant, notice=_DONE.get(done))


@grant_pages.post("/grants/{grant_id}/{action}")
async def grant_action(request: Request, grant_id: str, action: str) -> Response:
    posted = await signed_in_posting(request)
    if isinstance(posted, Response):
        return posted
    who, session, form = posted
    grant = await _grant(request, grant_id, who)
    if grant is None or action not in ("approve", "reject", "revoke"):
        return await _listing(
            request, "pending", code=404, error="No such grant, or none you can see."
        )
    approvals: Approvals = wiring(request).approvals
    reason = form.get("reason", "").strip()[:500]
    actor = dataclasses.replace(who, via="console")
    try:
        if action == "revoke":
            await approvals.revoke_grant(grant.id, actor, reason)
        elif action == "reject":
            await approvals.decide_grant(grant.id, actor, "reject", reason, spec=None)
        else:
            policy_of = wiring(request).policy_of
            policy = policy_of() if policy_of is not None else None
            if policy is None:
                why = "No policy is loaded: grants cannot be approved now."
                return page("grant.html", 503, who=who, csrf=session.csrf, g=grant, error=why)
            spec = policy.access_role(grant.role, grant.connection)
            verdict: Literal["approve"] = "approve"
            await approvals.decide_grant(grant.id, actor, verdict, reason, spec=spec)
    except ReviewError as exc:
        fresh = await approvals.get_grant(grant.id) or grant
        code = refusal(exc).status
        return page("grant.html", code, who=who, csrf=session.csrf, g=fresh, error=str(exc))
    return see_other(f"/console/grants/{grant.id}?done={action}")
