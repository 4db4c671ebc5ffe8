"""`wardgate unmask`: identity proven, policy consulted, audit recorded strictly, then the value."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from wardgate.cli.main import app
from wardgate.config import GatewayConfig
from wardgate.masking.operators import MaskContext, mask
from wardgate.pgwire._scram import make_verifier
from wardgate.proxy.masking import GatewayMasking

KEY_ENV = "WARDGATE_TEST_UNMASK_KEY"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    os.environ[KEY_ENV] = "u" * 40
    policy = tmp_path / "policy"
    policy.mkdir()
    (policy / "p.yaml").write_text(
        yaml.safe_dump(
            {
                "rules": [
                    {
                        "id": "dpo-unmask",
                        "match": {"groups": ["dpo"], "commands": ["UNMASK"]},
                        "effect": "allow",
                    }
                ]
            }
        )
    )
    raw: dict[str, Any] = {
        "connections": [{"name": "shop", "database": "shop", "user": "u"}],
        "identities": [
            {
                "name": "dana",
                "groups": ["dpo"],
                "scram_verifier": make_verifier("dana-pw", iterations=4096).to_text(),
            },
            {
                "name": "eve",
                "groups": ["analysts"],
                "scram_verifier": make_verifier("eve-pw", iterations=4096).to_text(),
            },
        ],
        "policy_dir": str(policy),
        "masking": {"keys": {"k1": f"env:{KEY_ENV}"}, "current": "k1"},
        "audit": {"store": str(tmp_path / "audit.db")},
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def fpe(config: Path, value: str) -> str:
    from wardgate.config import load_config

    masking = GatewayMasking.from_config(load_config(config))
    token = mask("fpe", value, MaskContext(entity="phone", type_name="text"), masking.keyring)
    assert token is not None and token != value
    return token


def run(config: Path, user: str, password: str, value: str) -> Any:
    return CliRunner().invoke(
        app,
        ["unmask", value, "-c", str(config), "--as", user, "--reason", "TICKET-42",
         "--entity", "phone"],
        env={"WARDGATE_PASSWORD": password},
    )  # fmt: skip


def test_an_authorised_unmask_is_recorded_without_the_clear_value(config: Path) -> None:
    token = fpe(config, "+44 20 7946 0958")
    result = run(config, "dana", "dana-pw", token)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "+44 20 7946 0958"
    store = (config.parent / "audit.db").read_bytes()
    wal = config.parent / "audit.db-wal"
    store += wal.read_bytes() if wal.exists() else b""
    assert b"masking.unmasked" in store and b"TICKET-42" in store
    assert b"7946 0958" not in store and b"79460958" not in store
    verify = CliRunner().invoke(app, ["audit", "verify", "-c", str(config)])
    assert verify.exit_code == 0, verify.output


@pytest.mark.parametrize(
    ("user", "password", "why"),
    [("eve", "eve-pw", "does not allow"), ("dana", "wrong", "wrong password"),
     ("nobody", "x", "wrong password")],
)  # fmt: skip
def test_unmask_is_refused_without_identity_or_policy(
    config: Path, user: str, password: str, why: str
) -> None:
    result = run(config, user, password, fpe(config, "+44 20 7946 0958"))
    assert result.exit_code == 3
    assert why in result.output and "7946" not in result.stdout


def test_unmask_needs_the_audit_log(config: Path) -> None:
    raw = yaml.safe_load(config.read_text())
    raw["audit"] = {"enabled": False}
    config.write_text(yaml.safe_dump(raw))
    GatewayConfig.model_validate(raw)
    result = run(config, "dana", "dana-pw", "+44 20 0000 0000")
    assert result.exit_code == 3 and "audit log is disabled" in result.output
