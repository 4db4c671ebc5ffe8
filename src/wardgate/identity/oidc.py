"""Validation of OpenID Connect tokens (ID tokens, or JWT access tokens): pure, no I/O.

The keys come in as a JWKS document already fetched (`wardgate.identity.provider` does the HTTP);
this module only decides. The signature, algorithm, issuer, audience and time checks are the
ones every JWT sign-in shares (`wardgate.identity.jws`, whose docstring gives their order and
why); on top of them a person's token must name a usable user name (``username_claim``; an
email the provider has not verified is refused), ``azp`` must be us when there are several
audiences, and its groups are mapped to gateway groups.

Error messages say why without echoing the token, so they can be logged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wardgate.config import OIDCConfig

from .jws import Expected, JWTError, KeyNotFoundError, SignatureMismatchError, verify_jwt

__all__ = [
    "KeyNotFoundError",
    "OIDCError",
    "OIDCIdentity",
    "SignatureMismatchError",
    "map_groups",
    "validate_token",
]

OIDCError = JWTError  # the name callers of this module know; one class for every JWT refusal
# A PostgreSQL user name a person connects as: printable, no NUL, at most 63 bytes.
_USER_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,63}")


@dataclass(frozen=True, slots=True, kw_only=True)
class OIDCIdentity:
    """Who the provider says this is, with groups already mapped to gateway groups."""

    name: str
    subject: str
    issuer: str
    groups: tuple[str, ...]
    idp_groups: tuple[str, ...]
    expires_at: int


def expected(config: OIDCConfig, audiences: Sequence[str] = ()) -> Expected:
    return Expected(
        issuer=config.issuer,
        audiences=tuple(audiences or config.accepted_audiences),
        algorithms=config.algorithms,
        leeway=config.clock_skew,
    )


def validate_token(
    token: str, jwks: Mapping[str, Any], config: OIDCConfig, *, audiences: Sequence[str] = ()
) -> OIDCIdentity:
    """Check ``token`` against the provider's published keys and the configured expectations."""
    return _identity(verify_jwt(token, jwks, expected(config, audiences)), config)


def _identity(claims: Mapping[str, Any], config: OIDCConfig) -> OIDCIdentity:
    audience = claims.get("aud")
    azp = claims.get("azp")
    # OIDC Core 3.1.3.7: with several audiences, the authorised party must be us.
    if isinstance(audience, list) and len(audience) > 1 and azp not in (None, config.client_id):
        raise OIDCError("token was issued to another client (azp)", code="wrong_audience")
    name = claims.get(config.username_claim)
    if not isinstance(name, str) or not _USER_NAME.fullmatch(name) or len(name.encode()) > 63:
        raise OIDCError(
            f"token has no usable {config.username_claim!r} claim for a user name", code="malformed"
        )
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
