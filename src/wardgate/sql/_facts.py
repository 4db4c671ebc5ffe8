"""The facts `analyze` hands to policy, masking and audit.

Every fact is a frozen, slotted, keyword-only dataclass: the same `Analysis` object is shared by the
cache across sessions and read by several pipeline stages, so nothing may mutate one in place.

Names are kept exactly as PostgreSQL's parser leaves them (unquoted identifiers folded to lower
case, quoted ones as written). Unqualified relations and functions carry ``schema=None``: which
schema they resolve to depends on the catalog and the session's search_path, so resolution happens
at policy time; `Analysis.qualified` lists the candidates a search_path allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "KINDS",
    "Access",
    "Analysis",
    "Kind",
    "ObjectKind",
    "ObjectRef",
    "OutputColumn",
    "Source",
    "StatementFacts",
]

Kind = Literal[
    "read",
    "write",
    "ddl",
    "privilege",
    "export",
    "import",
    "session",
    "transaction",
    "admin",
    "procedural",
    "utility",
]
KINDS: frozenset[str] = frozenset(get_args(Kind))

ObjectKind = Literal["relation", "function", "schema", "role", "database"]
Access = Literal["read", "write", "ddl", "execute", "grant"]

#: (schema, relation, column) of a source column; ``column == "*"`` stands for every column of
#: that relation, when the statement expands a star the analyzer cannot resolve without a catalog.
Source = tuple[str | None, str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectRef:
    """One object a statement touches, and how.

    ``access`` is ``read``/``write`` for data, ``ddl`` for creating, altering, dropping or
    maintaining the object itself, ``execute`` for a function call and ``grant`` for objects and
    roles named in GRANT/REVOKE.
    """

    kind: ObjectKind
    schema: str | None
    name: str
    access: Access


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputColumn:
    """Where the values of one result column come from.

    ``sources`` are the source columns whose values can reach this column. ``passthrough`` is True
    when the value is one of those source values unchanged (apart from casts, collations and
    aliases, or picked by ``min``/``max``), so a column mask can be applied as it is. ``exact`` is
    False whenever the analyzer cannot vouch that ``sources`` describes the value completely:
    a function or operator of a source, an unknown function, a star it cannot expand without the
    catalog, an ambiguous or unresolved column, a scalar subquery, a recursive CTE. Masking treats
    ``exact=False`` conservatively (value detectors, mask whole, or refuse).

    A ``name == "*"`` column stands for the unexpanded columns of ``sources`` (``(s, rel, "*")``);
    the masking layer expands it with the catalog.
    """

    name: str
    sources: frozenset[Source]
    exact: bool
    passthrough: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementFacts:
    """Everything policy needs to know about one statement, without the catalog.

    ``hidden_write``: the statement writes through something other than its own top-level command
    (a data-modifying CTE, EXPLAIN ANALYZE of a write, SELECT INTO, CREATE TABLE AS, a DO block or
    CALL, PREPARE of a write, a sequence or large-object function inside a read).
    ``unbounded_write``: an UPDATE/DELETE (also inside a CTE, EXPLAIN ANALYZE or PREPARE) whose
    WHERE is missing or references no column, TRUNCATE, and MERGE whose ON references no column or
    that has an unconditional ``WHEN NOT MATCHED BY SOURCE`` UPDATE/DELETE (it touches every target
    row the source lacks).
    ``settings``: (name, value) for SET/RESET/set_config and transaction modes; value None means
    reset to default (or unknown); name ``"*"`` means set_config with a name only known at run time.
    ``read_only_breaking``: the statement could switch off the database-side read-only guard
    (see `_effects`); DO and CALL run code the analyzer cannot see and are counted too.
    ``calls_unknown_functions``: a function outside the known-pure builtins (or one that may be
    shadowed by the search_path) is called; its effects cannot be proven read-only.
    ``prepared_name``/``cursor_name``: the prepared statement or cursor a PREPARE/EXECUTE/DEALLOCATE
    (also inside EXPLAIN or CREATE TABLE AS) or DECLARE/FETCH/MOVE/CLOSE names, so the session
    layer can hold what a later EXECUTE or FETCH runs to the facts of its PREPARE or DECLARE.
    """

    text: str
    kinds: frozenset[str]
    command: str
    objects: tuple[ObjectRef, ...]
    hidden_write: bool
    unbounded_write: bool
    functions: tuple[str, ...]
    settings: tuple[tuple[str, str | None], ...]
    read_only_breaking: bool
    columns: tuple[OutputColumn, ...]
    calls_unknown_functions: bool = False
    prepared_name: str | None = None
    cursor_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis:
    """The analysis of one query string, which may hold several statements.

    ``unparsable`` is True (with PostgreSQL's message in ``error``) when the string does not parse,
    or, failing closed, when the analyzer itself could not finish; then ``statements`` is empty
    and the string must not be forwarded for a restricted identity. An empty or comment-only
    string parses to no statements and is not unparsable.
    """

    statements: tuple[StatementFacts, ...]
    unparsable: bool
    error: str | None
    fingerprint: str | None
    search_path: tuple[str, ...] = ("public",)

    @property
    def kinds(self) -> frozenset[str]:
        """Union of the kinds of every statement."""
        return frozenset().union(*(s.kinds for s in self.statements))

    def qualified(self, search_path: tuple[str, ...] | None = None) -> tuple[ObjectRef, ...]:
        """Every object, with each unqualified relation or function expanded to its candidates.

        Without the catalog the analyzer cannot tell which schema of the path holds a name, so an
        unqualified name yields one reference per schema it may resolve to, in lookup order:
        ``pg_catalog`` first unless the path names it elsewhere, then the path (``$user`` is kept
        as written for the policy to substitute). Schema, role and database references are
        returned unchanged.
        """
        path = self.search_path if search_path is None else search_path
        lookup = path if "pg_catalog" in path else ("pg_catalog", *path)
        seen: dict[ObjectRef, None] = {}
        for statement in self.statements:
            for ref in statement.objects:
                if ref.schema is not None or ref.kind not in ("relation", "function"):
                    seen[ref] = None
                    continue
                for schema in lookup:
                    candidate = ObjectRef(
                        kind=ref.kind, schema=schema, name=ref.name, access=ref.access
                    )
                    seen[candidate] = None
        return tuple(seen)
