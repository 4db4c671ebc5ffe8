"""`wardgate audit ...`: read, check, export and prune the audit log.

Every command takes the store from ``--config`` (the gateway's ``audit:`` section, including the
checkpoint key) or ``--store`` (a SQLite path or ``postgresql://`` URL). Queries come from
`wardgate.audit` so the REST API answers the same way; this module only parses and prints.
Heavy imports (SQLAlchemy, the drivers) happen inside the commands, so `wardgate --help` stays fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar, cast

import typer

from wardgate.config import AuditConfig, ConfigError, load_config

if TYPE_CHECKING:
    from wardgate.audit import AuditStore, CheckpointSigner, EventFilter, StoredEvent

audit_app = typer.Typer(
    no_args_is_help=True,
    help="The audit log: tail, search, verify, export, replay, prune, checkpoints.",
)
checkpoint_app = typer.Typer(
    invoke_without_command=True,
    help="Sign a checkpoint of the chain head now; `export` writes them to a file.",
)
audit_app.add_typer(checkpoint_app, name="checkpoint")

T = TypeVar("T")

_CONFIG = typer.Option(None, "--config", "-c", help="Gateway config (YAML) with an audit section.")
_STORE = typer.Option(None, "--store", help="Audit store: a SQLite path or a postgresql:// URL.")
_JSON = typer.Option(False, "--json", help="One JSON record per line (the export format).")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"wardgate: {message}", err=True)
    return typer.Exit(code)


class _Target:
    """The store and settings a command works on."""

    def __init__(self, config: Path | None, store: str | None) -> None:
        if (config is None) == (store is None):
            raise _fail("give exactly one of --config or --store")
        self.base_dir: Path | None = None
        if store is not None:
            self.audit = AuditConfig(store=store)
            return
        assert config is not None
        try:
            cfg = load_config(config)
        except ConfigError as exc:
            raise _fail(str(exc)) from None
        self.audit = cfg.audit
        self.base_dir = cfg.base_dir

    def signer(self) -> CheckpointSigner | None:
        from wardgate.audit import signer_from_config

        try:
            return signer_from_config(self.audit, self.base_dir)
        except ConfigError as exc:
            raise _fail(str(exc)) from None

    def run(self, work: Callable[[AuditStore], Awaitable[T]]) -> T:
        from wardgate.audit import AuditError, open_store

        async def main() -> T:
            store = await open_store(self.audit, self.base_dir)
            try:
                return await work(store)
            finally:
                await store.close()

        try:
            return asyncio.run(main())
        except (AuditError, ConfigError) as exc:
            raise _fail(str(exc), 1) from None
        except OSError as exc:
            raise _fail(f"cannot open the audit store: {exc}", 1) from None


def _filter(
    *,
    user: str | None = None,
    connection: str | None = None,
    session: str | None = None,
    since: str | None = None,
    until: str | None = None,
    effect: str | None = None,
    kind: str | None = None,
    text: str | None = None,
    types: list[str] | None = None,
) -> EventFilter:
    from wardgate.audit import EventFilter, parse_time

    try:
        return EventFilter(
            user=user,
            connection=connection,
            session_id=session,
            since_us=parse_time(since) if since else None,
            until_us=parse_time(until) if until else None,
            effect=effect,
            kind=kind,
            text=text,
            types=tuple(types or ()),
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _print(event: StoredEvent, as_json: bool) -> None:
    from wardgate.audit import summary

    if as_json:
        typer.echo(json.dumps(event.record(), ensure_ascii=False, separators=(",", ":")))
        return
    session = event.data.get("session_id") or "-"
    relaxed = " (relaxed)" if event.data.get("durability") == "relaxed" else ""
    typer.echo(f"{event.seq:>8} {event.time} {event.type:<17} {session} {summary(event)}{relaxed}")


@audit_app.command("tail")
def tail_cmd(
    config: Path | None = _CONFIG,
    store: str | None = _STORE,
    limit: int = typer.Option(20, "--limit", "-n", help="How many of the latest events."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new events."),
    user: str | None = typer.Option(None, "--user"),
    session: str | None = typer.Option(None, "--session"),
    as_json: bool = _JSON,
) -> None:
    """Print the latest events (and, with -f, new ones as they are committed)."""
    from wardgate.audit import follow as follow_events
    from wardgate.audit import tail

    flt = _filter(user=user, session=session)

    async def work(st: AuditStore) -> None:
        events = await tail(st, flt, limit=limit)
        for event in events:
            _print(event, as_json)
        if follow:
            last = events[-1].seq if events else (await st.head())[0]
            async for event in follow_events(st, flt, after_seq=last):
                _print(event, as_json)

    with contextlib.suppress(KeyboardInterrupt):
        _Target(config, store).run(work)


@audit_app.command("search")
def search_cmd(
    config: Path | None = _CONFIG,
    store: str | None = _STORE,
    user: str | None = typer.Option(None, "--user"),
    connection: str | None = typer.Option(None, "--connection"),
    session: str | None = typer.Option(None, "--session"),
    since: str | None = typer.Option(None, "--since", help="ISO 8601 time, or e.g. 2h ago."),
    until: str | None = typer.Option(None, "--until", help="ISO 8601 time, or e.g. 1h ago."),
    effect: str | None = typer.Option(None, "--effect", help="allow, deny or review."),
    kind: str | None = typer.Option(None, "--kind", help="Statement kind: read, write, ddl..."),
    text: str | None = typer.Option(None, "--text", help="Substring of the statement text."),
    types: list[str] = typer.Option([], "--type", help="Event type (repeatable)."),
    limit: int = typer.Option(100, "--limit", "-n"),
    as_json: bool = _JSON,
) -> None:
    """Find events by user, connection, session, time, decision, statement kind or text."""
    from wardgate.audit import search

    flt = _filter(
        user=user,
        connection=connection,
        session=session,
        since=since,
        until=until,
        effect=effect,
        kind=kind,
        text=text,
        types=types,
    )
    for event in _Target(config, store).run(lambda st: search(st, flt, limit=limit)):
        _print(event, as_json)


@audit_app.command("verify")
def verify_cmd(
    config: Path | None = _CONFIG,
    store: str | None = _STORE,
    checkpoint: list[Path] = typer.Option(
        [], "--checkpoint", help="Checkpoint file kept outside the store (repeatable)."
    ),
    public_key: list[Path] = typer.Option(
        [], "--public-key", help="Ed25519 public key file (PEM or base64) that signs checkpoints."
    ),
) -> None:
    """Check the hash chain and the checkpoints; exit 1 naming the first bad event."""
    from wardgate.audit import load_public_key, read_checkpoints, verify

    target = _Target(config, store)
    try:
        keys = [load_public_key(path.read_text()) for path in public_key]
        external = [cp for path in checkpoint for cp in read_checkpoints(path)]
    except (OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    signer = target.signer()
    if signer is not None:
        keys.append(signer.public_key)
    report = target.run(lambda st: verify(st, public_keys=keys, external=external))
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if report.problem is not None:
        p = report.problem
        typer.echo(f"FAILED at seq {p.seq}: {p.kind}: {p.detail}")
        raise typer.Exit(1)
    start = f" (pruned through {report.anchor_seq})" if report.anchor_seq else ""
    typer.echo(
        f"ok: {report.events} events{start}, head seq {report.last_seq} "
        f"{report.last_hash[:16]}, {report.checkpoints_checked} checkpoints checked"
    )


@audit_app.command("export")
def export_cmd(
    config: Path | None = _CONFIG,
    store: str | None = _STORE,
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or csv."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
    user: str | None = typer.Option(None, "--user"),
    connection: str | None = typer.Option(None, "--connection"),
    session: str | None = typer.Option(None, "--session"),
    since: str | None = typer.Option(None, "--since"),
    until: str | None = typer.Option(None, "--until"),
    effect: str | None = typer.Option(None, "--effect"),
    kind: str | None = typer.Option(None, "--kind"),
    text: str | None = typer.Option(None, "--text"),
    types: list[str] = typer.Option([], "--type"),
) -> None:
    """Write events as JSON lines or CSV with the documented field names (docs/audit.md)."""
    from wardgate.audit import export

    if fmt not in ("jsonl", "csv"):
        raise _fail("--format must be jsonl or csv")
    form = cast(Literal["jsonl", "csv"], fmt)
    flt = _filter(
        user=user,
        connection=connection,
        session=session,
        since=since,
        until=until,
        effect=effect,
        kind=kind,
        text=text,
        types=types,
    )
    target = _Target(config, store)
    if output is None:
        count = target.run(lambda st: export(st, sys.stdout, fmt=form, flt=flt))
    else:
        with output.open("w", newline="" if fmt == "csv" else None) as out:
            count = target.run(lambda st: export(st, out, fmt=form, flt=flt))
        typer.echo(f"{count} events written to {output}", err=True)


@audit_app.command("replay")
def replay_cmd(
    session_id: str = typer.Argument(..., help="Session id (from tail or search)."),
    config: Path | None = _CONFIG,
    store: str | None = _STORE,
) -> None:
    """Show a session as the user saw it: statements in order, timing, decisions, results."""
    from wardgate.audit import replay, summary

    session = _Target(config, store).run(lambda st: replay(st, session_id))
    if session is None:
        raise _fail(f"no events for session {session_id!r}", 1)
    if session.started is not None:
        typer.echo(f"session {session_id} {session.started.time}: {summary(session.started)}")
    for st in session.statements:
        typer.echo(f"+{st.offset_us / 1e6:9.3f}s", nl=False)
        if st.intent is not None:
            typer.echo(f"  {summary(st.intent)}")
            typer.echo(f"{'':12}{st.intent.data.get('text', '')}")
        else:
            typer.echo(f"  #{st.statement_seq} (no intent recorded)")
        for captured in st.results:
            columns = captured.data.get("columns", [])
            typer.echo(f"{'':12}" + " | ".join(columns))
            for row in captured.data.get("captured", []):
                typer.echo(f"{'':12}" + " | ".join("NULL" if v is None else v for v in row))
            if captured.data.get("truncated"):
                typer.echo(f"{'':12}... ({captured.data.get('rows_seen')} rows in all)")
        if st.outcome is not None:
            typer.echo(f"{'':12}-> {summary(st.outcome)}")
    if session.ended is not None:
        typer.echo(f"ended {session.ended.time}: {summary(session.ended)}")


@audit_app.command("prune")
def prune_cmd(
    older_than: str = typer.Option(..., "--older-than", help="Age like 90d, 12w, 24h."),
    config: Path | None = _CONFIG,
    store: str | None = _STORE,
    key: Path | None = typer.Option(
        None, "--key", help="Checkpoint private key file, if not in the config."
    ),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Delete events older than the given age; a signed checkpoint anchors the rest."""
    from wardgate.audit import CheckpointSigner, parse_duration, prune

    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    target = _Target(config, store)
    signer = _key_signer(key) if key is not None else target.signer()
    if signer is None:
        raise _fail("prune needs the checkpoint key (audit.checkpoint_key or --key)")
    assert isinstance(signer, CheckpointSigner)
    cutoff = datetime.now(UTC) - age
    if not yes and not typer.confirm(f"Delete audit events older than {cutoff:%Y-%m-%d %H:%M}Z?"):
        raise typer.Exit(1)
    cutoff_us = int(cutoff.timestamp() * 1_000_000)
    report = target.run(lambda st: prune(st, cutoff_us=cutoff_us, signer=signer, actor=_actor()))
    typer.echo(
        f"pruned {report.deleted} events through seq {report.through_seq}"
        + (f"; recorded as event {report.event_seq}" if report.event_seq else "")
    )


def _actor() -> str:
    try:
        return os.getlogin()
    except OSError:
        return os.environ.get("USER", "unknown")


def _key_signer(path: Path) -> CheckpointSigner:
    from wardgate.audit import CheckpointSigner

    try:
        return CheckpointSigner.from_text(path.read_text())
    except (OSError, ValueError) as exc:
        raise _fail(f"{path}: {exc}") from None


@checkpoint_app.callback()
def checkpoint_cmd(
    ctx: typer.Context,
    config: Path | None = _CONFIG,
    store: str | None = _STORE,
    key: Path | None = typer.Option(None, "--key", help="Private key file, if not in the config."),
) -> None:
    """Sign a checkpoint of the current chain head, keep it in the store and print it."""
    if ctx.invoked_subcommand is not None:
        return
    from wardgate.audit import CheckpointSigned, record_direct

    target = _Target(config, store)
    signer = _key_signer(key) if key is not None else target.signer()
    if signer is None:
        raise _fail("no checkpoint key (audit.checkpoint_key or --key)")

    async def work(st: AuditStore) -> str:
        cp = await st.checkpoint(signer, kind="manual")
        event = CheckpointSigned(
            checkpoint_seq=cp.seq, checkpoint_hash=cp.hash, key_id=cp.key_id, actor=_actor()
        )
        await record_direct(st, event)
        return cp.to_json()

    typer.echo(target.run(work))


@checkpoint_app.command("export")
def checkpoint_export_cmd(
    output: Path = typer.Option(..., "--output", "-o", help="File to write (JSON lines)."),
    config: Path | None = _CONFIG,
    store: str | None = _STORE,
    latest: bool = typer.Option(False, "--latest", help="Only the most recent checkpoint."),
) -> None:
    """Write the store's signed checkpoints to a file, to keep where the store's writers cannot."""
    from wardgate.audit import write_checkpoints

    checkpoints = _Target(config, store).run(lambda st: st.checkpoints())
    if latest:
        checkpoints = checkpoints[-1:]
    count = write_checkpoints(output, checkpoints)
    typer.echo(f"{count} checkpoints written to {output}")


@audit_app.command("keygen")
def keygen_cmd(
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the private key."),
) -> None:
    """Make an Ed25519 checkpoint key: private PEM to a 0600 file, public key printed."""
    from wardgate.audit import CheckpointSigner, generate_key

    pem, public = generate_key()
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise _fail(f"cannot create {output}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(pem)
    typer.echo(f"public key: {public}")
    typer.echo(f"key id:     {CheckpointSigner.from_text(pem).key_id}")
