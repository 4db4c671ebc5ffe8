"""No raw sensitive value reaches the audit store, however a masked session handles one.

The raw values are read directly from PostgreSQL (the demo shop's customers: names, emails,
phones, card numbers, IBANs, national ids). A masked session then reads them (masked, and
captured; a DBA's unmasked read is not captured at all), filters on them with literals of every
syntax, bind parameters, comments, prepared statements, COPY, statements PostgreSQL rejects, and
errors that quote them. Afterwards the whole store is searched byte by byte: the SQLite file with
its WAL, or a text dump of every audit table on PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from audit_support import BACKENDS, store_url_for
from conftest import Upstream, gateway_config
from harness import running_gateway

POLICY = {
    "rules": [
        {
            "id": "analysts-read-masked",
            "match": {
                "groups": ["analysts"],
                "statement_kinds": ["read", "transaction", "utility", "session", "export"],
            },
            "effect": "allow",
            "mask": [
                {
                    "columns": ["shop.customers.email", "shop.customers.phone"],
                    "operator": "tokenize",
                },
                {"columns": ["shop.customers.full_name"], "operator": "tokenize"},
                {"columns": ["shop.customers.card_number"], "operator": "partial"},
                {
                    "columns": ["shop.customers.national_id", "shop.customers.iban"],
                    "operator": "redact",
                },
                {
                    "entities": ["email", "phone", "card_number", "iban", "person"],
                    "operator": "tokenize",
                },
            ],
        },
        {
            "id": "dbas-read",
            "match": {"groups": ["dbas"], "statement_kinds": ["read"]},
            "effect": "allow",
        },
    ]
}
COLUMNS = ("full_name", "email", "phone", "card_number", "iban", "national_id")
MASK_KEY_ENV = "WARDGATE_TEST_PRIVACY_MASK_KEY"


@pytest.fixture(scope="module")
def customers(upstream: Upstream) -> list[dict[str, str]]:
    with psycopg.connect(upstream.admin_dsn()) as c:
        rows = c.execute(f"SELECT {', '.join(COLUMNS)} FROM shop.customers ORDER BY id").fetchall()
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def raw_values(customers: list[dict[str, str]]) -> set[str]:
    values = {v for c in customers for v in c.values() if v}
    assert len(values) > 250
    return values


def masked_session(dsn: str, customers: list[dict[str, str]]) -> None:
    """Everything an analyst might do with the raw values in hand."""
    with psycopg.connect(dsn, autocommit=True) as c:
        everything = c.execute(f"SELECT id, {', '.join(COLUMNS)}, notes FROM shop.customers")
        assert len(everything.fetchall()) == len(customers)
        for who in customers[:12]:
            for column, value in who.items():
                quoted = value.replace("'", "''")
                c.execute(f"SELECT id FROM shop.customers WHERE {column} = '{quoted}'").fetchall()
                c.execute(f"SELECT id FROM shop.customers WHERE {column} = %s", (value,)).fetchall()
                c.execute(
                    f"SELECT id, {column} FROM shop.customers WHERE {column} IN (%s, '{quoted}') "
                    f"OR {column} LIKE E'{quoted[:6]}%%'",
                    (value,),
                ).fetchall()
            name, email, phone = who["full_name"], who["email"], who["phone"]
            c.execute(f"SELECT id FROM shop.customers WHERE full_name = $${name}$$").fetchall()
            c.execute(f"SELECT 1 -- looking for {email}\n").fetchall()
            c.execute(f"SELECT /* {phone} */ 2").fetchall()
            c.execute(f"SELECT count(*) FROM shop.customers WHERE email = $tag${email}$tag$")
            with pytest.raises(psycopg.errors.InvalidTextRepresentation):
                c.execute(f"SELECT '{email}'::int")  # the error quotes the value
            with pytest.raises(psycopg.errors.InsufficientPrivilege):  # unparsable: denied
                c.execute(f"SELEC id FROM shop.customers WHERE email = '{email}'")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):  # a bare, unquoted name
                c.execute(f"SELECT id FROM shop.customers WHERE name = {name} AND phone = {phone}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the lexer rejects it
                c.execute(f"SELECT id FROM shop.customers WHERE email = '{email}")
            c.execute(
                f"SELECT id FROM shop.customers WHERE card_number = '{who['card_number']}'; "
                f"SELECT id FROM shop.customers WHERE iban = '{who['iban']}'"
            )
        first = customers[0]
        c.execute(
            "PREPARE by_name AS SELECT id, email FROM shop.customers WHERE full_name = "
            f"'{first['full_name']}' OR national_id = $1"
        )
        c.execute(f"EXECUTE by_name('{first['national_id']}')").fetchall()
        c.execute("DEALLOCATE by_name")
        with c.cursor().copy(
            f"COPY (SELECT id, email FROM shop.customers WHERE iban = '{first['iban']}') TO STDOUT"
        ) as copy:
            for _ in copy:
                pass
        c.execute(f"SET application_name = '{first['full_name']}'")
        with c.pipeline():
            for who in customers[12:20]:
                c.execute("SELECT id FROM shop.customers WHERE email = %s", (who["email"],))


def dump_store(backend: str, url: str, upstream: Upstream) -> bytes:
    """Every byte the store holds."""
    if backend == "sqlite":
        files = [Path(url), Path(url + "-wal"), Path(url + "-shm")]
        data = b"".join(p.read_bytes() for p in files if p.exists())
        assert len(data) > 100_000
        return data
    name = url.rsplit("/", 1)[1]
    out = bytearray()
    with psycopg.connect(upstream.admin_dsn(name)) as c:
        tables = [
            r[0]
            for r in c.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        assert "audit_events" in tables
        for table in tables:
            with c.cursor().copy(f"COPY {table} TO STDOUT") as copy:
                for chunk in copy:
                    out += chunk
    assert len(out) > 100_000
    return bytes(out)


@pytest.fixture(scope="module")
def mask_key() -> Iterator[None]:
    os.environ[MASK_KEY_ENV] = "p" * 48
    yield


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_raw_value_is_stored(
    backend: str,
    upstream: Upstream,
    customers: list[dict[str, str]],
    mask_key: None,
    tmp_path: Path,
    request: Any,
) -> None:
    url = store_url_for(backend, tmp_path, request)
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "rules.yaml").write_text(yaml.safe_dump(POLICY))
    raw: dict[str, Any] = gateway_config(
        upstream,
        policy_dir=str(tmp_path / "policy"),
        masking={"keys": {"k1": f"env:{MASK_KEY_ENV}"}, "current": "k1"},
        audit={"store": url, "capture_results": True, "sqlite_synchronous": "normal"},
    )
    raw["identities"] = [
        {**i, "groups": ["analysts"] if i["name"] == "tester" else ["dbas"]}
        for i in raw["identities"]
    ]
    with running_gateway(raw) as gw:
        masked_session(gw.dsn(application_name="privacy"), customers)
        with psycopg.connect(gw.dsn(user="other"), autocommit=True) as dba:
            rows = dba.execute(f"SELECT {', '.join(COLUMNS)} FROM shop.customers").fetchall()
            assert {v for row in rows for v in row} == raw_values(customers)  # really raw
    data = dump_store(backend, url, upstream)
    assert b"statement.result" in data and b"mac:" in data  # captured rows, tokens
    leaked = sorted(v for v in raw_values(customers) if v.encode() in data)
    assert not leaked, f"{len(leaked)} raw values in the {backend} store, e.g. {leaked[:3]}"
