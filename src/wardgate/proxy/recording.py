"""A session's statements on their way to the audit log: intents before, outcomes after.

Theory of operation
-------------------
`StatementRecorder` watches one session's messages in both directions, as the relay hands them
on; it never changes a message.

- Towards upstream (`outgoing`), every Query, every Execute of the extended protocol and every
  FunctionCall is a *statement*: it gets the next ``statement_seq`` and a `StatementIntent`, with
  the text and parameters redacted (`_sqltext`), the analysis facts and the policy decision. Parse
  and Bind are remembered by name so an Execute knows its text, decision and parameters.
- Towards the client (`incoming`, only for the few message types that end something), each
  statement's outcome is followed the way the `Enforcer` follows units: a Query, a FunctionCall,
  or everything up to a Sync is a *unit* that ends with ReadyForQuery, and upstream answers units
  in order. In a unit of the extended protocol each Execute ends at its CommandComplete,
  EmptyQueryResponse, PortalSuspended or ErrorResponse; after an error PostgreSQL skips the rest
  of the unit, so the Executes left are ``skipped``. A Query ends at ReadyForQuery, with the rows
  of all its statements. Messages are seen after the enforcer rewrote them, so a refused
  statement's error is the refusal and the outcome says ``denied``.

Outcomes and captured results are queued without waiting (the writer commits them with the next
batch; `AuditWriter.close` commits what is queued, so a clean shutdown loses none).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pglast import parser

from wardgate import pgwire as pw
from wardgate.audit import (
    AuditError,
    AuditLog,
    DecisionSummary,
    FactsSummary,
    MaskingSummary,
    ResultCapturer,
    SessionEnded,
    StatementCapture,
    StatementIntent,
    StatementOutcome,
)
from wardgate.masking import MaskStats
from wardgate.pgwire import _sqlstate as sqlstate
from wardgate.sql import analyze_shaped

from ._sqltext import Finder, ValueTokens, redact_sql, scrub

if TYPE_CHECKING:
    from wardgate.policy import Decision
    from wardgate.sql import Analysis

__all__ = ["NO_POLICY", "Decided", "Pending", "StatementRecorder", "decided"]

log = logging.getLogger("wardgate.proxy")

# What a session without a policy records as the decision of every statement.
NO_POLICY: Final = DecisionSummary(effect="allow", message="no policy configured")
# Backend messages that end a statement or a unit: the only ones `incoming` needs to see.
OUTCOME_MESSAGES: Final = frozenset(
    {
        pw.CommandComplete,
        pw.ErrorResponse,
        pw.EmptyQueryResponse,
        pw.PortalSuspended,
        pw.ReadyForQuery,
        pw.FunctionCallResponse,
    }
)
CAPTURE_MESSAGES: Final = OUTCOME_MESSAGES | {pw.RowDescription, pw.DataRow}
_FACTS_CACHE_MAX: Final = 4096


@dataclass(frozen=True, slots=True)
class Decided:
    """What the audit log keeps of one decision: facts and decision summaries, and whether the
    statement was refused. The enforcer caches one per statement shape and policy version."""

    facts: FactsSummary
    decision: DecisionSummary
    refused: bool
    masked: bool = False  # the policy masks this statement's results (so they may be captured)
    approvals: tuple[str, ...] = ()  # the approved reviews it runs on


def decided(analysis: Analysis, decision: Decision, refusal: str | None) -> Decided:
    """The summaries of a decision; ``refusal`` is the message of a refusal the enforcer made on
    top of an allow (a read-only session asked to lift that), recorded as a deny."""
    summary = DecisionSummary.from_decision(decision)
    if refusal is not None and summary.effect == "allow":
        summary = DecisionSummary(
            effect="deny",
            rules=summary.rules,
            policy_version=summary.policy_version,
            message=refusal,
            read_only=summary.read_only,
        )
    return Decided(
        FactsSummary.from_analysis(analysis),
        summary,
        refused=summary.effect != "allow",
        masked=bool(decision.masks),
    )


# Facts of sessions without a policy: by exact text, and by the shapes `analyze_shaped` vouches
# for (two maps: a raw text with $n in it may equal another statement's shape, not its facts).
_facts_by_sql: dict[str, Decided] = {}
_facts_by_shape: dict[str, Decided] = {}


def _unpoliced(sql: str) -> tuple[Decided, str | None]:
    """Facts for a session without a policy, and the statement's shape (normalized text).

    A known shape costs one ``normalize`` (~2 us) and a lookup, not an analysis.
    """
    hit = _facts_by_sql.get(sql)
    if hit is not None:
        return hit, None
    shape: str | None = None
    if "\0" not in sql:
        try:
            shape = parser.normalize(sql)
        except Exception:  # unparsable: the analysis says so
            shape = None
        if shape is not None and (hit := _facts_by_shape.get(shape)) is not None:
            return hit, shape
    analysis, vouched = analyze_shaped(sql)
    hit = Decided(FactsSummary.from_analysis(analysis), NO_POLICY, refused=False)
    cache, key = (_facts_by_shape, vouched) if vouched is not None else (_facts_by_sql, sql)
    if len(sql) <= 8192:
        if len(cache) >= _FACTS_CACHE_MAX:
            cache.clear()
        cache[key] = hit
    return hit, shape


@dataclass(slots=True)
class _Prepared:
    """A Parse: its redacted text, literal tokens and decision."""

    text: str
    literals: tuple[str | None, ...]
    decided: Decided


@dataclass(slots=True)
class Pending:
    """A statement sent (or about to be sent) upstream whose outcome is not known yet."""

    seq: int
    refused: bool
    whole_unit: bool  # a Query or FunctionCall: ends at ReadyForQuery
    masked: bool = False  # its results are masked by policy: only those are captured
    started: int = 0  # time.monotonic_ns() when its bytes went upstream
    rows: int | None = None
    sqlstate: str | None = None
    capture: StatementCapture | None = None


@dataclass(slots=True)
class _Unit:
    statements: deque[Pending]
    failed: bool = False


_UNKNOWN: Final = _Prepared("", (), Decided(FactsSummary(), NO_POLICY, refused=False))
_FUNCTION_CALL: Final = FactsSummary(kinds=("procedural",), commands=("FUNCTION CALL",))
_NO_MASKING: Final = MaskingSummary()  # shared: nothing ever changes its (empty) mapping


class StatementRecorder:
    """One session's intents and outcomes (see the module docstring)."""

    def __init__(
        self,
        audit: AuditLog,
        *,
        session_id: str,
        user: str,
        connection: str,
        tokens: ValueTokens,
        find: Finder | None = None,
        stats: Callable[[], MaskStats | None] = lambda: None,
    ) -> None:
        self.audit = audit
        self.session_id = session_id
        self.user = user
        self.connection = connection
        self.strict = audit.durability_for(connection) == "strict"
        self.count = 0
        self.started = time.monotonic_ns()
        self.capturer: ResultCapturer | None = audit.capturer(session_id)
        self.watch = CAPTURE_MESSAGES if self.capturer is not None else OUTCOME_MESSAGES
        self._tokens = tokens
        self._find = find
        self._stats = stats
        self._statements: dict[str, _Prepared] = {}
        self._portals: dict[str, tuple[_Prepared, tuple[str | None, ...]]] = {}
        self._units: deque[_Unit] = deque()
        self._open = _Unit(deque())
        self._columns: tuple[str, ...] = ()
        self._batch: list[Pending] = []  # statements of the chunk being relayed (strict only)
        self.lost = 0  # outcomes the writer refused (logged)

    # --- towards upstream -----------------------------------------------------------------------

    def outgoing(
        self, msg: pw.Message, fresh: Decided | None, shape: str | None = None
    ) -> StatementIntent | None:
        """Observe a client message; the intent to record if it runs a statement.

        ``fresh`` is the decision the enforcer made for this very message (None: none made) and
        ``shape`` the statement's normalized text it analysed (`analyze_shaped`).
        """
        cls = type(msg)
        if cls is pw.Query:
            assert isinstance(msg, pw.Query)
            got, shape = (fresh, shape) if fresh is not None else _unpoliced(msg.sql)
            text, values = self._redact(msg.sql, got, shape)
            pending = self._pending(got, whole_unit=True)
            self._units.append(_Unit(deque((pending,))))
            return self._intent(pending.seq, text, self._tokens.tokens(values), got)
        if cls is pw.Parse:
            assert isinstance(msg, pw.Parse)
            got, shape = (fresh, shape) if fresh is not None else _unpoliced(msg.sql)
            text, values = self._redact(msg.sql, got, shape)
            self._statements[msg.name] = _Prepared(text, self._tokens.tokens(values), got)
            return None
        if cls is pw.Bind:
            assert isinstance(msg, pw.Bind)
            prepared = self._statements.get(msg.statement, _UNKNOWN)
            self._portals[msg.portal] = (prepared, self._tokens.tokens(msg.params))
            return None
        if cls is pw.Execute:
            assert isinstance(msg, pw.Execute)
            prepared, params = self._portals.get(msg.portal, (_UNKNOWN, ()))
            got = fresh if fresh is not None else prepared.decided
            pending = self._pending(got, whole_unit=False)
            self._open.statements.append(pending)
            return self._intent(pending.seq, prepared.text, params + prepared.literals, got)
        if cls is pw.Sync:
            self._units.append(self._open)
            self._open = _Unit(deque())
            return None
        if cls is pw.Close:
            assert isinstance(msg, pw.Close)
            (self._statements if msg.kind == "S" else self._portals).pop(msg.name, None)
            return None
        if cls is pw.FunctionCall:
            assert isinstance(msg, pw.FunctionCall)
            got = Decided(_FUNCTION_CALL, NO_POLICY, refused=False)
            pending = self._pending(got, whole_unit=True)
            self._units.append(_Unit(deque((pending,))))
            text = f"<function call: oid {msg.function_oid}>"
            return self._intent(pending.seq, text, self._tokens.tokens(msg.args), got)
        return None

    def _redact(self, sql: str, got: Decided, shape: str | None) -> tuple[str, tuple[str, ...]]:
        text, values = redact_sql(sql, self._find, shape)
        if got.facts.unparsable and self._find is not None:
            text = scrub(text, self._find)
        return text, values

    def _pending(self, got: Decided, *, whole_unit: bool) -> Pending:
        self.count += 1
        pending = Pending(self.count, got.refused, whole_unit, got.masked, time.monotonic_ns())
        if self.strict:
            self._batch.append(pending)
        return pending

    def take_batch(self) -> list[Pending]:
        """The statements seen since the last call (their bytes are about to be held)."""
        batch, self._batch = self._batch, []
        return batch

    def _intent(
        self, seq: int, text: str, params: tuple[str | None, ...], got: Decided
    ) -> StatementIntent:
        return StatementIntent(
            session_id=self.session_id,
            statement_seq=seq,
            user=self.user,
            connection=self.connection,
            text=text,
            parameters=params,
            facts=got.facts,
            decision=got.decision,
            approvals=got.approvals,
        )

    # --- towards the client ---------------------------------------------------------------------

    def incoming(self, msg: pw.Message) -> None:
        """Observe a backend message on its way to the client (one of ``self.watch``)."""
        cls = type(msg)
        if cls is pw.ReadyForQuery:
            if self._units:
                unit = self._units.popleft()
                while unit.statements:
                    st = unit.statements.popleft()
                    if st.whole_unit:
                        self._finish(st, "ok" if st.sqlstate is None else self._failure(st))
                    else:
                        self._finish(st, "skipped")
            return
        unit = self._units[0] if self._units else self._open
        if not unit.statements:
            return
        st = unit.statements[0]
        if cls is pw.DataRow:
            assert isinstance(msg, pw.DataRow)
            self._capture_row(st, msg.values)
            return
        if cls is pw.RowDescription:
            assert isinstance(msg, pw.RowDescription)
            self._columns = tuple(f.name for f in msg.fields)
            return
        if cls is pw.ErrorResponse:
            assert isinstance(msg, pw.ErrorResponse)
            if st.sqlstate is None:
                st.sqlstate = msg.sqlstate or sqlstate.INTERNAL_ERROR
            if not st.whole_unit:
                unit.statements.popleft()
                unit.failed = True
                self._finish(st, self._failure(st))
            return
        if cls is pw.CommandComplete:
            assert isinstance(msg, pw.CommandComplete)
            rows = _rows(msg.tag)
            if rows is not None:
                st.rows = rows if st.rows is None else st.rows + rows
        if not st.whole_unit and not unit.failed:
            unit.statements.popleft()
            self._finish(st, "ok")

    @staticmethod
    def _failure(st: Pending) -> str:
        if st.refused:
            return "denied"
        if st.sqlstate == sqlstate.QUERY_CANCELED:
            return "cancelled"
        return "error"

    def _capture_row(self, st: Pending, values: Sequence[bytes | None]) -> None:
        if self.capturer is None or not st.masked:
            return
        if st.capture is None:
            st.capture = self.capturer.start(st.seq, self._columns)
        st.capture.add_row(
            [None if v is None else v.decode("utf-8", "backslashreplace") for v in values]
        )

    def sent(self, statements: Sequence[Pending]) -> None:
        """The bytes of these statements went upstream now (after waiting for their intents)."""
        now = time.monotonic_ns()
        for st in statements:
            st.started = now

    def _finish(self, st: Pending, status: str) -> None:
        duration = (time.monotonic_ns() - st.started) // 1000 if st.started else 0
        masking = _NO_MASKING
        stats = self._stats()
        if stats is not None and (stats.columns or stats.entities):
            masking = MaskingSummary(
                columns=tuple(sorted(stats.columns)),
                entities=dict(sorted(stats.entities.items())),
                values=sum(stats.columns.values()),
            )
            stats.columns.clear()
            stats.entities.clear()
        self._submit(
            StatementOutcome(
                session_id=self.session_id,
                statement_seq=st.seq,
                status=status,
                rows=st.rows,
                duration_us=duration,
                sqlstate=st.sqlstate,
                masking=masking,
            )
        )
        if st.capture is not None:
            self._submit(st.capture.finish())
            st.capture = None

    def _submit(self, event: Any) -> None:
        try:
            self.audit.submit(event, connection=self.connection, wait=False)
        except AuditError as exc:
            self.lost += 1
            log.error("session %s: %s not recorded: %s", self.session_id, event.type, exc)

    # --- the end --------------------------------------------------------------------------------

    def unfinished(self) -> list[Pending]:
        out = [st for unit in self._units for st in unit.statements]
        out.extend(self._open.statements)
        return out

    async def end(self, reason: str) -> None:
        """Close every open statement (``interrupted``) and record the session's end."""
        for st in self.unfinished():
            self._finish(st, "interrupted" if st.sqlstate is None else self._failure(st))
        self._units.clear()
        self._open = _Unit(deque())
        event = SessionEnded(
            session_id=self.session_id,
            user=self.user,
            connection=self.connection,
            reason=reason,
            statements=self.count,
            duration_us=(time.monotonic_ns() - self.started) // 1000,
        )
        try:
            await self.audit.record(event, connection=self.connection)
        except AuditError as exc:
            log.error("session %s: session.ended not recorded: %s", self.session_id, exc)


def _rows(tag: str) -> int | None:
    """Rows returned or affected, from a CommandComplete tag (``SELECT 5``, ``INSERT 0 3``)."""
    _, _, last = tag.rpartition(" ")
    return int(last) if last.isdigit() else None
