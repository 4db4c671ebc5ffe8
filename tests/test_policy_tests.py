"""Policy tests written in YAML: the examples' own, failures reported, SQL through an analyzer."""

from __future__ import annotations

import textwrap
from pathlib import Path

from wardgate.policy import Analyzed, Facts, Ref, load_policy, run_policy_tests

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "policies"


def test_example_policies_own_tests_pass() -> None:
    policy = load_policy(EXAMPLES)
    results = run_policy_tests(policy)
    assert len(results) >= 16
    assert [(r.file, r.name, r.failures) for r in results if not r.passed] == []
    groups = {r.decision.rules[0].split("-")[0] for r in results if r.decision and r.decision.rules}
    assert {"analysts", "engineers", "dbas", "agents"} <= groups


def test_failures_are_reported(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        textwrap.dedent(
            """\
            rules:
              - {id: r, match: {statement_kinds: [read]}, effect: allow}
            tests:
              - name: wrong on purpose
                identity: {name: u}
                facts: {kinds: [read], objects: [s.t]}
                expect: {effect: deny, rules: [other], read_only: false, row_limit: 5,
                         mask: [{entities: [email], operator: redact}], message_contains: nope}
              - name: needs sql
                identity: {name: u}
                sql: SELECT 1
                expect: {effect: allow}
            """
        )
    )
    failing, sql = run_policy_tests(load_policy(tmp_path))
    assert (failing.file, failing.line, failing.passed) == ("p.yaml", 4, False)
    assert [f.split(":")[0] for f in failing.failures] == [
        "effect",
        "rules",
        "mask",
        "read_only",
        "row_limit",
        "message",
    ]
    assert not sql.passed and "no analyzer" in sql.failures[0]


def test_sql_cases_use_the_injected_analyzer(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        textwrap.dedent(
            """\
            rules:
              - {id: r, match: {objects: [shop.orders], statement_kinds: [read]}, effect: allow}
            tests:
              - {name: ok, identity: {name: u}, sql: "SELECT * FROM shop.orders",
                 expect: {effect: allow, rules: [r]}}
              - {name: other, identity: {name: u}, sql: "SELECT * FROM shop.customers",
                 expect: {effect: deny}}
            """
        )
    )

    def tiny_analyzer(sql: str) -> Analyzed:
        schema, name = sql.rsplit(" ", 1)[1].split(".")
        ref = Ref(schema=schema, name=name)
        return Analyzed(statements=(Facts(kinds=frozenset({"read"}), text=sql, objects=(ref,)),))

    results = run_policy_tests(load_policy(tmp_path), analyze=tiny_analyzer)
    assert [r.passed for r in results] == [True, True]


def test_examples_with_the_real_analyzer() -> None:
    """The example policy decides real SQL as its facts-based tests say (wardgate.sql.analyze)."""
    from wardgate.policy import Connection, Identity, decide
    from wardgate.sql import analyze

    policy = load_policy(EXAMPLES)
    shop = Connection(name="shop", tags={"env": "dev"})
    agent = Identity(name="agent-7", groups=frozenset({"agents"}), kind="agent")
    bob = Identity(name="bob", groups=frozenset({"engineers"}))
    cases = [
        (agent, "SELECT count(*) FROM shop.orders o JOIN shop.products p ON true", "allow"),
        (agent, "SELECT * FROM shop.customers", "deny"),
        (agent, "WITH d AS (DELETE FROM shop.orders RETURNING *) SELECT * FROM d", "deny"),
        (bob, "UPDATE shop.orders SET status = 'x' WHERE id = 1", "review"),
        (bob, "DELETE FROM shop.orders", "deny"),
        (bob, "DROP TABLE shop.orders", "deny"),
        (bob, "SELEC oops", "deny"),
    ]
    got = [(sql, decide(policy, who, shop, analyze(sql)).effect) for who, sql, _ in cases]
    assert got == [(sql, effect) for _, sql, effect in cases]
