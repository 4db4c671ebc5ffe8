"""Every entity type in free text, and every operator on a column, end to end through the gateway.

Free text is masked by entity directives (the detectors), whatever client, format or container
carries it; each operator's output keeps the shape it promises.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import asyncpg
import psycopg
import pytest
import yaml

from conftest import Upstream, gateway_config
from harness import USERS, RunningGateway, running_gateway

#: (sentence stored in the database, the raw value that must not come out)
SAMPLES = [
    ("write to jane.doe@example.com", "jane.doe@example.com"),
    ("Call +44 20 7946 0958 today", "+44 20 7946 0958"),
    ("paid 5555-5555-5555-4444 ok", "5555-5555-5555-4444"),
    ("pay IBAN FR1420041010050500013M02606 EUR", "FR1420041010050500013M02606"),
    ("SSN: 536-22-8726", "536-22-8726"),
    ("NI number JG103759A", "JG103759A"),
    ("DNI 12345678Z", "12345678Z"),
    ("from 192.168.0.1 blocked", "192.168.0.1"),
    ("via 2001:db8::8a2e:370:7334", "2001:db8::8a2e:370:7334"),
    ("nic 00:1A:2B:3C:4D:5E", "00:1A:2B:3C:4D:5E"),
    ("DOB: 1985-03-12", "1985-03-12"),
    ("lives at 1600 Pennsylvania Avenue NW", "1600 Pennsylvania Avenue"),
    ("MRN: 00482913", "00482913"),
    ("Meeting with John Smith tomorrow", "John Smith"),
    ("key AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("token ghp_1234567890abcdefghijABCDEFGHIJ123456", "ghp_1234567890abcdefghijABCDEFGHIJ123456"),
    ("use glpat-xYz12AbCdEfGh34IjKlM", "glpat-xYz12AbCdEfGh34IjKlM"),
    ("stripe sk_live_51HcXyZaBcDeFgHiJkLmNoPq", "sk_live_51HcXyZaBcDeFgHiJkLmNoPq"),
    (
        "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
    ),
    ("badge EMP-123456 issued", "EMP-123456"),  # the policy's custom entity
]
FAMILIES = [
    "person", "email", "phone", "card_number", "iban", "national_id", "network",
    "date_of_birth", "address", "medical_record", "secret", "custom",
]  # fmt: skip
POLICY = {
    "entities": [{"name": "employee_id", "pattern": "EMP-[0-9]{6}"}],
    "classify": [{"columns": ["*.entity_samples.label"], "entity": None}],
    "rules": [
        {
            "id": "scan-everything",
            "match": {"groups": ["analysts"], "statement_kinds": ["read", "utility", "export"]},
            "effect": "allow",
            "mask": [
                {"entities": FAMILIES, "operator": "tokenize"},
                {"columns": ["*.operator_samples.tok"], "operator": "tokenize"},
                {"columns": ["*.operator_samples.part"], "operator": "partial"},
                {"columns": ["*.operator_samples.red"], "operator": "redact"},
                {"columns": ["*.operator_samples.nul"], "operator": "null"},
                {"columns": ["*.operator_samples.fpe"], "operator": "fpe"},
            ],
        }
    ],
}
CARD = "4111111111111111"


@pytest.fixture(scope="module")
def gw(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    directory = tmp_path_factory.mktemp("entity-policy")
    (directory / "rules.yaml").write_text(yaml.safe_dump(POLICY))
    with psycopg.connect(upstream.admin_dsn(), autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS shop.entity_samples, shop.operator_samples")
        admin.execute("CREATE TABLE shop.entity_samples (id int, label text, body text)")
        with admin.cursor() as cur:
            cur.executemany(
                "INSERT INTO shop.entity_samples VALUES (%s, %s, %s)",
                [(i, f"sample {i}", body) for i, (body, _) in enumerate(SAMPLES)],
            )
        admin.execute(
            "CREATE TABLE shop.operator_samples (tok text, part text, red text, nul text, fpe text)"
        )
        admin.execute(
            "INSERT INTO shop.operator_samples VALUES (%s, %s, %s, %s, %s)",
            ("ann@example.org", CARD, "top secret", "gone", "4155552671"),
        )
        admin.execute("GRANT SELECT ON shop.entity_samples, shop.operator_samples TO wardgate_svc")
    os.environ["WARDGATE_TEST_MASK_KEY"] = "m" * 40
    raw: dict[str, Any] = gateway_config(
        upstream,
        policy_dir=str(directory),
        masking={"keys": {"k": "env:WARDGATE_TEST_MASK_KEY"}, "current": "k"},
    )
    raw["identities"] = [{**i, "groups": ["analysts"]} for i in raw["identities"]]
    with running_gateway(raw) as running:
        yield running


def leaked(received: object) -> list[str]:
    text = received if isinstance(received, str) else repr(received)
    return [raw for _, raw in SAMPLES if raw in text or raw.replace("\\", "") in text]


QUERIES = [
    "SELECT body FROM shop.entity_samples",
    "SELECT upper(body) AS b, label FROM shop.entity_samples",
    "SELECT jsonb_build_object('b', body, 'n', id) FROM shop.entity_samples",
    "SELECT array_agg(body) FROM shop.entity_samples",
    "SELECT row(id, body) FROM shop.entity_samples",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_every_entity_is_masked_with_psycopg(gw: RunningGateway, sql: str) -> None:
    with psycopg.connect(gw.dsn(), autocommit=True) as c:
        rows = c.execute(sql).fetchall()
    assert rows
    assert leaked(rows) == []


@pytest.mark.parametrize("sql", QUERIES)
def test_every_entity_is_masked_in_binary_with_asyncpg(gw: RunningGateway, sql: str) -> None:
    async def fetch() -> list[Any]:
        c = await asyncpg.connect(
            host="127.0.0.1", port=gw.port, user="tester", password=USERS["tester"],
            database="shop", ssl=False,
        )  # fmt: skip
        try:
            return [tuple(r) for r in await c.fetch(sql)]
        finally:
            await c.close()

    rows = asyncio.run(fetch())
    assert rows
    assert leaked(rows) == []


def test_every_entity_is_masked_with_psql(gw: RunningGateway) -> None:
    env = {**os.environ, "PGPASSWORD": USERS["tester"]}
    dsn = f"host=127.0.0.1 port={gw.port} dbname=shop user=tester sslmode=disable"
    out = subprocess.run(
        ["psql", dsn, "-X", "-A", "-v", "ON_ERROR_STOP=1",
         "-c", "SELECT body FROM shop.entity_samples",
         "-c", r"\copy shop.entity_samples TO STDOUT WITH (FORMAT csv)"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert out.count("\n") >= 2 * len(SAMPLES)
    assert leaked(out) == []


def test_pinned_label_column_is_left_alone(gw: RunningGateway) -> None:
    with psycopg.connect(gw.dsn(), autocommit=True) as c:
        labels = [r[0] for r in c.execute("SELECT label FROM shop.entity_samples ORDER BY id")]
    assert labels == [f"sample {i}" for i in range(len(SAMPLES))]


def test_each_operator_keeps_its_promise(gw: RunningGateway) -> None:
    with psycopg.connect(gw.dsn(), autocommit=True) as c:
        row = c.execute("SELECT tok, part, red, nul, fpe FROM shop.operator_samples").fetchone()
        again = c.execute("SELECT tok, fpe FROM shop.operator_samples").fetchone()
    assert row is not None and again is not None
    tok, part, red, nul, fpe = row
    assert tok != "ann@example.org" and re.fullmatch(r"[^@\s]+@example\.org", tok)
    assert part.endswith(CARD[-4:]) and part != CARD and len(part) == len(CARD)
    assert red == "[REDACTED]"
    assert nul is None
    assert fpe != "4155552671" and len(fpe) == 10 and fpe.isdigit()
    assert (tok, fpe) == again  # deterministic
