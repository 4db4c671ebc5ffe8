"""Service identities (AI agents, services), their API keys, and revoked gateway credentials.

One SQLite file next to the gateway config (``auth.store``). SQLite rather than a YAML/JSON
file because the CLI writes (create, rotate, revoke) while a running gateway reads, and SQLite
gives that atomically with no locking of our own; a revocation is seen by the very next sign-in,
with no reload. When several gateways share state this moves to `wardgate.store` (the shared
SQLAlchemy store); the table shapes are meant to carry over.

API keys look like ``wga_<key id>_<secret>``: the ``wga_`` prefix lets secret scanners find
leaked keys, the key id (public) finds the row without a scan, and only SHA-256 of the 256-bit
random secret is stored. A slow password hash (argon2, scrypt) protects *guessable* secrets;
these are not guessable, and a slow hash on every agent connection would hand anyone who can
reach the port a cheap way to burn the gateway's CPU. A pepper adds nothing to a secret with
256 bits of entropy, and would be one more key to keep. The raw key is shown once, at creation
or rotation, and never written anywhere.

Every method is blocking; the gateway calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "KEY_PREFIX",
    "ApiKey",
    "IdentityStore",
    "ServiceIdentity",
    "StoreError",
    "looks_like_api_key",
]

KEY_PREFIX = "wga_"
_KEY = re.compile(r"wga_([0-9a-f]{12})_([0-9a-f]{64})")
ServiceKind = Literal["agent", "service"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS service_identities (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('agent', 'service')),
    owner TEXT NOT NULL,
    groups TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL REFERENCES service_identities(name),
    secret_sha256 TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS revoked_credentials (
    credential_id TEXT PRIMARY KEY,
    revoked_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS user_cutoffs (
    name TEXT PRIMARY KEY,
    not_before REAL NOT NULL
);
"""


class StoreError(Exception):
    """A store operation cannot be done; the message says why and never contains a key.

    ``code`` is a short reason for the audit log when a sign-in is refused (see `TokenError`).
    """

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    key_id: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None

    def valid_at(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceIdentity:
    name: str
    kind: ServiceKind
    owner: str
    groups: tuple[str, ...]
    created_at: float
    revoked_at: float | None
    keys: tuple[ApiKey, ...] = ()


def looks_like_api_key(text: str) -> bool:
    return text.startswith(KEY_PREFIX)


def _new_key() -> tuple[str, str, str]:
    key_id, secret = secrets.token_hex(6), secrets.token_hex(32)
    return key_id, f"{KEY_PREFIX}{key_id}_{secret}", hashlib.sha256(secret.encode()).hexdigest()


class IdentityStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        db = sqlite3.connect(path, timeout=5.0)
        try:
            db.executescript(_SCHEMA)  # commits on its own
        finally:
            db.close()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """One short connection per call: safe from any thread, and sees the CLI's last write."""
        db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    # --- service identities ---------------------------------------------------------------------

    def create(
        self, name: str, *, kind: ServiceKind, owner: str, groups: tuple[str, ...]
    ) -> tuple[ServiceIdentity, str]:
        """Create an identity with its first key; returns the raw key, to be shown once."""
        now = time.time()
        key_id, key, digest = _new_key()
        with self._db() as db:
            if db.execute("SELECT 1 FROM service_identities WHERE name=?", (name,)).fetchone():
                raise StoreError(f"service identity {name!r} exists")
            db.execute(
                "INSERT INTO service_identities VALUES (?, ?, ?, ?, ?, NULL)",
                (name, kind, owner, json.dumps(list(groups)), now),
            )
            db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL, NULL)", (key_id, name, digest, now)
            )
        return self.get(name), key

    def get(self, name: str) -> ServiceIdentity:
        with self._db() as db:
            row = db.execute(
                "SELECT name, kind, owner, groups, created_at, revoked_at"
                " FROM service_identities WHERE name=?",
                (name,),
            ).fetchone()
            if row is None:
                raise StoreError(f"no service identity {name!r}")
            keys = db.execute(
                "SELECT key_id, created_at, expires_at, revoked_at FROM api_keys"
                " WHERE name=? ORDER BY created_at",
                (name,),
            ).fetchall()
        return ServiceIdentity(
            name=row[0],
            kind=row[1],
            owner=row[2],
            groups=tuple(json.loads(row[3])),
            created_at=row[4],
            revoked_at=row[5],
            keys=tuple(
                ApiKey(key_id=k[0], created_at=k[1], expires_at=k[2], revoked_at=k[3]) for k in keys
            ),
        )

    def list(self) -> list[ServiceIdentity]:
        with self._db() as db:
            names = [r[0] for r in db.execute("SELECT name FROM service_identities ORDER BY name")]
        return [self.get(n) for n in names]

    def rotate(self, name: str, *, overlap: float) -> tuple[ApiKey, str]:
        """A new key; the keys valid now stay valid ``overlap`` seconds more (never longer)."""
        now = time.time()
        key_id, key, digest = _new_key()
        with self._db() as db:
            row = db.execute(
                "SELECT revoked_at FROM service_identities WHERE name=?", (name,)
            ).fetchone()
            if row is None:
                raise StoreError(f"no service identity {name!r}")
            if row[0] is not None:
                raise StoreError(f"service identity {name!r} is revoked")
            db.execute(
                "UPDATE api_keys SET expires_at = MIN(COALESCE(expires_at, ?), ?)"
                " WHERE name=? AND revoked_at IS NULL",
                (now + overlap, now + overlap, name),
            )
            db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL, NULL)", (key_id, name, digest, now)
            )
        return ApiKey(key_id=key_id, created_at=now, expires_at=None, revoked_at=None), key

    def revoke(self, name: str, *, key_id: str | None = None) -> None:
        """Revoke one key, or (no ``key_id``) the identity and all its keys."""
        now = time.time()
        with self._db() as db:
            if key_id is not None:
                cur = db.execute(
                    "UPDATE api_keys SET revoked_at=? WHERE name=? AND key_id=?"
                    " AND revoked_at IS NULL",
                    (now, name, key_id),
                )
                if cur.rowcount == 0:
                    raise StoreError(f"{name!r} has no live key {key_id!r}")
                return
            cur = db.execute(
                "UPDATE service_identities SET revoked_at=? WHERE name=? AND revoked_at IS NULL",
                (now, name),
            )
            if cur.rowcount == 0:
                raise StoreError(f"no live service identity {name!r}")
            db.execute(
                "UPDATE api_keys SET revoked_at=? WHERE name=? AND revoked_at IS NULL", (now, name)
            )

    def active(self, name: str) -> ServiceIdentity:
        """``name``'s identity if it exists and is not revoked (a workload JWT signing in)."""
        try:
            identity = self.get(name)
        except StoreError:
            raise StoreError(f"no service identity {name!r}", code="unknown_user") from None
        if identity.revoked_at is not None:
            raise StoreError("service identity is revoked", code="revoked")
        return identity

    def verify_key(self, name: str, key: str, *, now: float | None = None) -> ServiceIdentity:
        """The identity ``key`` belongs to, if it is ``name``'s and live; else StoreError."""
        match = _KEY.fullmatch(key)
        if match is None:
            raise StoreError("not a Wardgate API key", code="malformed")
        key_id, secret = match.groups()
        digest = hashlib.sha256(secret.encode()).hexdigest()
        with self._db() as db:
            row = db.execute(
                "SELECT name, secret_sha256 FROM api_keys WHERE key_id=?", (key_id,)
            ).fetchone()
        if row is None or not hmac.compare_digest(row[1], digest) or row[0] != name:
            raise StoreError("API key is not valid for this identity", code="bad_key")
        identity = self.get(name)
        current = time.time() if now is None else now
        key_row = next(k for k in identity.keys if k.key_id == key_id)
        if identity.revoked_at is not None:
            raise StoreError("service identity is revoked", code="revoked")
        if not key_row.valid_at(current):
            raise StoreError("API key is revoked or past its rotation deadline", code="revoked")
        return identity

    # --- gateway credentials ----------------------------------------------------------------------

    def revoke_credential(self, credential_id: str, *, expires_at: float) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO revoked_credentials VALUES (?, ?, ?)",
                (credential_id, time.time(), expires_at),
            )
            # Entries past their credential's expiry guard nothing: drop them as we go.
            db.execute("DELETE FROM revoked_credentials WHERE expires_at < ?", (time.time(),))

    def revoke_user_credentials(self, name: str) -> None:
        """Every credential issued to ``name`` until now stops working.

        Credentials carry whole-second issue times, so the cutoff is this whole second: one
        issued later in the same second is refused too (safe side; signing in again works).
        """
        with self._db() as db:
            cutoff = int(time.time())
            db.execute("INSERT OR REPLACE INTO user_cutoffs VALUES (?, ?)", (name, cutoff))

    def credential_revoked(self, credential_id: str, name: str, issued_at: float) -> bool:
        with self._db() as db:
            if db.execute(
                "SELECT 1 FROM revoked_credentials WHERE credential_id=?", (credential_id,)
            ).fetchone():
                return True
            row = db.execute("SELECT not_before FROM user_cutoffs WHERE name=?", (name,)).fetchone()
        return row is not None and issued_at <= row[0]
