"""Stripe API keys: secret (``sk_``) and restricted (``rk_``), live or test; publishable keys too.

Publishable keys (``pk_``) are meant for browsers, so they score lower, but a policy may still
want them masked in data exports.
"""

from __future__ import annotations

from .._base import Recognizer


class StripeSecretKey(Recognizer):
    entity = "stripe_key"
    trigger = "[sr]k_(?:live|test)_"
    candidate = r"(?<![\w-])[sr]k_(?:live|test)_[0-9A-Za-z]{16,247}(?![\w-])"
    score = 0.98


class StripePublishableKey(Recognizer):
    entity = "stripe_key"
    trigger = "pk_(?:live|test)_"
    candidate = r"(?<![\w-])pk_(?:live|test)_[0-9A-Za-z]{16,247}(?![\w-])"
    score = 0.7
