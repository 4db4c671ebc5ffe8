"""The REST API for reviews, end to end: a real uvicorn server (started by `start_api`) on its own
loop thread, a real `Approvals` over a SQLite review store, real credentials signed with the
configured key, a real identity store for API keys and revocation, driven over HTTP with httpx.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop
from fastapi import APIRouter

from harness import self_signed_cert
from wardgate.api import api_from_config, start_api
from wardgate.approvals import Approvals, Review, ReviewRequest, ReviewStore
from wardgate.config import ConfigError, GatewayConfig
from wardgate.identity.store import IdentityStore
from wardgate.identity.tokens import issue_token
from wardgate.pgwire._scram import make_verifier

KEY = "api-test-signing-key-0123456789"
KEY_ENV = "WARDGATE_TEST_API_SIGNING_KEY"
MAX_TTL = 3600
_VERIFIER = make_verifier("unused-password", iterations=4096).to_text()

# name: (groups, kind, auth)
IDENTITIES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "alice": (("eng",), "human", "scram"),  # asks for reviews
    "dana": (("dba",), "human", "scram"),  # approves for dba
    "sam": (("security",), "human", "scram"),  # approves for security
    "eve": (("eng",), "human", "scram"),  # neither
    "ci": (("dba",), "service", "token"),  # a token identity (a service)
}


def raw_config(tmp: Path, **extra: Any) -> dict[str, Any]:
    os.environ[KEY_ENV] = KEY
    idents = []
    for name, (groups, kind, auth) in IDENTITIES.items():
        ident: dict[str, Any] = {"name": name, "groups": list(groups), "kind": kind, "auth": auth}
        if auth == "scram":
            ident["scram_verifier"] = _VERIFIER
        idents.append(ident)
    return {
        "connections": [{"name": "shop", "database": "shop", "user": "svc"}],
        "identities": idents,
        "tokens": {"signing_key": f"env:{KEY_ENV}", "max_ttl": MAX_TTL},
        "auth": {"store": str(tmp / "identities.db"), "rate_limit": {"pair_burst": 50}},
        "api": {"host": "127.0.0.1", "port": 0},
        **extra,
    }


def credential(name: str, **kw: Any) -> str:
    """A credential as `wardgate token issue` makes for a configured identity."""
    groups, kind, _ = IDENTITIES[name]
    return issue_token(KEY.encode(), name, kw.pop("ttl", 600), groups=groups, kind=kind, **kw)


class Api:
    """The API server on its own uvloop thread; `call` runs a coroutine there."""

    def __init__(self, config: GatewayConfig, tmp: Path, routers: Any = ()) -> None:
        self.config = config
        self.tmp = tmp
        self.now: float | None = None  # set to move the approvals clock
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.approvals: Approvals = self.call(self._open())
        app = api_from_config(config, self.approvals, routers=routers)
        self.server = self.call(start_api(config, app))
        scheme = "https" if config.tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.port}"

    async def _open(self) -> Approvals:
        store = await ReviewStore.open(f"sqlite+aiosqlite:///{self.tmp / 'reviews.db'}")
        return Approvals(store, clock=self._clock, poll_interval=0.05)

    def _clock(self) -> float:
        return time.time() if self.now is None else self.now

    def call(self, coro: Any, timeout: float = 30) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def review(self, requester: str = "alice", **kw: Any) -> Review:
        fields: dict[str, Any] = {
            "requester": requester,
            "connection": "shop",
            "statement": "DELETE FROM orders WHERE id = $1",
            "parameters": (str(time.time_ns()),),  # a new statement each time: a new review
            "rules": ("prod-deletes",),
            "approvers": ("dba",),
            "reason": "ticket OPS-1",
            **kw,
        }
        return self.call(self.approvals.request(ReviewRequest(**fields)))

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, **kw)

    def as_(self, name: str) -> httpx.Client:
        return self.client(credential(name))

    def identity_store(self) -> IdentityStore:
        path = self.config.auth.store
        assert path is not None
        return IdentityStore(path)

    def stop(self) -> None:
        try:
            self.call(self.server.aclose())
            self.call(self.approvals.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            self.loop.close()


@contextmanager
def running_api(tmp: Path, routers: Any = (), **extra: Any) -> Iterator[Api]:
    api = Api(GatewayConfig.model_validate(raw_config(tmp, **extra)), tmp, routers)
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path) as running:
        yield running


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["reviews"]]


def basic(name: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()}


# --- reading ----------------------------------------------------------------------------------


def test_reviews_are_visible_to_requester_and_approvers_only(api: Api) -> None:
    mine = api.review("alice")
    for_security = api.review("alice", approvers=("security",))
    other = api.review("eve")
    with api.as_("alice") as alice, api.as_("dana") as dana, api.as_("sam") as sam:
        assert ids(alice.get("/v1/reviews")) == [for_security.id, mine.id]
        assert ids(dana.get("/v1/reviews")) == [other.id, mine.id]  # dba reviews, newest first
        assert ids(sam.get("/v1/reviews")) == [for_security.id]
        assert ids(dana.get("/v1/reviews", params={"requester": "eve"})) == [other.id]
        assert ids(dana.get("/v1/reviews", params={"limit": 1})) == [other.id]
        got = dana.get(f"/v1/reviews/{mine.id}")
        assert got.status_code == 200
        body = got.json()
        assert body["statement"] == "DELETE FROM orders WHERE id = $1"
        assert body["parameters"] == list(mine.parameters)
        assert body["rules"] == ["prod-deletes"] and body["approvers"] == ["dba"]
        assert body["status"] == "pending" and body["approvals"] == 0
        assert body["reason"] == "ticket OPS-1" and body["binding"] == mine.binding
        assert body["expires_at"] == pytest.approx(mine.expires_at)
        # Not an approver and not the requester: the review does not exist for sam.
        hidden = sam.get(f"/v1/reviews/{mine.id}")
        assert hidden.status_code == 404
        assert hidden.json() == {
            "error": f"review {mine.id} does not exist or is not visible to you"
        }
        assert sam.get("/v1/reviews/rv-00000000").status_code == 404
    with api.as_("eve") as eve:
        assert ids(eve.get("/v1/reviews")) == [other.id]


def test_status_filter_and_lapsed_reviews(api: Api) -> None:
    old = api.review("alice", expires_in=60)
    api.now = time.time() + 120  # old has lapsed; a new one is pending
    fresh = api.review("alice")
    with api.as_("dana") as dana:
        assert ids(dana.get("/v1/reviews", params={"status": "pending"})) == [fresh.id]
        assert ids(dana.get("/v1/reviews", params={"status": "expired"})) == [old.id]
        late = dana.post(f"/v1/reviews/{old.id}/approve")
        assert late.status_code == 409
        assert "expired" in late.json()["error"]
        bad = dana.get("/v1/reviews", params={"status": "sleeping"})
        assert bad.status_code == 422 and "status" in bad.json()["error"]


# --- deciding ---------------------------------------------------------------------------------


def test_approve_records_the_authenticated_approver(api: Api) -> None:
    review = api.review("alice")
    with api.as_("dana") as dana:
        done = dana.post(
            f"/v1/reviews/{review.id}/approve",
            json={"reason": "checked the ticket"},
            headers={"X-Wardgate-Via": "cli"},
        )
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["status"] == "approved" and body["approvals"] == 1
        [verdict] = body["verdicts"]
        assert verdict["approver"] == "dana" and verdict["verdict"] == "approve"
        assert verdict["via"] == "cli" and verdict["reason"] == "checked the ticket"
        assert dana.get(f"/v1/reviews/{review.id}").json()["status"] == "approved"
        again = dana.post(f"/v1/reviews/{review.id}/approve")
        assert again.status_code == 409 and "approved" in again.json()["error"]
    # The approval is the one the gateway finds and may run, once.
    assert api.call(api.approvals.consume(review.id, review.binding)).status == "executed"


def test_several_approvals_and_no_double_vote(api: Api) -> None:
    review = api.review("alice", approvals=2)
    federated = issue_token(KEY.encode(), "olivia@example.com", 600, groups=("dba",), kind="human")
    with api.as_("dana") as dana, api.client(federated) as olivia:
        first = dana.post(f"/v1/reviews/{review.id}/approve")
        assert first.status_code == 200 and first.json()["status"] == "pending"
        assert first.json()["approvals"] == 1
        twice = dana.post(f"/v1/reviews/{review.id}/approve")
        assert twice.status_code == 409 and "already decided" in twice.json()["error"]
        second = olivia.post(f"/v1/reviews/{review.id}/approve", json={})
        assert second.status_code == 200, second.text
        assert second.json()["status"] == "approved"
        approvers = [v["approver"] for v in second.json()["verdicts"]]
        assert approvers == ["dana", "olivia@example.com"]


def test_nobody_decides_their_own_review(api: Api) -> None:
    own = api.review("dana")  # dana is in dba, the approver group
    with api.as_("dana") as dana:
        for verdict, body in (("approve", {}), ("reject", {"reason": "no"})):
            refused = dana.post(f"/v1/reviews/{own.id}/{verdict}", json=body)
            assert refused.status_code == 403
            assert refused.json() == {"error": "nobody may decide a review of their own statement"}
    # An agent's review is the person's own too, whoever the agent is.
    for_dana = api.review("report-bot", requester_kind="agent", on_behalf_of="dana")
    with api.as_("dana") as dana:
        assert dana.get(f"/v1/reviews/{for_dana.id}").status_code == 200
        assert dana.post(f"/v1/reviews/{for_dana.id}/approve").status_code == 403
    assert api.call(api.approvals.get(own.id)).status == "pending"


def test_non_approvers_cannot_decide(api: Api) -> None:
    review = api.review("alice")
    with api.as_("eve") as eve, api.as_("sam") as sam:
        for client in (eve, sam):
            refused = client.post(f"/v1/reviews/{review.id}/approve")
            assert refused.status_code == 404  # not theirs to see, so not theirs to decide
    assert api.call(api.approvals.get(review.id)).verdicts == ()


def test_rejection_needs_a_reason(api: Api) -> None:
    review = api.review("alice")
    with api.as_("dana") as dana:
        url = f"/v1/reviews/{review.id}/reject"
        missing = dana.post(url)
        assert missing.status_code == 422 and "required" in missing.json()["error"]
        assert dana.post(url, json={}).status_code == 422
        blank = dana.post(url, json={"reason": "   "})
        assert blank.status_code == 422
        assert blank.json() == {"error": "a rejection needs a reason"}
        extra = dana.post(url, json={"reason": "x", "approve": True})
        assert extra.status_code == 422
        assert dana.get(f"/v1/reviews/{review.id}").json()["status"] == "pending"
        done = dana.post(url, json={"reason": "no ticket for this"})
        assert done.status_code == 200
        assert done.json()["status"] == "rejected"
        assert done.json()["verdicts"][0]["reason"] == "no ticket for this"
        late = dana.post(f"/v1/reviews/{review.id}/approve")
        assert late.status_code == 409 and "rejected" in late.json()["error"]


def test_only_the_requester_cancels(api: Api) -> None:
    review = api.review("alice")
    with api.as_("dana") as dana, api.as_("alice") as alice:
        refused = dana.post(f"/v1/reviews/{review.id}/cancel", json={"reason": "mine now"})
        assert refused.status_code == 403
        assert refused.json() == {"error": f"only alice may cancel review {review.id}"}
        done = alice.post(f"/v1/reviews/{review.id}/cancel", json={"reason": "wrong table"})
        assert done.status_code == 200
        assert done.json()["status"] == "cancelled"
        assert done.json()["verdicts"][-1]["reason"] == "wrong table"
        again = alice.post(f"/v1/reviews/{review.id}/cancel")
        assert again.status_code == 409 and "cancelled" in again.json()["error"]


def test_via_is_restricted_to_an_allow_list(api: Api) -> None:
    review = api.review("alice")
    with api.as_("dana") as dana:
        url = f"/v1/reviews/{review.id}/approve"
        forged = dana.post(url, headers={"X-Wardgate-Via": "slack"})
        assert forged.status_code == 422 and "X-Wardgate-Via" in forged.json()["error"]
        assert dana.post(url).json()["verdicts"][0]["via"] == "api"  # the default


# --- who may call -----------------------------------------------------------------------------


def test_agents_and_services_read_and_cancel_but_never_decide(api: Api) -> None:
    _, key = api.identity_store().create("report-bot", kind="agent", owner="alice", groups=("dba",))
    theirs = api.review("report-bot", requester_kind="agent", on_behalf_of="alice")
    someone_elses = api.review("alice")
    with api.client() as anonymous:
        listed = anonymous.get("/v1/reviews", headers=basic("report-bot", key))
        assert set(ids(listed)) == {theirs.id, someone_elses.id}  # dba: it may look
        refused = anonymous.post(
            f"/v1/reviews/{someone_elses.id}/approve", headers=basic("report-bot", key)
        )
        assert refused.status_code == 403
        assert refused.json() == {"error": "only people decide reviews, not the agent report-bot"}
        bare = anonymous.get("/v1/reviews", headers={"Authorization": f"Bearer {key}"})
        assert bare.status_code == 401 and "name" in bare.json()["error"]
        as_bearer = anonymous.get(
            "/v1/reviews", headers={"Authorization": f"Bearer report-bot:{key}"}
        )
        assert as_bearer.status_code == 200
        wrong_name = anonymous.get("/v1/reviews", headers=basic("alice", key))
        assert wrong_name.status_code == 401
        cancelled = anonymous.post(
            f"/v1/reviews/{theirs.id}/cancel", headers=basic("report-bot", key)
        )
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    ci_token = issue_token(KEY.encode(), "ci", 600)  # a plain token of a token identity
    with api.client(ci_token) as ci:
        assert someone_elses.id in ids(ci.get("/v1/reviews"))
        refused = ci.post(f"/v1/reviews/{someone_elses.id}/approve")
        assert refused.status_code == 403 and "service ci" in refused.json()["error"]
    api.identity_store().revoke("report-bot")
    with api.client() as anonymous:
        revoked = anonymous.get("/v1/reviews", headers=basic("report-bot", key))
        assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]


def _tampered(token: str) -> str:
    prefix, payload, signature = token.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    return f"{prefix}.{flipped}.{signature}"


BAD_CREDENTIALS: list[tuple[str, Any, str]] = [
    ("expired", lambda: credential("dana", now=time.time() - 1200), "expired"),
    ("tampered", lambda: _tampered(credential("dana")), "signature"),
    (
        "other key",
        lambda: issue_token(b"another-key-0123456789", "dana", 600, groups=("dba",), kind="human"),
        "signature",
    ),
    ("too long-lived", lambda: credential("dana", ttl=MAX_TTL + 60), "maximum"),
    # A plain token works only for `auth: token` identities.
    ("plain token of a SCRAM identity", lambda: issue_token(KEY.encode(), "dana", 600), "plain"),
    # A credential naming a configured identity must carry exactly its groups and kind: an OIDC
    # sign-in under the same name (or one from before a group change) borrows nothing.
    (
        "other groups than the config",
        lambda: issue_token(KEY.encode(), "eve", 600, groups=("eng", "dba"), kind="human"),
        "configuration",
    ),
    (
        "other kind than the config",
        lambda: issue_token(KEY.encode(), "dana", 600, groups=("dba",), kind="agent"),
        "configuration",
    ),
    ("not a credential", lambda: "hunter2", "not a credential"),
    ("API key without a name", lambda: "wga_" + "0" * 12 + "_" + "0" * 64, "name"),
    ("Basic user mismatch", lambda: "eve:" + credential("dana"), "another user"),
]


@pytest.mark.parametrize(
    "make, why", [c[1:] for c in BAD_CREDENTIALS], ids=[c[0] for c in BAD_CREDENTIALS]
)
def test_bad_credentials_are_refused(api: Api, make: Any, why: str) -> None:
    review = api.review("alice")
    token = make()
    with api.client() as http:
        for method, url in (
            ("GET", "/v1/reviews"),
            ("GET", f"/v1/reviews/{review.id}"),
            ("POST", f"/v1/reviews/{review.id}/approve"),
        ):
            answer = http.request(method, url, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 401, answer.text
            assert why in answer.json()["error"]
            assert answer.headers["www-authenticate"].startswith("Bearer")
    assert api.call(api.approvals.get(review.id)).verdicts == ()


def test_missing_credentials_are_refused(api: Api) -> None:
    review = api.review("alice")
    with api.client() as http:
        for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Digest abc"}):
            answer = http.post(f"/v1/reviews/{review.id}/approve", headers=headers)
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"] == 'Bearer realm="wardgate"'
            assert "Authorization" in answer.json()["error"]
        bad_basic = http.get("/v1/reviews", headers={"Authorization": "Basic !!!"})
        assert bad_basic.status_code == 401


def test_federated_users_only_where_the_gateway_federates(api: Api, tmp_path: Path) -> None:
    outsider = issue_token(KEY.encode(), "olivia@example.com", 600, groups=("dba",), kind="human")
    with api.client(outsider) as http:  # auth.store is set: the gateway federates
        assert http.get("/v1/reviews").status_code == 200
    no_agent = issue_token(KEY.encode(), "olivia@example.com", 600)  # no kind and groups
    with api.client(no_agent) as http:
        refused = http.get("/v1/reviews")
        assert refused.status_code == 401 and "signed-in person" in refused.json()["error"]
    (tmp_path / "local").mkdir()
    with running_api(tmp_path / "local", auth={}) as local:  # configured identities only
        with local.client(outsider) as http:
            refused = http.get("/v1/reviews")
            assert refused.status_code == 401 and "unknown identity" in refused.json()["error"]
        with local.as_("dana") as dana:
            assert dana.get("/v1/reviews").status_code == 200


def test_revoked_credentials_are_refused(api: Api) -> None:
    store = api.identity_store()
    by_id, by_user, other = credential("dana"), credential("sam"), credential("alice")
    for token in (by_id, by_user, other):
        with api.client(token) as http:
            assert http.get("/v1/reviews").status_code == 200
    from wardgate.identity.tokens import verify_token

    tok = verify_token(KEY.encode(), by_id, max_ttl=MAX_TTL)
    store.revoke_credential(tok.token_id, expires_at=tok.expires_at)
    store.revoke_user_credentials("sam")
    for token in (by_id, by_user):
        with api.client(token) as http:
            refused = http.get("/v1/reviews")
            assert refused.status_code == 401 and "revoked" in refused.json()["error"]
    with api.client(other) as http:
        assert http.get("/v1/reviews").status_code == 200


def test_failed_sign_ins_are_limited_per_source(tmp_path: Path) -> None:
    limit = {"pair_burst": 3, "pair_per_minute": 1, "source_burst": 3, "source_per_minute": 1}
    with running_api(
        tmp_path, auth={"store": str(tmp_path / "ids.db"), "rate_limit": limit}
    ) as api:
        good = credential("dana")
        with api.client() as http:
            for _ in range(5):  # no credential at all is not a guess: not counted
                assert http.get("/v1/reviews").status_code == 401
            for _ in range(3):
                bad = http.get("/v1/reviews", headers={"Authorization": "Bearer wgt1.x.y"})
                assert bad.status_code == 401
            limited = http.get("/v1/reviews", headers={"Authorization": f"Bearer {good}"})
            assert limited.status_code == 429
            assert limited.json() == {"error": "too many failed sign-ins; try again later"}
            assert int(limited.headers["retry-after"]) >= 1


def test_no_credential_reaches_the_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    review = api.review("alice")
    good, bad = credential("dana"), _tampered(credential("sam"))
    _, key = api.identity_store().create("bot", kind="agent", owner="alice", groups=())
    with api.client() as http:
        http.get("/v1/reviews", headers={"Authorization": f"Bearer {bad}"})
        http.get("/v1/reviews", headers=basic("bot", key[:-1] + "0"))
        http.post(f"/v1/reviews/{review.id}/approve", headers={"Authorization": f"Bearer {good}"})
    assert "refused" in caplog.text  # the failures were logged...
    for secret in (good, bad, key, good.split(".")[2], key.split("_")[2][:-1]):
        assert secret not in caplog.text  # ...without the credentials


# --- the HTTP surface -------------------------------------------------------------------------


def test_openapi_document_lists_the_routes(api: Api) -> None:
    with api.client() as http:
        doc = http.get("/openapi.json").json()
        assert http.get("/docs").status_code == 404  # no CDN-loaded pages
    assert doc["info"]["title"] == "Wardgate API"
    import wardgate

    assert doc["info"]["version"] == wardgate.__version__
    paths = doc["paths"]
    assert set(paths) >= {
        "/v1/reviews",
        "/v1/reviews/{review_id}",
        "/v1/reviews/{review_id}/approve",
        "/v1/reviews/{review_id}/reject",
        "/v1/reviews/{review_id}/cancel",
    }
    assert set(paths["/v1/reviews"]) == {"get"}
    assert set(paths["/v1/reviews/{review_id}/reject"]) == {"post"}
    schemes = doc["components"]["securitySchemes"]
    assert schemes["credential"]["scheme"] == "bearer" and schemes["apiKey"]["scheme"] == "basic"
    review = doc["components"]["schemas"]["ReviewOut"]["properties"]
    assert {"statement", "parameters", "approvers", "verdicts", "status"} <= set(review)
    reject = paths["/v1/reviews/{review_id}/reject"]["post"]
    assert {"401", "403", "404", "409", "422", "429"} <= set(reject["responses"])
    assert "RejectBody" in str(reject["requestBody"])


def test_errors_are_json_and_bodies_are_bounded(api: Api) -> None:
    review = api.review("alice")
    with api.as_("dana") as dana:
        missing = dana.get("/v1/nothing-here")
        assert missing.status_code == 404 and "error" in missing.json()
        wrong_method = dana.delete(f"/v1/reviews/{review.id}")
        assert wrong_method.status_code == 405 and "error" in wrong_method.json()
        huge = dana.post(f"/v1/reviews/{review.id}/reject", json={"reason": "x" * 1_100_000})
        assert huge.status_code == 413 and huge.json() == {"error": "request body too large"}

        def chunks() -> Iterator[bytes]:
            yield b'{"reason": "'
            for _ in range(1100):
                yield b"y" * 1024
            yield b'"}'

        streamed = dana.post(
            f"/v1/reviews/{review.id}/reject",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        assert streamed.status_code == 413
        long_reason = dana.post(f"/v1/reviews/{review.id}/reject", json={"reason": "z" * 501})
        assert long_reason.status_code == 422
    assert api.call(api.approvals.get(review.id)).status == "pending"


def test_other_routers_are_included_as_they_are(tmp_path: Path) -> None:
    extra = APIRouter(prefix="/v1/hooks")

    @extra.post("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    with running_api(tmp_path, routers=[extra]) as api, api.client() as http:
        assert http.post("/v1/hooks/ping").json() == {"pong": "yes"}  # its own auth, or none
        assert "/v1/hooks/ping" in http.get("/openapi.json").json()["paths"]
        assert http.get("/v1/reviews").status_code == 401


# --- serving ----------------------------------------------------------------------------------


async def test_api_refuses_to_listen_off_loopback_without_tls(tmp_path: Path) -> None:
    config = GatewayConfig.model_validate(raw_config(tmp_path, api={"host": "0.0.0.0", "port": 0}))
    with pytest.raises(ConfigError, match="needs 'tls'"):
        await start_api(config, lambda scope, receive, send: asyncio.sleep(0))


def test_api_serves_https_with_the_gateway_certificate(tmp_path: Path) -> None:
    cert, key = self_signed_cert("wardgate api test")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    tls = {"cert": str(tmp_path / "cert.pem"), "key": str(tmp_path / "key.pem")}
    with running_api(tmp_path, tls=tls) as api:
        assert api.url.startswith("https://")
        trusting = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        with api.client(credential("dana"), verify=trusting) as https:
            assert https.get("/v1/reviews").status_code == 200
        with api.client(credential("dana")) as untrusting, pytest.raises(httpx.ConnectError):
            untrusting.get("/v1/reviews")  # the system CAs do not know this certificate
        plain = api.url.replace("https://", "http://")
        with httpx.Client(timeout=5) as http, pytest.raises(httpx.HTTPError):
            http.get(plain + "/v1/reviews")
