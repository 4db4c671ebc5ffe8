"""The gateway's in-memory copy of the just-in-time grants in force.

The enforcer asks which roles an identity holds on every statement it decides, so that answer
must cost a dict lookup, not a query. The copy is reloaded from the store whenever a grant
changes (this process's own changes at once; other processes' through NOTIFY on PostgreSQL)
and every ``poll_interval`` seconds in any case (SQLite, and a missed notification). Expiry needs
no reload: each grant carries its end, checked against the clock on every lookup, so a grant
stops counting the moment it ends even if no reload happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from wardgate.approvals import Approvals, Grant

__all__ = ["GrantBook"]

log = logging.getLogger("wardgate.proxy")
_NONE: frozenset[str] = frozenset()


class GrantBook:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        # (identity, connection) -> ((grant id, role, ends at), ...)
        self._held: dict[tuple[str, str], tuple[tuple[str, str, float], ...]] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def roles(self, name: str, connection: str) -> frozenset[str]:
        held = self._held.get((name, connection))
        if not held:
            return _NONE
        now = self.clock()
        return frozenset(role for _, role, ends in held if now < ends)

    def load(self, grants: list[Grant]) -> None:
        held: dict[tuple[str, str], list[tuple[str, str, float]]] = {}
        for grant in grants:
            if grant.status == "active" and grant.ends_at is not None:
                held.setdefault((grant.requester, grant.connection), []).append(
                    (grant.id, grant.role, grant.ends_at)
                )
        self._held = {key: tuple(value) for key, value in held.items()}

    def changed(self, grant: Grant | None) -> None:
        """A grant changed: this process's own change applies at once, then all is reloaded."""
        if grant is not None:
            key = (grant.requester, grant.connection)
            kept = tuple(h for h in self._held.get(key, ()) if h[0] != grant.id)
            if grant.status == "active" and grant.ends_at is not None:
                kept += ((grant.id, grant.role, grant.ends_at),)
            self._held = {**self._held, key: kept}
        self._changed.set()

    async def start(self, approvals: Approvals, poll_interval: float) -> None:
        """Load now (a gateway must not serve without knowing the grants), then keep up."""
        self.load(await approvals.active_grants())
        approvals.grant_watchers.append(self.changed)
        self._task = asyncio.get_running_loop().create_task(self._follow(approvals, poll_interval))

    async def _follow(self, approvals: Approvals, poll_interval: float) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=poll_interval)
            self._changed.clear()
            try:
                self.load(await approvals.active_grants())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the last copy; expiry still applies by the clock
                log.warning("grants not reloaded: %s", exc)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
