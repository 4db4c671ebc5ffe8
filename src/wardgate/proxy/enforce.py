"""Policy enforcement on the wire, keeping PostgreSQL's own error semantics.

A refused Query or Parse is not answered by the gateway out of band: that would reorder responses
to pipelined requests and could not put an open transaction into the failed state PostgreSQL
would. Instead the statement text is replaced, upstream, by `DENIED_SQL`, which PostgreSQL's parser
rejects before anything runs. PostgreSQL then does exactly what it does for any error (aborts the
transaction block, skips to Sync in the extended protocol, runs nothing else of a simple-query
message), and the gateway rewrites that one syntax error into its own 42501 naming the rules.

Each request that ends in a ReadyForQuery (a Query, or everything up to a Sync) is a *unit*. The
`Enforcer` keeps one `_Unit` per unit in flight: the refusal to substitute, and the guardrails of
the statements in it. Guardrails end a statement by cancelling it upstream. A statement timeout
starts when its unit becomes the one upstream is working on. A row cap stops forwarding rows past
the limit. Either way the client gets one error in place of the statement's completion, and the
rest of that unit is swallowed up to its ReadyForQuery.

Policies change while statements stay prepared: a named statement remembers the policy version it
was decided under, and an Execute under a newer version decides it again. A refusal there swaps
the Execute for a Parse of `DENIED_SQL` under a throwaway name, which fails without touching any
statement or portal the client holds.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from wardgate import pgwire as pw
from wardgate.masking import CopyMasker, MaskSpec, RowMasker, Unmaskable
from wardgate.pgwire import _sqlstate as sqlstate
from wardgate.policy import Connection, Guardrails, Identity, Policy, decide, session_read_only
from wardgate.sql import Analysis, StatementFacts, analyze_shaped, prepared_body

from .masking import ResultPlanner

__all__ = ["DENIED_SQL", "READ_ONLY_OPTIONS", "Enforcer", "PolicyHolder"]

DENIED_SQL = "WARDGATE_DENIED"  # not SQL: fails in the parser, before any effect
_MARKER = f'"{DENIED_SQL}"'
# The session's upstream startup option for identities the policy holds read-only. PostgreSQL
# then refuses every write, including one hidden in a volatile function the parser cannot see.
READ_ONLY_OPTIONS = "-c default_transaction_read_only=on"
_ENDS_STATEMENT = frozenset(
    {pw.CommandComplete, pw.ErrorResponse, pw.EmptyQueryResponse, pw.PortalSuspended}
)
_DECISION_CACHE_SIZE = 2048
NO_MASKS = MaskSpec()
_ASYNC = frozenset({pw.NoticeResponse, pw.NotificationResponse, pw.ParameterStatus})


class _Timer(Protocol):
    def cancel(self) -> None: ...


Schedule = Callable[[float, Callable[[], None]], _Timer]


@dataclass(slots=True)
class PolicyHolder:
    """The policy in force; a reload swaps ``current`` and every session sees the new one."""

    current: Policy


@dataclass(slots=True)
class _Limits:
    row_limit: int | None = None
    timeout_ms: int | None = None
    rules: str = ""
    masks: MaskSpec = NO_MASKS

    def tighten(self, other: _Limits) -> None:
        for name in ("row_limit", "timeout_ms"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is not None and (mine is None or theirs < mine):
                setattr(self, name, theirs)
                self.rules = other.rules
        if other.masks:
            self.masks = MaskSpec(
                self.masks.columns + other.masks.columns, self.masks.entities + other.masks.entities
            )

    def copy(self) -> _Limits:
        return _Limits(self.row_limit, self.timeout_ms, self.rules, self.masks)


@dataclass(slots=True)
class _Describe:
    """A Describe sent upstream: the client's own, or the gateway's ahead of an Execute."""

    injected: bool
    statement: StatementFacts | None = None
    masks: MaskSpec = NO_MASKS


@dataclass(slots=True)
class _Unit:
    refusal: pw.ErrorResponse | None = None
    limits: _Limits = field(default_factory=_Limits)
    rows: int = 0
    stopped: pw.ErrorResponse | None = None  # a guardrail ended it: deliver this, swallow the rest
    delivered: bool = False
    timer: _Timer | None = None
    statements: tuple[StatementFacts, ...] = ()  # of a simple Query, to find each result's
    done: int = 0  # statements of a simple Query completed so far
    describes: deque[_Describe] = field(default_factory=deque)
    masker: RowMasker | None = None
    copier: CopyMasker | None = None
    current: _Describe | None = None  # the extended-protocol statement now executing


@dataclass(slots=True)
class Enforcer:
    holder: PolicyHolder
    identity: Identity
    connection: Connection
    read_only: bool  # fixed when the upstream session opened; a reload does not lift it
    cancel: Callable[[], None] = lambda: None  # asks upstream to cancel the running statement
    schedule: Schedule | None = None  # loop.call_later in the gateway
    planner: ResultPlanner | None = None  # present when masking is configured
    _units: deque[_Unit] = field(default_factory=deque)
    _open: _Unit = field(default_factory=_Unit)  # the extended-protocol unit not yet synced
    _statements: dict[str, tuple[str, str, _Limits]] = field(default_factory=dict)
    _last_masks: MaskSpec = NO_MASKS  # for notices, which belong to no statement
    # What each SQL-level PREPARE holds: an EXECUTE of it is decided on that too.
    _sql_prepared: dict[str, tuple[StatementFacts, ...]] = field(default_factory=dict)
    _portals: dict[str, str] = field(default_factory=dict)  # portal -> statement name
    _denials: int = 0
    # Decisions by (policy version, statement shape): a session's identity and connection are
    # fixed, and statements of one shape have the same facts, so they get the same decision --
    # unless a rule's condition can read the statement's text (then nothing is cached).
    _decisions: dict[tuple[str, str], tuple[pw.ErrorResponse | None, _Limits]] = field(
        default_factory=dict
    )
    _cacheable: tuple[str, bool] = ("", False)  # (policy version, no condition reads the text)

    @classmethod
    def create(
        cls, holder: PolicyHolder, identity: Identity, connection: Connection, **hooks: Any
    ) -> Enforcer:
        read_only = session_read_only(holder.current, identity, connection)
        return cls(holder, identity, connection, read_only, **hooks)

    @property
    def policy(self) -> Policy:
        return self.holder.current

    # --- towards upstream -----------------------------------------------------------------------

    def outgoing(self, msg: pw.Message) -> pw.Message | tuple[pw.Message, ...]:
        """A frontend message on its way upstream; refused statements come back replaced.

        In a masked session an Execute goes with a Describe of its portal ahead of it.
        """
        cls = type(msg)
        if cls is pw.Query:
            assert isinstance(msg, pw.Query)
            refusal, limits, statements = self._decide(msg.sql)
            self._push(_Unit(refusal=refusal, limits=limits, statements=statements))
            if limits.masks:
                self._last_masks = limits.masks
            if refusal is None:
                self._remember(statements)
            return pw.Query(sql=DENIED_SQL) if refusal else msg
        if cls is pw.Parse:
            assert isinstance(msg, pw.Parse)
            refusal, limits, statements = self._decide(msg.sql)
            if refusal is None:
                self._statements[msg.name] = (msg.sql, self.policy.version, limits)
                self._remember(statements)
                return msg
            self._statements.pop(msg.name, None)
            self._refuse_in_open_unit(refusal)
            return pw.Parse(name=msg.name, sql=DENIED_SQL)
        if cls is pw.Bind:
            assert isinstance(msg, pw.Bind)
            self._portals[msg.portal] = msg.statement
            return msg
        if cls is pw.Execute:
            assert isinstance(msg, pw.Execute)
            return self._execute(msg)
        if cls is pw.Describe:
            self._open.describes.append(_Describe(injected=False))
            return msg
        if cls is pw.Close:
            assert isinstance(msg, pw.Close)
            (self._statements if msg.kind == "S" else self._portals).pop(msg.name, None)
            return msg
        if cls is pw.Sync or cls is pw.FunctionCall:
            unit, self._open = self._open, _Unit()
            self._push(unit)
        return msg

    def _remember(self, statements: tuple[StatementFacts, ...]) -> None:
        """Keep what PREPARE, DECLARE and DEALLOCATE change in the session's state."""
        for st in statements:
            if st.command == "PREPARE" and st.prepared_name:
                body = prepared_body(st.text)
                self._sql_prepared[st.prepared_name] = body.statements if body else ()
            elif st.command == "DEALLOCATE" and st.prepared_name:
                self._sql_prepared.pop(st.prepared_name, None)
            elif st.command in ("DEALLOCATE ALL", "DISCARD ALL"):
                self._sql_prepared.clear()
        if self.planner is not None:
            self.planner.remember(statements)

    def _with_prepared(self, analysis: Analysis) -> Analysis | None:
        """The analysis plus the bodies of the prepared statements it executes, or None."""
        extra: list[StatementFacts] = []
        for st in analysis.statements:
            name = st.prepared_name
            if name and st.command not in ("PREPARE", "DEALLOCATE"):
                extra.extend(self._sql_prepared.get(name, ()))
        if not extra:
            return None
        return dataclasses.replace(analysis, statements=analysis.statements + tuple(extra))

    def _refuse_in_open_unit(self, refusal: pw.ErrorResponse) -> None:
        if self._open.refusal is None:
            self._open.refusal = refusal

    def _execute(self, msg: pw.Execute) -> pw.Message | tuple[pw.Message, ...]:
        name = self._portals.get(msg.portal)
        entry = self._statements.get(name) if name is not None else None
        if entry is None:
            return msg
        sql, version, limits = entry
        if version != self.policy.version:
            refusal, limits, _ = self._decide(sql)
            if refusal is not None:
                self._refuse_in_open_unit(refusal)
                self._denials += 1
                return pw.Parse(name=f"wardgate_denied_{self._denials}", sql=DENIED_SQL)
            assert name is not None
            self._statements[name] = (sql, self.policy.version, limits)
        self._open.limits.tighten(limits)
        if self.planner is None or not limits.masks:
            return msg
        self._last_masks = limits.masks
        statements = analyze_shaped(sql)[0].statements
        self._open.describes.append(
            _Describe(True, statements[0] if len(statements) == 1 else None, limits.masks)
        )
        return pw.Describe(kind="P", name=msg.portal), msg

    def _push(self, unit: _Unit) -> None:
        self._units.append(unit)
        if len(self._units) == 1:
            self._start(unit)

    def _start(self, unit: _Unit) -> None:
        """The unit is now the one upstream works on: its statement timeout starts."""
        ms = unit.limits.timeout_ms
        if ms is not None and self.schedule is not None and unit.refusal is None:
            unit.timer = self.schedule(ms / 1000, lambda: self._timed_out(unit))

    def _timed_out(self, unit: _Unit) -> None:
        if unit.stopped is None and self._units and self._units[0] is unit:
            unit.stopped = pw.ErrorResponse.build(
                sqlstate.QUERY_CANCELED,
                f"canceling statement due to the policy's statement timeout "
                f"({unit.limits.timeout_ms} ms)",
                detail=f"rules: {unit.limits.rules}",
            )
            self.cancel()

    # --- towards the client ---------------------------------------------------------------------

    def incoming(self, msg: pw.Message) -> pw.Message | None:
        """A backend message on its way to the client: rewritten, passed, or (None) dropped."""
        cls = type(msg)
        if cls is pw.ReadyForQuery:
            if self._units:
                done = self._units.popleft()
                if done.timer is not None:
                    done.timer.cancel()
                if self._units:
                    self._start(self._units[0])
            return msg
        # Upstream answers units in order; with none synced and pending, the message belongs to
        # the open one (a client may Parse, Flush and wait before it sends Sync).
        unit = self._units[0] if self._units else self._open
        if unit.stopped is not None and cls not in _ASYNC:
            if cls in _ENDS_STATEMENT and not unit.delivered:
                unit.delivered = True
                return unit.stopped
            return None
        if cls is pw.ErrorResponse:
            assert isinstance(msg, pw.ErrorResponse)
            if (
                unit.refusal is not None
                and msg.sqlstate == sqlstate.SYNTAX_ERROR
                and _MARKER in msg.message
            ):
                return unit.refusal
            unit.describes.clear()  # upstream skips the rest of the unit up to Sync
            unit.masker = None
            if self.planner is not None and unit.limits.masks:
                return self.planner.scrub(msg, unit.limits.masks)
            return msg
        if self.planner is not None:
            masked = self._mask(unit, msg)
            if masked is not msg:
                return masked
        if cls is pw.DataRow:
            limit = unit.limits.row_limit
            if limit is not None:
                unit.rows += 1
                if unit.rows > limit:
                    unit.stopped = pw.ErrorResponse.build(
                        sqlstate.PROGRAM_LIMIT_EXCEEDED,
                        f"the policy allows at most {limit} rows per statement",
                        detail=f"rules: {unit.limits.rules}",
                    )
                    self.cancel()
                    return None
        elif cls is pw.CommandComplete:
            unit.rows = 0  # the next statement of a multi-statement Query counts afresh
        return msg

    def _mask(self, unit: _Unit, msg: pw.Message) -> pw.Message | None:
        """Masking's part of `incoming`: the same message when masking has nothing to do."""
        planner = self.planner
        assert planner is not None
        cls = type(msg)
        if cls is pw.DataRow:
            if unit.masker is None:
                return msg
            assert isinstance(msg, pw.DataRow)
            try:
                return pw.DataRow(values=unit.masker.row(msg.values))
            except (Unmaskable, ValueError, OverflowError) as exc:
                self._stop(unit, f"a value could not be masked ({exc})")
                return None
        if cls is pw.RowDescription:
            assert isinstance(msg, pw.RowDescription)
            if unit.describes:
                described = unit.describes.popleft()
                if not described.injected:
                    return msg
                unit.current = described
                unit.masker = planner.masker(msg, described.statement, described.masks)
                return None
            masks = unit.limits.masks
            if masks:
                st = unit.statements[unit.done] if unit.done < len(unit.statements) else None
                unit.masker = planner.masker(msg, st, masks)
            return msg
        if cls is pw.NoData:
            if unit.describes:
                described = unit.describes.popleft()
                if described.injected:
                    unit.current = described
                    unit.masker = None
                    return None
            return msg
        if cls is pw.CopyData:
            if unit.copier is None:
                return msg
            assert isinstance(msg, pw.CopyData)
            try:
                return pw.CopyData(data=unit.copier.row(msg.data))
            except (Unmaskable, ValueError, OverflowError) as exc:
                self._stop(unit, f"a value could not be masked ({exc})")
                return None
        if cls is pw.CommandComplete or cls is pw.EmptyQueryResponse:
            unit.done += 1
            unit.masker = unit.copier = unit.current = None
        elif cls is pw.PortalSuspended:
            unit.masker = None
        elif cls is pw.NoticeResponse:
            assert isinstance(msg, pw.NoticeResponse)
            masks = unit.limits.masks or self._last_masks
            return planner.scrub(msg, masks) if masks else msg
        elif cls is pw.CopyOutResponse:
            assert isinstance(msg, pw.CopyOutResponse)
            if unit.current is not None:
                st, masks = unit.current.statement, unit.current.masks
            else:
                st = unit.statements[unit.done] if unit.done < len(unit.statements) else None
                masks = unit.limits.masks
            if masks:
                try:
                    unit.copier = planner.copy_masker(msg, st, masks)
                except Unmaskable as exc:
                    self._stop(unit, f"COPY cannot be masked ({exc})")
                    return None
        return msg

    def _stop(self, unit: _Unit, why: str) -> None:
        """End the unit's statement here: fail closed rather than let a value through."""
        unit.stopped = pw.ErrorResponse.build(
            sqlstate.FEATURE_NOT_SUPPORTED,
            f"result withheld: {why}",
            hint="the policy requires masking for this result and the gateway cannot apply it",
        )
        unit.masker = None
        self.cancel()

    # --- deciding -------------------------------------------------------------------------------

    def _decide(
        self, sql: str
    ) -> tuple[pw.ErrorResponse | None, _Limits, tuple[StatementFacts, ...]]:
        analysis, shape = analyze_shaped(sql)
        policy = self.policy
        executes = self._with_prepared(analysis) if self._sql_prepared else None
        if executes is not None:  # depends on the session's prepared statements: never cached
            return (*self._decide_fresh(executes), analysis.statements)
        if shape is None or not self._shapes_decide(policy):
            return (*self._decide_fresh(analysis), analysis.statements)
        key = (policy.version, shape)
        cached = self._decisions.get(key)
        if cached is None:
            if len(self._decisions) >= _DECISION_CACHE_SIZE:
                self._decisions.clear()
            cached = self._decisions[key] = self._decide_fresh(analysis)
        refusal, limits = cached
        # Limits are tightened in place per unit, so each statement gets its own copy.
        return refusal, limits.copy(), analysis.statements

    def _shapes_decide(self, policy: Policy) -> bool:
        version, ok = self._cacheable
        if version != policy.version:
            ok = not any(
                r.condition is not None and "text" in r.condition.source for r in policy.rules
            )
            self._cacheable = (policy.version, ok)
        return ok

    def _decide_fresh(self, analysis: Analysis) -> tuple[pw.ErrorResponse | None, _Limits]:
        decision = decide(self.policy, self.identity, self.connection, analysis)
        rules = ", ".join(decision.rules) or "no rule allows it (default deny)"
        detail = f"rules: {rules}; policy version {decision.policy_version[:12]}"
        if decision.effect == "allow":
            if self.read_only and any(s.read_only_breaking for s in analysis.statements):
                return pw.ErrorResponse.build(
                    sqlstate.INSUFFICIENT_PRIVILEGE,
                    "denied: this session is read-only and the statement would lift that",
                    detail=detail,
                ), _Limits()
            limits = _limits(decision.guardrails, rules)
            policy = self.policy
            limits.masks = MaskSpec.of(decision.masks, policy.classify, policy.entities)
            return None, limits
        if decision.effect == "review":
            message = (
                f"statement requires approval (rules: {rules}); approvals are not available yet"
            )
        else:
            message = f"denied by policy: {decision.message}"
        return pw.ErrorResponse.build(
            sqlstate.INSUFFICIENT_PRIVILEGE, message, detail=detail
        ), _Limits()


def _limits(guardrails: Guardrails, rules: str) -> _Limits:
    return _Limits(
        row_limit=guardrails.row_limit, timeout_ms=guardrails.statement_timeout_ms, rules=rules
    )
