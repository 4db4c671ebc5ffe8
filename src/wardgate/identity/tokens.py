"""Gateway access tokens: short-lived, signed credentials a client sends as its password.

Unmodified clients (psql, JDBC, BI tools) can only send a password, so a token travels as a
cleartext PasswordMessage; the gateway therefore accepts tokens only over TLS or from loopback.
A token is ``wgt1.<payload>.<signature>``: the payload (identity, issue and expiry times, a random
id) is base64url JSON, the signature HMAC-SHA256 under the gateway's signing key. The ``wgt1.``
prefix lets secret scanners recognise leaked tokens. Tokens are never stored or logged; a
verification error says why without echoing the token.

A token issued to someone who is not in the config (a person signed in through OIDC, see
`wardgate.identity.exchange`) also carries their gateway groups and kind (``grp``, ``knd``):
the gateway has nowhere else to look them up, and the signature makes them trustworthy.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

__all__ = ["PREFIX", "AccessToken", "TokenError", "issue_token", "verify_token"]

PREFIX = "wgt1"
_MAX_TOKEN_LEN = 2048
CLOCK_SKEW = 30  # seconds of clock difference tolerated on issue time


class TokenError(Exception):
    """The token is not valid now; the message is safe to show and log.

    ``code`` is a short, stable reason for the audit log (``expired``, ``revoked``,
    ``bad_signature``...); ``invalid`` when nothing more precise applies.
    """

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessToken:
    subject: str
    issued_at: int
    expires_at: int
    token_id: str
    groups: tuple[str, ...] | None = None
    kind: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, f"{PREFIX}.{payload}".encode("ascii"), hashlib.sha256).digest())


def issue_token(
    key: bytes,
    subject: str,
    ttl_seconds: int,
    *,
    now: float | None = None,
    groups: tuple[str, ...] | None = None,
    kind: str | None = None,
    token_id: str | None = None,
) -> str:
    if ttl_seconds <= 0:
        raise ValueError("a token's lifetime must be positive")
    if len(key) < 16:
        raise ValueError("the signing key must be at least 16 bytes")
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {
        "sub": subject,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": token_id or secrets.token_hex(8),
    }
    if groups is not None:
        claims["grp"] = list(groups)
    if kind is not None:
        claims["knd"] = kind
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{PREFIX}.{payload}.{_sign(key, payload)}"


def _groups(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise ValueError("grp must be a list of strings")
    return tuple(value)


def looks_like_token(text: str) -> bool:
    return text.startswith(PREFIX + ".")


def verify_token(key: bytes, token: str, *, max_ttl: int, now: float | None = None) -> AccessToken:
    """Check signature, then times; ``max_ttl`` caps tokens issued under an older, longer policy."""
    if len(token) > _MAX_TOKEN_LEN:
        raise TokenError("access token is too long", code="malformed")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError("not a Wardgate access token", code="malformed")
    _, payload, signature = parts
    if not hmac.compare_digest(_sign(key, payload).encode(), signature.encode("ascii", "replace")):
        raise TokenError("access token signature is invalid", code="bad_signature")
    try:
        claims = json.loads(_unb64(payload))
        tok = AccessToken(
            subject=str(claims["sub"]),
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
            token_id=str(claims["jti"]),
            groups=_groups(claims.get("grp")),
            kind=None if claims.get("knd") is None else str(claims["knd"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError("access token payload is malformed", code="malformed") from exc
    current = time.time() if now is None else now
    if tok.expires_at <= current:
        raise TokenError("access token has expired", code="expired")
    if tok.issued_at > current + CLOCK_SKEW:
        raise TokenError("access token is not valid yet", code="not_yet_valid")
    if tok.expires_at - tok.issued_at > max_ttl:
        raise TokenError(
            "access token lifetime exceeds the gateway's maximum", code="too_long_lived"
        )
    return tok
