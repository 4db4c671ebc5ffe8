"""Service identities: API keys shown once and stored as hashes, rotation with overlap,
revocation, sign-in through the gateway, and the person an agent acts for."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from typer.testing import CliRunner

from conftest import Upstream
from harness import RunningGateway, running_gateway
from identity_support import identity_config
from wardgate.cli.main import app
from wardgate.identity.service import FederatedIdentity, on_behalf_of
from wardgate.identity.store import IdentityStore, StoreError


def test_keys_are_stored_as_hashes_only(tmp_path: Path) -> None:
    store = IdentityStore(tmp_path / "ids.db")
    ident, key = store.create("report-bot", kind="agent", owner="team-data", groups=("readers",))
    assert key.startswith("wga_") and len(key) == 4 + 12 + 1 + 64
    assert ident.groups == ("readers",) and len(ident.keys) == 1
    dump = "\n".join(sqlite3.connect(tmp_path / "ids.db").iterdump())
    assert key not in dump and key.split("_")[2] not in dump  # neither key nor its secret part
    assert store.verify_key("report-bot", key).owner == "team-data"
    with pytest.raises(StoreError, match="exists"):
        store.create("report-bot", kind="agent", owner="x", groups=())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda k: k[:-1] + ("0" if k[-1] != "0" else "1"),  # secret changed
        lambda k: "wga_" + "0" * 12 + k[16:],  # unknown key id
        lambda k: k.upper(),
        lambda k: k[:-2],
        lambda k: "",
    ],
)
def test_wrong_keys_are_refused(tmp_path: Path, mutate: Any) -> None:
    store = IdentityStore(tmp_path / "ids.db")
    _, key = store.create("bot", kind="agent", owner="o", groups=())
    with pytest.raises(StoreError):
        store.verify_key("bot", mutate(key))


def test_rotation_overlap_and_revocation(tmp_path: Path) -> None:
    store = IdentityStore(tmp_path / "ids.db")
    store.create("bot", kind="service", owner="o", groups=())
    _, other_key = store.create("other", kind="agent", owner="o", groups=())
    _, old = IdentityStore(tmp_path / "ids.db").rotate("bot", overlap=0)  # first rotate: no old
    _, new = store.rotate("bot", overlap=3600)
    now = time.time()
    assert store.verify_key("bot", old, now=now).name == "bot"  # within the overlap
    assert store.verify_key("bot", new, now=now + 7200).name == "bot"
    with pytest.raises(StoreError, match="rotation deadline"):
        store.verify_key("bot", old, now=now + 3601)
    with pytest.raises(StoreError, match="not valid for this identity"):
        store.verify_key("bot", other_key)  # another identity's key
    new_id = new.split("_")[1]
    store.revoke("bot", key_id=new_id)
    with pytest.raises(StoreError, match="revoked"):
        store.verify_key("bot", new)
    store.revoke("bot")
    with pytest.raises(StoreError, match="revoked"):
        store.verify_key("bot", old)
    with pytest.raises(StoreError, match="revoked"):
        store.rotate("bot", overlap=10)


@pytest.mark.parametrize(
    "options, person",
    [
        ("-c wardgate.on_behalf_of=alice@example.com", "alice@example.com"),
        ("-cwardgate.on_behalf_of=bob", "bob"),
        ("--wardgate.on-behalf-of=carol -c search_path=x", "carol"),
        ("-c wardgate.on_behalf_of=Ann\\ Lee", "Ann Lee"),
        ("-c search_path=x", None),
        ("-c wardgate.on_behalf_of=", None),
        ("'unbalanced", None),
    ],
)
def test_on_behalf_of_from_startup_options(options: str, person: str | None) -> None:
    assert on_behalf_of({"options": options}) == person


def _config_file(raw: dict[str, Any], tmp: Path) -> Path:
    path = tmp / "gw.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _identity(gw: RunningGateway, name: str) -> FederatedIdentity:
    found = [s.identity for s in gw.gateway.sessions if s.identity and s.identity.name == name]
    assert len(found) == 1 and isinstance(found[0], FederatedIdentity)
    return found[0]


def test_agent_signs_in_with_its_key_through_the_gateway(
    upstream: Upstream, tmp_path: Path, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    raw = identity_config(upstream, tmp_path)
    config = _config_file(raw, tmp_path)
    cli = CliRunner()
    made = cli.invoke(
        app,
        ["identity", "create-agent", "sql-agent", "--owner", "alice@example.com",
         "--groups", "readers,agents", "-c", str(config)],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("wga_")
    listed = cli.invoke(app, ["identity", "list", "-c", str(config)]).stdout
    assert "sql-agent\tagent\towner=alice@example.com\tgroups=readers,agents" in listed
    assert key not in listed

    with running_gateway(raw) as gw:
        opts = "-c wardgate.on_behalf_of=alice@example.com"
        with psycopg.connect(gw.dsn(user="sql-agent", password=key, options=f"'{opts}'")) as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
            ident = _identity(gw, "sql-agent")
            assert ident.kind == "agent" and ident.groups == ("readers", "agents")
            assert ident.owner == "alice@example.com" and ident.method == "api_key"
            assert ident.on_behalf_of == "alice@example.com"
        # Rotation: old and new both work during the overlap.
        rotated = cli.invoke(app, ["identity", "rotate-key", "sql-agent", "-c", str(config)])
        new_key = rotated.stdout.strip()
        for k in (key, new_key):
            psycopg.connect(gw.dsn(user="sql-agent", password=k)).close()
        # The key is bound to its identity; a revoked identity is refused at once.
        with pytest.raises(psycopg.OperationalError, match="authentication failed"):
            psycopg.connect(gw.dsn(user="someone-else", password=new_key))
        assert (
            cli.invoke(app, ["identity", "revoke", "sql-agent", "-c", str(config)]).exit_code == 0
        )
        for k in (key, new_key):
            with pytest.raises(psycopg.OperationalError, match="authentication failed"):
                psycopg.connect(gw.dsn(user="sql-agent", password=k))
    for record in caplog.records:
        if record.name.startswith("wardgate"):
            text = record.getMessage()
            assert key not in text and new_key not in text, text
            assert key[17:] not in text and new_key[17:] not in text


def test_create_agent_refuses_config_names_and_missing_store(
    upstream: Upstream, tmp_path: Path
) -> None:
    raw = identity_config(upstream, tmp_path)
    config = _config_file(raw, tmp_path)
    out = CliRunner().invoke(
        app, ["identity", "create-agent", "tester", "--owner", "x", "-c", str(config)]
    )
    assert out.exit_code == 2 and "already an identity" in out.output
    del raw["auth"]
    config = _config_file(raw, tmp_path)
    out = CliRunner().invoke(
        app, ["identity", "create-agent", "bot", "--owner", "x", "-c", str(config)]
    )
    assert out.exit_code == 2 and "auth.store" in out.output


def test_keys_need_tls_off_loopback_and_scram_users_are_unchanged(
    upstream: Upstream, tmp_path: Path
) -> None:
    raw = identity_config(upstream, tmp_path)
    raw["tokens"]["allow_loopback_plaintext"] = False
    store = IdentityStore(tmp_path / "identities.db")
    _, key = store.create("bot", kind="agent", owner="o", groups=())
    with running_gateway(raw) as gw:
        with pytest.raises(psycopg.OperationalError, match="only over TLS"):
            psycopg.connect(gw.dsn(user="bot", password=key))
        psycopg.connect(gw.dsn()).close()  # SCRAM identity from the config still signs in


def test_an_agent_acting_for_a_person_is_held_to_both(upstream: Upstream, tmp_path: Path) -> None:
    """The agent may write notes; the person it names may only read: the write is refused.
    Naming a person the gateway does not know leaves the agent with nothing (fail closed)."""
    policy_dir = tmp_path / "policy"
    policy_dir.mkdir()
    (policy_dir / "p.yaml").write_text(
        yaml.safe_dump(
            {
                "rules": [
                    {"id": "agents-all", "match": {"groups": ["agents"]}, "effect": "allow"},
                    {
                        "id": "people-read",
                        "match": {"users": ["tester"], "statement_kinds": ["read"]},
                        "effect": "allow",
                    },
                ]
            }
        )
    )
    raw = identity_config(upstream, tmp_path)
    raw["policy_dir"] = str(policy_dir)
    config = _config_file(raw, tmp_path)
    made = CliRunner().invoke(
        app, ["identity", "create-agent", "helper", "--owner", "tester", "--groups", "agents",
              "-c", str(config)],
    )  # fmt: skip
    key = made.stdout.strip()
    with running_gateway(raw) as gw:
        with psycopg.connect(gw.dsn(user="helper", password=key), autocommit=True) as alone:
            assert alone.execute("SELECT 1").fetchone() == (1,)  # on its own: its rule
        opts = "'-c wardgate.on_behalf_of=tester'"
        dsn = gw.dsn(user="helper", password=key, options=opts)
        with psycopg.connect(dsn, autocommit=True) as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute("CREATE TEMP TABLE t (a int)")  # the person may not
        opts = "'-c wardgate.on_behalf_of=nobody-known'"
        dsn = gw.dsn(user="helper", password=key, options=opts)
        with (
            psycopg.connect(dsn, autocommit=True) as c,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            c.execute("SELECT 1")
