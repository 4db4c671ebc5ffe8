"""What policy evaluation reads and returns.

The facts side is structural (`Protocol`s): policy must not depend on `wardgate.sql`, so it accepts
any object with the attributes it reads — `wardgate.sql.Analysis` in the gateway, the small
`Facts`/`Analyzed` dataclasses below in policy tests. The decision side is concrete and frozen,
because the gateway caches decisions and the audit log records them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ._schema import MaskDirective

__all__ = [
    "AnalysisLike",
    "Analyzed",
    "Connection",
    "Decision",
    "Facts",
    "Guardrails",
    "Identity",
    "ObjectRefLike",
    "Ref",
    "ReviewRequirement",
    "StatementFactsLike",
]


class ObjectRefLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def schema(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def access(self) -> str: ...


class StatementFactsLike(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def kinds(self) -> frozenset[str]: ...
    @property
    def command(self) -> str: ...
    @property
    def objects(self) -> tuple[ObjectRefLike, ...]: ...
    @property
    def hidden_write(self) -> bool: ...
    @property
    def unbounded_write(self) -> bool: ...
    @property
    def functions(self) -> tuple[str, ...]: ...
    @property
    def read_only_breaking(self) -> bool: ...


class AnalysisLike(Protocol):
    @property
    def statements(self) -> tuple[StatementFactsLike, ...]: ...
    @property
    def unparsable(self) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Ref:
    """A concrete `ObjectRefLike`, for facts written by hand."""

    kind: str = "relation"
    schema: str | None
    name: str
    access: str = "read"


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """A concrete `StatementFactsLike`, for facts written by hand (policy tests, replay)."""

    kinds: frozenset[str]
    command: str = "SELECT"
    text: str = ""
    objects: tuple[Ref, ...] = ()
    hidden_write: bool = False
    unbounded_write: bool = False
    functions: tuple[str, ...] = ()
    read_only_breaking: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Analyzed:
    """A concrete `AnalysisLike`."""

    statements: tuple[Facts, ...] = ()
    unparsable: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who asks. An agent acting for a person carries that person in ``on_behalf_of``: a
    statement must then be allowed for both (see `decide`)."""

    name: str
    groups: frozenset[str] = frozenset()
    kind: Literal["human", "agent", "service"] = "human"
    on_behalf_of: Identity | None = None
    grants: frozenset[str] = frozenset()  # roles held now through just-in-time grants


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    name: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Guardrails:
    """The strictest limits over every matching allow/review rule (None: no limit)."""

    row_limit: int | None = None
    statement_timeout_ms: int | None = None
    deny_unbounded_writes: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewRequirement:
    """One review rule's demand; every requirement of a decision must be met before it runs."""

    rule: str
    approvers: tuple[str, ...]
    approvals: int
    grant_ttl: int
    wait: Literal["hold", "retry"] = "hold"
    expires: int = 3600
    preview: Literal["none", "plan", "count"] = "plan"


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The outcome for one query string (all of its statements) under one policy version.

    ``rules`` are the ids of every matching rule that produced the winning effect (empty for the
    default deny). ``masks`` and ``guardrails`` come from the matching allow and review rules.
    ``read_only`` says the session may be opened read-only upstream (see `session_read_only`).
    ``condition_errors`` lists CEL conditions that failed at run time, for the audit log.
    """

    effect: Literal["allow", "review", "deny"]
    message: str
    rules: tuple[str, ...]
    policy_version: str
    masks: tuple[MaskDirective, ...] = ()
    guardrails: Guardrails = Guardrails()
    reviews: tuple[ReviewRequirement, ...] = ()
    read_only: bool = False
    condition_errors: tuple[str, ...] = ()
