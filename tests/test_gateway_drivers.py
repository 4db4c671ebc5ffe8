"""asyncpg, psql and SQLAlchemy through the gateway, each compared with a direct connection."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa

from conftest import UPSTREAM_PASSWORD_ENV, Upstream
from harness import USERS, RunningGateway


async def _gw(gateway: RunningGateway) -> asyncpg.Connection:
    return await asyncpg.connect(
        host="127.0.0.1",
        port=gateway.port,
        user="tester",
        password=USERS["tester"],
        database="shop",
        ssl=False,
    )


async def test_asyncpg_binary_prepared_transactions(gateway: RunningGateway) -> None:
    conn = await _gw(gateway)
    try:
        stmt = await conn.prepare(
            "SELECT id, email, date_of_birth FROM shop.customers WHERE id = $1"
        )
        for i in (1, 2, 3):
            row = await stmt.fetchrow(i)
            assert row is not None and row["id"] == i
        rows = await conn.fetch(
            "SELECT $1::numeric(10,2), $2::jsonb, $3::int[]", 1.5, '{"a":1}', [1, 2]
        )
        assert tuple(rows[0]) == (pytest.approx(1.5), '{"a": 1}', [1, 2])
        await conn.execute("CREATE TEMP TABLE atx(x int)")
        with pytest.raises(asyncpg.UniqueViolationError):
            async with conn.transaction():
                await conn.execute("INSERT INTO atx VALUES (1)")
                await conn.execute(
                    "CREATE TEMP TABLE au(x int primary key); INSERT INTO au VALUES (1), (1)"
                )
        assert await conn.fetchval("SELECT count(*) FROM atx") == 0
        async with conn.transaction():
            await conn.executemany("INSERT INTO atx VALUES ($1)", [(i,) for i in range(100)])
        assert await conn.fetchval("SELECT sum(x) FROM atx") == sum(range(100))
    finally:
        await conn.close()


async def test_asyncpg_copy(gateway: RunningGateway) -> None:
    conn = await _gw(gateway)
    try:
        await conn.execute("CREATE TEMP TABLE acp(id int, name text)")
        records = [(i, f"n{i}") for i in range(3000)]
        await conn.copy_records_to_table("acp", records=records)
        got = await conn.fetch("SELECT id, name FROM acp ORDER BY id")
        assert [tuple(r) for r in got] == records
        out = Path(os.environ.get("TMPDIR", "/tmp")) / f"acp-{os.getpid()}.csv"
        await conn.copy_from_query(
            "SELECT id, name FROM acp WHERE id < 3", output=str(out), format="csv"
        )
        assert out.read_text() == "0,n0\n1,n1\n2,n2\n"
        out.unlink()
    finally:
        await conn.close()


async def test_asyncpg_timeout_cancels_and_session_survives(gateway: RunningGateway) -> None:
    conn = await _gw(gateway)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(asyncio.TimeoutError):
            await conn.fetch("SELECT pg_sleep(20)", timeout=0.5)
        assert loop.time() - started < 5  # the cancel reached upstream via the gateway
        assert await conn.fetchval("SELECT 'alive'") == "alive"
    finally:
        await conn.close()


async def test_asyncpg_listen_notify(gateway: RunningGateway) -> None:
    listener, sender = await _gw(gateway), await _gw(gateway)
    got: asyncio.Queue[str] = asyncio.Queue()
    try:
        await listener.add_listener("achan", lambda *args: got.put_nowait(args[3]))
        await sender.execute("NOTIFY achan, 'from-sender'")
        assert await asyncio.wait_for(got.get(), 5) == "from-sender"
    finally:
        await listener.close()
        await sender.close()


def _psql(upstream: Upstream, script: str, conninfo: str, password: str, cwd: Path) -> str:
    assert upstream.pg is not None
    result = subprocess.run(
        [str(upstream.pg.bin_dir / "psql"), conninfo, "-X", "-v", "ON_ERROR_STOP=1", "-f", "-"],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_psql_script_with_copy_same_output_as_direct(
    gateway: RunningGateway, upstream: Upstream, tmp_path: Path
) -> None:
    if upstream.pg is None:
        pytest.skip("needs the embedded server's psql")
    (tmp_path / "in.csv").write_text("1,alpha\n2,beta\n")
    script = r"""
\pset footer on
SELECT id, full_name, email FROM shop.customers ORDER BY id LIMIT 5;
CREATE TEMP TABLE ps(id int, name text);
\copy ps FROM 'in.csv' WITH (FORMAT csv)
\copy (SELECT * FROM ps ORDER BY id) TO 'out.csv' WITH (FORMAT csv)
SELECT count(*), string_agg(name, ',' ORDER BY id) FROM ps;
\d shop.orders
BEGIN; SELECT 1 AS one \gset
\echo one is :one
ROLLBACK;
"""
    via = _psql(
        upstream,
        script,
        f"host=127.0.0.1 port={gateway.port} dbname=shop user=tester sslmode=disable",
        USERS["tester"],
        tmp_path,
    )
    out_via = (tmp_path / "out.csv").read_text()
    direct = _psql(
        upstream,
        script,
        f"host={upstream.host} port={upstream.port} dbname=shop user=wardgate_svc",
        os.environ[UPSTREAM_PASSWORD_ENV],
        tmp_path,
    )
    assert via == direct
    assert out_via == (tmp_path / "out.csv").read_text() == "1,alpha\n2,beta\n"
    assert "alpha,beta" in via


def test_sqlalchemy_core_and_reflection(gateway: RunningGateway) -> None:
    engine = sa.create_engine(
        f"postgresql+psycopg://tester:{USERS['tester']}@127.0.0.1:{gateway.port}/shop?sslmode=disable"
    )
    try:
        meta = sa.MetaData()
        customers = sa.Table("customers", meta, schema="shop", autoload_with=engine)
        assert {"id", "email", "card_number"} <= set(customers.c.keys())
        with engine.connect() as c:
            stmt = sa.select(sa.func.count()).select_from(customers).where(customers.c.id <= 10)
            assert c.execute(stmt).scalar_one() == 10
        with engine.begin() as c:
            c.execute(sa.text("CREATE TEMP TABLE sa_t(x int)"))
            c.execute(sa.text("INSERT INTO sa_t VALUES (:x)"), [{"x": i} for i in range(10)])
            assert c.execute(sa.text("SELECT sum(x) FROM sa_t")).scalar_one() == 45
    finally:
        engine.dispose()
