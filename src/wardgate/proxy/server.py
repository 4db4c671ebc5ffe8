"""The listening gateway: accepts clients, runs a `Session` for each, routes cancel requests.

The gateway hands every session its own BackendKeyData (a process id and a random secret), so a
client's CancelRequest names a gateway session, never an upstream backend; the gateway checks the
secret in constant time and forwards the cancel with the upstream key only it knows.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import itertools
import logging
import os
import secrets
import socket
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wardgate.approvals import Action, Approvals, Grant, GrantAction, Review, open_approvals
from wardgate.approvals.notify import Notifier, WebhookNotifier, notifiers_from_config
from wardgate.audit import (
    AuditError,
    AuditLog,
    AuthFailed,
    GrantChanged,
    PolicyLoaded,
    PolicyRefused,
    ReviewChanged,
    ReviewRequested,
)
from wardgate.config import ConfigError, GatewayConfig
from wardgate.identity.service import IdentityServices
from wardgate.policy import Policy, PolicyLoadError, load_policy
from wardgate.printable import printable

from ._link import Link
from ._sqltext import clean_text
from .enforce import PolicyHolder
from .grants import GrantBook
from .masking import GatewayMasking
from .session import Session

if TYPE_CHECKING:
    from wardgate.api import ApiServer

__all__ = ["Gateway"]

log = logging.getLogger("wardgate.proxy")


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.server_ssl = _server_ssl_context(config)
        self.mock_key = secrets.token_bytes(32)  # keys mock SCRAM salts for unknown users
        loaded = _load_policy(config)
        self.policy = PolicyHolder(loaded) if loaded is not None else None
        self.masking = GatewayMasking.from_config(config)
        if self.masking.ephemeral_key:
            log.warning("no masking key configured: tokens are random per gateway start")
        self._policy_files = _policy_files(config.policy_dir)
        self.sessions: set[Session] = set()
        self._admitted: set[Session] = set()
        self._by_pid: dict[int, Session] = {}
        self._pids = itertools.count(secrets.randbelow(1 << 20) + 1000)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._watcher: asyncio.Task[None] | None = None
        self.audit: AuditLog | None = None  # opened by start() when audit.enabled
        self.name = f"{socket.gethostname()}:{os.getpid()}"  # in every session.started event
        self.closing = False
        self.identity = IdentityServices(config)  # sign-in beyond the config: OIDC, agents
        self.approvals: Approvals | None = None  # see review_service
        self._approvals_lock = asyncio.Lock()
        self.grants = GrantBook()  # just-in-time grants in force (filled with the approvals)
        self.notifiers: list[Notifier] = []  # Slack, Teams, webhooks (with the approvals)
        self.api: ApiServer | None = None  # the REST API, when config.api is set

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.config.audit.enabled and self.audit is None:
            self.audit = await _open_audit(self.config)
            if self.policy is not None:
                policy = self.policy.current
                event = PolicyLoaded(
                    version=policy.version, rules=len(policy.rules), source=self._policy_source
                )
                try:
                    await self.audit.record(event)
                except AuditError as exc:
                    await self.audit.close()
                    self.audit = None
                    raise ConfigError(f"cannot record to the audit log: {exc}") from None
        if self.policy is not None and (
            self.policy.current.access
            or any(r.spec.effect == "review" for r in self.policy.current.rules)
        ):
            await self.review_service()  # a broken review store is a start-up error then
        listen = self.config.listen
        self._server = await loop.create_server(
            self._accept, listen.host, listen.port, reuse_address=True, backlog=1024
        )
        log.info("wardgate listening on %s:%d", listen.host, self.port)
        if self.audit is not None:
            self.identity.failure_sink = self._record_auth_failure
        await self.identity.start(self.port)  # the credential exchange, if configured
        if self.config.api is not None:
            await self._start_api()
        if self.policy is not None and self.config.policy_reload_interval > 0:
            self._watcher = loop.create_task(self._watch_policy(self.config.policy_reload_interval))

    def reload_policy(self) -> bool:
        """Load the policy directory again; a broken version is refused and the old one stays.

        Returns whether a new version is now in force.
        """
        if self.policy is None or self.config.policy_dir is None:
            return False
        self._policy_files = _policy_files(self.config.policy_dir)
        try:
            new = load_policy(self.config.policy_dir)
        except (PolicyLoadError, OSError) as exc:
            log.error(
                "policy reload REFUSED, version %s stays in force:\n%s",
                self.policy.current.version[:12],
                exc,
            )
            errors = [str(e) for e in exc.errors] if isinstance(exc, PolicyLoadError) else []
            self._record(
                PolicyRefused(source=self._policy_source, errors=tuple(errors or [str(exc)]))
            )
            return False
        if new.version == self.policy.current.version:
            return False
        old = self.policy.current.version
        self.policy.current = new
        self._record(
            PolicyLoaded(version=new.version, rules=len(new.rules), source=self._policy_source)
        )
        log.warning(
            "policy reloaded: %s -> %s (%d rules)", old[:12], new.version[:12], len(new.rules)
        )
        return True

    @property
    def _policy_source(self) -> str:
        return str(self.config.policy_dir or "")

    async def _start_api(self) -> None:
        """The REST API (reviews, grants, Slack interactions) on the gateway's loop."""
        from wardgate.api import api_from_config, start_api
        from wardgate.api.slack import slack_router

        approvals = await self.review_service()
        config = self.config
        routers = []
        if config.approvals.slack is not None:

            def groups_of(name: str) -> tuple[str, ...]:
                ident = config.identity(name)
                return tuple(ident.groups) if ident is not None else ()

            routers.append(
                slack_router(
                    approvals, config.approvals.slack, config.base_dir, groups_of=groups_of
                )
            )
        holder = self.policy
        app = api_from_config(
            config,
            approvals,
            self.identity,
            routers=routers,
            policy_of=lambda: holder.current if holder is not None else None,
            gateway_port=lambda: self.port,
        )
        self.api = await start_api(config, app)

    async def review_service(self) -> Approvals:
        """The approvals service, opened on first need (a reload may add the first review rule)."""
        async with self._approvals_lock:
            if self.approvals is None:
                approvals = await open_approvals(self.config)
                approvals.listeners.append(self._review_event)
                approvals.grant_listeners.append(self._grant_event)
                try:
                    await self.grants.start(approvals, self.config.approvals.poll_interval)
                    self.notifiers = notifiers_from_config(
                        self.config.approvals, self.config.base_dir, refs=approvals.store
                    )
                except Exception as exc:
                    await approvals.aclose()
                    raise ConfigError(f"cannot start approvals: {exc}") from None
                approvals.listeners.extend(self.notifiers)
                approvals.grant_listeners.extend(
                    n.on_grant for n in self.notifiers if isinstance(n, WebhookNotifier)
                )
                self.approvals = approvals
            return self.approvals

    def _grant_event(self, action: GrantAction, grant: Grant, actor: str) -> None:
        last = grant.verdicts[-1] if grant.verdicts else None
        self._record(
            GrantChanged(
                grant_id=grant.id,
                action=action,
                actor=actor,
                via=last.via if last is not None and last.approver == actor else "",
                requester=grant.requester,
                connection=grant.connection,
                role=grant.role,
                status=grant.status,
                reason=grant.reason
                if action in ("requested", "break_glass")
                else (last.reason if last is not None and last.approver == actor else ""),
                ends_at=int(grant.ends_at) if grant.ends_at is not None else None,
                break_glass=grant.break_glass,
            )
        )

    def _review_event(self, action: Action, review: Review, actor: str) -> None:
        """Every change of a review this process makes goes to the audit log."""
        if action == "requested":
            self._record(
                ReviewRequested(
                    review_id=review.id,
                    requester=review.requester,
                    on_behalf_of=review.on_behalf_of,
                    connection=review.connection,
                    session_id=review.session_id,
                    rules=review.rules,
                    approvers=review.approvers,
                    approvals_needed=review.approvals_needed,
                    wait=review.wait,
                    binding=review.binding,
                    policy_version=review.policy_version,
                    expires_at=int(review.expires_at),
                )
            )
            return
        last = review.verdicts[-1] if review.verdicts and action != "execute" else None
        self._record(
            ReviewChanged(
                review_id=review.id,
                action=action,
                actor=actor,
                via=last.via if last is not None and last.approver == actor else "gateway",
                status=review.status,
                reason=last.reason if last is not None and last.approver == actor else "",
                approvals=review.approvals,
                approvals_needed=review.approvals_needed,
            )
        )

    def _record_auth_failure(self, fields: dict[str, Any]) -> None:
        """A refused sign-in at any door, as an ``auth.failed`` event, its texts `printable`."""
        for key in ("user", "client_addr", "detail"):
            # Unauthenticated text: no control or format character reaches the log's readers.
            fields[key] = printable(clean_text(str(fields[key])))
        self._record(AuthFailed(**fields, gateway=self.name))

    def _record(self, event: Any) -> None:
        """Queue an administrative event (from synchronous code: a reload, a signal handler)."""
        if self.audit is None:
            return
        try:
            self.audit.submit(event, wait=False)
        except AuditError as exc:
            log.error("audit: %s not recorded: %s", event.type, exc)

    async def _watch_policy(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if _policy_files(self.config.policy_dir) != self._policy_files:
                self.reload_policy()

    def _accept(self) -> Link:
        link = _AcceptedLink(self)
        return link

    def _run_session(self, link: Link) -> None:
        assert link.transport is not None
        peer = link.transport.get_extra_info("peername")
        session = Session(self, link, _peer_text(peer), loopback=_is_loopback(peer))
        self.sessions.add(session)
        task = asyncio.get_running_loop().create_task(session.run())
        self._tasks.add(task)
        task.add_done_callback(self._session_done)

    def _session_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("session ended with an internal error", exc_info=task.exception())

    def admit(self, session: Session) -> bool:
        if len(self._admitted) >= self.config.max_client_connections:
            return False
        self._admitted.add(session)
        return True

    def register(self, session: Session) -> tuple[int, bytes]:
        pid = next(self._pids) & 0x7FFFFFFF
        self._by_pid[pid] = session
        return pid, secrets.token_bytes(4)

    def forget(self, session: Session) -> None:
        self.sessions.discard(session)
        self._admitted.discard(session)
        if self._by_pid.get(session.process_id) is session:
            del self._by_pid[session.process_id]

    async def cancel(self, process_id: int, secret_key: bytes) -> None:
        session = self._by_pid.get(process_id)
        if session is None or not hmac.compare_digest(session.secret_key, secret_key):
            log.info("ignored a cancel request with an unknown key")
            return
        await session.cancel()

    async def close(self) -> None:
        """Stop listening, end every session, then close the audit log (which commits every
        event still queued: the sessions' ends and their statements' outcomes)."""
        self.closing = True
        if self._watcher is not None:
            self._watcher.cancel()
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.link.close()
            if session.upstream is not None:
                session.upstream.link.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
        await self.identity.aclose()
        if self.api is not None:
            api, self.api = self.api, None
            await api.aclose()
        await self.grants.aclose()
        for notifier in self.notifiers:
            await notifier.aclose()
        if self.approvals is not None:
            approvals, self.approvals = self.approvals, None
            await approvals.aclose()
        if self.audit is not None:
            audit, self.audit = self.audit, None
            await audit.close()

    async def serve_forever(self) -> None:
        await self.start()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.close()


class _AcceptedLink(Link):
    """A client socket; the session starts once asyncio has given us the transport."""

    __slots__ = ("_gateway",)

    def __init__(self, gateway: Gateway) -> None:
        super().__init__()
        self._gateway = gateway

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._gateway._run_session(self)


def _policy_files(directory: Path | None) -> tuple[tuple[str, int, int], ...]:
    """A cheap signature of the policy files (name, size, mtime) to notice edits."""
    if directory is None:
        return ()
    try:
        return tuple(
            sorted(
                (str(p), st.st_size, st.st_mtime_ns)
                for p in directory.rglob("*")
                if p.suffix in (".yaml", ".yml") and (st := p.stat())
            )
        )
    except OSError:
        return (("<unreadable>", 0, 0),)


def _load_policy(config: GatewayConfig) -> Policy | None:
    """Load at start-up, loudly: a gateway must never serve under a half-read policy."""
    if config.policy_dir is None:
        return None
    try:
        policy = load_policy(config.policy_dir)
    except PolicyLoadError as exc:
        raise ConfigError(f"policy {config.policy_dir} is invalid:\n{exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read policy {config.policy_dir}: {exc.strerror}") from None
    log.info("policy %s loaded: %d rules", policy.version[:12], len(policy.rules))
    return policy


async def _open_audit(config: GatewayConfig) -> AuditLog:
    """Open the audit log, or say in one line why not (a gateway must not serve unrecorded)."""
    from sqlalchemy.engine import make_url

    store = config.audit.store
    if "://" in store:
        store = make_url(store).render_as_string(hide_password=True)
    try:
        audit = await AuditLog.open(config.audit, base_dir=config.base_dir)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"cannot open the audit store {store}: {exc}") from None
    log.info("audit log: %s (%s)", store, config.audit.durability)
    return audit


def _server_ssl_context(config: GatewayConfig) -> ssl.SSLContext | None:
    if config.tls is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(config.tls.cert), str(config.tls.key))
    return ctx


def _is_loopback(peer: object) -> bool:
    if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
        try:
            return ipaddress.ip_address(peer[0]).is_loopback
        except ValueError:
            return False
    return isinstance(peer, str)  # a unix socket path: only local processes can reach it


def _peer_text(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
