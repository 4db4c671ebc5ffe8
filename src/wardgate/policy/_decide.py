"""`decide`: one decision for one query string, a pure function of its inputs.

Each statement is decided on its own — deny if any matching rule denies (or a guardrail of a
matching rule refuses it), else review if any matching rule asks for review, else allow if any
matching rule allows, else deny because nothing allowed it — and the query gets the most
restrictive of its statements' effects. A CEL condition that fails at run time counts as *not
matching* for rules that grant (allow, review) and as *matching* for deny rules: an error can only
ever make the decision stricter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._cel import activation
from ._load import Policy
from ._match import CompiledRule, identity_matches, statement_matches
from ._schema import MaskDirective
from ._types import (
    AnalysisLike,
    Connection,
    Decision,
    Guardrails,
    Identity,
    ReviewRequirement,
    StatementFactsLike,
)

__all__ = ["decide", "session_read_only"]

EffectName = Literal["allow", "review", "deny"]
_SEVERITY: dict[EffectName, int] = {"allow": 0, "review": 1, "deny": 2}


@dataclass(slots=True)
class _Outcome:
    effect: EffectName
    message: str
    contributors: list[CompiledRule]
    granting: list[CompiledRule] = field(default_factory=list)


def session_read_only(policy: Policy, identity: Identity, connection: Connection) -> bool:
    """Whether the identity's upstream session can be opened read-only on this connection.

    True when at least one allow/review rule matches the identity and connection (ignoring
    statement fields and conditions, which vary per statement) and every such rule lists
    ``statement_kinds`` within {read, utility, transaction}. A granting rule without
    ``statement_kinds`` might permit a write, so it makes the session read-write. An agent acting
    for a person is read-only if either of them is.
    """
    granting = [r for r in policy.rules if r.grants and identity_matches(r, identity, connection)]
    own = bool(granting) and all(r.read_kinds_only for r in granting)
    if identity.on_behalf_of is not None:
        return own or session_read_only(policy, identity.on_behalf_of, connection)
    return own


#: Kinds that can create or rename objects (DDL, and DO/CALL and admin statements, which can run
#: anything), and so put a value into a name.
_NAMING_KINDS = frozenset({"ddl", "procedural", "admin"})


def session_cannot_name(policy: Policy, identity: Identity, connection: Connection) -> bool:
    """Whether nothing the identity may run on this connection creates or renames objects: every
    granting rule that matches it lists ``statement_kinds``, none of them ddl, procedural or
    admin. Then the names in the
    system catalog were put there by others, and masking may show them (see masking's
    `STRUCTURAL_COLUMNS`); an identity that may define objects could name one after a value.
    An agent acting for a person must be unable to, and so must the person. Names persist and are
    shared, so this is only the session's part: the operator must also know that no other
    masked identity can define objects (``masking.trust_catalog_names``)."""
    granting = [r for r in policy.rules if r.grants and identity_matches(r, identity, connection)]
    own = bool(granting) and all(
        r.spec.match.statement_kinds and not set(r.spec.match.statement_kinds) & _NAMING_KINDS
        for r in granting
    )
    if identity.on_behalf_of is not None:
        # Both must be unable to: the agent's own power to define objects holds whoever it
        # claims to act for (and it could define them in a session of its own anyway).
        return own and session_cannot_name(policy, identity.on_behalf_of, connection)
    return own


def _describe(statement: StatementFactsLike | None, index: int, total: int) -> str:
    what = "unparsable statement" if statement is None else (statement.command or "statement")
    return f"{what} (statement {index + 1} of {total})" if total > 1 else what


def _ids(rules: Iterable[CompiledRule]) -> str:
    return ", ".join(repr(r.id) for r in rules)


def _decide_statement(
    candidates: list[CompiledRule],
    statement: StatementFactsLike | None,
    label: str,
    variables: tuple[Identity, Connection, Mapping[str, Any]],
    errors: list[str],
) -> _Outcome:
    matched: list[CompiledRule] = []
    context: Any = None
    context_error: str | None = None
    for rule in candidates:
        if not statement_matches(rule, statement):
            continue
        if rule.condition is not None:
            if context is None and context_error is None:
                try:
                    context = activation(variables[0], variables[1], statement, variables[2])
                except Exception as exc:  # unconvertible context values: fail closed below
                    context_error = f"cannot build CEL variables: {type(exc).__name__}: {exc}"
            try:
                if context_error is not None:
                    raise ValueError(context_error)
                ok = rule.condition.evaluate(context)
            except ValueError as exc:
                errors.append(f"rule {rule.id!r}: {exc}")
                ok = not rule.grants
            if not ok:
                continue
        matched.append(rule)

    granting = [r for r in matched if r.grants]
    denying = [r for r in matched if not r.grants]
    if denying:
        first = denying[0]
        message = first.spec.message or f"{label} denied by policy rule {first.id!r}"
        return _Outcome("deny", message, denying, granting)
    if statement is not None and statement.unbounded_write:
        guards = [
            r for r in granting if r.spec.guardrails and r.spec.guardrails.deny_unbounded_writes
        ]
        if guards:
            message = (
                f"{label} would change every row (no WHERE clause that restricts rows);"
                f" refused by the guardrail of rule(s) {_ids(guards)}: add a WHERE clause"
            )
            return _Outcome("deny", message, guards, granting)
    reviewing = [r for r in granting if r.spec.effect == "review"]
    if reviewing:
        message = reviewing[0].spec.message or (
            f"{label} needs approval (policy rule(s) {_ids(reviewing)})"
        )
        return _Outcome("review", message, reviewing, granting)
    if granting:
        message = f"{label} allowed by policy rule(s) {_ids(granting)}"
        return _Outcome("allow", message, granting, granting)
    return _Outcome("deny", f"{label} denied: no policy rule allows it (default deny)", [], [])


def _unique(rules: Iterable[CompiledRule]) -> list[CompiledRule]:
    seen: dict[str, CompiledRule] = {}
    for rule in rules:
        seen.setdefault(rule.id, rule)
    return list(seen.values())


def _guardrails(rules: list[CompiledRule]) -> Guardrails:
    specs = [r.spec.guardrails for r in rules if r.spec.guardrails is not None]
    limits = [g.row_limit for g in specs if g.row_limit is not None]
    timeouts = [g.statement_timeout_ms for g in specs if g.statement_timeout_ms is not None]
    return Guardrails(
        row_limit=min(limits) if limits else None,
        statement_timeout_ms=min(timeouts) if timeouts else None,
        deny_unbounded_writes=any(g.deny_unbounded_writes for g in specs),
    )


def _masks(rules: list[CompiledRule]) -> tuple[MaskDirective, ...]:
    seen: dict[MaskDirective, None] = {}
    for rule in rules:
        for directive in rule.spec.mask:
            seen[directive] = None
    return tuple(seen)


def decide(
    policy: Policy,
    identity: Identity,
    connection: Connection,
    analysis: AnalysisLike,
    context: Mapping[str, Any] | None = None,
) -> Decision:
    """Decide one analysed query string for one identity on one connection. Never raises.

    ``context`` carries request facts outside the statement (time, client address, ticket...)
    for CEL conditions, under the ``context`` variable.

    An identity acting on behalf of another (an AI agent for a person) is decided for both, and
    the most restrictive outcome wins: an agent cannot do for a person what the person may not
    do, nor what the agent may not.
    """
    own = _decide_one(policy, identity, connection, analysis, context)
    if identity.on_behalf_of is None:
        return own
    person = _decide_one(policy, identity.on_behalf_of, connection, analysis, context)
    return _both(own, person)


def _both(a: Decision, b: Decision) -> Decision:
    worst = max((a, b), key=lambda d: _SEVERITY[d.effect])
    winners = [d for d in (a, b) if d.effect == worst.effect]
    granted = worst.effect != "deny"
    limits = [d.guardrails.row_limit for d in (a, b) if d.guardrails.row_limit is not None]
    timeouts = [
        d.guardrails.statement_timeout_ms
        for d in (a, b)
        if d.guardrails.statement_timeout_ms is not None
    ]
    return Decision(
        effect=worst.effect,
        message=worst.message,
        rules=tuple(dict.fromkeys(r for d in winners for r in d.rules)),
        policy_version=a.policy_version,
        masks=tuple(dict.fromkeys(a.masks + b.masks)) if granted else (),
        guardrails=Guardrails(
            row_limit=min(limits) if limits else None,
            statement_timeout_ms=min(timeouts) if timeouts else None,
            deny_unbounded_writes=a.guardrails.deny_unbounded_writes
            or b.guardrails.deny_unbounded_writes,
        )
        if granted
        else Guardrails(),
        reviews=tuple(dict.fromkeys(a.reviews + b.reviews)) if worst.effect == "review" else (),
        read_only=a.read_only or b.read_only,
        condition_errors=a.condition_errors + b.condition_errors,
    )


def _decide_one(
    policy: Policy,
    identity: Identity,
    connection: Connection,
    analysis: AnalysisLike,
    context: Mapping[str, Any] | None,
) -> Decision:
    read_only = session_read_only(policy, identity, connection)
    candidates = [r for r in policy.rules if identity_matches(r, identity, connection)]
    statements: list[StatementFactsLike | None] = (
        [None] if analysis.unparsable else list(analysis.statements)
    )
    if not statements:
        return Decision(
            effect="allow",
            message="nothing to execute (no statements)",
            rules=(),
            policy_version=policy.version,
            read_only=read_only,
        )
    variables = (identity, connection, context or {})
    errors: list[str] = []
    outcomes = [
        _decide_statement(candidates, s, _describe(s, i, len(statements)), variables, errors)
        for i, s in enumerate(statements)
    ]
    worst = max(outcomes, key=lambda o: _SEVERITY[o.effect])
    winners = [o for o in outcomes if o.effect == worst.effect]
    contributors = _unique(r for o in winners for r in o.contributors)
    granting = _unique(r for o in outcomes for r in o.granting)
    reviews = tuple(
        ReviewRequirement(
            rule=r.id,
            approvers=r.spec.review.approvers,
            approvals=r.spec.review.approvals,
            grant_ttl=r.spec.review.grant_ttl,
            wait=r.spec.review.wait,
            expires=r.spec.review.expires,
            preview=r.spec.review.preview,
        )
        for r in contributors
        if r.spec.review is not None and worst.effect == "review"
    )
    granted = worst.effect != "deny"
    return Decision(
        effect=worst.effect,
        message=worst.message,
        rules=tuple(r.id for r in contributors),
        policy_version=policy.version,
        masks=_masks(granting) if granted else (),
        guardrails=_guardrails(granting) if granted else Guardrails(),
        reviews=reviews,
        read_only=read_only,
        condition_errors=tuple(errors),
    )
