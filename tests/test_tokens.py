"""Gateway access tokens: signed, expiring, bound to one identity, only over TLS or loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from conftest import Upstream, gateway_config
from harness import running_gateway, self_signed_cert
from wardgate.identity.tokens import TokenError, issue_token, verify_token

KEY = b"k" * 32
KEY_ENV = "WARDGATE_TEST_TOKEN_KEY"


def test_valid_token_round_trip() -> None:
    tok = verify_token(KEY, issue_token(KEY, "alice", 60), max_ttl=3600)
    assert tok.subject == "alice" and tok.expires_at - tok.issued_at == 60


@pytest.mark.parametrize(
    "mutate, why",
    [
        (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "signature"),
        (lambda t: "wgt1." + t.split(".")[1][:-1] + "x." + t.split(".")[2], "signature"),
        (lambda t: t.replace("wgt1.", "wgt2.", 1), "not a Wardgate"),
        (lambda t: t + ".extra", "not a Wardgate"),
        (lambda t: "x" * 5000, "too long"),
    ],
)
def test_tampered_tokens_are_refused(mutate: Any, why: str) -> None:
    with pytest.raises(TokenError, match=why):
        verify_token(KEY, mutate(issue_token(KEY, "alice", 60)), max_ttl=3600)


def test_wrong_key_expiry_future_and_overlong() -> None:
    with pytest.raises(TokenError, match="signature"):
        verify_token(b"z" * 32, issue_token(KEY, "alice", 60), max_ttl=3600)
    with pytest.raises(TokenError, match="expired"):
        verify_token(KEY, issue_token(KEY, "alice", 60, now=1000), max_ttl=3600, now=1061)
    with pytest.raises(TokenError, match="not valid yet"):
        verify_token(KEY, issue_token(KEY, "alice", 60, now=5000), max_ttl=3600, now=4000)
    with pytest.raises(TokenError, match="lifetime"):
        verify_token(KEY, issue_token(KEY, "alice", 7200), max_ttl=3600)


@given(st.text(max_size=300))
def test_garbage_only_raises_token_error(text: str) -> None:
    with pytest.raises(TokenError):
        verify_token(KEY, text, max_ttl=3600)


def _cert(tmp: Path) -> tuple[Path, Path]:
    cert_pem, key_pem = self_signed_cert("localhost")
    cert_path, key_path = tmp / "gw.crt", tmp / "gw.key"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(key_pem)
    return cert_path, key_path


def _token_config(upstream: Upstream, **tokens: Any) -> dict[str, Any]:
    os.environ[KEY_ENV] = KEY.decode()
    raw = gateway_config(upstream)
    raw["identities"] = [*raw["identities"], {"name": "bot", "auth": "token", "kind": "agent"}]
    raw["tokens"] = {"signing_key": f"env:{KEY_ENV}", "max_ttl": 3600, **tokens}
    return raw


def test_token_sign_in_on_loopback(upstream: Upstream) -> None:
    with running_gateway(_token_config(upstream)) as gw:
        token = issue_token(KEY, "bot", 300)
        with psycopg.connect(gw.dsn(user="bot", password=token)) as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
        # A token for someone else, an expired one, and a plain password all fail alike.
        for bad in (issue_token(KEY, "tester", 300), issue_token(KEY, "bot", 1, now=1), "bot-pw"):
            with pytest.raises(
                psycopg.OperationalError, match='authentication failed for user "bot"'
            ):
                psycopg.connect(gw.dsn(user="bot", password=bad))
        # SCRAM identities are unaffected, and a token does not work as their password.
        with pytest.raises(psycopg.OperationalError, match="authentication failed"):
            psycopg.connect(gw.dsn(user="tester", password=issue_token(KEY, "tester", 300)))
        psycopg.connect(gw.dsn()).close()


def test_tokens_need_tls_when_loopback_plaintext_is_off(upstream: Upstream, tmp_path: Path) -> None:
    cert, key = _cert(tmp_path)
    raw = _token_config(upstream, allow_loopback_plaintext=False)
    raw["tls"] = {"cert": str(cert), "key": str(key)}
    with running_gateway(raw) as gw:
        token = issue_token(KEY, "bot", 300)
        with pytest.raises(psycopg.OperationalError, match="only over TLS"):
            psycopg.connect(gw.dsn(user="bot", password=token))
        dsn = gw.dsn(user="bot", password=token, sslmode="verify-full", sslrootcert=str(cert))
        with psycopg.connect(dsn.replace("host=127.0.0.1", "host=localhost")) as c:
            assert c.pgconn.ssl_in_use
            assert c.execute("SELECT 2").fetchone() == (2,)


def test_cli_issues_tokens_the_gateway_accepts(upstream: Upstream, tmp_path: Path) -> None:
    raw = _token_config(upstream)
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(raw))
    cli = [sys.executable, "-m", "wardgate.cli.main", "token", "issue", "-c", str(path)]
    out = subprocess.run(
        [*cli, "--identity", "bot", "--ttl", "60"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    )
    token = out.stdout.strip()
    assert token.startswith("wgt1.")
    with running_gateway(raw) as gw, psycopg.connect(gw.dsn(user="bot", password=token)) as c:
        assert c.execute("SELECT 3").fetchone() == (3,)
    # A SCRAM identity gets a credential for the API (kind and groups inside), which is no
    # password on the PostgreSQL port: that identity still signs in with SCRAM only.
    credential = subprocess.run(
        [*cli, "--identity", "tester"], capture_output=True, text=True, env=os.environ
    )
    assert credential.returncode == 0, credential.stderr
    parsed = verify_token(KEY, credential.stdout.strip(), max_ttl=3600)
    assert parsed.subject == "tester" and parsed.kind == "human"
    with running_gateway(raw) as gw, pytest.raises(psycopg.OperationalError):
        psycopg.connect(gw.dsn(user="tester", password=credential.stdout.strip())).close()
    unknown = subprocess.run(
        [*cli, "--identity", "nobody"], capture_output=True, text=True, env=os.environ
    )
    assert unknown.returncode == 2 and "not an identity" in unknown.stderr
    too_long = subprocess.run(
        [*cli, "--identity", "bot", "--ttl", "99999"],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    assert too_long.returncode == 2 and "max_ttl" in too_long.stderr
