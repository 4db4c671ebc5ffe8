"""JSON Web Tokens: three base64url parts whose header decodes to a JSON object with ``alg``."""

from __future__ import annotations

import base64
import binascii
import json

from .._base import Recognizer


class JsonWebToken(Recognizer):
    """``eyJhbGciOi...`` header, payload and (possibly empty, for ``alg: none``) signature."""

    entity = "jwt"
    trigger = "eyJ"
    candidate = r"(?<![\w-])eyJ[A-Za-z0-9_-]{5,1024}\.[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{0,2048}"
    score = 0.97

    def valid(self, value: str) -> bool:
        header = value.split(".", 1)[0]
        try:
            decoded = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
            obj = json.loads(decoded)
        except (binascii.Error, ValueError):
            return False
        return isinstance(obj, dict) and "alg" in obj
