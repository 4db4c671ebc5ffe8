"""The audit log: an append-only, hash-chained record of sessions, statements and decisions.

Events (`SessionStarted`, `StatementIntent`, ...) are frozen dataclasses whose field names are the
export schema (``docs/audit.md``). `AuditLog.open(config.audit)` gives a store with a group-commit
writer; ``await log.record(event)`` returns once the event is durably stored (strict mode), which
is the gate a statement passes before it is sent upstream. `verify` walks the chain and the signed
checkpoints; the query functions (`tail`, `search`, `export`, `replay`) serve the CLI and the API.
"""

from __future__ import annotations

from ._capture import ResultCapturer, StatementCapture
from ._chain import GENESIS_HASH, canonical, chain_hash
from ._checkpoint import (
    Checkpoint,
    CheckpointSigner,
    generate_key,
    load_public_key,
    read_checkpoints,
    write_checkpoints,
)
from ._errors import AuditError, AuditWriteError, StoreError
from ._events import (
    EVENT_TYPES,
    AuthFailed,
    CheckpointSigned,
    DecisionSummary,
    Durability,
    FactsSummary,
    GrantChanged,
    KeyRotated,
    MaskingSummary,
    PolicyLoaded,
    PolicyRefused,
    ResultCapture,
    RetentionRun,
    ReviewChanged,
    ReviewRequested,
    SessionEnded,
    SessionStarted,
    StatementIntent,
    StatementOutcome,
    ValueUnmasked,
    decode_event,
)
from ._format import parse_duration, parse_time, summary
from ._open import AuditLog, open_store, signer_from_config, store_url
from ._query import (
    CSV_COLUMNS,
    EventFilter,
    ReplayStatement,
    SessionReplay,
    StoredEvent,
    export,
    follow,
    iter_events,
    read_jsonl,
    rebuild_body,
    replay,
    search,
    tail,
)
from ._retention import PruneReport, prune
from ._store import AuditStore
from ._verify import Problem, VerifyReport, verify
from ._writer import AuditWriter, WriterStats, record_direct

__all__ = [
    "CSV_COLUMNS",
    "EVENT_TYPES",
    "GENESIS_HASH",
    "AuditError",
    "AuditLog",
    "AuditStore",
    "AuditWriteError",
    "AuditWriter",
    "AuthFailed",
    "Checkpoint",
    "CheckpointSigned",
    "CheckpointSigner",
    "DecisionSummary",
    "Durability",
    "EventFilter",
    "FactsSummary",
    "GrantChanged",
    "KeyRotated",
    "MaskingSummary",
    "PolicyLoaded",
    "PolicyRefused",
    "Problem",
    "PruneReport",
    "ReplayStatement",
    "ResultCapture",
    "ResultCapturer",
    "RetentionRun",
    "ReviewChanged",
    "ReviewRequested",
    "SessionEnded",
    "SessionReplay",
    "SessionStarted",
    "StatementCapture",
    "StatementIntent",
    "StatementOutcome",
    "StoreError",
    "StoredEvent",
    "ValueUnmasked",
    "VerifyReport",
    "WriterStats",
    "canonical",
    "chain_hash",
    "decode_event",
    "export",
    "follow",
    "generate_key",
    "iter_events",
    "load_public_key",
    "open_store",
    "parse_duration",
    "parse_time",
    "prune",
    "read_checkpoints",
    "read_jsonl",
    "rebuild_body",
    "record_direct",
    "replay",
    "search",
    "signer_from_config",
    "store_url",
    "summary",
    "tail",
    "verify",
    "write_checkpoints",
]
