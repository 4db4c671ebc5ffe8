"""Retention: delete a prefix of old events and leave a signed anchor so the rest still verifies.

Only a *prefix* of the chain can go: the events up to (not including) the first one that is not
older than the cutoff. Event times come from several processes' clocks, so a slightly older event
after a newer one is kept rather than punching a hole in the chain.

The store is verified first and a broken store is not pruned: pruning it would delete the evidence
and sign a checkpoint over a tampered hash. Deletion runs in chunks (each its own transaction with
its own signed ``prune`` checkpoint) so a SQLite writer lock is never held for long, and a crash
part-way leaves a consistent, verifiable store.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._checkpoint import CheckpointSigner
from ._errors import AuditError
from ._events import RetentionRun
from ._store import AuditStore
from ._verify import verify
from ._writer import now_us, record_direct

__all__ = ["PruneReport", "prune"]

_CHUNK = 20_000


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneReport:
    deleted: int
    through_seq: int
    through_hash: str
    event_seq: int | None
    """Seq of the `RetentionRun` event recorded in the chain (None when nothing was deleted)."""


async def prune(
    store: AuditStore,
    *,
    cutoff_us: int,
    signer: CheckpointSigner,
    actor: str | None = None,
    chunk: int = _CHUNK,
) -> PruneReport:
    """Delete the events older than ``cutoff_us`` (microseconds since the epoch)."""
    report = await verify(store, public_keys=[signer.public_key])
    if report.problem is not None:
        raise AuditError(
            f"not pruning a store that fails verification: seq {report.problem.seq} "
            f"{report.problem.kind}: {report.problem.detail}"
        )
    anchor, anchor_hash = await store.anchor()
    first_young = await store.first_seq_at_or_after(cutoff_us)
    target = (first_young - 1) if first_young is not None else report.last_seq
    deleted, through, through_hash = 0, anchor, anchor_hash
    while through < target:
        step = await store.prune_through(min(target, through + chunk), signer, at=now_us())
        if step is None:  # another prune got there first
            through, through_hash = await store.anchor()
            continue
        deleted += step.deleted
        through, through_hash = step.through_seq, step.through_hash
    if deleted == 0:
        return PruneReport(
            deleted=0, through_seq=through, through_hash=through_hash, event_seq=None
        )
    event = RetentionRun(
        cutoff_us=cutoff_us,
        deleted=deleted,
        through_seq=through,
        through_hash=through_hash,
        actor=actor,
    )
    seq = await record_direct(store, event)
    return PruneReport(
        deleted=deleted, through_seq=through, through_hash=through_hash, event_seq=seq
    )
