"""The REST API for just-in-time grants, end to end: a real uvicorn server on its own loop thread,
a real `Approvals` over a SQLite store, a real policy loaded from a directory with an ``access:``
section, real credentials, driven over HTTP with httpx."""

from __future__ import annotations

import base64
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop

from test_api_reviews import _VERIFIER, KEY, Api, raw_config
from wardgate.api import api_from_config, start_api
from wardgate.api._models import parse_duration
from wardgate.approvals import Grant
from wardgate.config import GatewayConfig
from wardgate.identity.tokens import issue_token
from wardgate.policy import Policy, load_policy

# name: (groups, kind)
PEOPLE: dict[str, tuple[tuple[str, ...], str]] = {
    "alice": (("eng",), "human"),  # may ask for write and read
    "olga": (("eng", "oncall"), "human"),  # may also break glass
    "dora": (("eng", "dba"), "human"),  # may ask, and approves others' grants
    "dana": (("dba",), "human"),  # approves
    "sam": (("security",), "human"),  # neither asks nor approves
    "ci": (("dba", "oncall"), "service"),  # an automated identity in every deciding group
}

POLICY = textwrap.dedent(
    """
    rules:
      - id: eng-read
        match: {groups: [eng], statement_kinds: [read]}
        effect: allow
      - id: eng-write-on-grant
        match: {groups: [eng], statement_kinds: [write], when: "'write' in grant.roles"}
        effect: allow
    access:
      - role: write
        connections: ["shop", "prod-*"]
        requesters: [eng]
        approvers: [dba]
        max_duration: 3600
        break_glass: [oncall]
        break_glass_max: 900
      - role: admin
        connections: ["shop"]
        requesters: [eng]
        approvers: [dba]
        approvals: 2
        max_duration: 600
    """
)
STATUSES = ["pending", "active", "rejected", "cancelled", "expired", "revoked"]
NO_ADMIN = POLICY.split("\n  - role: admin")[0]  # the same policy without the admin role


def policy_in(directory: Path, text: str = POLICY) -> Policy:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "access.yaml").write_text(text)
    return load_policy(directory)


def grant_config(tmp: Path) -> dict[str, Any]:
    idents = [
        {
            "name": name,
            "groups": list(groups),
            "kind": kind,
            "auth": "scram",
            "scram_verifier": _VERIFIER,
        }
        for name, (groups, kind) in PEOPLE.items()
    ]
    return raw_config(tmp, identities=idents)


def credential(name: str, **kw: Any) -> str:
    groups, kind = PEOPLE[name]
    return issue_token(KEY.encode(), name, kw.pop("ttl", 600), groups=groups, kind=kind, **kw)


class GrantApi(Api):
    """`Api` of the review tests, with a policy the API checks grant requests against. Set
    ``policy`` to change it (as a reload would); ``wired=False`` wires no policy at all."""

    def __init__(self, config: GatewayConfig, tmp: Path, policy: Policy | None, wired: bool):
        self.config, self.tmp, self.now, self.policy = config, tmp, None, policy
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.approvals = self.call(self._open())
        policy_of = (lambda: self.policy) if wired else None
        app = api_from_config(config, self.approvals, policy_of=policy_of)
        self.server = self.call(start_api(config, app))
        self.url = f"http://127.0.0.1:{self.server.port}"

    def as_(self, name: str) -> httpx.Client:
        return self.client(credential(name))

    def grant(self, grant_id: str) -> Grant:
        found = self.call(self.approvals.get_grant(grant_id))
        assert found is not None
        return found

    def agent(self, name: str, groups: tuple[str, ...]) -> httpx.Client:
        """A client signed in with a new agent identity's API key (HTTP Basic)."""
        _, key = self.identity_store().create(name, kind="agent", owner="alice", groups=groups)
        basic = base64.b64encode(f"{name}:{key}".encode()).decode()
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Basic {basic}"}, timeout=10
        )


@contextmanager
def running_grant_api(tmp: Path, *, policy: bool = True, wired: bool = True) -> Iterator[GrantApi]:
    tmp.mkdir(parents=True, exist_ok=True)
    loaded = policy_in(tmp / "policy") if policy else None
    api = GrantApi(GatewayConfig.model_validate(grant_config(tmp)), tmp, loaded, wired)
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[GrantApi]:
    with running_grant_api(tmp_path) as running:
        yield running


def ask(client: httpx.Client, **fields: Any) -> httpx.Response:
    body = {"connection": "shop", "role": "write", "duration": "30m", "reason": "INC-4711"}
    return client.post("/v1/grants", json=body | fields)


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [g["id"] for g in response.json()["grants"]]


# --- requesting -------------------------------------------------------------------------------


def test_request_then_approve_gives_the_role_for_the_duration_from_approval(api: GrantApi) -> None:
    with api.as_("alice") as alice, api.as_("dana") as dana:
        asked = created(ask(alice, connection="prod-eu", reason="  INC-4711:  fix   orders "))
        assert asked["id"].startswith("gr-") and asked["status"] == "pending"
        assert (asked["requester"], asked["connection"], asked["role"]) == (
            "alice",
            "prod-eu",
            "write",
        )
        assert asked["duration"] == 1800 and asked["break_glass"] is False
        assert asked["approvers"] == ["dba"] and asked["approvals_needed"] == 1
        assert asked["reason"] == "INC-4711: fix orders"
        assert asked["starts_at"] is None and asked["ends_at"] is None
        assert api.call(api.approvals.active_grants()) == []
        before = time.time()
        done = dana.post(
            f"/v1/grants/{asked['id']}/approve",
            json={"reason": "ticket checked"},
            headers={"X-Wardgate-Via": "cli"},
        )
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["status"] == "active" and body["approvals"] == 1
        assert body["starts_at"] >= before
        assert body["ends_at"] == pytest.approx(body["starts_at"] + 1800)
        [verdict] = body["verdicts"]
        assert (verdict["approver"], verdict["verdict"], verdict["via"]) == (
            "dana",
            "approve",
            "cli",
        )
        assert verdict["reason"] == "ticket checked" and verdict["groups"] == ["dba"]
        assert alice.get(f"/v1/grants/{asked['id']}").json()["status"] == "active"
    [active] = api.call(api.approvals.active_grants())
    assert (active.id, active.requester, active.role) == (asked["id"], "alice", "write")


def test_a_grant_needing_two_approvals_and_no_double_vote(api: GrantApi) -> None:
    with api.as_("alice") as alice, api.as_("dana") as dana, api.as_("dora") as dora:
        asked = created(ask(alice, role="admin", duration=300))
        first = dana.post(f"/v1/grants/{asked['id']}/approve")
        assert first.status_code == 200 and first.json()["status"] == "pending"
        twice = dana.post(f"/v1/grants/{asked['id']}/approve")
        assert twice.status_code == 409 and "already decided" in twice.json()["error"]
        second = dora.post(f"/v1/grants/{asked['id']}/approve", json={})
        assert second.status_code == 200 and second.json()["status"] == "active"
        late = dora.post(f"/v1/grants/{asked['id']}/reject", json={"reason": "too late"})
        assert late.status_code == 409 and "active" in late.json()["error"]


DURATIONS: list[tuple[Any, int | str]] = [  # seconds, or why it is refused
    ("30m", 1800),
    ("900s", 900),
    ("1h", 3600),
    ("20m30s", 1230),
    ("1H", 3600),
    ("600", 600),
    (600, 600),
    ("2h", "long"),  # well formed, longer than the policy's max_duration
    ("1h30m", "long"),
    ("1d", "long"),
    ("3x", "bad"),
    ("", "bad"),
    ("m30", "bad"),
    ("30m1h", "bad"),
    ("1.5h", "bad"),
    ("0m", "bad"),
    (0, "bad"),
    (-60, "bad"),
    (90.5, "bad"),
    (True, "bad"),
    (None, "bad"),
]


@pytest.mark.parametrize(("duration", "expected"), DURATIONS)
def test_durations(api: GrantApi, duration: Any, expected: int | str) -> None:
    with api.as_("alice") as alice:
        answer = ask(alice, duration=duration)
        if isinstance(expected, int):
            assert created(answer)["duration"] == expected
            return
        assert answer.status_code == 422, answer.text
        why = answer.json()["error"]
        assert ("at most 3600s" in why) if expected == "long" else ("body.duration" in why)
        assert ids(alice.get("/v1/grants", params={"status": STATUSES})) == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45s", 45), ("2m", 120), ("3h", 10800), ("1d", 86400), ("1d2h3m4s", 93784), ("7", 7)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_longer_than_the_policy_allows_is_refused(api: GrantApi) -> None:
    with api.as_("alice") as alice:
        long = ask(alice, duration="1h1s")
        assert long.status_code == 422
        assert long.json() == {"error": "role 'write' may be granted for at most 3600s"}
        assert created(ask(alice, duration="1h"))["duration"] == 3600  # the max itself is fine
        admin = ask(alice, role="admin", duration="11m")
        assert admin.status_code == 422 and "at most 600s" in admin.json()["error"]
        assert len(ids(alice.get("/v1/grants"))) == 1


def test_roles_the_policy_does_not_offer_are_refused(api: GrantApi) -> None:
    with api.as_("alice") as alice:
        unknown = ask(alice, role="superuser")
        assert unknown.status_code == 422
        assert unknown.json() == {
            "error": "the policy offers no role 'superuser' on connection 'shop'"
        }
        elsewhere = ask(alice, role="admin", connection="prod-eu")  # admin is for shop only
        assert elsewhere.status_code == 422 and "no role 'admin'" in elsewhere.json()["error"]
        assert ids(alice.get("/v1/grants")) == []


def test_only_requester_groups_may_ask(api: GrantApi) -> None:
    with api.as_("sam") as sam, api.as_("dana") as dana:
        refused = ask(sam)
        assert refused.status_code == 403
        assert refused.json() == {"error": "sam may not request role 'write'"}
        assert ask(dana).status_code == 403  # approving it is not asking for it
    with api.as_("dana") as dana:
        assert ids(dana.get("/v1/grants", params={"status": STATUSES})) == []


def test_requests_need_a_reason_and_no_more_than_the_fields(api: GrantApi) -> None:
    with api.as_("alice") as alice:
        blank = ask(alice, reason="   ")
        assert blank.status_code == 422
        assert blank.json() == {"error": "a grant request needs a reason"}
        missing = alice.post("/v1/grants", json={"connection": "shop", "role": "write"})
        assert missing.status_code == 422
        assert "duration" in missing.json()["error"] and "reason" in missing.json()["error"]
        # The requester is always the caller: a body cannot name someone else.
        other = ask(alice, requester="olga")
        assert other.status_code == 422 and "requester" in other.json()["error"]
        assert ask(alice, reason="r" * 501).status_code == 422
        assert ids(alice.get("/v1/grants", params={"status": STATUSES})) == []


def test_no_policy_means_no_requests(tmp_path: Path) -> None:
    with running_grant_api(tmp_path / "unloaded", policy=False) as api, api.as_("alice") as alice:
        refused = ask(alice)
        assert refused.status_code == 503
        assert refused.json() == {
            "error": "no policy is loaded: grants cannot be requested until one is"
        }
        assert alice.get("/v1/grants").status_code == 200  # reading needs no policy
    with running_grant_api(tmp_path / "unwired", wired=False) as api, api.as_("alice") as alice:
        refused = ask(alice)
        assert refused.status_code == 503 and "without a policy" in refused.json()["error"]


# --- deciding ---------------------------------------------------------------------------------


def test_nobody_approves_their_own_access(api: GrantApi) -> None:
    with api.as_("dora") as dora:  # in eng (asks) and dba (approves)
        own = created(ask(dora))
        for verdict, body in (("approve", {}), ("reject", {"reason": "no"})):
            refused = dora.post(f"/v1/grants/{own['id']}/{verdict}", json=body)
            assert refused.status_code == 403
            assert refused.json() == {"error": "nobody may approve their own access"}
    assert api.grant(own["id"]).status == "pending" and api.grant(own["id"]).verdicts == ()


def test_a_rejection_needs_a_reason(api: GrantApi) -> None:
    with api.as_("alice") as alice, api.as_("dana") as dana:
        asked = created(ask(alice))
        url = f"/v1/grants/{asked['id']}/reject"
        missing = dana.post(url)
        assert missing.status_code == 422 and "required" in missing.json()["error"]
        assert dana.post(url, json={}).status_code == 422
        blank = dana.post(url, json={"reason": " \t "})
        assert blank.status_code == 422 and blank.json() == {"error": "a rejection needs a reason"}
        assert api.grant(asked["id"]).status == "pending"
        done = dana.post(url, json={"reason": "use the read replica"})
        assert done.status_code == 200 and done.json()["status"] == "rejected"
        assert done.json()["verdicts"][0]["reason"] == "use the read replica"
        late = dana.post(f"/v1/grants/{asked['id']}/approve")
        assert late.status_code == 409 and "rejected" in late.json()["error"]
    assert api.call(api.approvals.active_grants()) == []


def test_approval_is_checked_against_the_policy_in_force(api: GrantApi, tmp_path: Path) -> None:
    with api.as_("alice") as alice, api.as_("dana") as dana:
        admin = created(ask(alice, role="admin", duration="10m"))
        write = created(ask(alice, duration="1h"))
        api.policy = policy_in(tmp_path / "reloaded", NO_ADMIN.replace("3600", "1800"))
        gone = dana.post(f"/v1/grants/{admin['id']}/approve")
        assert gone.status_code == 409
        assert gone.json() == {
            "error": "the policy no longer offers role 'admin' on connection 'shop'"
        }
        shorter = dana.post(f"/v1/grants/{write['id']}/approve")
        assert shorter.status_code == 409 and "at most 1800s" in shorter.json()["error"]
        api.policy = None
        assert dana.post(f"/v1/grants/{write['id']}/approve").status_code == 503
        assert [api.grant(g["id"]).status for g in (admin, write)] == ["pending", "pending"]


# --- revoking ---------------------------------------------------------------------------------


def test_revoke_ends_a_grant_at_once(api: GrantApi) -> None:
    with api.as_("alice") as alice, api.as_("dana") as dana, api.as_("sam") as sam:
        mine = created(ask(alice))
        dana.post(f"/v1/grants/{mine['id']}/approve").raise_for_status()
        assert len(api.call(api.approvals.active_grants())) == 1
        assert sam.post(f"/v1/grants/{mine['id']}/revoke").status_code == 404
        done = alice.post(f"/v1/grants/{mine['id']}/revoke", json={"reason": "fixed"})
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["status"] == "revoked" and body["ends_at"] <= time.time()
        assert body["verdicts"][-1]["verdict"] == "cancel"
        assert body["verdicts"][-1]["reason"] == "fixed"
        assert api.call(api.approvals.active_grants()) == []
        again = alice.post(f"/v1/grants/{mine['id']}/revoke")
        assert again.status_code == 409 and "revoked" in again.json()["error"]
        # An approver may end someone's grant; a pending request revoked is withdrawn.
        other = created(ask(alice))
        dana.post(f"/v1/grants/{other['id']}/approve").raise_for_status()
        by_approver = dana.post(f"/v1/grants/{other['id']}/revoke")
        assert by_approver.status_code == 200 and by_approver.json()["status"] == "revoked"
        pending = created(ask(alice))
        withdrawn = alice.post(f"/v1/grants/{pending['id']}/revoke")
        assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "cancelled"


def test_an_ended_grant_is_expired_and_cannot_be_revoked(api: GrantApi) -> None:
    with api.as_("alice") as alice, api.as_("dana") as dana:
        asked = created(ask(alice, duration="10m"))
        dana.post(f"/v1/grants/{asked['id']}/approve").raise_for_status()
        still = created(ask(alice, duration="10m"))
        api.now = time.time() + 601
        assert alice.get(f"/v1/grants/{asked['id']}").json()["status"] == "expired"
        assert ids(alice.get("/v1/grants", params={"status": "expired"})) == [asked["id"]]
        assert ids(alice.get("/v1/grants", params={"status": "active"})) == []
        current = alice.get("/v1/grants", params={"status": ["pending", "active"]})
        assert ids(current) == [still["id"]]
        assert ids(alice.get("/v1/grants")) == [still["id"], asked["id"]]  # every status
        late = alice.post(f"/v1/grants/{asked['id']}/revoke")
        assert late.status_code == 409 and "expired" in late.json()["error"]


# --- break-glass ------------------------------------------------------------------------------


def test_break_glass_is_active_at_once_for_its_groups_only(api: GrantApi) -> None:
    with api.as_("olga") as olga, api.as_("alice") as alice:
        before = time.time()
        urgent = created(ask(olga, duration="10m", break_glass=True, reason="SEV1 orders down"))
        assert urgent["status"] == "active" and urgent["break_glass"] is True
        assert urgent["starts_at"] >= before
        assert urgent["ends_at"] == pytest.approx(urgent["starts_at"] + 600)
        assert urgent["verdicts"] == []  # nobody approved it: that is the point
        [active] = api.call(api.approvals.active_grants())
        assert active.id == urgent["id"] and active.break_glass
        too_long = ask(olga, duration="16m", break_glass=True)
        assert too_long.status_code == 422
        assert too_long.json() == {"error": "break-glass access to 'write' lasts at most 900s"}
        refused = ask(alice, break_glass=True)
        assert refused.status_code == 403
        assert refused.json() == {"error": "alice may not break glass for role 'write'"}
        no_glass = ask(olga, role="admin", duration="5m", break_glass=True)  # admin has none
        assert no_glass.status_code == 403
    with api.client(credential("ci")) as ci:  # a service in oncall: no access without a person
        robot = ask(ci, break_glass=True, duration="5m")
        assert robot.status_code == 403
        assert robot.json() == {"error": "only people may break glass, not the service ci"}
    assert [g.id for g in api.call(api.approvals.active_grants())] == [urgent["id"]]
    with api.as_("dana") as dana:  # approvers see break-glass grants and may end them
        assert urgent["id"] in ids(dana.get("/v1/grants"))
        assert dana.post(f"/v1/grants/{urgent['id']}/revoke").json()["status"] == "revoked"


# --- who may see and do what ------------------------------------------------------------------


def test_grants_are_visible_to_requester_and_approvers_only(api: GrantApi) -> None:
    with api.as_("alice") as alice, api.as_("olga") as olga:
        mine = created(ask(alice))
        theirs = created(ask(olga))
    with api.as_("alice") as alice, api.as_("dana") as dana, api.as_("sam") as sam:
        assert ids(alice.get("/v1/grants")) == [mine["id"]]
        assert ids(dana.get("/v1/grants")) == [theirs["id"], mine["id"]]
        assert ids(dana.get("/v1/grants", params={"requester": "olga"})) == [theirs["id"]]
        assert ids(dana.get("/v1/grants", params={"limit": 1})) == [theirs["id"]]
        assert ids(sam.get("/v1/grants")) == []
        for who, grant in ((sam, mine), (alice, theirs)):
            for method, suffix, body in (
                ("GET", "", None),
                ("POST", "/approve", {}),
                ("POST", "/reject", {"reason": "x"}),
                ("POST", "/revoke", {}),
            ):
                hidden = who.request(method, f"/v1/grants/{grant['id']}{suffix}", json=body)
                assert hidden.status_code == 404, (method, suffix, hidden.text)
                assert hidden.json() == {
                    "error": f"grant {grant['id']} does not exist or is not visible to you"
                }
        assert alice.get("/v1/grants/gr-00000000").status_code == 404
        bad = alice.get("/v1/grants", params={"status": "sleeping"})
        assert bad.status_code == 422 and "status" in bad.json()["error"]
    assert [api.grant(g["id"]).status for g in (mine, theirs)] == ["pending", "pending"]


def test_agents_may_ask_but_never_decide(api: GrantApi) -> None:
    with api.agent("report-bot", ("eng",)) as bot, api.as_("dana") as dana:
        asked = created(ask(bot, duration="5m"))
        assert asked["requester"] == "report-bot" and asked["status"] == "pending"
        assert ids(bot.get("/v1/grants")) == [asked["id"]]
        approved = dana.post(f"/v1/grants/{asked['id']}/approve")
        assert approved.status_code == 200 and approved.json()["status"] == "active"
        given_back = bot.post(f"/v1/grants/{asked['id']}/revoke", json={"reason": "done"})
        assert given_back.status_code == 200 and given_back.json()["status"] == "revoked"
    with api.as_("alice") as alice:
        theirs = created(ask(alice))
    with api.client(credential("ci")) as ci:  # in dba: it sees the grant, but decides nothing
        assert theirs["id"] in ids(ci.get("/v1/grants"))
        for action, body in (("approve", {}), ("reject", {"reason": "no"})):
            refused = ci.post(f"/v1/grants/{theirs['id']}/{action}", json=body)
            assert refused.status_code == 403
            assert refused.json() == {"error": "only people decide grants, not the service ci"}
        revoked = ci.post(f"/v1/grants/{theirs['id']}/revoke")
        assert revoked.status_code == 403 and "only people revoke" in revoked.json()["error"]
    assert api.grant(theirs["id"]).status == "pending"


def test_grant_routes_need_a_credential(api: GrantApi) -> None:
    with api.as_("alice") as alice:
        asked = created(ask(alice))
    with api.client() as anonymous:
        for method, url in (
            ("POST", "/v1/grants"),
            ("GET", "/v1/grants"),
            ("GET", f"/v1/grants/{asked['id']}"),
            ("POST", f"/v1/grants/{asked['id']}/approve"),
        ):
            answer = anonymous.request(method, url, json={})
            assert answer.status_code == 401, (method, url)
            assert answer.headers["www-authenticate"].startswith("Bearer")
    with api.client(credential("dana", now=time.time() - 1200)) as expired:
        assert expired.post(f"/v1/grants/{asked['id']}/approve").status_code == 401
    assert api.grant(asked["id"]).status == "pending"


def test_openapi_document_lists_the_grant_routes(api: GrantApi) -> None:
    with api.client() as http:
        doc = http.get("/openapi.json").json()
    paths = doc["paths"]
    assert set(paths["/v1/grants"]) == {"get", "post"}
    for action in ("approve", "reject", "revoke"):
        assert set(paths[f"/v1/grants/{{grant_id}}/{action}"]) == {"post"}
    assert "/v1/reviews" in paths  # the review routes are still there
    post = paths["/v1/grants"]["post"]
    assert "GrantRequestBody" in str(post["requestBody"])
    assert {"201", "401", "403", "422", "503"} <= set(post["responses"])
    schemas = doc["components"]["schemas"]
    assert {"role", "connection", "duration", "reason", "break_glass"} == set(
        schemas["GrantRequestBody"]["properties"]
    )
    assert {"status", "requester", "ends_at", "verdicts"} <= set(schemas["GrantOut"]["properties"])
    duration = schemas["GrantRequestBody"]["properties"]["duration"]
    assert {t.get("type") for t in duration["anyOf"]} == {"integer", "string"}
