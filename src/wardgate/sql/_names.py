"""The name PostgreSQL gives an unaliased result column (its ``FigureColname``).

Masking matches result columns to lineage by position, but people, policies and audit records read
names, so the analyzer reports the names the client will see.
"""

from __future__ import annotations

from typing import Any

from pglast import ast, enums

from ._nodes import func_name, names

__all__ = ["figure_name"]

_UNNAMED = "?column?"
_SIMPLE: dict[type, str] = {
    ast.CaseExpr: "case",
    ast.A_ArrayExpr: "array",
    ast.RowExpr: "row",
    ast.CoalesceExpr: "coalesce",
    ast.GroupingFunc: "grouping",
    ast.XmlSerialize: "xmlserialize",
    ast.MergeSupportFunc: "merge_action",
    ast.JsonParseExpr: "json",
    ast.JsonScalarExpr: "json_scalar",
    ast.JsonSerializeExpr: "json_serialize",
    ast.JsonObjectConstructor: "json_object",
    ast.JsonArrayConstructor: "json_array",
    ast.JsonArrayQueryConstructor: "json_array",
    ast.JsonObjectAgg: "json_objectagg",
    ast.JsonArrayAgg: "json_arrayagg",
}
_SUBLINK_NAMES: dict[Any, str] = {
    enums.SubLinkType.EXISTS_SUBLINK: "exists",
    enums.SubLinkType.ARRAY_SUBLINK: "array",
}


def _first_target_name(select: Any) -> str:
    while isinstance(select, ast.SelectStmt) and select.larg is not None:
        select = select.larg
    targets = getattr(select, "targetList", None) or ()
    first = targets[0] if targets else None
    if isinstance(first, ast.ResTarget):
        return first.name or figure_name(first.val)
    return _UNNAMED


def figure_name(node: Any) -> str:
    """Column name for an expression without an alias, as PostgreSQL derives it."""
    if isinstance(node, ast.ColumnRef):
        parts = names(node.fields)
        return parts[-1] if parts else _UNNAMED
    if isinstance(node, ast.FuncCall):
        return func_name(node)[1] or _UNNAMED
    if isinstance(node, ast.TypeCast):
        inner = figure_name(node.arg)
        if inner != _UNNAMED:
            return inner
        type_names = names(node.typeName.names) if node.typeName is not None else ()
        return type_names[-1] if type_names else _UNNAMED
    if isinstance(node, ast.CollateClause):
        return figure_name(node.arg)
    if isinstance(node, ast.A_Indirection):
        last = (node.indirection or (None,))[-1]
        return last.sval or _UNNAMED if isinstance(last, ast.String) else figure_name(node.arg)
    if isinstance(node, ast.A_Expr) and node.kind == enums.A_Expr_Kind.AEXPR_NULLIF:
        return "nullif"
    if isinstance(node, ast.SubLink):
        if node.subLinkType == enums.SubLinkType.EXPR_SUBLINK:
            return _first_target_name(node.subselect)
        return _SUBLINK_NAMES.get(node.subLinkType, _UNNAMED)
    if isinstance(node, ast.MinMaxExpr):
        return "greatest" if node.op == enums.MinMaxOp.IS_GREATEST else "least"
    if isinstance(node, ast.SQLValueFunction):
        op = str(getattr(node.op, "name", ""))
        return op.removeprefix("SVFOP_").removesuffix("_N").lower() or _UNNAMED
    if isinstance(node, ast.XmlExpr):
        op = str(getattr(node.op, "name", ""))
        return op.removeprefix("IS_").lower() or _UNNAMED
    return _SIMPLE.get(type(node), _UNNAMED)
