"""What DDL and privilege statements name: relations, functions, schemas, roles, databases.

Everything a DDL statement names is accessed ``ddl`` (creating, altering, dropping, commenting);
GRANT/REVOKE targets and grantees are ``grant``. Object lists in DROP, COMMENT, ALTER ... OWNER and
friends are plain name lists whose meaning depends on the statement's object type, so the type
decides which kind of object each name is.
"""

from __future__ import annotations

from typing import Any

from pglast import ast, enums

from ._facts import Access
from ._nodes import names
from ._walk import Ctx, Walker

__all__ = ["RELATION_TYPES", "DdlWalker"]

_O = enums.ObjectType
RELATION_TYPES = frozenset(
    {_O.OBJECT_TABLE, _O.OBJECT_VIEW, _O.OBJECT_MATVIEW, _O.OBJECT_INDEX, _O.OBJECT_SEQUENCE}
    | {_O.OBJECT_FOREIGN_TABLE}
)
_FUNCTION_TYPES = frozenset(
    {_O.OBJECT_FUNCTION, _O.OBJECT_PROCEDURE, _O.OBJECT_ROUTINE, _O.OBJECT_AGGREGATE}
)


class DdlWalker(Walker):
    """Handlers for the objects DDL and privilege statements name."""

    def _role_spec(self, node: ast.RoleSpec, ctx: Ctx) -> None:
        if node.rolename:
            name = node.rolename
        else:
            roletype = getattr(node.roletype, "name", "")
            name = str(roletype).removeprefix("ROLESPEC_").lower()
        self._add("role", None, name, "grant" if ctx.access == "grant" else "ddl")

    def _create_trigger(self, node: ast.CreateTrigStmt, ctx: Ctx) -> None:
        self._qualified("function", names(node.funcname), "ddl")
        self._fields(node, ctx._replace(executed=False), ("funcname",))

    def _create_function(self, node: ast.CreateFunctionStmt, ctx: Ctx) -> None:
        self._qualified("function", names(node.funcname), "ddl")
        self._fields(node, ctx._replace(executed=False), ("funcname",))

    def _alter_function(self, node: ast.AlterFunctionStmt, ctx: Ctx) -> None:
        self._function_object(node.func, "ddl")
        self._fields(node, ctx, ("func",))

    def _drop(self, node: ast.DropStmt, ctx: Ctx) -> None:
        self._objects_of_type(node.removeType, node.objects or (), "ddl")

    def _objects_of_type(self, objtype: Any, objects: tuple[Any, ...], access: Access) -> None:
        for obj in objects:
            if objtype in RELATION_TYPES:
                self._qualified("relation", names(obj), access)
            elif objtype == _O.OBJECT_COLUMN:
                self._qualified("relation", names(obj)[:-1], access)
            elif objtype in _FUNCTION_TYPES:
                self._function_object(obj, access)
            elif objtype == _O.OBJECT_SCHEMA:
                self._qualified("schema", names(obj)[-1:], access)
            elif objtype == _O.OBJECT_DATABASE:
                self._qualified("database", names(obj)[-1:], access)
            elif objtype == _O.OBJECT_ROLE:
                self._qualified("role", names(obj)[-1:], access)

    def _grant(self, node: ast.GrantStmt, ctx: Ctx) -> None:
        grant = ctx._replace(access="grant")
        objects = node.objects or ()
        if node.targtype == enums.GrantTargetType.ACL_TARGET_ALL_IN_SCHEMA:
            self._objects_of_type(_O.OBJECT_SCHEMA, objects, "grant")
        elif node.objtype in RELATION_TYPES:
            self.visit(objects, grant)
        else:
            self._objects_of_type(node.objtype, objects, "grant")
        self._fields(node, grant, ("objects",))

    def _grant_role(self, node: ast.GrantRoleStmt, ctx: Ctx) -> None:
        for priv in node.granted_roles or ():
            if isinstance(priv, ast.AccessPriv):
                self._add("role", None, priv.priv_name, "grant")
        self._fields(node, ctx._replace(access="grant"), ("granted_roles",))

    def _create_role(self, node: ast.CreateRoleStmt, ctx: Ctx) -> None:
        self._add("role", None, node.role, "ddl")
        self._fields(node, ctx)

    def _create_schema(self, node: ast.CreateSchemaStmt, ctx: Ctx) -> None:
        self._add("schema", None, node.schemaname, "ddl")
        self._fields(node, ctx)

    def _database(self, node: Any, ctx: Ctx) -> None:
        self._add("database", None, node.dbname, "ddl")
        self._fields(node, ctx)

    def _rename(self, node: ast.RenameStmt, ctx: Ctx) -> None:
        rename = node.renameType
        if rename == _O.OBJECT_SCHEMA:
            self._add("schema", None, node.subname, "ddl")
        elif rename == _O.OBJECT_DATABASE:
            self._add("database", None, node.subname, "ddl")
        elif rename == _O.OBJECT_ROLE:
            self._add("role", None, node.subname, "ddl")
        elif node.object is not None:
            self._objects_of_type(rename, (node.object,), "ddl")
        self._fields(node, ctx, ("object",))

    def _named_object(self, node: Any, ctx: Ctx) -> None:
        objtype = node.objtype if hasattr(node, "objtype") else node.objectType
        obj = getattr(node, "object", None)
        if obj is not None:
            self._objects_of_type(objtype, (obj,), "ddl")
        self._fields(node, ctx, ("object",))
