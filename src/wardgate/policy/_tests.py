"""`run_policy_tests`: the test cases written next to the rules, run against the loaded policy.

A case gives its statement either as ``facts:`` (explicit kinds, command, objects...) or as
``sql:``. Facts keep policy tests independent of the SQL analyzer; SQL needs an ``analyze``
callable, which the CLI (`wardgate policy test`) supplies as `wardgate.sql.analyze`. Without one, a
SQL case fails with a message saying so rather than being skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._decide import decide
from ._load import LoadedCase, Policy
from ._schema import CaseSpec, FactsSpec, ObjectSpec
from ._types import AnalysisLike, Analyzed, Connection, Decision, Facts, Identity, Ref

__all__ = ["TestResult", "analysis_from_facts", "run_policy_tests"]

Analyze = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class TestResult:
    """The outcome of one policy test case; ``failures`` is empty when it passed."""

    __test__ = False  # not a pytest test class, despite the name

    name: str
    file: str
    line: int
    failures: tuple[str, ...]
    decision: Decision | None

    @property
    def passed(self) -> bool:
        return not self.failures


def _ref(spec: str | ObjectSpec, write: bool) -> Ref:
    if isinstance(spec, ObjectSpec):
        return Ref(kind=spec.kind, schema=spec.schema_, name=spec.name, access=spec.access)
    schema, _, name = spec.rpartition(".")
    return Ref(schema=schema or None, name=name, access="write" if write else "read")


def _statement(spec: FactsSpec) -> Facts:
    kinds = frozenset(spec.kinds)
    return Facts(
        kinds=kinds,
        command=" ".join(spec.command.upper().split()),
        text=spec.text,
        objects=tuple(_ref(o, "write" in kinds) for o in spec.objects),
        hidden_write=spec.hidden_write,
        unbounded_write=spec.unbounded_write,
        functions=spec.functions,
        read_only_breaking=spec.read_only_breaking,
    )


def analysis_from_facts(case: CaseSpec) -> Analyzed:
    """The analysis a ``facts:`` or ``unparsable: true`` case describes."""
    if case.unparsable:
        return Analyzed(unparsable=True)
    facts = case.facts
    items = (facts,) if isinstance(facts, FactsSpec) else (facts or ())
    return Analyzed(statements=tuple(_statement(f) for f in items))


def _check(case: CaseSpec, decision: Decision) -> list[str]:
    expect = case.expect
    failures: list[str] = []
    if decision.effect != expect.effect:
        failures.append(
            f"effect: expected {expect.effect}, got {decision.effect} ({decision.message})"
        )
    if expect.rules is not None and set(expect.rules) != set(decision.rules):
        failures.append(f"rules: expected {sorted(expect.rules)}, got {sorted(decision.rules)}")
    if expect.mask is not None and set(expect.mask) != set(decision.masks):
        got = [m.model_dump(exclude_none=True) for m in decision.masks]
        failures.append(
            f"mask: expected {[m.model_dump(exclude_none=True) for m in expect.mask]}, got {got}"
        )
    if expect.read_only is not None and expect.read_only != decision.read_only:
        failures.append(f"read_only: expected {expect.read_only}, got {decision.read_only}")
    if expect.row_limit is not None and expect.row_limit != decision.guardrails.row_limit:
        failures.append(
            f"row_limit: expected {expect.row_limit}, got {decision.guardrails.row_limit}"
        )
    if expect.message_contains is not None and expect.message_contains not in decision.message:
        failures.append(f"message: {expect.message_contains!r} not in {decision.message!r}")
    return failures


def _run(policy: Policy, loaded: LoadedCase, analyze: Analyze | None) -> TestResult:
    case = loaded.spec
    analysis: AnalysisLike
    if case.sql is not None:
        if analyze is None:
            failure = "case gives 'sql' but no analyzer was supplied (use 'facts' or pass analyze)"
            return TestResult(case.name, loaded.file, loaded.line, (failure,), None)
        analysis = analyze(case.sql)
    else:
        analysis = analysis_from_facts(case)
    identity = Identity(
        name=case.identity.name,
        groups=frozenset(case.identity.groups),
        kind=case.identity.kind,
        grants=frozenset(case.identity.grants),
    )
    connection = Connection(name=case.connection.name, tags=dict(case.connection.tags))
    decision = decide(policy, identity, connection, analysis, case.context)
    return TestResult(case.name, loaded.file, loaded.line, tuple(_check(case, decision)), decision)


def run_policy_tests(policy: Policy, analyze: Analyze | None = None) -> list[TestResult]:
    """Run every test case of the policy, in file order."""
    return [_run(policy, loaded, analyze) for loaded in policy.tests]
