"""The facts of one parsed statement: shape, walk, effects and lineage put together.

`describe` also says whether the facts can be reused for another statement of the same shape
(same text once literals are replaced, see `_analyze`): only plain queries and DML qualify, and
only when no fact was read from a literal (set_config arguments are the one such place in them).
"""

from __future__ import annotations

from typing import Any

from pglast import ast

from ._effects import (
    breaks_read_only,
    builtins_trusted,
    call_effects,
    is_unbounded,
    statement_settings,
)
from ._facts import OutputColumn, StatementFacts
from ._kinds import classify
from ._lineage import query_columns, relation_columns
from ._nodes import names
from ._objects import DML_TYPES, collect
from ._scope import Col, Scope

__all__ = ["describe"]

_SHAPE_CACHEABLE = (ast.SelectStmt, *DML_TYPES)
_SETTINGS_VIEWS = frozenset({"pg_settings"})


def _explicit_write(node: Any) -> bool:
    """The top-level command itself is a write, so its writes are not hidden."""
    if isinstance(node, ast.CopyStmt):
        return bool(node.is_from)
    return isinstance(node, (*DML_TYPES, ast.TruncateStmt, ast.RefreshMatViewStmt))


def _columns(node: Any, trusted: bool) -> list[Col]:
    """Result columns a client will receive from this statement (or a later EXECUTE/FETCH)."""
    root = Scope(None, {}, trusted)
    if isinstance(node, ast.PrepareStmt | ast.DeclareCursorStmt):
        node = node.query
    if isinstance(node, ast.SelectStmt) and node.intoClause is not None:
        return []
    if isinstance(node, ast.CopyStmt):
        if node.is_from:
            return []
        if node.query is not None:
            return query_columns(node.query, root)
        if node.relation is None:
            return []
        return relation_columns(node.relation, names(node.attlist))
    return query_columns(node, root)


def describe(node: Any, text: str, search_path: tuple[str, ...]) -> tuple[StatementFacts, bool]:
    """Facts for one top-level statement, and whether they hold for its whole shape."""
    shape = classify(node)
    found = collect(node)
    effects = call_effects(found.calls, found.operators, search_path)
    kinds = set(shape.kinds) | effects.kinds
    hidden = shape.hidden_write
    explicit = _explicit_write(node)

    if any(write is not node for write in found.writes):
        kinds.add("write")  # a data-modifying CTE, or the write inside EXPLAIN ANALYZE/PREPARE
        hidden = True
    if found.locking:
        kinds.add("write")
    if effects.writes and not explicit:
        hidden = True
    objects = tuple(found.objects)
    if isinstance(node, DML_TYPES) and (
        node.returningClause is not None
        or any(o.kind == "relation" and o.access == "read" for o in objects)
    ):
        kinds.add("read")

    settings = statement_settings(node) + effects.settings
    if any(
        o.kind == "relation" and o.name in _SETTINGS_VIEWS and o.access == "write" for o in objects
    ):
        settings.append(("*", None))  # UPDATE pg_settings is set_config in disguise
        kinds.add("admin")
    procedural = isinstance(node, ast.DoStmt | ast.CallStmt)
    unbounded = isinstance(node, ast.TruncateStmt) or any(is_unbounded(w) for w in found.writes)

    functions = dict.fromkeys(
        (f"{call.schema}.{call.name}" if call.schema else call.name).lower() for call in found.calls
    )
    columns = tuple(
        OutputColumn(
            name=col.name,
            sources=col.flow.sources,
            exact=col.flow.exact,
            passthrough=col.flow.passthrough,
        )
        for col in _columns(node, builtins_trusted(search_path))
    )
    facts = StatementFacts(
        text=text,
        kinds=frozenset(kinds),
        command=shape.command,
        objects=objects,
        hidden_write=hidden,
        unbounded_write=unbounded,
        functions=tuple(functions),
        settings=tuple(settings),
        read_only_breaking=procedural or breaks_read_only(settings),
        columns=columns,
        calls_unknown_functions=procedural or effects.unknown,
        prepared_name=_prepared_name(node),
        cursor_name=_cursor_name(node),
    )
    cacheable = isinstance(node, _SHAPE_CACHEABLE) and not effects.reads_literals
    return facts, cacheable


def _prepared_name(node: Any) -> str | None:
    """The prepared statement named, also where EXPLAIN or CREATE TABLE AS runs an EXECUTE."""
    if isinstance(node, ast.ExplainStmt | ast.CreateTableAsStmt):
        node = node.query
    if isinstance(node, ast.PrepareStmt | ast.ExecuteStmt | ast.DeallocateStmt):
        return node.name
    return None


def _cursor_name(node: Any) -> str | None:
    if isinstance(node, ast.DeclareCursorStmt | ast.FetchStmt | ast.ClosePortalStmt):
        return node.portalname
    return None
