"""From gateway config to a running audit log: the one entry point the doors call.

`AuditLog` bundles the store, its writer and the config, and picks strict or relaxed per
connection, so the proxy does not repeat that decision at every call site.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.engine import make_url

from wardgate.config import AuditConfig, ConfigError

from ._capture import ResultCapturer
from ._checkpoint import CheckpointSigner
from ._events import AuditEvent, Durability
from ._store import AuditStore, normalize_url
from ._writer import AuditWriter

__all__ = ["AuditLog", "open_store", "signer_from_config", "store_url"]


def store_url(config: AuditConfig, base_dir: Path | None = None) -> str:
    """The async SQLAlchemy URL of the configured store, with its password filled in."""
    url = normalize_url(config.store, base_dir)
    if config.store_password is not None:
        password = config.store_password.resolve(base_dir)
        url = make_url(url).set(password=password).render_as_string(hide_password=False)
    return url


def signer_from_config(
    config: AuditConfig, base_dir: Path | None = None
) -> CheckpointSigner | None:
    """The checkpoint signer, or None when no ``checkpoint_key`` is configured."""
    if config.checkpoint_key is None:
        return None
    text = config.checkpoint_key.resolve(base_dir)
    try:
        return CheckpointSigner.from_text(text)
    except ValueError as exc:
        raise ConfigError(f"audit.checkpoint_key: {exc}") from None


async def open_store(config: AuditConfig, base_dir: Path | None = None) -> AuditStore:
    return await AuditStore.open(
        store_url(config, base_dir), sqlite_synchronous=config.sqlite_synchronous
    )


class AuditLog:
    """A store and a started writer, configured from the ``audit:`` section.

    ``await AuditLog.open(cfg.audit, base_dir=cfg.base_dir)``, then `record` for every event, and
    `close` at shutdown (commits what is queued, signs a last checkpoint when a key is set).
    """

    def __init__(self, config: AuditConfig, store: AuditStore, writer: AuditWriter) -> None:
        self.config = config
        self.store = store
        self.writer = writer

    @classmethod
    async def open(cls, config: AuditConfig, *, base_dir: Path | None = None) -> AuditLog:
        signer = signer_from_config(config, base_dir)
        store = await open_store(config, base_dir)
        writer = AuditWriter(
            store,
            max_batch=config.batch_max_size,
            max_wait=config.batch_max_wait,
            max_pending=config.max_pending,
            linger=config.relaxed_linger,
            signer=signer,
            checkpoint_interval=config.checkpoint_interval if signer is not None else 0.0,
        )
        await writer.start()
        return cls(config, store, writer)

    def durability_for(self, connection: str | None) -> Durability:
        if connection is None:
            return self.config.durability
        return self.config.durability_for(connection)

    async def record(self, event: AuditEvent, *, connection: str | None = None) -> int | None:
        """Record per the connection's durability: the seq once stored (strict), or None (relaxed).

        Raises `AuditWriteError` when a strict event was not stored: do not run the statement.
        """
        if self.durability_for(connection) == "strict":
            return await self.writer.record(event)
        self.writer.record_nowait(event)
        return None

    def submit(
        self, event: AuditEvent, *, connection: str | None = None, wait: bool = True
    ) -> asyncio.Future[int] | None:
        """Queue ``event`` per the connection's durability, from code that cannot await.

        Strict and ``wait``: the future of its seq (it fails with `AuditWriteError` if the event
        was not stored). Relaxed, or ``wait=False`` (an event nothing waits on, such as an
        outcome): None, the event is committed with a later batch and marked with the
        connection's durability. Raises `AuditError` if it cannot be queued at all.
        """
        mode = self.durability_for(connection)
        if mode == "strict" and wait:
            return self.writer.submit(event)
        self.writer.record_nowait(event, mode)
        return None

    def capturer(self, session_id: str) -> ResultCapturer | None:
        """A per-session result capturer when ``capture_results`` is on, else None."""
        if not self.config.capture_results:
            return None
        return ResultCapturer(
            session_id,
            max_statement_bytes=self.config.capture_max_bytes_per_statement,
            max_session_bytes=self.config.capture_max_bytes_per_session,
        )

    async def close(self) -> None:
        try:
            await self.writer.close()
        finally:
            await self.store.close()
