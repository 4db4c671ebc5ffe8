"""Audit events: what the gateway records, as frozen dataclasses whose field names are the schema.

The field names here are the export schema (JSON lines, CSV, the REST API later) and part of the
hashed bytes, so renaming one is a schema change: add a field with a default instead, and bump
`SCHEMA_VERSION` only for a change old readers cannot ignore. `docs/audit.md` lists every field.

Nothing sensitive is stored raw: statement text, parameters and captured results arrive already
masked by the caller (the masking plan decides), and the masking summary carries counts and column
names, never values.

The envelope keys (`ENVELOPE_KEYS`: type, v, at, durability) are added by the writer, so no event
may have a field of those names; `_register` checks it when the module loads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Final, Literal, Protocol

__all__ = [
    "ENVELOPE_KEYS",
    "EVENT_TYPES",
    "EXPORT_KEYS",
    "SCHEMA_VERSION",
    "AuditEvent",
    "AuthFailed",
    "CheckpointSigned",
    "DecisionSummary",
    "Durability",
    "FactsSummary",
    "GrantChanged",
    "KeyRotated",
    "MaskingSummary",
    "PolicyLoaded",
    "PolicyRefused",
    "ResultCapture",
    "RetentionRun",
    "ReviewChanged",
    "ReviewRequested",
    "SessionEnded",
    "SessionStarted",
    "StatementIntent",
    "StatementOutcome",
    "ValueUnmasked",
    "decode_event",
    "event_fields",
]

SCHEMA_VERSION: Final = 1
ENVELOPE_KEYS: Final = frozenset({"type", "v", "at", "durability"})
# Added beside the body in exports (JSON lines, CSV): no event field may take these names either.
EXPORT_KEYS: Final = frozenset({"seq", "time", "hash", "prev_hash"})

Durability = Literal["strict", "relaxed"]


class AuditEvent(Protocol):
    """Any event class below: a dataclass with a `type` name."""

    type: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, Any]]


# -- parts of a statement intent / outcome ----------------------------------------------------


class _ObjectRefLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def schema(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def access(self) -> str: ...


class _StatementLike(Protocol):
    @property
    def kinds(self) -> frozenset[str]: ...
    @property
    def command(self) -> str: ...
    @property
    def objects(self) -> tuple[_ObjectRefLike, ...]: ...
    @property
    def functions(self) -> tuple[str, ...]: ...


class _AnalysisLike(Protocol):
    @property
    def statements(self) -> tuple[_StatementLike, ...]: ...
    @property
    def unparsable(self) -> bool: ...


class _DecisionLike(Protocol):
    @property
    def effect(self) -> str: ...
    @property
    def rules(self) -> tuple[str, ...]: ...
    @property
    def policy_version(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def read_only(self) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class FactsSummary:
    """What the analysis found, reduced to what an auditor searches by.

    ``objects`` are ``schema.name:access`` strings (``name:access`` when unqualified) so they read
    the same in JSON and CSV; ``commands`` keeps one entry per statement of a multi-statement query.
    """

    kinds: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    unparsable: bool = False

    @classmethod
    def from_analysis(cls, analysis: _AnalysisLike) -> FactsSummary:
        """Summarise `wardgate.sql.Analysis` (or anything shaped like it) without importing it."""
        kinds: set[str] = set()
        objects: dict[str, None] = {}
        functions: dict[str, None] = {}
        for st in analysis.statements:
            kinds.update(st.kinds)
            for ref in st.objects:
                qualified = f"{ref.schema}.{ref.name}" if ref.schema else ref.name
                objects[f"{qualified}:{ref.access}"] = None
            functions.update(dict.fromkeys(st.functions))
        return cls(
            kinds=tuple(sorted(kinds)),
            commands=tuple(st.command for st in analysis.statements),
            objects=tuple(objects),
            functions=tuple(functions),
            unparsable=analysis.unparsable,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionSummary:
    """The policy decision: its effect, the rules that made it, the policy version."""

    effect: str
    rules: tuple[str, ...] = ()
    policy_version: str = ""
    message: str = ""
    read_only: bool = False

    @classmethod
    def from_decision(cls, decision: _DecisionLike) -> DecisionSummary:
        """Take the audited fields of `wardgate.policy.Decision` (structurally, no import)."""
        return cls(
            effect=decision.effect,
            rules=tuple(decision.rules),
            policy_version=decision.policy_version,
            message=decision.message,
            read_only=decision.read_only,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class MaskingSummary:
    """What masking did to one result: column names and counts per entity type, never values."""

    columns: tuple[str, ...] = ()
    entities: Mapping[str, int] = field(default_factory=dict)
    values: int = 0


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStarted:
    """A client authenticated and was connected to an upstream."""

    type: ClassVar[str] = "session.started"
    session_id: str
    user: str
    groups: tuple[str, ...] = ()
    identity_kind: str = "human"
    auth_method: str = ""
    connection: str
    client_addr: str | None = None
    application_name: str | None = None
    gateway: str | None = None
    # How a federated sign-in was proved (credential, api_key, workload_jwt, oidc_token), which
    # credential (its id or a JWT's jti: never the secret), the workload's issuer and subject,
    # the owner of a service identity, and the person an agent said it acts for (asserted by the
    # agent; policy decides for both).
    credential_method: str | None = None
    credential_id: str | None = None
    issuer: str | None = None
    subject: str | None = None
    owner: str | None = None
    on_behalf_of: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEnded:
    """A session closed; ``reason`` says how (client_closed, client_lost, upstream_lost, ...)."""

    type: ClassVar[str] = "session.ended"
    session_id: str
    user: str
    connection: str
    reason: str
    statements: int = 0
    duration_us: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementIntent:
    """Recorded, durably in strict mode, *before* the statement is sent upstream.

    ``text`` and ``parameters`` are already masked by the caller. ``statement_seq`` numbers the
    statements of one session from 1; the outcome and captures name the same pair.
    """

    type: ClassVar[str] = "statement.intent"
    session_id: str
    statement_seq: int
    user: str
    connection: str
    text: str
    parameters: tuple[str | None, ...] = ()
    facts: FactsSummary = FactsSummary()
    decision: DecisionSummary
    approvals: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementOutcome:
    """How a statement ended: ``status`` is ok, error, denied or cancelled."""

    type: ClassVar[str] = "statement.outcome"
    session_id: str
    statement_seq: int
    status: str
    rows: int | None = None
    duration_us: int = 0
    sqlstate: str | None = None
    masking: MaskingSummary = MaskingSummary()


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultCapture:
    """The (masked) result as the client received it, cut at the configured caps.

    Values are text as sent (None for SQL NULL); ``truncated`` says a cap stopped the capture and
    ``rows_seen`` counts every row the statement returned, captured or not.
    """

    type: ClassVar[str] = "statement.result"
    session_id: str
    statement_seq: int
    columns: tuple[str, ...]
    captured: tuple[tuple[str | None, ...], ...]
    truncated: bool = False
    rows_seen: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyLoaded:
    type: ClassVar[str] = "policy.loaded"
    version: str
    rules: int
    source: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyRefused:
    """A policy change that failed to load; the previous version stays in force."""

    type: ClassVar[str] = "policy.refused"
    source: str
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRotated:
    """A key (masking, token signing, checkpoint) was replaced; only its id is recorded."""

    type: ClassVar[str] = "key.rotated"
    purpose: str
    key_id: str
    actor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionRun:
    """`prune` removed events up to ``through_seq``; a signed checkpoint anchors what remains."""

    type: ClassVar[str] = "audit.retention"
    cutoff_us: int
    deleted: int
    through_seq: int
    through_hash: str
    actor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointSigned:
    """A checkpoint made on request (not the periodic ones, which would each move the head)."""

    type: ClassVar[str] = "audit.checkpoint"
    checkpoint_seq: int
    checkpoint_hash: str
    key_id: str
    actor: str | None = None


_NESTED: dict[type[Any], dict[str, type[Any]]] = {}
_PARTS: Final[Mapping[str, type[Any]]] = {
    cls.__name__: cls for cls in (FactsSummary, DecisionSummary, MaskingSummary)
}


def _register(*classes: type[Any]) -> Mapping[str, type[Any]]:
    registry: dict[str, type[Any]] = {}
    for cls in classes:
        names = {f.name for f in dataclasses.fields(cls)}
        clash = names & (ENVELOPE_KEYS | EXPORT_KEYS)
        if clash:
            raise TypeError(f"{cls.__name__} uses reserved key(s) {sorted(clash)}")
        registry[cls.type] = cls
        # Annotations are strings (postponed evaluation); nested parts are named plainly.
        _NESTED[cls] = {
            f.name: _PARTS[str(f.type)] for f in dataclasses.fields(cls) if str(f.type) in _PARTS
        }
    return MappingProxyType(registry)


@dataclass(frozen=True, slots=True, kw_only=True)
class ValueUnmasked:
    """An authorised ``wardgate unmask`` of an ``fpe`` value. The masked value is recorded (it
    is what the person already saw), never the clear one."""

    type: ClassVar[str] = "masking.unmasked"
    actor: str
    masked_value: str
    entity: str | None
    type_name: str
    key_id: str
    reason: str
    rules: tuple[str, ...]
    policy_version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewRequested:
    """Policy held a statement for review. The statement itself is in its intent (literals
    tokenized); ``binding`` is the digest the approval is bound to."""

    type: ClassVar[str] = "review.requested"
    review_id: str
    requester: str
    on_behalf_of: str | None = None
    connection: str
    session_id: str | None = None
    rules: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    approvals_needed: int = 1
    wait: str = "hold"
    binding: str
    policy_version: str = ""
    expires_at: int = 0  # unix seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewChanged:
    """A review moved: ``action`` is approve, reject, cancel, expire, execute or preview;
    ``actor`` who did it (``gateway`` for expiry and execution) and ``via`` which channel."""

    type: ClassVar[str] = "review.changed"
    review_id: str
    action: str
    actor: str
    via: str = ""
    status: str
    reason: str = ""
    approvals: int = 0
    approvals_needed: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class GrantChanged:
    """A just-in-time grant moved: ``action`` is requested, break_glass, approve, reject,
    revoke or expire; ``ends_at`` (unix seconds) is when an active grant stops counting."""

    type: ClassVar[str] = "grant.changed"
    grant_id: str
    action: str
    actor: str
    via: str = ""
    requester: str
    connection: str
    role: str
    status: str
    reason: str = ""
    ends_at: int | None = None
    break_glass: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthFailed:
    """A sign-in was refused, at any door. Never the password, token or key: the user name tried
    (empty where the door does not say), from where, the ``method`` tried (on the PostgreSQL
    port: scram, token, credential, api_key, workload_jwt, oidc_token, unknown, or what the user
    would sign in with when refused before sending a secret; elsewhere the door: oidc_exchange,
    api, console, console_oidc), a short ``reason`` code and a ``detail`` safe to log.

    ``rate_limited`` refusals are recorded once per blocking bucket per interval, ``attempts``
    saying how many refusals the event stands for; ``suppressed`` counts failed sign-ins left
    out of the log just before this one because the gateway's budget for them was spent.
    """

    type: ClassVar[str] = "auth.failed"
    user: str
    client_addr: str | None = None
    method: str
    reason: str
    detail: str = ""
    attempts: int = 1
    suppressed: int = 0
    gateway: str | None = None


EVENT_TYPES: Final = _register(
    SessionStarted,
    SessionEnded,
    StatementIntent,
    StatementOutcome,
    ResultCapture,
    PolicyLoaded,
    PolicyRefused,
    KeyRotated,
    RetentionRun,
    CheckpointSigned,
    ValueUnmasked,
    ReviewRequested,
    ReviewChanged,
    GrantChanged,
    AuthFailed,
)


def event_fields(event: Any) -> dict[str, Any]:
    """The event's own fields as plain data (nested parts as dicts), in declaration order."""
    if not dataclasses.is_dataclass(event) or isinstance(event, type):
        raise TypeError(f"not an audit event: {event!r}")
    if type(event) not in _NESTED:
        raise TypeError(f"{type(event).__name__} is not a registered audit event")
    out: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = {p.name: getattr(value, p.name) for p in dataclasses.fields(value)}
        out[f.name] = value
    return out


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def decode_event(obj: Mapping[str, Any]) -> Any:
    """Rebuild an event from its decoded JSON body; unknown fields (a newer writer) are dropped."""
    cls = EVENT_TYPES.get(str(obj.get("type")))
    if cls is None:
        raise ValueError(f"unknown audit event type {obj.get('type')!r}")
    nested = _NESTED[cls]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in obj:
            continue
        value = obj[f.name]
        part = nested.get(f.name)
        if part is not None and isinstance(value, Mapping):
            known = {p.name for p in dataclasses.fields(part)}
            value = part(**{k: _tuples(v) for k, v in value.items() if k in known})
        else:
            value = _tuples(value)
        kwargs[f.name] = value
    return cls(**kwargs)
