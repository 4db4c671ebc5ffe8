"""The policy file format, as pydantic models.

Every model forbids unknown keys: a misspelt key (``grops:``) silently ignored would widen or
narrow access without anyone noticing, so it is a load error instead. Cross-field rules (a review
rule needs review parameters, a deny rule cannot carry masks) are checked here too, so that a
policy that loads is one whose every key means something.
"""

from __future__ import annotations

import importlib
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wardgate.sql import KINDS as SQL_KINDS

__all__ = [
    "KINDS",
    "READ_KINDS",
    "AccessSpec",
    "CaseConnectionSpec",
    "CaseIdentitySpec",
    "CaseSpec",
    "Effect",
    "ExpectSpec",
    "FactsSpec",
    "GuardrailSpec",
    "IdentityKind",
    "MaskDirective",
    "MatchSpec",
    "ObjectSpec",
    "PolicyFile",
    "ReviewSpec",
    "RuleSpec",
]

#: Statement kinds, exactly as the SQL analyzer reports them (one definition for both).
KINDS: frozenset[str] = SQL_KINDS
#: Kinds a read-only database session can still run; see `session_read_only`. ``export`` is
#: COPY TO and SELECT INTO: with an allow rule needing every kind listed, COPY TO STDOUT is
#: read+export, while SELECT INTO (also write, ddl) and COPY to a server file (also admin) are not
#: covered by a rule that lists only these.
READ_KINDS: frozenset[str] = frozenset({"read", "utility", "transaction", "export"})

IdentityKind = Literal["human", "agent", "service"]
Effect = Literal["allow", "review", "deny"]
MaskOperator = Literal["tokenize", "partial", "redact", "null", "fpe"]
Name = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_kinds(kinds: tuple[str, ...]) -> tuple[str, ...]:
    unknown = sorted(set(kinds) - KINDS)
    if unknown:
        raise ValueError(f"unknown statement kind(s) {unknown}; known: {sorted(KINDS)}")
    return kinds


def _check_object_pattern(pattern: str) -> str:
    if pattern.count(".") != 1 or "" in pattern.split("."):
        raise ValueError(f"object pattern {pattern!r} must be 'schema.name' (globs allowed)")
    return pattern


class MatchSpec(_Strict):
    """What a rule applies to. Every given field must match; an absent field matches anything."""

    users: tuple[Name, ...] | None = None
    groups: tuple[Name, ...] | None = None
    kinds_of_identity: tuple[IdentityKind, ...] | None = None
    connections: tuple[Name, ...] | None = None
    connection_tags: dict[str, str] | None = None
    statement_kinds: tuple[str, ...] | None = None
    commands: tuple[Name, ...] | None = None
    objects: tuple[str, ...] | None = None
    unparsable: bool = False
    when: str | None = None

    @field_validator("statement_kinds")
    @classmethod
    def _kinds(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else _check_kinds(value)

    @field_validator("objects")
    @classmethod
    def _objects(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(_check_object_pattern(p) for p in value)

    @field_validator("commands")
    @classmethod
    def _commands(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(" ".join(c.upper().split()) for c in value)

    @model_validator(mode="after")
    def _unparsable_alone(self) -> MatchSpec:
        if self.unparsable and (self.statement_kinds or self.commands or self.objects):
            raise ValueError(
                "'unparsable: true' cannot be combined with statement_kinds, commands or objects:"
                " an unparsable statement has no facts"
            )
        return self


class ReviewSpec(_Strict):
    """Who must approve, how many approvals, and how long the resulting grant lasts (seconds).

    ``wait``: ``hold`` keeps the client waiting on its socket until the review is decided;
    ``retry`` refuses at once, naming the review, and runs the same statement sent again after
    approval. ``expires`` (seconds) is how long a review may stay pending. ``preview`` is what
    reviewers see of a write before deciding: ``plan`` (the planner's row estimate), ``count``
    (the exact count of affected rows, from running it in a transaction that is rolled back:
    only where running it twice is harmless) or ``none``.
    """

    approvers: tuple[Name, ...] = Field(min_length=1)
    approvals: int = Field(default=1, ge=1)
    grant_ttl: int = Field(default=3600, ge=1)
    wait: Literal["hold", "retry"] = "hold"
    expires: int = Field(default=3600, ge=1)
    preview: Literal["none", "plan", "count"] = "plan"


class MaskDirective(_Strict):
    """Mask columns (globs over ``schema.table.column`` or bare names) or detected entities."""

    columns: tuple[Name, ...] | None = None
    entities: tuple[Name, ...] | None = None
    operator: MaskOperator

    @model_validator(mode="after")
    def _one_target(self) -> MaskDirective:
        if (self.columns is None) == (self.entities is None):
            raise ValueError("a mask directive needs exactly one of 'columns' or 'entities'")
        return self


class GuardrailSpec(_Strict):
    """Limits the gateway enforces while running an allowed statement."""

    row_limit: int | None = Field(default=None, ge=1)
    statement_timeout_ms: int | None = Field(default=None, ge=1)
    deny_unbounded_writes: bool = False


class RuleSpec(_Strict):
    """One rule as written in a policy file."""

    id: Name
    description: str = ""
    match: MatchSpec = MatchSpec()
    effect: Effect
    message: str | None = None
    review: ReviewSpec | None = None
    mask: tuple[MaskDirective, ...] = ()
    guardrails: GuardrailSpec | None = None

    @model_validator(mode="after")
    def _effect_fields(self) -> RuleSpec:
        if self.effect == "review" and self.review is None:
            raise ValueError("a 'review' rule needs 'review: {approvers: [...]}'")
        if self.effect != "review" and self.review is not None:
            raise ValueError(f"'review' parameters make no sense on an '{self.effect}' rule")
        if self.effect == "deny" and (self.mask or self.guardrails is not None):
            raise ValueError("a 'deny' rule cannot carry 'mask' or 'guardrails' (nothing runs)")
        return self


class CaseIdentitySpec(_Strict):
    name: Name
    groups: tuple[Name, ...] = ()
    kind: IdentityKind = "human"
    grants: tuple[Name, ...] = ()  # roles held through just-in-time grants


class CaseConnectionSpec(_Strict):
    name: Name
    tags: dict[str, str] = Field(default_factory=dict)


class ObjectSpec(_Strict):
    kind: Literal["relation", "function", "schema", "role", "database"] = "relation"
    schema_: str | None = Field(default=None, alias="schema")
    name: Name
    access: Literal["read", "write", "ddl", "execute", "grant"] = "read"


class FactsSpec(_Strict):
    """Explicit statement facts for a policy test, so tests need no SQL analyzer.

    ``objects`` entries are ``schema.name`` strings (a relation read, or written when the kinds
    include ``write``) or full mappings.
    """

    kinds: tuple[str, ...] = Field(min_length=1)
    command: Name = "SELECT"
    text: str = ""
    objects: tuple[str | ObjectSpec, ...] = ()
    hidden_write: bool = False
    unbounded_write: bool = False
    functions: tuple[str, ...] = ()
    read_only_breaking: bool = False

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_kinds(value)


class ExpectSpec(_Strict):
    effect: Effect
    rules: tuple[str, ...] | None = None
    mask: tuple[MaskDirective, ...] | None = None
    read_only: bool | None = None
    row_limit: int | None = None
    message_contains: str | None = None


class CaseSpec(_Strict):
    """Given an identity, a connection and a statement, the decision policy must reach."""

    name: Name
    identity: CaseIdentitySpec
    connection: CaseConnectionSpec = CaseConnectionSpec(name="default")
    sql: str | None = None
    facts: FactsSpec | tuple[FactsSpec, ...] | None = None
    unparsable: bool = False
    context: dict[str, object] = Field(default_factory=dict)
    expect: ExpectSpec

    @model_validator(mode="after")
    def _one_statement_source(self) -> CaseSpec:
        given = [self.sql is not None, self.facts is not None, self.unparsable]
        if sum(given) != 1:
            raise ValueError("a test needs exactly one of 'sql', 'facts' or 'unparsable: true'")
        return self


class EntitySpec(_Strict):
    """A custom entity type the detectors look for, reported as ``custom:<name>``."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
    pattern: Annotated[str, Field(min_length=1)]
    validator: str | None = None  # luhn | mod97 | stdnum.<module>
    context: tuple[Name, ...] = ()  # when given, one of these words must be near the value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from None
        return value

    @field_validator("validator")
    @classmethod
    def _known_validator(cls, value: str | None) -> str | None:
        if value is None or value in ("luhn", "mod97"):
            return value
        if re.fullmatch(r"stdnum(\.[a-z_][a-z0-9_]*)+", value):
            try:
                module = importlib.import_module(value)
            except ImportError:
                raise ValueError(f"validator module {value} does not exist") from None
            if not callable(getattr(module, "is_valid", None)):
                raise ValueError(f"{value} has no is_valid()")
            return value
        raise ValueError("validator must be 'luhn', 'mod97' or a 'stdnum.<module>' name")


class ClassifySpec(_Strict):
    """Pins columns (globs as in mask directives) to an entity, or (entity null) to not sensitive.

    A pin overrides what the gateway's classifier concluded from the catalog and samples.
    """

    columns: tuple[Name, ...] = Field(min_length=1)
    entity: Name | None


class AccessSpec(_Strict):
    """A role people may ask for, for a while: just-in-time access (see docs/approvals.md).

    An approved grant of ``role`` on a connection matching ``connections`` gives the policy the
    fact ``'<role>' in grant.roles`` (CEL) for its lifetime, never longer than ``max_duration``
    seconds. ``requesters`` are the groups that may ask; ``approvers`` decide, ``approvals`` of
    them. ``break_glass`` groups may grant themselves the role without approval, for at most
    ``break_glass_max`` seconds: always recorded and announced to every notifier.
    """

    role: Name
    description: str = ""
    connections: tuple[Name, ...] = ("*",)
    requesters: tuple[Name, ...] = Field(min_length=1)
    approvers: tuple[Name, ...] = Field(min_length=1)
    approvals: int = Field(default=1, ge=1)
    max_duration: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    break_glass: tuple[Name, ...] = ()
    break_glass_max: int = Field(default=900, ge=60, le=24 * 3600)


class PolicyFile(_Strict):
    rules: tuple[RuleSpec, ...] = ()
    access: tuple[AccessSpec, ...] = ()
    tests: tuple[CaseSpec, ...] = ()
    entities: tuple[EntitySpec, ...] = ()
    classify: tuple[ClassifySpec, ...] = ()
