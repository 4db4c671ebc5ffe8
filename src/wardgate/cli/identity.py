"""`wardgate identity ...`: service identities for AI agents and services, and revocation.

These commands write the identity store (``auth.store`` in the gateway config, SQLite); a running
gateway reads it on every sign-in, so a new key or a revocation takes effect at once.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import typer

from wardgate.config import ConfigError, GatewayConfig, load_config
from wardgate.identity.store import IdentityStore, StoreError

__all__ = ["register"]


def _parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``24h``, ``7d`` or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise typer.BadParameter(f"not a duration: {text!r} (e.g. 30m, 24h, 7d)") from None


def _open(config: Path) -> tuple[GatewayConfig, IdentityStore]:
    from wardgate.identity.service import store_path

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        typer.echo(f"wardgate: {exc}", err=True)
        raise typer.Exit(2) from None
    path = store_path(cfg)
    if path is None:
        typer.echo(f"wardgate: {config} sets no auth.store for service identities", err=True)
        raise typer.Exit(2)
    return cfg, IdentityStore(path)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


CONFIG = typer.Option(..., "--config", "-c", help="Gateway config (YAML).")


def create_agent(
    name: str = typer.Argument(..., help="The user name the agent connects as."),
    owner: str = typer.Option(..., "--owner", help="The person or team accountable for it."),
    groups: str = typer.Option("", "--groups", help="Comma-separated gateway groups."),
    kind: str = typer.Option("agent", "--kind", help="agent or service."),
    config: Path = CONFIG,
) -> None:
    """Create a service identity and print its API key, once: it is stored only as a hash."""
    if kind not in ("agent", "service"):
        raise typer.BadParameter("--kind must be agent or service")
    cfg, store = _open(config)
    if cfg.identity(name) is not None:
        typer.echo(f"wardgate: {name!r} is already an identity in {config}", err=True)
        raise typer.Exit(2)
    group_list = tuple(g.strip() for g in groups.split(",") if g.strip())
    try:
        _, key = store.create(name, kind=kind, owner=owner, groups=group_list)  # type: ignore[arg-type]
    except StoreError as exc:
        typer.echo(f"wardgate: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"created {kind} {name!r} (owner {owner}); its API key, shown only now:", err=True)
    typer.echo(key)


def list_identities(config: Path = CONFIG) -> None:
    """List service identities and their keys (ids and dates; keys themselves are not kept)."""
    _, store = _open(config)
    for ident in store.list():
        status = "revoked " + _when(ident.revoked_at) if ident.revoked_at else "active"
        typer.echo(
            f"{ident.name}\t{ident.kind}\towner={ident.owner}\t"
            f"groups={','.join(ident.groups) or '-'}\t{status}"
        )
        for key in ident.keys:
            state = "revoked" if key.revoked_at else f"expires {_when(key.expires_at)}"
            typer.echo(f"  key {key.key_id}\tcreated {_when(key.created_at)}\t{state}")


def rotate_key(
    name: str = typer.Argument(...),
    overlap: str = typer.Option("24h", "--overlap", help="How long the old keys keep working."),
    config: Path = CONFIG,
) -> None:
    """Issue a new API key; the current keys stay valid for the overlap, then stop."""
    _, store = _open(config)
    try:
        key_row, key = store.rotate(name, overlap=_parse_duration(overlap))
    except StoreError as exc:
        typer.echo(f"wardgate: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"new key {key_row.key_id} for {name!r}; old keys end in {overlap}:", err=True)
    typer.echo(key)


def revoke(
    name: str = typer.Argument(...),
    key_id: str | None = typer.Option(None, "--key", help="Revoke only this key id."),
    config: Path = CONFIG,
) -> None:
    """Revoke a service identity (all its keys), or one of its keys."""
    _, store = _open(config)
    try:
        store.revoke(name, key_id=key_id)
    except StoreError as exc:
        typer.echo(f"wardgate: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"revoked {name!r}" + (f" key {key_id}" if key_id else ""))


def revoke_credential(
    credential_id: str | None = typer.Option(None, "--id", help="A credential id (from logs)."),
    user: str | None = typer.Option(None, "--user", help="Every credential of this person."),
    config: Path = CONFIG,
) -> None:
    """Revoke gateway credentials got through `wardgate login`: one by id, or all of a user's."""
    cfg, store = _open(config)
    if (credential_id is None) == (user is None):
        raise typer.BadParameter("give exactly one of --id and --user")
    if credential_id is not None:
        ttl = cfg.tokens.max_ttl if cfg.tokens else cfg.auth.credential_ttl
        store.revoke_credential(credential_id, expires_at=_now() + ttl)
        typer.echo(f"revoked credential {credential_id}")
    else:
        assert user is not None
        store.revoke_user_credentials(user)
        typer.echo(f"revoked every credential issued to {user!r} so far")


def _now() -> float:
    return datetime.datetime.now(datetime.UTC).timestamp()


def register(app: typer.Typer, identity_app: typer.Typer) -> None:
    """Add these commands, and `login`/`connect`, to the `wardgate` app."""
    from wardgate.cli.login import connect, login

    identity_app.command("create-agent")(create_agent)
    identity_app.command("list")(list_identities)
    identity_app.command("rotate-key")(rotate_key)
    identity_app.command("revoke")(revoke)
    identity_app.command("revoke-credential")(revoke_credential)
    app.command("login")(login)
    app.command("connect")(connect)
