"""The policy's ``access:`` section (roles for just-in-time grants) and the ``grant`` CEL fact."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from wardgate.policy import PolicyLoadError, load_policy, run_policy_tests
from wardgate.sql import analyze

POLICY = textwrap.dedent(
    """
    rules:
      - id: eng-read
        match: {groups: [engineers], statement_kinds: [read]}
        effect: allow
      - id: eng-write-on-grant
        match: {groups: [engineers], statement_kinds: [write], when: "'write' in grant.roles"}
        effect: allow
    access:
      - role: write
        connections: ["prod-*"]
        requesters: [engineers]
        approvers: [dbas]
        max_duration: 1800
    tests:
      - name: no grant, no write
        identity: {name: bob, groups: [engineers]}
        connection: {name: prod-eu}
        sql: DELETE FROM shop.orders WHERE id = 1
        expect: {effect: deny}
      - name: a write grant allows it
        identity: {name: bob, groups: [engineers], grants: [write]}
        connection: {name: prod-eu}
        sql: DELETE FROM shop.orders WHERE id = 1
        expect: {effect: allow, rules: [eng-write-on-grant]}
    """
)


def test_access_roles_load_and_grant_facts_decide(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(POLICY)
    policy = load_policy(tmp_path)
    spec = policy.access_role("write", "prod-eu")
    assert spec is not None and spec.max_duration == 1800 and spec.approvers == ("dbas",)
    assert policy.access_role("write", "staging") is None  # connection glob
    assert policy.access_role("admin", "prod-eu") is None
    results = run_policy_tests(policy, analyze)
    assert [r.failures for r in results] == [(), ()]


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("{role: write, approvers: [dbas]}", "requesters"),
        ("{role: write, requesters: [e], approvers: []}", "approvers"),
        ("{role: write, requesters: [e], approvers: [d], max_duration: 10}", "max_duration"),
        ("{role: write, requesters: [e], approvers: [d], colour: red}", "colour"),
    ],
)
def test_broken_access_entries_are_load_errors(tmp_path: Path, entry: str, fragment: str) -> None:
    (tmp_path / "p.yaml").write_text(f"access:\n  - {entry}\n")
    with pytest.raises(PolicyLoadError, match=fragment):
        load_policy(tmp_path)
