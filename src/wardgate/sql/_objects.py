"""One walk over a statement's tree: the objects it touches, the functions it calls, its writes.

How objects are accessed:

- a query resets the access of what it reads to ``read``; the target of INSERT/UPDATE/DELETE/MERGE,
  COPY FROM and TRUNCATE is ``write``; what DDL names is ``ddl`` and GRANT targets and grantees
  are ``grant`` (see `_ddl`).
- CTE names shadow relations only where PostgreSQL makes them visible (earlier siblings in a plain
  WITH, all siblings in WITH RECURSIVE, the body), so a real table named like a later CTE is
  still reported.
- bodies that are stored rather than run (views, rules, SQL-standard function bodies, policy
  expressions, the defaults and checks of a new table or domain) and the query of a plain
  EXPLAIN are walked with ``executed=False``: their objects are reported, their writes and
  function effects are not. A plain EXPLAIN reports write targets as ``read`` because the plan is
  never run.
"""

from __future__ import annotations

from typing import Any

from pglast import ast, enums

from ._ddl import DdlWalker
from ._facts import Access
from ._nodes import func_name, names
from ._walk import Call, Collected, Ctx

__all__ = ["DML_TYPES", "Call", "Collected", "collect", "explain_analyzes"]

DML_TYPES = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)
_QUERY_TYPES = (ast.SelectStmt, *DML_TYPES)
_READ_STATEMENTS = (
    *_QUERY_TYPES,
    ast.ExplainStmt,
    ast.PrepareStmt,
    ast.DeclareCursorStmt,
    ast.CopyStmt,
    ast.CallStmt,
    ast.LockStmt,
)
_NAMED_OPERATOR_KINDS = frozenset(
    {
        enums.A_Expr_Kind.AEXPR_OP,
        enums.A_Expr_Kind.AEXPR_OP_ANY,
        enums.A_Expr_Kind.AEXPR_OP_ALL,
        enums.A_Expr_Kind.AEXPR_DISTINCT,
        enums.A_Expr_Kind.AEXPR_NOT_DISTINCT,
        enums.A_Expr_Kind.AEXPR_IN,
    }
)


def collect(top: ast.Node) -> Collected:
    """Walk one top-level statement."""
    if isinstance(top, ast.GrantStmt | ast.GrantRoleStmt):
        access: Access = "grant"
    elif isinstance(top, ast.RefreshMatViewStmt):
        access = "write"
    elif isinstance(top, _READ_STATEMENTS):
        access = "read"
    else:
        access = "ddl"
    walker = _Walker()
    walker.run(top, Ctx(access, frozenset(), True, False))
    return walker.found


class _Walker(DdlWalker):
    """Handlers for queries, DML and the statements that wrap or store them."""

    def _query(self, node: Any, ctx: Ctx) -> None:
        if ctx.executed and isinstance(node, DML_TYPES):
            self.found.writes.append(node)
        ctes = ctx.ctes
        with_clause = node.withClause
        if with_clause is not None:
            ctenames = [cte.ctename for cte in with_clause.ctes or () if cte.ctename]
            for index, cte in enumerate(with_clause.ctes or ()):
                visible = ctenames if with_clause.recursive else ctenames[:index]
                self.visit(cte, ctx._replace(access="read", ctes=ctes | frozenset(visible)))
            ctes = ctes | frozenset(ctenames)
        inner = ctx._replace(access="read", ctes=ctes)
        skip: tuple[str, ...] = ("withClause",)
        if isinstance(node, ast.SelectStmt):
            if node.intoClause is not None:
                self._relation(node.intoClause.rel, "ddl", inner)
                skip = ("withClause", "intoClause")
            if node.lockingClause and ctx.executed:
                self.found.locking = True
        else:
            self._relation(node.relation, "write", inner)
            if node.returningClause is not None:
                self._relation(node.relation, "read", inner)
            skip = ("withClause", "relation")
        self._fields(node, inner, skip)

    def _range_var(self, node: ast.RangeVar, ctx: Ctx) -> None:
        self._relation(node, ctx.access, ctx, in_from=True)

    def _func_call(self, node: ast.FuncCall, ctx: Ctx) -> None:
        schema, name = func_name(node)
        self.found.calls.append(Call(schema, name, node, ctx.executed))
        self._add("function", schema, name, "execute")
        self._fields(node, ctx._replace(access="read"), ("funcname",))

    def _operator(self, node: Any, ctx: Ctx) -> None:
        """Operators name functions too; only named ones can be user-defined."""
        name = getattr(node, "operName", None) if isinstance(node, ast.SubLink) else None
        if isinstance(node, ast.A_Expr) and node.kind in _NAMED_OPERATOR_KINDS:
            name = node.name
        if name:
            self.found.operators.append(names(name))
        self._fields(node, ctx)

    def _copy(self, node: ast.CopyStmt, ctx: Ctx) -> None:
        self._relation(node.relation, "write" if node.is_from else "read", ctx)
        self._fields(node, ctx._replace(access="read"), ("relation",))

    def _targets_written(self, node: Any, ctx: Ctx) -> None:
        for rel in node.relations or ():
            self._relation(rel, "write", ctx)

    def _lock(self, node: ast.LockStmt, ctx: Ctx) -> None:
        # ACCESS SHARE (1) needs only SELECT; every stronger mode blocks writers.
        access: Access = "read" if node.mode == 1 else "write"
        for rel in node.relations or ():
            self._relation(rel, access, ctx)

    def _explain(self, node: ast.ExplainStmt, ctx: Ctx) -> None:
        runs = explain_analyzes(node)
        inner = ctx._replace(executed=ctx.executed and runs, plan_only=ctx.plan_only or not runs)
        self.visit(node.query, inner)

    def _create_table_as(self, node: ast.CreateTableAsStmt, ctx: Ctx) -> None:
        if node.into is not None:
            self._relation(node.into.rel, "ddl", ctx)
        self.visit(node.query, ctx._replace(access="read"))

    def _stored_body(self, node: Any, ctx: Ctx) -> None:
        target = getattr(node, "view", None) or getattr(node, "relation", None)
        if target is None:
            target = getattr(node, "table", None)
        self._relation(target, "ddl", ctx)
        self._fields(node, ctx._replace(executed=False), ("view", "relation", "table"))


#: How each node type is walked; every other node has its fields walked with the same context.
_Walker.handlers = {
    ast.SelectStmt: _Walker._query,
    ast.InsertStmt: _Walker._query,
    ast.UpdateStmt: _Walker._query,
    ast.DeleteStmt: _Walker._query,
    ast.MergeStmt: _Walker._query,
    ast.RangeVar: _Walker._range_var,
    ast.FuncCall: _Walker._func_call,
    ast.A_Expr: _Walker._operator,
    ast.SubLink: _Walker._operator,
    ast.RoleSpec: _Walker._role_spec,
    ast.CopyStmt: _Walker._copy,
    ast.TruncateStmt: _Walker._targets_written,
    ast.LockStmt: _Walker._lock,
    ast.ExplainStmt: _Walker._explain,
    ast.CreateTableAsStmt: _Walker._create_table_as,
    ast.ViewStmt: _Walker._stored_body,
    ast.CreateStmt: _Walker._stored_body,
    ast.CreateDomainStmt: _Walker._stored_body,
    ast.RuleStmt: _Walker._stored_body,
    ast.CreatePolicyStmt: _Walker._stored_body,
    ast.AlterPolicyStmt: _Walker._stored_body,
    ast.CreateTrigStmt: _Walker._create_trigger,
    ast.CreateFunctionStmt: _Walker._create_function,
    ast.AlterFunctionStmt: _Walker._alter_function,
    ast.DropStmt: _Walker._drop,
    ast.GrantStmt: _Walker._grant,
    ast.GrantRoleStmt: _Walker._grant_role,
    ast.CreateRoleStmt: _Walker._create_role,
    ast.CreateSchemaStmt: _Walker._create_schema,
    ast.CreatedbStmt: _Walker._database,
    ast.DropdbStmt: _Walker._database,
    ast.AlterDatabaseStmt: _Walker._database,
    ast.AlterDatabaseSetStmt: _Walker._database,
    ast.AlterDatabaseRefreshCollStmt: _Walker._database,
    ast.RenameStmt: _Walker._rename,
    ast.CommentStmt: _Walker._named_object,
    ast.SecLabelStmt: _Walker._named_object,
    ast.AlterOwnerStmt: _Walker._named_object,
    ast.AlterObjectSchemaStmt: _Walker._named_object,
    ast.AlterObjectDependsStmt: _Walker._named_object,
}


def explain_analyzes(node: ast.ExplainStmt) -> bool:
    """True when EXPLAIN runs its statement: ``ANALYZE`` without a false argument."""
    for option in node.options or ():
        if isinstance(option, ast.DefElem) and option.defname == "analyze":
            arg = option.arg
            if arg is None:
                return True
            if isinstance(arg, ast.Integer):
                return arg.ival != 0
            if isinstance(arg, ast.String):
                word = (arg.sval or "").lower()
                return word not in ("false", "off", "no", "0", "f", "n", "of", "fa", "fal", "fals")
            return True
    return False
