"""Google Cloud credentials: API keys (``AIza...``) and service-account JSON private keys."""

from __future__ import annotations

import re

from .._base import Recognizer


class GcpApiKey(Recognizer):
    """``AIza`` and 35 URL-safe characters."""

    entity = "gcp_api_key"
    trigger = "AIza"
    candidate = r"(?<![\w-])AIza[0-9A-Za-z_\-]{35}(?![\w-])"
    score = 0.97


class GcpServiceAccountKey(Recognizer):
    """The ``"private_key": "-----BEGIN PRIVATE KEY-----\\n..."`` field of a key file.

    The finding covers the quoted value; it outranks the bare private-key recognizer.
    """

    entity = "gcp_service_account_key"
    trigger = '"private_key"'
    candidate = r'"private_key"\s*:\s*"-----BEGIN[^"]{0,16384}"'
    pattern = re.compile(r'"private_key"\s*:\s*"(?P<value>-----BEGIN[^"]{0,16384})"')
    score = 0.99
