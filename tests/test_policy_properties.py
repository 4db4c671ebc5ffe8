"""Properties: decide never raises, and adding a matching deny rule never loosens a decision."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from wardgate.policy import (
    KINDS,
    Analyzed,
    CompiledRule,
    Connection,
    Facts,
    Identity,
    Ref,
    RuleSpec,
    decide,
    load_policy,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "policies"
POLICY = load_policy(EXAMPLES)
SEVERITY = {"allow": 0, "review": 1, "deny": 2}

names = st.sampled_from(["shop", "public", "hr", "pg_catalog", "orders", "customers", "x*y", ""])
refs = st.builds(
    Ref,
    kind=st.sampled_from(["relation", "function", "schema", "role", "database", "weird"]),
    schema=st.none() | names,
    name=names,
    access=st.sampled_from(["read", "write", "ddl", "execute", "grant"]),
)
facts = st.builds(
    Facts,
    kinds=st.frozensets(st.sampled_from(sorted(KINDS)) | st.text(max_size=5), max_size=4),
    command=st.sampled_from(["SELECT", "DELETE", "ALTER SYSTEM", "", "x"]),
    text=st.text(max_size=20),
    objects=st.lists(refs, max_size=4).map(tuple),
    hidden_write=st.booleans(),
    unbounded_write=st.booleans(),
    functions=st.lists(st.text(max_size=8), max_size=3).map(tuple),
    read_only_breaking=st.booleans(),
)
analyses = st.builds(
    Analyzed, statements=st.lists(facts, max_size=3).map(tuple), unparsable=st.booleans()
)
identities = st.builds(
    Identity,
    name=st.sampled_from(["alice", "bob", "dora", "agent-7", "eve"]),
    groups=st.frozensets(st.sampled_from(["analysts", "engineers", "dbas", "agents", "x"])),
    kind=st.sampled_from(["human", "agent", "service"]),
)
connections = st.builds(
    Connection,
    name=st.sampled_from(["shop", "other"]),
    tags=st.dictionaries(st.sampled_from(["env", "region"]), st.sampled_from(["dev", "prod"])),
)
contexts = st.dictionaries(
    st.sampled_from(["hour", "rows", "ticket"]),
    st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(identities, connections, analyses, contexts)
def test_decide_never_raises(
    identity: Identity, connection: Connection, analysis: Analyzed, context: dict[str, object]
) -> None:
    decision = decide(POLICY, identity, connection, analysis, context)
    assert decision.effect in SEVERITY
    assert decision.policy_version == POLICY.version
    if decision.effect == "deny":
        assert decision.masks == ()


deny_specs = st.builds(
    lambda groups, kinds, objects, when: RuleSpec.model_validate(
        {
            "id": "added-deny",
            "effect": "deny",
            "match": {
                k: v
                for k, v in {
                    "groups": groups,
                    "statement_kinds": kinds,
                    "objects": objects,
                    "when": when,
                }.items()
                if v is not None
            },
        }
    ),
    st.none() | st.lists(st.sampled_from(["analysts", "engineers", "agents"]), min_size=1),
    st.none() | st.lists(st.sampled_from(sorted(KINDS)), min_size=1),
    st.none() | st.lists(st.sampled_from(["shop.*", "*.orders", "hr.x"]), min_size=1),
    st.none() | st.sampled_from(["context.hour > 3", "statement.hidden_write", "true"]),
)


@settings(max_examples=300, deadline=None)
@given(identities, connections, analyses, contexts, deny_specs)
def test_adding_a_deny_rule_never_loosens(
    identity: Identity,
    connection: Connection,
    analysis: Analyzed,
    context: dict[str, object],
    spec: RuleSpec,
) -> None:
    from wardgate.policy._cel import Condition

    condition = Condition(spec.match.when) if spec.match.when else None
    added = CompiledRule(spec, condition, "added.yaml", 1)
    stricter = dataclasses.replace(POLICY, rules=(*POLICY.rules, added))
    before = decide(POLICY, identity, connection, analysis, context)
    after = decide(stricter, identity, connection, analysis, context)
    assert SEVERITY[after.effect] >= SEVERITY[before.effect]
    if "added-deny" in after.rules:
        assert after.effect == "deny"
