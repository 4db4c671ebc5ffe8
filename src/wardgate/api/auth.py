"""Who is calling the REST API: a bearer credential in, a `Principal` (an `Approver`) out.

The API accepts what the gateway already issues; it mints nothing of its own:

* a **gateway credential** (``wgt1.`` carrying kind and groups): from `wardgate login` (a person
  signed in through OIDC) or from ``wardgate token issue`` for a configured identity that signs
  in to PostgreSQL with SCRAM. Signature, expiry and ``tokens.max_ttl`` are checked, then the
  revocation list (by credential id, and the per-user cutoff) when there is an identity store;
* a **plain token** (``wgt1.`` without kind and groups) of an ``auth: token`` identity;
* an **API key** (``wga_``) of a service identity, sent with its name: HTTP Basic
  ``name:wga_...`` (the key alone does not name its identity; the store checks both).

For a configured identity the groups and kind are always the config's *current* ones, and a
credential for it must carry exactly those: a credential issued before its identity's groups
changed stops working, and a person signed in through OIDC whose user name happens to equal a
configured identity's cannot borrow that identity's groups. Users absent from the config are
accepted only where the gateway accepts them on its PostgreSQL port (``auth`` is federated).

Failures raise `AuthError` with a reason that is safe to log and to show: it never contains the
credential. Counting failures per source (the brute-force guard) is the HTTP layer's job
(`wardgate.api.app`), since only it knows the source.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from wardgate.approvals import Approver
from wardgate.config import ConfigError, GatewayConfig
from wardgate.identity.ratelimit import RateLimiter
from wardgate.identity.service import IdentityServices, store_path
from wardgate.identity.store import IdentityStore, StoreError, looks_like_api_key
from wardgate.identity.tokens import TokenError, looks_like_token, verify_token

__all__ = [
    "AuthError",
    "Authenticator",
    "Principal",
    "authenticator_from_config",
    "limiter_from_config",
]

log = logging.getLogger("wardgate.api")

Kind = Literal["human", "agent", "service"]
_KINDS: frozenset[str] = frozenset({"human", "agent", "service"})


class AuthError(Exception):
    """The credential does not prove anyone; the message says why and never contains it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal(Approver):
    """An authenticated caller: an `Approver` that also knows what kind of identity it is."""

    kind: Kind = "human"
    method: Literal["token", "credential", "api_key"] = "credential"
    credential_id: str | None = None


# The bearer credential as sent (``wgt1...``), or ``name:secret`` from HTTP Basic.
Authenticator = Callable[[str], Awaitable[Principal]]


def limiter_from_config(config: GatewayConfig, services: IdentityServices | None) -> RateLimiter:
    """The gateway's sign-in limiter when there is one (a source guessing on either door is
    slowed on both), else one of the API's own under ``auth.rate_limit``."""
    return services.limiter if services is not None else RateLimiter(config.auth.rate_limit)


def authenticator_from_config(
    config: GatewayConfig, services: IdentityServices | None
) -> Authenticator:
    if services is not None:
        store = services.store
    else:
        path = store_path(config)
        store = IdentityStore(path) if path is not None else None
    return _ConfigAuthenticator(config, store)


class _ConfigAuthenticator:
    def __init__(self, config: GatewayConfig, store: IdentityStore | None) -> None:
        self.config = config
        self.store = store

    async def __call__(self, credential: str) -> Principal:
        user: str | None
        user, sep, secret = credential.rpartition(":")  # neither tokens nor keys hold a colon
        if not sep:
            user, secret = None, credential
        if looks_like_token(secret):
            return await self._token(secret, user)
        if looks_like_api_key(secret):
            if user is None:
                raise AuthError("send an API key with its identity name (HTTP Basic name:key)")
            return await self._api_key(user, secret)
        raise AuthError("not a credential or API key this gateway accepts")

    def _key(self) -> tuple[bytes, int]:
        tokens = self.config.tokens
        if tokens is None:
            raise AuthError("this gateway issues no tokens")
        try:
            key = tokens.signing_key.resolve(self.config.base_dir).encode()
        except ConfigError:
            log.error("token signing key unavailable; refusing API sign-in")
            raise AuthError("signing key unavailable") from None
        return key, int(tokens.max_ttl)

    async def _token(self, secret: str, user: str | None) -> Principal:
        key, max_ttl = self._key()
        try:
            tok = verify_token(key, secret, max_ttl=max_ttl)
        except TokenError as exc:
            raise AuthError(str(exc)) from None
        if user is not None and user != tok.subject:
            raise AuthError("credential was issued to another user")
        plain = tok.groups is None and tok.kind is None
        ident = self.config.identity(tok.subject)
        kind: str
        if ident is not None:
            if plain and ident.auth != "token":
                raise AuthError("plain tokens are only for identities with 'auth: token'")
            if not plain and (tok.kind != ident.kind or set(tok.groups or ()) != set(ident.groups)):
                raise AuthError("credential does not match its identity's configuration")
            groups, kind = ident.groups, ident.kind
        else:
            if not self.config.auth.federated:
                raise AuthError("credential names an unknown identity")
            if tok.groups is None or tok.kind not in _KINDS:
                raise AuthError("not a credential for a signed-in person")
            assert tok.kind is not None
            groups, kind = tok.groups, tok.kind
        store = self.store
        if store is not None and await asyncio.to_thread(
            store.credential_revoked, tok.token_id, tok.subject, tok.issued_at
        ):
            raise AuthError("credential has been revoked")
        return Principal(
            name=tok.subject,
            groups=groups,
            kind=kind,  # type: ignore[arg-type]  # one of _KINDS, checked above
            method="token" if plain else "credential",
            credential_id=tok.token_id,
        )

    async def _api_key(self, user: str, secret: str) -> Principal:
        store = self.store
        if store is None:
            raise AuthError("this gateway keeps no service identities")
        try:
            found = await asyncio.to_thread(store.verify_key, user, secret)
        except StoreError as exc:
            raise AuthError(str(exc)) from None
        return Principal(name=found.name, groups=found.groups, kind=found.kind, method="api_key")
