"""The identity provider over HTTP: discovery document and JWKS, cached, refetched on rotation.

Keys are fetched on first use and kept. A token whose key is not in the cache (unknown ``kid``,
or no ``kid`` and no cached key verifies it) triggers one refetch, but at most once per
``jwks_min_refresh_interval``: otherwise anyone could make the gateway hammer the provider by
sending tokens with made-up key ids. A failed fetch keeps the old keys. Validation itself is in
`wardgate.identity.oidc`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from wardgate.config import OIDCConfig

from .oidc import KeyNotFoundError, OIDCError, OIDCIdentity, SignatureMismatchError, validate_token

__all__ = ["Provider"]

log = logging.getLogger("wardgate.identity")


class Provider:
    def __init__(
        self,
        config: OIDCConfig,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._client = client
        self._own_client = client is None
        self._clock = clock
        self._metadata: dict[str, Any] | None = None
        self._jwks: dict[str, Any] | None = None
        self._fetched_at = -float("inf")
        self._lock = asyncio.Lock()
        self.fetches = 0  # JWKS fetches so far; tests read it to see the rate limit work

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.config.http_timeout)
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
            raise OIDCError(f"identity provider unavailable: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise OIDCError("identity provider sent a malformed document")
        return data

    async def metadata(self) -> dict[str, Any]:
        """The discovery document; its ``issuer`` must be exactly the configured one."""
        if self._metadata is None:
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            data = await self._get_json(url)
            if data.get("issuer") != self.config.issuer:
                raise OIDCError("the provider's discovery document names another issuer")
            if not isinstance(data.get("jwks_uri"), str):
                raise OIDCError("the provider's discovery document has no jwks_uri")
            self._metadata = data
        return self._metadata

    async def _refresh(self, *, force: bool) -> dict[str, Any]:
        async with self._lock:
            now = self._clock()
            fresh_enough = now - self._fetched_at < self.config.jwks_min_refresh_interval
            if self._jwks is not None and (not force or fresh_enough):
                return self._jwks
            metadata = await self.metadata()
            try:
                self._jwks = await self._get_json(metadata["jwks_uri"])
            except OIDCError:
                if self._jwks is None:
                    raise
                log.warning("JWKS refresh failed; keeping the keys fetched before")
            else:
                self.fetches += 1
            self._fetched_at = now
            return self._jwks

    async def validate(self, token: str) -> OIDCIdentity:
        jwks = await self._refresh(force=False)
        try:
            return validate_token(token, jwks, self.config)
        except (KeyNotFoundError, SignatureMismatchError):
            refreshed = await self._refresh(force=True)
            if refreshed is jwks:
                raise
            log.info("identity provider keys refetched")
            return validate_token(token, refreshed, self.config)
