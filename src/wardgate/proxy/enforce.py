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
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from wardgate import pgwire as pw
from wardgate.pgwire import _sqlstate as sqlstate
from wardgate.policy import Connection, Identity, Policy, decide, session_read_only
from wardgate.sql import analyze

__all__ = ["DENIED_SQL", "Enforcer"]

DENIED_SQL = "WARDGATE_DENIED"  # not SQL: fails in the parser, before any effect
_MARKER = f'"{DENIED_SQL}"'


# The session's upstream startup option for identities the policy holds read-only. PostgreSQL
# then refuses every write, including one hidden in a volatile function the parser cannot see.
READ_ONLY_OPTIONS = "-c default_transaction_read_only=on"


@dataclass(slots=True)
class Enforcer:
    policy: Policy
    identity: Identity
    connection: Connection
    read_only: bool
    _units: deque[pw.ErrorResponse | None]
    _open: pw.ErrorResponse | None = None  # refusal in the extended-protocol unit not yet synced

    @classmethod
    def create(cls, policy: Policy, identity: Identity, connection: Connection) -> Enforcer:
        read_only = session_read_only(policy, identity, connection)
        return cls(policy, identity, connection, read_only, deque())

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
                return msg
            if self._open is None:
                self._open = refusal
            return pw.Parse(name=msg.name, sql=DENIED_SQL)
        if cls is pw.Sync or cls is pw.FunctionCall:
            self._units.append(self._open)
            self._open = None
        return msg

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
