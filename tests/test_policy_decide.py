"""Decisions: precedence, default deny, matching fields, CEL semantics, guardrails, masks."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from wardgate.policy import (
    Analyzed,
    Connection,
    Decision,
    Facts,
    Identity,
    Policy,
    Ref,
    decide,
    load_policy,
)

ALICE = Identity(name="alice", groups=frozenset({"analysts"}))
BOB = Identity(name="bob", groups=frozenset({"engineers"}))
AGENT = Identity(name="agent-7", groups=frozenset({"agents"}), kind="agent")
DEV = Connection(name="shop", tags={"env": "dev"})
PROD = Connection(name="shop-prod", tags={"env": "prod", "region": "eu"})


def policy_from(tmp_path: Path, text: str) -> Policy:
    (tmp_path / "p.yaml").write_text(textwrap.dedent(text))
    return load_policy(tmp_path)


def read(*objects: str, **extra: Any) -> Facts:
    refs = tuple(Ref(schema=o.split(".")[0] or None, name=o.split(".")[1]) for o in objects)
    return Facts(kinds=frozenset({"read"}), command="SELECT", objects=refs, **extra)


def write(*objects: str, command: str = "UPDATE", **extra: Any) -> Facts:
    refs = tuple(Ref(schema=o.split(".")[0], name=o.split(".")[1], access="write") for o in objects)
    return Facts(kinds=frozenset({"write"}), command=command, objects=refs, **extra)


def one(*statements: Facts) -> Analyzed:
    return Analyzed(statements=statements)


RULES = """
rules:
  - id: read-all
    match: {statement_kinds: [read]}
    effect: allow
    mask: [{columns: ["*.email"], operator: tokenize}]
    guardrails: {row_limit: 5000, statement_timeout_ms: 30000}
  - id: analysts-limit
    match: {groups: [analysts], statement_kinds: [read]}
    effect: allow
    mask: [{entities: [phone], operator: partial}, {columns: ["*.email"], operator: tokenize}]
    guardrails: {row_limit: 100}
  - id: engineers-write
    match: {groups: [engineers], statement_kinds: [write]}
    effect: review
    review: {approvers: [dbas], approvals: 2, grant_ttl: 600}
    guardrails: {deny_unbounded_writes: true}
  - id: prod-writes-eu
    match: {connection_tags: {env: prod, region: eu}, statement_kinds: [write]}
    effect: review
    review: {approvers: [security]}
  - id: no-secrets
    match: {objects: ["*.api_tokens"]}
    effect: deny
    message: secrets are off limits
  - id: agents-orders
    match: {kinds_of_identity: [agent], objects: ["shop.orders", "shop.prod*"]}
    effect: allow
  - id: only-bob
    match: {users: [bob], commands: ["alter system"]}
    effect: allow
  - id: unparsable-eng
    match: {groups: [engineers], unparsable: true}
    effect: allow
"""

CASES: list[tuple[str, Identity, Connection, Analyzed, str, set[str]]] = [
    (
        "read allowed by two rules",
        ALICE,
        DEV,
        one(read("shop.orders")),
        "allow",
        {"read-all", "analysts-limit"},
    ),
    ("default deny for unmatched kind", ALICE, DEV, one(write("shop.orders")), "deny", set()),
    (
        "deny beats allow",
        ALICE,
        DEV,
        one(read("shop.orders", "shop.api_tokens")),
        "deny",
        {"no-secrets"},
    ),
    ("review beats allow", BOB, DEV, one(write("shop.orders")), "review", {"engineers-write"}),
    (
        "all tags must match",
        BOB,
        PROD,
        one(write("shop.orders")),
        "review",
        {"engineers-write", "prod-writes-eu"},
    ),
    (
        "tags partially matching",
        BOB,
        Connection(name="x", tags={"env": "prod"}),
        one(write("shop.orders")),
        "review",
        {"engineers-write"},
    ),
    (
        "unbounded write refused by guardrail",
        BOB,
        DEV,
        one(write("shop.orders", command="DELETE", unbounded_write=True)),
        "deny",
        {"engineers-write"},
    ),
    (
        "multi-statement most restrictive",
        BOB,
        DEV,
        one(read("shop.orders"), write("shop.orders")),
        "review",
        {"engineers-write"},
    ),
    (
        "multi-statement default deny",
        ALICE,
        DEV,
        one(read("shop.orders"), write("shop.orders")),
        "deny",
        set(),
    ),
    (
        "agent objects all covered",
        AGENT,
        DEV,
        one(read("shop.orders", "shop.products")),
        "allow",
        {"agents-orders", "read-all"},
    ),
    (
        "users and commands normalised",
        BOB,
        DEV,
        one(Facts(kinds=frozenset({"admin"}), command="ALTER  SYSTEM")),
        "allow",
        {"only-bob"},
    ),
    (
        "commands do not match other users",
        ALICE,
        DEV,
        one(Facts(kinds=frozenset({"admin"}), command="ALTER SYSTEM")),
        "deny",
        set(),
    ),
    (
        "unparsable allowed explicitly",
        BOB,
        DEV,
        Analyzed(unparsable=True),
        "allow",
        {"unparsable-eng"},
    ),
    ("unparsable denied otherwise", ALICE, DEV, Analyzed(unparsable=True), "deny", set()),
]


@pytest.mark.parametrize(
    ("identity", "connection", "analysis", "effect", "rules"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decision_table(
    tmp_path: Path,
    identity: Identity,
    connection: Connection,
    analysis: Analyzed,
    effect: str,
    rules: set[str],
) -> None:
    decision = decide(policy_from(tmp_path, RULES), identity, connection, analysis)
    assert decision.effect == effect, decision.message
    assert set(decision.rules) == rules


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    return policy_from(tmp_path, RULES)


def test_default_deny_message_says_no_rule(policy: Policy) -> None:
    decision = decide(policy, ALICE, DEV, one(write("shop.orders")))
    assert "no policy rule allows" in decision.message
    assert decision.policy_version == policy.version
    assert decision.masks == () and decision.guardrails.row_limit is None


def test_deny_message_from_rule(policy: Policy) -> None:
    decision = decide(policy, ALICE, DEV, one(read("shop.api_tokens")))
    assert decision.message == "secrets are off limits"


def test_unbounded_message(policy: Policy) -> None:
    d = decide(policy, BOB, DEV, one(write("shop.orders", command="DELETE", unbounded_write=True)))
    assert "WHERE" in d.message and "DELETE" in d.message


def test_masks_union_and_strictest_guardrails(policy: Policy) -> None:
    decision = decide(policy, ALICE, DEV, one(read("shop.customers")))
    assert decision.effect == "allow"
    assert [(m.columns, m.entities, m.operator) for m in decision.masks] == [
        (("*.email",), None, "tokenize"),
        (None, ("phone",), "partial"),
    ]
    assert decision.guardrails.row_limit == 100
    assert decision.guardrails.statement_timeout_ms == 30000


def test_review_requirements_carried(policy: Policy) -> None:
    decision = decide(policy, BOB, PROD, one(write("shop.orders")))
    assert decision.effect == "review"
    assert {(r.rule, r.approvers, r.approvals, r.grant_ttl) for r in decision.reviews} == {
        ("engineers-write", ("dbas",), 2, 600),
        ("prod-writes-eu", ("security",), 1, 3600),
    }
    assert decision.guardrails.deny_unbounded_writes


def test_objects_unqualified_and_joins(tmp_path: Path) -> None:
    policy = policy_from(
        tmp_path,
        """
        rules:
          - {id: shop, match: {objects: ["shop.*"]}, effect: allow}
          - {id: any-orders, match: {objects: ["*.orders"]}, effect: allow}
          - {id: no-cust, match: {objects: ["shop.customers"]}, effect: deny}
        """,
    )
    unqualified = Facts(kinds=frozenset({"read"}), objects=(Ref(schema=None, name="items"),))
    assert decide(policy, ALICE, DEV, one(unqualified)).effect == "deny"  # shop.* needs schema
    unq_orders = Facts(kinds=frozenset({"read"}), objects=(Ref(schema=None, name="orders"),))
    assert decide(policy, ALICE, DEV, one(unq_orders)).rules == ("any-orders",)
    # a deny pattern catches an unqualified name that might resolve to it
    unq_cust = Facts(kinds=frozenset({"read"}), objects=(Ref(schema=None, name="customers"),))
    assert decide(policy, ALICE, DEV, one(unq_cust)).rules == ("no-cust",)
    # a join outside the allowed objects is not covered
    assert decide(policy, ALICE, DEV, one(read("shop.orders", "hr.salaries"))).effect == "deny"
    # function calls are not objects; schema references are (and allow rules do not cover them)
    fn = Facts(
        kinds=frozenset({"read"}),
        objects=(Ref(kind="function", schema=None, name="count", access="execute"),),
    )
    assert decide(policy, ALICE, DEV, one(fn)).effect == "allow"
    drop = Facts(kinds=frozenset({"ddl"}), objects=(Ref(kind="schema", schema=None, name="shop"),))
    assert decide(policy, ALICE, DEV, one(drop)).effect == "deny"


def test_no_statements_is_allowed(policy: Policy) -> None:
    decision = decide(policy, ALICE, DEV, Analyzed())
    assert decision.effect == "allow" and decision.rules == ()


READ_ONLY = """
rules:
  - {id: a-read, match: {groups: [a], statement_kinds: [read, utility]}, effect: allow}
  - {id: a-tx, match: {groups: [a], statement_kinds: [transaction]}, effect: allow}
  - {id: b-read, match: {groups: [b], statement_kinds: [read]}, effect: allow}
  - {id: b-write, match: {groups: [b], statement_kinds: [write]}, effect: review,
     review: {approvers: [x]}}
  - {id: c-any, match: {groups: [c], when: "statement.kinds == ['read']"}, effect: allow}
  - {id: d-deny, match: {groups: [d], statement_kinds: [write]}, effect: deny}
  - {id: e-read-prod, match: {groups: [e], statement_kinds: [read], connection_tags: {env: prod}},
     effect: allow}
  - {id: e-all-dev, match: {groups: [e], connection_tags: {env: dev}}, effect: allow}
"""


@pytest.mark.parametrize(
    ("group", "connection", "read_only"),
    [
        ("a", DEV, True),  # every allow rule restricted to read kinds
        ("b", DEV, False),  # a review rule permits writes after approval
        ("c", DEV, False),  # no statement_kinds: a condition is no proof of read-only
        ("d", DEV, False),  # nothing granted at all: no session to make read-only
        ("e", PROD, True),  # only the prod rule applies on prod
        ("e", DEV, False),
    ],
)
def test_read_only(tmp_path: Path, group: str, connection: Connection, read_only: bool) -> None:
    policy = policy_from(tmp_path, READ_ONLY)
    identity = Identity(name="u", groups=frozenset({group}))
    assert decide(policy, identity, connection, one(read("s.t"))).read_only is read_only


CEL = """
rules:
  - id: office-hours
    match: {statement_kinds: [read], when: "context.hour >= 9 && context.hour < 18"}
    effect: allow
  - id: tagged
    match: {when: "connection.tags.env == 'dev' && 'analysts' in identity.groups"}
    effect: allow
  - id: deny-big
    match: {when: "context.rows > 1000"}
    effect: deny
    message: too big
  - id: deny-admin-fn
    match: {when: "statement.functions.exists(f, f.startsWith('pg_read'))"}
    effect: deny
  - id: agent-orders-only
    match:
      kinds_of_identity: [agent]
      when: "statement.objects.all(o, o.schema == 'shop' && o.name == 'orders')"
    effect: allow
"""


@pytest.mark.parametrize(
    ("identity", "connection", "facts", "context", "effect", "rules"),
    [
        (BOB, PROD, read("s.t"), {"hour": 10, "rows": 1}, "allow", {"office-hours"}),
        (BOB, PROD, read("s.t"), {"hour": 20, "rows": 1}, "deny", set()),
        (ALICE, DEV, read("s.t"), {"hour": 20, "rows": 1}, "allow", {"tagged"}),
        (ALICE, DEV, read("s.t"), {"hour": 10, "rows": 5000}, "deny", {"deny-big"}),
        # runtime errors (missing key): allow rules do not match, deny rules do
        (ALICE, DEV, read("s.t"), {}, "deny", {"deny-big"}),
        (ALICE, DEV, read("s.t"), {"rows": 1}, "allow", {"tagged"}),
        (BOB, PROD, read("s.t"), {"rows": 1}, "deny", set()),
        # type error: comparing a string with an int fails closed the same way
        (ALICE, DEV, read("s.t"), {"hour": 10, "rows": "many"}, "deny", {"deny-big"}),
        (
            ALICE,
            DEV,
            read("s.t", functions=("pg_read_file",)),
            {"rows": 1},
            "deny",
            {"deny-admin-fn"},
        ),
        (AGENT, DEV, read("shop.orders"), {"rows": 1}, "allow", {"agent-orders-only"}),
        (AGENT, DEV, read("shop.orders", "shop.customers"), {"rows": 1}, "deny", set()),
    ],
)
def test_cel_conditions(
    tmp_path: Path,
    identity: Identity,
    connection: Connection,
    facts: Facts,
    context: dict[str, Any],
    effect: str,
    rules: set[str],
) -> None:
    decision = decide(policy_from(tmp_path, CEL), identity, connection, one(facts), context)
    assert decision.effect == effect, decision
    assert set(decision.rules) == rules


def test_cel_runtime_error_is_recorded(tmp_path: Path) -> None:
    decision: Decision = decide(policy_from(tmp_path, CEL), ALICE, DEV, one(read("s.t")), {})
    assert any("deny-big" in e for e in decision.condition_errors)
    assert any("office-hours" in e for e in decision.condition_errors)


def test_cel_non_bool_result_fails_closed(tmp_path: Path) -> None:
    policy = policy_from(
        tmp_path,
        """
        rules:
          - {id: str-allow, match: {when: "identity.name"}, effect: allow}
          - {id: str-deny, match: {when: "identity.name", statement_kinds: [write]}, effect: deny}
          - {id: w, match: {statement_kinds: [write]}, effect: allow}
        """,
    )
    assert decide(policy, ALICE, DEV, one(read("s.t"))).effect == "deny"
    assert decide(policy, ALICE, DEV, one(write("s.t"))).rules == ("str-deny",)


def test_cel_unconvertible_context_fails_closed(tmp_path: Path) -> None:
    policy = policy_from(tmp_path, CEL)
    decision = decide(policy, ALICE, DEV, one(read("s.t")), {"hour": object()})
    assert decision.effect == "deny"


def test_allow_rules_must_list_every_kind_review_and_deny_rules_any(tmp_path: Path) -> None:
    policy = policy_from(
        tmp_path,
        """\
        rules:
          - {id: reads, match: {groups: [analysts], statement_kinds: [read]}, effect: allow}
          - id: writes-reviewed
            match: {groups: [engineers], statement_kinds: [write]}
            effect: review
            review: {approvers: [dbas]}
          - id: engineers-read
            match: {groups: [engineers], statement_kinds: [read]}
            effect: allow
          - {id: no-session, match: {groups: [agents], statement_kinds: [session]}, effect: deny}
          - {id: agents-all, match: {groups: [agents]}, effect: allow}
        """,
    )
    set_config = Facts(kinds=frozenset({"read", "session"}), command="SELECT")
    # a read that also changes session state is not covered by a rule that lists only read
    assert decide(policy, ALICE, DEV, one(set_config)).effect == "deny"
    assert decide(policy, ALICE, DEV, one(read("shop.orders"))).effect == "allow"
    # INSERT ... SELECT: review applies although the statement also reads
    insert_select = Facts(kinds=frozenset({"write", "read"}), command="INSERT")
    assert decide(policy, BOB, DEV, one(insert_select)).rules == ("writes-reviewed",)
    # a deny that lists one of the kinds applies
    assert decide(policy, AGENT, DEV, one(set_config)).rules == ("no-session",)


def test_an_agent_acting_for_a_person_needs_both_allowed(tmp_path: Path) -> None:
    policy = policy_from(
        tmp_path,
        """\
        rules:
          - id: agents-read
            match: {groups: [agents], kinds_of_identity: [agent], statement_kinds: [read]}
            effect: allow
            guardrails: {row_limit: 100}
          - id: analysts-read-masked
            match: {groups: [analysts], statement_kinds: [read]}
            effect: allow
            mask: [{columns: [email], operator: tokenize}]
          - {id: engineers-write, match: {groups: [engineers]}, effect: allow}
          - id: obo-visible
            match: {groups: [agents], when: "identity.on_behalf_of == 'mallory'"}
            effect: deny
            message: not for mallory
        """,
    )
    for_alice = Identity(
        name="agent-7", groups=frozenset({"agents"}), kind="agent", on_behalf_of=ALICE
    )
    d = decide(policy, for_alice, DEV, one(read("shop.customers")))
    assert d.effect == "allow" and set(d.rules) == {"agents-read", "analysts-read-masked"}
    assert d.guardrails.row_limit == 100 and d.masks  # the agent's limit and the person's masks
    assert d.read_only
    # the agent may not write even for a person who may
    for_bob = Identity(name="agent-7", groups=frozenset({"agents"}), kind="agent", on_behalf_of=BOB)
    assert decide(policy, for_bob, DEV, one(write("shop.orders"))).effect == "deny"
    # and a person's refusal holds for the agent: alice may not write
    assert decide(policy, for_alice, DEV, one(write("shop.orders"))).effect == "deny"
    # CEL sees the person
    mallory = Identity(name="mallory", groups=frozenset({"engineers"}))
    for_mallory = Identity(
        name="agent-7", groups=frozenset({"agents"}), kind="agent", on_behalf_of=mallory
    )
    assert decide(policy, for_mallory, DEV, one(read("shop.orders"))).message == "not for mallory"
