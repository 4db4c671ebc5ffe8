"""What notifications say about a review, independent of where they go."""

from __future__ import annotations

import time
from typing import Any

from .._model import Review

__all__ = ["clip", "console_url", "outcome", "review_fields", "review_url", "when"]


def review_url(public_url: str | None, review_id: str) -> str | None:
    """The review in the REST API as reviewers reach it (``approvals.public_url``)."""
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/v1/reviews/{review_id}"


def console_url(public_url: str | None, review_id: str) -> str | None:
    """The review's page in the web console: where a person following a link decides it."""
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/console/reviews/{review_id}"


def review_fields(review: Review, public_url: str | None) -> dict[str, Any]:
    """The review as a JSON object: every stored field, plus counts and the links (the API's
    for programs, the console's for people)."""
    body = review.to_json()
    body["approvals"] = review.approvals
    body["grant_expires_at"] = review.grant_expires_at
    body["url"] = review_url(public_url, review.id)
    body["console_url"] = console_url(public_url, review.id)
    return body


def outcome(review: Review) -> str:
    """One line on where the review stands: 'approved by bob, carol', 'rejected by ...'."""
    approvers = [v.approver for v in review.verdicts if v.verdict == "approve"]
    last = review.verdicts[-1] if review.verdicts else None
    match review.status:
        case "pending":
            text = f"waiting for approval ({review.approvals}/{review.approvals_needed})"
            return text + (f", approved by {', '.join(approvers)}" if approvers else "")
        case "approved":
            return f"approved by {', '.join(approvers)}; not yet run"
        case "executed":
            return f"approved by {', '.join(approvers)}; executed at {when(review.executed_at)}"
        case "rejected":
            who = last.approver if last else "?"
            return f"rejected by {who}: {last.reason if last else ''}"
        case "cancelled":
            who = last.approver if last else review.requester
            return f"cancelled by {who}" + (f": {last.reason}" if last and last.reason else "")
        case "expired":
            if approvers:
                return f"expired: approved by {', '.join(approvers)} but not run in time"
            return "expired without a decision"
    return str(review.status)  # pragma: no cover - every status is matched above


def when(at: float | None) -> str:
    if at is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    note = f"\n... ({len(text) - limit} more characters)"
    return text[: max(limit - len(note), 0)] + note
