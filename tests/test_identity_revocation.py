"""The plain access tokens of ``auth: token`` identities honour the store's revocation list, as
people's credentials do: by token id, or every token of the identity issued so far."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
import yaml
from typer.testing import CliRunner

from conftest import Upstream
from harness import running_gateway
from identity_support import SIGNING_KEY, identity_config
from wardgate.cli.main import app
from wardgate.identity.tokens import verify_token


def _token_id(token: str) -> str:
    return verify_token(SIGNING_KEY.encode(), token, max_ttl=12 * 3600).token_id


def test_token_identities_can_be_revoked(upstream: Upstream, tmp_path: Path) -> None:
    raw = identity_config(upstream, tmp_path)
    raw["identities"].append({"name": "ci-bot", "auth": "token", "groups": ["ci"]})
    config = tmp_path / "gw.yaml"
    config.write_text(yaml.safe_dump(raw))
    cli = CliRunner()

    def issue() -> str:
        out = cli.invoke(app, ["token", "issue", "-c", str(config), "--identity", "ci-bot"])
        assert out.exit_code == 0, out.output
        return out.stdout.strip()

    first, second = issue(), issue()
    with running_gateway(raw) as gw:
        for token in (first, second):
            with psycopg.connect(gw.dsn(user="ci-bot", password=token)) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        # By id: that token stops at once (no reload), the other keeps working.
        out = cli.invoke(
            app, ["identity", "revoke-credential", "-c", str(config), "--id", _token_id(first)]
        )
        assert out.exit_code == 0, out.output
        with pytest.raises(psycopg.OperationalError, match="authentication failed"):
            psycopg.connect(gw.dsn(user="ci-bot", password=first))
        psycopg.connect(gw.dsn(user="ci-bot", password=second)).close()
        # By name: every token issued so far; one issued after the cutoff second works.
        out = cli.invoke(
            app, ["identity", "revoke-credential", "-c", str(config), "--user", "ci-bot"]
        )
        assert out.exit_code == 0, out.output
        with pytest.raises(psycopg.OperationalError, match="authentication failed"):
            psycopg.connect(gw.dsn(user="ci-bot", password=second))
        time.sleep(1.05)  # cutoffs have whole-second granularity (docs/identity.md)
        psycopg.connect(gw.dsn(user="ci-bot", password=issue())).close()


def test_without_a_store_token_identities_sign_in_as_before(
    upstream: Upstream, tmp_path: Path
) -> None:
    raw = identity_config(upstream, tmp_path)
    del raw["auth"]
    raw["identities"].append({"name": "ci-bot", "auth": "token"})
    config = tmp_path / "gw.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = CliRunner().invoke(app, ["token", "issue", "-c", str(config), "--identity", "ci-bot"])
    with running_gateway(raw) as gw:
        psycopg.connect(gw.dsn(user="ci-bot", password=out.stdout.strip())).close()
