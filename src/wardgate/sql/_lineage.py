"""Column lineage: which source columns can reach each output column, without the catalog.

Queries (SELECT, VALUES, set operations, WITH, RETURNING) are turned into output columns over the
scopes of `_scope`; expressions into value flows. The rules, in short: a column reference, cast or
collation passes the value through; ``min``/``max`` return one of their inputs; ``count``, equality
and null tests reveal no value, nor do ``length`` and the like of a value as it is (of a computed
value they compute from it); any other function or operator computes from its inputs (not exact
when an input is a source column) and an unknown function may compute anything (never exact). An
ordered-set aggregate's WITHIN GROUP list is an input like its arguments. Predicates (WHERE, JOIN
ON, FILTER, ORDER BY) are not value flows and are not reported.
"""

from __future__ import annotations

from typing import Any

from pglast import ast, enums

from ._catalog import (
    COUNTING_AGGREGATES,
    PURE_FUNCTIONS,
    VALUE_AGGREGATES,
    VALUE_BLIND_FUNCTIONS,
)
from ._names import figure_name
from ._nodes import children, func_name, names
from ._scope import (
    CONSTANT,
    UNKNOWN,
    Col,
    Derived,
    Flow,
    Item,
    Join,
    Opaque,
    Scope,
    Table,
    derive,
    either,
    opaque,
)

__all__ = ["expr", "query_columns", "relation_columns"]

_NO_SETOP = enums.SetOperation.SETOP_NONE


def relation_columns(rel: ast.RangeVar, columns: tuple[str, ...]) -> list[Col]:
    """Columns of ``COPY rel [(columns)] TO``: the listed ones, or all of them."""
    table = Table(rel)
    if not columns:
        return table.star()
    return [Col(name, table.find(name) or UNKNOWN) for name in columns]


# -- queries ----------------------------------------------------------------------------------


def query_columns(node: Any, scope: Scope) -> list[Col]:
    """Output columns of a SELECT/VALUES/set operation, or of a DML statement's RETURNING."""
    if isinstance(node, ast.SelectStmt):
        return _select(node, scope)
    if isinstance(node, ast.InsertStmt | ast.UpdateStmt | ast.DeleteStmt | ast.MergeStmt):
        return _returning(node, scope)
    return []


def _with(with_clause: ast.WithClause | None, scope: Scope) -> dict[str, list[Col]]:
    if with_clause is None:
        return scope.ctes
    ctes = dict(scope.ctes)
    recursive = bool(with_clause.recursive)
    ctelist = [c for c in with_clause.ctes or () if isinstance(c, ast.CommonTableExpr)]
    if recursive:  # every sibling is visible to every other: start them unknown
        for cte in ctelist:
            ctes[cte.ctename or ""] = [Col("*", UNKNOWN)]
    for cte in ctelist:
        query = cte.ctequery
        inner = scope.child(ctes)
        if recursive and isinstance(query, ast.SelectStmt) and query.larg is not None:
            seed = _rename(_select(query.larg, inner), cte.aliascolnames)
            ctes[cte.ctename or ""] = seed
            cols = _setop(seed, _select(query.rarg, scope.child(ctes)))
        else:
            cols = query_columns(query, inner)
        cols = _rename(cols, cte.aliascolnames)
        if recursive:
            cols = [Col(c.name, Flow(c.flow.sources, False, c.flow.passthrough)) for c in cols]
        ctes[cte.ctename or ""] = cols
    return ctes


def _rename(cols: list[Col], aliases: Any) -> list[Col]:
    new = names(aliases)
    if not new:
        return cols
    if any(c.star is not None for c in cols[: len(new)]) or len(cols) < len(new):
        merged = opaque([c.flow for c in cols])
        return [Col(n, merged) for n in new]
    return [Col(n, c.flow) for n, c in zip(new, cols, strict=False)] + cols[len(new) :]


def _setop(left: list[Col], right: list[Col]) -> list[Col]:
    stars = any(c.star is not None or c.name == "*" for c in left + right)
    if stars or len(left) != len(right):
        return [Col("*", either([c.flow for c in left + right], exact=False))]
    return [Col(a.name, either([a.flow, b.flow])) for a, b in zip(left, right, strict=True)]


def _select(node: ast.SelectStmt | None, outer: Scope) -> list[Col]:
    if node is None:
        return []
    scope = outer.child(_with(node.withClause, outer))
    if node.op != enums.SetOperation.SETOP_NONE:
        # A chain of UNION/INTERSECT/EXCEPT nests to the left: walk it with a loop.
        arms = [node.rarg]
        left = node.larg
        while left is not None and left.op != _NO_SETOP and left.withClause is None:
            arms.append(left.rarg)
            left = left.larg
        arms.append(left)
        cols = _select(arms[-1], scope)
        for arm in reversed(arms[:-1]):
            cols = _setop(cols, _select(arm, scope))
        return cols
    if node.valuesLists:
        rows = [row for row in node.valuesLists if isinstance(row, tuple)]
        width = max((len(row) for row in rows), default=0)
        return [
            Col(f"column{i + 1}", either([expr(row[i], scope) for row in rows if i < len(row)]))
            for i in range(width)
        ]
    for from_item in node.fromClause or ():
        scope.items.append(_from_item(from_item, scope))
    return _targets(node.targetList, scope)


def _returning(node: Any, outer: Scope) -> list[Col]:
    clause = node.returningClause
    if clause is None or node.relation is None:
        return []
    scope = outer.child(_with(node.withClause, outer))
    aliases = {"old", "new"} | {
        o.value for o in clause.options or () if isinstance(o, ast.ReturningOption) and o.value
    }
    scope.items.append(Table(node.relation, tuple(sorted(aliases))))
    extra = getattr(node, "fromClause", None) or getattr(node, "usingClause", None) or ()
    source = getattr(node, "sourceRelation", None)
    for from_item in (*extra, *((source,) if source is not None else ())):
        scope.items.append(_from_item(from_item, scope))
    return _targets(clause.exprs, scope)


def _targets(targets: Any, scope: Scope) -> list[Col]:
    cols: list[Col] = []
    for target in targets or ():
        if not isinstance(target, ast.ResTarget):
            continue
        value = target.val
        fields = (value.fields or ()) if isinstance(value, ast.ColumnRef) else ()
        if fields and isinstance(fields[-1], ast.A_Star):
            cols.extend(scope.star(names(fields)))
        else:
            cols.append(Col(target.name or figure_name(value), expr(value, scope)))
    return cols


def _from_item(node: Any, scope: Scope) -> Item:
    if isinstance(node, ast.RangeVar):
        cte = scope.ctes.get(node.relname or "") if node.schemaname is None else None
        if cte is None:
            return Table(node)
        alias = node.alias
        cols = _rename(cte, alias.colnames) if alias is not None else cte
        return Derived(alias.aliasname if alias is not None else node.relname, cols)
    alias = getattr(node, "alias", None)
    refname = alias.aliasname if isinstance(alias, ast.Alias) else None
    colnames = names(alias.colnames) if isinstance(alias, ast.Alias) else ()
    if isinstance(node, ast.RangeSubselect):
        # Only a LATERAL subquery sees the items before it.
        parent = scope if node.lateral else scope.parent or Scope(None, {}, scope.trusted)
        inner = Scope(parent, scope.ctes, scope.trusted)
        cols = query_columns(node.subquery, inner)
        return Derived(refname, _rename(cols, alias.colnames if alias else None))
    if isinstance(node, ast.JoinExpr):
        items = [_from_item(node.larg, scope), _from_item(node.rarg, scope)]
        return Join(items, refname)
    if isinstance(node, ast.RangeTableSample):
        return _from_item(node.relation, scope)
    if isinstance(node, ast.RangeFunction):
        calls = [f[0] for f in node.functions or () if isinstance(f, tuple) and f]
        flows = [expr(call, scope) for call in calls]
        flow = derive(flows) if all(f.exact for f in flows) else opaque(flows)
        if refname is None and calls:
            refname = figure_name(calls[0])
        defined = [col for f in node.functions or () for col in f[1:] if isinstance(col, tuple)]
        declared = (*(node.coldeflist or ()), *(c for cols in defined for c in cols))
        if not colnames:
            colnames = tuple(
                c.colname for c in declared if isinstance(c, ast.ColumnDef) and c.colname
            )
        return Opaque(refname, flow, colnames)
    flows = [expr(c, scope) for c in children(node)]
    return Opaque(refname, opaque(flows), colnames)


# -- expressions ------------------------------------------------------------------------------


def expr(node: Any, scope: Scope) -> Flow:
    """The flow of one expression.

    Operators, CASE, COALESCE, row and array constructors and the like all derive their value
    from their parts, and deriving is associative, so their subtrees are flattened with an
    explicit stack rather than recursion: ``a || b || ...`` can be thousands of levels deep.
    """
    flow = _leaf(node, scope)
    if flow is not None:
        return flow
    flows: list[Flow] = []
    stack: list[Any] = [node]
    while stack:
        item = stack.pop()
        flow = _leaf(item, scope)
        if flow is not None:
            flows.append(flow)
        elif isinstance(item, tuple):
            stack.extend(item)
        elif isinstance(item, ast.Node):
            stack.extend(children(item))
    return derive(flows)


def _leaf(node: Any, scope: Scope) -> Flow | None:
    """The flow of a node that does not simply derive from its children, else None."""
    while isinstance(node, ast.TypeCast | ast.CollateClause):
        node = node.arg  # casts and collations pass the value through
    if isinstance(node, ast.ColumnRef):
        fields = node.fields or ()
        if fields and isinstance(fields[-1], ast.A_Star):
            return opaque([c.flow for c in scope.star(names(fields))])
        return scope.column(names(fields))
    if isinstance(node, ast.A_Const | ast.ParamRef | ast.SQLValueFunction | ast.SetToDefault):
        return CONSTANT
    if isinstance(node, ast.FuncCall):
        return _call(node, scope)
    if isinstance(node, ast.SubLink):
        return _sublink(node, scope)
    if isinstance(node, ast.NullTest | ast.BooleanTest) or (scope.trusted and _is_equality(node)):
        return CONSTANT  # one bit (equal / null or not), never the value
    if isinstance(node, ast.SelectStmt):
        return opaque([c.flow for c in query_columns(node, scope.child())])
    if node is None:
        return CONSTANT
    return None


_STATE_READERS = frozenset({"current_setting"})
_EQUALITY_OPS = frozenset({("=",), ("<>",), ("!=",)})


def _is_equality(node: Any) -> bool:
    if not isinstance(node, ast.A_Expr):
        return False
    if node.kind in (enums.A_Expr_Kind.AEXPR_DISTINCT, enums.A_Expr_Kind.AEXPR_NOT_DISTINCT):
        return True
    return node.kind == enums.A_Expr_Kind.AEXPR_OP and names(node.name or ()) in _EQUALITY_OPS


def _call(node: ast.FuncCall, scope: Scope) -> Flow:
    schema, name = func_name(node)
    bare = name.lower()
    builtin = schema == "pg_catalog" or (schema is None and scope.trusted)
    if bare in _STATE_READERS:
        return UNKNOWN  # session state can hold any value a statement put there (set_config)
    args = [expr(arg, scope) for arg in node.args or ()]
    if node.agg_within_group:
        # An ordered-set aggregate's real input is its WITHIN GROUP (ORDER BY ...) list:
        # mode() and percentile_disc() return one of those values, not an ordering.
        args += [expr(s.node, scope) for s in node.agg_order or () if isinstance(s, ast.SortBy)]
    if builtin and bare in VALUE_BLIND_FUNCTIONS and _blind_to(bare, args):
        return CONSTANT
    if builtin and bare in VALUE_AGGREGATES and len(args) == 1 and not node.agg_within_group:
        return args[0]
    if builtin and bare in PURE_FUNCTIONS:
        return derive(args)
    return opaque(args)


def _blind_to(bare: str, args: list[Flow]) -> bool:
    """Whether a size function's result says nothing about a value beyond its size.

    ``count`` only sees whether each value is null. The others measure their argument: that is
    harmless for a source value as it is (or a constant), but the size of a computed value can
    be made to spell anything (``length(repeat('x', ascii(substr(ssn, 1, 1))))`` is the first
    character's code), so a size of a computation of a source is computed from that source.
    """
    if bare in COUNTING_AGGREGATES:
        return True
    return all(f.passthrough or f.exact for f in args)


def _sublink(node: ast.SubLink, scope: Scope) -> Flow:
    cols = query_columns(node.subselect, scope.child())
    kind = node.subLinkType
    if kind == enums.SubLinkType.EXPR_SUBLINK:
        first = cols[0].flow if cols else UNKNOWN
        return Flow(first.sources, False, first.passthrough)
    flows = (
        [c.flow for c in cols[:1]]
        if kind == enums.SubLinkType.ARRAY_SUBLINK
        else [c.flow for c in cols]
    )
    if node.testexpr is not None:
        flows.append(expr(node.testexpr, scope))
    return opaque(flows)
