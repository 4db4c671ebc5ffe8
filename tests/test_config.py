"""The config schema: references, not secrets; loud errors for broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from wardgate.config import ConfigError, SecretRef, load_config
from wardgate.pgwire._scram import ScramServer, ScramVerifier

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_loads_and_its_verifier_matches_its_comment() -> None:
    cfg = load_config(ROOT / "examples" / "gateway.yaml")
    alice = cfg.identity("alice")
    assert alice is not None and cfg.connection("shop") is not None
    assert cfg.policy_dir is not None and cfg.policy_dir.is_dir()
    assert cfg.masking.current == "2026-11" and "2026-11" in cfg.masking.keys
    from wardgate.pgwire._scram import ScramClient

    client, server = (
        ScramClient("alice-example"),
        ScramServer(ScramVerifier.parse(alice.scram_verifier)),
    )
    final = server.handle_client_final(
        client.client_final(server.handle_client_first(client.client_first()))
    )
    client.verify_server_final(final)


def test_plain_password_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("connections: [{name: a, database: a, user: u, password: hunter2}]\n")
    with pytest.raises(ConfigError, match="reference"):
        load_config(path)


def test_secret_refs_resolve_and_never_print(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WG_SECRET", "s3cret-value")
    ref = SecretRef.model_validate("env:WG_SECRET")
    assert ref.resolve() == "s3cret-value"
    assert "s3cret-value" not in repr(ref) and "s3cret-value" not in str(ref)
    (tmp_path / "pw").write_text("from-file\n")
    assert SecretRef.model_validate("file:pw").resolve(tmp_path) == "from-file"
    with pytest.raises(ConfigError, match="not set"):
        SecretRef.model_validate("env:WG_MISSING_VAR").resolve()


@pytest.mark.parametrize(
    "text, match",
    [
        ("connections: [", "not valid YAML"),
        ("- a list", "mapping"),
        ("connections: []\nbogus: 1", "bogus"),
        (
            "connections: [{name: a, database: a, user: u}, {name: a, database: b, user: u}]",
            "duplicate",
        ),
        ("connections: [{name: a, database: a, user: u, sslmode: verify-full}]", "sslrootcert"),
        ("connections: []\nidentities: [{name: x, scram_verifier: nope}]", "scram_verifier"),
    ],
)
def test_broken_configs_fail_loudly(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(path)
