"""Reviews of single statements: the record and its state machine, as pure functions.

A review is created when policy says ``review``; it names one exact statement (text and
parameters), one connection and one requester, and its ``binding`` is a digest of exactly those.
The gateway lets a statement run on a review only when the binding it computes for the statement
in hand equals the review's: an approval for one DELETE can never carry a different one through.

States::

    pending --approve (enough approvals)--> approved --consume--> executed
       |  \\--reject (with a reason)--> rejected
       |   \\--cancel (requester only)--> cancelled
       \\--(past expires_at)--> expired        approved --(past grant_expires_at)--> expired

Every transition here returns a new `Review` or raises a `ReviewError` with a message fit for the
person who asked; the store applies transitions with compare-and-set, so two gateways or two
approvers racing cannot both win.

Refusals come in kinds, so that every channel (the REST API, Slack, the CLI through the API) can
answer alike without knowing the rules: `NotAllowed` (this actor may not do this: deciding their
own statement, outside the approver groups, an agent or service deciding, cancelling someone
else's review), `Conflict` (the state forbids it: no longer pending, already voted, a different
statement, changing too fast), `Invalid` (the request is malformed: a rejection without a
reason), `NotFound` (no such review). The rules live here and in `_grants`, nowhere else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "Approver",
    "Conflict",
    "Invalid",
    "NotAllowed",
    "NotFound",
    "Review",
    "ReviewError",
    "ReviewRequest",
    "Status",
    "Verdict",
    "WaitMode",
    "binding_of",
    "cancel",
    "check_judge",
    "consume",
    "expire",
    "judge",
    "new_review",
    "requester_reason",
]

Status = Literal["pending", "approved", "rejected", "cancelled", "expired", "executed"]
WaitMode = Literal["hold", "retry"]
FINAL: frozenset[str] = frozenset({"rejected", "cancelled", "expired", "executed"})
_MAX_REASON = 500


class ReviewError(Exception):
    """A transition that is not allowed; the message says why, for the person who tried.

    Raised only as one of its kinds below; catch the base to refuse whatever the reason."""


class NotAllowed(ReviewError):
    """This actor may not do this, whatever the state: their own statement or access, not in an
    approver group, not the requester, an agent or service deciding or breaking glass."""


class Conflict(ReviewError):
    """The review's or grant's state forbids it now: no longer pending, already decided by this
    actor, expired, executed, bound to a different statement, no longer offered by the policy,
    changing too fast."""


class Invalid(ReviewError):
    """The request itself is malformed: no reason where one is needed, a non-positive or too
    long duration, a role the policy does not offer."""


class NotFound(ReviewError):
    """No review or grant with that id."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Approver:
    """Who acts on a review, as the gateway authenticated them."""

    name: str
    groups: tuple[str, ...] = ()
    via: str = "api"  # api, cli, slack, ... (recorded)
    kind: str = "human"  # human, agent, service: only people decide


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    approver: str
    verdict: Literal["approve", "reject", "cancel"]
    reason: str
    at: float
    via: str
    groups: tuple[str, ...] = ()  # the approver's groups when they decided


Quorum = tuple[tuple[tuple[str, ...], int], ...]  # per review rule: (approver groups, approvals)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewRequest:
    """What the gateway knows when policy asks for a review (before any I/O)."""

    requester: str
    requester_kind: str = "human"
    on_behalf_of: str | None = None
    connection: str
    statement: str
    parameters: tuple[str | None, ...] = ()
    rules: tuple[str, ...]
    approvers: tuple[str, ...]
    approvals: int = 1
    # When several review rules match, each must be met: (its approver groups, its approvals).
    quorum: Quorum = ()
    grant_ttl: float = 3600.0  # an approved review may run within this many seconds
    expires_in: float = 3600.0  # a pending review lapses after this many seconds
    wait: WaitMode = "hold"
    policy_version: str = ""
    session_id: str | None = None
    reason: str | None = None

    @property
    def binding(self) -> str:
        return binding_of(
            self.requester, self.on_behalf_of, self.connection, self.statement, self.parameters
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Review:
    id: str
    binding: str
    requester: str
    requester_kind: str
    on_behalf_of: str | None
    connection: str
    statement: str
    parameters: tuple[str | None, ...]
    rules: tuple[str, ...]
    approvers: tuple[str, ...]
    approvals_needed: int
    grant_ttl: float
    wait: WaitMode
    policy_version: str
    session_id: str | None
    reason: str | None
    created_at: float
    expires_at: float
    status: Status = "pending"
    verdicts: tuple[Verdict, ...] = ()
    decided_at: float | None = None
    executed_at: float | None = None
    preview: str | None = None
    quorum: Quorum = ()

    @property
    def approvals(self) -> int:
        return sum(1 for v in self.verdicts if v.verdict == "approve")

    @property
    def grant_expires_at(self) -> float | None:
        """Until when an approved review may still run (None: not approved)."""
        if self.decided_at is None or self.status not in ("approved", "executed"):
            return None
        return self.decided_at + self.grant_ttl

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def to_json(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        body["parameters"] = list(self.parameters)
        return body

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Review:
        data = dict(body)
        data["verdicts"] = tuple(
            Verdict(**{**v, "groups": tuple(v.get("groups", ()))}) for v in data.get("verdicts", ())
        )
        data["quorum"] = tuple((tuple(g), int(n)) for g, n in data.get("quorum", ()))
        for name in ("parameters", "rules", "approvers"):
            data[name] = tuple(data.get(name, ()))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> str:
        """One line for a client notice or a chat message."""
        who = self.requester + (f" for {self.on_behalf_of}" if self.on_behalf_of else "")
        need = f"{self.approvals}/{self.approvals_needed} approvals"
        return f"review {self.id} ({self.status}, {need}) by {who} on {self.connection}"


def binding_of(
    requester: str,
    on_behalf_of: str | None,
    connection: str,
    statement: str,
    parameters: Sequence[str | None],
) -> str:
    """The digest an approval is bound to: who, where, and the exact statement and values."""
    canon = json.dumps(
        [requester, on_behalf_of, connection, statement, list(parameters)],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canon.encode()).hexdigest()


def new_review(request: ReviewRequest, now: float, *, review_id: str | None = None) -> Review:
    quorum = request.quorum or ((request.approvers, request.approvals),)
    if any(n < 1 or not groups for groups, n in quorum):
        raise Invalid("a review needs approver groups and at least one approval")
    return Review(
        id=review_id or new_id(),
        binding=request.binding,
        requester=request.requester,
        requester_kind=request.requester_kind,
        on_behalf_of=request.on_behalf_of,
        connection=request.connection,
        statement=request.statement,
        parameters=request.parameters,
        rules=request.rules,
        approvers=tuple(dict.fromkeys(g for groups, _ in quorum for g in groups)),
        approvals_needed=max(
            request.approvals, sum(n for _, n in quorum) if len(quorum) > 1 else 0
        ),
        quorum=quorum,
        grant_ttl=request.grant_ttl,
        wait=request.wait,
        policy_version=request.policy_version,
        session_id=request.session_id,
        reason=_clip(request.reason),
        created_at=now,
        expires_at=now + request.expires_in,
    )


def new_id() -> str:
    """Short enough to type (``wardgate review approve rv-7f3a9c21``), 32 random bits."""
    return f"rv-{secrets.token_hex(4)}"


def expire(review: Review, now: float) -> Review:
    """The review as of ``now``: pending past its expiry, or approved past its grant, lapses."""
    if review.status == "pending" and now >= review.expires_at:
        return dataclasses.replace(review, status="expired", decided_at=now)
    grant_end = review.grant_expires_at
    if review.status == "approved" and grant_end is not None and now >= grant_end:
        return dataclasses.replace(review, status="expired")
    return review


def check_judge(review: Review, approver: Approver, now: float) -> None:
    """Raise what `judge` would, whatever the verdict and reason: for a channel that asks
    first (Slack opens a form for the reason only when its verdict could count)."""
    review = expire(review, now)
    if review.status != "pending":
        raise Conflict(f"review {review.id} is {review.status}: it can no longer be decided")
    if approver.kind != "human":
        # An automated identity in an approver group still cannot let a statement through.
        raise NotAllowed(f"only people decide reviews, not the {approver.kind} {approver.name}")
    if approver.name in (review.requester, review.on_behalf_of):
        raise NotAllowed("nobody may decide a review of their own statement")
    if not set(approver.groups) & set(review.approvers):
        raise NotAllowed(
            f"{approver.name} is not in an approver group of review {review.id}"
            f" ({', '.join(review.approvers)})"
        )
    if any(v.approver == approver.name for v in review.verdicts):
        raise Conflict(f"{approver.name} has already decided review {review.id}")


def judge(
    review: Review,
    approver: Approver,
    verdict: Literal["approve", "reject"],
    reason: str,
    now: float,
) -> Review:
    """A person's verdict. Refuses agents and services, self-approval, outsiders, double votes,
    late votes and rejections without a reason."""
    check_judge(review, approver, now)
    review = expire(review, now)
    reason = reason.strip()
    if verdict == "reject" and not reason:
        raise Invalid("a rejection needs a reason")
    cast = Verdict(
        approver=approver.name,
        verdict=verdict,
        reason=_clip(reason) or "",
        at=now,
        via=approver.via,
        groups=approver.groups,
    )
    verdicts = (*review.verdicts, cast)
    if verdict == "reject":
        return dataclasses.replace(review, verdicts=verdicts, status="rejected", decided_at=now)
    if _met(review, verdicts):
        return dataclasses.replace(review, verdicts=verdicts, status="approved", decided_at=now)
    return dataclasses.replace(review, verdicts=verdicts)


def _met(review: Review, verdicts: tuple[Verdict, ...]) -> bool:
    """Every rule's quorum met (one person counts for each rule whose groups they are in)."""
    approving = [set(v.groups) for v in verdicts if v.verdict == "approve"]
    quorum = review.quorum or ((review.approvers, review.approvals_needed),)
    return all(sum(1 for g in approving if g & set(groups)) >= n for groups, n in quorum)


def cancel(review: Review, by: str, reason: str, now: float, via: str = "api") -> Review:
    """The requester withdraws a pending (or approved, not yet run) review."""
    review = expire(review, now)
    if by not in (review.requester, review.on_behalf_of):
        raise NotAllowed(f"only {review.requester} may cancel review {review.id}")
    if review.status not in ("pending", "approved"):
        raise Conflict(f"review {review.id} is {review.status}: it cannot be cancelled")
    cast = Verdict(approver=by, verdict="cancel", reason=_clip(reason) or "", at=now, via=via)
    return dataclasses.replace(
        review, verdicts=(*review.verdicts, cast), status="cancelled", decided_at=now
    )


def consume(review: Review, binding: str, now: float) -> Review:
    """Run an approved review once: the statement in hand must be the one approved."""
    review = expire(review, now)
    if binding != review.binding:
        raise Conflict(f"review {review.id} was approved for a different statement")
    if review.status != "approved":
        raise Conflict(f"review {review.id} is {review.status}, not approved")
    return dataclasses.replace(review, status="executed", executed_at=now)


_REASON_COMMENT = re.compile(r"/\*\s*reason\s*:\s*(.*?)\s*\*/", re.IGNORECASE | re.DOTALL)


def requester_reason(sql: str) -> str | None:
    """The requester's stated reason: a ``/* reason: ... */`` comment in the statement."""
    found = _REASON_COMMENT.search(sql)
    return _clip(found.group(1)) if found and found.group(1).strip() else None


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text[:_MAX_REASON]
