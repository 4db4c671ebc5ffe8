"""Policy enforcement on the wire, keeping PostgreSQL's own error semantics.

A refused Query or Parse is not answered by the gateway out of band: that would reorder responses
to pipelined requests and could not put an open transaction into the failed state PostgreSQL
would. Instead the statement text is replaced, upstream, by `DENIED_SQL`, which PostgreSQL's parser
rejects before anything runs. PostgreSQL then does exactly what it does for any error (aborts the
transaction block, skips to Sync in the extended protocol, runs nothing else of a simple-query
message), and the gateway rewrites that one syntax error into its own 42501 naming the rules.

Each request that ends in a ReadyForQuery (a Query, or everything up to a Sync) is a *unit*;
`Enforcer` keeps one slot per unit in flight, holding the error to substitute if that unit
carried a refused statement.

Policies change while statements stay prepared: a named statement remembers the policy version it
was decided under, and an Execute under a newer version decides it again. A refusal there swaps
the Execute for a Parse of `DENIED_SQL` under a throwaway name, which fails without touching any
statement or portal the client holds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from wardgate import pgwire as pw
from wardgate.pgwire import _sqlstate as sqlstate
from wardgate.policy import Connection, Identity, Policy, decide, session_read_only
from wardgate.sql import analyze

__all__ = ["DENIED_SQL", "Enforcer", "PolicyHolder"]

DENIED_SQL = "WARDGATE_DENIED"  # not SQL: fails in the parser, before any effect
_MARKER = f'"{DENIED_SQL}"'


# The session's upstream startup option for identities the policy holds read-only. PostgreSQL
# then refuses every write, including one hidden in a volatile function the parser cannot see.
READ_ONLY_OPTIONS = "-c default_transaction_read_only=on"


@dataclass(slots=True)
class PolicyHolder:
    """The policy in force; a reload swaps ``current`` and every session sees the new one."""

    current: Policy


@dataclass(slots=True)
class Enforcer:
    holder: PolicyHolder
    identity: Identity
    connection: Connection
    read_only: bool  # fixed when the upstream session opened; a reload does not lift it
    _units: deque[pw.ErrorResponse | None] = field(default_factory=deque)
    _open: pw.ErrorResponse | None = None  # refusal in the extended-protocol unit not yet synced
    _statements: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> sql, version
    _portals: dict[str, str] = field(default_factory=dict)  # portal -> statement name
    _denials: int = 0

    @classmethod
    def create(cls, holder: PolicyHolder, identity: Identity, connection: Connection) -> Enforcer:
        read_only = session_read_only(holder.current, identity, connection)
        return cls(holder, identity, connection, read_only)

    @property
    def policy(self) -> Policy:
        return self.holder.current

    def outgoing(self, msg: pw.Message) -> pw.Message:
        """A frontend message on its way upstream; refused statements come back replaced."""
        cls = type(msg)
        if cls is pw.Query:
            assert isinstance(msg, pw.Query)
            refusal = self._refusal(msg.sql)
            self._units.append(refusal)
            return pw.Query(sql=DENIED_SQL) if refusal else msg
        if cls is pw.Parse:
            assert isinstance(msg, pw.Parse)
            refusal = self._refusal(msg.sql)
            if refusal is None:
                self._statements[msg.name] = (msg.sql, self.policy.version)
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
            return self._recheck(msg)
        if cls is pw.Close:
            assert isinstance(msg, pw.Close)
            (self._statements if msg.kind == "S" else self._portals).pop(msg.name, None)
            return msg
        if cls is pw.Sync or cls is pw.FunctionCall:
            self._units.append(self._open)
            self._open = None
        return msg

    def _refuse_in_open_unit(self, refusal: pw.ErrorResponse) -> None:
        if self._open is None:
            self._open = refusal

    def _recheck(self, msg: pw.Execute) -> pw.Message:
        name = self._portals.get(msg.portal)
        entry = self._statements.get(name) if name is not None else None
        if entry is None or entry[1] == self.policy.version:
            return msg
        sql = entry[0]
        refusal = self._refusal(sql)
        if refusal is None:
            assert name is not None
            self._statements[name] = (sql, self.policy.version)
            return msg
        self._refuse_in_open_unit(refusal)
        self._denials += 1
        return pw.Parse(name=f"wardgate_denied_{self._denials}", sql=DENIED_SQL)

    def incoming(self, msg: pw.Message) -> pw.Message:
        """A backend message on its way to the client; our stand-in error becomes the refusal."""
        cls = type(msg)
        if cls is pw.ErrorResponse:
            assert isinstance(msg, pw.ErrorResponse)
            # Upstream answers units in order; with none synced and pending, the error belongs to
            # the open one (a client may Parse, Flush and wait before it sends Sync).
            refusal = self._units[0] if self._units else self._open
            if (
                refusal is not None
                and msg.sqlstate == sqlstate.SYNTAX_ERROR
                and _MARKER in msg.message
            ):
                return refusal
        elif cls is pw.ReadyForQuery and self._units:
            self._units.popleft()
        return msg

    def _refusal(self, sql: str) -> pw.ErrorResponse | None:
        analysis = analyze(sql)
        decision = decide(self.policy, self.identity, self.connection, analysis)
        rules = ", ".join(decision.rules) or "no rule allows it (default deny)"
        if decision.effect == "allow":
            if not (self.read_only and any(s.read_only_breaking for s in analysis.statements)):
                return None
            return pw.ErrorResponse.build(
                sqlstate.INSUFFICIENT_PRIVILEGE,
                "denied: this session is read-only and the statement would lift that",
                detail=f"rules: {rules}; policy version {decision.policy_version[:12]}",
            )
        if decision.effect == "review":
            message = (
                f"statement requires approval (rules: {rules}); approvals are not available yet"
            )
        else:
            message = f"denied by policy: {decision.message}"
        return pw.ErrorResponse.build(
            sqlstate.INSUFFICIENT_PRIVILEGE,
            message,
            detail=f"rules: {rules}; policy version {decision.policy_version[:12]}",
        )
