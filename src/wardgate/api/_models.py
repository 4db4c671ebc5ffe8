"""The API's request and response bodies (pydantic), so the OpenAPI document says what is sent."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from wardgate.approvals import Grant, GrantStatus, Review, Status, Verdict, WaitMode

__all__ = [
    "ApproveBody",
    "CancelBody",
    "ErrorOut",
    "GrantList",
    "GrantOut",
    "GrantRejectBody",
    "GrantRequestBody",
    "QuorumOut",
    "RejectBody",
    "ReviewList",
    "ReviewOut",
    "RevokeBody",
    "VerdictOut",
    "parse_duration",
]

_REASON = 500  # the model clips reasons to this many characters; longer ones are refused here


class ErrorOut(BaseModel):
    error: str = Field(description="Why the request was refused, for the person who sent it.")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApproveBody(_Body):
    reason: str | None = Field(default=None, max_length=_REASON)


class RejectBody(_Body):
    reason: str = Field(max_length=_REASON, description="Required: why the statement may not run.")


class CancelBody(_Body):
    reason: str | None = Field(default=None, max_length=_REASON)


class VerdictOut(BaseModel):
    approver: str
    verdict: Literal["approve", "reject", "cancel"]
    reason: str
    at: float = Field(description="Unix time.")
    via: str = Field(description="Where it was given: api, cli, console, slack...")
    groups: list[str] = Field(description="The approver's groups when they decided.")

    @classmethod
    def all(cls, verdicts: Iterable[Verdict]) -> list[VerdictOut]:
        return [
            cls(
                approver=v.approver,
                verdict=v.verdict,
                reason=v.reason,
                at=v.at,
                via=v.via,
                groups=list(v.groups),
            )
            for v in verdicts
        ]


class QuorumOut(BaseModel):
    groups: list[str]
    approvals: int = Field(description="Approvals needed from members of these groups.")


class ReviewOut(BaseModel):
    """One review: the exact statement held, who asked, who may decide, and what happened."""

    id: str
    status: Status
    requester: str
    requester_kind: str
    on_behalf_of: str | None = Field(description="The person an agent acts for.")
    connection: str
    statement: str = Field(description="The exact statement text the approval is bound to.")
    parameters: list[str | None] = Field(description="Its bind parameters, in text form.")
    binding: str = Field(description="SHA-256 of requester, connection, statement, parameters.")
    rules: list[str] = Field(description="The policy rules that asked for the review.")
    policy_version: str
    approvers: list[str] = Field(description="Approver groups; one member's verdict counts once.")
    approvals_needed: int
    approvals: int
    quorum: list[QuorumOut] = Field(
        description="When several review rules matched: each one's groups and approvals."
    )
    verdicts: list[VerdictOut]
    reason: str | None = Field(description="The requester's stated reason.")
    preview: str | None = Field(description="What the gateway found the statement would do.")
    wait: WaitMode
    session_id: str | None
    created_at: float
    expires_at: float = Field(description="A pending review lapses at this Unix time.")
    decided_at: float | None
    executed_at: float | None
    grant_ttl: float = Field(description="Seconds an approved review may still run.")
    grant_expires_at: float | None

    @classmethod
    def of(cls, review: Review) -> ReviewOut:
        return cls(
            id=review.id,
            status=review.status,
            requester=review.requester,
            requester_kind=review.requester_kind,
            on_behalf_of=review.on_behalf_of,
            connection=review.connection,
            statement=review.statement,
            parameters=list(review.parameters),
            binding=review.binding,
            rules=list(review.rules),
            policy_version=review.policy_version,
            approvers=list(review.approvers),
            approvals_needed=review.approvals_needed,
            approvals=review.approvals,
            verdicts=VerdictOut.all(review.verdicts),
            quorum=[QuorumOut(groups=list(g), approvals=n) for g, n in review.quorum],
            reason=review.reason,
            preview=review.preview,
            wait=review.wait,
            session_id=review.session_id,
            created_at=review.created_at,
            expires_at=review.expires_at,
            decided_at=review.decided_at,
            executed_at=review.executed_at,
            grant_ttl=review.grant_ttl,
            grant_expires_at=review.grant_expires_at,
        )


class ReviewList(BaseModel):
    reviews: list[ReviewOut]


# --- just-in-time grants ------------------------------------------------------------------------

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNIT = (86400, 3600, 60, 1)


def parse_duration(text: str) -> int:
    """Seconds in ``30m``, ``2h``, ``900s``, ``1h30m``, ``1d`` or plain ``900``."""
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"not a duration: {text!r} (e.g. 30m, 2h, 900s, 1h30m)")
    return sum(int(n) * unit for n, unit in zip(match.groups(), _UNIT, strict=True) if n)


class GrantRequestBody(_Body):
    connection: str = Field(min_length=1, max_length=256, description="The connection's name.")
    role: str = Field(min_length=1, max_length=256, description="A role the policy offers.")
    duration: StrictInt | str = Field(
        description="How long, counted from approval: seconds, or text such as 30m, 2h, 1h30m.",
        examples=["30m", 1800],
    )
    reason: str = Field(max_length=_REASON, description="Required: why the access is needed.")
    break_glass: bool = Field(
        default=False,
        description="Active at once, without approval (members of the role's break_glass groups).",
    )

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: int | str) -> int | str:
        seconds = parse_duration(value) if isinstance(value, str) else value
        if seconds <= 0:
            raise ValueError("a grant needs a positive duration")
        return value

    @property
    def seconds(self) -> int:
        duration = self.duration
        return parse_duration(duration) if isinstance(duration, str) else duration


class GrantRejectBody(_Body):
    reason: str = Field(max_length=_REASON, description="Required: why the access is refused.")


class RevokeBody(_Body):
    reason: str | None = Field(default=None, max_length=_REASON)


class GrantOut(BaseModel):
    """One grant: who asked for which role where, for how long, who decides, what happened."""

    id: str
    status: GrantStatus = Field(description="Its state now: an ended grant is expired.")
    requester: str
    connection: str
    role: str
    duration: float = Field(description="Seconds asked for, counted from approval.")
    reason: str = Field(description="The requester's reason.")
    break_glass: bool = Field(description="Granted by the requester to themselves, at once.")
    approvers: list[str] = Field(description="Approver groups; one member's verdict counts once.")
    approvals_needed: int
    approvals: int
    verdicts: list[VerdictOut] = Field(description="Approvals, rejections and revocations.")
    created_at: float
    expires_at: float = Field(description="A pending request lapses at this Unix time.")
    starts_at: float | None = Field(description="When it came into force (approval).")
    ends_at: float | None = Field(description="When it ends, or ended.")

    @classmethod
    def of(cls, grant: Grant) -> GrantOut:
        return cls(
            id=grant.id,
            status=grant.status,
            requester=grant.requester,
            connection=grant.connection,
            role=grant.role,
            duration=grant.duration,
            reason=grant.reason,
            break_glass=grant.break_glass,
            approvers=list(grant.approvers),
            approvals_needed=grant.approvals_needed,
            approvals=grant.approvals,
            verdicts=VerdictOut.all(grant.verdicts),
            created_at=grant.created_at,
            expires_at=grant.expires_at,
            starts_at=grant.starts_at,
            ends_at=grant.ends_at,
        )


class GrantList(BaseModel):
    grants: list[GrantOut]
