"""The grant routes: ask for a policy role for a while, and decide, list, show and revoke grants.

A request is checked against the policy in force (its ``access:`` entry for the role on the
connection) and recorded for the authenticated caller: the requester is always the caller, with
the caller's groups and kind. Who may do what (the rules are `wardgate.approvals`'s, enforced
there and only there; summarised here):

* **request**: anyone in the role's ``requesters`` groups, people, agents and services alike (an
  agent asks; people decide). **Break-glass** is for people in the role's ``break_glass`` groups
  only: an automated identity granting itself access with nobody deciding is what approvals
  exist to prevent.
* **approve, reject**: people in the grant's approver groups, never the requester. On approval
  the policy in force must still offer the role on that connection for that long.
* **revoke**: the requester (any kind: giving access back is always allowed), or a person in the
  grant's approver groups. Revoking a pending request withdraws it.

A grant is visible to its requester and to the members of its approver groups; to anyone else
it does not exist (404). The routes look up the policy in force (503 without one) and hand it to
`Approvals`, whose refusals are answered by their kind as for reviews: 403 the caller may not
(`NotAllowed`), 409 the grant's state forbids it (`Conflict`, including an approval the policy in
force no longer allows), 422 malformed (`Invalid`: no reason, longer than the policy allows, a
role the policy does not offer).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Query, Request

from wardgate.approvals import Approvals, Grant, GrantRequest, GrantStatus

from ._deps import Service, Via, Who, applied, error_responses, wiring
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
    asked = GrantRequest(
        requester=who.name,
        requester_kind=who.kind,
        groups=tuple(who.groups),
        connection=body.connection,
        role=body.role,
        duration=float(body.seconds),
        reason=body.reason,
        break_glass=body.break_glass,
    )
    return GrantOut.of(await applied(approvals.request_grant(asked, spec)))


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
    # The policy may have changed since the request: the model approves only what it still offers.
    spec = _policy(request).access_role(grant.role, grant.connection)
    reason = (body.reason or "") if body is not None else ""
    actor = dataclasses.replace(who, via=by)
    decided = approvals.decide_grant(grant.id, actor, "approve", reason, spec=spec)
    return GrantOut.of(await applied(decided))


@grants_router.post("/grants/{grant_id}/reject", response_model=GrantOut)
async def reject_grant(
    approvals: Service, grant_id: GrantId, who: Who, by: Via, body: GrantRejectBody
) -> GrantOut:
    """Reject as the caller, with a reason: the access is not granted."""
    grant = await _shown(approvals, grant_id, who)
    actor = dataclasses.replace(who, via=by)
    return GrantOut.of(
        # A rejection is not checked against the policy (withdrawing a role refuses nothing).
        await applied(approvals.decide_grant(grant.id, actor, "reject", body.reason, spec=None))
    )


@grants_router.post("/grants/{grant_id}/revoke", response_model=GrantOut)
async def revoke_grant(
    approvals: Service, grant_id: GrantId, who: Who, by: Via, body: RevokeBody | None = None
) -> GrantOut:
    """End an active grant now, or withdraw a pending request: the requester, or an approver."""
    grant = await _shown(approvals, grant_id, who)
    reason = (body.reason or "") if body is not None else ""
    actor = dataclasses.replace(who, via=by)
    return GrantOut.of(await applied(approvals.revoke_grant(grant.id, actor, reason)))
