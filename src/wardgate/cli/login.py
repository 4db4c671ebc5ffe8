"""`wardgate login` and `wardgate connect`: sign in through OIDC, then hand psql a password.

`login` asks the gateway's exchange endpoint which provider to use, signs the person in there
(browser + PKCE, or the device flow), trades the ID token for a gateway credential, and keeps
that in ``~/.config/wardgate/credentials.json`` (mode 0600; ``WARDGATE_CREDENTIALS`` moves it).
`connect` prints what an unmodified client needs: environment variables, a ``.pgpass`` line or
a connection URI. The credential is a password to the gateway only, and only until it expires.
"""

from __future__ import annotations

import json
import os
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import httpx
import typer

from wardgate.identity.flows import (
    FlowError,
    OAuthClient,
    authorization_code_login,
    device_login,
    discover,
)

__all__ = ["connect", "credentials_path", "login", "sign_in"]


def credentials_path() -> Path:
    env = os.environ.get("WARDGATE_CREDENTIALS")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "wardgate" / "credentials.json"


def _load() -> dict[str, Any]:
    try:
        data = json.loads(credentials_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(data: dict[str, Any]) -> None:
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def sign_in(
    gateway: str,
    http: httpx.Client,
    *,
    device: bool = False,
    open_url: Callable[[str], object] = webbrowser.open,
    show: Callable[[str, str, str | None], object] | None = None,
) -> dict[str, Any]:
    """The whole login: bootstrap, provider flow, exchange; saves and returns the credential."""
    gateway = gateway.rstrip("/")
    boot = _answer(http.get(f"{gateway}/v1/identity/oidc"))
    client = OAuthClient(
        metadata=discover(http, str(boot["issuer"])),
        client_id=str(boot["client_id"]),
        client_secret=boot.get("client_secret"),
        scopes=tuple(boot.get("scopes") or ("openid",)),
    )
    if device:
        tokens = device_login(http, client, show or _show_device_code)
    else:
        tokens = authorization_code_login(http, client, open_url)
    auth = {"Authorization": f"Bearer {tokens['id_token']}"}
    issued = _answer(http.post(f"{gateway}/v1/identity/exchange", headers=auth))
    entry = {
        "credential": issued["credential"],
        "credential_id": issued["credential_id"],
        "user": issued["user"],
        "groups": issued["groups"],
        "expires_at": issued["expires_at"],
        "pg_host": urlparse(gateway).hostname,
        "pg_port": boot.get("pg_port", 6432),
        "tls": urlparse(gateway).scheme == "https",
    }
    data = _load()
    data[gateway] = entry
    _save(data)
    return entry


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.status_code != 200 or not isinstance(data, dict):
        why = data.get("error") if isinstance(data, dict) else None
        raise FlowError(f"the gateway refused ({response.status_code}): {why or 'no reason'}")
    return data


def _show_device_code(user_code: str, uri: str, complete: str | None) -> None:
    typer.echo(f"To sign in, open {complete or uri} and enter the code {user_code}", err=True)


def login(
    gateway: str = typer.Option(
        ..., "--gateway", envvar="WARDGATE_GATEWAY", help="The exchange URL (https://host:6480)."
    ),
    device: bool = typer.Option(
        False, "--device", help="Device flow, for machines without a browser."
    ),
    no_browser: bool = typer.Option(False, "--no-browser", help="Print the URL, do not open it."),
    cacert: Path | None = typer.Option(None, "--cacert", help="CA bundle for the gateway's TLS."),
) -> None:
    """Sign in through the organisation's identity provider; keep a gateway credential."""

    def open_url(url: str) -> None:
        typer.echo(f"Sign in at: {url}", err=True)
        if not no_browser:
            webbrowser.open(url)

    verify: str | bool = str(cacert) if cacert else True
    try:
        with httpx.Client(timeout=30, verify=verify) as http:
            entry = sign_in(gateway, http, device=device, open_url=open_url)
    except (FlowError, httpx.HTTPError, KeyError) as exc:
        typer.echo(f"wardgate: sign-in failed: {exc}", err=True)
        raise typer.Exit(1) from None
    left = (entry["expires_at"] - time.time()) / 3600
    groups = ",".join(entry["groups"]) or "no groups"
    typer.echo(f"signed in as {entry['user']} ({groups}); credential valid {left:.1f} h")


def _pgpass_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:")


def connect(
    connection: str = typer.Argument(..., help="The gateway connection (database) name."),
    gateway: str | None = typer.Option(None, "--gateway", envvar="WARDGATE_GATEWAY"),
    output: str = typer.Option("env", "--format", help="env, pgpass or uri."),
) -> None:
    """Print what psql and other clients need to connect with your credential.

    ``eval "$(wardgate connect shop)"`` sets PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD.
    """
    data = _load()
    key = gateway.rstrip("/") if gateway else (next(iter(data)) if len(data) == 1 else None)
    entry = data.get(key or "")
    if entry is None:
        typer.echo("wardgate: not signed in to that gateway (run `wardgate login`)", err=True)
        raise typer.Exit(2)
    if entry["expires_at"] <= time.time():
        typer.echo("wardgate: your credential has expired (run `wardgate login`)", err=True)
        raise typer.Exit(2)
    host, port, user, password = (
        entry["pg_host"],
        entry["pg_port"],
        entry["user"],
        entry["credential"],
    )
    sslmode = "require" if entry.get("tls") else "prefer"
    if output == "pgpass":
        fields = (host, str(port), connection, user, password)
        typer.echo(":".join(_pgpass_escape(f) for f in fields))
    elif output == "uri":
        typer.echo(
            f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/"
            f"{quote(connection, safe='')}?sslmode={sslmode}"
        )
    elif output == "env":
        values = {
            "PGHOST": host,
            "PGPORT": str(port),
            "PGUSER": user,
            "PGDATABASE": connection,
            "PGPASSWORD": password,
            "PGSSLMODE": sslmode,
        }
        for name, value in values.items():
            typer.echo(f"export {name}={_shell_quote(value)}")
    else:
        raise typer.BadParameter("--format must be env, pgpass or uri")


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
