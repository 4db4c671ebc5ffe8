"""Slack tokens (``xoxb-``, ``xoxp-``, ``xapp-`` ...) and incoming-webhook URLs."""

from __future__ import annotations

from .._base import Recognizer


class SlackToken(Recognizer):
    """Bot, user, app, refresh and configuration tokens."""

    entity = "slack_token"
    trigger = "xox[abposre]-|xapp-"
    candidate = r"(?<![\w-])(?:xox[abposre]|xapp)-[0-9A-Za-z][0-9A-Za-z\-]{8,250}(?![\w-])"
    score = 0.97


class SlackWebhook(Recognizer):
    """``https://hooks.slack.com/services/T.../B.../...``: whoever holds it can post."""

    entity = "slack_token"
    trigger = "hooks.slack.com"
    candidate = (
        r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/"
        r"T[A-Z0-9]{6,}/[A-Z0-9]{6,}/[A-Za-z0-9/_-]{16,}"
    )
    score = 0.98
