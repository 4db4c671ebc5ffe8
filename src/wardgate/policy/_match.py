"""Whether one rule applies to one statement: the structural fields, then the CEL condition.

Object patterns are the one place where allow and deny differ, and they differ to fail closed:

* an **allow/review** rule with ``objects`` covers a statement only when *every* relation it
  touches matches some pattern and it names no schema, role or database (otherwise a join or a
  GRANT would ride in on a table the rule allows);
* a **deny** rule with ``objects`` applies when *any* relation (or schema) the statement touches
  matches.

An unqualified relation (``schema`` None: it depends on the search_path) matches an allow pattern
only if the pattern's schema part is ``*``, and a deny pattern whenever the name part matches.
Function calls are not objects for these patterns; govern them with kinds (the analyzer marks
admin functions ``admin``) or with a condition over ``statement.functions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from ._cel import Condition
from ._schema import READ_KINDS, RuleSpec
from ._types import Connection, Identity, ObjectRefLike, StatementFactsLike

__all__ = ["CompiledRule", "identity_matches", "objects_match", "statement_matches"]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A validated rule with its condition compiled, and where it was written."""

    spec: RuleSpec
    condition: Condition | None
    file: str
    line: int

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def grants(self) -> bool:
        """Allow and review rules grant access (review after approval); deny rules never do."""
        return self.spec.effect != "deny"

    @property
    def read_kinds_only(self) -> bool:
        kinds = self.spec.match.statement_kinds
        return kinds is not None and bool(kinds) and set(kinds) <= READ_KINDS


def identity_matches(rule: CompiledRule, identity: Identity, connection: Connection) -> bool:
    """The identity and connection fields of the rule's match (no statement, no condition)."""
    m = rule.spec.match
    if m.users is not None and identity.name not in m.users:
        return False
    if m.groups is not None and identity.groups.isdisjoint(m.groups):
        return False
    if m.kinds_of_identity is not None and identity.kind not in m.kinds_of_identity:
        return False
    if m.connections is not None and connection.name not in m.connections:
        return False
    if m.connection_tags is not None:
        tags = connection.tags
        return all(tags.get(key) == value for key, value in m.connection_tags.items())
    return True


def statement_matches(rule: CompiledRule, statement: StatementFactsLike | None) -> bool:
    """The statement fields of the rule's match; ``statement`` None stands for unparsable input."""
    m = rule.spec.match
    if statement is None:
        return m.unparsable
    if m.unparsable:
        return False
    if m.statement_kinds is not None:
        # An allow rule grants no more than it lists: every kind of the statement must be
        # listed (SELECT set_config(...) is read *and* session). Review and deny rules restrict:
        # any listed kind is enough.
        if rule.spec.effect == "allow":
            if not statement.kinds <= frozenset(m.statement_kinds):
                return False
        elif statement.kinds.isdisjoint(m.statement_kinds):
            return False
    if m.commands is not None and " ".join(statement.command.upper().split()) not in m.commands:
        return False
    if m.objects is not None:
        return objects_match(m.objects, statement.objects, every=rule.grants)
    return True


def _split(pattern: str) -> tuple[str, str]:
    schema, _, name = pattern.partition(".")
    return schema, name


def _relation_matches(pattern: str, ref: ObjectRefLike, *, strict: bool) -> bool:
    schema_glob, name_glob = _split(pattern)
    if not fnmatchcase(ref.name, name_glob):
        return False
    if ref.schema is None:
        return not strict or schema_glob == "*"
    return fnmatchcase(ref.schema, schema_glob)


def objects_match(
    patterns: tuple[str, ...], objects: tuple[ObjectRefLike, ...], *, every: bool
) -> bool:
    """Every touched relation covered (``every``: allow/review), or any one matched (deny)."""
    if every:
        for ref in objects:
            if ref.kind == "function":
                continue
            if ref.kind != "relation":
                return False
            if not any(_relation_matches(p, ref, strict=True) for p in patterns):
                return False
        return True
    for ref in objects:
        if ref.kind == "relation" and any(
            _relation_matches(p, ref, strict=False) for p in patterns
        ):
            return True
        if ref.kind == "schema" and any(fnmatchcase(ref.name, _split(p)[0]) for p in patterns):
            return True
    return False
