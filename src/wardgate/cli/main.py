"""`wardgate` commands: each parses its options and calls into the library."""

from __future__ import annotations

import asyncio
import getpass
import logging
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import typer

from wardgate.cli.access import access_app
from wardgate.cli.audit import audit_app
from wardgate.cli.identity import register as register_identity_commands
from wardgate.cli.mcp import mcp_command
from wardgate.cli.review import review_app
from wardgate.cli.unmask import unmask_command
from wardgate.config import ConfigError, GatewayConfig, load_config

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
identity_app = typer.Typer(no_args_is_help=True, help="Gateway identities.")
app.add_typer(identity_app, name="identity")
token_app = typer.Typer(no_args_is_help=True, help="Gateway access tokens.")
app.add_typer(token_app, name="token")
policy_app = typer.Typer(no_args_is_help=True, help="Policy-as-code: lint, test, explain.")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(review_app, name="review")
app.add_typer(access_app, name="access")
register_identity_commands(app, identity_app)  # login, connect, identity create-agent...
app.command("unmask")(unmask_command)
app.command("mcp")(mcp_command)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine on uvloop when it is installed (it is ~2x faster for a proxy)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a declared dependency on Linux
        asyncio.run(main)
        return
    # (An ImportError raised *by* main must surface as itself, not retry on asyncio.)
    uvloop.run(main)


async def serve_until_signalled(config: GatewayConfig, ready: asyncio.Event | None = None) -> None:
    from wardgate.proxy import Gateway

    gateway = Gateway(config)
    await gateway.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, gateway.reload_policy)
    print(f"wardgate listening on {config.listen.host}:{gateway.port}", flush=True)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await gateway.close()


@app.command()
def serve(
    config: Path = typer.Option(..., "--config", "-c", help="Gateway config (YAML)."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
) -> None:
    """Run the gateway in front of the configured databases until SIGINT or SIGTERM."""
    _setup_logging(log_level)
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        typer.echo(f"wardgate: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        run_loop(serve_until_signalled(cfg))
    except ConfigError as exc:
        typer.echo(f"wardgate: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def demo(
    port: int = typer.Option(6432, help="Port the demo gateway listens on."),
    check: bool = typer.Option(
        False, "--check", help="Run the scripted tour through the gateway, then exit."
    ),
    log_level: str = typer.Option("warning", help="Gateway log level."),
) -> None:
    """Start an embedded PostgreSQL with a sample shop, and the gateway in front of it."""
    from wardgate.demo.run import run_demo

    _setup_logging(log_level)
    raise typer.Exit(run_demo(port=port, check=check))


@identity_app.command("scram-verifier")
def scram_verifier(
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
) -> None:
    """Print a SCRAM-SHA-256 verifier for an identity's `scram_verifier` setting.

    The gateway stores only the verifier; the password itself is never written anywhere.
    """
    from wardgate.pgwire._scram import make_verifier

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            typer.echo("wardgate: passwords differ", err=True)
            raise typer.Exit(2)
    if not password:
        typer.echo("wardgate: empty password", err=True)
        raise typer.Exit(2)
    typer.echo(make_verifier(password).to_text())


@token_app.command("issue")
def token_issue(
    config: Path = typer.Option(..., "--config", "-c", help="Gateway config (YAML)."),
    identity: str = typer.Option(..., "--identity", help="An identity in the config."),
    ttl: int = typer.Option(3600, "--ttl", help="Lifetime in seconds."),
) -> None:
    """Print an access token for a configured identity (only the signing key's holder can).

    For an `auth: token` identity it is the password it signs in to PostgreSQL with. For any
    other identity (SCRAM) it is a credential carrying the identity's kind and groups, for the
    REST API and `wardgate review` only: PostgreSQL sign-in stays SCRAM.
    """
    from wardgate.identity.tokens import issue_token

    try:
        cfg = load_config(config)
        if cfg.tokens is None:
            raise ConfigError(f"{config}: no 'tokens' section")
        key = cfg.tokens.signing_key.resolve(cfg.base_dir).encode()
    except ConfigError as exc:
        typer.echo(f"wardgate: {exc}", err=True)
        raise typer.Exit(2) from None
    ident = cfg.identity(identity)
    if ident is None:
        typer.echo(f"wardgate: {identity!r} is not an identity in {config}", err=True)
        raise typer.Exit(2)
    if ttl > cfg.tokens.max_ttl:
        typer.echo(
            f"wardgate: --ttl exceeds the configured max_ttl ({cfg.tokens.max_ttl:g}s)", err=True
        )
        raise typer.Exit(2)
    try:
        if ident.auth == "token":
            typer.echo(issue_token(key, identity, ttl))
        else:
            typer.echo(issue_token(key, identity, ttl, groups=ident.groups, kind=ident.kind))
    except ValueError as exc:
        typer.echo(f"wardgate: {exc}", err=True)
        raise typer.Exit(2) from None


def _load_policy_or_exit(directory: Path) -> Any:
    from wardgate.policy import PolicyLoadError, load_policy

    try:
        return load_policy(directory)
    except PolicyLoadError as exc:
        for error in exc.errors:
            typer.echo(str(error), err=True)
        typer.echo(f"wardgate: {len(exc.errors)} error(s); policy not loaded", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"wardgate: cannot read {directory}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None


@policy_app.command("lint")
def policy_lint(directory: Path = typer.Argument(..., help="Policy directory.")) -> None:
    """Check every policy file: schema, CEL conditions, duplicate ids (file:line per error)."""
    policy = _load_policy_or_exit(directory)
    typer.echo(f"ok: {len(policy.rules)} rules, version {policy.version}")


@policy_app.command("test")
def policy_test(directory: Path = typer.Argument(..., help="Policy directory.")) -> None:
    """Run the `tests:` kept beside the rules; exit 1 if any fails."""
    from wardgate.policy import run_policy_tests
    from wardgate.sql import analyze

    policy = _load_policy_or_exit(directory)
    results = run_policy_tests(policy, analyze=analyze)
    for result in results:
        status = "PASS" if result.passed else "FAIL"
        typer.echo(f"{status} {result.file}:{result.line} {result.name}")
        for failure in result.failures:
            typer.echo(f"     {failure}")
    failed = sum(not r.passed for r in results)
    typer.echo(f"{len(results) - failed} passed, {failed} failed")
    if failed or not results:
        raise typer.Exit(1)


@policy_app.command("explain")
def policy_explain(
    directory: Path = typer.Argument(..., help="Policy directory."),
    user: str = typer.Option(..., "--user"),
    connection: str = typer.Option(..., "--connection"),
    sql: str = typer.Option(..., "--sql"),
    groups: str = typer.Option("", "--groups", help="Comma-separated groups."),
    kind: str = typer.Option("human", "--kind", help="human, agent or service."),
    tag: list[str] = typer.Option([], "--tag", help="Connection tag KEY=VALUE (repeatable)."),
) -> None:
    """Show the decision for one statement, the rules that made it, and what the SQL was read as."""
    from wardgate.policy import Connection, Identity, decide
    from wardgate.sql import analyze

    if kind not in ("human", "agent", "service"):
        typer.echo("wardgate: --kind must be human, agent or service", err=True)
        raise typer.Exit(2)
    policy = _load_policy_or_exit(directory)
    tags = dict(t.split("=", 1) for t in tag if "=" in t)
    ident = Identity(
        name=user,
        groups=frozenset(g for g in groups.split(",") if g),
        kind=kind,  # type: ignore[arg-type]
    )
    analysis = analyze(sql)
    decision = decide(policy, ident, Connection(name=connection, tags=tags), analysis)
    if analysis.unparsable:
        typer.echo(f"statement: unparsable ({analysis.error})")
    for st in analysis.statements:
        typer.echo(f"statement: {st.command} kinds={','.join(sorted(st.kinds))}")
    typer.echo(f"effect:    {decision.effect}")
    typer.echo(f"message:   {decision.message}")
    typer.echo(f"rules:     {', '.join(decision.rules) or '(none: default deny)'}")
    typer.echo(f"read-only: {decision.read_only}")
    typer.echo(f"version:   {decision.policy_version}")
    raise typer.Exit(0 if decision.effect == "allow" else 1)


if __name__ == "__main__":  # pragma: no cover
    app()
