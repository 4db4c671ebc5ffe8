"""From a decision's mask directives and a result's columns to what happens to each column.

Three signals decide a column's fate, in this order of trust:

1. the table OID and attribute PostgreSQL puts in the RowDescription: set only for a plain column
   reference (also through subqueries), so it names the exact source column;
2. the statement's lineage (`wardgate.sql`), for computed columns: which source columns can reach
   the value, and whether it is that value unchanged;
3. value detectors, for what neither can vouch for: views, unknown functions, unresolved names.

A column fed by a sensitive source is masked whole with that source's operator (type-preserving
when the value is the source value unchanged, otherwise on whatever the expression produced). A
column of unknown provenance is scanned by the detectors when the policy names entities, and masked
whole when it only names columns: the planner never lets a value through on a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Literal, Protocol

from ._catalog import Catalog, CatalogColumn
from ._entities import matches

__all__ = [
    "ColumnAction",
    "MaskSpec",
    "OutputLike",
    "expand_lineage",
    "plan_columns",
    "resolve_source",
    "strictest",
    "view_reads_sensitive",
]

#: Most restrictive first: when several directives cover one value, the earliest wins.
_RANK = {"null": 0, "redact": 1, "partial": 2, "tokenize": 3, "fpe": 4}


def strictest(operators: Iterable[str]) -> str:
    return min(operators, key=lambda op: _RANK.get(op, -1))


class DirectiveLike(Protocol):
    @property
    def columns(self) -> tuple[str, ...] | None: ...
    @property
    def entities(self) -> tuple[str, ...] | None: ...
    @property
    def operator(self) -> str: ...


class FieldLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def table_oid(self) -> int: ...
    @property
    def column_attr(self) -> int: ...
    @property
    def type_oid(self) -> int: ...
    @property
    def format(self) -> int: ...


class OutputLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def sources(self) -> frozenset[tuple[str | None, str, str]]: ...
    @property
    def exact(self) -> bool: ...
    @property
    def passthrough(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class MaskSpec:
    """What one decision says must be masked for this identity."""

    columns: tuple[tuple[tuple[str, ...], str], ...] = ()  # (globs, operator)
    entities: tuple[tuple[tuple[str, ...], str], ...] = ()  # (entities or families, operator)
    pins: tuple[tuple[tuple[str, ...], str | None], ...] = ()  # (globs, entity or not sensitive)
    #: the policy's custom entity types: (name, pattern, validator, context words)
    custom: tuple[tuple[str, str, str | None, tuple[str, ...]], ...] = ()

    @classmethod
    def of(
        cls,
        directives: Iterable[DirectiveLike],
        pins: Iterable[PinLike] = (),
        custom: Iterable[CustomLike] = (),
    ) -> MaskSpec:
        cols, ents = [], []
        for d in directives:
            if d.columns is not None:
                cols.append((tuple(c.lower() for c in d.columns), d.operator))
            if d.entities is not None:
                ents.append((tuple(d.entities), d.operator))
        if not (cols or ents):
            return cls()
        pinned = tuple((tuple(c.lower() for c in p.columns), p.entity) for p in pins)
        defined = tuple((c.name, c.pattern, c.validator, tuple(c.context)) for c in custom)
        return cls(tuple(cols), tuple(ents), pinned, defined)

    def __bool__(self) -> bool:
        return bool(self.columns or self.entities)

    @property
    def scans(self) -> bool:
        return bool(self.entities)

    @property
    def scan_targets(self) -> frozenset[str]:
        return frozenset(t for targets, _ in self.entities for t in targets)

    def entity_operator(self, entity: str) -> str | None:
        ops = [op for targets, op in self.entities if matches(entity, targets)]
        return strictest(ops) if ops else None

    def entity_of(self, col: CatalogColumn) -> str | None:
        """The column's entity: a policy pin if one matches, else what the classifier found."""
        names = _names(col)
        for globs, entity in self.pins:
            if any(fnmatchcase(n, g) for g in globs for n in names):
                return entity
        return col.entity

    def pinned_safe(self, col: CatalogColumn) -> bool:
        """A policy pinned this column as not sensitive: it is not scanned either."""
        names = _names(col)
        return any(
            entity is None and any(fnmatchcase(n, g) for g in globs for n in names)
            for globs, entity in self.pins
        )

    def column_operator(self, col: CatalogColumn) -> str | None:
        """The operator a source column must be masked with, or None if it is not sensitive.

        A column named by a directive is masked whatever pins say: directives are explicit.
        """
        names = _names(col)
        ops = [
            op for globs, op in self.columns if any(fnmatchcase(n, g) for g in globs for n in names)
        ]
        entity = self.entity_of(col)
        if entity is not None:
            op = self.entity_operator(entity)
            if op is not None:
                ops.append(op)
        return strictest(ops) if ops else None

    def any_operator(self) -> str:
        return strictest([op for _, op in self.columns] + [op for _, op in self.entities])


def _names(col: CatalogColumn) -> tuple[str, ...]:
    return tuple(n.lower() for n in (col.qualified, f"{col.table}.{col.column}", col.column))


class CustomLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def pattern(self) -> str: ...
    @property
    def validator(self) -> str | None: ...
    @property
    def context(self) -> tuple[str, ...]: ...


class PinLike(Protocol):
    @property
    def columns(self) -> tuple[str, ...]: ...
    @property
    def entity(self) -> str | None: ...


Mode = Literal["pass", "whole", "scan"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnAction:
    """What happens to one result column, and why (the reason goes to the audit log)."""

    name: str
    mode: Mode
    type_oid: int
    binary: bool
    operator: str | None = None
    entity: str | None = None
    max_length: int | None = None
    table: str | None = None  # context for detectors
    reason: str = ""


def plan_columns(
    fields: Sequence[FieldLike],
    lineage: Sequence[OutputLike] | None,
    spec: MaskSpec,
    catalog: Catalog,
    *,
    reads_sensitive: bool,
) -> tuple[ColumnAction, ...]:
    """One action per result column.

    ``lineage`` is the statement's output columns (None when the result does not come from an
    analysed query: FETCH, EXECUTE, a function's result). ``reads_sensitive`` says the statement
    reads a relation with a sensitive column or calls a function that could.
    """
    expanded = expand_lineage(lineage, catalog) if lineage is not None else None
    if expanded is not None and len(expanded) != len(fields):
        expanded = None
    out = []
    for i, f in enumerate(fields):
        source = expanded[i] if expanded else None
        action = _plan_one(f, source, spec, catalog, reads_sensitive)
        if (
            action.mode == "pass"
            and spec.scans
            and not action.reason.endswith("pinned not sensitive")
            and _carries_text(f, source, catalog)
        ):
            # Entity directives mean "wherever it appears": free text in a column nobody
            # classified (notes, comments) is scanned too. Constants are not.
            action = replace(action, mode="scan", reason=action.reason + "; text is scanned")
        out.append(action)
    return tuple(out)


#: strings, user types, arrays, composites, pseudo-types (an anonymous record)
_TEXT_CATEGORIES = frozenset({"S", "U", "A", "C", "P"})


def _carries_text(f: FieldLike, source: OutputLike | None, catalog: Catalog) -> bool:
    info = catalog.types.get(f.type_oid)
    textual = info is None or info.category in _TEXT_CATEGORIES or info.name in ("json", "jsonb")
    constant = source is not None and source.exact and not source.sources and not f.table_oid
    return textual and not constant


def _plan_one(
    f: FieldLike,
    lineage: OutputLike | None,
    spec: MaskSpec,
    catalog: Catalog,
    reads_sensitive: bool,
) -> ColumnAction:
    base = ColumnAction(name=f.name, mode="pass", type_oid=f.type_oid, binary=f.format == 1)
    # A plain column reference names its table and attribute; a whole-row reference names the
    # table with attribute 0 and is a computed value like any other. A table the catalog does
    # not know yet (created since it was read) falls through to lineage, which names it.
    col = catalog.columns.get((f.table_oid, f.column_attr)) if f.column_attr > 0 else None
    if col is not None:
        op = spec.column_operator(col)
        if op is not None:
            return replace(
                base,
                mode="whole",
                operator=op,
                entity=spec.entity_of(col),
                max_length=col.max_length,
                table=col.table,
                reason=f"source {col.qualified}",
            )
        if col.relkind in ("r", "p", "f"):
            if spec.pinned_safe(col):
                return replace(base, reason=f"source {col.qualified}, pinned not sensitive")
            return replace(base, reason=f"source {col.qualified}")
        view = catalog.views.get(col.relid)
        through = view.columns.get(col.attnum) if view is not None and not view.opaque else None
        if through is None:
            why = f"column of view {col.schema}.{col.table}"
            return _unknown(base, spec, why, reads_sensitive=True)
        # A view's column is what its query makes of its sources: plan it like a computed one.
        lineage = through
        reads_sensitive = view_reads_sensitive(col.relid, spec, catalog)
    if lineage is None:
        if not reads_sensitive:
            return replace(base, reason="reads nothing sensitive")
        return _unknown(base, spec, "no lineage for this result", reads_sensitive=True)
    sensitive: list[tuple[CatalogColumn, str]] = []
    unresolved = False
    for schema, table, column in lineage.sources:
        found = resolve_source(schema, table, column, catalog)
        if found is None:
            unresolved = True
            continue
        for col in found:
            op = spec.column_operator(col)
            if op is not None:
                sensitive.append((col, op))
    if sensitive:
        op = strictest(op for _, op in sensitive)
        entities = {spec.entity_of(c) for c, _ in sensitive}
        same = lineage.passthrough and lineage.exact and len(sensitive) == 1
        col = sensitive[0][0]
        return replace(
            base,
            mode="whole",
            operator=op,
            entity=entities.pop() if len(entities) == 1 else None,
            max_length=col.max_length if same else None,
            table=col.table if same else None,
            reason="computed from " + ", ".join(sorted(c.qualified for c, _ in sensitive)),
        )
    if (lineage.exact or lineage.passthrough) and not unresolved:
        # exact: nothing else feeds it; passthrough: it is one of its sources unchanged (the
        # lineage could not tell which), and none of those is sensitive.
        return replace(base, reason="no sensitive source")
    if unresolved:
        return _unknown(base, spec, "a source is not in the catalog", reads_sensitive=True)
    if not reads_sensitive:
        return replace(base, reason="reads nothing sensitive")
    return _unknown(base, spec, "provenance not exact", reads_sensitive=True)


_MAX_VIEW_DEPTH = 8


def resolve_source(
    schema: str | None, table: str, column: str, catalog: Catalog, depth: int = 0
) -> list[CatalogColumn] | None:
    """The catalog columns a lineage source can be, through views down to tables.

    A view column stands for itself (a directive or pin may name it) and for every column its
    query takes it from. None means a source the catalog cannot account for.
    """
    found = catalog.find(schema, table, column)
    if not found:
        known = catalog.relation(schema, table)
        if column != "*" and known and known[0].schema != "pg_catalog":
            return []  # the table is known and has no such column: not a real source
        return None  # unknown, or a system table only some of whose columns are read in
    out: list[CatalogColumn] = []
    for col in found:
        out.append(col)
        if col.relkind in ("r", "p", "f"):
            continue
        view = catalog.views.get(col.relid)
        through = view.columns.get(col.attnum) if view is not None and not view.opaque else None
        if through is None or depth >= _MAX_VIEW_DEPTH:
            return None
        for s, t, c in through.sources:
            deeper = resolve_source(s, t, c, catalog, depth + 1)
            if deeper is None:
                return None
            out.extend(deeper)
    return out


def view_reads_sensitive(relid: int, spec: MaskSpec, catalog: Catalog, depth: int = 0) -> bool:
    """Whether a view's query reads a sensitive column (through nested views) or may do so."""
    view = catalog.views.get(relid)
    if view is None or view.opaque or depth >= _MAX_VIEW_DEPTH:
        return True
    for schema, name in view.reads:
        cols = catalog.relation(schema, name)
        if not cols:
            return True
        for col in cols:
            if spec.column_operator(col) is not None:
                return True
        if cols[0].relkind not in ("r", "p", "f") and view_reads_sensitive(
            cols[0].relid, spec, catalog, depth + 1
        ):
            return True
    return False


def _unknown(
    base: ColumnAction, spec: MaskSpec, why: str, *, reads_sensitive: bool
) -> ColumnAction:
    """A column whose sources the planner cannot vouch for.

    If the statement reads anything sensitive, the value may be a sensitive value in disguise
    (encoded, reversed, split, behind a view or function), which no detector can be trusted to
    see: it is masked whole with the strictest operator the policy names. Detectors are only
    the answer for values of statements that read nothing sensitive.
    """
    if reads_sensitive or not spec.scans:
        return replace(
            base, mode="whole", operator=spec.any_operator(), reason=why + "; masked whole"
        )
    return replace(base, mode="scan", reason=why)


def expand_lineage(lineage: Sequence[OutputLike], catalog: Catalog) -> list[OutputLike] | None:
    """Star placeholders become the relation's columns, in table order."""
    out: list[OutputLike] = []
    for col in lineage:
        if col.name != "*":
            out.append(col)
            continue
        if len(col.sources) != 1:  # several relations behind one star: order unknown
            return None
        ((schema, table, _),) = col.sources
        cols = catalog.relation(schema, table)
        if not cols or len({c.schema for c in cols}) > 1:  # missing, or in two schemas
            return None
        out.extend(_Expanded(c) for c in sorted(cols, key=lambda c: c.attnum))
    return out


@dataclass(frozen=True, slots=True)
class _Expanded:
    col: CatalogColumn

    @property
    def name(self) -> str:
        return self.col.column

    @property
    def sources(self) -> frozenset[tuple[str | None, str, str]]:
        return frozenset({(self.col.schema, self.col.table, self.col.column)})

    @property
    def exact(self) -> bool:
        return True

    @property
    def passthrough(self) -> bool:
        return True
