"""Audit errors. Every one of them means "not recorded": a strict caller refuses the statement."""

from __future__ import annotations

__all__ = ["AuditError", "AuditWriteError", "StoreError"]


class AuditError(Exception):
    """Base of the audit errors."""


class AuditWriteError(AuditError):
    """The event was not stored. A strict caller must not run the statement it describes."""


class StoreError(AuditError):
    """The store cannot be opened or is not in a state the operation needs."""
