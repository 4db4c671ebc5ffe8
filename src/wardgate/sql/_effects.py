"""Effects that the command tag does not show: settings, the read-only guard, function calls.

The gateway holds read-only identities read-only in the database itself
(``default_transaction_read_only`` and a read-only role). Any client may SET those settings, so
every path that could lift the guard is flagged ``read_only_breaking``: SET/RESET/set_config of a
read-only setting to anything PostgreSQL does not read as true, READ WRITE transaction modes,
identity switches (SET ROLE, SET SESSION AUTHORIZATION, their RESETs), RESET ALL, DISCARD ALL,
ALTER ROLE/DATABASE/SYSTEM ... SET of those settings, an UPDATE of ``pg_settings``, and set_config
with a name only known at run time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pglast import ast, enums

from ._catalog import (
    BUILTIN_OPERATORS,
    PURE_FUNCTIONS,
    READ_ONLY_SETTINGS,
    RESTRICTED_SETTINGS,
    SETTING_FUNCTIONS,
    WRITE_FUNCTIONS,
    is_admin_function,
    is_true,
)
from ._nodes import constant, has_column_ref
from ._objects import Call

__all__ = [
    "CallEffects",
    "breaks_read_only",
    "builtins_trusted",
    "call_effects",
    "is_unbounded",
    "statement_settings",
]

Setting = tuple[str, str | None]
_V = enums.VariableSetKind
_IDENTITY_SETTINGS = frozenset({"role", "session_authorization", "all", "*"})


def breaks_read_only(settings: Iterable[Setting]) -> bool:
    """True if any of these changes could switch the read-only guard off."""
    for name, value in settings:
        if name in _IDENTITY_SETTINGS:
            return True
        if name in READ_ONLY_SETTINGS and not is_true(value):
            return True
    return False


def _mode_settings(options: Any, prefix: str) -> list[Setting]:
    """Transaction modes (``READ WRITE``, ``ISOLATION LEVEL ...``) as settings."""
    found: list[Setting] = []
    for option in options or ():
        if not isinstance(option, ast.DefElem) or not option.defname:
            continue
        known, value = constant(option.arg)
        if option.defname in ("transaction_read_only", "transaction_deferrable") and known:
            value = "off" if value == "0" else "on"
        found.append((prefix + option.defname, value if known else None))
    return found


def _variable_set(node: ast.VariableSetStmt) -> list[Setting]:
    kind = node.kind
    if kind == _V.VAR_RESET_ALL:
        return [("all", None)]
    name = (node.name or "").lower()
    if kind == _V.VAR_SET_MULTI:
        if node.name == "SESSION CHARACTERISTICS":
            return _mode_settings(node.args, "default_")
        if node.name == "TRANSACTION":
            return _mode_settings(node.args, "")
        name = "transaction_snapshot"
    if kind not in (_V.VAR_SET_VALUE, _V.VAR_SET_MULTI):
        return [(name, None)]  # DEFAULT, FROM CURRENT, RESET: back to a default
    values = [constant(arg) for arg in node.args or ()]
    if not values or not all(known for known, _ in values):
        return [(name, None)]
    return [(name, ", ".join(value or "" for _, value in values))]


def statement_settings(node: Any) -> list[Setting]:
    """Settings a SET/RESET/BEGIN/DISCARD/ALTER ... SET statement changes."""
    if isinstance(node, ast.VariableSetStmt):
        return _variable_set(node)
    if isinstance(node, ast.AlterSystemStmt | ast.AlterRoleSetStmt | ast.AlterDatabaseSetStmt):
        return _variable_set(node.setstmt) if node.setstmt is not None else [("all", None)]
    if isinstance(node, ast.TransactionStmt):
        return _mode_settings(node.options, "")
    if isinstance(node, ast.DiscardStmt) and node.target == enums.DiscardMode.DISCARD_ALL:
        return [("all", None)]  # DISCARD ALL includes RESET ALL and SET SESSION AUTHORIZATION
    return []


def builtins_trusted(search_path: tuple[str, ...]) -> bool:
    """Whether an unqualified name surely means the pg_catalog builtin.

    PostgreSQL searches pg_catalog first unless the search_path lists it explicitly later; then
    a user function named ``lower`` in an earlier schema shadows the builtin.
    """
    return "pg_catalog" not in search_path or search_path[0] == "pg_catalog"


@dataclass(slots=True)
class CallEffects:
    """What the function calls of one statement add to its facts."""

    kinds: set[str] = field(default_factory=set)
    settings: list[Setting] = field(default_factory=list)
    writes: bool = False
    unknown: bool = False
    reads_literals: bool = False


def _set_config(call: ast.FuncCall) -> Setting:
    args = call.args or ()
    known_name, name = constant(args[0]) if args else (False, None)
    known_value, value = constant(args[1]) if len(args) > 1 else (False, None)
    return ((name or "").lower() if known_name and name else "*", value if known_value else None)


def call_effects(
    calls: Iterable[Call], operators: Iterable[tuple[str, ...]], search_path: tuple[str, ...]
) -> CallEffects:
    """Admin, write and setting effects of the calls that run now; unknown functions and
    operators (schema-qualified, not a core operator, or possibly shadowed by the path)."""
    effects = CallEffects()
    trusted = builtins_trusted(search_path)
    for parts in operators:
        schema = parts[-2] if len(parts) > 1 else None
        builtin = schema == "pg_catalog" or (schema is None and trusted)
        if not (builtin and parts and parts[-1] in BUILTIN_OPERATORS):
            effects.unknown = True
    for call in calls:
        bare = call.name.lower()
        schema = call.schema.lower() if call.schema else None
        builtin = schema == "pg_catalog" or (schema is None and trusted)
        admin = is_admin_function(bare)
        setting = bare in SETTING_FUNCTIONS
        known = bare in PURE_FUNCTIONS or bare in WRITE_FUNCTIONS or setting or admin
        if not (builtin and known):
            effects.unknown = True
        if setting:
            effects.reads_literals = True
        if not call.executed:
            continue
        if admin:
            effects.kinds.add("admin")
        if bare in WRITE_FUNCTIONS:
            effects.kinds.add("write")
            effects.writes = True
        if setting:
            name, value = _set_config(call.node)
            effects.settings.append((name, value))
            effects.kinds.add("admin" if name in RESTRICTED_SETTINGS or name == "*" else "session")
    return effects


def is_unbounded(node: Any) -> bool:
    """An UPDATE/DELETE/MERGE that may touch every row of its target (see StatementFacts)."""
    if isinstance(node, ast.UpdateStmt | ast.DeleteStmt):
        return not has_column_ref(node.whereClause)
    if isinstance(node, ast.MergeStmt):
        if not has_column_ref(node.joinCondition):
            return True
        for clause in node.mergeWhenClauses or ():
            if (
                isinstance(clause, ast.MergeWhenClause)
                and clause.matchKind == enums.MergeMatchKind.MERGE_WHEN_NOT_MATCHED_BY_SOURCE
                and clause.commandType in (enums.CmdType.CMD_UPDATE, enums.CmdType.CMD_DELETE)
                and not has_column_ref(clause.condition)
            ):
                return True
    return False
