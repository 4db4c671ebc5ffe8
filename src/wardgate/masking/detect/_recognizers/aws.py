"""AWS credentials: access key ids by their prefixes, secret access keys by shape and context."""

from __future__ import annotations

import re

from .._base import Recognizer
from .._shapes import OPAQUE


class AwsAccessKeyId(Recognizer):
    """``AKIA...`` (long-term), ``ASIA...`` (STS) and the other IAM unique-id prefixes."""

    entity = "aws_access_key"
    trigger = "A(?:KIA|SIA|GPA|IDA|ROA|IPA|NPA|NVA|PKA|BIA|CCA)"
    candidate = r"(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA)" + (
        r"[A-Z2-7]{16}(?![A-Za-z0-9])"
    )
    score = 0.97


class AwsSecretAccessKey(Recognizer):
    """40 characters of base64 next to "aws"/"secret": alone, they could be anything."""

    entity = "aws_secret_key"
    candidate = OPAQUE
    pattern = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=])")
    requires_context = True
    context = ("aws", "secret access key", "secret key", "aws secret*", "secret access*",
               "aws secret access key", "secretaccesskey")  # fmt: skip
    score = 0.9

    def valid(self, value: str) -> bool:
        # real keys mix cases and digits; a 40-char sha1 in hex is not one
        return any(c.islower() for c in value) and any(c.isupper() for c in value)
