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
was decided under (and the just-in-time grant roles held then), and an Execute under a newer
version (or other roles) decides it again. A refusal there swaps the Execute for a Parse of
`DENIED_SQL` under a throwaway name, which fails without touching any statement or portal the
client holds.
"""

from __future__ import annotations

import dataclasses
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from wardgate import pgwire as pw
from wardgate.masking import CopyMasker, MaskSpec, RowMasker, Unmaskable
from wardgate.pgwire import _sqlstate as sqlstate
from wardgate.policy import (
    Connection,
    Guardrails,
    Identity,
    Policy,
    ReviewRequirement,
    decide,
    session_cannot_name,
    session_read_only,
)
from wardgate.sql import Analysis, StatementFacts, analyze_shaped, prepared_body

from .masking import Names, ResultPlanner, may_open_cursors
from .recording import Decided, decided

__all__ = ["DENIED_SQL", "READ_ONLY_OPTIONS", "Enforcer", "Held", "PolicyHolder"]

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
REASON_SETTING = "wardgate.reason"  # a custom setting PostgreSQL accepts and ignores


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
    # Policy says review: the statement runs only on an approved review (see `Held`).
    review: tuple[ReviewRequirement, ...] = ()

    def tighten(self, other: _Limits) -> None:
        for name in ("row_limit", "timeout_ms"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is not None and (mine is None or theirs < mine):
                setattr(self, name, theirs)
                self.rules = other.rules
        if other.masks:
            self.masks = dataclasses.replace(
                other.masks,
                columns=self.masks.columns + other.masks.columns,
                entities=self.masks.entities + other.masks.entities,
            )

    def copy(self) -> _Limits:
        return _Limits(self.row_limit, self.timeout_ms, self.rules, self.masks, self.review)

    def approved(self) -> _Limits:
        """The limits a statement runs under once its review is approved."""
        return _Limits(self.row_limit, self.timeout_ms, self.rules, self.masks)


_Entry = tuple[str, str, "_Limits"]  # (sql, policy version decided under, limits)
_CONFIRMS = frozenset({pw.ParseComplete, pw.BindComplete, pw.CloseComplete})
#: commands whose success changes what later statements run (see `_remember`)
_STATEFUL = frozenset(
    {
        "PREPARE", "DEALLOCATE", "DEALLOCATE ALL", "DISCARD ALL", "DECLARE CURSOR",
        "CLOSE CURSOR", "CLOSE CURSOR ALL",
    }
)  # fmt: skip
#: rows swallowed after a masking stop before the statement is cancelled upstream: a short rest
#: is left to finish (a cancel arriving after it could hit the client's next statement).
_CANCEL_AFTER_ROWS = 1000


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
    # Statement and portal records changed by Parse/Bind/Close sent in this unit, oldest first,
    # with what they replaced: upstream confirms each (ParseComplete...) or, after an error,
    # skips the rest -- then the rest is rolled back, so the gateway's records never disagree
    # with upstream's about what a name runs.
    undo: deque[tuple[dict[str, Any], str, Any]] = field(default_factory=deque)
    touched: bool = False  # an extended-protocol message since the last Sync
    mixed: bool = False  # a Query arrived before that Sync: results cannot be attributed
    swallowed: int = 0  # rows dropped after a stop; a flood gets the statement cancelled
    cancelled: bool = False


Release = Callable[[pw.ErrorResponse | None], "pw.Message | tuple[pw.Message, ...]"]


@dataclass(slots=True)
class Held:
    """A statement policy holds for review, in place of the message(s) to send upstream.

    The session asks the approvals service (I/O the enforcer does not do), then calls `release`
    exactly once: with None when an approved review lets exactly this statement run, or with
    the error the client gets instead. Until then the session sends nothing else upstream, so
    the enforcer's view of the unit order stays true.
    """

    sql: str
    parameters: tuple[str | None, ...]
    requirements: tuple[ReviewRequirement, ...]
    rules: str
    policy_version: str
    kinds: frozenset[str]
    refusal: pw.ErrorResponse  # what the client gets when nothing approves it
    _release: Release
    reason: str | None = None  # the session's stated reason (SET wardgate.reason)
    released: bool = False

    def release(self, refusal: pw.ErrorResponse | None) -> pw.Message | tuple[pw.Message, ...]:
        if self.released:
            raise RuntimeError("a held statement is released once")
        self.released = True
        return self._release(refusal)


_Key = tuple[str, str, tuple[frozenset[str], frozenset[str]]]  # (version, shape, grant roles)
_NO_GRANTS: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())


@dataclass(slots=True)
class Enforcer:
    holder: PolicyHolder
    identity: Identity
    connection: Connection
    read_only: bool  # fixed when the upstream session opened; a reload does not lift it
    cancel: Callable[[], None] = lambda: None  # asks upstream to cancel the running statement
    schedule: Schedule | None = None  # loop.call_later in the gateway
    planner: ResultPlanner | None = None  # present when masking is configured
    # Roles held now through just-in-time grants, by identity name (the gateway's in-memory
    # copy of the store: no I/O per statement). Decisions are cached per set of roles.
    grants: Callable[[str], frozenset[str]] | None = None
    # The requester's stated reason for reviews: SET wardgate.reason = '...' (or the startup
    # option), used when the statement itself carries no /* reason: ... */ comment.
    reason: str | None = None
    _units: deque[_Unit] = field(default_factory=deque)
    _open: _Unit = field(default_factory=_Unit)  # the extended-protocol unit not yet synced
    _statements: dict[str, tuple[str, str, _Limits]] = field(default_factory=dict)
    _last_masks: MaskSpec = NO_MASKS  # for notices, which belong to no statement
    # What each SQL-level PREPARE holds: an EXECUTE of it is decided on that too.
    _sql_prepared: dict[str, tuple[StatementFacts, ...]] = field(default_factory=dict)
    _portals: dict[str, _Entry] = field(default_factory=dict)  # portal -> its statement, at Bind
    # A portal's record is trusted for masking only while nothing could have replaced the
    # portal upstream unseen: it keeps the count of statements sent that could open cursors
    # (`may_open_cursors`) at its Bind, and names SQL has used (PREPARE, DECLARE) are not trusted.
    _portal_epochs: dict[str, int] = field(default_factory=dict)
    _cursor_openers: int = 0
    _sql_names: Names = field(default_factory=Names)
    # Parameters of portals bound to statements that need review: approvals bind to them.
    _portal_params: dict[str, tuple[str | None, ...]] = field(default_factory=dict)
    _param_types: dict[str, tuple[int, ...]] = field(default_factory=dict)  # of those statements
    _denials: int = 0
    # Decisions by (policy version, statement shape): a session's identity and connection are
    # fixed, and statements of one shape have the same facts, so they get the same decision --
    # unless a rule's condition can read the statement's text (then nothing is cached).
    _decisions: dict[_Key, tuple[pw.ErrorResponse | None, _Limits, Decided]] = field(
        default_factory=dict
    )
    _cacheable: tuple[str, bool] = ("", False)  # (policy version, no condition reads the text)
    # The audit log's summary of the last decision made and the normalized text (shape) of the
    # statement (`_decide` sets them): the session reads them right after `outgoing`.
    decided: Decided | None = None
    shape: str | None = None

    @classmethod
    def create(
        cls, holder: PolicyHolder, identity: Identity, connection: Connection, **hooks: Any
    ) -> Enforcer:
        enforcer = cls(holder, identity, connection, False, **hooks)
        # Grants held at connection time count: a session opened during a write grant is not
        # held read-only upstream (when the grant ends, the policy refuses its writes).
        enforcer.read_only = session_read_only(
            holder.current, enforcer._granted_identity(), connection
        )
        return enforcer

    @property
    def policy(self) -> Policy:
        return self.holder.current

    # --- towards upstream -----------------------------------------------------------------------

    def outgoing(self, msg: pw.Message) -> pw.Message | tuple[pw.Message, ...] | Held:
        """A frontend message on its way upstream; refused statements come back replaced.

        In a masked session an Execute goes with a Describe of its portal ahead of it.
        """
        cls = type(msg)
        if cls is pw.Query:
            assert isinstance(msg, pw.Query)
            refusal, limits, statements = self._decide(msg.sql)
            if limits.review:
                return self._hold_query(msg, refusal, limits, statements)
            self._sent(statements)
            self._push(
                self._simple_unit(_Unit(refusal=refusal, limits=limits, statements=statements))
            )
            if limits.masks:
                self._last_masks = limits.masks
            return pw.Query(sql=DENIED_SQL) if refusal else msg
        if cls is pw.FunctionCall:
            # The fastpath calls any function by OID with no SQL to analyse: no policy decision
            # and no result lineage are possible, so it is refused like a denied statement.
            refusal = pw.ErrorResponse.build(
                sqlstate.INSUFFICIENT_PRIVILEGE,
                "denied: fastpath function calls are not allowed through the gateway",
                hint="call the function with SELECT",
            )
            self._push(self._simple_unit(_Unit(refusal=refusal)))
            return pw.Query(sql=DENIED_SQL)
        if cls is pw.Parse:
            assert isinstance(msg, pw.Parse)
            self._open.touched = True
            refusal, limits, _ = self._decide(msg.sql)
            if refusal is None or limits.review:  # a review is asked for at Execute
                self._record(self._statements, msg.name, (msg.sql, self._stamp(), limits))
                if self.planner is not None:
                    self.planner.wire.add("S", msg.name)
                if limits.review:
                    self._param_types[msg.name] = msg.param_types
                return msg
            # Upstream rejects the substitute, so it keeps whatever the name held before.
            self._refuse_in_open_unit(refusal)
            return pw.Parse(name=msg.name, sql=DENIED_SQL)
        if cls is pw.Bind:
            assert isinstance(msg, pw.Bind)
            self._open.touched = True
            entry = self._statements.get(msg.statement)
            self._record(self._portals, msg.portal, entry)
            # a statement name SQL has used (DEALLOCATE, then PREPARE) may run anything now
            known = ("S", msg.statement) not in self._sql_names
            self._record(self._portal_epochs, msg.portal, self._cursor_openers if known else -1)
            if self.planner is not None:
                self.planner.wire.add("P", msg.portal)
            if entry is not None and entry[2].review:
                types = self._param_types.get(msg.statement, ())
                self._portal_params[msg.portal] = _param_texts(msg, types)
            return msg
        if cls is pw.Execute:
            assert isinstance(msg, pw.Execute)
            self._open.touched = True
            return self._execute(msg)
        if cls is pw.Describe:
            self._open.touched = True
            self._open.describes.append(_Describe(injected=False))
            return msg
        if cls is pw.Close:
            assert isinstance(msg, pw.Close)
            self._open.touched = True
            self._record(self._statements if msg.kind == "S" else self._portals, msg.name, None)
            if msg.kind != "S":
                self._record(self._portal_epochs, msg.name, None)
            if self.planner is not None:
                self.planner.wire.add("S" if msg.kind == "S" else "P", msg.name)
            return msg
        if cls is pw.Sync:
            unit, self._open = self._open, _Unit()
            self._push(unit)
        return msg

    def _simple_unit(self, unit: _Unit) -> _Unit:
        """A Query's (or refused FunctionCall's) unit, absorbing extended messages not yet synced.

        PostgreSQL answers those first, in the same stream before one ReadyForQuery, so the two
        become one unit; which statement a result then belongs to cannot be told reliably, and
        the planner treats every result in it as of unknown provenance (fail closed).
        """
        pending = self._open
        if not pending.touched:
            return unit
        self._open = _Unit()
        unit.mixed = True
        unit.describes = pending.describes
        unit.undo = pending.undo
        unit.refusal = pending.refusal or unit.refusal
        unit.limits.tighten(pending.limits)
        return unit

    def _record(self, records: dict[str, Any], name: str, entry: Any) -> None:
        """Change a statement or portal record now, undoably until upstream confirms it."""
        self._open.undo.append((records, name, records.get(name)))
        if entry is None:
            records.pop(name, None)
        else:
            records[name] = entry

    def _sent(self, statements: tuple[StatementFacts, ...]) -> None:
        """Statements going upstream: note what they may do to the portal namespace."""
        for st in statements:
            if may_open_cursors(st):
                self._cursor_openers += 1
            if st.command == "PREPARE" and st.prepared_name:
                self._sql_names.add("S", st.prepared_name)
            elif st.command == "DECLARE CURSOR" and st.cursor_name:
                self._sql_names.add("P", st.cursor_name)

    def _portal_known(self, portal: str) -> bool:
        """The portal is what its Bind made it: nothing since could have replaced it upstream."""
        return (
            self._portal_epochs.get(portal) == self._cursor_openers
            and ("P", portal) not in self._sql_names
        )

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
        prepared = dict(self._sql_prepared)  # plus PREPAREs earlier in this very string
        for st in analysis.statements:
            name = st.prepared_name
            if name and st.command == "PREPARE":
                body = prepared_body(st.text)
                prepared[name] = body.statements if body else ()
            elif name and st.command != "DEALLOCATE":
                extra.extend(prepared.get(name, ()))
        if not extra:
            return None
        return dataclasses.replace(analysis, statements=analysis.statements + tuple(extra))

    def _refuse_in_open_unit(self, refusal: pw.ErrorResponse) -> None:
        if self._open.refusal is None:
            self._open.refusal = refusal

    def _execute(self, msg: pw.Execute) -> pw.Message | tuple[pw.Message, ...] | Held:
        entry = self._portals.get(msg.portal)
        if entry is None:
            if self.planner is None:
                return msg  # upstream has no such portal either: its own error follows
            # The gateway does not know what this portal runs: nothing to decide it on and no
            # columns to mask by. Refuse rather than guess.
            return self._deny_execute(
                pw.ErrorResponse.build(
                    sqlstate.INSUFFICIENT_PRIVILEGE,
                    f'denied: portal "{msg.portal}" was not bound through the gateway',
                )
            )
        sql, version, limits = entry
        if version != self._stamp():
            refusal, limits, _ = self._decide(sql)
            if refusal is not None and not limits.review:
                return self._deny_execute(refusal)
            self._portals[msg.portal] = (sql, self._stamp(), limits)
        if limits.review:
            return self._hold_execute(msg, sql, limits)
        return self._run_execute(msg, sql, limits)

    def _run_execute(
        self, msg: pw.Execute, sql: str, limits: _Limits
    ) -> pw.Message | tuple[pw.Message, ...]:
        self._open.limits.tighten(limits)
        if self.planner is None:
            return msg
        statements = analyze_shaped(sql)[0].statements
        # Planned by its statement only if the portal surely runs it; else of unknown provenance.
        known = len(statements) == 1 and self._portal_known(msg.portal)
        self._sent(statements)
        if not limits.masks:
            return msg
        self._last_masks = limits.masks
        self._open.describes.append(_Describe(True, statements[0] if known else None, limits.masks))
        return pw.Describe(kind="P", name=msg.portal), msg

    def _hold_query(
        self,
        msg: pw.Query,
        refusal: pw.ErrorResponse | None,
        limits: _Limits,
        statements: tuple[StatementFacts, ...],
    ) -> Held:
        assert refusal is not None  # a review decision always carries its refusal

        def release(err: pw.ErrorResponse | None) -> pw.Message:
            unit = _Unit(refusal=err, limits=_Limits() if err else limits.approved())
            if err is None:
                self._sent(statements)
            self._push(self._simple_unit(dataclasses.replace(unit, statements=statements)))
            if err is None and limits.masks:
                self._last_masks = limits.masks
            return pw.Query(sql=DENIED_SQL) if err else msg

        return self._held(msg.sql, (), limits, statements, refusal, release)

    def _hold_execute(self, msg: pw.Execute, sql: str, limits: _Limits) -> Held:
        params = self._portal_params.get(msg.portal, ())
        statements = analyze_shaped(sql)[0].statements
        refusal = self._review_refusal(limits)

        def release(err: pw.ErrorResponse | None) -> pw.Message | tuple[pw.Message, ...]:
            if err is not None:
                return self._deny_execute(err)
            return self._run_execute(msg, sql, limits.approved())

        return self._held(sql, params, limits, statements, refusal, release)

    def _held(
        self,
        sql: str,
        params: tuple[str | None, ...],
        limits: _Limits,
        statements: tuple[StatementFacts, ...],
        refusal: pw.ErrorResponse,
        release: Release,
    ) -> Held:
        kinds = frozenset(k for st in statements for k in st.kinds)
        return Held(
            sql,
            params,
            limits.review,
            limits.rules,
            self.policy.version,
            kinds,
            refusal,
            release,
            reason=self.reason,
        )

    def _review_refusal(self, limits: _Limits) -> pw.ErrorResponse:
        return pw.ErrorResponse.build(
            sqlstate.INSUFFICIENT_PRIVILEGE,
            f"statement requires approval (rules: {limits.rules})",
            detail=f"rules: {limits.rules}; policy version {self.policy.version[:12]}",
        )

    def _deny_execute(self, refusal: pw.ErrorResponse) -> pw.Message:
        """An Execute refused: a Parse that fails under a throwaway name takes its place."""
        self._refuse_in_open_unit(refusal)
        self._denials += 1
        return pw.Parse(name=f"wardgate_denied_{self._denials}", sql=DENIED_SQL)

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
            assert isinstance(msg, pw.ReadyForQuery)
            if msg.status == "I" and self.planner is not None:
                self.planner.cursors.clear()  # cursors end with their transaction (WITH HOLD
                # ones then count as unknown: their FETCH results are masked as such)
            return msg
        # Upstream answers units in order; with none synced and pending, the message belongs to
        # the open one (a client may Parse, Flush and wait before it sends Sync).
        unit = self._units[0] if self._units else self._open
        if cls in _CONFIRMS:
            if unit.undo:
                unit.undo.popleft()  # upstream did it: the record stands
            return msg
        if cls is pw.CommandComplete:
            self._completed(unit)
        elif cls is pw.EmptyQueryResponse:
            unit.done += 1
        if unit.stopped is not None and cls not in _ASYNC:
            if cls in _ENDS_STATEMENT and not unit.delivered:
                unit.delivered = True
                return unit.stopped
            if cls is pw.DataRow or cls is pw.CopyData:
                unit.swallowed += 1
                if unit.swallowed > _CANCEL_AFTER_ROWS and not unit.cancelled:
                    unit.cancelled = True
                    self.cancel()  # a flood: stop it upstream
            return None
        if cls is pw.ErrorResponse:
            while unit.undo:  # upstream skips the rest of the unit: none of it happened
                records, name, before = unit.undo.pop()
                if before is None:
                    records.pop(name, None)
                else:
                    records[name] = before
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
        if cls is pw.DataRow:
            # The row cap first: masked rows count like any others, and a row past the cap is
            # neither masked nor sent. Then masking, only where this result has a masker.
            limit = unit.limits.row_limit
            if limit is not None:
                unit.rows += 1
                if unit.rows > limit:
                    unit.stopped = pw.ErrorResponse.build(
                        sqlstate.PROGRAM_LIMIT_EXCEEDED,
                        f"the policy allows at most {limit} rows per statement",
                        detail=f"rules: {unit.limits.rules}",
                    )
                    unit.cancelled = True
                    self.cancel()
                    return None
            return msg if unit.masker is None else self._mask(unit, msg)
        if cls is pw.CopyData:
            return msg if unit.copier is None else self._mask(unit, msg)
        if self.planner is not None:
            masked = self._mask(unit, msg)
            if masked is not msg:
                return masked
        if cls is pw.CommandComplete:
            unit.rows = 0  # the next statement of a multi-statement Query counts afresh
        return msg

    def _completed(self, unit: _Unit) -> None:
        """A statement succeeded: what it did to session state (PREPARE, DECLARE...) stands.

        Recorded only now, not when sent: a duplicate PREPARE or DECLARE fails upstream and must
        not replace what the name really runs.
        """
        if unit.current is not None:
            st = unit.current.statement
        elif not unit.mixed and unit.done < len(unit.statements):
            st = unit.statements[unit.done]
        else:
            st = None
        if st is not None and (st.command in _STATEFUL or "ddl" in st.kinds):
            self._remember((st,))
        if self.planner is not None:
            self.planner.ran(st)
        unit.done += 1

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
                st = None if unit.mixed else self._simple_statement(unit)
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
            unit.masker = unit.copier = unit.current = None  # (incoming counted it done)
        elif cls is pw.PortalSuspended:
            unit.masker = None
            # it ran part of the way: a function in it may have opened cursors already
            planner.ran(unit.current.statement if unit.current is not None else None)
        elif cls is pw.NoticeResponse:
            assert isinstance(msg, pw.NoticeResponse)
            masks = unit.limits.masks or self._last_masks
            return planner.scrub(msg, masks) if masks else msg
        elif cls is pw.NotificationResponse and self._last_masks:
            # pg_notify(channel, <any value>): in a masked session the payload is tokenized
            # whole (equal payloads stay equal); the channel is a name the listener chose.
            assert isinstance(msg, pw.NotificationResponse)
            token = planner.tools.mask("tokenize", msg.payload, None, "text", None)
            return dataclasses.replace(msg, payload=token or "")
        elif cls is pw.CopyOutResponse:
            assert isinstance(msg, pw.CopyOutResponse)
            if unit.current is not None:
                st, masks = unit.current.statement, unit.current.masks
            else:
                st = None if unit.mixed else self._simple_statement(unit)
                masks = unit.limits.masks
            if masks:
                try:
                    unit.copier = planner.copy_masker(msg, st, masks)
                except Unmaskable as exc:
                    self._stop(unit, f"COPY cannot be masked ({exc})")
                    return None
        return msg

    @staticmethod
    def _simple_statement(unit: _Unit) -> StatementFacts | None:
        return unit.statements[unit.done] if unit.done < len(unit.statements) else None

    def _stop(self, unit: _Unit, why: str) -> None:
        """End the unit's statement here: fail closed rather than let a value through."""
        unit.stopped = pw.ErrorResponse.build(
            sqlstate.FEATURE_NOT_SUPPORTED,
            f"result withheld: {why}",
            hint="the policy requires masking for this result and the gateway cannot apply it",
        )
        unit.masker = None  # the rest is swallowed; a flood gets cancelled (see incoming)

    # --- deciding -------------------------------------------------------------------------------

    def _decide(
        self, sql: str
    ) -> tuple[pw.ErrorResponse | None, _Limits, tuple[StatementFacts, ...]]:
        analysis, shape = analyze_shaped(sql)
        self.shape = shape
        policy = self.policy
        for st in analysis.statements:
            if st.command == "DISCARD ALL":
                self.reason = None
            for name, value in st.settings:
                if name == REASON_SETTING:
                    self.reason = value or None  # RESET (None) forgets it
        executes = (
            self._with_prepared(analysis)
            if self._sql_prepared or any(st.prepared_name for st in analysis.statements)
            else None
        )
        if executes is not None:  # depends on the session's prepared statements: never cached
            refusal, limits, self.decided = self._decide_fresh(executes)
            return refusal, limits, analysis.statements
        if shape is None or not self._shapes_decide(policy):
            refusal, limits, self.decided = self._decide_fresh(analysis)
            return refusal, limits, analysis.statements
        key = (policy.version, shape, self._roles())
        cached = self._decisions.get(key)
        if cached is None:
            if len(self._decisions) >= _DECISION_CACHE_SIZE:
                self._decisions.clear()
            cached = self._decisions[key] = self._decide_fresh(analysis)
        refusal, limits, self.decided = cached
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

    def _stamp(self) -> str:
        """What a prepared statement's decision depends on: the policy version, and the grant
        roles held when it was decided (a grant that starts or ends re-decides it at Execute)."""
        version = self.policy.version
        if self.grants is None:
            return version
        own, person = self._roles()
        if not own and not person:
            return version
        return f"{version}+{','.join(sorted(own))}/{','.join(sorted(person))}"

    def _roles(self) -> tuple[frozenset[str], frozenset[str]]:
        """Grant roles of the identity, and of the person an agent acts for."""
        grants = self.grants
        if grants is None:
            return _NO_GRANTS
        person = self.identity.on_behalf_of
        return grants(self.identity.name), grants(person.name) if person else frozenset()

    def cannot_name(self) -> bool:
        """Whether, under the policy in force now, this session's identity cannot define
        objects (catalog names may be trusted: see `ResultPlanner.still_trusted`)."""
        return session_cannot_name(self.policy, self._granted_identity(), self.connection)

    def _granted_identity(self) -> Identity:
        own, persons = self._roles()
        identity = self.identity
        if not own and not persons:
            return identity
        person = identity.on_behalf_of
        if person is not None and persons:
            person = dataclasses.replace(person, grants=persons)
        return dataclasses.replace(identity, grants=own, on_behalf_of=person)

    def _decide_fresh(self, analysis: Analysis) -> tuple[pw.ErrorResponse | None, _Limits, Decided]:
        identity = self._granted_identity()
        decision = decide(self.policy, identity, self.connection, analysis)
        rules = ", ".join(decision.rules) or "no rule allows it (default deny)"
        detail = f"rules: {rules}; policy version {decision.policy_version[:12]}"
        if decision.effect in ("allow", "review"):
            if self.read_only and any(s.read_only_breaking for s in analysis.statements):
                message = "denied: this session is read-only and the statement would lift that"
                return (
                    pw.ErrorResponse.build(sqlstate.INSUFFICIENT_PRIVILEGE, message, detail=detail),
                    _Limits(),
                    decided(analysis, decision, message),
                )
            limits = _limits(decision.guardrails, rules)
            policy = self.policy
            limits.masks = MaskSpec.of(decision.masks, policy.classify, policy.entities)
            if limits.masks and _stores_computed_settings(analysis):
                message = (
                    "denied: a masked session cannot store computed values in settings "
                    "(set_config with a name or value that is not a literal)"
                )
                return (
                    pw.ErrorResponse.build(sqlstate.INSUFFICIENT_PRIVILEGE, message, detail=detail),
                    _Limits(),
                    decided(analysis, decision, message),
                )
            if decision.effect == "review":
                limits.review = decision.reviews
                return self._review_refusal(limits), limits, decided(analysis, decision, None)
            return None, limits, decided(analysis, decision, None)
        message = f"denied by policy: {decision.message}"
        return (
            pw.ErrorResponse.build(sqlstate.INSUFFICIENT_PRIVILEGE, message, detail=detail),
            _Limits(),
            decided(analysis, decision, None),
        )


def _param_texts(msg: pw.Bind, types: tuple[int, ...]) -> tuple[str | None, ...]:
    """Bind parameters as text, for the reviewer and the binding.

    Text-format values are shown as sent; binary ones are decoded where the statement declared a
    common scalar type (psycopg sends numbers so), else shown as ``\\x`` hex. Any shown value that
    starts with a backslash gets a second one, so two different parameter lists never read the
    same (a value equal to another's hex display, say).
    """
    formats = msg.param_formats
    out: list[str | None] = []
    for i, value in enumerate(msg.params):
        if value is None:
            out.append(None)
            continue
        fmt = formats[0] if len(formats) == 1 else (formats[i] if i < len(formats) else 0)
        oid = types[i] if i < len(types) else 0
        text = _decode_param(value, oid if fmt == 1 else 25)
        if text is None:
            out.append("\\x" + value.hex())
        else:
            out.append("\\" + text if text.startswith("\\") else text)
    return tuple(out)


_INT_OIDS = {21: 2, 23: 4, 20: 8, 26: 4}  # int2, int4, int8, oid: their binary widths
_TEXT_OIDS = frozenset({25, 1043, 1042, 19, 705, 0})


def _decode_param(value: bytes, oid: int) -> str | None:
    """A parameter's value as text when the format is unambiguous, else None."""
    try:
        if oid in _TEXT_OIDS:
            return value.decode()
        width = _INT_OIDS.get(oid)
        if width is not None and len(value) == width:
            return str(int.from_bytes(value, "big", signed=oid != 26))
        if oid == 16 and len(value) == 1 and value in (b"\x00", b"\x01"):
            return "true" if value == b"\x01" else "false"
        if oid in (700, 701) and len(value) in (4, 8):
            (number,) = struct.unpack("!f" if len(value) == 4 else "!d", value)
            return repr(number)
    except (UnicodeDecodeError, struct.error):
        return None
    return None


def _stores_computed_settings(analysis: Analysis) -> bool:
    """set_config(name, value) where either is computed: a setting would then carry a value out
    past the masker (SHOW, current_setting, pg_settings, ParameterStatus)."""
    return any(
        st.command not in ("SET", "RESET")
        and any(name == "*" or value is None for name, value in st.settings)
        for st in analysis.statements
    )


def _limits(guardrails: Guardrails, rules: str) -> _Limits:
    return _Limits(
        row_limit=guardrails.row_limit, timeout_ms=guardrails.statement_timeout_ms, rules=rules
    )
