"""Workload identity: service identities signing in with a JWT their platform issued them.

A Kubernetes pod's projected service-account token, a GitHub Actions job's OIDC token, a SPIFFE
JWT-SVID: the platform signs a short-lived JWT naming the workload, and publishes the public
keys. The workload sends the JWT as its PostgreSQL password (over TLS or loopback, as for API
keys) and connects as the name of a service identity in the store; no long-lived secret is
handed out or kept.

The checks are those of every JWT sign-in (`wardgate.identity.jws`: asymmetric ``alg`` from the
allow-list, key of the right family from the issuer's JWKS, ``iss``, ``aud``, ``exp``/``nbf``/
``iat`` with leeway), then the workload's own:

* the lifetime ``exp - iat`` is at most ``max_lifetime``: a long-lived token is a key that
  does not rotate (legacy Kubernetes secret tokens have no ``exp`` at all and are refused);
* the subject claim (``sub`` by default) must be *explicitly* mapped to a service identity in
  ``subjects``: every pod of a cluster holds a valid token of its issuer, so the issuer alone
  proves nothing about which workload this is;
* that identity is the user name the client connects as (the service layer then checks it
  exists in the store and is not revoked).

Which provider's rules apply is chosen by the token's unverified ``iss`` (`Workloads.route`);
nothing about it is trusted until the signature has been checked with that issuer's keys.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wardgate.config import ConfigError, WorkloadIdentityConfig

from .jws import Expected, JWTError, peek_issuer, verify_jwt
from .provider import KeySource

__all__ = ["WorkloadClaims", "Workloads", "validate_workload_token"]

_SPIFFE_AND_OIDC_USES = frozenset({"sig", "jwt-svid"})


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadClaims:
    """What a valid workload token proves: which service identity, and the platform's names."""

    name: str  # the service identity it maps to
    subject: str  # the subject claim's value, e.g. system:serviceaccount:prod:reporter
    issuer: str
    token_id: str | None  # ``jti``, when the platform sets one (an id, not a secret)
    expires_at: int


def validate_workload_token(
    token: str, jwks: Mapping[str, Any], config: WorkloadIdentityConfig
) -> WorkloadClaims:
    expected = Expected(
        issuer=config.issuer,
        audiences=config.audiences,
        algorithms=config.algorithms,
        leeway=config.clock_skew,
        require=("exp", "iat", "iss", "aud", config.subject_claim),
        key_uses=_SPIFFE_AND_OIDC_USES,
    )
    claims = verify_jwt(token, jwks, expected)
    exp, iat = claims["exp"], claims["iat"]
    if not all(isinstance(t, int | float) and math.isfinite(t) for t in (exp, iat)):
        raise JWTError("token times are malformed", code="malformed")
    if exp - iat > config.max_lifetime:
        raise JWTError("token lives longer than this issuer's max_lifetime", code="too_long_lived")
    subject = claims[config.subject_claim]
    if not isinstance(subject, str):
        raise JWTError(f"token's {config.subject_claim!r} claim is not a string", code="malformed")
    name = config.subjects.get(subject)
    if name is None:
        raise JWTError(
            f"token's {config.subject_claim!r} is mapped to no service identity",
            code="unmapped_subject",
        )
    jti = claims.get("jti")
    return WorkloadClaims(
        name=name,
        subject=subject,
        issuer=config.issuer,
        token_id=jti if isinstance(jti, str) and len(jti) <= 128 else None,
        expires_at=int(exp),
    )


class Workloads:
    """The configured workload identity providers, each with its own key cache."""

    def __init__(self, configs: tuple[WorkloadIdentityConfig, ...], base_dir: Path | None) -> None:
        self._by_issuer: dict[str, tuple[WorkloadIdentityConfig, KeySource]] = {}
        for config in configs:
            verify: ssl.SSLContext | bool = True
            if config.ca_file is not None:
                ca = config.ca_file
                if not ca.is_absolute() and base_dir is not None:
                    ca = base_dir / ca
                try:
                    verify = ssl.create_default_context(cafile=str(ca))
                except (OSError, ssl.SSLError) as exc:
                    raise ConfigError(f"auth.workload ca_file {ca}: {exc}") from None
            self._by_issuer[config.issuer] = (config, KeySource(config, verify=verify))

    def __bool__(self) -> bool:
        return bool(self._by_issuer)

    def route(self, token: str) -> WorkloadIdentityConfig | None:
        """The provider whose rules ``token`` claims to fall under (by its unverified ``iss``)."""
        issuer = peek_issuer(token)
        found = self._by_issuer.get(issuer) if issuer is not None else None
        return found[0] if found is not None else None

    def keys(self, issuer: str) -> KeySource:
        return self._by_issuer[issuer][1]

    async def validate(self, token: str, config: WorkloadIdentityConfig) -> WorkloadClaims:
        source = self.keys(config.issuer)
        return await source.check(lambda jwks: validate_workload_token(token, jwks, config))

    async def aclose(self) -> None:
        for _, source in self._by_issuer.values():
            await source.aclose()
