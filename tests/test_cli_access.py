"""`wardgate access ...` against a live API server with a loaded policy (the one of
test_api_grants): what each command prints, and its exit codes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from test_api_grants import GrantApi, credential, running_grant_api
from wardgate.cli.main import app


@pytest.fixture
def api(tmp_path: Path) -> Iterator[GrantApi]:
    with running_grant_api(tmp_path) as running:
        yield running


def access(api: GrantApi, *args: str, who: str | None = None, **env: str) -> Result:
    """Run ``wardgate access ARGS`` as ``who``, with a clean environment for the API."""
    base = {
        "WARDGATE_API": api.url,
        "WARDGATE_TOKEN": credential(who) if who else None,
        "WARDGATE_CREDENTIALS": str(api.tmp / "no-credentials.json"),
    }
    return CliRunner().invoke(app, ["access", *args], env={**base, **env})


def request(api: GrantApi, who: str = "alice", *extra: str, duration: str = "30m") -> Result:
    return access(
        api,
        "request", "--connection", "shop", "--role", "write", "--duration", duration,
        "--reason", "INC-4711", *extra, who=who,
    )  # fmt: skip


def requested_id(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout.split()[1].rstrip(":")


def test_request_list_show_approve(api: GrantApi) -> None:
    asked = request(api, duration="1h30m")
    assert asked.exit_code == 1  # longer than the policy's max_duration (1h)
    assert "refused (422): role 'write' may be granted for at most 3600s" in asked.stderr
    asked = request(api, duration="20m30s")
    gid = requested_id(asked)
    lines = asked.stdout.splitlines()
    assert lines == [
        f"requested {gid}: write on shop for 20m30s, pending (0/1 approvals from dba)",
        f"approvers (dba) can run: wardgate access approve {gid}",
    ]
    assert api.grant(gid).duration == 1230 and api.grant(gid).requester == "alice"

    listed = access(api, "list", who="dana")
    assert listed.exit_code == 0, listed.output
    header, row = listed.stdout.splitlines()
    assert header.split() == [
        "ID", "STATUS", "ROLE", "CONNECTION", "REQUESTER", "FOR", "APPROVALS", "UNTIL"
    ]  # fmt: skip
    assert row.split()[:7] == [gid, "pending", "write", "shop", "alice", "20m30s", "0/1"]
    assert access(api, "list", who="sam").stdout.strip() == "no grants"

    shown = access(api, "show", gid, who="dana")
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert f"grant:       {gid}  pending" in out
    assert "requester:   alice" in out
    assert "access:      write on shop for 20m30s" in out
    assert "reason:      INC-4711" in out
    assert "approvers:   dba (0/1 approvals)" in out
    assert "lapses:" in out and "(in 23h" in out
    assert "verdicts:   (none yet)" in out

    approved = access(api, "approve", gid, "--reason", "ok", who="dana")
    assert approved.exit_code == 0, approved.output
    ends = api.grant(gid).ends_at
    assert ends is not None and ends == pytest.approx(time.time() + 1230, abs=10)
    assert approved.stdout.startswith(f"approved {gid}: now active until 20")
    assert approved.stdout.rstrip().endswith("(1/1 approvals)")
    verdict = api.grant(gid).verdicts[0]
    assert (verdict.approver, verdict.via, verdict.reason) == ("dana", "cli", "ok")
    shown = access(api, "show", gid, who="alice").stdout
    assert "from:" in shown and "until:" in shown and "(in 20m" in shown
    assert "dana approve via cli: ok" in shown
    as_json = json.loads(access(api, "show", gid, "--json", who="alice").stdout)
    assert as_json["status"] == "active" and as_json["duration"] == 1230


def test_refusals_exit_1_with_the_servers_reason(api: GrantApi) -> None:
    gid = requested_id(request(api, "dora"))  # dora asks, and is in the approver group
    own = access(api, "approve", gid, who="dora")
    assert own.exit_code == 1
    assert "refused (403): nobody may approve their own access" in own.stderr
    outsider = access(api, "show", gid, who="sam")
    assert outsider.exit_code == 1 and "refused (404)" in outsider.stderr
    not_a_requester = request(api, "sam")
    assert not_a_requester.exit_code == 1
    assert "refused (403): sam may not request role 'write'" in not_a_requester.stderr
    unknown = access(
        api, "request", "--connection", "shop", "--role", "root", "--duration", "5m",
        "--reason", "x", who="alice",
    )  # fmt: skip
    assert unknown.exit_code == 1 and "offers no role 'root'" in unknown.stderr
    garbled = request(api, duration="half an hour")
    assert garbled.exit_code == 1 and "not a duration" in garbled.stderr
    blank = access(api, "reject", gid, "--reason", " ", who="dana")
    assert blank.exit_code == 1 and "a rejection needs a reason" in blank.stderr
    rejected = access(api, "reject", gid, "--reason", "use the replica", who="dana")
    assert rejected.exit_code == 0 and f"rejected {gid}: now rejected" in rejected.stdout
    late = access(api, "approve", gid, who="dana")
    assert late.exit_code == 1 and f"refused (409): grant {gid} is rejected" in late.stderr
    assert api.grant(gid).status == "rejected"


def test_usage_errors_exit_2(api: GrantApi) -> None:
    gid = requested_id(request(api))
    no_reason = access(api, "reject", gid, who="dana")
    assert no_reason.exit_code == 2 and "--reason" in no_reason.stderr
    no_duration = access(
        api, "request", "--connection", "shop", "--role", "write", "--reason", "x", who="alice"
    )
    assert no_duration.exit_code == 2 and "--duration" in no_duration.stderr
    bad_status = access(api, "list", "--status", "sleeping", who="dana")
    assert bad_status.exit_code == 2 and "--status must be one of" in bad_status.stderr
    no_credential = access(api, "list")
    assert no_credential.exit_code == 2 and "no credential for 127.0.0.1" in no_credential.stderr
    plain = access(api, "list", who="dana", WARDGATE_API="http://api.example:6481")
    assert plain.exit_code == 2 and "plain HTTP" in plain.stderr
    assert api.grant(gid).status == "pending"


def test_break_glass_revoke_and_list_filters(api: GrantApi) -> None:
    refused = request(api, "alice", "--break-glass", duration="5m")
    assert refused.exit_code == 1
    assert "alice may not break glass for role 'write'" in refused.stderr
    urgent = request(api, "olga", "--break-glass", duration="10m")
    assert urgent.exit_code == 0, urgent.output
    gid = urgent.stdout.split()[2].rstrip(":")
    assert urgent.stdout.startswith(f"break glass {gid}: write on shop active until 20")
    assert "(10m); recorded and announced" in urgent.stdout
    assert api.grant(gid).status == "active" and api.grant(gid).break_glass

    pending = requested_id(request(api, "alice"))
    withdrawn = requested_id(request(api, "alice"))
    assert access(api, "revoke", withdrawn, who="alice").exit_code == 0

    current = access(api, "list", who="dana").stdout
    assert gid in current and "active (break-glass)" in current and pending in current
    assert withdrawn not in current  # cancelled: not current
    everything = access(api, "list", "--all", who="dana").stdout
    assert withdrawn in everything and "cancelled" in everything
    only = access(api, "list", "--status", "cancelled", "--json", who="dana")
    assert [g["id"] for g in json.loads(only.stdout)["grants"]] == [withdrawn]
    mine = access(api, "list", "--requester", "olga", who="dana").stdout
    assert gid in mine and pending not in mine

    revoked = access(api, "revoke", gid, "--reason", "SEV1 over", who="dana")
    assert revoked.exit_code == 0, revoked.output
    assert revoked.stdout.strip() == f"revoked {gid}: now revoked (0/1 approvals)"
    assert api.grant(gid).status == "revoked"
    shown = access(api, "show", gid, who="olga").stdout
    assert f"{gid}  revoked  break-glass" in shown and "dana revoke via cli: SEV1 over" in shown
    again = access(api, "revoke", gid, who="olga")
    assert again.exit_code == 1 and "refused (409)" in again.stderr


def test_shown_text_cannot_drive_the_terminal(api: GrantApi) -> None:
    sneaky = "INC-1\x1b[2K\r all clear \u202etxt.exe"
    asked = access(
        api, "request", "--connection", "shop", "--role", "write", "--duration", "5m",
        "--reason", sneaky, who="alice",
    )  # fmt: skip
    gid = requested_id(asked)
    shown = access(api, "show", gid, who="dana")
    assert shown.exit_code == 0
    for raw in ("\x1b", "\r", "\u202e"):
        assert raw not in shown.stdout
    assert "reason:      INC-1\\x1b[2K all clear \\u202etxt.exe" in shown.stdout
