"""The grant routes: ask for a policy role for a while, and decide, list, show and revoke grants.

A request is checked against the policy in force (its ``access:`` entry for the role on the
connection) and recorded for the authenticated caller: the requester is always the caller, with
the caller's groups. Who may do what:

* **request**: anyone in the role's ``requesters`` groups, people, agents and services alike (an
  agent asks; people decide). **Break-glass** is for people in the role's ``break_glass`` groups
  only: an automated identity granting itself access with nobody deciding is what approvals
  exist to prevent.
* **approve, reject**: people in the grant's approver groups, never the requester. On approval
  the policy in force must still offer the role on that connection for that long.
* **revoke**: the requester (any kind: giving access back is always allowed), or a person in the
  grant's approver groups. Revoking a pending request withdraws it.

A grant is visible to its requester and to the members of its approver groups; to anyone else
it does not exist (404). Status codes follow the review routes: 403 the caller may not, 404 not
there or not theirs to see, 409 the grant's state forbids it, 422 malformed (no reason, longer
than the policy allows, a role the policy does not offer), 503 no policy to check against.

The rules are enforced again by `wardgate.approvals`; the checks here pick the status code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Query, Request

from wardgate.approvals import Approvals, Grant, GrantRequest, GrantStatus, ReviewError

from ._deps import Service, Via, Who, error_responses, wiring
from ._http import ApiError
from ._models import (
    ApproveBody,
    GrantList,
    GrantOut,
    GrantRejectBody,
    GrantRequestBody,
    RevokeBody,
)
from .auth import Principal

if TYPE_CHECKING:
    from wardgate.policy import Policy

__all__ = ["grant_visible", "grants_router"]

_SCAN = 1000  # grants considered per listing, newest first, before visibility is applied

grants_router = APIRouter(prefix="/v1", tags=["grants"], responses=error_responses("grant"))
GrantId = Annotated[str, Path(min_length=1, max_length=32)]


def grant_visible(grant: Grant, who: Principal) -> bool:
    """Whether ``who`` may see ``grant``: its requester, or a member of an approver group."""
    return who.name == grant.requester or bool(set(who.groups) & set(grant.approvers))


def _policy(request: Request) -> Policy:
    policy_of = wiring(request).policy_of
    if policy_of is None:
        raise ApiError(503, "this API was started without a policy: it cannot take grant requests")
    policy = policy_of()
    if policy is None:
        raise ApiError(503, "no policy is loaded: grants cannot be requested until one is")
    return policy


async def _shown(approvals: Approvals, grant_id: str, who: Principal) -> Grant:
    grant = await approvals.get_grant(grant_id)
    if grant is None or not grant_visible(grant, who):
        raise ApiError(404, f"grant {grant_id} does not exist or is not visible to you")
    return grant


async def _applied(change: Awaitable[Grant]) -> GrantOut:
    try:
        return GrantOut.of(await change)
    except ReviewError as exc:
        raise ApiError(409, str(exc)) from None


def _may_decide(grant: Grant, who: Principal) -> None:
    if who.kind != "human":
        raise ApiError(403, f"only people decide grants, not the {who.kind} {who.name}")
    if who.name == grant.requester:
        raise ApiError(403, "nobody may approve their own access")


@grants_router.post(
    "/grants",
    response_model=GrantOut,
    status_code=201,
    responses=error_responses("grant", (503, "No policy to check the request against.")),
)
async def request_grant(
    request: Request, approvals: Service, who: Who, body: GrantRequestBody
) -> GrantOut:
    """Ask for a role on a connection for a while, as the caller: pending until approved, or
    active at once with ``break_glass``."""
    spec = _policy(request).access_role(body.role, body.connection)
    if spec is None:
        raise ApiError(
            422, f"the policy offers no role {body.role!r} on connection {body.connection!r}"
        )
    if not body.reason.strip():
        raise ApiError(422, "a grant request needs a reason")
    groups, seconds = set(who.groups), body.seconds
    if body.break_glass:
        if who.kind != "human":
            raise ApiError(403, f"only people may break glass, not the {who.kind} {who.name}")
        if not groups & set(spec.break_glass):
            raise ApiError(403, f"{who.name} may not break glass for role {spec.role!r}")
        if seconds > spec.break_glass_max:
            raise ApiError(
                422, f"break-glass access to {spec.role!r} lasts at most {spec.break_glass_max}s"
            )
    else:
        if not groups & set(spec.requesters):
            raise ApiError(403, f"{who.name} may not request role {spec.role!r}")
        if seconds > spec.max_duration:
            raise ApiError(
                422, f"role {spec.role!r} may be granted for at most {spec.max_duration}s"
            )
    asked = GrantRequest(
        requester=who.name,
        groups=tuple(who.groups),
        connection=body.connection,
        role=body.role,
        duration=float(seconds),
        reason=body.reason,
        break_glass=body.break_glass,
    )
    try:
        return GrantOut.of(await approvals.request_grant(asked, spec))
    except ReviewError as exc:  # a rule of the model's this route does not know (yet)
        raise ApiError(403, str(exc)) from None


@grants_router.get("/grants", response_model=GrantList)
async def list_grants(
    approvals: Service,
    who: Who,
    status: Annotated[
        list[GrantStatus] | None,
        Query(description="Repeat for several: ?status=pending&status=active."),
    ] = None,
    requester: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> GrantList:
    """Grants the caller may see (their own, and those their groups approve), newest first."""
    wanted = set(status or ())
    # A grant lapses when it is read after its end, so the store may still hold an ended one as
    # active: "expired" (and several statuses at once) are decided here, on the current state.
    stored = next(iter(wanted)) if len(wanted) == 1 and "expired" not in wanted else None
    found = await approvals.grants(status=stored, requester=requester, limit=_SCAN)
    shown = [g for g in found if (not wanted or g.status in wanted) and grant_visible(g, who)]
    return GrantList(grants=[GrantOut.of(g) for g in shown[:limit]])


@grants_router.get("/grants/{grant_id}", response_model=GrantOut)
async def get_grant(approvals: Service, grant_id: GrantId, who: Who) -> GrantOut:
    """One grant, if the caller may see it."""
    return GrantOut.of(await _shown(approvals, grant_id, who))


@grants_router.post(
    "/grants/{grant_id}/approve",
    response_model=GrantOut,
    responses=error_responses("grant", (503, "No policy to check the grant against.")),
)
async def approve_grant(
    request: Request,
    approvals: Service,
    grant_id: GrantId,
    who: Who,
    by: Via,
    body: ApproveBody | None = None,
) -> GrantOut:
    """Approve as the caller; the grant is active, for its duration, once enough have."""
    grant = await _shown(approvals, grant_id, who)
    _may_decide(grant, who)
    # The policy may have changed since the request: approve only what it still offers.
    spec = _policy(request).access_role(grant.role, grant.connection)
    if spec is None:
        raise ApiError(
            409,
            f"the policy no longer offers role {grant.role!r} on connection {grant.connection!r}",
        )
    if grant.duration > spec.max_duration:
        raise ApiError(
            409, f"role {spec.role!r} may now be granted for at most {spec.max_duration}s"
        )
    reason = (body.reason or "") if body is not None else ""
    actor = dataclasses.replace(who, via=by)
    return await _applied(approvals.decide_grant(grant.id, actor, "approve", reason))


@grants_router.post("/grants/{grant_id}/reject", response_model=GrantOut)
async def reject_grant(
    approvals: Service, grant_id: GrantId, who: Who, by: Via, body: GrantRejectBody
) -> GrantOut:
    """Reject as the caller, with a reason: the access is not granted."""
    grant = await _shown(approvals, grant_id, who)
    _may_decide(grant, who)
    if not body.reason.strip():
        raise ApiError(422, "a rejection needs a reason")
    actor = dataclasses.replace(who, via=by)
    return await _applied(approvals.decide_grant(grant.id, actor, "reject", body.reason))


@grants_router.post("/grants/{grant_id}/revoke", response_model=GrantOut)
async def revoke_grant(
    approvals: Service, grant_id: GrantId, who: Who, by: Via, body: RevokeBody | None = None
) -> GrantOut:
    """End an active grant now, or withdraw a pending request: the requester, or an approver."""
    grant = await _shown(approvals, grant_id, who)
    if who.name != grant.requester and who.kind != "human":
        raise ApiError(403, f"only people revoke others' grants, not the {who.kind} {who.name}")
    reason = (body.reason or "") if body is not None else ""
    actor = dataclasses.replace(who, via=by)
    return await _applied(approvals.revoke_grant(grant.id, actor, reason))
