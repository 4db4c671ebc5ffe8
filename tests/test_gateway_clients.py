"""Unmodified clients through the gateway behave exactly as they do against PostgreSQL directly.

Every test here talks to a real PostgreSQL, through the real gateway, with a real client library.
"""

from __future__ import annotations

import io
import threading

import psycopg
import pytest
from psycopg import sql

from conftest import Upstream
from harness import RunningGateway


@pytest.fixture
def conn(gateway: RunningGateway) -> psycopg.Connection:
    with psycopg.connect(gateway.dsn(), autocommit=True) as c:
        yield c


@pytest.fixture
def direct(upstream: Upstream) -> psycopg.Connection:
    with psycopg.connect(upstream.dsn(), autocommit=True) as c:
        yield c


QUERIES = [
    "SELECT id, full_name, email, phone, date_of_birth, card_number, notes, created_at "
    "FROM shop.customers ORDER BY id",
    "SELECT o.id, o.total, o.status, o.placed_at, c.email FROM shop.orders o "
    "JOIN shop.customers c ON c.id = o.customer_id ORDER BY o.id",
    "SELECT ARRAY[1,2,NULL]::int[], '{\"a\": [1, \"x\"]}'::jsonb, ROW(1, 'a')::record::text, "
    "numeric '1e-40', interval '1 day 2 hours', 'NaN'::float8, ''::text, NULL::bytea, "
    "'\\x00ff'::bytea, 'é中'::text",
]


def _raw(c: psycopg.Connection, query: str, binary: bool) -> list[list[bytes | None]]:
    res = c.pgconn.exec_params(query.encode(), [], result_format=1 if binary else 0)
    assert res.status == psycopg.pq.ExecStatus.TUPLES_OK, res.error_message
    return [[res.get_value(r, f) for f in range(res.nfields)] for r in range(res.ntuples)]


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("query", QUERIES, ids=["customers", "join", "types"])
def test_results_equal_direct_byte_for_byte(
    conn: psycopg.Connection, direct: psycopg.Connection, query: str, binary: bool
) -> None:
    through = _raw(conn, query, binary)
    assert through == _raw(direct, query, binary)
    assert through  # the comparison is over real rows


def test_simple_query_with_several_statements(conn: psycopg.Connection) -> None:
    results = conn.pgconn.exec_(b"SELECT 1; SELECT 'two'; CREATE TEMP TABLE t(x int); SELECT 3")
    # libpq keeps the last result of a multi-statement simple query
    assert results.get_value(0, 0) == b"3"
    cur = psycopg.ClientCursor(conn)
    cur.execute("SELECT 1 AS a; SELECT 2 AS b, 3 AS c")
    assert cur.fetchall() == [(1,)]
    assert cur.nextset() and cur.fetchall() == [(2, 3)]


def test_empty_query_and_errors_keep_the_session(conn: psycopg.Connection) -> None:
    assert conn.pgconn.exec_(b"").status == psycopg.pq.ExecStatus.EMPTY_QUERY
    with pytest.raises(psycopg.errors.DivisionByZero):
        conn.execute("SELECT 1/0")
    with pytest.raises(psycopg.errors.SyntaxError):
        conn.execute("SELEC 1")
    assert conn.execute("SELECT 42").fetchone() == (42,)


def test_extended_protocol_params_and_prepared_statements(conn: psycopg.Connection) -> None:
    for i in range(1, 8):  # psycopg prepares server-side after a few executions
        row = conn.execute(
            "SELECT id, email FROM shop.customers WHERE id = %s", (i,), prepare=True
        ).fetchone()
        assert row is not None and row[0] == i
    names = conn.execute("SELECT name FROM pg_prepared_statements").fetchall()
    assert names, "the statement was prepared on the server, through the gateway"
    cur = conn.cursor(binary=True)
    cur.execute("SELECT %s::int8, %s::text, %s::bytea", (2**40, "x", b"\x00\x01"))
    assert cur.fetchone() == (2**40, "x", b"\x00\x01")


def test_named_portals_fetch_in_batches(conn: psycopg.Connection) -> None:
    with conn.transaction(), conn.cursor(name="portal_a") as cur:
        cur.itersize = 7
        cur.execute("SELECT g FROM generate_series(1, 50) g")
        assert [r[0] for r in cur] == list(range(1, 51))


def test_pipeline_mode(conn: psycopg.Connection) -> None:
    with conn.pipeline():
        curs = [conn.execute("SELECT %s::int * 2", (i,)) for i in range(20)]
        bad = conn.cursor()
    assert [c.fetchone() for c in curs] == [(i * 2,) for i in range(20)]
    with pytest.raises(psycopg.errors.DivisionByZero), conn.pipeline():
        bad.execute("SELECT 1/0")
        conn.execute("SELECT 1")
    assert conn.execute("SELECT 'after'").fetchone() == ("after",)


def test_transactions_commit_and_rollback(gateway: RunningGateway) -> None:
    with psycopg.connect(gateway.dsn()) as c:
        c.execute("CREATE TEMP TABLE tx(x int)")
        c.execute("INSERT INTO tx VALUES (1)")
        c.commit()
        c.execute("INSERT INTO tx VALUES (2)")
        c.rollback()
        with pytest.raises(psycopg.errors.UniqueViolation), c.transaction():
            c.execute("CREATE TEMP TABLE u(x int primary key)")
            c.execute("INSERT INTO u VALUES (1), (1)")
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert c.execute("SELECT array_agg(x) FROM tx").fetchone() == ([1],)


def test_copy_in_and_out(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TEMP TABLE cp(id int, name text, blob bytea)")
    rows = [(i, f"name {i}\t\\ quoted", bytes([i % 256]) * 3) for i in range(5000)]
    with conn.cursor().copy("COPY cp FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    with conn.cursor(binary=True).copy("COPY cp TO STDOUT (FORMAT binary)") as copy:
        copy.set_types(["int4", "text", "bytea"])
        assert list(copy.rows()) == rows
    out = io.BytesIO()
    with conn.cursor().copy("COPY (SELECT id FROM cp WHERE id < 3) TO STDOUT") as copy:
        for chunk in copy:
            out.write(chunk)
    assert out.getvalue() == b"0\n1\n2\n"


def test_copy_fail_aborts_cleanly(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TEMP TABLE cf(id int)")
    with (
        pytest.raises(psycopg.errors.QueryCanceled),
        conn.cursor().copy("COPY cf FROM STDIN") as copy,
    ):
        copy.write_row((1,))
        raise psycopg.errors.QueryCanceled("client gave up")  # psycopg sends CopyFail
    assert conn.execute("SELECT count(*) FROM cf").fetchone() == (0,)


def test_notices_and_parameter_status(conn: psycopg.Connection) -> None:
    seen: list[str] = []
    conn.add_notice_handler(lambda d: seen.append(d.message_primary or ""))
    conn.execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$")
    assert seen == ["hello 42"]
    conn.execute("SET application_name = 'wg-test'")
    assert conn.info.parameter_status("application_name") == "wg-test"
    assert conn.info.parameter_status("server_version")


def test_listen_notify(gateway: RunningGateway, conn: psycopg.Connection) -> None:
    conn.execute("LISTEN wg_chan")
    with psycopg.connect(gateway.dsn(user="other"), autocommit=True) as sender:
        sender.execute("SELECT pg_notify('wg_chan', 'payload-1')")
    note = next(conn.notifies(timeout=5, stop_after=1))
    assert (note.channel, note.payload) == ("wg_chan", "payload-1")


def test_very_large_row_and_long_result(conn: psycopg.Connection) -> None:
    big = conn.execute("SELECT repeat('x', 20 * 1024 * 1024)").fetchone()
    assert big is not None and len(big[0]) == 20 * 1024 * 1024
    total = 0
    cur = conn.cursor()
    for (n,) in cur.stream("SELECT g FROM generate_series(1, 300000) g"):
        total += n
    assert total == 300000 * 300001 // 2


def test_many_concurrent_sessions(gateway: RunningGateway) -> None:
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with psycopg.connect(gateway.dsn(), autocommit=True) as c:
                for j in range(30):
                    assert c.execute("SELECT %s::int + %s", (i, j)).fetchone() == (i + j,)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def test_users_never_see_upstream_credentials(conn: psycopg.Connection) -> None:
    """The session runs as the gateway's service role; the client authenticated as `tester`."""
    assert conn.info.user == "tester"
    assert conn.execute("SELECT current_user").fetchone() == ("wardgate_svc",)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT passwd FROM pg_shadow")


def test_identifiers_and_literals_pass_untouched(conn: psycopg.Connection) -> None:
    conn.execute(
        sql.SQL('CREATE TEMP TABLE {} ("Weird col" text)').format(sql.Identifier("Mixed Case"))
    )
    conn.execute('INSERT INTO "Mixed Case" VALUES (%s)', ("it's a \\ $$ test",))
    assert conn.execute('SELECT "Weird col" FROM "Mixed Case"').fetchone() == ("it's a \\ $$ test",)
