"""An issuer's signing keys over HTTP: discovery document and JWKS, cached, refetched on rotation.

Keys are fetched on first use and kept. A token whose key is not in the cache (unknown ``kid``,
or no ``kid`` and no cached key verifies it) triggers one refetch, but at most once per
``jwks_min_refresh_interval``: otherwise anyone could make the gateway hammer the issuer by
sending tokens with made-up key ids. A failed fetch keeps the old keys. The keys come from
``jwks_url`` when the config sets one, else from the ``jwks_uri`` of the issuer's discovery
document, whose ``issuer`` must be exactly the configured one.

`KeySource` is that cache for any issuer (the people's OIDC provider, a workload identity
provider); `Provider` is the people's, validating ID tokens with `wardgate.identity.oidc`.
Validation itself is pure and lives there and in `wardgate.identity.jws`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import httpx

from wardgate.config import OIDCConfig

from .jws import JWTError, KeyNotFoundError, SignatureMismatchError
from .oidc import OIDCIdentity, validate_token

__all__ = ["IssuerConfig", "KeySource", "Provider"]

log = logging.getLogger("wardgate.identity")

T = TypeVar("T")


class IssuerConfig(Protocol):
    """What fetching an issuer's keys needs (`OIDCConfig`, `WorkloadIdentityConfig`)."""

    @property
    def issuer(self) -> str: ...
    @property
    def jwks_url(self) -> str | None: ...
    @property
    def jwks_min_refresh_interval(self) -> float: ...
    @property
    def http_timeout(self) -> float: ...


class KeySource:
    def __init__(
        self,
        config: IssuerConfig,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.issuer_config = config
        self._client = client
        self._own_client = client is None
        self._clock = clock
        self._verify = verify
        self._metadata: dict[str, Any] | None = None
        self._jwks: dict[str, Any] | None = None
        self._fetched_at = -float("inf")
        self._lock = asyncio.Lock()
        self.fetches = 0  # JWKS fetches so far; tests read it to see the rate limit work

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.issuer_config.http_timeout, verify=self._verify
            )
        return self._client

    async def aclose(self) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http().get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise JWTError(
                f"identity provider unavailable: {type(exc).__name__}", code="unavailable"
            ) from None
        if not isinstance(data, dict):
            raise JWTError("identity provider sent a malformed document", code="unavailable")
        return data

    async def metadata(self) -> dict[str, Any]:
        """The discovery document; its ``issuer`` must be exactly the configured one."""
        if self._metadata is None:
            issuer = self.issuer_config.issuer
            data = await self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
            if data.get("issuer") != issuer:
                raise JWTError(
                    "the provider's discovery document names another issuer", code="unavailable"
                )
            if not isinstance(data.get("jwks_uri"), str):
                raise JWTError(
                    "the provider's discovery document has no jwks_uri", code="unavailable"
                )
            self._metadata = data
        return self._metadata

    async def _jwks_url(self) -> str:
        url = self.issuer_config.jwks_url
        if url is not None:
            return url
        jwks_uri: str = (await self.metadata())["jwks_uri"]
        return jwks_uri

    async def _refresh(self, *, force: bool) -> dict[str, Any]:
        async with self._lock:
            now = self._clock()
            fresh_enough = now - self._fetched_at < self.issuer_config.jwks_min_refresh_interval
            if self._jwks is not None and (not force or fresh_enough):
                return self._jwks
            try:
                self._jwks = await self._get_json(await self._jwks_url())
            except JWTError:
                if self._jwks is None:
                    raise
                log.warning("JWKS refresh failed; keeping the keys fetched before")
            else:
                self.fetches += 1
            self._fetched_at = now
            return self._jwks

    async def check(self, validate: Callable[[Mapping[str, Any]], T]) -> T:
        """``validate(jwks)`` with the cached keys; once more after a refetch if no key fit."""
        jwks = await self._refresh(force=False)
        try:
            return validate(jwks)
        except (KeyNotFoundError, SignatureMismatchError):
            refreshed = await self._refresh(force=True)
            if refreshed is jwks:
                raise
            log.info("keys of %s refetched", self.issuer_config.issuer)
            return validate(refreshed)


class Provider(KeySource):
    """The people's OpenID Connect provider."""

    def __init__(
        self,
        config: OIDCConfig,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config, client=client, clock=clock)
        self.config = config

    async def validate(self, token: str) -> OIDCIdentity:
        return await self.check(lambda jwks: validate_token(token, jwks, self.config))
