"""Microsoft Teams: an Adaptive Card to an incoming webhook (a Workflows or connector URL).

A new review gets a card with its facts, the statement and a button opening the review
(``{public_url}/console/reviews/{id}``, the web console); a decision that settles it (approved,
rejected, cancelled, expired, executed) gets a short outcome card. Teams webhooks cannot take a
verdict back, so approvers decide in the console, the API, the CLI or Slack.

Text the requester wrote (statement, parameters, reason) goes into ``TextRun`` elements, which
Teams shows literally: no Markdown, so no links or formatting smuggled into the card. The
webhook URL is the credential, so it is a secret reference and never logged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from wardgate.config import ConfigError, SecretRef

from .._model import Review
from .._service import Action
from ._deliver import Failure, Notifier, deliver, post_json
from ._payload import clip, console_url, outcome, when

__all__ = ["TeamsNotifier", "outcome_card", "review_card"]

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
_STATEMENT_LIMIT = 4000
_SETTLING: frozenset[str] = frozenset({"reject", "cancel", "expire", "execute"})


def _envelope(body: list[dict[str, Any]], url: str | None) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    if url is not None:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open review", "url": url}]
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card}],
    }


def _literal(text: str, *, mono: bool = False) -> dict[str, Any]:
    run: dict[str, Any] = {"type": "TextRun", "text": text}
    if mono:
        run["fontType"] = "Monospace"
    return {"type": "RichTextBlock", "inlines": [run]}


def _heading(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "weight": "Bolder", "size": "Medium", "wrap": True}


def _label(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "weight": "Bolder", "spacing": "Medium"}


def _facts(review: Review) -> dict[str, Any]:
    who = review.requester + (f" for {review.on_behalf_of}" if review.on_behalf_of else "")
    facts = [
        ("Requester", f"{who} ({review.requester_kind})"),
        ("Connection", review.connection),
        ("Rules", ", ".join(review.rules) or "-"),
        ("Approvers", ", ".join(review.approvers)),
        ("Approvals", f"{review.approvals}/{review.approvals_needed}"),
        ("Status", review.status),
        ("Expires", when(review.expires_at)),
    ]
    return {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts]}


def review_card(review: Review, public_url: str | None) -> dict[str, Any]:
    """The card for a new review."""
    body: list[dict[str, Any]] = [
        _heading(f"Review {review.id}: approval needed"),
        _facts(review),
        _label("Statement"),
        _literal(clip(review.statement, _STATEMENT_LIMIT), mono=True),
    ]
    if review.parameters:
        shown = "\n".join(f"${n} = {v!r}" for n, v in enumerate(review.parameters, 1))
        body += [_label("Parameters"), _literal(clip(shown, 1000), mono=True)]
    body += [_label("Reason"), _literal(review.reason or "(none given)")]
    if review.preview:
        body += [_label("Impact preview"), _literal(clip(review.preview, 2000), mono=True)]
    url = console_url(public_url, review.id)
    if url is None:
        body.append(_literal(f"Decide with: wardgate review approve {review.id}"))
    return _envelope(body, url)


def outcome_card(review: Review, public_url: str | None) -> dict[str, Any]:
    """The short card for a review that has been settled."""
    body = [
        _heading(f"Review {review.id}: {review.status}"),
        _literal(outcome(review)),
        _literal(f"{review.requester} on {review.connection}; rules {', '.join(review.rules)}"),
    ]
    return _envelope(body, console_url(public_url, review.id))


class TeamsNotifier(Notifier):
    name = "teams"

    def __init__(
        self,
        webhook_url: SecretRef,
        *,
        base_dir: Path | None = None,
        public_url: str | None = None,
        retries: int = 3,
        timeout: float = 10.0,
        backoff: float = 1.0,
    ) -> None:
        super().__init__(retries=retries, backoff=backoff)
        self.webhook_url = webhook_url
        self.base_dir = base_dir
        self.public_url = public_url
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    def wants(self, action: Action, review: Review) -> bool:
        if action == "requested":
            return True
        return action in _SETTLING or (action == "approve" and review.status == "approved")

    async def send(self, action: Action, review: Review, actor: str) -> None:
        card = (
            review_card(review, self.public_url)
            if action == "requested"
            else outcome_card(review, self.public_url)
        )
        body = json.dumps(card, ensure_ascii=False).encode()

        async def attempt() -> None:
            try:
                url = self.webhook_url.resolve(self.base_dir)
            except ConfigError as exc:
                raise Failure(str(exc), retry=False) from None
            await post_json(self._client, url, body, {})

        what = f"teams card ({action}) for review {review.id}"
        await deliver(attempt, what=what, retries=self.retries, backoff=self.backoff)

    async def _close(self) -> None:
        await self._client.aclose()
