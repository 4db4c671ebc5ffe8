"""`wardgate unmask`: turn an ``fpe``-masked value back into the original, when policy allows.

Reversing a mask is an action like any statement: the person proves who they are (their gateway
password, checked against the identity's SCRAM verifier), the policy decides it as a statement of
kind ``admin`` with command ``UNMASK`` (so a rule such as ``match: {groups: [dpo], commands:
[UNMASK]}`` grants it, and nothing does by default), and the audit log records it -- strictly:
if the event cannot be stored, the clear value is not printed. The log keeps the masked value and
the reason, never the clear one.

Whoever can read the masking keys can decrypt without this command; it is the governed path for
people who cannot, and the record of who used it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer

from wardgate.config import ConfigError, GatewayConfig, load_config

__all__ = ["unmask_command"]

PASSWORD_ENV = "WARDGATE_PASSWORD"  # noqa: S105  (the variable's name, not a password)


def unmask_command(
    value: str = typer.Argument(..., help="The masked value, as the client received it."),
    config: Path = typer.Option(..., "--config", "-c", help="The gateway config (YAML)."),
    user: str = typer.Option(..., "--as", help="Your gateway identity."),
    reason: str = typer.Option(..., "--reason", help="Why (a ticket, a case): goes to the log."),
    entity: str | None = typer.Option(None, "--entity", help="The value's entity type."),
    type_name: str = typer.Option("text", "--type", help="The column's PostgreSQL type."),
    key_id: str | None = typer.Option(None, "--key-id", help="Key id (default: current)."),
    connection: str = typer.Option("*", "--connection", help="Connection the value came from."),
) -> None:
    """Reveal an fpe-masked value, if the policy lets you; the audit log records it."""
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    password = os.environ.get(PASSWORD_ENV) or typer.prompt("password", hide_input=True)
    try:
        clear = asyncio.run(
            unmask(cfg, value, user, password, reason, entity, type_name, key_id, connection)
        )
    except PermissionError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(3) from None
    typer.echo(clear)


async def unmask(
    cfg: GatewayConfig,
    value: str,
    user: str,
    password: str,
    reason: str,
    entity: str | None,
    type_name: str,
    key_id: str | None,
    connection: str,
) -> str:
    """The clear value; raises PermissionError when identity, policy or audit say no."""
    from wardgate.audit import AuditLog, ValueUnmasked
    from wardgate.masking.operators import MaskContext
    from wardgate.masking.operators import unmask as reverse
    from wardgate.pgwire._scram import ScramVerifier, verify_password
    from wardgate.policy import Analyzed, Facts, decide, load_policy
    from wardgate.policy import Connection as PolicyConnection
    from wardgate.policy import Identity as PolicyIdentity
    from wardgate.proxy.masking import GatewayMasking

    ident = cfg.identity(user)
    verifier = ident.scram_verifier if ident is not None else None
    if (
        ident is None
        or verifier is None
        or not verify_password(ScramVerifier.parse(verifier), password)
    ):
        raise PermissionError("unknown identity or wrong password")
    if cfg.policy_dir is None:
        raise PermissionError("no policy: nothing allows unmasking")
    if not cfg.audit.enabled:
        raise PermissionError("the audit log is disabled: an unmask must be recorded")
    if not reason.strip():
        raise PermissionError("a reason is required")
    policy = load_policy(cfg.policy_dir)
    conn = cfg.connection(connection)
    decision = decide(
        policy,
        PolicyIdentity(name=ident.name, groups=frozenset(ident.groups), kind=ident.kind),
        PolicyConnection(name=connection, tags=dict(conn.tags) if conn else {}),
        Analyzed(statements=(Facts(kinds=frozenset({"admin"}), command="UNMASK"),)),
    )
    if decision.effect != "allow":
        raise PermissionError(f"the policy does not allow it ({decision.message})")
    masking = GatewayMasking.from_config(cfg)
    if masking.ephemeral_key:
        raise PermissionError("no masking keys are configured: nothing can be unmasked")
    ctx = MaskContext(entity=entity, type_name=type_name)
    used = key_id or masking.keyring.current
    try:
        clear = reverse(value, ctx, masking.keyring, key_id=used)
    except (ValueError, KeyError) as exc:
        raise PermissionError(f"not an fpe value under key {used!r}: {exc}") from None
    log = await AuditLog.open(cfg.audit, base_dir=cfg.base_dir)
    try:
        event = ValueUnmasked(
            actor=ident.name,
            masked_value=value,
            entity=entity,
            type_name=type_name,
            key_id=used,
            reason=reason,
            rules=decision.rules,
            policy_version=decision.policy_version,
        )
        await log.writer.record(event)  # strict whatever the config says: stored, or no value
    except Exception as exc:
        raise PermissionError(f"the audit log could not record it: {exc}") from None
    finally:
        await log.close()
    return clear
