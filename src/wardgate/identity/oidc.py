"""Validation of OpenID Connect tokens (ID tokens, or JWT access tokens): pure, no I/O.

The keys come in as a JWKS document already fetched (`wardgate.identity.provider` does the HTTP);
this module only decides. The order of checks is the defence:

1. The header's ``alg`` must be in the configured allow-list, which the config only lets hold
   asymmetric algorithms. ``none`` and every ``HS*`` are refused before any key is touched, so a
   token signed with HMAC using the provider's *public* key as the secret (algorithm confusion)
   never reaches a verifier.
2. The key must be of the family the algorithm needs (RSA for RS/PS, EC for ES, OKP for EdDSA),
   and symmetric (``oct``) keys in a JWKS are ignored: a provider never publishes secrets.
3. Then PyJWT checks the signature with exactly that one algorithm, and ``iss``, ``aud``,
   ``exp``, ``nbf`` and ``iat`` with a small leeway for clock skew; ``exp``, ``iat``, ``iss``,
   ``aud`` and ``sub`` are required.

Error messages say why without echoing the token, so they can be logged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from wardgate.config import OIDCConfig
from wardgate.identity.tokens import TokenError

__all__ = [
    "KeyNotFoundError",
    "OIDCError",
    "OIDCIdentity",
    "SignatureMismatchError",
    "map_groups",
    "validate_token",
]

MAX_TOKEN_LEN = 16 * 1024
_FAMILY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
# A PostgreSQL user name a person connects as: printable, no NUL, at most 63 bytes.
_USER_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,63}")


class OIDCError(TokenError):
    """The OIDC token is not acceptable; the message is safe to show and log."""


class KeyNotFoundError(OIDCError):
    """No published key fits the token: the provider may have rotated; refetch the JWKS."""


class SignatureMismatchError(OIDCError):
    """No key verified the signature; if the token names no key id, a rotation may explain it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OIDCIdentity:
    """Who the provider says this is, with groups already mapped to gateway groups."""

    name: str
    subject: str
    issuer: str
    groups: tuple[str, ...]
    idp_groups: tuple[str, ...]
    expires_at: int


def _family(alg: str) -> str:
    return _FAMILY.get(alg[:2], "?")


def _header(token: str, config: OIDCConfig) -> tuple[str, str | None]:
    if len(token) > MAX_TOKEN_LEN:
        raise OIDCError("token is too long")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise OIDCError("not a signed JWT") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in config.algorithms:
        # 'none', HS256 and anything unlisted: refused before a key is even chosen.
        raise OIDCError(f"signing algorithm {str(alg)[:16]!r} is not accepted")
    if "crit" in header:
        raise OIDCError("token has critical header extensions this gateway does not know")
    kid = header.get("kid")
    return alg, kid if isinstance(kid, str) else None


def _candidates(jwks: Mapping[str, Any], alg: str, kid: str | None) -> list[jwt.PyJWK]:
    keys = jwks.get("keys")
    found: list[jwt.PyJWK] = []
    if not isinstance(keys, list):
        return found
    for data in keys:
        if not isinstance(data, dict) or data.get("kty") != _family(alg):
            continue  # also drops 'oct': a published symmetric key is never trusted
        if data.get("use", "sig") != "sig" or data.get("alg", alg) != alg:
            continue
        if kid is not None and data.get("kid") != kid:
            continue
        try:
            found.append(jwt.PyJWK(data, algorithm=alg))
        except jwt.PyJWTError:
            continue
    return found


def validate_token(
    token: str, jwks: Mapping[str, Any], config: OIDCConfig, *, audiences: Sequence[str] = ()
) -> OIDCIdentity:
    """Check ``token`` against the provider's published keys and the configured expectations."""
    alg, kid = _header(token, config)
    keys = _candidates(jwks, alg, kid)
    if not keys:
        raise KeyNotFoundError("no published key of the identity provider fits this token")
    aud = list(audiences or config.accepted_audiences)
    for key in keys:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=aud,
                issuer=config.issuer,
                leeway=config.clock_skew,
                options={"require": ["exp", "iat", "iss", "aud", "sub"], "verify_signature": True},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError:
            raise OIDCError("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise OIDCError("token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise OIDCError("token was issued for another audience") from None
        except jwt.InvalidIssuerError:
            raise OIDCError("token was issued by another issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise OIDCError(f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidTokenError as exc:
            raise OIDCError(f"token is invalid ({type(exc).__name__})") from None
        return _identity(claims, config)
    raise SignatureMismatchError("token signature is invalid")


def _identity(claims: Mapping[str, Any], config: OIDCConfig) -> OIDCIdentity:
    audience = claims.get("aud")
    azp = claims.get("azp")
    # OIDC Core 3.1.3.7: with several audiences, the authorised party must be us.
    if isinstance(audience, list) and len(audience) > 1 and azp not in (None, config.client_id):
        raise OIDCError("token was issued to another client (azp)")
    name = claims.get(config.username_claim)
    if not isinstance(name, str) or not _USER_NAME.fullmatch(name) or len(name.encode()) > 63:
        raise OIDCError(f"token has no usable {config.username_claim!r} claim for a user name")
    if config.username_claim == "email" and claims.get("email_verified") is False:
        raise OIDCError("the provider has not verified this email address")
    idp_groups = _claim_groups(claims.get(config.groups_claim))
    exp = claims["exp"]
    return OIDCIdentity(
        name=name,
        subject=str(claims["sub"]),
        issuer=str(claims["iss"]),
        groups=map_groups(idp_groups, config.group_map, only_mapped=config.only_mapped_groups),
        idp_groups=idp_groups,
        expires_at=int(exp) if isinstance(exp, int | float) and math.isfinite(exp) else 0,
    )


def _claim_groups(value: object) -> tuple[str, ...]:
    """Providers send groups as a list, or (some) as one space-separated string."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list) and all(isinstance(g, str) for g in value):
        return tuple(value)
    raise OIDCError("the groups claim is neither a list of strings nor a string")


def map_groups(
    idp_groups: Sequence[str], mapping: Mapping[str, Sequence[str]], *, only_mapped: bool
) -> tuple[str, ...]:
    """The gateway groups for a person: mapped names, plus unmapped ones unless ``only_mapped``."""
    out: set[str] = set()
    for group in idp_groups:
        if group in mapping:
            out.update(mapping[group])
        elif not only_mapped:
            out.add(group)
    return tuple(sorted(out))
