"""Signed checkpoints of the chain head: what lets verify see a rewritten or truncated store.

A hash chain alone proves only internal consistency: someone who can write the store can cut its
tail, or rewrite every event after the one they changed and recompute all hashes. A checkpoint —
"at time T, store S had head seq N with hash H", signed with an Ed25519 key the store never holds —
pins the chain: kept outside the store (`wardgate audit checkpoint export`), it makes a
truncated tail (store ends before N) or a rewrite (hash at N differs) visible. Prune leaves one
of kind ``prune`` naming the last deleted event, which becomes the trusted start of what remains.

The signed payload is the canonical JSON (`_chain.canonical`) of every field but ``signature``;
``key_id`` is the first 16 hex digits of SHA-256 over the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ._chain import canonical

__all__ = [
    "Checkpoint",
    "CheckpointSigner",
    "generate_key",
    "key_id_of",
    "load_public_key",
    "read_checkpoints",
    "write_checkpoints",
]

_VERSION: Final = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """The chain head of one store at one moment, and a signature over it."""

    store_id: str
    seq: int
    hash: str
    at: int
    kind: str
    key_id: str
    signature: str = ""

    def payload(self) -> bytes:
        """The signed bytes: canonical JSON of every field but the signature."""
        return canonical(
            {
                "v": _VERSION,
                "store_id": self.store_id,
                "seq": self.seq,
                "hash": self.hash,
                "at": self.at,
                "kind": self.kind,
                "key_id": self.key_id,
            }
        ).encode()

    def to_json(self) -> str:
        return canonical({**json.loads(self.payload()), "signature": self.signature})

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any]) -> Checkpoint:
        obj = json.loads(text) if isinstance(text, str) else text
        try:
            return cls(
                store_id=str(obj["store_id"]),
                seq=int(obj["seq"]),
                hash=str(obj["hash"]),
                at=int(obj["at"]),
                kind=str(obj["kind"]),
                key_id=str(obj["key_id"]),
                signature=str(obj.get("signature", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a checkpoint: {exc}") from None

    def signed_by(self, key: Ed25519PublicKey) -> bool:
        """True when the signature is valid for this key (and the key id matches it)."""
        if key_id_of(key) != self.key_id:
            return False
        try:
            key.verify(base64.b64decode(self.signature, validate=True), self.payload())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


def key_id_of(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _raw32(text: str) -> bytes | None:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


class CheckpointSigner:
    """Signs checkpoints with the configured Ed25519 private key (never stored in the store)."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key: Final = key.public_key()
        self.key_id: Final = key_id_of(self.public_key)

    @classmethod
    def from_text(cls, text: str) -> CheckpointSigner:
        """A PKCS#8 PEM private key, or the raw 32-byte seed in base64."""
        if "-----BEGIN" in text:
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("the checkpoint key must be an Ed25519 private key")
            return cls(key)
        raw = _raw32(text)
        if raw is None:
            raise ValueError("the checkpoint key must be a PEM Ed25519 key or 32 bytes in base64")
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    def public_key_text(self) -> str:
        raw = self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()

    def sign(self, *, store_id: str, seq: int, hash: str, at: int, kind: str) -> Checkpoint:
        unsigned = Checkpoint(
            store_id=store_id, seq=seq, hash=hash, at=at, kind=kind, key_id=self.key_id
        )
        signature = base64.b64encode(self._key.sign(unsigned.payload())).decode()
        return replace(unsigned, signature=signature)


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from PEM or raw base64; a private key (PEM or base64 seed) gives its public."""
    if "PRIVATE KEY-----" in text:
        return CheckpointSigner.from_text(text).public_key
    if "-----BEGIN" in text:
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    raw = _raw32(text)
    if raw is None:
        raise ValueError("a public key must be PEM or 32 bytes in base64")
    return Ed25519PublicKey.from_public_bytes(raw)


def generate_key() -> tuple[str, str]:
    """A new key pair: (private key as PKCS#8 PEM, public key as raw base64)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, CheckpointSigner(key).public_key_text()


def write_checkpoints(path: Path, checkpoints: Iterable[Checkpoint]) -> int:
    """Write checkpoints as JSON lines (one canonical object each); returns how many."""
    lines = [cp.to_json() for cp in checkpoints]
    path.write_text("".join(line + "\n" for line in lines))
    return len(lines)


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """Read a checkpoint file written by `write_checkpoints` (blank lines ignored)."""
    out = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                out.append(Checkpoint.from_json(line))
            except (ValueError, json.JSONDecodeError) as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
    return out
