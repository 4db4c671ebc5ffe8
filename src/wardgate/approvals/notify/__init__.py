"""Review notifications: Slack, Microsoft Teams and signed generic webhooks.

Each notifier is a review listener (``Approvals.listeners``) with an ``aclose()``: it sends the
changes it cares about after they are stored, in order per review, with retries and backoff,
and logs what fails for good; it never blocks or fails a review (see docs/notifications.md)::

    notifiers = notifiers_from_config(config.approvals, config.base_dir)
    approvals.listeners.extend(notifiers)
    ...
    for notifier in notifiers:            # at shutdown: takes no more changes, lets the
        await notifier.aclose()           # deliveries in flight finish (10 s), closes clients
    await approvals.aclose()
"""

from __future__ import annotations

from pathlib import Path

from wardgate.config import ApprovalsConfig

from ._deliver import Failure, Notifier
from ._payload import console_url, outcome, review_url
from ._slack import MessageRefs, SlackApi, SlackNotifier
from ._slack_blocks import (
    ACTION_APPROVE,
    ACTION_REJECT,
    REASON_BLOCK,
    REJECT_VIEW,
    reject_view,
    review_blocks,
)
from ._teams import TeamsNotifier, outcome_card, review_card
from ._webhook import EVENTS, WebhookNotifier, sign, verify_signature

__all__ = [
    "ACTION_APPROVE",
    "ACTION_REJECT",
    "EVENTS",
    "REASON_BLOCK",
    "REJECT_VIEW",
    "Failure",
    "MessageRefs",
    "Notifier",
    "SlackApi",
    "SlackNotifier",
    "TeamsNotifier",
    "WebhookNotifier",
    "console_url",
    "notifiers_from_config",
    "outcome",
    "outcome_card",
    "reject_view",
    "review_blocks",
    "review_card",
    "review_url",
    "sign",
    "verify_signature",
]


def notifiers_from_config(
    config: ApprovalsConfig,
    base_dir: Path | None,
    *,
    backoff: float = 1.0,
    refs: MessageRefs | None = None,
) -> list[Notifier]:
    """The notifiers ``approvals`` configures, in config order: Slack, Teams, webhooks.

    Secrets are resolved once here, so a missing variable or file stops the start with a
    `ConfigError`, and again on every delivery, so a rotated secret takes effect at once.
    ``refs`` (the review store) keeps where each Slack message is, so that a change made in
    another process (another gateway, the API) updates the message too.
    """
    public_url, retries, timeout = config.public_url, config.notify_retries, config.notify_timeout
    notifiers: list[Notifier] = []
    if config.slack is not None:
        config.slack.bot_token.resolve(base_dir)
        config.slack.signing_secret.resolve(base_dir)
        notifiers.append(
            SlackNotifier(
                config.slack,
                base_dir=base_dir,
                public_url=public_url,
                retries=retries,
                timeout=timeout,
                backoff=backoff,
                refs=refs,
            )
        )
    if config.teams is not None:
        config.teams.webhook_url.resolve(base_dir)
        notifiers.append(
            TeamsNotifier(
                config.teams.webhook_url,
                base_dir=base_dir,
                public_url=public_url,
                retries=retries,
                timeout=timeout,
                backoff=backoff,
            )
        )
    for hook in config.webhooks:
        hook.secret.resolve(base_dir)
        notifiers.append(
            WebhookNotifier(
                hook.url,
                hook.secret,
                base_dir=base_dir,
                public_url=public_url,
                retries=retries,
                timeout=timeout,
                backoff=backoff,
            )
        )
    return notifiers
