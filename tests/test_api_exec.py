"""`POST /v1/exec`: a statement sent over HTTP runs through the gateway's own port as the caller
(API key, token, or a person's credential): masked, refused, held for review like any other."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from conftest import Upstream
from harness import running_gateway
from identity_support import KEY_ENV, SIGNING_KEY, identity_config
from review_support import decide, pending_review
from wardgate.identity.store import IdentityStore
from wardgate.identity.tokens import issue_token

AGENT = "exec-agent"
PEOPLE = [(1, "grace.hopper@example.org", 10), (2, "edsger.dijkstra@example.org", 20)]
RAW = {p[1] for p in PEOPLE}
POLICY: dict[str, Any] = {
    "rules": [
        {
            "id": "reads-masked",
            "match": {"users": [AGENT, "svc", "tester"], "statement_kinds": ["read"]},
            "effect": "allow",
            "mask": [{"columns": ["public.exec_people.email"], "operator": "tokenize"}],
        },
        {
            "id": "writes-reviewed",
            "match": {"users": [AGENT, "svc"], "statement_kinds": ["write"]},
            "effect": "review",
            "review": {"approvers": ["dbas"], "approvals": 1},
        },
    ]
}


@pytest.fixture(scope="module")
def api(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("exec")
    with psycopg.connect(upstream.admin_dsn(), autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS public.exec_people")
        admin.execute("CREATE TABLE public.exec_people(id int PRIMARY KEY, email text, n int)")
        with admin.cursor() as cur:
            cur.executemany("INSERT INTO public.exec_people VALUES (%s, %s, %s)", PEOPLE)
        admin.execute("GRANT ALL ON public.exec_people TO wardgate_svc")
    policy_dir = tmp / "policy"
    policy_dir.mkdir()
    (policy_dir / "rules.yaml").write_text(yaml.safe_dump(POLICY))
    raw = identity_config(upstream, tmp)
    raw["policy_dir"] = str(policy_dir)
    raw["api"] = {"host": "127.0.0.1", "port": 0}
    groups = {"tester": ["engineers"], "other": ["dbas"]}
    raw["identities"] = [{**i, "groups": groups.get(i["name"], [])} for i in raw["identities"]]
    raw["identities"].append({"name": "svc", "auth": "token", "groups": ["services"]})
    _, key = IdentityStore(tmp / "identities.db").create(
        AGENT, kind="agent", owner="tester", groups=("agents",)
    )
    with running_gateway(raw) as gw:
        assert gw.gateway.api is not None
        yield gw, f"http://127.0.0.1:{gw.gateway.api.port}", key


def _basic(name: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _exec(url: str, headers: dict[str, str], **body: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/exec", json={"connection": "shop", **body}, headers=headers)


def test_an_agent_reads_masked_rows_over_http(api: Any) -> None:
    _, url, key = api
    got = _exec(url, _basic(AGENT, key), sql="SELECT id, email, n FROM public.exec_people")
    assert got.status_code == 200, got.text
    body = got.json()
    assert [c["name"] for c in body["columns"]] == ["id", "email", "n"]
    assert [r[0] for r in body["rows"]] == [1, 2] and [r[2] for r in body["rows"]] == [10, 20]
    assert not any(raw in got.text for raw in RAW)
    assert all("@" in r[1] for r in body["rows"])
    assert body["status"] == "SELECT 2" and body["truncated"] is False


def test_a_token_identity_and_the_row_cap(api: Any) -> None:
    _, url, _ = api
    os.environ[KEY_ENV] = SIGNING_KEY
    token = issue_token(SIGNING_KEY.encode(), "svc", 600)  # a plain token: 'auth: token'
    big = "SELECT g FROM generate_series(1, 10000000) g"
    got = _exec(url, _bearer(token), sql=big, max_rows=3)
    assert got.status_code == 200, got.text
    assert got.json()["rows"] == [[1], [2], [3]] and got.json()["truncated"] is True


def test_refusals_carry_their_sqlstate(api: Any) -> None:
    _, url, key = api
    headers = _basic(AGENT, key)
    denied = _exec(url, headers, sql="DROP TABLE public.exec_people")
    assert denied.status_code == 403 and denied.json()["sqlstate"] == "42501"
    broken = _exec(url, headers, sql="SELEC 1")
    assert broken.status_code in (400, 403) and broken.json()["sqlstate"] in ("42601", "42501")
    assert (
        httpx.post(f"{url}/v1/exec", json={"connection": "shop", "sql": "SELECT 1"}).status_code
        == 401
    )
    wrong = _exec(url, _basic(AGENT, key[:-4] + "0000"), sql="SELECT 1")
    assert wrong.status_code == 401
    unknown = _exec(url, headers, sql="SELECT 1", connection="nope")
    assert unknown.status_code == 502 and key not in unknown.text


def test_a_scram_identity_is_told_to_use_postgresql(api: Any) -> None:
    _, url, _ = api
    credential = issue_token(
        SIGNING_KEY.encode(), "tester", 600, groups=("engineers",), kind="human"
    )
    got = _exec(url, _bearer(credential), sql="SELECT 1")
    assert got.status_code == 403 and "password" in got.json()["error"]


def test_a_write_is_reviewed_then_runs_once(api: Any, upstream: Upstream) -> None:
    gw, url, key = api
    headers = _basic(AGENT, key)
    request = {"sql": "UPDATE public.exec_people SET n = 99 WHERE id = 1", "reason": "OPS-4"}
    held = _exec(url, headers, **request)
    assert held.status_code == 403 and held.json()["sqlstate"] == "42501"
    review = pending_review(gw)
    assert review.id in held.json()["error"] and review.reason == "OPS-4"
    assert review.requester == AGENT
    decide(gw, review.id)
    ran = _exec(url, headers, **request)
    assert ran.status_code == 200, ran.text
    assert ran.json()["status"] == "UPDATE 1"
    with psycopg.connect(upstream.admin_dsn()) as admin:
        assert admin.execute("SELECT n FROM public.exec_people WHERE id = 1").fetchone() == (99,)
    again = _exec(url, headers, **request)
    assert again.status_code == 403  # one approval, one run
    gw.call(gw.gateway.approvals.cancel(pending_review(gw).id, AGENT))


def test_only_an_agent_names_a_person(api: Any) -> None:
    _, url, _ = api
    token = issue_token(SIGNING_KEY.encode(), "svc", 600)
    got = _exec(url, _bearer(token), sql="SELECT 1", on_behalf_of="tester")
    assert got.status_code == 422 and "agent" in got.json()["error"]
