"""Slack Block Kit for reviews: the channel message, its outcome, and the rejection form.

Everything a requester wrote (statement, parameters, reason) is escaped the way Slack asks
(``&``, ``<``, ``>``), so a statement cannot mention ``@channel`` or carry a disguised link, and
clipped to Slack's limits (3,000 characters a section). Buttons carry only the review id; the
interaction handler looks the review up and lets the model judge the person who pressed.
"""

from __future__ import annotations

from typing import Any

from .._model import Review
from ._payload import clip, console_url, outcome, when

__all__ = [
    "ACTION_APPROVE",
    "ACTION_REJECT",
    "REASON_BLOCK",
    "REJECT_VIEW",
    "reject_view",
    "review_blocks",
    "review_text",
]

ACTION_APPROVE = "wardgate_approve"
ACTION_REJECT = "wardgate_reject"
REJECT_VIEW = "wardgate_reject"  # callback_id of the rejection form
REASON_BLOCK = "reason"  # block_id and action_id of its text input
_SECTION = 3000


def esc(text: str) -> str:
    """Slack's control characters as entities (its only escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str, limit: int = _SECTION - 40) -> str:
    # A ``` inside would end the block early; a zero-width space keeps it shut.
    body = esc(clip(text, limit)).replace("```", "`\u200b``")
    return f"```{body}```"


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": False}


def _section(title: str, body: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(clip(f"*{title}*\n{body}", _SECTION))}


def review_text(review: Review) -> str:
    """The plain fallback (notifications, screen readers)."""
    return esc(f"Wardgate {review.summary()}")


def review_blocks(review: Review, public_url: str | None) -> list[dict[str, Any]]:
    """The message for a review in its current state: buttons while it is pending."""
    pending = review.status == "pending"
    title = "approval needed" if pending else review.status
    who = review.requester + (f" for {review.on_behalf_of}" if review.on_behalf_of else "")
    needed = f"{review.approvals}/{review.approvals_needed} from {', '.join(review.approvers)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(f"Review {review.id}: {title}")},
        {
            "type": "section",
            "fields": [
                _mrkdwn(clip(f"*Requester*\n{esc(who)} ({esc(review.requester_kind)})", 2000)),
                _mrkdwn(clip(f"*Connection*\n{esc(review.connection)}", 2000)),
                _mrkdwn(clip(f"*Rules*\n{esc(', '.join(review.rules) or '-')}", 2000)),
                _mrkdwn(clip(f"*Approvals*\n{esc(needed)}", 2000)),
            ],
        },
        _section("Statement", _code(review.statement)),
    ]
    if review.parameters:
        shown = "\n".join(f"${n} = {v!r}" for n, v in enumerate(review.parameters, 1))
        blocks.append(_section("Parameters", _code(shown, 1000)))
    reason = f">{esc(review.reason)}" if review.reason else "_none given_"
    blocks.append(_section("Reason", reason))
    if review.preview:
        blocks.append(_section("Impact preview", _code(review.preview, 2000)))
    if pending:
        blocks.append(_buttons(review))
    else:
        blocks.append(_section("Outcome", esc(outcome(review))))
    context = [
        f"expires {when(review.expires_at)}" if pending else f"created {when(review.created_at)}"
    ]
    context += [f"{esc(v.approver)} {v.verdict} via {esc(v.via)}" for v in review.verdicts]
    url = console_url(public_url, review.id)
    if url is not None:
        context.append(f"<{esc(url)}|open in Wardgate>")
    blocks.append({"type": "context", "elements": [_mrkdwn(clip(" · ".join(context), 2000))]})
    return blocks


def _buttons(review: Review) -> dict[str, Any]:
    confirm = {
        "title": _plain("Approve this statement?", 100),
        "text": _mrkdwn(
            esc(f"It will run once on {review.connection} as {review.requester}, exactly as shown.")
        ),
        "confirm": _plain("Approve", 30),
        "deny": _plain("Back", 30),
    }
    return {
        "type": "actions",
        "block_id": "wardgate_review",
        "elements": [
            {
                "type": "button",
                "action_id": ACTION_APPROVE,
                "text": _plain("Approve", 75),
                "style": "primary",
                "value": review.id,
                "confirm": confirm,
            },
            {
                "type": "button",
                "action_id": ACTION_REJECT,
                "text": _plain("Reject…", 75),
                "style": "danger",
                "value": review.id,
            },
        ],
    }


def reject_view(review_id: str) -> dict[str, Any]:
    """The modal asking for a rejection's reason (a rejection without one is refused)."""
    return {
        "type": "modal",
        "callback_id": REJECT_VIEW,
        "private_metadata": review_id,
        "title": _plain("Reject review", 24),
        "submit": _plain("Reject", 24),
        "close": _plain("Cancel", 24),
        "blocks": [
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": _plain(f"Why reject {review_id}?", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_BLOCK,
                    "multiline": True,
                    "min_length": 1,
                    "max_length": 500,
                },
            }
        ],
    }
