"""Just-in-time access: grants of a policy role for a while, as pure functions.

``wardgate access request --connection prod --role write --duration 30m --reason "..."`` creates a
pending grant; approvers named by the policy's ``access:`` entry for that role decide it like a
review (people only, no self-approval, their groups, a reason to reject), and an approval is
checked again against the policy in force (the role still offered there, for that long). An
active grant gives the policy the fact ``'<role>' in grant.roles`` until ``ends_at``; it lapses by
itself, can be revoked sooner (by its holder, or by a person who may approve it), and never lasts
longer than the policy's ``max_duration``. Break-glass: people in the role's ``break_glass`` groups
may grant it to themselves at once, for at most ``break_glass_max``; never agents or services,
since that is access with nobody deciding.

Refusals are the kinds of `ReviewError` in `_model`: `NotAllowed`, `Conflict`, `Invalid`.

States::

    pending --approve (enough)--> active --(ends_at)--> expired
       |  \\--reject--> rejected         \\--revoke--> revoked
       |   \\--cancel (requester)--> cancelled
       \\--(expires_at)--> expired
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ._model import Approver, Conflict, Invalid, NotAllowed, Verdict

__all__ = [
    "Grant",
    "GrantRequest",
    "GrantStatus",
    "decide_grant",
    "expire_grant",
    "new_grant",
    "revoke_grant",
]

GrantStatus = Literal["pending", "active", "rejected", "cancelled", "expired", "revoked"]
_PENDING_FOR = 24 * 3600.0  # an undecided request lapses after a day


class _AccessLike(Protocol):
    """What a grant needs of `wardgate.policy.AccessSpec` (structural; no import upward)."""

    @property
    def role(self) -> str: ...
    @property
    def requesters(self) -> tuple[str, ...]: ...
    @property
    def approvers(self) -> tuple[str, ...]: ...
    @property
    def approvals(self) -> int: ...
    @property
    def max_duration(self) -> int: ...
    @property
    def break_glass(self) -> tuple[str, ...]: ...
    @property
    def break_glass_max(self) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class GrantRequest:
    requester: str
    requester_kind: str = "human"  # human, agent, service: only people break glass
    groups: tuple[str, ...]
    connection: str
    role: str
    duration: float  # seconds
    reason: str
    break_glass: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    id: str
    requester: str
    connection: str
    role: str
    duration: float
    reason: str
    approvers: tuple[str, ...]
    approvals_needed: int
    created_at: float
    expires_at: float  # a pending request lapses then
    break_glass: bool = False
    status: GrantStatus = "pending"
    verdicts: tuple[Verdict, ...] = ()
    starts_at: float | None = None
    ends_at: float | None = None

    @property
    def approvals(self) -> int:
        return sum(1 for v in self.verdicts if v.verdict == "approve")

    def holds(self, now: float) -> bool:
        return self.status == "active" and self.ends_at is not None and now < self.ends_at

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Grant:
        data = dict(body)
        data["verdicts"] = tuple(
            Verdict(**{**v, "groups": tuple(v.get("groups", ()))}) for v in data.get("verdicts", ())
        )
        data["approvers"] = tuple(data.get("approvers", ()))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def new_grant(request: GrantRequest, spec: _AccessLike | None, now: float) -> Grant:
    """A grant request checked against the policy's access entry for the role (None: the
    policy offers no such role on that connection)."""
    if spec is None:
        raise Invalid(
            f"the policy offers no role {request.role!r} on connection {request.connection!r}"
        )
    reason = " ".join(request.reason.split())[:500]
    if not reason:
        raise Invalid("a grant request needs a reason")
    if request.duration <= 0:
        raise Invalid("a grant needs a positive duration")
    groups = set(request.groups)
    grant = Grant(
        id=f"gr-{secrets.token_hex(4)}",
        requester=request.requester,
        connection=request.connection,
        role=request.role,
        duration=request.duration,
        reason=reason,
        approvers=spec.approvers,
        approvals_needed=spec.approvals,
        created_at=now,
        expires_at=now + _PENDING_FOR,
        break_glass=request.break_glass,
    )
    if request.break_glass:
        if request.requester_kind != "human":
            # Access with nobody deciding: an automated identity must ask like everyone else.
            raise NotAllowed(
                f"only people may break glass, not the {request.requester_kind} {request.requester}"
            )
        if not groups & set(spec.break_glass):
            raise NotAllowed(f"{request.requester} may not break glass for role {spec.role!r}")
        if request.duration > spec.break_glass_max:
            raise Invalid(
                f"break-glass access to {spec.role!r} lasts at most {spec.break_glass_max}s"
            )
        return dataclasses.replace(
            grant, status="active", starts_at=now, ends_at=now + grant.duration
        )
    if not groups & set(spec.requesters):
        raise NotAllowed(f"{request.requester} may not request role {spec.role!r}")
    if request.duration > spec.max_duration:
        raise Invalid(f"role {spec.role!r} may be granted for at most {spec.max_duration}s")
    return grant


def expire_grant(grant: Grant, now: float) -> Grant:
    if grant.status == "pending" and now >= grant.expires_at:
        return dataclasses.replace(grant, status="expired")
    if grant.status == "active" and grant.ends_at is not None and now >= grant.ends_at:
        return dataclasses.replace(grant, status="expired")
    return grant


def decide_grant(
    grant: Grant,
    approver: Approver,
    verdict: Literal["approve", "reject"],
    reason: str,
    now: float,
    spec: _AccessLike | None,
) -> Grant:
    """A person's verdict on a pending grant. An approval is checked against ``spec``, the
    policy's access entry for the role on the connection *now* (None: the policy no longer
    offers it): a reload may have removed the role or shortened its maximum since the request.
    The approver groups and approvals needed stay those of the request."""
    grant = expire_grant(grant, now)
    if grant.status != "pending":
        raise Conflict(f"grant {grant.id} is {grant.status}: it can no longer be decided")
    if approver.kind != "human":
        raise NotAllowed(f"only people decide grants, not the {approver.kind} {approver.name}")
    if approver.name == grant.requester:
        raise NotAllowed("nobody may approve their own access")
    if not set(approver.groups) & set(grant.approvers):
        raise NotAllowed(f"{approver.name} is not in an approver group of grant {grant.id}")
    if any(v.approver == approver.name for v in grant.verdicts):
        raise Conflict(f"{approver.name} has already decided grant {grant.id}")
    reason = " ".join(reason.split())[:500]
    if verdict == "reject" and not reason:
        raise Invalid("a rejection needs a reason")
    if verdict == "approve":
        if spec is None:
            raise Conflict(
                f"the policy no longer offers role {grant.role!r}"
                f" on connection {grant.connection!r}"
            )
        if grant.duration > spec.max_duration:
            raise Conflict(
                f"role {spec.role!r} may now be granted for at most {spec.max_duration}s"
            )
    cast = Verdict(
        approver=approver.name,
        verdict=verdict,
        reason=reason,
        at=now,
        via=approver.via,
        groups=approver.groups,
    )
    verdicts = (*grant.verdicts, cast)
    if verdict == "reject":
        return dataclasses.replace(grant, verdicts=verdicts, status="rejected")
    if sum(1 for v in verdicts if v.verdict == "approve") >= grant.approvals_needed:
        # The clock starts at approval: the requester gets the whole duration they asked for.
        return dataclasses.replace(
            grant, verdicts=verdicts, status="active", starts_at=now, ends_at=now + grant.duration
        )
    return dataclasses.replace(grant, verdicts=verdicts)


def revoke_grant(grant: Grant, actor: Approver, reason: str, now: float) -> Grant:
    """End a grant early: its holder (of any kind: giving access back is always allowed), or a
    person who may approve it. Pending ones are cancelled."""
    grant = expire_grant(grant, now)
    if actor.name != grant.requester:
        if actor.kind != "human":
            raise NotAllowed(
                f"only people revoke others' grants, not the {actor.kind} {actor.name}"
            )
        if not set(actor.groups) & set(grant.approvers):
            raise NotAllowed(f"{actor.name} may not revoke grant {grant.id}")
    if grant.status not in ("pending", "active"):
        raise Conflict(f"grant {grant.id} is {grant.status}")
    cast = Verdict(
        approver=actor.name,
        verdict="cancel",
        reason=" ".join(reason.split())[:500],
        at=now,
        via=actor.via,
        groups=actor.groups,
    )
    status: GrantStatus = "cancelled" if grant.status == "pending" else "revoked"
    ends = now if status == "revoked" else grant.ends_at
    return dataclasses.replace(grant, verdicts=(*grant.verdicts, cast), status=status, ends_at=ends)
