"""The approvals service: one per gateway process (and one per API or CLI process).

It applies the pure transitions of `_model` to the store with compare-and-set, tells waiters
when a review changes, and hands every change to the listeners (audit log, notifiers). A
gateway holding a statement calls `wait`; it wakes on a local change at once, on another
process's change through LISTEN/NOTIFY (PostgreSQL) or within one poll interval (SQLite).

Every refusal is one of the kinds of `ReviewError` (`NotAllowed`, `Conflict`, `Invalid`,
`NotFound`), raised by the rules of `_model` and `_grants` or, for a missing id or a lost race,
here; callers pick their answer by the kind and show the message.

Listeners run after the change is stored and never decide anything: a notifier that fails (Slack
down) only logs; the review stays decidable through every other channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal, TypeVar

from ._grants import (
    Grant,
    GrantRequest,
    _AccessLike,
    decide_grant,
    expire_grant,
    new_grant,
    revoke_grant,
)
from ._model import (
    Approver,
    Conflict,
    NotFound,
    Review,
    ReviewRequest,
    cancel,
    consume,
    expire,
    judge,
    new_review,
)
from ._store import ReviewStore

__all__ = ["Action", "Approvals", "GrantAction", "GrantListener", "Listener"]

log = logging.getLogger("wardgate.approvals")

Action = Literal["requested", "approve", "reject", "cancel", "expire", "execute", "preview"]
Listener = Callable[[Action, Review, str], Awaitable[None] | None]  # (action, review, actor)
GrantAction = Literal["requested", "approve", "reject", "revoke", "expire", "break_glass"]
GrantListener = Callable[[GrantAction, Grant, str], Awaitable[None] | None]
_CAS_TRIES = 20


class Approvals:
    def __init__(
        self,
        store: ReviewStore,
        *,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 0.5,
    ) -> None:
        self.store = store
        self.clock = clock
        self.poll_interval = poll_interval
        self.listeners: list[Listener] = []
        self.grant_listeners: list[GrantListener] = []
        # Called when any grant changes: with the grant when this process changed it, with
        # None on another process's change (a store notification).
        self.grant_watchers: list[Callable[[Grant | None], None]] = []
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._listening = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Subscribe to other processes' changes where the store can push them."""
        try:
            self._listening = await self.store.listen(self._wake)
        except Exception as exc:  # fall back to polling rather than fail the gateway
            log.warning("review notifications unavailable, polling instead: %s", exc)
            self._listening = False

    async def aclose(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=5)
        await self.store.close()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run background work on a review (a preview); `aclose` waits for it, briefly."""
        task = asyncio.get_running_loop().create_task(_quietly(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- for the gateway ------------------------------------------------------------------------

    async def request(self, req: ReviewRequest) -> Review:
        """The review for this exact statement: an approved one not yet run, a pending one, or
        a new one. The caller runs the statement only after `consume` succeeds."""
        now = self.clock()
        for review, version in await self.store.by_binding(req.binding):
            current = await self._settle(review, version, now)
            if current.status in ("approved", "pending"):
                return current
        review = new_review(req, now)
        await self.store.insert(review)
        await self._changed("requested", review, review.requester)
        return review

    async def consume(self, review_id: str, binding: str) -> Review:
        """Mark an approved review executed, once; raises `ReviewError` when it may not run."""
        return await self._transition(
            review_id, "execute", "gateway", lambda r, now: consume(r, binding, now)
        )

    async def wait(self, review_id: str, limit: float | None = None) -> Review:
        """Until the review is approved or final (or ``limit`` seconds pass): its state then."""
        event = asyncio.Event()
        self._waiters.setdefault(review_id, set()).add(event)
        deadline = None if limit is None else self.clock() + limit
        try:
            while True:
                review = await self.get(review_id)
                if review is None:
                    raise NotFound(f"review {review_id} does not exist")
                if review.status != "pending":
                    return review
                now = self.clock()
                left = review.expires_at - now
                if deadline is not None:
                    left = min(left, deadline - now)
                    if left <= 0:
                        return review
                step = left if self._listening else min(left, self.poll_interval)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=max(step, 0.01))
                event.clear()
        finally:
            waiting = self._waiters.get(review_id)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self._waiters[review_id]

    async def set_preview(self, review_id: str, preview: str) -> Review:
        def add(review: Review, _now: float) -> Review:
            return dataclasses.replace(review, preview=preview)

        return await self._transition(review_id, "preview", "gateway", add)

    # --- for reviewers (API, CLI, chat) ---------------------------------------------------------

    async def get(self, review_id: str) -> Review | None:
        loaded = await self.store.load(review_id)
        if loaded is None:
            return None
        return await self._settle(*loaded, self.clock())

    async def listing(
        self, *, status: str | None = None, requester: str | None = None, limit: int = 100
    ) -> list[Review]:
        now = self.clock()
        # A lapse is stored only when someone reads the review, so expired ones may still be
        # stored as pending or approved: look there too.
        stored = ("pending", "approved", "expired") if status == "expired" else (status,)
        reviews: list[Review] = []
        for each in stored:
            reviews += await self.store.listing(status=each, requester=requester, limit=limit)
        reviews.sort(key=lambda r: r.created_at, reverse=True)
        current = [expire(r, now) for r in reviews]
        return [r for r in current if status is None or r.status == status][:limit]

    async def decide(
        self,
        review_id: str,
        approver: Approver,
        verdict: Literal["approve", "reject"],
        reason: str = "",
    ) -> Review:
        return await self._transition(
            review_id,
            verdict,
            approver.name,
            lambda r, now: judge(r, approver, verdict, reason, now),
        )

    async def cancel(self, review_id: str, by: str, reason: str = "", via: str = "api") -> Review:
        return await self._transition(
            review_id, "cancel", by, lambda r, now: cancel(r, by, reason, now, via)
        )

    # --- internals ------------------------------------------------------------------------------

    async def _transition(
        self,
        review_id: str,
        action: Action,
        actor: str,
        change: Callable[[Review, float], Review],
    ) -> Review:
        return await _compare_and_set(
            f"review {review_id}",
            lambda: self.store.load(review_id),
            self.store.replace,
            expire,
            lambda act, review, who: self._changed(act, review, who),  # type: ignore[arg-type]
            self.clock,
            action,
            actor,
            change,
        )

    async def _settle(self, review: Review, version: int, now: float) -> Review:
        """The review as of now; a lapse found on reading is stored (and announced) once."""
        lapsed = expire(review, now)
        if lapsed is not review and await self.store.replace(lapsed, version):
            await self._changed("expire", lapsed, "gateway")
        return lapsed

    async def _changed(self, action: Action, review: Review, actor: str) -> None:
        self._wake(review.id)
        for listener in self.listeners:
            try:
                result = listener(action, review, actor)
                if result is not None:
                    self.spawn(_quietly(result))
            except Exception:
                log.exception("review listener failed on %s of %s", action, review.id)

    def _wake(self, review_id: str) -> None:
        if review_id.startswith("gr-"):
            for watcher in self.grant_watchers:
                watcher(None)
            return
        for event in self._waiters.get(review_id, ()):
            event.set()

    # --- just-in-time grants --------------------------------------------------------------------

    async def request_grant(self, request: GrantRequest, spec: _AccessLike | None) -> Grant:
        """A new grant request checked against ``spec`` (the policy's `AccessSpec` for the role,
        or None when the policy offers no such role); break-glass ones are active at once."""
        grant = new_grant(request, spec, self.clock())
        await self.store.insert_grant(grant)
        await self._grant_changed(
            "break_glass" if grant.break_glass else "requested", grant, grant.requester
        )
        return grant

    async def decide_grant(
        self,
        grant_id: str,
        approver: Approver,
        verdict: Literal["approve", "reject"],
        reason: str = "",
        *,
        spec: _AccessLike | None,
    ) -> Grant:
        """A verdict on a pending grant. ``spec`` is the policy's `AccessSpec` for the grant's
        role and connection *now* (None: no longer offered); an approval is refused if the
        policy in force would no longer grant it. Required: no caller can skip the check."""
        return await self._grant_transition(
            grant_id,
            verdict,
            approver.name,
            lambda g, now: decide_grant(g, approver, verdict, reason, now, spec),
        )

    async def revoke_grant(self, grant_id: str, actor: Approver, reason: str = "") -> Grant:
        return await self._grant_transition(
            grant_id, "revoke", actor.name, lambda g, now: revoke_grant(g, actor, reason, now)
        )

    async def get_grant(self, grant_id: str) -> Grant | None:
        loaded = await self.store.load_grant(grant_id)
        return None if loaded is None else expire_grant(loaded[0], self.clock())

    async def grants(
        self, *, status: str | None = None, requester: str | None = None, limit: int = 100
    ) -> list[Grant]:
        now = self.clock()
        stored = ("pending", "active", "expired") if status == "expired" else (status,)
        found: list[Grant] = []
        for each in stored:
            found += await self.store.grant_listing(status=each, requester=requester, limit=limit)
        found.sort(key=lambda g: g.created_at, reverse=True)
        current = [expire_grant(g, now) for g in found]
        return [g for g in current if status is None or g.status == status][:limit]

    async def active_grants(self) -> list[Grant]:
        return await self.store.active_grants(self.clock())

    async def _grant_transition(
        self,
        grant_id: str,
        action: GrantAction,
        actor: str,
        change: Callable[[Grant, float], Grant],
    ) -> Grant:
        return await _compare_and_set(
            f"grant {grant_id}",
            lambda: self.store.load_grant(grant_id),
            self.store.replace_grant,
            expire_grant,
            lambda act, grant, who: self._grant_changed(act, grant, who),  # type: ignore[arg-type]
            self.clock,
            action,
            actor,
            change,
        )

    async def _grant_changed(self, action: GrantAction, grant: Grant, actor: str) -> None:
        for watcher in self.grant_watchers:
            watcher(grant)
        for listener in self.grant_listeners:
            try:
                result = listener(action, grant, actor)
                if result is not None:
                    self.spawn(_quietly(result))
            except Exception:
                log.exception("grant listener failed on %s of %s", action, grant.id)


_R = TypeVar("_R")


async def _compare_and_set(
    what: str,
    load: Callable[[], Awaitable[tuple[_R, int] | None]],
    replace: Callable[[_R, int], Awaitable[bool]],
    lapse: Callable[[_R, float], _R],
    announce: Callable[[str, _R, str], Awaitable[None]],
    clock: Callable[[], float],
    action: str,
    actor: str,
    change: Callable[[_R, float], _R],
) -> _R:
    """Apply ``change`` to the stored record with compare-and-set, retrying on a lost race.

    A record found lapsed is first stored (and announced) as lapsed, then re-read, so every
    change is judged against the record's real state; ``change`` raises when it is not allowed.
    """
    for _ in range(_CAS_TRIES):
        loaded = await load()
        if loaded is None:
            raise NotFound(f"{what} does not exist")
        record, version = loaded
        now = clock()
        lapsed = lapse(record, now)
        if lapsed is not record:
            if await replace(lapsed, version):
                await announce("expire", lapsed, "gateway")
            continue
        changed = change(record, now)
        if await replace(changed, version):
            await announce(action, changed, actor)
            return changed
    raise Conflict(f"{what} is changing too fast; try again")


async def _quietly(result: Awaitable[None]) -> None:
    try:
        await result
    except Exception:
        log.exception("review listener failed")
