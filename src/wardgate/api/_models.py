"""The API's request and response bodies (pydantic), so the OpenAPI document says what is sent."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wardgate.approvals import Review, Status, WaitMode

__all__ = [
    "ApproveBody",
    "CancelBody",
    "ErrorOut",
    "QuorumOut",
    "RejectBody",
    "ReviewList",
    "ReviewOut",
    "VerdictOut",
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
            verdicts=[
                VerdictOut(
                    approver=v.approver,
                    verdict=v.verdict,
                    reason=v.reason,
                    at=v.at,
                    via=v.via,
                    groups=list(v.groups),
                )
                for v in review.verdicts
            ],
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
