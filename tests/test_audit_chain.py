"""The audit event model and canonical encoding: the bytes every hash is computed over."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import pytest

import wardgate.audit as audit
from audit_support import intent, started
from wardgate.audit import (
    EVENT_TYPES,
    GENESIS_HASH,
    AuthFailed,
    CheckpointSigned,
    DecisionSummary,
    FactsSummary,
    GrantChanged,
    KeyRotated,
    MaskingSummary,
    PolicyLoaded,
    PolicyRefused,
    ResultCapture,
    RetentionRun,
    ReviewChanged,
    ReviewRequested,
    SessionEnded,
    StatementOutcome,
    ValueUnmasked,
    canonical,
    chain_hash,
    decode_event,
)
from wardgate.audit._chain import prepare
from wardgate.audit._events import ENVELOPE_KEYS, EXPORT_KEYS
from wardgate.policy import Decision
from wardgate.sql import analyze


def test_public_surface_is_exactly_all() -> None:
    public = {name for name in vars(audit) if not name.startswith("_")}
    assert set(audit.__all__) <= public
    # Submodules are implementation; nothing else leaks.
    assert public - set(audit.__all__) <= {"annotations", "alembic"}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"b": 1, "a": [True, None, "x"]}, '{"a":[true,null,"x"],"b":1}'),
        ({"z": {"y": 1, "x": 2}}, '{"z":{"x":2,"y":1}}'),
        ('é\u2028"\\\n\t\x01', '"é\u2028\\"\\\\\\n\\t\\u0001"'),
        ((1, -2, 2**63 - 1), "[1,-2,9223372036854775807]"),
        ({"é": 1, "e": 2, "Z": 3}, '{"Z":3,"e":2,"é":1}'),
    ],
)
def test_canonical_text(value: Any, text: str) -> None:
    assert canonical(value) == text


@pytest.mark.parametrize(
    "value",
    [1.5, float("nan"), b"raw", 2**63, -(2**63), {1: "x"}, {"k": {1.0}}, "\ud800"],
)
def test_values_outside_the_canonical_domain_are_refused(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        canonical({"k": value})


def test_refusal_names_the_offending_field() -> None:
    with pytest.raises(TypeError, match=r"\$\.facts\.kinds\[1\]"):
        prepare(
            dataclasses.replace(intent(), facts=FactsSummary(kinds=("read", 1.5))),  # type: ignore[arg-type]
            at=1,
            durability="strict",
        )


def test_chain_hash_is_sha256_of_the_canonical_triple() -> None:
    body = prepare(intent(), at=123, durability="strict").body
    expected = hashlib.sha256(
        canonical({"event": json.loads(body), "prev": GENESIS_HASH, "seq": 1}).encode()
    ).hexdigest()
    assert chain_hash(GENESIS_HASH, 1, body) == expected
    # The position and the link are part of the hash.
    assert chain_hash(GENESIS_HASH, 2, body) != expected
    assert chain_hash("1" * 64, 1, body) != expected


def test_body_carries_the_envelope_and_is_canonical() -> None:
    prepared = prepare(intent(), at=123, durability="relaxed")
    obj = json.loads(prepared.body)
    assert obj["type"] == "statement.intent" and obj["v"] == 1
    assert obj["at"] == 123 and obj["durability"] == "relaxed"
    assert canonical(obj) == prepared.body
    assert prepared.user_name == "alice" and prepared.effect == "allow"
    assert prepared.kinds == ",read," and prepared.session_id == "s1"


ALL_EVENTS: list[Any] = [
    started(),
    SessionEnded(session_id="s", user="u", connection="c", reason="client_closed", statements=2),
    intent(),
    StatementOutcome(
        session_id="s",
        statement_seq=1,
        status="ok",
        rows=2,
        masking=MaskingSummary(columns=("email",), entities={"EMAIL": 2}, values=2),
    ),
    ResultCapture(
        session_id="s", statement_seq=1, columns=("a", "b"), captured=(("1", None),), rows_seen=1
    ),
    PolicyLoaded(version="abc", rules=3, source="/etc/policies"),
    PolicyRefused(source="/etc/policies", errors=("x.yaml:3: bad",)),
    KeyRotated(purpose="checkpoint", key_id="k1"),
    RetentionRun(cutoff_us=1, deleted=2, through_seq=2, through_hash="a" * 64),
    CheckpointSigned(checkpoint_seq=1, checkpoint_hash="b" * 64, key_id="k"),
    ValueUnmasked(
        actor="dana",
        masked_value="+44 20 3817 2246",
        entity="phone",
        type_name="text",
        key_id="k1",
        reason="TICKET-42",
        rules=("dpo-unmask",),
        policy_version="c" * 64,
    ),
    ReviewRequested(
        review_id="rv-1a2b3c4d",
        requester="bob",
        connection="shop",
        session_id="s",
        rules=("engineers-write-review",),
        approvers=("dbas",),
        binding="d" * 64,
        expires_at=1_800_000_000,
    ),
    ReviewChanged(
        review_id="rv-1a2b3c4d",
        action="approve",
        actor="dora",
        via="cli",
        status="approved",
        reason="checked",
        approvals=1,
    ),
    GrantChanged(
        grant_id="gr-1a2b3c4d",
        action="break_glass",
        actor="carol",
        requester="carol",
        connection="prod",
        role="write",
        status="active",
        reason="INC-9",
        ends_at=1_800_000_900,
        break_glass=True,
    ),
    AuthFailed(
        user="u", client_addr="10.0.0.1:5000", method="scram", reason="bad_password", detail="x"
    ),
]


def test_every_event_type_is_covered_here() -> None:
    assert {type(e).type for e in ALL_EVENTS} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: type(e).type)
def test_events_round_trip_through_their_body(event: Any) -> None:
    body = prepare(event, at=5, durability="strict").body
    assert decode_event(json.loads(body)) == event


def test_no_event_field_takes_a_reserved_name() -> None:
    for cls in EVENT_TYPES.values():
        names = {f.name for f in dataclasses.fields(cls)}
        assert not names & (ENVELOPE_KEYS | EXPORT_KEYS), cls


def test_decode_ignores_fields_from_a_newer_writer() -> None:
    obj = json.loads(prepare(intent(), at=1, durability="strict").body)
    obj["added_later"] = 1
    obj["decision"]["also_new"] = True
    assert decode_event(obj) == intent()


def test_only_registered_events_are_recorded() -> None:
    @dataclasses.dataclass(frozen=True)
    class Stranger:
        type = "session.started"
        user: str = "x"

    with pytest.raises(TypeError, match="not a registered"):
        prepare(Stranger(), at=1, durability="strict")


def test_summaries_from_real_analysis_and_decision() -> None:
    facts = FactsSummary.from_analysis(
        analyze(
            "SELECT c.email FROM public.customers c JOIN orders o ON o.cid = c.id; DELETE FROM t"
        )
    )
    assert facts.kinds == ("read", "write")
    assert facts.commands == ("SELECT", "DELETE")
    assert "public.customers:read" in facts.objects
    assert not facts.unparsable
    assert FactsSummary.from_analysis(analyze("SELEC nonsense")).unparsable
    decision = Decision(effect="deny", message="no", rules=("r9",), policy_version="v7")
    assert DecisionSummary.from_decision(decision) == DecisionSummary(
        effect="deny", rules=("r9",), policy_version="v7", message="no"
    )
