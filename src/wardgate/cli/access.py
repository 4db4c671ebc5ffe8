"""`wardgate access ...`: ask for a policy role for a while (just-in-time access), and list, show,
approve, reject and revoke grants, through the REST API.

``wardgate access request --connection prod --role write --duration 30m --reason "INC-4711"``
asks for the policy's ``write`` role on ``prod`` for 30 minutes from approval; ``--break-glass``
(members of the role's ``break_glass`` groups) makes it active at once, recorded and announced.
Durations are ``900`` or ``900s``, ``30m``, ``2h``, ``1h30m``, ``1d``; the API checks them.

API, credential and exit codes as for `wardgate review` (see `wardgate.cli._api_client`): 0 done,
1 the server refused (its reason is printed), 2 usage or connection errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer

from wardgate.cli._api_client import (
    API,
    CACERT,
    JSON_OUT,
    TOKEN,
    call,
    fail,
    left,
    print_table,
    safe,
    when,
)

__all__ = ["access_app"]

access_app = typer.Typer(
    no_args_is_help=True,
    help="Just-in-time access: request a policy role for a while; approve, reject, revoke.",
)

STATUSES = ("pending", "active", "rejected", "cancelled", "expired", "revoked")
CURRENT = ("pending", "active")  # what `list` shows unless told otherwise


def _path(grant_id: str) -> str:
    return "/v1/grants/" + quote(grant_id, safe="")


def _span(seconds: float) -> str:
    """``5400`` as ``1h30m``: the units a duration was most likely asked in."""
    rest = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"


def _until(grant: dict[str, Any]) -> str:
    """When the grant's current state ends: a pending request lapses, an active grant ends."""
    if grant["status"] == "pending":
        return when(grant["expires_at"])
    return when(grant.get("ends_at"))


def _what(g: dict[str, Any]) -> str:
    return f"{safe(g['role'])} on {safe(g['connection'])}"


def _print_table(grants: list[dict[str, Any]]) -> None:
    columns = ("ID", "STATUS", "ROLE", "CONNECTION", "REQUESTER", "FOR", "APPROVALS", "UNTIL")
    rows = [
        (
            safe(g["id"]),
            g["status"] + (" (break-glass)" if g["break_glass"] else ""),
            safe(g["role"]),
            safe(g["connection"]),
            safe(g["requester"]),
            _span(g["duration"]),
            f"{g['approvals']}/{g['approvals_needed']}",
            _until(g),
        )
        for g in grants
    ]
    print_table(columns, rows)


def _print_grant(g: dict[str, Any]) -> None:
    def line(label: str, value: str) -> None:
        typer.echo(f"{label + ':':<12} {value}")

    kind = "  break-glass" if g["break_glass"] else ""
    line("grant", f"{safe(g['id'])}  {g['status']}{kind}")
    line("requester", safe(g["requester"]))
    line("access", f"{_what(g)} for {_span(g['duration'])}")
    line("reason", safe(g["reason"]))
    groups = safe(", ".join(g["approvers"]))
    line("approvers", f"{groups} ({g['approvals']}/{g['approvals_needed']} approvals)")
    line("requested", when(g["created_at"]))
    if g["status"] == "pending":
        line("lapses", f"{when(g['expires_at'])} ({left(g['expires_at'])})")
    if g.get("starts_at") is not None:
        line("from", when(g["starts_at"]))
    if g.get("ends_at") is not None:
        ends = when(g["ends_at"])
        line("until", f"{ends} ({left(g['ends_at'])})" if g["status"] == "active" else ends)
    typer.echo("verdicts:" if g["verdicts"] else "verdicts:   (none yet)")
    for v in g["verdicts"]:
        verb = "revoke" if v["verdict"] == "cancel" else v["verdict"]
        reason = f": {safe(v['reason'])}" if v["reason"] else ""
        typer.echo(
            f"    {when(v['at'])}  {safe(v['approver'])} {verb} via {safe(v['via'])}{reason}"
        )


def _done(grant: dict[str, Any], did: str) -> None:
    status = grant["status"]
    if status == "active":
        status += f" until {when(grant['ends_at'])}"
    need = f"{grant['approvals']}/{grant['approvals_needed']} approvals"
    typer.echo(f"{did} {safe(grant['id'])}: now {status} ({need})")


# --- commands -------------------------------------------------------------------------------------


@access_app.command("request")
def request(
    connection: str = typer.Option(..., "--connection", help="The connection's name."),
    role: str = typer.Option(..., "--role", help="A role the policy's `access:` section offers."),
    duration: str = typer.Option(
        ..., "--duration", help="How long from approval: 900s, 30m, 2h, 1h30m."
    ),
    reason: str = typer.Option(..., "--reason", help="Why you need it (required, recorded)."),
    break_glass: bool = typer.Option(
        False, "--break-glass", help="Active at once, without approval (recorded and announced)."
    ),
    json_out: bool = JSON_OUT,
    api: str = API,
    token: str | None = TOKEN,
    cacert: Path | None = CACERT,
) -> None:
    """Ask for a role on a connection for a while; approvers decide (or break glass)."""
    body = {
        "connection": connection,
        "role": role,
        "duration": duration,
        "reason": reason,
        "break_glass": break_glass,
    }
    grant = call("POST", api, "/v1/grants", token, cacert, body=body)
    if json_out:
        typer.echo(json.dumps(grant, indent=2))
        return
    gid, span = safe(grant["id"]), _span(grant["duration"])
    if grant["status"] == "active":
        typer.echo(
            f"break glass {gid}: {_what(grant)} active until {when(grant['ends_at'])} ({span});"
            " recorded and announced"
        )
        return
    groups = safe(", ".join(grant["approvers"]))
    typer.echo(
        f"requested {gid}: {_what(grant)} for {span}, {grant['status']}"
        f" ({grant['approvals']}/{grant['approvals_needed']} approvals from {groups})"
    )
    typer.echo(f"approvers ({groups}) can run: wardgate access approve {gid}")


@access_app.command("list")
def list_grants(
    status: list[str] = typer.Option(
        [],
        "--status",
        metavar="STATUS",
        help=f"{', '.join(STATUSES)} (repeatable; default pending and active).",
    ),
    all_: bool = typer.Option(False, "--all", help="Every status (overrides --status)."),
    requester: str | None = typer.Option(None, "--requester", help="Only this requester's."),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    json_out: bool = JSON_OUT,
    api: str = API,
    token: str | None = TOKEN,
    cacert: Path | None = CACERT,
) -> None:
    """Grants you may see (yours, and those your groups approve); pending and active by default."""
    for wanted in status:
        if wanted not in STATUSES:
            fail(f"--status must be one of {', '.join(STATUSES)}", 2)
    params: dict[str, Any] = {"limit": limit}
    if not all_:
        params["status"] = status or list(CURRENT)
    if requester:
        params["requester"] = requester
    data = call("GET", api, "/v1/grants", token, cacert, params=params)
    if json_out:
        typer.echo(json.dumps(data, indent=2))
    elif not data["grants"]:
        typer.echo("no grants")
    else:
        _print_table(data["grants"])


@access_app.command("show")
def show(
    grant_id: str = typer.Argument(..., help="The grant id (gr-...)."),
    json_out: bool = JSON_OUT,
    api: str = API,
    token: str | None = TOKEN,
    cacert: Path | None = CACERT,
) -> None:
    """Everything about one grant: who asked for what and why, for how long, the verdicts."""
    data = call("GET", api, _path(grant_id), token, cacert)
    if json_out:
        typer.echo(json.dumps(data, indent=2))
    else:
        _print_grant(data)


@access_app.command("approve")
def approve(
    grant_id: str = typer.Argument(...),
    reason: str | None = typer.Option(None, "--reason", help="Why (recorded with the verdict)."),
    api: str = API,
    token: str | None = TOKEN,
    cacert: Path | None = CACERT,
) -> None:
    """Approve a grant as yourself: the role is in force for its duration from now."""
    body = {"reason": reason} if reason else {}
    _done(call("POST", api, _path(grant_id) + "/approve", token, cacert, body=body), "approved")


@access_app.command("reject")
def reject(
    grant_id: str = typer.Argument(...),
    reason: str = typer.Option(..., "--reason", help="Why the access is refused (required)."),
    api: str = API,
    token: str | None = TOKEN,
    cacert: Path | None = CACERT,
) -> None:
    """Reject a grant request, with a reason."""
    body = {"reason": reason}
    _done(call("POST", api, _path(grant_id) + "/reject", token, cacert, body=body), "rejected")


@access_app.command("revoke")
def revoke(
    grant_id: str = typer.Argument(...),
    reason: str | None = typer.Option(None, "--reason"),
    api: str = API,
    token: str | None = TOKEN,
    cacert: Path | None = CACERT,
) -> None:
    """End a grant now (your own, or one your groups approve); a pending request is withdrawn."""
    body = {"reason": reason} if reason else {}
    _done(call("POST", api, _path(grant_id) + "/revoke", token, cacert, body=body), "revoked")
