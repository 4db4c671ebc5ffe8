"""Action-level approvals: reviews that hold one exact statement until people approve it.

`ReviewRequest` is what the gateway knows when policy says ``review``; `Approvals` (over a
`ReviewStore`: SQLite or PostgreSQL) creates the review, wakes whoever waits on it, and applies
verdicts with the rules of `_model`: no self-approval, approvers from the named groups, a reason
for every rejection, an approval bound to one statement and run at most once.
"""

from __future__ import annotations

from ._grants import Grant, GrantRequest, GrantStatus
from ._model import (
    Approver,
    Review,
    ReviewError,
    ReviewRequest,
    Status,
    Verdict,
    WaitMode,
    binding_of,
    requester_reason,
)
from ._open import open_approvals, review_store_url
from ._service import Action, Approvals, GrantAction, GrantListener, Listener
from ._store import ReviewStore

__all__ = [
    "Action",
    "Approvals",
    "Approver",
    "Grant",
    "GrantAction",
    "GrantListener",
    "GrantRequest",
    "GrantStatus",
    "Listener",
    "Review",
    "ReviewError",
    "ReviewRequest",
    "ReviewStore",
    "Status",
    "Verdict",
    "WaitMode",
    "binding_of",
    "open_approvals",
    "requester_reason",
    "review_store_url",
]
