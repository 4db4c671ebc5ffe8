"""Action-level approvals: reviews that hold one exact statement until people approve it.

`ReviewRequest` is what the gateway knows when policy says ``review``; `Approvals` (over a
`ReviewStore`: SQLite or PostgreSQL) creates the review, wakes whoever waits on it, and applies
verdicts with the rules of `_model`: only people decide, no self-approval, approvers from the
named groups, a reason for every rejection, an approval bound to one statement and run at most
once. Those rules, and the rules of just-in-time grants (`_grants`), live only there.

A refusal is a `ReviewError` of one kind: `NotAllowed` (this actor may not), `Conflict` (the
state forbids it now), `Invalid` (the request is malformed) or `NotFound` (no such id). Every
channel answers by the kind (the REST API: 403, 409, 422, 404) and shows the message.
"""

from __future__ import annotations

from ._grants import Grant, GrantRequest, GrantStatus
from ._model import (
    Approver,
    Conflict,
    Invalid,
    NotAllowed,
    NotFound,
    Review,
    ReviewError,
    ReviewRequest,
    Status,
    Verdict,
    WaitMode,
    binding_of,
    check_judge,
    requester_reason,
)
from ._open import open_approvals, review_store_url
from ._service import Action, Approvals, GrantAction, GrantListener, Listener
from ._store import ReviewStore

__all__ = [
    "Action",
    "Approvals",
    "Approver",
    "Conflict",
    "Grant",
    "GrantAction",
    "GrantListener",
    "GrantRequest",
    "GrantStatus",
    "Invalid",
    "Listener",
    "NotAllowed",
    "NotFound",
    "Review",
    "ReviewError",
    "ReviewRequest",
    "ReviewStore",
    "Status",
    "Verdict",
    "WaitMode",
    "binding_of",
    "check_judge",
    "open_approvals",
    "requester_reason",
    "review_store_url",
]
