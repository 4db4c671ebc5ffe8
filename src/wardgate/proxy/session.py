"""One client's session: startup, authentication to the gateway, upstream, then relay.

The client authenticates to the *gateway* (SCRAM-SHA-256 against gateway identities); the gateway
then opens the upstream session with the connection's own credentials. The client never learns
them, and upstream sees the gateway's service role, not the person.

After startup both sockets are in relay mode: every chunk is framed and decoded into typed
messages by `pgwire`, and re-encoded on the other side. `pending` counts requests that will end in
a ReadyForQuery (Query, Sync, FunctionCall) minus the ReadyForQuery messages seen, so a client that
vanishes mid-query gets its upstream query cancelled rather than left running.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from wardgate import pgwire as pw
from wardgate.approvals import Approvals
from wardgate.audit import AuditError, SessionStarted, StatementIntent
from wardgate.config import ConfigError, ConnectionConfig, IdentityConfig
from wardgate.identity.service import SignInFailed
from wardgate.identity.tokens import TokenError
from wardgate.pgwire import _sqlstate as sqlstate
from wardgate.pgwire._scram import ScramError, ScramServer, ScramVerifier, mock_salt
from wardgate.policy import Connection as PolicyConnection
from wardgate.policy import Identity as PolicyIdentity

from ._gate import AuditGate
from ._link import Link
from ._review import ReviewContext, settle, wait_mode_option
from ._sqltext import clean_text
from .enforce import READ_ONLY_OPTIONS, REASON_SETTING, Enforcer, Held
from .masking import ResultPlanner
from .recording import Decided, StatementRecorder
from .upstream import Upstream, UpstreamError, connect_upstream, send_cancel

if TYPE_CHECKING:
    from .server import Gateway

__all__ = ["Session"]

log = logging.getLogger("wardgate.proxy")

# Frontend messages each answered by exactly one ReadyForQuery.
_ENDS_WITH_READY = frozenset({pw.Query, pw.Sync, pw.FunctionCall})


class _Refuse(Exception):
    """End the session with an ErrorResponse the client may see."""

    def __init__(self, sqlstate: str, message: str, severity: str = "FATAL") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.severity = severity


class Session:
    def __init__(self, gateway: Gateway, link: Link, peer: str, *, loopback: bool) -> None:
        self.gateway = gateway
        self.link = link
        self.peer = peer
        self.loopback = loopback
        self.conn = pw.Connection(pw.Role.BACKEND, max_message_size=gateway.config.max_message_size)
        self.tls = False
        self.identity: IdentityConfig | None = None
        self.connection: ConnectionConfig | None = None
        self.upstream: Upstream | None = None
        self.process_id = 0
        self.secret_key = b""
        self.pending = 0
        self.enforcer: Enforcer | None = None
        self.session_id = ""
        self.recorder: StatementRecorder | None = None
        self.gate: AuditGate | None = None
        self._watch: frozenset[type[pw.Message]] = frozenset()
        self._end_reason: str | None = None
        self._close_after_gate = False  # the client sent Terminate behind held statements
        self._cancels: set[asyncio.Task[None]] = set()
        self._done: asyncio.Future[None] | None = None
        self._closing = False
        # A statement held for review: the task waiting on it, and client bytes that arrived
        # meanwhile (relayed, in order, once it is settled).
        self._review_task: asyncio.Task[None] | None = None
        self._backlog: list[bytes] = []
        self._review_wait: str | None = None  # the client's choice: hold or retry

    # --- lifecycle ------------------------------------------------------------------------------

    async def run(self) -> None:
        self._done = asyncio.get_running_loop().create_future()
        try:
            try:
                startup = await asyncio.wait_for(
                    self._startup(), timeout=self.gateway.config.startup_timeout
                )
            except TimeoutError:
                raise _Refuse(
                    sqlstate.PROTOCOL_VIOLATION, "timeout expired during startup"
                ) from None
            if startup is None:
                return
            self._start_relay()
            await self._done
        except _Refuse as exc:
            self._send_error(exc.sqlstate, str(exc), exc.severity)
            self.link.close()
        except pw.RemoteProtocolError as exc:
            log.info("client %s broke the protocol: %s", self.peer, exc)
            self._send_error(exc.sqlstate, str(exc), "FATAL")
            self.link.close()
        finally:
            self.gateway.forget(self)
            if self.gate is not None:
                self.gate.close()
            # Wait for both transports to be gone, so that Gateway.close really ends everything.
            if self.upstream is not None:
                await self.upstream.link.aclose()
            await self.link.aclose()
            if self.recorder is not None:
                await self.recorder.end(self._end_reason or "error")

    def _send_error(self, code: str, message: str, severity: str) -> None:
        err = pw.ErrorResponse.build(code, message, severity=severity)
        try:
            self.link.write(self.conn.send(err))
        except pw.LocalProtocolError:
            self.link.write(pw.encode(err))  # phase forbids it, but the client must still learn why

    # --- startup --------------------------------------------------------------------------------

    async def _events(self) -> list[pw.Message]:
        while True:
            data = await self.link.read()
            self.conn.receive_data(data)
            events = self.conn.next_events()
            if events:
                return events
            if not data:
                raise _ClientGone

    async def _startup(self) -> pw.StartupMessage | None:
        try:
            startup = await self._startup_packet()
            if startup is None:
                return None
            await self._authenticate(startup)
            await self._open_upstream(startup)
        except _ClientGone:
            self.link.close()
            return None
        return startup

    async def _startup_packet(self) -> pw.StartupMessage | None:
        gw = self.gateway
        while True:
            for msg in await self._events():
                if isinstance(msg, pw.SSLRequest):
                    await self._negotiate_tls()
                elif isinstance(msg, pw.GSSENCRequest):
                    self.link.write(self.conn.ssl_response(False))
                elif isinstance(msg, pw.CancelRequest):
                    await gw.cancel(msg.process_id, msg.secret_key)
                    self.link.close()
                    return None
                elif isinstance(msg, pw.StartupMessage):
                    if gw.config.tls is not None and gw.config.tls.require and not self.tls:
                        raise _Refuse(
                            sqlstate.INVALID_AUTHORIZATION_SPECIFICATION,
                            "this gateway requires TLS (sslmode=require)",
                        )
                    if not gw.admit(self):
                        raise _Refuse(sqlstate.TOO_MANY_CONNECTIONS, "sorry, too many clients")
                    return msg

    async def _negotiate_tls(self) -> None:
        ctx = self.gateway.server_ssl
        if ctx is None or self.tls:
            self.link.write(self.conn.ssl_response(False))
            return
        self.link.write(self.conn.ssl_response(True))
        loop = asyncio.get_running_loop()
        assert self.link.transport is not None
        try:
            transport = await loop.start_tls(self.link.transport, self.link, ctx, server_side=True)
        except (OSError, ValueError) as exc:
            log.info("TLS handshake with %s failed: %s", self.peer, exc)
            raise _ClientGone from None
        self.link.transport = cast(asyncio.Transport, transport)
        self.tls = True

    async def _authenticate(self, startup: pw.StartupMessage) -> None:
        user = startup.get("user") or ""
        if not user:
            raise _Refuse(sqlstate.INVALID_AUTHORIZATION_SPECIFICATION, "no user name specified")
        unknown_pq = tuple(k for k, _ in startup.params if k.startswith("_pq_."))
        if startup.protocol & 0xFFFF or unknown_pq:
            # We speak 3.0 (4-byte cancel keys, no protocol extensions) on both sides.
            nego = pw.NegotiateProtocolVersion(newest_minor=0, unrecognized=unknown_pq)
            self.link.write(self.conn.send(nego))
        identity = self.gateway.config.identity(user)
        ids = self.gateway.identity
        # What this user signs in with; for one not in the config, the secret's shape says more.
        method: str = identity.auth if identity else "password" if ids.federated else "scram"
        if not ids.admits(self.peer, user):  # brute-force guard: refuse before any password
            attempts = ids.refused(self.peer, user)
            if attempts:
                self._auth_failed(
                    user, method, "rate_limited", "too many failed attempts", attempts=attempts
                )
            raise _Refuse(
                sqlstate.INVALID_AUTHORIZATION_SPECIFICATION,
                "too many failed sign-in attempts; try again later",
            )
        try:
            if identity is not None and identity.auth == "token":
                await self._token_auth(identity)
            elif identity is None and ids.federated:
                identity = await self._federated_auth(user, startup)
            else:
                await self._scram_auth(user, identity)
        except (ScramError, TokenError) as exc:
            ids.failed(self.peer, user)
            log.info("authentication failed for user %r from %s: %s", user, self.peer, exc)
            if isinstance(exc, ScramError):
                reason = "bad_password" if identity is not None else "unknown_user"
            else:
                reason = exc.code
                if isinstance(exc, SignInFailed):  # the secret's shape said what was tried
                    method = exc.method
            self._auth_failed(user, method, reason, str(exc))
            if reason == "tls_required":
                raise _Refuse(sqlstate.INVALID_AUTHORIZATION_SPECIFICATION, str(exc)) from None
            raise _Refuse(
                sqlstate.INVALID_PASSWORD, f'password authentication failed for user "{user}"'
            ) from None
        self.identity = identity

    def _auth_failed(
        self, user: str, method: str, reason: str, detail: str, *, attempts: int = 1
    ) -> None:
        """Record a refused sign-in (never its secret): see `IdentityServices.report_failure`."""
        self.gateway.identity.report_failure(
            self.peer, user, method, reason, detail, attempts=attempts
        )

    async def _scram_auth(self, user: str, identity: IdentityConfig | None) -> None:
        verifier = None
        if identity is not None and identity.scram_verifier is not None:
            verifier = ScramVerifier.parse(identity.scram_verifier)
        scram = ScramServer(verifier, mock_salt=mock_salt(self.gateway.mock_key, user))
        self.link.write(self.conn.send(pw.AuthenticationSASL(mechanisms=ScramServer.mechanisms)))
        mechanism, first = _sasl_initial(await self._password_message())
        if mechanism not in ScramServer.mechanisms:
            raise _Refuse(sqlstate.PROTOCOL_VIOLATION, "client selected an invalid SASL mechanism")
        server_first = scram.handle_client_first(first)
        self.link.write(self.conn.send(pw.AuthenticationSASLContinue(data=server_first)))
        server_final = scram.handle_client_final(await self._password_message())
        # ScramServer fails every exchange for an unknown user, so reaching here means a match.
        self.link.write(self.conn.send(pw.AuthenticationSASLFinal(data=server_final)))

    async def _token_auth(self, identity: IdentityConfig) -> None:
        """A gateway access token sent as a password: only where nobody can read it in transit.
        `wardgate.identity` checks it, and that it is not on the revocation list."""
        tokens = self.gateway.config.tokens
        assert tokens is not None  # the config validator requires it for token identities
        if not (self.tls or (self.loopback and tokens.allow_loopback_plaintext)):
            raise TokenError(
                "access tokens are accepted only over TLS (use sslmode=require)",
                code="tls_required",
            )
        self.link.write(self.conn.send(pw.AuthenticationCleartextPassword()))
        data = await self._password_message()
        token = (data[:-1] if data.endswith(b"\0") else data).decode("utf-8", "replace")
        await self.gateway.identity.config_token(identity, token)

    async def _federated_auth(self, user: str, startup: pw.StartupMessage) -> IdentityConfig:
        """A signed-in person's gateway credential, an agent's API key or a workload's JWT, sent
        as a password (so, like tokens, only over TLS or loopback); `wardgate.identity` decides
        who it is."""
        ids = self.gateway.identity
        if not (self.tls or (self.loopback and ids.loopback_plaintext)):
            raise TokenError(
                "credentials and API keys are accepted only over TLS (use sslmode=require)",
                code="tls_required",
            )
        self.link.write(self.conn.send(pw.AuthenticationCleartextPassword()))
        data = await self._password_message()
        secret = (data[:-1] if data.endswith(b"\0") else data).decode("utf-8", "replace")
        return await ids.authenticate(user, secret, dict(startup.params))

    async def _password_message(self) -> bytes:
        events = await self._events()
        if len(events) != 1 or not isinstance(events[0], pw.PasswordMessage):
            raise _Refuse(sqlstate.PROTOCOL_VIOLATION, "expected a password message")
        return events[0].data

    async def _open_upstream(self, startup: pw.StartupMessage) -> None:
        name = startup.get("database") or startup.get("user") or ""
        cfg = self.gateway.config.connection(name)
        if cfg is None:
            raise _Refuse(sqlstate.INVALID_CATALOG_NAME, f'connection "{name}" does not exist')
        self.connection = cfg
        self._review_wait = wait_mode_option(startup.get("options"))
        stated_reason = pw.startup_setting(startup.get("options"), REASON_SETTING)
        params = tuple((k, v) for k, v in startup.params if not k.startswith("_pq_."))
        if self.gateway.policy is not None and self.identity is not None:
            ident = self.identity
            self.enforcer = Enforcer.create(
                self.gateway.policy,
                self._policy_identity(ident),
                PolicyConnection(name=cfg.name, tags=dict(cfg.tags)),
                cancel=self._cancel_soon,
                schedule=asyncio.get_running_loop().call_later,
                grants=lambda name, book=self.gateway.grants, c=cfg.name: book.roles(name, c),
                reason=stated_reason or None,
            )
            if self.enforcer.read_only:
                # The client's own options could set default_transaction_read_only=off.
                params = tuple((k, v) for k, v in params if k != "options")
                params += (("options", READ_ONLY_OPTIONS),)
        try:
            self.upstream = up = await connect_upstream(
                cfg,
                pw.StartupMessage(params=params),
                max_message_size=self.gateway.config.max_message_size,
            )
        except UpstreamError as exc:
            log.warning("upstream for %r unavailable: %s", cfg.name, exc)
            raise _Refuse(exc.sqlstate, str(exc)) from None
        if self.enforcer is not None:
            await self._prepare_masking(cfg.name, up)
        await self._start_recording(startup, cfg, up)
        self.process_id, self.secret_key = self.gateway.register(self)
        out = [pw.AuthenticationOk(), *up.parameters, *up.notices]
        out.append(pw.BackendKeyData(process_id=self.process_id, secret_key=self.secret_key))
        out.append(pw.ReadyForQuery(status=up.conn.transaction_status))
        self.link.write(self.conn.send_all(out))
        log.info(
            "session %d%s: %s (%s) -> %s from %s",
            self.process_id,
            f" ({self.session_id})" if self.session_id else "",
            self.identity.name if self.identity else "?",
            "tls" if self.tls else "plain",
            cfg.name,
            self.peer,
        )

    async def _start_recording(
        self, startup: pw.StartupMessage, cfg: ConnectionConfig, up: Upstream
    ) -> None:
        """Record the session's start; a strict connection opens no session the log missed."""
        audit = self.gateway.audit
        if audit is None:
            return
        ident = self.identity
        assert ident is not None
        self.session_id = secrets.token_hex(8)
        app = startup.get("application_name")
        event = SessionStarted(
            session_id=self.session_id,
            user=ident.name,
            groups=tuple(ident.groups),
            identity_kind=ident.kind,
            auth_method=ident.auth,
            connection=cfg.name,
            client_addr=clean_text(self.peer),
            application_name=clean_text(app) if app is not None else None,
            gateway=self.gateway.name,
            credential_method=getattr(ident, "method", None),
            credential_id=getattr(ident, "credential_id", None),
            issuer=getattr(ident, "issuer", None),
            subject=getattr(ident, "subject", None),
            owner=getattr(ident, "owner", None),
            on_behalf_of=getattr(ident, "on_behalf_of", None),
        )
        try:
            await audit.record(event, connection=cfg.name)
        except AuditError as exc:
            log.error("session for %r refused: session.started not recorded: %s", ident.name, exc)
            raise _Refuse(
                sqlstate.IO_ERROR,
                "the audit log is unavailable: this gateway opens no session it cannot record",
            ) from None
        masking = self.gateway.masking
        detector = masking.detector
        enforcer = self.enforcer
        self.recorder = rec = StatementRecorder(
            audit,
            session_id=self.session_id,
            user=ident.name,
            connection=cfg.name,
            tokens=masking.value_tokens,
            find=lambda text: [(f.entity, f.start, f.end) for f in detector.find(text)],
            stats=lambda: enforcer.planner.stats if enforcer and enforcer.planner else None,
        )
        self._watch = rec.watch
        self.gate = AuditGate(
            audit, rec, write=up.link.write, hold=self._hold_client, fail=self._audit_failed
        )

    def _policy_identity(self, ident: IdentityConfig) -> PolicyIdentity:
        """Who policy decides for; an agent naming a person is decided for both (the person as
        configured, or with no groups at all if the gateway does not know them: fail closed)."""
        person = getattr(ident, "on_behalf_of", None)
        acting_for = None
        if person:
            known = self.gateway.config.identity(person)
            acting_for = PolicyIdentity(
                name=person,
                groups=frozenset(known.groups) if known else frozenset(),
                kind=known.kind if known else "human",
            )
        return PolicyIdentity(
            name=ident.name,
            groups=frozenset(ident.groups),
            kind=ident.kind,
            on_behalf_of=acting_for,
        )

    async def _prepare_masking(self, connection: str, up: Upstream) -> None:
        """Every policy session can be masked (a reload may add masks); read the catalog now
        if the policy in force masks anything, so the first result does not wait for it."""
        enforcer = self.enforcer
        assert enforcer is not None
        masking = self.gateway.masking
        enforcer.planner = ResultPlanner(
            masking.tools(connection),
            trust_system_names=masking.trust_catalog_names and enforcer.cannot_name(),
            still_trusted=enforcer.cannot_name,
        )
        if any(rule.spec.mask for rule in enforcer.policy.rules):
            try:
                await masking.catalogs.ensure(connection, up)
            except UpstreamError as exc:
                log.warning("session %d: catalog read failed: %s", self.process_id, exc)

    # --- relay ----------------------------------------------------------------------------------

    def _start_relay(self) -> None:
        up = self.upstream
        assert up is not None
        up.link.feeder = self.link  # upstream writes back up -> stop reading the client
        self.link.feeder = up.link  # client writes back up -> stop reading upstream
        up.link.relay(self._guard(self._from_upstream), self._upstream_closed)
        self.link.relay(self._guard(self._from_client), self._client_closed)

    def _guard(self, relay: Callable[[bytes], None]) -> Callable[[bytes], None]:
        """A bug in one session's relay ends that session with an error, never the gateway."""

        def guarded(data: bytes) -> None:
            try:
                relay(data)
            except Exception:
                log.exception("session %d: internal error in relay", self.process_id)
                self._ended("error")
                self._send_error(sqlstate.INTERNAL_ERROR, "internal error in the gateway", "FATAL")
                self._shutdown(cancel=True)

        return guarded

    def _from_client(self, data: bytes) -> None:
        if self._review_task is not None:
            self._backlog.append(data)  # behind a held statement: relayed after it, in order
            return
        try:
            self.conn.receive_data(data)
            events = self.conn.next_events()
        except pw.RemoteProtocolError as exc:
            log.info("session %d: client broke the protocol: %s", self.process_id, exc)
            self._ended("error")
            self._send_error(exc.sqlstate, str(exc), "FATAL")
            self._shutdown(cancel=True)
            return
        self._relay_client(events)

    def _relay_client(self, events: list[pw.Message]) -> None:
        """Decide and forward client messages; stops at one held for review (see `_review`)."""
        up = self.upstream
        assert up is not None
        send = up.conn.send
        enforcer = self.enforcer
        rec = self.recorder
        out: list[bytes] = []
        intents: list[StatementIntent] = []
        try:
            for i, msg in enumerate(events):
                if enforcer is not None:
                    enforcer.decided = None
                    sent = enforcer.outgoing(msg)
                    fresh = enforcer.decided
                    if type(sent) is Held:
                        self._forward(out, intents)
                        self._hold_for_review(sent, msg, fresh, enforcer.shape, events[i + 1 :])
                        return
                    if rec is not None and (intent := rec.outgoing(msg, fresh, enforcer.shape)):
                        intents.append(intent)
                    if type(sent) is tuple:
                        out.extend(send(m) for m in sent)  # a Describe ahead of an Execute
                        continue
                    assert isinstance(sent, pw.Message)
                    msg = sent
                elif rec is not None and (intent := rec.outgoing(msg, None)):
                    intents.append(intent)
                if type(msg) in _ENDS_WITH_READY:
                    self.pending += 1
                out.append(send(msg))
        except pw.LocalProtocolError as exc:
            # Upstream is already closing (its FATAL error reached the client); drop the rest.
            log.info("session %d: not forwarding to upstream: %s", self.process_id, exc)
        self._forward(out, intents)
        self._client_done_if_closed()

    def _forward(self, out: list[bytes], intents: list[StatementIntent]) -> None:
        up = self.upstream
        assert up is not None
        if not out and not intents:
            return
        if self.gate is None:
            up.link.write(b"".join(out))
        else:
            self.gate.relay(b"".join(out), intents)

    def _client_done_if_closed(self) -> None:
        if self.conn.phase is pw.Phase.CLOSED:
            self._ended("client_closed")
            if self.gate is not None and self.gate.holding:
                self._close_after_gate = True  # run what it sent before Terminate, then close
            else:
                self._shutdown(cancel=False)

    # --- statements held for review -------------------------------------------------------------

    def _hold_for_review(
        self,
        held: Held,
        msg: pw.Message,
        fresh: Decided | None,
        shape: str | None,
        rest: list[pw.Message],
    ) -> None:
        """Stop reading the client and wait for the review in a task of this session's own."""
        self.link.hold_reading(True)
        task = asyncio.get_running_loop().create_task(self._review(held, msg, fresh, shape, rest))
        self._review_task = task

    async def _review(
        self,
        held: Held,
        msg: pw.Message,
        fresh: Decided | None,
        shape: str | None,
        rest: list[pw.Message],
    ) -> None:
        ident, cfg = self.identity, self.connection
        assert ident is not None and cfg is not None
        try:
            approvals: Approvals | None = await self.gateway.review_service()
        except ConfigError as exc:
            log.error("session %d: approvals unavailable: %s", self.process_id, exc)
            approvals = None
        ctx = ReviewContext(
            approvals=approvals,
            requester=ident.name,
            requester_kind=ident.kind,
            on_behalf_of=getattr(ident, "on_behalf_of", None),
            connection=cfg,
            session_id=self.session_id or None,
            wait=self._review_wait,
            public_url=self.gateway.config.approvals.public_url,
            notice=self._notice,
            max_message_size=self.gateway.config.max_message_size,
        )
        try:
            refusal, review_id = await settle(held, ctx)
        except asyncio.CancelledError:
            if self._closing:
                raise  # the session is ending: nobody is waiting for this statement any more
            refusal = pw.ErrorResponse.build(
                sqlstate.QUERY_CANCELED, "canceling statement while it waited for approval"
            )
            review_id = None
        if self._closing:
            return
        try:
            self._release(held, msg, fresh, shape, refusal, review_id)
            self._review_task = None
            if not (self.gate is not None and self.gate.holding):
                self.link.hold_reading(False)
            self._relay_client(rest)
            backlog, self._backlog = self._backlog, []
            for data in backlog:
                self._from_client(data)
        except Exception:
            log.exception("session %d: internal error after a review", self.process_id)
            self._ended("error")
            self._send_error(sqlstate.INTERNAL_ERROR, "internal error in the gateway", "FATAL")
            self._shutdown(cancel=True)

    def _release(
        self,
        held: Held,
        msg: pw.Message,
        fresh: Decided | None,
        shape: str | None,
        refusal: pw.ErrorResponse | None,
        review_id: str | None,
    ) -> None:
        """Send the held statement (approved) or its refusal, recorded like any other."""
        up = self.upstream
        assert up is not None
        sent = held.release(refusal)
        intents: list[StatementIntent] = []
        rec = self.recorder
        if rec is not None:
            got = fresh
            if got is not None:
                got = dataclasses.replace(
                    got,
                    refused=refusal is not None,
                    approvals=(review_id,) if review_id else (),
                )
            if intent := rec.outgoing(msg, got, shape):
                intents.append(intent)
        messages = sent if type(sent) is tuple else (sent,)
        out: list[bytes] = []
        for m in messages:
            assert isinstance(m, pw.Message)
            if type(m) in _ENDS_WITH_READY:
                self.pending += 1
            out.append(up.conn.send(m))
        self._forward(out, intents)

    def _notice(self, notice: pw.NoticeResponse) -> None:
        if not self._closing and not self.link.closed:
            self.link.write(self.conn.send(notice))

    def _hold_client(self, held: bool) -> None:
        if not held and self._review_task is not None:
            return  # a statement waits for review: reading resumes when it is settled
        if held or self.link.held:
            self.link.hold_reading(held)
        if not held and self._close_after_gate:
            self._shutdown(cancel=False)

    def _audit_failed(self, exc: BaseException) -> None:
        """A statement's intent was not stored: it does not run, and the session ends."""
        log.error(
            "session %d (%s): statement refused, its intent was not recorded: %s",
            self.process_id,
            self.session_id,
            exc,
        )
        if self._closing:
            return
        self._ended("audit_failed")
        self._send_error(
            sqlstate.IO_ERROR,
            "the audit log is unavailable: the statement was not run and the session ends "
            "(this gateway runs no statement it cannot record)",
            "FATAL",
        )
        self._shutdown(cancel=True)

    def _ended(self, reason: str) -> None:
        if self._end_reason is None:
            self._end_reason = reason

    def _from_upstream(self, data: bytes) -> None:
        if self._closing:
            # The client link is closed and may have had its final FATAL (its Connection is then
            # CLOSED and refuses to encode): late replies to a cancelled query go nowhere.
            return
        up = self.upstream
        assert up is not None
        try:
            up.conn.receive_data(data)
            events = up.conn.next_events()
        except pw.RemoteProtocolError as exc:
            log.error("session %d: upstream broke the protocol: %s", self.process_id, exc)
            self._ended("error")
            self._send_error(sqlstate.PROTOCOL_VIOLATION, "upstream protocol error", "FATAL")
            self._shutdown(cancel=True)
            return
        send = self.conn.send
        enforcer = self.enforcer
        rec, watch = self.recorder, self._watch
        out = []
        for msg in events:
            if enforcer is not None:
                kept = enforcer.incoming(msg)
                if kept is None:
                    continue
                msg = kept
            cls = type(msg)
            if cls is pw.ReadyForQuery:
                self.pending -= 1
            if cls in watch:
                assert rec is not None
                rec.incoming(msg)
            out.append(send(msg))
        self.link.write(b"".join(out))
        if up.conn.phase is pw.Phase.CLOSED:
            self._ended("shutdown" if self.gateway.closing else "upstream_lost")
            self._shutdown(cancel=False)

    def _client_closed(self, exc: BaseException | None) -> None:
        self._ended("shutdown" if self.gateway.closing else "client_lost")
        if self._close_after_gate:
            return  # it said Terminate: what it sent before runs once recorded, then we close
        busy = self.pending > 0 or (
            self.upstream is not None and self.upstream.conn.phase is not pw.Phase.READY
        )
        self._shutdown(cancel=busy)

    def _upstream_closed(self, exc: BaseException | None) -> None:
        self._ended("shutdown" if self.gateway.closing else "upstream_lost")
        if not self._closing and not self.link.closed:
            self._send_error(
                sqlstate.CONNECTION_FAILURE, "connection to the upstream database was lost", "FATAL"
            )
        self._shutdown(cancel=False)

    def _shutdown(self, *, cancel: bool) -> None:
        if self._closing:
            return
        self._closing = True
        if self._review_task is not None:
            self._review_task.cancel()  # the review stays decidable; nothing runs unasked
        self.link.close()
        asyncio.get_running_loop().create_task(self._close_upstream(cancel))

    async def _close_upstream(self, cancel: bool) -> None:
        up = self.upstream
        try:
            if up is not None:
                if cancel and self.connection is not None:
                    await send_cancel(self.connection, up.process_id, up.secret_key)
                if up.conn.phase is not pw.Phase.CLOSED:
                    up.link.write(pw.encode(pw.Terminate()))
                await up.link.aclose()
        finally:
            if self._done is not None and not self._done.done():
                self._done.set_result(None)

    def _cancel_soon(self) -> None:
        """A guardrail ended the running statement: cancel it upstream (from a sync callback).

        Reading from upstream stops until the cancel is sent. Otherwise a statement streaming
        rows keeps the loop busy decoding rows nobody will see, the cancel connection waits its
        turn, and the statement may run to its end; paused, the backend blocks on its socket,
        where PostgreSQL still acts on a cancel.
        """
        up = self.upstream
        paused = up is not None and up.link.transport is not None
        if paused:
            assert up is not None and up.link.transport is not None
            up.link.transport.pause_reading()
        task = asyncio.get_running_loop().create_task(self.cancel())
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)
        if paused:
            task.add_done_callback(lambda _: self._resume_upstream())

    def _resume_upstream(self) -> None:
        up = self.upstream
        if up is not None and up.link.transport is not None and not up.link.closed:
            up.link.transport.resume_reading()

    async def cancel(self) -> None:
        """Forward a client's CancelRequest to the upstream backend serving this session.

        A statement waiting for review is not upstream yet: the wait ends with an error."""
        if self._review_task is not None:
            self._review_task.cancel()
            return
        if self.upstream is not None and self.connection is not None:
            await send_cancel(self.connection, self.upstream.process_id, self.upstream.secret_key)


class _ClientGone(Exception):
    """The client closed its socket during startup; there is nobody left to tell."""


def _sasl_initial(data: bytes) -> tuple[str, bytes]:
    end = data.find(b"\0")
    if end < 0 or len(data) < end + 5:
        raise pw.RemoteProtocolError("malformed SASLInitialResponse")
    mechanism = data[:end].decode("utf-8", "replace")
    (size,) = struct.unpack_from("!i", data, end + 1)
    rest = data[end + 5 :]
    if size != len(rest):
        raise pw.RemoteProtocolError("malformed SASLInitialResponse length")
    return mechanism, rest
