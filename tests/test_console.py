"""The web console in a real browser (Debian's chromium, driven by Playwright) against a real
gateway: an engineer's held UPDATE is approved by a DBA clicking Approve, and then runs; the
engineer cannot approve their own; forms need the session's CSRF token; statement text is shown,
never interpreted; an expired credential ends the session."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from conftest import Upstream
from console_support import sign_in
from harness import RunningGateway
from review_support import (
    HeldClient,
    balance,
    create_accounts,
    pending_review,
    reset,
    review_gateway,
    review_policy,
)
from wardgate.identity.tokens import issue_token

KEY = "console-test-signing-key-0123456789"
KEY_ENV = "WARDGATE_TEST_CONSOLE_KEY"
GROUPS = {"tester": ("engineers",), "other": ("dbas",)}


def credential(name: str, ttl: int = 600) -> str:
    return issue_token(KEY.encode(), name, ttl, groups=GROUPS[name], kind="human")


@pytest.fixture(scope="module")
def console_gw(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    os.environ[KEY_ENV] = KEY
    create_accounts(upstream)
    directory = tmp_path_factory.mktemp("console")
    policy = review_policy(preview="count")
    policy["access"] = [
        {
            "role": "writer",
            "description": "a write window",
            "connections": ["shop"],
            "requesters": ["engineers"],
            "approvers": ["dbas"],
            "max_duration": 3600,
        }
    ]
    extra = {
        "tokens": {"signing_key": f"env:{KEY_ENV}", "max_ttl": 3600},
        "api": {"host": "127.0.0.1", "port": 0},
    }
    with review_gateway(upstream, directory, policy, **extra) as gw:
        assert gw.gateway.api is not None
        yield gw, f"http://127.0.0.1:{gw.gateway.api.port}"


def hold(gw: RunningGateway, sql: str) -> HeldClient:
    client = HeldClient(gw.dsn(user="tester"), sql)
    client.start()
    return client


def test_a_dba_approves_in_the_browser_and_the_held_update_runs(
    console_gw: Any, browser: Browser, upstream: Upstream
) -> None:
    gw, url = console_gw
    reset(upstream)
    held = hold(
        gw, "/* reason: OPS-12 fix balance */ UPDATE rv_accounts SET balance = 7 WHERE id = 3"
    )
    review = pending_review(gw)
    page = browser.new_page()
    page.goto(f"{url}/console/reviews")
    expect(page).to_have_url(f"{url}/console/login")  # not signed in: sent to sign in
    sign_in(page, url, credential("other"))
    expect(page).to_have_url(f"{url}/console/reviews")
    row = page.locator(f"tr[data-review='{review.id}']")
    expect(row).to_contain_text("tester")
    expect(row).to_contain_text("UPDATE rv_accounts SET balance = 7")
    row.locator("a").click()
    expect(page.locator("#statement")).to_contain_text("WHERE id = 3")
    expect(page.locator("main")).to_contain_text("OPS-12 fix balance")
    expect(page.locator("#preview")).to_contain_text("1 row", timeout=10_000)
    page.fill("#approve-reason", "checked with finance")
    page.click("button.approve")
    expect(page.locator(".notice")).to_have_text("You approved this review.")
    held.join(20)
    assert held.error is None and held.result[0] == "UPDATE 1"
    assert balance(upstream, 3) == 7
    page.reload()
    expect(page.locator(".verdicts")).to_contain_text("other approved via console")
    decided = gw.call(gw.gateway.approvals.get(review.id))
    assert [(v.approver, v.via, v.reason) for v in decided.verdicts] == [
        ("other", "console", "checked with finance")
    ]
    page.close()


def test_the_requester_cannot_approve_their_own_but_can_withdraw_it(
    console_gw: Any, browser: Browser, upstream: Upstream
) -> None:
    gw, url = console_gw
    held = hold(gw, "UPDATE rv_accounts SET balance = 1 WHERE id = 4")
    review = pending_review(gw)
    page = browser.new_page()
    sign_in(page, url, credential("tester"))
    page.goto(f"{url}/console/reviews/{review.id}")
    page.click("button.approve")
    expect(page.locator(".error")).to_contain_text("own")
    assert gw.call(gw.gateway.approvals.get(review.id)).status == "pending"
    page.click("text=Withdraw my request")
    expect(page.locator(".notice")).to_have_text("You withdrew this request.")
    held.join(20)
    assert held.error is not None and "cancelled" in str(held.error)
    assert balance(upstream, 4) == 100
    page.close()


def test_statement_text_is_shown_never_run_as_markup(
    console_gw: Any, browser: Browser, upstream: Upstream
) -> None:
    gw, url = console_gw
    sql = "UPDATE rv_accounts SET balance = 2 WHERE id = 5 /* <img src=x onerror=alert(1)> */"
    held = hold(gw, sql)
    review = pending_review(gw)
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, url, credential("other"))
    page.goto(f"{url}/console/reviews/{review.id}")
    expect(page.locator("#statement")).to_contain_text("<img src=x onerror=alert(1)>")
    assert page.locator("main img").count() == 0 and dialogs == []
    page.fill("#reject-reason", "not today")
    page.click("button.reject")
    expect(page.locator(".notice")).to_have_text("You rejected this review.")
    held.join(20)
    assert held.error is not None and "not today" in str(held.error)
    page.close()


def test_access_is_asked_for_approved_and_revoked_in_the_browser(
    console_gw: Any, browser: Browser
) -> None:
    gw, url = console_gw
    engineer = browser.new_page()
    sign_in(engineer, url, credential("tester"))
    engineer.click("text=Access")
    expect(engineer.locator("#role")).to_contain_text("writer (shop): a write window")
    engineer.fill("#connection", "shop")
    engineer.fill("#duration", "3h")  # longer than the policy allows
    engineer.fill("#reason", "OPS-9 backfill")
    engineer.click("#ask button[type=submit]")
    expect(engineer.locator(".error")).to_be_visible()
    engineer.fill("#connection", "shop")
    engineer.fill("#duration", "30m")
    engineer.fill("#reason", "OPS-9 backfill")
    engineer.click("#ask button[type=submit]")
    expect(engineer.locator(".notice")).to_have_text("Your request was recorded.")
    grant_id = engineer.url.split("/console/grants/")[1].split("?")[0]
    engineer.click("button.approve")  # their own: refused by the model
    expect(engineer.locator(".error")).to_contain_text("own")

    dba = browser.new_page()
    sign_in(dba, url, credential("other"))
    dba.goto(f"{url}/console/grants")
    row = dba.locator(f"tr[data-grant='{grant_id}']")
    expect(row).to_contain_text("writer")
    expect(row).to_contain_text("30 min")
    row.locator("a").click()
    dba.click("button.approve")
    expect(dba.locator(".notice")).to_have_text("You approved this grant.")
    expect(dba.locator("h1 .status")).to_have_text("active")
    grant = gw.call(gw.gateway.approvals.get_grant(grant_id))
    assert grant.status == "active" and grant.verdicts[-1].via == "console"

    engineer.goto(f"{url}/console/grants/{grant_id}")
    engineer.click("text=Revoke now")
    expect(engineer.locator(".notice")).to_have_text("The grant was revoked.")
    assert gw.call(gw.gateway.approvals.get_grant(grant_id)).status == "revoked"
    engineer.close()
    dba.close()


def test_an_expired_credential_ends_the_session(console_gw: Any, browser: Browser) -> None:
    _, url = console_gw
    page = browser.new_page()
    sign_in(page, url, credential("other", ttl=2))
    expect(page).to_have_url(f"{url}/console/reviews")
    time.sleep(2.5)
    page.reload()
    expect(page.locator(".error")).to_contain_text("Signed out")
    page.goto(f"{url}/console/reviews")
    expect(page).to_have_url(f"{url}/console/login")
    page.close()


def test_forms_need_the_session_token_and_this_origin(console_gw: Any) -> None:
    """Without a browser: what a forged cross-site POST would look like is refused, the cookie
    is HttpOnly and SameSite=Strict, a bad credential is refused, and pages forbid scripts."""
    gw, url = console_gw
    with httpx.Client(base_url=url, follow_redirects=False, timeout=10) as web:
        bad = web.post("/console/login", data={"credential": "wgt1.nonsense"})
        assert bad.status_code == 401 and "Not signed in" in bad.text
        signed = web.post("/console/login", data={"credential": credential("other")})
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
        page = web.get("/console/reviews")
        assert page.status_code == 200
        assert "script-src" not in page.headers["content-security-policy"]
        assert "default-src 'none'" in page.headers["content-security-policy"]
        held = hold(gw, "UPDATE rv_accounts SET balance = 3 WHERE id = 6")
        review = pending_review(gw)
        no_token = web.post(f"/console/reviews/{review.id}/approve", data={"reason": ""})
        assert no_token.status_code == 403
        detail = web.get(f"/console/reviews/{review.id}").text
        token = detail.split('name="csrf" value="')[1].split('"')[0]
        elsewhere = web.post(
            f"/console/reviews/{review.id}/approve",
            data={"csrf": token},
            headers={"Origin": "https://evil.example"},
        )
        assert elsewhere.status_code == 403
        assert gw.call(gw.gateway.approvals.get(review.id)).status == "pending"
        ok = web.post(f"/console/reviews/{review.id}/approve", data={"csrf": token})
        assert ok.status_code == 303
        held.join(20)
        assert held.error is None
        out = web.post("/console/logout", data={"csrf": token})
        assert out.status_code == 303
        assert web.get("/console/reviews").headers["location"] == "/console/login"


def test_one_person_signing_in_over_and_over_cannot_push_others_out() -> None:
    from wardgate.api._console_web import MAX_SESSIONS_EACH, ConsoleSessions

    sessions = ConsoleSessions()
    reviewer, _ = sessions.open("dana", "cred-dana")
    for _ in range(MAX_SESSIONS_EACH * 50):
        sessions.open("mallory", "cred-mallory")
    assert sessions.get(reviewer) is not None
    assert len(sessions) == MAX_SESSIONS_EACH + 1


def test_invisible_and_direction_changing_characters_are_shown() -> None:
    from wardgate.api._console_web import shown_literally

    shown = shown_literally("DELETE FROM t /*\u202e*/ WHERE\u200b id = 1\nAND x")
    assert "\u202e" not in shown and "\u200b" not in shown
    assert "U+202E" in shown and "U+200B" in shown and "\nAND x" in shown


def test_a_non_ascii_form_token_is_refused_not_an_error(console_gw: Any) -> None:
    _, url = console_gw
    with httpx.Client(base_url=url, follow_redirects=False, timeout=10) as web:
        assert web.post("/console/login", data={"credential": credential("other")}).is_redirect
        assert web.post("/console/logout", data={"csrf": "\u00e9t\u00e9"}).status_code == 403


def test_a_full_store_of_started_sign_ins_refuses_new_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Starts are anonymous: when the store is full of unexpired ones, new starts are refused
    instead of evicting other people's sign-ins in flight; one source cannot fill it alone."""
    from wardgate.api import _console_oidc as oidc

    monkeypatch.setattr(oidc, "_MAX_PENDING", 30)
    pending = oidc._PendingLogins()

    def start(source: str, state: str) -> bool:
        return pending.add(state, oidc._Pending(source, "v", "n", "r", time.monotonic()))

    assert start("10.0.0.1", "victim")
    for i in range(200):  # one source: capped at its own share
        assert start("10.9.9.9", f"a{i}")
    for i in range(50):  # many sources fill the rest, then starts are refused
        start(f"10.1.{i}.1", f"b{i}")
    assert not start("10.2.0.1", "late")
    assert pending.take("victim") is not None
