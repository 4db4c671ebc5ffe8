"""`wardgate review ...`: list, show and decide reviews of held statements through the REST API.

The API is ``--api`` (or ``WARDGATE_API``; default ``http://127.0.0.1:6481``). The credential is
``--token`` (or ``WARDGATE_TOKEN``): a ``wgt1.`` credential or token, or ``name:wga_...`` for a
service identity's API key; without one, the credential `wardgate login` stored for the same
host is used. A credential is never sent over plain HTTP to anything but loopback.

Exit codes: 0 done, 1 the server refused (its reason is printed), 2 usage or connection errors.

Everything shown comes from someone else (the statement, its parameters, reasons): control and
bidirectional-formatting characters in it are printed escaped (``\\x1b``, ``\\u202e``), so text
in a statement cannot rewrite the reviewer's terminal or reorder what they read.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urlparse

import httpx
import typer

from wardgate.cli.login import _load as load_credentials

__all__ = ["review_app"]

review_app = typer.Typer(
    no_args_is_help=True,
    help="Reviews of statements held for approval: list, show, approve, reject, cancel.",
)

DEFAULT_API = "http://127.0.0.1:6481"
STATUSES = ("pending", "approved", "rejected", "cancelled", "expired", "executed")
VIA = "cli"

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


# --- talking to the API ---------------------------------------------------------------------------


def _fail(message: str, code: int) -> NoReturn:
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
        _fail(f"no credential for {host}: use --token, WARDGATE_TOKEN or `wardgate login`", 2)
    entry = max(entries, key=lambda e: float(e.get("expires_at", 0)))
    if float(entry.get("expires_at", 0)) <= time.time():
        _fail(f"your credential for {host} has expired (run `wardgate login`)", 2)
    return str(entry["credential"])


def _authorization(credential: str) -> str:
    name, sep, secret = credential.rpartition(":")
    if sep and secret.startswith("wga_"):
        return "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode("ascii")
    return f"Bearer {credential}"


def _call(
    method: str,
    api: str,
    path: str,
    token: str | None,
    cacert: Path | None,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> Any:
    url = urlparse(api)
    if url.scheme not in ("http", "https") or not url.hostname:
        _fail(f"--api must be an http(s) URL, not {api!r}", 2)
    if url.scheme == "http" and not _loopback(url.hostname):
        _fail("refusing to send a credential over plain HTTP off loopback (use https)", 2)
    credential = token or _stored_credential(api)
    headers = {"Authorization": _authorization(credential), "X-Wardgate-Via": VIA}
    verify: ssl.SSLContext | bool = True
    if cacert is not None:
        try:
            verify = ssl.create_default_context(cafile=str(cacert))
        except (OSError, ssl.SSLError) as exc:
            _fail(f"cannot use --cacert {cacert}: {exc}", 2)
    try:
        with httpx.Client(timeout=30, verify=verify) as http:
            response = http.request(
                method, api.rstrip("/") + path, headers=headers, json=body, params=params
            )
    except httpx.HTTPError as exc:
        _fail(f"cannot reach the API at {api}: {exc}", 2)
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.is_success and data is not None:
        return data
    why = data.get("error") if isinstance(data, dict) else None
    _fail(f"refused ({response.status_code}): {why or response.reason_phrase}", 1)


def _path(review_id: str) -> str:
    return "/v1/reviews/" + quote(review_id, safe="")


# --- showing reviews ------------------------------------------------------------------------------


def _safe(text: str, *, newlines: bool = False) -> str:
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


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _left(ts: float) -> str:
    seconds = int(ts - time.time())
    if seconds <= 0:
        return "passed"
    if seconds < 3600:
        return f"in {seconds // 60}m{seconds % 60:02d}s"
    return f"in {seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _one_line(text: str, width: int) -> str:
    flat = " ".join(_safe(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _requester(review: dict[str, Any]) -> str:
    who = f"{review['requester']} ({review['requester_kind']})"
    if review.get("on_behalf_of"):
        who += f" for {review['on_behalf_of']}"
    return _safe(who)


def _print_table(reviews: list[dict[str, Any]]) -> None:
    columns = ("ID", "STATUS", "APPROVALS", "REQUESTER", "CONNECTION", "EXPIRES", "STATEMENT")
    rows = [
        (
            _safe(r["id"]),
            r["status"],
            f"{r['approvals']}/{r['approvals_needed']}",
            _safe(r["requester"])
            + (f" for {_safe(r['on_behalf_of'])}" if r["on_behalf_of"] else ""),
            _safe(r["connection"]),
            _when(r["expires_at"]),
            _one_line(r["statement"], 60),
        )
        for r in reviews
    ]
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


def _print_review(r: dict[str, Any]) -> None:
    def line(label: str, value: str) -> None:
        typer.echo(f"{label + ':':<12} {value}")

    def block(label: str, text: str) -> None:
        typer.echo(f"{label}:")
        for part in _safe(text, newlines=True).split("\n"):
            typer.echo(f"    {part}")

    line("review", f"{_safe(r['id'])}  {r['status']}")
    line("requester", _requester(r))
    line("connection", _safe(r["connection"]))
    line("rules", _safe(", ".join(r["rules"])) or "-")
    groups = _safe(", ".join(r["approvers"]))
    line("approvers", f"{groups} ({r['approvals']}/{r['approvals_needed']} approvals)")
    if len(r.get("quorum") or ()) > 1:
        parts = [f"{q['approvals']} of {_safe(', '.join(q['groups']))}" for q in r["quorum"]]
        line("needs", "; ".join(parts))
    line("reason", _safe(r["reason"]) if r.get("reason") else "(none given)")
    line("created", _when(r["created_at"]))
    if r["status"] == "pending":
        line("expires", f"{_when(r['expires_at'])} ({_left(r['expires_at'])})")
    elif r.get("grant_expires_at") is not None:
        line("may run", f"until {_when(r['grant_expires_at'])} (once)")
    if r.get("executed_at") is not None:
        line("executed", _when(r["executed_at"]))
    block("statement", r["statement"])
    params = r["parameters"]
    if params:
        typer.echo("parameters:")
        for i, value in enumerate(params, 1):
            shown = "NULL" if value is None else "'" + _safe(value).replace("'", "''") + "'"
            typer.echo(f"    ${i} = {shown}")
    if r.get("preview"):
        block("preview", r["preview"])
    typer.echo("verdicts:" if r["verdicts"] else "verdicts:   (none yet)")
    for v in r["verdicts"]:
        reason = f": {_safe(v['reason'])}" if v["reason"] else ""
        typer.echo(
            f"    {_when(v['at'])}  {_safe(v['approver'])} {v['verdict']} via {_safe(v['via'])}"
            f"{reason}"
        )


def _done(review: dict[str, Any], did: str) -> None:
    need = f"{review['approvals']}/{review['approvals_needed']} approvals"
    typer.echo(f"{did} {_safe(review['id'])}: now {review['status']} ({need})")


# --- commands -------------------------------------------------------------------------------------


@review_app.command("list")
def list_reviews(
    status: str | None = typer.Option(
        "pending", "--status", help="pending, approved, rejected, cancelled, expired, executed."
    ),
    all_: bool = typer.Option(False, "--all", help="Every status (overrides --status)."),
    requester: str | None = typer.Option(None, "--requester", help="Only this requester's."),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    json_out: bool = JSON_OUT,
    api: str = API,
    token: str | None = TOKEN,
    cacert: Path | None = CACERT,
) -> None:
    """Reviews you may see: your own, and those your groups approve. Pending ones by default."""
    if status is not None and status not in STATUSES:
        _fail(f"--status must be one of {', '.join(STATUSES)}", 2)
    params: dict[str, Any] = {"limit": limit}
    if not all_ and status:
        params["status"] = status
    if requester:
        params["requester"] = requester
    data = _call("GET", api, "/v1/reviews", token, cacert, params=params)
    if json_out:
        typer.echo(json.dumps(data, indent=2))
    elif not data["reviews"]:
        typer.echo("no reviews")
    else:
        _print_table(data["reviews"])


@review_app.command("show")
def show(
    review_id: str = typer.Argument(..., help="The review id (rv-...)."),
    json_out: bool = JSON_OUT,
    api: str = API,
    token: str | None = TOKEN,
    cacert: Path | None = CACERT,
) -> None:
    """Everything about one review: the exact statement and parameters, rules, verdicts."""
    data = _call("GET", api, _path(review_id), token, cacert)
    if json_out:
        typer.echo(json.dumps(data, indent=2))
    else:
        _print_review(data)


@review_app.command("approve")
def approve(
    review_id: str = typer.Argument(...),
    reason: str | None = typer.Option(None, "--reason", help="Why (recorded with the verdict)."),
    api: str = API,
    token: str | None = TOKEN,
    cacert: Path | None = CACERT,
) -> None:
    """Approve a review as yourself (read it with `show` first)."""
    body = {"reason": reason} if reason else {}
    _done(_call("POST", api, _path(review_id) + "/approve", token, cacert, body=body), "approved")


@review_app.command("reject")
def reject(
    review_id: str = typer.Argument(...),
    reason: str = typer.Option(..., "--reason", help="Why the statement may not run (required)."),
    api: str = API,
    token: str | None = TOKEN,
    cacert: Path | None = CACERT,
) -> None:
    """Reject a review, with a reason: the statement will not run."""
    body = {"reason": reason}
    _done(_call("POST", api, _path(review_id) + "/reject", token, cacert, body=body), "rejected")


@review_app.command("cancel")
def cancel(
    review_id: str = typer.Argument(...),
    reason: str | None = typer.Option(None, "--reason"),
    api: str = API,
    token: str | None = TOKEN,
    cacert: Path | None = CACERT,
) -> None:
    """Withdraw your own review."""
    body = {"reason": reason} if reason else {}
    _done(_call("POST", api, _path(review_id) + "/cancel", token, cacert, body=body), "cancelled")
