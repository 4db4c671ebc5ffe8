"""The row cap of a policy holds for masked results as for any other (masking rewrites each row
on the way; the rewritten rows are still counted)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from conftest import Upstream, capped_gateway
from harness import RunningGateway

POLICY = {
    "rules": [
        {
            "id": "capped-masked-read",
            "match": {"groups": ["capped"], "statement_kinds": ["read", "transaction", "utility"]},
            "effect": "allow",
            "mask": [{"columns": ["email"], "operator": "tokenize"}],
            "guardrails": {"row_limit": 5},
        }
    ]
}


@pytest.fixture(scope="module")
def capped(
    upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    with capped_gateway(upstream, tmp_path_factory.mktemp("masked-guardrails"), POLICY) as gw:
        yield gw


@pytest.fixture
def conn(capped: RunningGateway) -> Iterator[psycopg.Connection]:
    with psycopg.connect(capped.dsn(user="capped", password="capped-pw"), autocommit=True) as c:
        yield c


@pytest.mark.parametrize("prepare", [False, True], ids=["simple", "extended"])
def test_row_cap_holds_for_masked_rows(conn: psycopg.Connection, prepare: bool) -> None:
    emails = {r[0] for r in conn.execute("SELECT email FROM shop.customers LIMIT 5").fetchall()}
    assert emails  # masked, within the cap
    with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="at most 5 rows"):
        conn.execute(
            "SELECT a.email FROM shop.customers a, shop.customers b, shop.customers c,"
            " shop.customers d",
            prepare=prepare,
        )
    assert conn.execute("SELECT 'next'").fetchone() == ("next",)
