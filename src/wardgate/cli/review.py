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

__all__ = ["review_app"]

review_app = typer.Typer(
    no_args_is_help=True,
    help="Reviews of statements held for approval: list, show, approve, reject, cancel.",
)

STATUSES = ("pending", "approved", "rejected", "cancelled", "expired", "executed")


def _path(review_id: str) -> str:
    return "/v1/reviews/" + quote(review_id, safe="")


# --- showing reviews ------------------------------------------------------------------------------


def _one_line(text: str, width: int) -> str:
    flat = " ".join(safe(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _requester(review: dict[str, Any]) -> str:
    who = f"{review['requester']} ({review['requester_kind']})"
    if review.get("on_behalf_of"):
        who += f" for {review['on_behalf_of']}"
    return safe(who)


def _print_table(reviews: list[dict[str, Any]]) -> None:
    columns = ("ID", "STATUS", "APPROVALS", "REQUESTER", "CONNECTION", "EXPIRES", "STATEMENT")
    rows = [
        (
            safe(r["id"]),
            r["status"],
            f"{r['approvals']}/{r['approvals_needed']}",
            safe(r["requester"]) + (f" for {safe(r['on_behalf_of'])}" if r["on_behalf_of"] else ""),
            safe(r["connection"]),
            when(r["expires_at"]),
            _one_line(r["statement"], 60),
        )
        for r in reviews
    ]
    print_table(columns, rows)


def _print_review(r: dict[str, Any]) -> None:
    def line(label: str, value: str) -> None:
        typer.echo(f"{label + ':':<12} {value}")

    def block(label: str, text: str) -> None:
        typer.echo(f"{label}:")
        for part in safe(text, newlines=True).split("\n"):
            typer.echo(f"    {part}")

    line("review", f"{safe(r['id'])}  {r['status']}")
    line("requester", _requester(r))
    line("connection", safe(r["connection"]))
    line("rules", safe(", ".join(r["rules"])) or "-")
    groups = safe(", ".join(r["approvers"]))
    line("approvers", f"{groups} ({r['approvals']}/{r['approvals_needed']} approvals)")
    if len(r.get("quorum") or ()) > 1:
        parts = [f"{q['approvals']} of {safe(', '.join(q['groups']))}" for q in r["quorum"]]
        line("needs", "; ".join(parts))
    line("reason", safe(r["reason"]) if r.get("reason") else "(none given)")
    line("created", when(r["created_at"]))
    if r["status"] == "pending":
        line("expires", f"{when(r['expires_at'])} ({left(r['expires_at'])})")
    elif r.get("grant_expires_at") is not None:
        line("may run", f"until {when(r['grant_expires_at'])} (once)")
    if r.get("executed_at") is not None:
        line("executed", when(r["executed_at"]))
    block("statement", r["statement"])
    params = r["parameters"]
    if params:
        typer.echo("parameters:")
        for i, value in enumerate(params, 1):
            shown = "NULL" if value is None else "'" + safe(value).replace("'", "''") + "'"
            typer.echo(f"    ${i} = {shown}")
    if r.get("preview"):
        block("preview", r["preview"])
    typer.echo("verdicts:" if r["verdicts"] else "verdicts:   (none yet)")
    for v in r["verdicts"]:
        reason = f": {safe(v['reason'])}" if v["reason"] else ""
        typer.echo(
            f"    {when(v['at'])}  {safe(v['approver'])} {v['verdict']} via {safe(v['via'])}"
            f"{reason}"
        )


def _done(review: dict[str, Any], did: str) -> None:
    need = f"{review['approvals']}/{review['approvals_needed']} approvals"
    typer.echo(f"{did} {safe(review['id'])}: now {review['status']} ({need})")


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
        fail(f"--status must be one of {', '.join(STATUSES)}", 2)
    params: dict[str, Any] = {"limit": limit}
    if not all_ and status:
        params["status"] = status
    if requester:
        params["requester"] = requester
    data = call("GET", api, "/v1/reviews", token, cacert, params=params)
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
    data = call("GET", api, _path(review_id), token, cacert)
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
    _done(call("POST", api, _path(review_id) + "/approve", token, cacert, body=body), "approved")


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
    _done(call("POST", api, _path(review_id) + "/reject", token, cacert, body=body), "rejected")


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
    _done(call("POST", api, _path(review_id) + "/cancel", token, cacert, body=body), "cancelled")
