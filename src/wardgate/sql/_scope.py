"""Name resolution for lineage: value flows, FROM items and query scopes.

A query's FROM clause becomes a list of items: base tables (`Table`, whose columns are unknown but
named by the query), derived tables whose columns are known (`Derived`: subqueries, CTEs, VALUES),
opaque producers (`Opaque`: functions and XMLTABLE/JSON_TABLE in FROM) and joins. Column references
resolve against those items the way PostgreSQL scopes them, innermost query first, then the outer
query (correlated subqueries). A name that more than one item could supply is reported with every
candidate and ``exact=False``: only the catalog can tell which one PostgreSQL picks. So is a bare
table name used as a column (``SELECT t FROM t`` returns the whole row).

An unexpanded star over a base table is kept as a placeholder column (``name="*"``) that still
resolves names through it, so ``SELECT x FROM (SELECT * FROM t) s`` traces ``x`` to ``t.x``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from pglast import ast

from ._facts import Source
from ._nodes import names

__all__ = [
    "CONSTANT",
    "UNKNOWN",
    "Col",
    "Derived",
    "Flow",
    "Item",
    "Join",
    "Opaque",
    "Scope",
    "Table",
    "derive",
    "either",
    "opaque",
]


@dataclass(frozen=True, slots=True)
class Flow:
    """Where a value comes from; see `OutputColumn` for the meaning of the flags."""

    sources: frozenset[Source]
    exact: bool
    passthrough: bool


CONSTANT = Flow(frozenset(), True, False)
UNKNOWN = Flow(frozenset(), False, False)


def derive(flows: list[Flow]) -> Flow:
    """A value computed from these: exact only if no source value goes into it."""
    sources = frozenset().union(*(f.sources for f in flows))
    return Flow(sources, not sources and all(f.exact for f in flows), False)


def either(flows: list[Flow], *, exact: bool = True) -> Flow:
    """A value that is one of these, unchanged (set-operation positions, candidates)."""
    if not flows:
        return UNKNOWN
    sources = frozenset().union(*(f.sources for f in flows))
    return Flow(sources, exact and all(f.exact for f in flows), all(f.passthrough for f in flows))


def opaque(flows: list[Flow]) -> Flow:
    """A value from something the analyzer cannot see into: every source, never exact."""
    return Flow(frozenset().union(*(f.sources for f in flows)), False, False)


@dataclass(slots=True)
class Col:
    """One output column; ``star`` is set on a placeholder for an item's unexpanded columns."""

    name: str
    flow: Flow
    star: Item | None = None


class Item:
    """A FROM-clause item: something columns can be looked up in."""

    refname: str | None = None
    #: Whether `find` knows the item's column names. A base table or a function without a
    #: column list claims every name; the name may really belong to an enclosing query.
    knows_columns: bool = False

    def find(self, column: str) -> Flow | None:
        """The flow of ``column`` if this item may have it, else None."""
        raise NotImplementedError

    def star(self) -> list[Col]:
        raise NotImplementedError

    def matches(self, qualifier: tuple[str, ...]) -> bool:
        return qualifier == (self.refname,)

    def whole_row(self) -> Flow:
        return opaque([c.flow for c in self.star()])


class Table(Item):
    """A base relation: its column list needs the catalog, so every name may exist in it."""

    def __init__(self, rel: ast.RangeVar, extra_names: tuple[str, ...] = ()) -> None:
        self.schema = rel.schemaname
        self.name = rel.relname or ""
        self.aliased = rel.alias is not None
        self.refname = rel.alias.aliasname if rel.alias is not None else self.name
        self.renamed = names(rel.alias.colnames) if rel.alias is not None else ()
        self.extra_names = extra_names
        self._all = Flow(frozenset({(self.schema, self.name, "*")}), False, True)

    def find(self, column: str) -> Flow | None:
        if column in self.renamed:  # renamed by position: the original name is unknown
            return self._all
        return Flow(frozenset({(self.schema, self.name, column)}), True, True)

    def star(self) -> list[Col]:
        return [Col(n, self._all) for n in self.renamed] + [Col("*", self._all, self)]

    def matches(self, qualifier: tuple[str, ...]) -> bool:
        if len(qualifier) == 1:
            return qualifier[0] == self.refname or qualifier[0] in self.extra_names
        if self.aliased or qualifier[-1] != self.name:
            return False
        return self.schema is None or qualifier[-2] == self.schema


class Derived(Item):
    """A subquery, CTE or VALUES list: its output columns are known (or placeholders)."""

    def __init__(self, refname: str | None, cols: list[Col]) -> None:
        self.refname = refname
        self.cols = cols
        self.knows_columns = all(c.star is None for c in cols)

    def find(self, column: str) -> Flow | None:
        for col in self.cols:
            if col.star is None and col.name == column:
                return col.flow
        found = [f for c in self.cols if c.star is not None and (f := c.star.find(column))]
        return either(found, exact=len(found) == 1) if found else None

    def star(self) -> list[Col]:
        return self.cols


class Opaque(Item):
    """A function, XMLTABLE or JSON_TABLE in FROM: every column carries the producer's flow.

    With a column list (``AS f(a, b)``) only those names exist; without one, a function may
    return a row type whose column names only the catalog knows.
    """

    def __init__(self, refname: str | None, flow: Flow, colnames: tuple[str, ...]) -> None:
        self.refname = refname
        self.flow = flow
        self.colnames = colnames
        self.knows_columns = bool(colnames)

    def find(self, column: str) -> Flow | None:
        if self.colnames and column not in self.colnames:
            return None
        return self.flow

    def star(self) -> list[Col]:
        if self.colnames:
            return [Col(n, self.flow) for n in self.colnames]
        return [Col(self.refname or "*", Flow(self.flow.sources, False, False))]


class Join(Item):
    """A join: a name resolves in either side (both: ambiguous without the catalog)."""

    def __init__(self, items: list[Item], refname: str | None) -> None:
        self.items = items
        self.refname = refname
        self.knows_columns = all(item.knows_columns for item in items)

    def find(self, column: str) -> Flow | None:
        found = [f for item in self.items if (f := item.find(column)) is not None]
        if not found:
            return None
        return found[0] if len(found) == 1 else either(found, exact=False)

    def star(self) -> list[Col]:
        return [col for item in self.items for col in item.star()]


def visible(items: list[Item]) -> Iterator[Item]:
    """Items a qualified name can reach: the members of an unaliased join stay visible."""
    for item in items:
        if isinstance(item, Join) and item.refname is None:
            yield from visible(item.items)
        else:
            yield item


@dataclass(slots=True)
class Scope:
    """One query level: its FROM items, the enclosing level, and the CTEs visible here."""

    parent: Scope | None
    ctes: dict[str, list[Col]]
    trusted: bool
    items: list[Item] = field(default_factory=list)

    def child(self, ctes: dict[str, list[Col]] | None = None) -> Scope:
        return Scope(self, self.ctes if ctes is None else ctes, self.trusted)

    def column(self, parts: tuple[str, ...]) -> Flow:
        scope: Scope | None = self
        while scope is not None:
            flow = scope._lookup(parts)
            if flow is not None:
                if len(parts) == 1 and scope.parent is not None and not scope._certain(parts[0]):
                    # An item here only *may* have the column (its names need the catalog); in
                    # PostgreSQL the name may resolve in an enclosing query instead. Both.
                    outer = scope.parent.column(parts)
                    if outer is not UNKNOWN:
                        return either([flow, outer], exact=False)
                return flow
            scope = scope.parent
        if len(parts) > 1:  # maybe composite_column.field
            return opaque([self.column(parts[:1])])
        return UNKNOWN

    def _certain(self, column: str) -> bool:
        """Every item here that claims ``column`` knows its column names."""
        return all(item.knows_columns for item in self.items if item.find(column) is not None)

    def _lookup(self, parts: tuple[str, ...]) -> Flow | None:
        column = parts[-1]
        if len(parts) > 1:
            for item in visible(self.items):
                if item.matches(parts[:-1]):
                    return item.find(column) or UNKNOWN
            return None
        found = [f for item in self.items if (f := item.find(column)) is not None]
        rows = [item.whole_row() for item in visible(self.items) if item.matches((column,))]
        if rows:  # `t` alone may be a whole-row reference to item t
            return opaque(found + rows)
        if not found:
            return None
        return found[0] if len(found) == 1 else either(found, exact=False)

    def star(self, qualifier: tuple[str, ...]) -> list[Col]:
        if not qualifier:
            return [col for item in self.items for col in item.star()]
        scope: Scope | None = self
        while scope is not None:
            for item in visible(scope.items):
                if item.matches(qualifier):
                    return item.star()
            scope = scope.parent
        return [Col("*", UNKNOWN)]
