"""The Enforcer's unit bookkeeping, driven message by message (no sockets, fully ordered)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from wardgate import pgwire as pw
from wardgate.policy import Connection, Identity, load_policy
from wardgate.proxy.enforce import DENIED_SQL, Enforcer, PolicyHolder

RULES = {
    "rules": [
        {"id": "reads", "match": {"statement_kinds": ["read", "transaction"]}, "effect": "allow"},
    ]
}
STAND_IN = pw.ErrorResponse.build("42601", f'syntax error at or near "{DENIED_SQL}"')


@pytest.fixture
def enforcer(tmp_path: Path) -> Enforcer:
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(RULES))
    return Enforcer.create(
        PolicyHolder(load_policy(tmp_path)), Identity(name="u"), Connection(name="c")
    )


def test_refused_parse_answered_before_sync_is_rewritten(enforcer: Enforcer) -> None:
    """A client may Parse, Flush and wait for the answer before it sends Sync."""
    sent = enforcer.outgoing(pw.Parse(name="s1", sql="DELETE FROM t"))
    assert sent == pw.Parse(name="s1", sql=DENIED_SQL)
    assert enforcer.outgoing(pw.Flush()) == pw.Flush()
    got = enforcer.incoming(STAND_IN)
    assert isinstance(got, pw.ErrorResponse) and got.sqlstate == "42501"
    enforcer.outgoing(pw.Sync())
    assert enforcer.incoming(pw.ReadyForQuery(status="I")) == pw.ReadyForQuery(status="I")


def test_pipelined_units_keep_their_own_refusals(enforcer: Enforcer) -> None:
    assert enforcer.outgoing(pw.Query(sql="SELECT 1")) == pw.Query(sql="SELECT 1")
    assert enforcer.outgoing(pw.Query(sql="DROP TABLE t")) == pw.Query(sql=DENIED_SQL)
    # A client's own syntax error in the first, allowed unit is passed through untouched.
    own = pw.ErrorResponse.build("42601", 'syntax error at or near "WARDGATE_DENIED"')
    assert enforcer.incoming(own) is own
    enforcer.incoming(pw.ReadyForQuery(status="I"))
    refused = enforcer.incoming(STAND_IN)
    assert isinstance(refused, pw.ErrorResponse) and refused.sqlstate == "42501"
    assert "DROP TABLE denied" in refused.message
    enforcer.incoming(pw.ReadyForQuery(status="I"))
    other = pw.ErrorResponse.build("22012", "division by zero")
    assert enforcer.incoming(other) is other  # nothing pending: nothing rewritten


def test_prepared_statement_is_decided_again_at_execute_after_a_reload(
    enforcer: Enforcer, tmp_path: Path
) -> None:
    assert enforcer.outgoing(pw.Parse(name="s", sql="SELECT 1")) == pw.Parse(
        name="s", sql="SELECT 1"
    )
    enforcer.outgoing(pw.Bind(portal="", statement="s"))
    assert enforcer.outgoing(pw.Execute()) == pw.Execute()  # same policy: no re-decision
    stricter = tmp_path / "stricter"
    stricter.mkdir()
    (stricter / "p.yaml").write_text(
        yaml.safe_dump(
            {
                "rules": [
                    {
                        "id": "reads",
                        "match": {"statement_kinds": ["read"]},
                        "effect": "deny",
                        "message": "frozen",
                    },
                ]
            }
        )
    )
    enforcer.holder.current = load_policy(stricter)
    enforcer.outgoing(pw.Bind(portal="", statement="s"))
    sent = enforcer.outgoing(pw.Execute())
    assert isinstance(sent, pw.Parse) and sent.sql == DENIED_SQL and sent.name != "s"
    refused = enforcer.incoming(STAND_IN)
    assert isinstance(refused, pw.ErrorResponse) and "frozen" in refused.message


class _FakeTimers:
    def __init__(self) -> None:
        self.started: list[tuple[float, Any]] = []

    def __call__(self, delay: float, callback: Any) -> Any:
        self.started.append((delay, callback))
        return self

    def cancel(self) -> None:
        pass


def test_statement_timeout_starts_when_the_unit_reaches_upstream(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        yaml.safe_dump(
            {
                "rules": [
                    {
                        "id": "slow-ok",
                        "match": {"statement_kinds": ["read"]},
                        "effect": "allow",
                        "guardrails": {"statement_timeout_ms": 250},
                    }
                ]
            }
        )
    )
    timers, cancels = _FakeTimers(), []
    enf = Enforcer.create(
        PolicyHolder(load_policy(tmp_path)),
        Identity(name="u"),
        Connection(name="c"),
        cancel=lambda: cancels.append(1),
        schedule=timers,
    )
    enf.outgoing(pw.Query(sql="SELECT 1"))
    enf.outgoing(pw.Query(sql="SELECT 2"))  # pipelined: its clock has not started
    assert [d for d, _ in timers.started] == [0.25]
    enf.incoming(pw.ReadyForQuery(status="I"))  # first done: the second is now upstream's
    assert len(timers.started) == 2
    timers.started[1][1]()  # the second times out
    assert cancels == [1]
    got = enf.incoming(pw.ErrorResponse.build("57014", "canceling statement due to user request"))
    assert isinstance(got, pw.ErrorResponse) and "statement timeout (250 ms)" in got.message
    assert enf.incoming(pw.ReadyForQuery(status="I")) == pw.ReadyForQuery(status="I")
    timers.started[0][1]()  # a stale timer of a finished unit cancels nothing
    assert cancels == [1]


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    import wardgate.proxy.enforce as enforce

    calls: list[int] = []
    real = enforce.decide

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(enforce, "decide", counted)
    return calls


def test_statements_of_one_shape_share_a_decision(
    enforcer: Enforcer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting(monkeypatch)
    for aid in (1, 2, 3):
        sql = f"SELECT abalance FROM pgbench_accounts WHERE aid = {aid}"
        assert enforcer.outgoing(pw.Query(sql=sql)) == pw.Query(sql=sql)
    assert len(calls) == 1
    assert enforcer.outgoing(pw.Query(sql="DROP TABLE t")) == pw.Query(sql=DENIED_SQL)
    assert len(calls) == 2


def test_no_shape_cache_when_a_condition_reads_the_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "p.yaml").write_text(
        yaml.safe_dump(
            {
                "rules": [
                    {
                        "id": "not-42",
                        "effect": "allow",
                        "match": {
                            "statement_kinds": ["read"],
                            "when": "!statement.text.contains('42')",
                        },
                    }
                ]
            }
        )
    )
    enf = Enforcer.create(
        PolicyHolder(load_policy(tmp_path)), Identity(name="u"), Connection(name="c")
    )
    calls = _counting(monkeypatch)
    assert enf.outgoing(pw.Query(sql="SELECT 1 WHERE 7 = 7")) == pw.Query(
        sql="SELECT 1 WHERE 7 = 7"
    )
    assert enf.outgoing(pw.Query(sql="SELECT 1 WHERE 42 = 42")) == pw.Query(sql=DENIED_SQL)
    assert len(calls) == 2
