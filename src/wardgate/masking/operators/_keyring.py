"""The masking keys: named master keys, one current, and the sub-keys derived from them.

Tokens and FPE ciphertexts must be stable across sessions and gateway restarts (joins and GROUP BY
on masked data, and unmasking later), so keys come from configuration, never from a per-process
random. Each master key is named; masking always uses the *current* one, and rotation is a new
keyring with a new current id and the old ids kept, so `unmask` can still decrypt values produced
under an old key (the caller records which key id was current when it masked).

A master key is never used directly: each purpose gets its own HMAC-SHA256-derived sub-key, so a
token key leaking through some future bug does not expose FPE ciphertexts, and vice versa. Key
bytes never appear in `repr`, in exceptions or in anything this module logs; `fingerprint` gives an
identifier that is safe to show.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from ._memo import MEMO_SIZE

__all__ = ["MIN_KEY_BYTES", "PURPOSES", "Keyring", "Purpose"]

MIN_KEY_BYTES = 32
Purpose = Literal["token", "fpe"]
PURPOSES: tuple[Purpose, ...] = ("token", "fpe")
_LABEL = b"wardgate/masking/v1/"
T = TypeVar("T")


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Keyring:
    """Named master keys (>= 32 bytes each) and the id of the one new values are masked with.

    Immutable: `rotated` returns a new keyring. Equality is identity, so comparing keyrings never
    compares key bytes. Derived sub-keys and the cipher objects built on them are cached per
    keyring (`memo`), because deriving them per value would dominate a masking call; so are the
    memos of masked values (`operators.prepare`), at most ``memo_size`` entries per generation
    each (0 turns them off), which therefore never outlive the keys they were computed under.
    """

    keys: Mapping[str, bytes]
    current: str
    #: Entries per generation of each memo of masked values (see `_memo`); 0 turns memos off.
    memo_size: int = MEMO_SIZE
    _cache: dict[tuple[object, ...], Any] = field(default_factory=dict, init=False, compare=False)

    def __post_init__(self) -> None:
        keys: dict[str, bytes] = {}
        for key_id, key in self.keys.items():
            if not isinstance(key_id, str) or not key_id:
                raise ValueError("a masking key id must be a non-empty string")
            if not isinstance(key, bytes | bytearray):
                raise TypeError(f"masking key {key_id!r} must be bytes")
            if len(key) < MIN_KEY_BYTES:
                raise ValueError(f"masking key {key_id!r} is shorter than {MIN_KEY_BYTES} bytes")
            keys[key_id] = bytes(key)
        if self.memo_size < 0:
            raise ValueError("memo_size must not be negative")
        if self.current not in keys:
            raise ValueError(f"current masking key id {self.current!r} is not in the keyring")
        object.__setattr__(self, "keys", MappingProxyType(keys))

    def __repr__(self) -> str:
        return f"Keyring(current={self.current!r}, key_ids={self.key_ids!r})"

    @classmethod
    def generate(cls, key_id: str = "k1", *, memo_size: int = MEMO_SIZE) -> Keyring:
        """A keyring with one fresh random key: for tests and throwaway demos, not for production
        (tokens would change at every restart)."""
        keys = {key_id: secrets.token_bytes(MIN_KEY_BYTES)}
        return cls(keys=keys, current=key_id, memo_size=memo_size)

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self.keys)

    def rotated(self, key_id: str, key: bytes) -> Keyring:
        """A keyring whose current key is ``key_id``; every older key stays for unmasking."""
        if key_id in self.keys:
            raise ValueError(f"masking key id {key_id!r} is already in the keyring")
        return Keyring(keys={**self.keys, key_id: key}, current=key_id, memo_size=self.memo_size)

    def subkey(self, purpose: Purpose, key_id: str | None = None) -> bytes:
        """HMAC-SHA256(master[key_id], label || purpose): 32 bytes, cached."""
        kid = self.current if key_id is None else key_id
        slot = ("subkey", kid, purpose)
        derived = self._cache.get(slot)
        if derived is None:
            if purpose not in PURPOSES:
                raise ValueError(f"unknown key purpose {purpose!r}")
            master = self.keys.get(kid)
            if master is None:
                raise KeyError(f"no masking key with id {kid!r}")
            derived = hmac.digest(master, _LABEL + purpose.encode(), "sha256")
            self._cache[slot] = derived
        result: bytes = derived
        return result

    def memo(self, slot: tuple[object, ...], build: Callable[[], T]) -> T:
        """The object ``build()`` made for ``slot`` on this keyring, built once.

        For ciphers and hash states derived from the keys: they live exactly as long as the
        keyring, so a rotated keyring never serves objects built from another key set.
        """
        found = self._cache.get(slot)
        if found is None:
            found = self._cache.setdefault(slot, build())
        result: T = found
        return result

    def fingerprint(self, key_id: str | None = None) -> str:
        """A short, non-secret identifier of a key (for audit records and config checks)."""
        kid = self.current if key_id is None else key_id
        master = self.keys.get(kid)
        if master is None:
            raise KeyError(f"no masking key with id {kid!r}")
        return hmac.digest(master, _LABEL + b"fingerprint", "sha256")[:8].hex()
