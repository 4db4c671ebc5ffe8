"""Signing in to the console through a real OIDC provider (oidc-provider-mock on loopback), in
Debian's chromium: the person picks their account at the provider, comes back signed in with
their mapped groups, and can decide a review their group approves. A callback the browser did
not start, a denied sign-in and a replayed callback are refused."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, expect

from conftest import Upstream
from console_support import sign_in
from harness import running_gateway
from identity_support import identity_config, running_provider
from review_support import HeldClient, create_accounts, pending_review, review_policy

# The provider (oidc-provider-mock on Authlib) warns about Authlib's own deprecations.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:oidc_provider_mock.*"),
]


@pytest.fixture(scope="module")
def oidc_gw(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("console-oidc")
    create_accounts(upstream)
    policy = review_policy()
    for rule in policy["rules"]:
        if rule["effect"] == "review":
            rule["review"]["approvers"] = ["dba"]  # alice's db-admins, mapped
    policy_dir = tmp / "policy"
    policy_dir.mkdir()
    (policy_dir / "rules.yaml").write_text(yaml.safe_dump(policy))
    with running_provider() as provider:
        raw = identity_config(upstream, tmp, provider)
        raw["policy_dir"] = str(policy_dir)
        raw["api"] = {"host": "127.0.0.1", "port": 0}
        raw["identities"] = [
            {**i, "groups": ["engineers"] if i["name"] == "tester" else []}
            for i in raw["identities"]
        ]
        with running_gateway(raw) as gw:
            assert gw.gateway.api is not None
            yield gw, f"http://127.0.0.1:{gw.gateway.api.port}"


def test_a_person_signs_in_at_the_provider_and_approves(oidc_gw: Any, browser: Browser) -> None:
    gw, url = oidc_gw
    held = HeldClient(gw.dsn(user="tester"), "UPDATE rv_accounts SET balance = 5 WHERE id = 8")
    held.start()
    review = pending_review(gw)
    page = browser.new_page()
    page.goto(f"{url}/console/login")
    page.click("#oidc")
    page.click("button[name=sub][value=alice]")  # the provider's account picker
    expect(page).to_have_url(f"{url}/console/reviews")
    expect(page.locator("header .who")).to_contain_text("alice@example.com")
    expect(page.locator("header .who")).to_contain_text("dba")
    page.click(f"tr[data-review='{review.id}'] a")
    page.click("button.approve")
    expect(page.locator(".notice")).to_have_text("You approved this review.")
    held.join(20)
    assert held.error is None and held.result[0] == "UPDATE 1"
    decided = gw.call(gw.gateway.approvals.get(review.id))
    assert [(v.approver, v.via) for v in decided.verdicts] == [("alice@example.com", "console")]
    page.close()


def test_a_callback_this_browser_did_not_start_is_refused(oidc_gw: Any, browser: Browser) -> None:
    """A login forged into someone's browser: the attacker starts a sign-in, and sends the
    victim the provider's redirect back. The victim's browser holds no matching state."""
    _, url = oidc_gw
    with httpx.Client(timeout=10) as attacker:
        started = attacker.get(f"{url}/console/oidc/start")
        assert started.status_code == 303
        at_provider = started.headers["location"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the provider's Authlib deprecations
            back = attacker.post(at_provider, data={"sub": "bob"})
        assert back.status_code == 302
        callback = back.headers["location"]
        assert callback.startswith(f"{url}/console/oidc/callback?")
        victim = browser.new_context()
        v = victim.new_page()
        v.goto(callback)
        expect(v.locator(".error")).to_contain_text("not started in this browser")
        v.goto(f"{url}/console/reviews")
        expect(v).to_have_url(f"{url}/console/login")
        victim.close()
        # The attacker's own client cannot use it now either: the crossed callback spent it.
        again = attacker.get(callback)
        assert again.status_code == 400 and "expired or was already used" in again.text
        assert "wardgate_console" not in again.headers.get("set-cookie", "")


def test_a_denied_sign_in_and_a_pasted_credential_path_still_work(
    oidc_gw: Any, browser: Browser
) -> None:
    _, url = oidc_gw
    page = browser.new_page()
    page.goto(f"{url}/console/login")
    page.click("#oidc")
    page.click("button[value=deny]")
    expect(page.locator(".error")).to_contain_text("did not sign you in")
    sign_in(page, url, "wgt1.not-a-credential")
    expect(page.locator(".error")).to_contain_text("Not signed in")
    page.close()


def test_the_provider_error_text_is_not_shown(oidc_gw: Any) -> None:
    """Anyone can put text into the callback URL: the page says a fixed sentence."""
    _, url = oidc_gw
    lure = "Paste your credential at evil.example"
    page = httpx.get(f"{url}/console/oidc/callback", params={"error": lure})
    assert page.status_code == 401 and "did not sign you in" in page.text
    assert lure not in page.text and "evil.example" not in page.text
