"""The walk under `_objects.collect`: an explicit-stack traversal of a pglast tree.

The walk follows every node (see `_nodes.children`), so a relation or call cannot hide in a part
of the grammar nobody wrote a handler for; handlers (in `_objects` and `_ddl`) only decide *how*
what they find is accessed, and with which context the rest of their subtree is walked. It uses an
explicit stack rather than recursion: a statement nested deeper than Python's recursion limit (a
long ``a || b || ...`` or UNION chain) is still walked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from pglast import ast

from ._facts import Access, ObjectKind, ObjectRef
from ._nodes import names, node_attrs

__all__ = ["Call", "Collected", "Ctx", "Walker"]


class Ctx(NamedTuple):
    """How the part of the tree being walked is accessed, which CTE names are visible, whether
    it runs now, and whether only a plan is made (plain EXPLAIN)."""

    access: Access
    ctes: frozenset[str]
    executed: bool
    plan_only: bool


@dataclass(slots=True)
class Call:
    """A function call as written: schema (or None), name, the node, and whether it runs now."""

    schema: str | None
    name: str
    node: ast.FuncCall
    executed: bool


@dataclass(slots=True)
class Collected:
    """What one walk found; ``writes`` are the executed INSERT/UPDATE/DELETE/MERGE nodes."""

    objects: dict[ObjectRef, None] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    writes: list[ast.Node] = field(default_factory=list)
    operators: list[tuple[str, ...]] = field(default_factory=list)
    locking: bool = False


class Walker:
    """Walks one statement, filling `found`; subclasses add handlers by node type."""

    handlers: ClassVar[dict[type, Callable[[Any, Any, Ctx], None]]] = {}

    def __init__(self) -> None:
        self.found = Collected()
        self._pending: list[tuple[Any, Ctx]] = []

    def run(self, top: ast.Node, ctx: Ctx) -> None:
        """Depth-first, in field order; each handler schedules the children it wants walked."""
        stack: list[tuple[Any, Ctx]] = [(top, ctx)]
        while stack:
            node, ctx = stack.pop()
            if isinstance(node, tuple):
                stack.extend((item, ctx) for item in reversed(node))
                continue
            if not isinstance(node, ast.Node):
                continue
            handler = self.handlers.get(type(node))
            if handler is None:
                self._fields(node, ctx)
            else:
                handler(self, node, ctx)
            if self._pending:
                stack.extend(reversed(self._pending))
                self._pending.clear()

    def visit(self, node: Any, ctx: Ctx) -> None:
        """Schedule ``node`` to be walked with ``ctx`` (after the current handler returns)."""
        self._pending.append((node, ctx))

    def _fields(self, node: ast.Node, ctx: Ctx, skip: tuple[str, ...] = ()) -> None:
        for attr in node_attrs(type(node)):
            if attr not in skip:
                self.visit(getattr(node, attr), ctx)

    def _add(self, kind: ObjectKind, schema: str | None, name: str | None, access: Access) -> None:
        if name:
            self.found.objects[ObjectRef(kind=kind, schema=schema, name=name, access=access)] = None

    def _relation(self, rel: Any, access: Access, ctx: Ctx, *, in_from: bool = False) -> None:
        """Report a relation. Only a FROM-clause reference can mean a CTE: the target of a
        DML statement is always a real table, even when a CTE has the same name."""
        if not isinstance(rel, ast.RangeVar):
            self.visit(rel, ctx)
            return
        if ctx.plan_only and access in ("write", "ddl"):
            access = "read"
        if in_from and rel.schemaname is None and rel.relname in ctx.ctes:
            return
        self._add("relation", rel.schemaname, rel.relname, access)

    def _qualified(self, kind: ObjectKind, parts: tuple[str, ...], access: Access) -> None:
        if parts:
            self._add(kind, parts[-2] if len(parts) > 1 else None, parts[-1], access)

    def _function_object(self, obj: Any, access: Access) -> None:
        if isinstance(obj, ast.ObjectWithArgs):
            self._qualified("function", names(obj.objname), access)
