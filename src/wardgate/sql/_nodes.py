"""Small readers over pglast's parse tree, shared by the analyzer modules.

pglast nodes are generated classes whose ``__slots__`` map each attribute to its C type; the generic
walk below follows only pointer-typed attributes (nodes and lists), which is every place a
sub-statement, expression or name can hide, and skips strings and scalars.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

__all__ = [
    "children",
    "constant",
    "func_name",
    "has_column_ref",
    "names",
    "node_attrs",
    "object_word",
]

_SKIPPED_C_TYPES = frozenset({"char*", "Bitmapset*"})
_NODE_ATTRS: dict[type, tuple[str, ...]] = {}


def node_attrs(cls: type) -> tuple[str, ...]:
    """Names of the attributes of a node class that can hold nodes or lists of nodes."""
    attrs = _NODE_ATTRS.get(cls)
    if attrs is None:
        slots: Any = getattr(cls, "__slots__", ())
        attrs = ()
        if isinstance(slots, dict):
            attrs = tuple(
                name
                for name, info in slots.items()
                if info.c_type.endswith("*") and info.c_type not in _SKIPPED_C_TYPES
            )
        _NODE_ATTRS[cls] = attrs
    return attrs


def _flatten(items: tuple[Any, ...]) -> Iterator[ast.Node]:
    for item in items:
        if isinstance(item, ast.Node):
            yield item
        elif isinstance(item, tuple):
            yield from _flatten(item)


def children(node: ast.Node) -> Iterator[ast.Node]:
    """The direct child nodes of ``node``, lists flattened, in field order."""
    for attr in node_attrs(type(node)):
        value = getattr(node, attr)
        if isinstance(value, ast.Node):
            yield value
        elif isinstance(value, tuple):
            yield from _flatten(value)


def names(items: Any) -> tuple[str, ...]:
    """The strings of a pglast name list (``(String, String)`` -> ``("s", "t")``)."""
    if isinstance(items, ast.String):
        return (items.sval or "",)
    if not isinstance(items, tuple):
        return ()
    return tuple(item.sval or "" for item in items if isinstance(item, ast.String))


def constant(node: Any) -> tuple[bool, str | None]:
    """``(True, text)`` for a literal (``(True, None)`` for NULL), ``(False, None)`` otherwise.

    A cast literal (``'x'::text``, ``interval '1 day'``) counts as its literal.
    """
    if isinstance(node, ast.TypeCast):
        node = node.arg
    if not isinstance(node, ast.A_Const):
        return False, None
    if node.isnull:
        return True, None
    value = node.val
    if isinstance(value, ast.String):
        return True, value.sval
    if isinstance(value, ast.Integer):
        return True, str(value.ival)
    if isinstance(value, ast.Float):
        return True, value.fval
    if isinstance(value, ast.Boolean):
        return True, "true" if value.boolval else "false"
    if isinstance(value, ast.BitString):
        return True, value.bsval
    return False, None


def func_name(call: ast.FuncCall) -> tuple[str | None, str]:
    """(schema or None, name) as written; SQL-syntax builtins (``EXTRACT(...)``, ``TRIM(...)``)
    come back unqualified although the parser spells them ``pg_catalog.x``."""
    parts = names(call.funcname)
    if not parts:
        return None, ""
    if call.funcformat == enums.CoercionForm.COERCE_SQL_SYNTAX and parts[0] == "pg_catalog":
        parts = parts[1:]
    if len(parts) == 1:
        return None, parts[0]
    return parts[-2], parts[-1]


def has_column_ref(node: Any) -> bool:
    """True when an expression depends on a row: it references a column, a cursor position or
    a subquery. A WHERE without any of these selects every row or none."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.ColumnRef | ast.CurrentOfExpr | ast.SubLink):
            return True
        if isinstance(item, tuple):
            stack.extend(item)
        elif isinstance(item, ast.Node):
            stack.extend(children(item))
    return False


_OBJECT_WORDS = {
    "MATVIEW": "MATERIALIZED VIEW",
    "FOREIGN_SERVER": "SERVER",
    "FDW": "FOREIGN DATA WRAPPER",
    "TSCONFIGURATION": "TEXT SEARCH CONFIGURATION",
    "TSDICTIONARY": "TEXT SEARCH DICTIONARY",
    "TSPARSER": "TEXT SEARCH PARSER",
    "TSTEMPLATE": "TEXT SEARCH TEMPLATE",
    "STATISTIC_EXT": "STATISTICS",
    "OPCLASS": "OPERATOR CLASS",
    "OPFAMILY": "OPERATOR FAMILY",
    "LARGEOBJECT": "LARGE OBJECT",
    "TABCONSTRAINT": "TABLE",
    "COLUMN": "TABLE",
    "ATTRIBUTE": "TYPE",
    "DOMCONSTRAINT": "DOMAIN",
    "DEFACL": "DEFAULT PRIVILEGES",
    "PARAMETER_ACL": "PARAMETER",
    "PUBLICATION_NAMESPACE": "PUBLICATION",
    "PUBLICATION_REL": "PUBLICATION",
}


def object_word(objtype: Any) -> str:
    """The command-tag word for an ObjectType (``OBJECT_MATVIEW`` -> ``MATERIALIZED VIEW``)."""
    name = getattr(objtype, "name", "")
    if not isinstance(name, str) or not name.startswith("OBJECT_"):
        return "OBJECT"
    word = name.removeprefix("OBJECT_")
    return _OBJECT_WORDS.get(word, word.replace("_", " "))
