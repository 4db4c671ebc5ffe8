"""Statement classification: PostgreSQL's command tag and the kinds of one top-level statement.

Every raw statement type pglast knows is listed, so a new one shows up as a failing coverage test
rather than as a silent default; anything unlisted is classified ``admin`` (fail closed). The kinds
here come from the statement's shape alone; what its body does (data-modifying CTEs, function
calls) is added by `_statement` from the walk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pglast import ast, enums

from ._nodes import object_word
from ._objects import explain_analyzes

__all__ = ["STATEMENT_TYPES", "Shape", "classify"]


@dataclass(frozen=True, slots=True)
class Shape:
    """Command tag, kinds, and whether the shape itself hides a write (SELECT INTO, DO...)."""

    command: str
    kinds: frozenset[str]
    hidden_write: bool = False


def _k(*kinds: str) -> frozenset[str]:
    return frozenset(kinds)


DDL = _k("ddl")
_DDL_ADMIN = _k("ddl", "admin")
_DDL_PRIVILEGE = _k("ddl", "privilege")
PRIVILEGE = _k("privilege")
ADMIN = _k("admin")
UTILITY = _k("utility")
_TRANSACTION = _k("transaction")
#: Effects a plain (non-ANALYZE) EXPLAIN never has: it plans and returns the plan.
_EXECUTION_ONLY = _k("write", "ddl", "export", "import", "privilege", "procedural")

_FIXED: dict[type, tuple[str, frozenset[str]]] = {
    ast.AlterCollationStmt: ("ALTER COLLATION", DDL),
    ast.AlterDatabaseRefreshCollStmt: ("ALTER DATABASE", DDL),
    ast.AlterDatabaseSetStmt: ("ALTER DATABASE", DDL),
    ast.AlterDatabaseStmt: ("ALTER DATABASE", DDL),
    ast.AlterDefaultPrivilegesStmt: ("ALTER DEFAULT PRIVILEGES", PRIVILEGE),
    ast.AlterDomainStmt: ("ALTER DOMAIN", DDL),
    ast.AlterEnumStmt: ("ALTER TYPE", DDL),
    ast.AlterEventTrigStmt: ("ALTER EVENT TRIGGER", _DDL_ADMIN),
    ast.AlterExtensionContentsStmt: ("ALTER EXTENSION", _DDL_ADMIN),
    ast.AlterExtensionStmt: ("ALTER EXTENSION", _DDL_ADMIN),
    ast.AlterFdwStmt: ("ALTER FOREIGN DATA WRAPPER", _DDL_ADMIN),
    ast.AlterForeignServerStmt: ("ALTER SERVER", _DDL_ADMIN),
    ast.AlterOpFamilyStmt: ("ALTER OPERATOR FAMILY", DDL),
    ast.AlterOperatorStmt: ("ALTER OPERATOR", DDL),
    ast.AlterPolicyStmt: ("ALTER POLICY", _DDL_PRIVILEGE),
    ast.AlterPublicationStmt: ("ALTER PUBLICATION", _DDL_ADMIN),
    ast.AlterRoleSetStmt: ("ALTER ROLE", PRIVILEGE),
    ast.AlterRoleStmt: ("ALTER ROLE", PRIVILEGE),
    ast.AlterSeqStmt: ("ALTER SEQUENCE", DDL),
    ast.AlterStatsStmt: ("ALTER STATISTICS", DDL),
    ast.AlterSubscriptionStmt: ("ALTER SUBSCRIPTION", _DDL_ADMIN),
    ast.AlterSystemStmt: ("ALTER SYSTEM", ADMIN),
    ast.AlterTSConfigurationStmt: ("ALTER TEXT SEARCH CONFIGURATION", DDL),
    ast.AlterTSDictionaryStmt: ("ALTER TEXT SEARCH DICTIONARY", DDL),
    ast.AlterTableMoveAllStmt: ("ALTER TABLE", _DDL_ADMIN),
    ast.AlterTableSpaceOptionsStmt: ("ALTER TABLESPACE", _DDL_ADMIN),
    ast.AlterTypeStmt: ("ALTER TYPE", DDL),
    ast.AlterUserMappingStmt: ("ALTER USER MAPPING", _DDL_PRIVILEGE),
    ast.CallStmt: ("CALL", _k("procedural")),
    ast.CheckPointStmt: ("CHECKPOINT", ADMIN),
    ast.ClusterStmt: ("CLUSTER", ADMIN),
    ast.CommentStmt: ("COMMENT", DDL),
    ast.CompositeTypeStmt: ("CREATE TYPE", DDL),
    ast.ConstraintsSetStmt: ("SET CONSTRAINTS", _TRANSACTION),
    ast.CreateAmStmt: ("CREATE ACCESS METHOD", _DDL_ADMIN),
    ast.CreateCastStmt: ("CREATE CAST", DDL),
    ast.CreateConversionStmt: ("CREATE CONVERSION", DDL),
    ast.CreateDomainStmt: ("CREATE DOMAIN", DDL),
    ast.CreateEnumStmt: ("CREATE TYPE", DDL),
    ast.CreateEventTrigStmt: ("CREATE EVENT TRIGGER", _DDL_ADMIN),
    ast.CreateExtensionStmt: ("CREATE EXTENSION", _DDL_ADMIN),
    ast.CreateFdwStmt: ("CREATE FOREIGN DATA WRAPPER", _DDL_ADMIN),
    ast.CreateForeignServerStmt: ("CREATE SERVER", _DDL_ADMIN),
    ast.CreateForeignTableStmt: ("CREATE FOREIGN TABLE", DDL),
    ast.CreateOpClassStmt: ("CREATE OPERATOR CLASS", DDL),
    ast.CreateOpFamilyStmt: ("CREATE OPERATOR FAMILY", DDL),
    ast.CreatePLangStmt: ("CREATE LANGUAGE", _DDL_ADMIN),
    ast.CreatePolicyStmt: ("CREATE POLICY", _DDL_PRIVILEGE),
    ast.CreatePublicationStmt: ("CREATE PUBLICATION", _DDL_ADMIN),
    ast.CreateRangeStmt: ("CREATE TYPE", DDL),
    ast.CreateSchemaStmt: ("CREATE SCHEMA", DDL),
    ast.CreateSeqStmt: ("CREATE SEQUENCE", DDL),
    ast.CreateStatsStmt: ("CREATE STATISTICS", DDL),
    ast.CreateStmt: ("CREATE TABLE", DDL),
    ast.CreateSubscriptionStmt: ("CREATE SUBSCRIPTION", _DDL_ADMIN),
    ast.CreateTableSpaceStmt: ("CREATE TABLESPACE", _DDL_ADMIN),
    ast.CreateTransformStmt: ("CREATE TRANSFORM", DDL),
    ast.CreateTrigStmt: ("CREATE TRIGGER", DDL),
    ast.CreateUserMappingStmt: ("CREATE USER MAPPING", _DDL_PRIVILEGE),
    ast.CreatedbStmt: ("CREATE DATABASE", DDL),
    ast.DeleteStmt: ("DELETE", _k("write")),
    ast.DoStmt: ("DO", _k("procedural")),
    ast.DropOwnedStmt: ("DROP OWNED", _DDL_PRIVILEGE),
    ast.DropRoleStmt: ("DROP ROLE", PRIVILEGE),
    ast.DropSubscriptionStmt: ("DROP SUBSCRIPTION", _DDL_ADMIN),
    ast.DropTableSpaceStmt: ("DROP TABLESPACE", _DDL_ADMIN),
    ast.DropUserMappingStmt: ("DROP USER MAPPING", _DDL_PRIVILEGE),
    ast.DropdbStmt: ("DROP DATABASE", DDL),
    ast.ExecuteStmt: ("EXECUTE", UTILITY),
    ast.ImportForeignSchemaStmt: ("IMPORT FOREIGN SCHEMA", _DDL_ADMIN),
    ast.IndexStmt: ("CREATE INDEX", DDL),
    ast.InsertStmt: ("INSERT", _k("write")),
    ast.ListenStmt: ("LISTEN", UTILITY),
    ast.LoadStmt: ("LOAD", ADMIN),
    ast.MergeStmt: ("MERGE", _k("write")),
    ast.NotifyStmt: ("NOTIFY", UTILITY),
    ast.ReassignOwnedStmt: ("REASSIGN OWNED", _DDL_PRIVILEGE),
    ast.RefreshMatViewStmt: ("REFRESH MATERIALIZED VIEW", _k("write")),
    ast.ReindexStmt: ("REINDEX", ADMIN),
    ast.RuleStmt: ("CREATE RULE", DDL),
    ast.SecLabelStmt: ("SECURITY LABEL", _DDL_PRIVILEGE),
    ast.TruncateStmt: ("TRUNCATE TABLE", _k("write", "ddl")),
    ast.UnlistenStmt: ("UNLISTEN", UTILITY),
    ast.UpdateStmt: ("UPDATE", _k("write")),
    ast.VariableShowStmt: ("SHOW", UTILITY),
    ast.ViewStmt: ("CREATE VIEW", DDL),
}

_TRANSACTION_TAGS = {
    "TRANS_STMT_BEGIN": "BEGIN",
    "TRANS_STMT_START": "START TRANSACTION",
    "TRANS_STMT_COMMIT": "COMMIT",
    "TRANS_STMT_ROLLBACK": "ROLLBACK",
    "TRANS_STMT_SAVEPOINT": "SAVEPOINT",
    "TRANS_STMT_RELEASE": "RELEASE",
    "TRANS_STMT_ROLLBACK_TO": "ROLLBACK",
    "TRANS_STMT_PREPARE": "PREPARE TRANSACTION",
    "TRANS_STMT_COMMIT_PREPARED": "COMMIT PREPARED",
    "TRANS_STMT_ROLLBACK_PREPARED": "ROLLBACK PREPARED",
}

_A = enums.AlterTableType
#: ALTER TABLE subcommands that change who may see or change data, or switch off triggers
#: and rules that may be what audits or guards a table.
_PRIVILEGE_SUBCOMMANDS = frozenset(
    {
        _A.AT_ChangeOwner, _A.AT_EnableRowSecurity, _A.AT_DisableRowSecurity,
        _A.AT_ForceRowSecurity, _A.AT_NoForceRowSecurity, _A.AT_DisableTrig,
        _A.AT_DisableTrigAll, _A.AT_DisableTrigUser, _A.AT_DisableRule,
    }
)  # fmt: skip


def _select(node: ast.SelectStmt) -> Shape:
    if node.intoClause is not None:
        return Shape("SELECT INTO", _k("read", "export", "write", "ddl"), hidden_write=True)
    if node.lockingClause:
        # Row locks need UPDATE privilege and block writers; PostgreSQL refuses them read-only.
        return Shape("SELECT FOR UPDATE", _k("read", "write"))
    return Shape("SELECT", _k("read"))


def _explain(node: ast.ExplainStmt) -> Shape:
    inner = classify(node.query)
    if explain_analyzes(node):
        return Shape("EXPLAIN", inner.kinds, inner.hidden_write)
    return Shape("EXPLAIN", (inner.kinds - _EXECUTION_ONLY) | {"read"})


def _prepare(node: ast.PrepareStmt) -> Shape:
    inner = classify(node.query)
    # The write happens at a later EXECUTE that names only the statement: hidden now.
    return Shape("PREPARE", inner.kinds, inner.hidden_write or "write" in inner.kinds)


def _declare(node: ast.DeclareCursorStmt) -> Shape:
    inner = classify(node.query)
    return Shape("DECLARE CURSOR", inner.kinds, inner.hidden_write)


def _create_table_as(node: ast.CreateTableAsStmt) -> Shape:
    inner = classify(node.query)
    word = object_word(node.objtype)
    command = "CREATE MATERIALIZED VIEW" if word == "MATERIALIZED VIEW" else "CREATE TABLE AS"
    # The rows leave the governed result stream for a table: export, like SELECT INTO.
    return Shape(command, inner.kinds | {"ddl", "write", "export"}, hidden_write=True)


def _copy(node: ast.CopyStmt) -> Shape:
    kinds = {"import", "write"} if node.is_from else {"export", "read"}
    hidden = False
    if node.query is not None:
        inner = classify(node.query)
        kinds |= inner.kinds
        hidden = inner.hidden_write
    if node.is_program or node.filename is not None:
        kinds.add("admin")  # server-side files and programs
    return Shape("COPY", frozenset(kinds), hidden)


def _variable_set(node: ast.VariableSetStmt) -> Shape:
    command = "RESET" if node.kind in _RESETS else "SET"
    if node.name in ("TRANSACTION", "TRANSACTION SNAPSHOT"):
        return Shape(command, _TRANSACTION)
    return Shape(command, _k("session"))


_RESETS = (enums.VariableSetKind.VAR_RESET, enums.VariableSetKind.VAR_RESET_ALL)


def _transaction(node: ast.TransactionStmt) -> Shape:
    return Shape(_TRANSACTION_TAGS.get(getattr(node.kind, "name", ""), "BEGIN"), _TRANSACTION)


def _alter_table(node: ast.AlterTableStmt) -> Shape:
    kinds = {"ddl"}
    if any(getattr(cmd, "subtype", None) in _PRIVILEGE_SUBCOMMANDS for cmd in node.cmds or ()):
        kinds.add("privilege")
    return Shape("ALTER " + object_word(node.objtype), frozenset(kinds))


def _create_function(node: ast.CreateFunctionStmt) -> Shape:
    command = "CREATE PROCEDURE" if node.is_procedure else "CREATE FUNCTION"
    return Shape(command, _DDL_PRIVILEGE if _security_definer(node.options) else DDL)


def _alter_function(node: ast.AlterFunctionStmt) -> Shape:
    kinds = _DDL_PRIVILEGE if _security_definer(node.actions) else DDL
    return Shape("ALTER " + object_word(node.objtype), kinds)


def _security_definer(options: Any) -> bool:
    """A SECURITY DEFINER function runs with its owner's rights: creating one grants them."""
    for option in options or ():
        if isinstance(option, ast.DefElem) and option.defname == "security":
            return isinstance(option.arg, ast.Boolean) and bool(option.arg.boolval)
    return False


def _role(node: ast.CreateRoleStmt) -> Shape:
    word = str(getattr(node.stmt_type, "name", "ROLESTMT_ROLE")).removeprefix("ROLESTMT_")
    return Shape("CREATE " + word, PRIVILEGE)


def _grant(node: ast.GrantStmt | ast.GrantRoleStmt) -> Shape:
    return Shape("GRANT" if node.is_grant else "REVOKE", PRIVILEGE)


def _lock(node: ast.LockStmt) -> Shape:
    return Shape("LOCK TABLE", _k("read") if node.mode == 1 else _k("write"))


def _discard(node: ast.DiscardStmt) -> Shape:
    word = str(getattr(node.target, "name", "DISCARD_ALL")).removeprefix("DISCARD_")
    return Shape("DISCARD " + word, _k("session"))


def _fetch(node: ast.FetchStmt) -> Shape:
    return Shape("MOVE" if node.ismove else "FETCH", UTILITY)


def _close(node: ast.ClosePortalStmt) -> Shape:
    return Shape("CLOSE CURSOR" if node.portalname else "CLOSE CURSOR ALL", UTILITY)


def _deallocate(node: ast.DeallocateStmt) -> Shape:
    return Shape("DEALLOCATE ALL" if node.isall else "DEALLOCATE", UTILITY)


def _vacuum(node: ast.VacuumStmt) -> Shape:
    return Shape("VACUUM" if node.is_vacuumcmd else "ANALYZE", ADMIN)


def _drop(node: ast.DropStmt) -> Shape:
    return Shape("DROP " + object_word(node.removeType), DDL)


def _rename(node: ast.RenameStmt) -> Shape:
    word = object_word(node.renameType)
    if node.renameType in (enums.ObjectType.OBJECT_COLUMN, enums.ObjectType.OBJECT_TABCONSTRAINT):
        word = object_word(node.relationType)
    return Shape("ALTER " + word, PRIVILEGE if word == "ROLE" else DDL)


def _alter_object(node: Any) -> Shape:
    objtype = getattr(node, "objectType", None)
    kinds = _DDL_PRIVILEGE if isinstance(node, ast.AlterOwnerStmt) else DDL
    return Shape("ALTER " + object_word(objtype), kinds)


def _define(node: ast.DefineStmt) -> Shape:
    return Shape("CREATE " + object_word(node.kind), DDL)


_DYNAMIC: dict[type, Callable[[Any], Shape]] = {
    ast.SelectStmt: _select,
    ast.ExplainStmt: _explain,
    ast.PrepareStmt: _prepare,
    ast.DeclareCursorStmt: _declare,
    ast.CreateTableAsStmt: _create_table_as,
    ast.CopyStmt: _copy,
    ast.VariableSetStmt: _variable_set,
    ast.TransactionStmt: _transaction,
    ast.AlterTableStmt: _alter_table,
    ast.CreateFunctionStmt: _create_function,
    ast.AlterFunctionStmt: _alter_function,
    ast.CreateRoleStmt: _role,
    ast.GrantStmt: _grant,
    ast.GrantRoleStmt: _grant,
    ast.LockStmt: _lock,
    ast.DiscardStmt: _discard,
    ast.FetchStmt: _fetch,
    ast.ClosePortalStmt: _close,
    ast.DeallocateStmt: _deallocate,
    ast.VacuumStmt: _vacuum,
    ast.DropStmt: _drop,
    ast.RenameStmt: _rename,
    ast.AlterOwnerStmt: _alter_object,
    ast.AlterObjectSchemaStmt: _alter_object,
    ast.AlterObjectDependsStmt: _alter_object,
    ast.DefineStmt: _define,
}

#: DO and CALL run code the analyzer cannot see: treated as a possible write.
_PROCEDURAL = frozenset({ast.DoStmt, ast.CallStmt})

#: Every statement type classified explicitly (the coverage test compares it with pglast.ast).
STATEMENT_TYPES: frozenset[type] = frozenset(_FIXED) | frozenset(_DYNAMIC)


def classify(node: Any) -> Shape:
    """The command tag and kinds of a statement's shape; unknown types are ``admin``."""
    fixed = _FIXED.get(type(node))
    if fixed is not None:
        return Shape(fixed[0], fixed[1], hidden_write=type(node) in _PROCEDURAL)
    dynamic = _DYNAMIC.get(type(node))
    if dynamic is not None:
        return dynamic(node)
    return Shape(type(node).__name__.removesuffix("Stmt").upper() or "UNKNOWN", ADMIN)
