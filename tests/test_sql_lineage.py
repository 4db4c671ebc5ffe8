"""Column lineage: for each statement, every output column's sources, exactness and passthrough.

Sources are written ``rel.col`` or ``schema.rel.col``; ``rel.*`` stands for the unexpanded columns
of ``rel``. Each expected column is ``(name, sources, exact, passthrough)``.
"""

from __future__ import annotations

import pytest

from wardgate.sql import OutputColumn, Source, analyze


def _src(spec: str) -> frozenset[Source]:
    sources: set[Source] = set()
    for item in spec.split():
        parts = item.split(".")
        schema = parts[0] if len(parts) == 3 else None
        sources.add((schema, parts[-2], parts[-1]))
    return frozenset(sources)


Col = tuple[str, str, bool, bool]
EXACT, INEXACT = True, False
PASS, COMPUTED = True, False

# fmt: off
CASES: list[tuple[str, str, list[Col]]] = [
    ("column", "SELECT a FROM t", [("a", "t.a", EXACT, PASS)]),
    ("column-alias", "SELECT a AS x FROM t", [("x", "t.a", EXACT, PASS)]),
    ("table-alias", "SELECT o.total FROM orders o", [("total", "orders.total", EXACT, PASS)]),
    ("schema-table-alias", "SELECT o.total FROM shop.orders AS o",
     [("total", "shop.orders.total", EXACT, PASS)]),
    ("fully-qualified-ref", "SELECT shop.orders.total FROM shop.orders",
     [("total", "shop.orders.total", EXACT, PASS)]),
    ("subquery", "SELECT x FROM (SELECT a AS x FROM t) s", [("x", "t.a", EXACT, PASS)]),
    ("subquery-column-aliases", "SELECT y FROM (SELECT a FROM t) s(y)",
     [("y", "t.a", EXACT, PASS)]),
    ("name-through-star-subquery", "SELECT email FROM (SELECT * FROM users) u",
     [("email", "users.email", EXACT, PASS)]),
    ("star-over-known-subquery", "SELECT * FROM (SELECT id, email AS e FROM users) u",
     [("id", "users.id", EXACT, PASS), ("e", "users.email", EXACT, PASS)]),
    ("cte", "WITH c AS (SELECT email FROM users) SELECT email FROM c",
     [("email", "users.email", EXACT, PASS)]),
    ("cte-column-aliases", "WITH c(e) AS (SELECT email FROM users) SELECT e AS mail FROM c",
     [("mail", "users.email", EXACT, PASS)]),
    ("cte-chain", "WITH a AS (SELECT ssn FROM p), b AS (SELECT ssn AS s FROM a) SELECT s FROM b",
     [("s", "p.ssn", EXACT, PASS)]),
    ("cte-shadows-table", "WITH users AS (SELECT 1 AS email) SELECT email FROM users",
     [("email", "", EXACT, COMPUTED)]),
    ("join-aliases", "SELECT u.email, o.total FROM users u JOIN orders o ON o.uid = u.id",
     [("email", "users.email", EXACT, PASS), ("total", "orders.total", EXACT, PASS)]),
    ("join-unqualified-is-ambiguous", "SELECT email FROM users u JOIN orders o ON true",
     [("email", "users.email orders.email", INEXACT, PASS)]),
    ("join-resolved-by-known-columns",
     "SELECT total FROM (SELECT id FROM users) u JOIN orders o ON o.uid = u.id",
     [("total", "orders.total", EXACT, PASS)]),
    ("join-using-alias", "SELECT j.email FROM (users JOIN orders USING (id)) AS j",
     [("email", "users.email orders.email", INEXACT, PASS)]),
    ("union", "SELECT email FROM users UNION SELECT contact FROM vendors",
     [("email", "users.email vendors.contact", EXACT, PASS)]),
    ("union-with-constant", "SELECT email FROM users UNION ALL SELECT 'x'",
     [("email", "users.email", EXACT, COMPUTED)]),
    ("intersect-except", "SELECT a FROM t INTERSECT SELECT b FROM u EXCEPT SELECT c FROM v",
     [("a", "t.a u.b v.c", EXACT, PASS)]),
    ("cast", "SELECT email::text FROM users", [("email", "users.email", EXACT, PASS)]),
    ("cast-function-syntax", "SELECT CAST(id AS text) AS i FROM users",
     [("i", "users.id", EXACT, PASS)]),
    ("collate", 'SELECT name COLLATE "C" FROM t', [("name", "t.name", EXACT, PASS)]),
    ("pure-function", "SELECT lower(email) FROM users",
     [("lower", "users.email", INEXACT, COMPUTED)]),
    ("unknown-function", "SELECT f(email) FROM users", [("f", "users.email", INEXACT, COMPUTED)]),
    ("unknown-function-no-args", "SELECT f()", [("f", "", INEXACT, COMPUTED)]),
    ("pure-function-on-constants", "SELECT upper('x'), now()",
     [("upper", "", EXACT, COMPUTED), ("now", "", EXACT, COMPUTED)]),
    ("count-star", "SELECT count(*) FROM users", [("count", "", EXACT, COMPUTED)]),
    ("count-column", "SELECT count(DISTINCT lower(email)) AS n FROM users",
     [("n", "", EXACT, COMPUTED)]),
    ("length-reveals-no-value", "SELECT length(email), octet_length(name) AS o FROM users",
     [("length", "", EXACT, COMPUTED), ("o", "", EXACT, COMPUTED)]),
    ("equality-reveals-no-value",
     "SELECT email = 'a@b.c' AS e, email IS NULL AS n, email IS DISTINCT FROM name AS d FROM users",
     [("e", "", EXACT, COMPUTED), ("n", "", EXACT, COMPUTED), ("d", "", EXACT, COMPUTED)]),
    ("ordering-comparison-is-computed", "SELECT email < 'm' AS lt FROM users",
     [("lt", "users.email", INEXACT, COMPUTED)]),
    ("case-still-carries-the-value",
     "SELECT CASE WHEN email IS NULL THEN '' ELSE email END AS e FROM users",
     [("e", "users.email", INEXACT, COMPUTED)]),
    ("max-keeps-the-value", "SELECT max(salary) FROM emp", [("max", "emp.salary", EXACT, PASS)]),
    ("qualified-min", "SELECT pg_catalog.min(salary) FROM emp",
     [("min", "emp.salary", EXACT, PASS)]),
    ("user-max-is-opaque", "SELECT app.max(salary) FROM emp",
     [("max", "emp.salary", INEXACT, COMPUTED)]),
    ("sum", "SELECT sum(salary) FROM emp", [("sum", "emp.salary", INEXACT, COMPUTED)]),
    ("concat-operator", "SELECT first || ' ' || last AS name FROM people",
     [("name", "people.first people.last", INEXACT, COMPUTED)]),
    ("constant", "SELECT 1 AS one, 'a'",
     [("one", "", EXACT, COMPUTED), ("?column?", "", EXACT, COMPUTED)]),
    ("param", "SELECT $1 AS p", [("p", "", EXACT, COMPUTED)]),
    ("star", "SELECT * FROM users", [("*", "users.*", INEXACT, PASS)]),
    ("qualified-star", "SELECT u.*, o.id FROM users u JOIN orders o ON true",
     [("*", "users.*", INEXACT, PASS), ("id", "orders.id", EXACT, PASS)]),
    ("star-over-join", "SELECT * FROM users u JOIN orders o ON true",
     [("*", "users.*", INEXACT, PASS), ("*", "orders.*", INEXACT, PASS)]),
    ("star-over-schema-table", "SELECT * FROM hr.emp", [("*", "hr.emp.*", INEXACT, PASS)]),
    ("correlated-scalar-subquery",
     "SELECT (SELECT max(o.total) FROM orders o WHERE o.uid = u.id) AS m FROM users u",
     [("m", "orders.total", INEXACT, PASS)]),
    ("scalar-subquery-outer-ref", "SELECT (SELECT u.email) FROM users u",
     [("email", "users.email", INEXACT, PASS)]),
    ("array-subquery", "SELECT ARRAY(SELECT tag FROM tags) AS t",
     [("t", "tags.tag", INEXACT, COMPUTED)]),
    ("exists", "SELECT EXISTS (SELECT 1 FROM t WHERE t.secret = 'x')",
     [("exists", "", INEXACT, COMPUTED)]),
    # `e` may be a column of users (correlated): without the catalog, both
    ("in-subquery-test", "SELECT email IN (SELECT e FROM blocked) FROM users",
     [("?column?", "users.email blocked.e users.e", INEXACT, COMPUTED)]),
    ("case", "SELECT CASE WHEN vip THEN email ELSE 'hidden' END FROM users",
     [("case", "users.vip users.email", INEXACT, COMPUTED)]),
    ("coalesce", "SELECT coalesce(phone, email) FROM users",
     [("coalesce", "users.phone users.email", INEXACT, COMPUTED)]),
    ("greatest", "SELECT greatest(a, b) FROM t", [("greatest", "t.a t.b", INEXACT, COMPUTED)]),
    ("whole-row", "SELECT u FROM users u", [("u", "users.* users.u", INEXACT, COMPUTED)]),
    ("row-to-json-of-row", "SELECT row_to_json(u) FROM users u",
     [("row_to_json", "users.* users.u", INEXACT, COMPUTED)]),
    ("recursive-cte",
     "WITH RECURSIVE r(id, boss) AS (SELECT id, boss FROM emp WHERE boss IS NULL UNION ALL "
     "SELECT e.id, e.boss FROM emp e JOIN r ON e.boss = r.id) SELECT id FROM r",
     [("id", "emp.id", INEXACT, PASS)]),
    ("values", "SELECT * FROM (VALUES (1, 'a')) v(n, s)",
     [("n", "", EXACT, COMPUTED), ("s", "", EXACT, COMPUTED)]),
    ("top-level-values", "VALUES (1), (2)", [("column1", "", EXACT, COMPUTED)]),
    ("lateral",
     "SELECT x.total FROM users u, LATERAL (SELECT total FROM orders o WHERE o.uid = u.id) x",
     [("total", "orders.total users.total", INEXACT, PASS)]),
    ("setting-reads-state", "SELECT current_setting('app.v') AS v",
     [("v", "", INEXACT, COMPUTED)]),
    ("lateral-qualified",
     "SELECT x.total FROM users u, LATERAL (SELECT o.total FROM orders o WHERE o.uid = u.id) x",
     [("total", "orders.total", EXACT, PASS)]),
    ("lateral-over-function",  # email is not a column of generate_series: it is the outer one
     "SELECT s.x FROM users, LATERAL (SELECT email || '' AS x FROM generate_series(1, 1)) s",
     [("x", "users.email", INEXACT, COMPUTED)]),
    ("correlated-unqualified", "SELECT (SELECT full_name FROM products LIMIT 1) FROM customers",
     [("full_name", "customers.full_name products.full_name", INEXACT, PASS)]),
    ("subscript", "SELECT tags[1] FROM posts", [("tags", "posts.tags", INEXACT, COMPUTED)]),
    ("json-operator", "SELECT data->>'email' AS e FROM events",
     [("e", "events.data", INEXACT, COMPUTED)]),
    ("window", "SELECT lag(salary) OVER (ORDER BY id) FROM emp",
     [("lag", "emp.salary", INEXACT, COMPUTED)]),
    ("table-column-aliases", "SELECT x FROM t AS tt(x)", [("x", "t.*", INEXACT, PASS)]),
    ("ambiguous-star-subquery", "SELECT x FROM (SELECT * FROM a JOIN b ON true) s",
     [("x", "a.x b.x", INEXACT, PASS)]),
    ("union-of-stars", "SELECT * FROM a UNION SELECT * FROM b", [("*", "a.* b.*", INEXACT, PASS)]),
    # `g` names both the FROM item and its column: it may be the whole row, so not exact.
    ("function-in-from", "SELECT g FROM generate_series(1, 3) g", [("g", "", INEXACT, COMPUTED)]),
    ("function-in-from-column-alias", "SELECT n FROM generate_series(1, 3) g(n)",
     [("n", "", EXACT, COMPUTED)]),
    ("unnest-lateral", "SELECT x FROM posts p, unnest(p.tags) AS x",
     [("x", "posts.tags posts.x", INEXACT, COMPUTED)]),
    ("returning", "DELETE FROM users WHERE id = 1 RETURNING email",
     [("email", "users.email", EXACT, PASS)]),
    ("returning-from", "UPDATE t SET a = 1 FROM u WHERE t.id = u.id RETURNING t.a, u.b",
     [("a", "t.a", EXACT, PASS), ("b", "u.b", EXACT, PASS)]),
    ("returning-star", "INSERT INTO t VALUES (1) RETURNING *", [("*", "t.*", INEXACT, PASS)]),
    ("returning-old-new", "UPDATE t SET a = 1 WHERE id = 1 RETURNING old.a, new.a AS n",
     [("a", "t.a", EXACT, PASS), ("n", "t.a", EXACT, PASS)]),
    ("merge-returning",
     "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE RETURNING t.a, s.b",
     [("a", "t.a", EXACT, PASS), ("b", "s.b", EXACT, PASS)]),
    ("data-modifying-cte", "WITH d AS (DELETE FROM users RETURNING email) SELECT email FROM d",
     [("email", "users.email", EXACT, PASS)]),
    ("copy-query", "COPY (SELECT email FROM users) TO STDOUT",
     [("email", "users.email", EXACT, PASS)]),
    ("copy-columns", "COPY users (id, email) TO STDOUT",
     [("id", "users.id", EXACT, PASS), ("email", "users.email", EXACT, PASS)]),
    ("copy-table", "COPY users TO STDOUT", [("*", "users.*", INEXACT, PASS)]),
    ("prepare", "PREPARE p AS SELECT email FROM users WHERE id = $1",
     [("email", "users.email", EXACT, PASS)]),
    ("declare", "DECLARE c CURSOR FOR SELECT ssn FROM p", [("ssn", "p.ssn", EXACT, PASS)]),
    ("select-into-has-no-result", "SELECT email INTO x FROM users", []),
    ("explain-has-no-data", "EXPLAIN SELECT email FROM users", []),
    ("insert-without-returning", "INSERT INTO t SELECT * FROM u", []),
    ("copy-from", "COPY users FROM STDIN", []),
]
# fmt: on


@pytest.mark.parametrize(
    ("sql", "expected"), [(s, e) for _, s, e in CASES], ids=[i for i, _, _ in CASES]
)
def test_lineage(sql: str, expected: list[Col]) -> None:
    analysis = analyze(sql)
    assert not analysis.unparsable, analysis.error
    (facts,) = analysis.statements
    assert facts.columns == tuple(
        OutputColumn(name=name, sources=_src(sources), exact=exact, passthrough=passthrough)
        for name, sources, exact, passthrough in expected
    )


def test_shadowed_builtins_are_opaque() -> None:
    path = ("app", "pg_catalog")
    (facts,) = analyze("SELECT max(salary), count(*) FROM emp", search_path=path).statements
    assert [(c.exact, c.passthrough) for c in facts.columns] == [(False, False), (False, False)]


def test_lineage_ids_unique() -> None:
    assert len({i for i, _, _ in CASES}) == len(CASES)
