"""One real PostgreSQL per test run, and a gateway in front of it.

Set ``WARDGATE_TEST_PG`` to a superuser libpq URI (postgresql://user:pw@host:port) to use an
external server instead of the embedded one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest
import yaml

from harness import RunningGateway, identities, running_gateway
from wardgate.demo.run import prepare_database
from wardgate.devdb import EmbeddedPostgres
from wardgate.pgwire._scram import make_verifier

UPSTREAM_PASSWORD_ENV = "WARDGATE_TEST_UPSTREAM_PASSWORD"


@dataclass
class Upstream:
    host: str
    port: int
    superuser: str
    password: str
    pg: EmbeddedPostgres | None

    def dsn(self, database: str = "shop", user: str = "wardgate_svc", password: str = "") -> str:
        pw = password or os.environ[UPSTREAM_PASSWORD_ENV]
        return f"host={self.host} port={self.port} dbname={database} user={user} password={pw}"

    def admin_dsn(self, database: str = "shop") -> str:
        return (
            f"host={self.host} port={self.port} dbname={database} "
            f"user={self.superuser} password={self.password}"
        )

    def connection(self, name: str = "shop", **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "host": self.host,
            "port": self.port,
            "database": "shop",
            "user": "wardgate_svc",
            "password": f"env:{UPSTREAM_PASSWORD_ENV}",
            "sslmode": "disable",
            "connect_timeout": 5,
            **extra,
        }


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    os.environ[UPSTREAM_PASSWORD_ENV] = secrets.token_urlsafe(16)
    external = os.environ.get("WARDGATE_TEST_PG")
    if external:
        url = urlparse(external)
        up = Upstream(
            url.hostname or "127.0.0.1",
            url.port or 5432,
            url.username or "postgres",
            url.password or "",
            None,
        )

        def run_sql(sql: str, database: str = "postgres") -> None:
            with psycopg.connect(up.admin_dsn(database), autocommit=True) as conn:
                conn.execute(sql.encode())

        run_sql("DROP DATABASE IF EXISTS shop WITH (FORCE)")
        run_sql("DROP ROLE IF EXISTS wardgate_svc")
        prepare_database(run_sql, os.environ[UPSTREAM_PASSWORD_ENV], customers=50)
        yield up
        return
    pg = EmbeddedPostgres(settings={"max_connections": "300", "fsync": "off"})
    inst = pg.start()
    prepare_database(pg.run_sql, os.environ[UPSTREAM_PASSWORD_ENV], customers=50)
    try:
        yield Upstream(inst.host, inst.port, inst.superuser, inst.password, pg)
    finally:
        pg.stop()


def gateway_config(upstream: Upstream, **extra: Any) -> dict[str, Any]:
    return {
        "listen": {"host": "127.0.0.1", "port": 0},
        "connections": [upstream.connection()],
        "identities": identities(),
        **extra,
    }


def capped_gateway(
    upstream: Upstream, directory: Path, policy: dict[str, Any]
) -> AbstractContextManager[RunningGateway]:
    """A gateway under ``policy`` with one identity, ``capped`` (group ``capped``, password
    ``capped-pw``): the guardrail tests' shape."""
    (directory / "rules.yaml").write_text(yaml.safe_dump(policy))
    raw: dict[str, Any] = gateway_config(upstream, policy_dir=str(directory))
    raw["identities"] = [
        {
            "name": "capped",
            "groups": ["capped"],
            "scram_verifier": make_verifier("capped-pw").to_text(),
        }
    ]
    return running_gateway(raw)


@pytest.fixture(scope="session")
def gateway(upstream: Upstream) -> Iterator[RunningGateway]:
    with running_gateway(gateway_config(upstream)) as gw:
        yield gw


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (the console tests): see console_support."""
    from console_support import launch_browser  # playwright only for the tests that use it

    yield from launch_browser()
