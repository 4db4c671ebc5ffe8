"""Who may see a review: one rule for the REST API and the console alike."""

from __future__ import annotations

from wardgate.approvals import Approver, Review

__all__ = ["visible"]


def visible(review: Review, who: Approver) -> bool:
    """Whether ``who`` may see ``review``: its requester, who it was for, or an approver."""
    return who.name in (review.requester, review.on_behalf_of) or bool(
        set(who.groups) & set(review.approvers)
    )
