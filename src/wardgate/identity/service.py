"""What the gateway holds for sign-in beyond the config: one object, built from `AuthConfig`.

The session asks it two things: may this source try to sign in as this user now (the rate
limiter), and who is this user given the secret they sent as a password (`authenticate`). The
secret is one of:

* a gateway credential (``wgt1.``) from the OIDC exchange: signature, expiry, issued to this
  user name, not revoked (by id, or by a cutoff for the user);
* an API key (``wga_``) of a service identity in the store;
* a JWT from a workload identity provider (`wardgate.identity.workload`) mapped to a service
  identity in the store;
* an OIDC token itself (a JWT), validated against the provider, naming this user.

The result is a `FederatedIdentity`: an `IdentityConfig` (so the rest of the session, policy
and audit treat it like a configured identity) plus how it signed in, the credential id, and
for agents the person they act for. A refusal is a `SignInFailed`: the reason (safe to log),
a short reason code and the method tried, for the ``auth.failed`` audit event.

The plain tokens of ``auth: token`` identities in the config are checked here too
(`config_token`), against the same revocation list as credentials.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from wardgate.config import ConfigError, GatewayConfig, IdentityConfig, WorkloadIdentityConfig
from wardgate.pgwire import startup_setting

from .jws import looks_like_jwt
from .oidc import OIDCError
from .provider import Provider
from .ratelimit import RateLimiter, source_host
from .store import IdentityStore, StoreError, looks_like_api_key
from .tokens import AccessToken, TokenError, issue_token, looks_like_token, verify_token
from .workload import Workloads

__all__ = [
    "ON_BEHALF_OF_SETTING",
    "FederatedIdentity",
    "IdentityServices",
    "IssuedCredential",
    "SignInFailed",
    "on_behalf_of",
]

log = logging.getLogger("wardgate.identity")

# Agents name the person they act for in the startup options: -c wardgate.on_behalf_of=alice
ON_BEHALF_OF_SETTING = "wardgate.on_behalf_of"
_PERSON = re.compile(r"[^\x00-\x1f\x7f]{1,255}")


Method = Literal["credential", "api_key", "workload_jwt", "oidc_token"]


class FederatedIdentity(IdentityConfig):
    """An identity established at sign-in rather than read from the config.

    ``credential_id`` is the credential's id (or a workload token's ``jti``), never the secret;
    ``issuer`` and ``subject`` name a workload as its platform does.
    """

    method: Method
    credential_id: str | None = None
    owner: str | None = None
    on_behalf_of: str | None = None
    issuer: str | None = None
    subject: str | None = None


class SignInFailed(TokenError):
    """A refused sign-in: ``method`` is what was tried (``credential``, ``api_key``,
    ``workload_jwt``, ``oidc_token``, ``token`` or ``unknown``), ``code`` why, in short."""

    def __init__(self, message: str, *, code: str, method: str) -> None:
        super().__init__(message, code=code)
        self.method = method


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCredential:
    credential: str
    credential_id: str
    user: str
    groups: tuple[str, ...]
    expires_at: int


def on_behalf_of(params: Mapping[str, str]) -> str | None:
    """The person an agent says it acts for, from the startup ``options`` (``-c`` or ``--``)."""
    value = startup_setting(params.get("options"), ON_BEHALF_OF_SETTING)
    return value if value and _PERSON.fullmatch(value) else None


class IdentityServices:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        auth = config.auth
        self.limiter = RateLimiter(auth.rate_limit)
        path = store_path(config)
        self.store = IdentityStore(path) if path is not None else None
        self.provider = Provider(auth.oidc) if auth.oidc is not None else None
        self.workloads = Workloads(auth.workload, config.base_dir)
        self._exchange: _Closeable | None = None
        self.pg_port = config.listen.port
        # Where refused sign-ins go (the gateway's audit log, as ``auth.failed`` events): set by
        # the gateway when it records; called with the event's fields, never with a secret.
        self.failure_sink: Callable[[dict[str, Any]], None] | None = None

    @property
    def federated(self) -> bool:
        """Whether users missing from ``identities`` are asked for a credential or key."""
        return self.config.auth.federated

    def admits(self, peer: str, user: str) -> bool:
        """Whether ``peer`` may try to sign in as ``user`` now (asked before any password)."""
        return self.limiter.allows(source_host(peer), user)

    def failed(self, peer: str, user: str) -> None:
        self.limiter.failed(source_host(peer), user)

    def refused(self, peer: str, user: str) -> int:
        """A rate-limited refusal: how many refusals to report in the audit log now (0: none)."""
        return self.limiter.refused(source_host(peer), user)

    def audit_slot(self) -> int | None:
        """May a failed sign-in be recorded now (None: over budget); if so, how many were not."""
        return self.limiter.audit_slot()

    def report_failure(
        self,
        source: str,
        user: str,
        method: str,
        reason: str,
        detail: str,
        *,
        attempts: int = 1,
    ) -> None:
        """Hand a refused sign-in, at any door (the PostgreSQL port, the credential exchange,
        the API, the console), to `failure_sink`: without waiting, and within the limiter's
        budget for such events, so failures cannot flood the audit store. ``detail`` must be
        safe to log: reasons from this package never contain the secret."""
        sink = self.failure_sink
        if sink is None:
            return
        held_back = self.audit_slot()
        if held_back is None:
            return
        sink(
            {
                "user": user[:128],
                "client_addr": source,
                "method": method,
                "reason": reason,
                "detail": detail[:200],
                "attempts": attempts,
                "suppressed": held_back,
            }
        )

    @property
    def loopback_plaintext(self) -> bool:
        tokens = self.config.tokens
        return tokens is not None and tokens.allow_loopback_plaintext

    async def start(self, pg_port: int) -> None:
        """Start the exchange endpoint; ``pg_port`` is where the gateway really listens."""
        self.pg_port = pg_port
        if self.config.auth.exchange is not None:
            from .exchange import start_exchange

            self._exchange = await start_exchange(self)

    async def aclose(self) -> None:
        if self._exchange is not None:
            await self._exchange.aclose()
            self._exchange = None
        if self.provider is not None:
            await self.provider.aclose()
        await self.workloads.aclose()

    @property
    def exchange_port(self) -> int | None:
        return None if self._exchange is None else self._exchange.port

    def signing_key(self) -> bytes:
        tokens = self.config.tokens
        if tokens is None:
            raise TokenError("gateway credentials are not configured", code="unsupported")
        try:
            return tokens.signing_key.resolve(self.config.base_dir).encode()
        except ConfigError:
            log.error("token signing key unavailable; refusing credential sign-in")
            raise TokenError("signing key unavailable", code="unavailable") from None

    # --- sign-in through the PostgreSQL port ------------------------------------------------

    async def authenticate(
        self, user: str, secret: str, params: Mapping[str, str]
    ) -> FederatedIdentity:
        """Who ``user`` is, proved by ``secret``; `SignInFailed` if not proved."""
        method, workload = self._route(user, secret)
        try:
            if method == "credential":
                return await self._credential(user, secret)
            if method == "api_key":
                return await self._api_key(user, secret, params)
            if method == "workload_jwt":
                assert workload is not None
                return await self._workload(workload, user, secret, params)
            if method == "oidc_token":
                return await self._oidc_token(user, secret)
            raise TokenError(
                "not a credential, API key or token this gateway accepts", code="unsupported"
            )
        except TokenError as exc:
            raise SignInFailed(str(exc), code=exc.code, method=method) from None

    def _route(self, user: str, secret: str) -> tuple[str, WorkloadIdentityConfig | None]:
        """Which kind of secret this is, by its shape (and a JWT by its unverified issuer)."""
        if looks_like_token(secret):
            return "credential", None
        if looks_like_api_key(secret):
            return "api_key", None
        if looks_like_jwt(secret):
            workload = self.workloads.route(secret)
            people = self.provider
            # One issuer may sign for people and for workloads (a cloud tenant): the user name,
            # known before the secret, says which this sign-in claims to be.
            if workload is not None and (
                people is None
                or people.config.issuer != workload.issuer
                or user in workload.subjects.values()
            ):
                return "workload_jwt", workload
            if people is not None:
                return "oidc_token", None
        return "unknown", None

    async def _oidc_token(self, user: str, secret: str) -> FederatedIdentity:
        assert self.provider is not None
        found = await self.provider.validate(secret)
        if found.name != user:
            raise OIDCError("token names another user", code="wrong_user")
        return FederatedIdentity(
            name=user, auth="token", groups=found.groups, kind="human", method="oidc_token"
        )

    async def _workload(
        self, config: WorkloadIdentityConfig, user: str, secret: str, params: Mapping[str, str]
    ) -> FederatedIdentity:
        claims = await self.workloads.validate(secret, config)
        if claims.name != user:
            raise TokenError("token is mapped to another service identity", code="wrong_user")
        store = self.store
        assert store is not None  # the config requires auth.store for auth.workload
        try:
            found = await asyncio.to_thread(store.active, claims.name)
        except StoreError as exc:
            raise TokenError(str(exc), code=exc.code) from None
        return FederatedIdentity(
            name=found.name,
            auth="token",
            groups=found.groups,
            kind=found.kind,
            method="workload_jwt",
            credential_id=claims.token_id,
            owner=found.owner,
            on_behalf_of=on_behalf_of(params),
            issuer=claims.issuer,
            subject=claims.subject,
        )

    async def config_token(self, identity: IdentityConfig, secret: str) -> AccessToken:
        """The access token of an ``auth: token`` identity in the config: signed by us, issued
        to this identity, and not revoked (by id, or by a cutoff for the name) in the store."""
        tokens = self.config.tokens
        assert tokens is not None  # the config validator requires it for token identities
        tok = verify_token(self.signing_key(), secret, max_ttl=int(tokens.max_ttl))
        if not hmac.compare_digest(tok.subject.encode(), identity.name.encode()):
            raise TokenError("access token was issued to another identity", code="wrong_user")
        store = self.store
        if store is not None and await asyncio.to_thread(
            store.credential_revoked, tok.token_id, identity.name, tok.issued_at
        ):
            raise TokenError("access token has been revoked", code="revoked")
        return tok

    async def _credential(self, user: str, secret: str) -> FederatedIdentity:
        tokens = self.config.tokens
        assert tokens is not None  # the config requires 'tokens' wherever 'auth' is used
        tok = verify_token(self.signing_key(), secret, max_ttl=int(tokens.max_ttl))
        if tok.subject != user:
            raise TokenError("credential was issued to another user", code="wrong_user")
        if tok.kind is None or tok.groups is None:
            # Plain tokens are for `auth: token` identities in the config (`config_token`).
            raise TokenError("not a credential for a signed-in person", code="unsupported")
        store = self.store
        if store is not None and await asyncio.to_thread(
            store.credential_revoked, tok.token_id, user, tok.issued_at
        ):
            raise TokenError("credential has been revoked", code="revoked")
        kind = tok.kind if tok.kind in ("human", "agent", "service") else "human"
        return FederatedIdentity(
            name=user,
            auth="token",
            groups=tok.groups,
            kind=kind,  # type: ignore[arg-type]
            method="credential",
            credential_id=tok.token_id,
        )

    async def _api_key(
        self, user: str, secret: str, params: Mapping[str, str]
    ) -> FederatedIdentity:
        store = self.store
        if store is None:
            raise TokenError("this gateway keeps no service identities", code="unsupported")
        try:
            found = await asyncio.to_thread(store.verify_key, user, secret)
        except StoreError as exc:
            raise TokenError(str(exc), code=exc.code) from None
        return FederatedIdentity(
            name=found.name,
            auth="token",
            groups=found.groups,
            kind=found.kind,
            method="api_key",
            owner=found.owner,
            on_behalf_of=on_behalf_of(params),
        )

    # --- the OIDC exchange ---------------------------------------------------------------------

    async def exchange(self, oidc_token: str) -> IssuedCredential:
        """A gateway credential for the person an OIDC token proves: mapped groups, capped life."""
        if self.provider is None:
            raise OIDCError("this gateway has no identity provider")
        found = await self.provider.validate(oidc_token)
        if self.config.identity(found.name) is not None:
            # A configured identity signs in as configured (SCRAM or its token); a credential
            # for its name would carry the provider's groups, not the configured ones.
            raise OIDCError(
                f"{found.name} is a configured gateway identity; sign in as such",
                code="configured_identity",
            )
        tokens = self.config.tokens
        assert tokens is not None
        ttl = int(min(self.config.auth.credential_ttl, tokens.max_ttl))
        credential = issue_token(
            self.signing_key(), found.name, ttl, groups=found.groups, kind="human"
        )
        tok = verify_token(self.signing_key(), credential, max_ttl=int(tokens.max_ttl))
        log.info(
            "issued credential %s to %s (groups %s) until %d",
            tok.token_id,
            found.name,
            ",".join(found.groups) or "-",
            tok.expires_at,
        )
        return IssuedCredential(
            credential=credential,
            credential_id=tok.token_id,
            user=found.name,
            groups=found.groups,
            expires_at=tok.expires_at,
        )


class _Closeable(Protocol):
    @property
    def port(self) -> int: ...

    async def aclose(self) -> None: ...


def store_path(config: GatewayConfig) -> Path | None:
    """``auth.store``, relative to the config file's directory."""
    store = config.auth.store
    if store is None or store.is_absolute() or config.base_dir is None:
        return store
    return config.base_dir / store
