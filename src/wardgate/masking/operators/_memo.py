"""A bounded memo of masked values, one per key, operator and masking context.

Masking is deterministic -- the same value in the same context masks to the same output under the
same key -- and real columns repeat values (names, cities, dates of birth, statuses), so a memo
turns the cost of a repeated value from an FF1 encryption or an HMAC into a dictionary lookup.

Where it lives, and why that keeps the security properties:

* One memo per ``(keyring, key id, operator, context)``, held in the keyring's own cache (see
  `Keyring.memo`). An entry is only ever served for the key, operator and context that computed
  it; a rotated keyring is a new object with empty caches; nothing is shared between keyrings,
  so sessions masking under different keys never see each other's entries.
* Entries are only ever ``value -> operator(value)`` as the operator returned it, so a hit is the
  output a miss would have computed: the memo cannot change a token. An operator that raises
  (`MaskError`, fail closed) stores nothing and raises again for the next occurrence.
* It holds clear values in the gateway's memory (as the rows passing through do), never writes
  them anywhere, and forgets them as it turns over. A hit is faster than a miss: a client that can
  time the gateway closely could tell whether a value was masked recently under this key and
  context. Tokens are deterministic anyway (equal values give equal tokens in every session under
  the key), so this adds recency, not equality.

Bounded: two generations of at most ``size`` entries each. Lookups try the new generation, then
the old one (an old hit is copied forward); when the new one is full it becomes the old one and
the previous old one is dropped. Values used at least once per ``size`` insertions stay; values
seen once (unique e-mail addresses, card numbers) pass through and are forgotten. Memory is at
most ``2 * size`` entries per memo, whatever the length of the result.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

__all__ = ["MAX_MEMOS", "MEMO_SIZE", "memoize"]

#: Entries per generation of one memo (a memo keeps at most twice this many).
MEMO_SIZE = 4096
#: Memos per keyring; past this the oldest are dropped (a result using one keeps it until done).
MAX_MEMOS = 32


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def memoize(fn: Callable[[K], V], size: int) -> Callable[[K], V]:
    """``fn`` with a two-generation memo of at most ``2 * size`` entries (``fn`` must be pure)."""
    if size < 1:
        raise ValueError("a memo needs at least one entry per generation")
    new: dict[K, V] = {}
    old: dict[K, V] = {}

    def memoized(value: K) -> V:
        nonlocal new, old
        try:
            return new[value]
        except KeyError:
            pass
        try:
            out = old[value]
        except KeyError:
            out = fn(value)  # raises for a value it cannot mask: nothing is stored
        if len(new) >= size:
            old, new = new, {}
        new[value] = out
        return out

    return memoized
