"""What the REST API's command-line clients (`wardgate review`, `wardgate access`) share: the
``--api``/``--token``/``--cacert`` options, finding the credential, calling the API, and printing
what others wrote without letting it drive the terminal.

The credential is ``--token`` (or ``WARDGATE_TOKEN``): a ``wgt1.`` credential or token, or
``name:wga_...`` for a service identity's API key (sent as HTTP Basic); without one, the
credential `wardgate login` stored for the same host as the API. A credential is never sent over
plain HTTP to anything but loopback. A refusal by the server exits 1 with its reason; usage and
connection problems exit 2.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import ssl
import sys
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlparse

import httpx
import typer

from wardgate.cli.login import _load as load_credentials

__all__ = [
    "API",
    "CACERT",
    "DEFAULT_API",
    "JSON_OUT",
    "TOKEN",
    "VIA",
    "call",
    "fail",
    "left",
    "print_table",
    "safe",
    "when",
]

DEFAULT_API = "http://127.0.0.1:6481"
VIA = "cli"  # the X-Wardgate-Via every verdict from the CLI carries

API = typer.Option(DEFAULT_API, "--api", envvar="WARDGATE_API", help="The Wardgate API URL.")
TOKEN = typer.Option(
    None,
    "--token",
    envvar="WARDGATE_TOKEN",
    help="Credential (wgt1...) or name:API key; default: the one `wardgate login` stored.",
    show_default=False,
)
CACERT = typer.Option(None, "--cacert", help="CA bundle for the API's TLS certificate.")
JSON_OUT = typer.Option(False, "--json", help="Print the API's JSON.")


def fail(message: str, code: int) -> NoReturn:
    typer.echo(f"wardgate: {message}", err=True)
    raise typer.Exit(code)


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _stored_credential(api: str) -> str:
    """The `wardgate login` credential for the API's host (never another host's)."""
    host = urlparse(api).hostname
    entries = [
        entry
        for key, entry in load_credentials().items()
        if isinstance(entry, dict) and urlparse(key).hostname == host and "credential" in entry
    ]
    if not entries:
        fail(f"no credential for {host}: use --token, WARDGATE_TOKEN or `wardgate login`", 2)
    entry = max(entries, key=lambda e: float(e.get("expires_at", 0)))
    if float(entry.get("expires_at", 0)) <= time.time():
        fail(f"your credential for {host} has expired (run `wardgate login`)", 2)
    return str(entry["credential"])


def _authorization(credential: str) -> str:
    name, sep, secret = credential.rpartition(":")
    if sep and secret.startswith("wga_"):
        return "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode("ascii")
    return f"Bearer {credential}"


def call(
    method: str,
    api: str,
    path: str,
    token: str | None,
    cacert: Path | None,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> Any:
    """The API's JSON answer to one request; exits 1 when it refuses, 2 when it cannot ask."""
    url = urlparse(api)
    if url.scheme not in ("http", "https") or not url.hostname:
        fail(f"--api must be an http(s) URL, not {api!r}", 2)
    if url.scheme == "http" and not _loopback(url.hostname):
        fail("refusing to send a credential over plain HTTP off loopback (use https)", 2)
    credential = token or _stored_credential(api)
    headers = {"Authorization": _authorization(credential), "X-Wardgate-Via": VIA}
    verify: ssl.SSLContext | bool = True
    if cacert is not None:
        try:
            verify = ssl.create_default_context(cafile=str(cacert))
        except (OSError, ssl.SSLError) as exc:
            fail(f"cannot use --cacert {cacert}: {exc}", 2)
    try:
        with httpx.Client(timeout=30, verify=verify) as http:
            response = http.request(
                method, api.rstrip("/") + path, headers=headers, json=body, params=params
            )
    except httpx.HTTPError as exc:
        fail(f"cannot reach the API at {api}: {exc}", 2)
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.is_success and data is not None:
        return data
    why = data.get("error") if isinstance(data, dict) else None
    fail(f"refused ({response.status_code}): {why or response.reason_phrase}", 1)


def safe(text: str, *, newlines: bool = False) -> str:
    """``text`` with control and format characters escaped (newlines kept if ``newlines``)."""
    out = []
    for ch in text:
        if (newlines and ch in "\n\t") or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def left(ts: float) -> str:
    seconds = int(ts - time.time())
    if seconds <= 0:
        return "passed"
    if seconds < 3600:
        return f"in {seconds // 60}m{seconds % 60:02d}s"
    return f"in {seconds // 3600}h{seconds % 3600 // 60:02d}m"


def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table: rich on a terminal, plain aligned columns otherwise (for scripts and tests).
    The cells must already be `safe`."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*columns, box=None, header_style="bold")
        for row in rows:
            table.add_row(*row)
        Console(markup=False, highlight=False).print(table)
        return
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
    for row in (columns, *rows):
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
