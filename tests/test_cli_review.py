"""`wardgate review ...` against a live API server (the one of test_api_reviews), and the
credentials `wardgate token issue` gives configured identities for it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from conftest import Upstream, gateway_config
from harness import running_gateway
from test_api_reviews import KEY, KEY_ENV, MAX_TTL, Api, credential, raw_config, running_api
from wardgate.approvals import Approver
from wardgate.cli.main import app
from wardgate.identity.tokens import issue_token, verify_token


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path) as running:
        yield running


def review(api: Api, *args: str, token: str | None = None, **env: str) -> Result:
    """Run ``wardgate review ARGS`` with a clean environment for the API and credentials."""
    base = {
        "WARDGATE_API": api.url,
        "WARDGATE_TOKEN": token,
        "WARDGATE_CREDENTIALS": str(api.tmp / "no-credentials.json"),
    }
    return CliRunner().invoke(app, ["review", *args], env={**base, **env})


def test_list_shows_pending_reviews_you_may_see(api: Api) -> None:
    waiting = api.review("alice", statement="UPDATE accounts SET frozen = true WHERE id = $1")
    done = api.review("alice")
    api.call(api.approvals.cancel(done.id, "alice", "oops"))
    hidden = api.review("alice", approvers=("security",))
    listed = review(api, "list", token=credential("dana"))
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split() == [
        "ID", "STATUS", "APPROVALS", "REQUESTER", "CONNECTION", "EXPIRES", "STATEMENT"
    ]  # fmt: skip
    assert len(lines) == 2 and lines[1].split()[:5] == [
        waiting.id,
        "pending",
        "0/1",
        "alice",
        "shop",
    ]
    assert "UPDATE accounts SET frozen = true" in lines[1]
    assert hidden.id not in listed.stdout
    every = review(api, "list", "--all", token=credential("dana"))
    assert every.exit_code == 0
    assert waiting.id in every.stdout and done.id in every.stdout and "cancelled" in every.stdout
    as_json = review(api, "list", "--status", "cancelled", "--json", token=credential("dana"))
    assert [r["id"] for r in json.loads(as_json.stdout)["reviews"]] == [done.id]
    security = review(api, "list", token=credential("sam"))
    assert security.exit_code == 0 and hidden.id in security.stdout
    assert review(api, "list", token=credential("eve")).stdout.strip() == "no reviews"
    wrong = review(api, "list", "--status", "sleeping", token=credential("dana"))
    assert wrong.exit_code == 2 and "--status must be one of" in wrong.stderr


def test_show_prints_everything_a_reviewer_needs(api: Api) -> None:
    statement = "/* reason: OPS-7 */\nDELETE FROM orders\n WHERE id = $1 AND note = $2"
    held = api.review(
        "report-bot",
        requester_kind="agent",
        on_behalf_of="alice",
        statement=statement,
        parameters=("42", None),
        rules=("prod-deletes", "big-writes"),
        approvals=2,
        reason="OPS-7",
    )
    api.call(api.approvals.set_preview(held.id, "1 row would be deleted"))
    olivia = Approver(name="olivia", groups=("dba",), via="api")
    api.call(api.approvals.decide(held.id, olivia, "approve", "looks right"))
    shown = review(api, "show", held.id, token=credential("dana"))
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert f"review:      {held.id}  pending" in out
    assert "requester:   report-bot (agent) for alice" in out
    assert "connection:  shop" in out
    assert "rules:       prod-deletes, big-writes" in out
    assert "approvers:   dba (1/2 approvals)" in out
    assert "reason:      OPS-7" in out
    assert "expires:" in out and "(in 59m" in out
    assert "statement:\n    /* reason: OPS-7 */\n    DELETE FROM orders\n     WHERE id = $1" in out
    assert "parameters:\n    $1 = '42'\n    $2 = NULL\n" in out
    assert "preview:\n    1 row would be deleted" in out
    assert "olivia approve via api: looks right" in out
    as_json = json.loads(review(api, "show", held.id, "--json", token=credential("dana")).stdout)
    assert as_json["statement"] == statement and as_json["parameters"] == ["42", None]


def test_show_escapes_what_could_rewrite_the_terminal(api: Api) -> None:
    sneaky = "DELETE FROM orders\x1b[2K\r-- SELECT 1 \u202etxt.exe\x07 WHERE $1"
    held = api.review("alice", statement=sneaky, parameters=("it's\x1b]0;x\x07",))
    shown = review(api, "show", held.id, token=credential("dana"))
    assert shown.exit_code == 0
    for raw in ("\x1b", "\r", "\u202e", "\x07"):
        assert raw not in shown.stdout
    assert "DELETE FROM orders\\x1b[2K\\x0d-- SELECT 1 \\u202etxt.exe\\x07 WHERE $1" in shown.stdout
    assert "$1 = 'it''s\\x1b]0;x\\x07'" in shown.stdout
    listed = review(api, "list", token=credential("dana"))
    assert "\x1b" not in listed.stdout and "\\x1b" in listed.stdout


def test_approve_reject_cancel_and_their_exit_codes(api: Api) -> None:
    one, two, three = api.review("alice"), api.review("alice"), api.review("alice")
    approved = review(api, "approve", one.id, "--reason", "fine", token=credential("dana"))
    assert approved.exit_code == 0, approved.output
    assert approved.stdout.strip() == f"approved {one.id}: now approved (1/1 approvals)"
    verdict = api.call(api.approvals.get(one.id)).verdicts[0]
    assert (verdict.approver, verdict.via, verdict.reason) == ("dana", "cli", "fine")
    again = review(api, "approve", one.id, token=credential("dana"))
    assert again.exit_code == 1
    assert f"refused (409): review {one.id} is approved" in again.stderr
    own = review(api, "approve", two.id, token=credential("alice"))
    assert own.exit_code == 1
    assert "refused (403): nobody may decide a review of their own statement" in own.stderr
    outsider = review(api, "approve", two.id, token=credential("eve"))
    assert outsider.exit_code == 1 and "refused (404)" in outsider.stderr
    no_reason = review(api, "reject", two.id, token=credential("dana"))
    assert no_reason.exit_code == 2 and "--reason" in no_reason.stderr
    blank = review(api, "reject", two.id, "--reason", " ", token=credential("dana"))
    assert blank.exit_code == 1 and "a rejection needs a reason" in blank.stderr
    rejected = review(api, "reject", two.id, "--reason", "no ticket", token=credential("dana"))
    assert rejected.exit_code == 0 and "now rejected" in rejected.stdout
    not_theirs = review(api, "cancel", three.id, token=credential("dana"))
    assert not_theirs.exit_code == 1
    assert f"only alice may cancel review {three.id}" in not_theirs.stderr
    cancelled = review(api, "cancel", three.id, "--reason", "typo", token=credential("alice"))
    assert cancelled.exit_code == 0 and "now cancelled" in cancelled.stdout
    statuses = [api.call(api.approvals.get(r.id)).status for r in (one, two, three)]
    assert statuses == ["approved", "rejected", "cancelled"]


def test_credential_and_connection_problems(api: Api, tmp_path: Path) -> None:
    refused = review(api, "list", token=credential("dana", now=time.time() - 1200))
    assert refused.exit_code == 1 and "refused (401): access token has expired" in refused.stderr
    missing = review(api, "list")
    assert missing.exit_code == 2 and "no credential for 127.0.0.1" in missing.stderr
    gone = review(api, "list", token=credential("dana"), WARDGATE_API="http://127.0.0.1:9")
    assert gone.exit_code == 2 and "cannot reach the API" in gone.stderr
    plain = review(api, "list", token=credential("dana"), WARDGATE_API="http://api.example:6481")
    assert plain.exit_code == 2 and "plain HTTP" in plain.stderr
    bad_ca = review(
        api, "list", "--cacert", str(tmp_path / "nope.pem"), token=credential("dana"),
        WARDGATE_API="https://127.0.0.1:1",
    )  # fmt: skip
    assert bad_ca.exit_code == 2 and "--cacert" in bad_ca.stderr


def test_the_credential_of_wardgate_login_is_used_for_its_host_only(api: Api) -> None:
    held = api.review("alice")
    stored = api.tmp / "credentials.json"
    entry = {"credential": credential("dana"), "user": "dana", "expires_at": time.time() + 600}
    stored.write_text(json.dumps({"https://127.0.0.1:6480": entry}))
    used = review(api, "list", WARDGATE_CREDENTIALS=str(stored))
    assert used.exit_code == 0 and held.id in used.stdout
    elsewhere = {"https://gateway.example:6480": entry}
    stored.write_text(json.dumps(elsewhere))
    not_sent = review(api, "list", WARDGATE_CREDENTIALS=str(stored))
    assert not_sent.exit_code == 2 and "no credential for 127.0.0.1" in not_sent.stderr
    stale = {"https://127.0.0.1:6480": {**entry, "expires_at": time.time() - 1}}
    stored.write_text(json.dumps(stale))
    expired = review(api, "list", WARDGATE_CREDENTIALS=str(stored))
    assert expired.exit_code == 2 and "has expired" in expired.stderr


def test_api_keys_go_as_basic_auth(api: Api) -> None:
    _, key = api.identity_store().create("bot", kind="agent", owner="alice", groups=("dba",))
    held = api.review("bot", requester_kind="agent")
    listed = review(api, "list", token=f"bot:{key}")
    assert listed.exit_code == 0 and held.id in listed.stdout
    cancelled = review(api, "cancel", held.id, token=f"bot:{key}")
    assert cancelled.exit_code == 0 and "now cancelled" in cancelled.stdout


def _config_file(tmp: Path) -> Path:
    path = tmp / "gw.yaml"
    path.write_text(yaml.safe_dump(raw_config(tmp)))
    return path


def test_token_issue_gives_scram_identities_a_credential_for_the_api(api: Api) -> None:
    config = _config_file(api.tmp)
    cli = CliRunner()
    issued = cli.invoke(
        app, ["token", "issue", "-c", str(config), "--identity", "dana", "--ttl", "600"],
        env=dict(os.environ),
    )  # fmt: skip
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    tok = verify_token(KEY.encode(), token, max_ttl=MAX_TTL)
    assert (tok.subject, tok.groups, tok.kind) == ("dana", ("dba",), "human")
    assert tok.expires_at - tok.issued_at == 600
    held = api.review("alice")
    approved = review(api, "approve", held.id, token=token)
    assert approved.exit_code == 0 and "now approved" in approved.stdout
    # `auth: token` identities keep their plain token (their PostgreSQL password).
    plain = cli.invoke(app, ["token", "issue", "-c", str(config), "--identity", "ci"])
    ci = verify_token(KEY.encode(), plain.stdout.strip(), max_ttl=MAX_TTL)
    assert plain.exit_code == 0 and ci.groups is None and ci.kind is None
    unknown = cli.invoke(app, ["token", "issue", "-c", str(config), "--identity", "mallory"])
    assert unknown.exit_code == 2 and "not an identity" in unknown.stderr
    too_long = cli.invoke(
        app, ["token", "issue", "-c", str(config), "--identity", "dana", "--ttl", "99999"]
    )
    assert too_long.exit_code == 2 and "max_ttl" in too_long.stderr


def test_a_credential_stops_working_when_its_identity_changes(api: Api, tmp_path: Path) -> None:
    old = credential("dana")  # issued while dana was in dba
    idents = raw_config(tmp_path)["identities"]
    for ident in idents:
        if ident["name"] == "dana":
            ident["groups"] = ["eng"]  # dana has left dba since
    (tmp_path / "changed").mkdir()
    with running_api(tmp_path / "changed", identities=idents) as after:
        held = after.review("alice")
        refused = review(after, "approve", held.id, token=old)
        assert refused.exit_code == 1
        assert "does not match its identity's configuration" in refused.stderr
        fresh = issue_token(KEY.encode(), "dana", 600, groups=("eng",), kind="human")
        assert review(after, "approve", held.id, token=fresh).exit_code == 1  # not in dba now
        assert after.call(after.approvals.get(held.id)).verdicts == ()
    assert review(api, "list", token=old).exit_code == 0  # the old config still takes it


def test_a_scram_identitys_credential_is_no_database_password(
    upstream: Upstream, tmp_path: Path
) -> None:
    raw = gateway_config(upstream)  # "tester" signs in with SCRAM
    os.environ[KEY_ENV] = KEY
    raw["tokens"] = {"signing_key": f"env:{KEY_ENV}", "max_ttl": MAX_TTL}
    config = tmp_path / "gw.yaml"
    config.write_text(yaml.safe_dump(raw))
    issued = CliRunner().invoke(app, ["token", "issue", "-c", str(config), "--identity", "tester"])
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    assert verify_token(KEY.encode(), token, max_ttl=MAX_TTL).kind == "human"
    with running_gateway(raw) as gw:
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(gw.dsn(user="tester", password=token))
        with psycopg.connect(gw.dsn(user="tester")) as conn:  # its SCRAM password still works
            assert conn.execute("SELECT 1").fetchone() == (1,)
