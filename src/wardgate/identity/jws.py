"""Signed JWTs checked against an issuer's published keys: what every JWT sign-in shares. No I/O.

People's OIDC ID tokens (`wardgate.identity.oidc`) and workloads' JWTs (`wardgate.identity.
workload`) pass the same checks here, in this order, which is the defence:

1. The header's ``alg`` must be in the caller's allow-list, which the config only lets hold
   asymmetric algorithms. ``none`` and every ``HS*`` are refused before any key is touched, so a
   token signed with HMAC using the issuer's *public* key as the secret (algorithm confusion)
   never reaches a verifier. A ``crit`` header is refused: we know no extension.
2. The key must be of the family the algorithm needs (RSA for RS/PS, EC for ES, OKP for EdDSA),
   and symmetric (``oct``) keys in a JWKS are ignored: an issuer never publishes secrets.
3. Then PyJWT checks the signature with exactly that one algorithm, and ``iss``, ``aud``,
   ``exp``, ``nbf`` and ``iat`` with a small leeway for clock skew; the listed claims are
   required.

Errors say why without echoing the token, so they can be logged, and carry a short reason code
for the audit log (`TokenError.code`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from .tokens import TokenError

__all__ = [
    "MAX_TOKEN_LEN",
    "Expected",
    "JWTError",
    "KeyNotFoundError",
    "SignatureMismatchError",
    "looks_like_jwt",
    "peek_issuer",
    "verify_jwt",
]

MAX_TOKEN_LEN = 16 * 1024
_FAMILY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


class JWTError(TokenError):
    """The JWT is not acceptable; the message is safe to show and log."""


class KeyNotFoundError(JWTError):
    """No published key fits the token: the issuer may have rotated; refetch the JWKS."""


class SignatureMismatchError(JWTError):
    """No key verified the signature; if the token names no key id, a rotation may explain it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Expected:
    """What a token must be: its issuer, one of its audiences, how it may be signed."""

    issuer: str
    audiences: Sequence[str]
    algorithms: Sequence[str]
    leeway: float
    require: Sequence[str] = ("exp", "iat", "iss", "aud", "sub")
    # SPIFFE trust bundles mark JWT-SVID keys "jwt-svid"; an OIDC JWKS says "sig" (or nothing).
    key_uses: frozenset[str] = frozenset({"sig"})


def looks_like_jwt(text: str) -> bool:
    """A compact JWS whose header is a JSON object (``eyJ`` is ``{"`` in base64url)."""
    return text.startswith("eyJ") and text.count(".") == 2


def peek_issuer(token: str) -> str | None:
    """The *unverified* ``iss``, to choose which issuer's keys and rules to check it with."""
    if len(token) > MAX_TOKEN_LEN:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else None


def _family(alg: str) -> str:
    return _FAMILY.get(alg[:2], "?")


def _header(token: str, algorithms: Sequence[str]) -> tuple[str, str | None]:
    if len(token) > MAX_TOKEN_LEN:
        raise JWTError("token is too long", code="malformed")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise JWTError("not a signed JWT", code="malformed") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        # 'none', HS256 and anything unlisted: refused before a key is even chosen.
        raise JWTError(f"signing algorithm {str(alg)[:16]!r} is not accepted", code="bad_algorithm")
    if "crit" in header:
        raise JWTError("token has critical header extensions this gateway does not know")
    kid = header.get("kid")
    return alg, kid if isinstance(kid, str) else None


def _candidates(
    jwks: Mapping[str, Any], alg: str, kid: str | None, uses: frozenset[str]
) -> list[jwt.PyJWK]:
    keys = jwks.get("keys")
    found: list[jwt.PyJWK] = []
    if not isinstance(keys, list):
        return found
    for data in keys:
        if not isinstance(data, dict) or data.get("kty") != _family(alg):
            continue  # also drops 'oct': a published symmetric key is never trusted
        if data.get("use", "sig") not in uses or data.get("alg", alg) != alg:
            continue
        if kid is not None and data.get("kid") != kid:
            continue
        try:
            found.append(jwt.PyJWK(data, algorithm=alg))
        except jwt.PyJWTError:
            continue
    return found


def verify_jwt(token: str, jwks: Mapping[str, Any], expected: Expected) -> dict[str, Any]:
    """The claims of ``token`` once signature, issuer, audience and times all check out."""
    alg, kid = _header(token, expected.algorithms)
    keys = _candidates(jwks, alg, kid, expected.key_uses)
    if not keys:
        raise KeyNotFoundError("no published key of the issuer fits this token", code="unknown_key")
    for key in keys:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=list(expected.audiences),
                issuer=expected.issuer,
                leeway=expected.leeway,
                options={"require": list(expected.require), "verify_signature": True},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError:
            raise JWTError("token has expired", code="expired") from None
        except jwt.ImmatureSignatureError:
            raise JWTError("token is not valid yet", code="not_yet_valid") from None
        except jwt.InvalidAudienceError:
            raise JWTError("token was issued for another audience", code="wrong_audience") from None
        except jwt.InvalidIssuerError:
            raise JWTError("token was issued by another issuer", code="wrong_issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise JWTError(f"token lacks the {exc.claim!r} claim", code="malformed") from None
        except jwt.InvalidTokenError as exc:
            raise JWTError(f"token is invalid ({type(exc).__name__})") from None
        return claims
    raise SignatureMismatchError("token signature is invalid", code="bad_signature")
