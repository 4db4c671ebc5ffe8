"""The MCP door: a real MCP client starts `wardgate mcp` over stdio, and the agent's tool calls
reach the database only through the gateway -- masked, refused, held for review -- as the agent's
own identity, acting for a person."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import yaml
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from conftest import Upstream
from harness import RunningGateway, running_gateway
from identity_support import identity_config
from review_support import decide, pending_review
from wardgate.identity.store import IdentityStore
from wardgate.portclient import Shaped, from_text, with_reason

AGENT = "mcp-agent"
PEOPLE = [
    (1, "ada.lovelace@example.org", "Ada Lovelace", 10),
    (2, "alan.turing@example.org", "Alan Turing", 20),
    (3, "ada.lovelace@example.org", "Ada Lovelace", 30),
]
RAW = {p[1] for p in PEOPLE} | {p[2] for p in PEOPLE}

POLICY: dict[str, Any] = {
    "rules": [
        {
            "id": "agent-reads-masked",
            "match": {"users": [AGENT, "tester"], "statement_kinds": ["read"]},
            "effect": "allow",
            "mask": [
                {
                    "columns": ["public.mcp_people.email", "public.mcp_people.full_name"],
                    "operator": "tokenize",
                }
            ],
        },
        {
            "id": "agent-writes-reviewed",
            "match": {"users": [AGENT, "tester"], "statement_kinds": ["write"]},
            "effect": "review",
            "review": {"approvers": ["dbas"], "approvals": 1, "wait": "hold"},
        },
    ]
}


@pytest.fixture(scope="module")
def mcp_gw(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("mcp")
    with psycopg.connect(upstream.admin_dsn(), autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS public.mcp_people")
        admin.execute(
            "CREATE TABLE public.mcp_people(id int PRIMARY KEY, email text, full_name text,"
            " score int)"
        )
        with admin.cursor() as cur:
            cur.executemany("INSERT INTO public.mcp_people VALUES (%s, %s, %s, %s)", PEOPLE)
        admin.execute("GRANT ALL ON public.mcp_people TO wardgate_svc")
    policy_dir = tmp / "policy"
    policy_dir.mkdir()
    (policy_dir / "rules.yaml").write_text(yaml.safe_dump(POLICY))
    raw = identity_config(upstream, tmp)
    raw["policy_dir"] = str(policy_dir)
    raw["masking"] = {"trust_catalog_names": True}  # the agent defines no objects
    groups = {"tester": ["engineers"], "other": ["dbas"]}
    raw["identities"] = [{**i, "groups": groups.get(i["name"], [])} for i in raw["identities"]]
    _, key = IdentityStore(tmp / "identities.db").create(
        AGENT, kind="agent", owner="tester", groups=("agents",)
    )
    with running_gateway(raw) as gw:
        yield gw, key


def _server(gw: RunningGateway, key: str, *extra: str) -> StdioServerParameters:
    entry = "from wardgate.cli.main import app; app()"
    args = ["-c", entry, "mcp", "--port", str(gw.port), "--user", AGENT, "-d", "shop"]
    return StdioServerParameters(
        command=sys.executable, args=[*args, *extra], env={"WARDGATE_API_KEY": key}
    )


def _call(params: StdioServerParameters, *calls: tuple[str, dict[str, Any]]) -> list[Any]:
    """Run tool calls in order in one MCP session (one agent process)."""

    async def main() -> list[Any]:
        async with Client(params, read_timeout_seconds=60) as client:
            return [await client.call_tool(name, args) for name, args in calls]

    return asyncio.run(main())


def _text(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def _refused(result: Any) -> str:
    """The SQLSTATE a refused call names (the text starts with it, after the SDK's prefix)."""
    assert result.is_error, result
    found = re.search(r"(?:^|: )([0-9A-Z]{5}): ", _text(result))
    assert found, _text(result)
    return found.group(1)


def test_tools_are_listed_with_their_hints(mcp_gw: Any) -> None:
    gw, key = mcp_gw

    async def main() -> Any:
        async with Client(_server(gw, key), read_timeout_seconds=60) as client:
            return await client.list_tools()

    tools = {t.name: t for t in asyncio.run(main()).tools}
    assert set(tools) == {"query", "list_tables", "describe_table"}
    assert tools["list_tables"].annotations.read_only_hint is True
    assert tools["query"].annotations.read_only_hint is not True
    assert "sql" in tools["query"].input_schema["properties"]


def test_query_results_are_masked_consistently(mcp_gw: Any) -> None:
    gw, key = mcp_gw
    sql = "SELECT id, email, full_name, score FROM public.mcp_people ORDER BY id"
    (result,) = _call(_server(gw, key), ("query", {"sql": sql}))
    assert not result.is_error, _text(result)
    data = result.structured_content
    assert [c["name"] for c in data["columns"]] == ["id", "email", "full_name", "score"]
    rows = data["rows"]
    assert [r[0] for r in rows] == [1, 2, 3] and [r[3] for r in rows] == [10, 20, 30]
    assert not RAW & {v for r in rows for v in r if isinstance(v, str)}
    assert not any(raw in json.dumps(data) for raw in RAW)
    assert rows[0][1] == rows[2][1] != rows[1][1]  # same person, same token
    assert all("@" in r[1] for r in rows)  # an e-mail stays an e-mail
    assert data["truncated"] is False and data["status"] == "SELECT 3"


def test_refusals_reach_the_model_with_their_sqlstate(mcp_gw: Any) -> None:
    gw, key = mcp_gw
    dropped, after = _call(
        _server(gw, key),
        ("query", {"sql": "DROP TABLE public.mcp_people"}),
        ("query", {"sql": "SELECT count(*) FROM public.mcp_people"}),
    )
    assert _refused(dropped) == "42501"
    assert not after.is_error and after.structured_content["rows"] == [[3]]


def test_unparsable_sql_is_a_clear_error_and_the_session_goes_on(mcp_gw: Any) -> None:
    gw, key = mcp_gw
    bad, good = _call(
        _server(gw, key),
        ("query", {"sql": "SELEC email FROM"}),
        ("query", {"sql": "SELECT 1 AS one"}),
    )
    assert _refused(bad) in ("42601", "42501")
    assert good.structured_content["rows"] == [[1]]


def test_rows_are_capped_and_the_rest_is_not_fetched(mcp_gw: Any) -> None:
    """A result far larger than the cap: the tool returns the cap, says so, and the stream is
    cancelled upstream (the call returns quickly and the session is usable at once)."""
    gw, key = mcp_gw
    big = "SELECT g, md5(g::text) FROM generate_series(1, 50000000) g"
    started = time.monotonic()
    capped, after = _call(
        _server(gw, key),
        ("query", {"sql": big, "max_rows": 5}),
        ("query", {"sql": "SELECT 2 AS two"}),
    )
    assert not capped.is_error, _text(capped)
    assert [r[0] for r in capped.structured_content["rows"]] == [1, 2, 3, 4, 5]
    assert capped.structured_content["truncated"] is True
    assert after.structured_content["rows"] == [[2]]
    assert time.monotonic() - started < 30  # 50M rows of md5 would take minutes


def test_a_write_waits_for_review_and_runs_once_approved(mcp_gw: Any, upstream: Upstream) -> None:
    """retry mode: the first call is refused with the review's id; a person approves; the same
    statement with the same reason then runs. The review names the agent, the person it acts
    for, and the agent's reason."""
    gw, key = mcp_gw
    params = _server(gw, key, "--on-behalf-of", "tester")
    call = {"sql": "UPDATE public.mcp_people SET score = 99 WHERE id = 2", "reason": "TICKET-7"}
    (held,) = _call(params, ("query", call))
    assert _refused(held) == "42501"
    review = pending_review(gw)
    assert review.id in _text(held)
    assert review.requester == AGENT and review.on_behalf_of == "tester"
    assert review.reason == "TICKET-7"
    decide(gw, review.id)
    (ran,) = _call(params, ("query", call))
    assert not ran.is_error, _text(ran)
    assert ran.structured_content["status"] == "UPDATE 1"
    with psycopg.connect(upstream.admin_dsn()) as admin:
        row = admin.execute("SELECT score FROM public.mcp_people WHERE id = 2").fetchone()
        assert row == (99,)
        admin.execute("UPDATE public.mcp_people SET score = 20 WHERE id = 2")
    (again,) = _call(params, ("query", call))  # an approval runs one statement, once
    assert again.is_error and "review" in _text(again)
    pending = pending_review(gw)
    assert pending.id != review.id
    gw.call(gw.gateway.approvals.cancel(pending.id, AGENT))


def test_copy_is_refused_and_the_session_goes_on(mcp_gw: Any) -> None:
    gw, key = mcp_gw
    out, into, after = _call(
        _server(gw, key),
        ("query", {"sql": "COPY (SELECT email FROM public.mcp_people) TO STDOUT"}),
        ("query", {"sql": "COPY public.mcp_people FROM STDIN"}),
        ("query", {"sql": "SELECT 3 AS three"}),
    )
    assert out.is_error and into.is_error
    assert not any(raw in _text(out) for raw in RAW)
    assert after.structured_content["rows"] == [[3]]


def test_catalog_tools(mcp_gw: Any) -> None:
    gw, key = mcp_gw
    tables, columns = _call(
        _server(gw, key),
        ("list_tables", {"schema": "public"}),
        ("describe_table", {"table": "public.mcp_people"}),
    )
    assert ["public", "mcp_people", "table"] in tables.structured_content["rows"]
    assert all(r[0] == "public" for r in tables.structured_content["rows"])
    assert columns.structured_content["rows"] == [
        ["public", "id", "int4", True],
        ["public", "email", "text", False],
        ["public", "full_name", "text", False],
        ["public", "score", "int4", False],
    ]


def test_a_wrong_key_is_refused_without_echoing_it(mcp_gw: Any) -> None:
    gw, key = mcp_gw
    wrong = key[:-8] + "00000000"
    (result,) = _call(_server(gw, wrong), ("query", {"sql": "SELECT 1"}))
    assert result.is_error and "cannot sign in" in _text(result)
    assert wrong not in _text(result) and wrong[17:] not in _text(result)


def test_the_server_needs_a_key() -> None:
    from typer.testing import CliRunner

    from wardgate.cli.main import app

    args = ["mcp", "--user", AGENT, "-d", "shop"]
    out = CliRunner().invoke(app, args, env={"WARDGATE_API_KEY": ""})
    assert out.exit_code == 2 and "WARDGATE_API_KEY" in out.output


def test_reasons_cannot_escape_their_comment() -> None:
    sql = with_reason("UPDATE t SET a = 1", "fix */ DROP TABLE t; /* x\nmore")
    assert sql.startswith("/* reason: ") and sql.count("*/") == 1
    assert sql.endswith("*/ UPDATE t SET a = 1")
    assert with_reason("SELECT 1", "  ") == "SELECT 1"
    assert with_reason("SELECT 1", "a  b") == with_reason("SELECT 1", "a b")  # stable text


def test_values_keep_postgresql_text_form() -> None:
    assert from_text(None, 25) is None
    assert from_text(b"-9223372036854775808", 20) == -(2**63)
    assert from_text(b"t", 16) is True and from_text(b"f", 16) is False
    assert from_text(b"12345678901234567890.01", 1700) == "12345678901234567890.01"  # exact
    assert from_text(b"NaN", 701) == "NaN"  # JSON has no NaN: stays text
    assert from_text(b"caf\xc3\xa9 \xff", 25) == "caf\u00e9 \\xff"  # shown, not dropped
    json.dumps([from_text(b"2024-02-29", 1082), from_text(b"\\x00ff", 17)])


def test_shaping_caps_rows_and_characters() -> None:
    shaped = Shaped(max_rows=3, max_chars=1000)
    assert all(shaped.add([i]) for i in range(3)) and not shaped.add([3])
    assert shaped.truncated and len(shaped.rows) == 3
    wide = Shaped(max_rows=100, max_chars=50)
    assert wide.add(["x" * 100])  # the first row always fits, however wide
    assert not wide.add(["y"]) and wide.truncated and len(wide.rows) == 1


def test_a_cancelled_call_cancels_the_statement(mcp_gw: Any, upstream: Upstream) -> None:
    """The caller gives up (an MCP host's timeout): the statement must not go on running
    upstream, and the next call signs in afresh."""
    from wardgate.portclient import GatewayLink, GatewayTarget

    gw, key = mcp_gw
    target = GatewayTarget(host="127.0.0.1", port=gw.port, user=AGENT, secret=key, database="shop")

    async def main() -> list[Any]:
        link = GatewayLink(target)
        task = asyncio.create_task(link.run("SELECT pg_sleep(30)", (), 10, 10_000))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        after = await link.run("SELECT 7 AS seven", (), 10, 10_000)
        await link.close()
        return after.rows

    assert asyncio.run(main()) == [[7]]
    deadline = time.monotonic() + 10
    with psycopg.connect(upstream.admin_dsn(), autocommit=True) as admin:
        while time.monotonic() < deadline:
            running = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%'"
                " AND state = 'active'"
            ).fetchone()
            if running == (0,):
                break
            time.sleep(0.2)
        assert running == (0,), "the abandoned statement is still running upstream"


def test_connection_settings_are_safe_by_default() -> None:
    from wardgate.portclient import GatewayTarget

    remote = GatewayTarget(
        host="gw.example.com", port=6432, user="bot", secret="wga_x", database="d"
    )
    assert remote.conninfo()["sslmode"] == "verify-full"
    assert "wga_x" not in repr(remote)
    local = GatewayTarget(host="127.0.0.1", port=6432, user="bot", secret="s", database="d")
    assert local.conninfo()["sslmode"] == "prefer"
    sneaky = GatewayTarget(
        host="127.0.0.1", port=1, user="b", secret="s", database="d",
        on_behalf_of="x\\ -c wardgate.review_wait=hold",
    )  # fmt: skip
    options = sneaky.conninfo()["options"]
    # every space in the value stays escaped: the value cannot end early and add an option
    assert options.endswith("-c wardgate.on_behalf_of=x\\\\\\ -c\\ wardgate.review_wait=hold")
    tabbed = GatewayTarget(
        host="127.0.0.1", port=1, user="b", secret="s", database="d", on_behalf_of="x\t-c y=z"
    )
    assert tabbed.conninfo()["options"].endswith("on_behalf_of=x\\\t-c\\ y=z")


def test_values_larger_than_the_budget_are_cut_and_said_so() -> None:
    shaped = Shaped(max_rows=10, max_chars=100)
    assert shaped.add(["x" * 10_000])
    assert len(shaped.rows[0][0]) == 103 and shaped.truncated
