"""Verify a store: walk the chain, then hold it against the head row and the signed checkpoints.

What each kind of tampering looks like, and what is reported (``Problem.seq`` is the first event
that is wrong or missing):

==========================================  ==================================================
tampering                                   seen as
==========================================  ==================================================
a field edited (body or an indexed column)  recomputed hash or column differs: ``changed``
an event deleted                            a gap in seq: ``removed``
deleted, later events renumbered            a broken link at that seq: ``removed``
an event inserted (and the rest renumbered) the next event links past it: ``inserted``
two events swapped                          an event links to the one after it: ``reordered``
the tail cut (head row rewound too)         a checkpoint names a later seq: ``truncated``
everything after k rewritten and re-hashed  a checkpoint's hash differs: ``rewritten``, from
                                            the last checkpoint that still matches, plus one
==========================================  ==================================================

A link can break for more than one reason (an event removed at k looks like event k-1 changed and
re-hashed alone); the report names the break and says what it may be.

Checkpoints are trusted only when their signature verifies with a key the caller names. Without a
key they are used as they are and the report warns that signatures were not checked: enough to
catch accidents, not an attacker who rewrites the store and its checkpoint table together — that
is what an exported checkpoint file kept elsewhere, and a public key, are for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select

from ._chain import chain_hash, index_columns
from ._checkpoint import Checkpoint, key_id_of
from ._schema import EVENTS, HEAD
from ._store import AuditStore

__all__ = ["Problem", "ProblemKind", "VerifyReport", "verify"]

ProblemKind = Literal[
    "changed", "removed", "inserted", "reordered", "truncated", "rewritten", "bad_checkpoint"
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    seq: int
    kind: ProblemKind
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyReport:
    """The outcome of `verify`; ``problem`` is the earliest one found (None when all is well)."""

    events: int
    anchor_seq: int
    last_seq: int
    last_hash: str
    checkpoints_checked: int
    problem: Problem | None
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None


def _when(at: int) -> str:
    return datetime.fromtimestamp(at / 1e6, UTC).isoformat(timespec="seconds")


def _link_problem(row: Any, nxt: Any, prev: str, prev_prev: str | None) -> Problem:
    seq = row.seq
    if prev_prev is not None and row.prev_hash == prev_prev:
        return Problem(
            seq=seq - 1,
            kind="inserted",
            detail=f"event {seq - 1} was inserted: event {seq} links past it to event {seq - 2}",
        )
    if nxt is not None and nxt.hash == row.prev_hash:
        return Problem(
            seq=seq, kind="reordered", detail=f"event {seq} links to event {seq + 1}, after it"
        )
    if nxt is not None and nxt.prev_hash == prev:
        return Problem(
            seq=seq,
            kind="inserted",
            detail=f"event {seq} was inserted: event {seq + 1} links past it",
        )
    return Problem(
        seq=seq,
        kind="removed",
        detail=(
            f"event {seq} does not link to event {seq - 1}: an event was removed here "
            f"(or event {seq - 1} was changed and re-hashed)"
        ),
    )


def _row_problem(row: Any, prev: str) -> Problem | None:
    if chain_hash(prev, row.seq, row.body) != row.hash:
        return Problem(seq=row.seq, kind="changed", detail="its content does not match its hash")
    try:
        obj = json.loads(row.body)
    except ValueError:
        return Problem(seq=row.seq, kind="changed", detail="its body is not JSON")
    expected = {
        **index_columns(obj),
        "type": obj.get("type"),
        "at": obj.get("at"),
        "durability": obj.get("durability"),
    }
    for column, value in expected.items():
        if getattr(row, column) != value:
            return Problem(
                seq=row.seq,
                kind="changed",
                detail=f"column {column} differs from the hashed body",
            )
    return None


async def verify(
    store: AuditStore,
    *,
    public_keys: Sequence[Ed25519PublicKey] = (),
    external: Sequence[Checkpoint] = (),
) -> VerifyReport:
    """Check the whole store; see the module docstring for what is found and how."""
    keys = {key_id_of(k): k for k in public_keys}
    warnings: list[str] = []
    problems: list[Problem] = []

    # Checkpoints first: one signed after we read the head could name a seq past our snapshot.
    trusted: list[Checkpoint] = []
    sources = [(cp, "store") for cp in await store.checkpoints()]
    sources += [(cp, "file") for cp in external]
    if sources and not keys:
        warnings.append("no public key given: checkpoint signatures were not checked")
    for cp, source in sources:
        label = f"checkpoint (from {source}) of {_when(cp.at)} at seq {cp.seq}"
        if cp.store_id != store.store_id:
            problems.append(
                Problem(seq=cp.seq, kind="bad_checkpoint", detail=f"{label} is for another store")
            )
        elif not keys:
            trusted.append(cp)
        elif cp.key_id not in keys:
            warnings.append(f"{label} is signed by unknown key {cp.key_id}; ignored")
        elif not cp.signed_by(keys[cp.key_id]):
            problems.append(
                Problem(seq=cp.seq, kind="bad_checkpoint", detail=f"{label}: bad signature")
            )
        else:
            trusted.append(cp)

    anchor_seq, anchor_hash = await store.anchor()
    async with store.engine.connect() as conn:  # one snapshot: head and max(seq) agree
        head_seq, head_hash = (await conn.execute(select(HEAD.c.seq, HEAD.c.hash))).one()
        max_seq = (await conn.execute(select(func.max(EVENTS.c.seq)))).scalar()
    if max_seq is not None and max_seq > head_seq:
        problems.append(
            Problem(
                seq=head_seq + 1,
                kind="inserted",
                detail=f"events {head_seq + 1}..{max_seq} lie beyond the chain head",
            )
        )
    if anchor_seq > 0 and keys:
        signed = [cp for cp in trusted if cp.kind == "prune" and cp.seq <= anchor_seq]
        if not any(cp.seq == anchor_seq and cp.hash == anchor_hash for cp in signed):
            covered = max((cp.seq for cp in signed), default=0)
            problems.append(
                Problem(
                    seq=covered + 1,
                    kind="removed",
                    detail=(
                        f"events up to {anchor_seq} are gone but no signed retention "
                        f"checkpoint covers those after {covered}"
                    ),
                )
            )

    checkpoint_seqs = {cp.seq for cp in trusted if cp.seq > anchor_seq}
    hashes_at: dict[int, str] = {anchor_seq: anchor_hash}
    expected, prev, prev_prev = anchor_seq + 1, anchor_hash, None
    walk_problem: Problem | None = None
    count = 0

    def step(row: Any, nxt: Any) -> Problem | None:
        nonlocal expected, prev, prev_prev, count
        if row.seq != expected:
            return Problem(
                seq=expected,
                kind="removed",
                detail=f"events {expected}..{row.seq - 1} are missing",
            )
        if row.prev_hash != prev:
            return _link_problem(row, nxt, prev, prev_prev)
        problem = _row_problem(row, prev)
        if problem is not None:
            return problem
        if row.seq in checkpoint_seqs:
            hashes_at[row.seq] = row.hash
        prev_prev, prev = prev, row.hash
        expected += 1
        count += 1
        return None

    held: Any = None
    async for row in store.rows(after_seq=anchor_seq, through_seq=head_seq):
        if held is not None:
            walk_problem = step(held, row)
            if walk_problem is not None:
                break
        held = row
    if walk_problem is None and held is not None:
        walk_problem = step(held, None)
    last_seq = expected - 1
    if walk_problem is not None:
        problems.append(walk_problem)
    elif head_seq > last_seq:
        problems.append(
            Problem(
                seq=last_seq + 1,
                kind="truncated",
                detail=f"the head names seq {head_seq}; the store ends at {last_seq}",
            )
        )
    elif head_hash != prev:
        problems.append(
            Problem(seq=last_seq, kind="changed", detail="the head's hash is not the last event's")
        )

    checked = 0
    matched = anchor_seq
    for cp in sorted(trusted, key=lambda c: c.seq):
        if cp.seq < anchor_seq or (walk_problem is not None and cp.seq >= walk_problem.seq):
            continue
        checked += 1
        label = f"the checkpoint of {_when(cp.at)} ({cp.kind})"
        if cp.seq > last_seq:
            problems.append(
                Problem(
                    seq=last_seq + 1,
                    kind="truncated",
                    detail=f"{label} saw seq {cp.seq}; the store ends at {last_seq}",
                )
            )
            break
        if hashes_at[cp.seq] != cp.hash:
            problems.append(
                Problem(
                    seq=matched + 1,
                    kind="rewritten",
                    detail=(
                        f"events {matched + 1}..{cp.seq} were rewritten: {label} signed "
                        f"{cp.hash[:16]} at seq {cp.seq}, the store has {hashes_at[cp.seq][:16]}"
                    ),
                )
            )
            break
        matched = cp.seq

    first = min(problems, key=lambda p: p.seq) if problems else None
    return VerifyReport(
        events=count,
        anchor_seq=anchor_seq,
        last_seq=last_seq,
        last_hash=prev,
        checkpoints_checked=checked,
        problem=first,
        warnings=tuple(warnings),
    )
