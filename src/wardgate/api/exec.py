"""``POST /v1/exec``: one statement through the gateway, for programs that speak HTTP, not
PostgreSQL (DESIGN.md's REST door).

The route signs in to the gateway's own PostgreSQL port as the caller, with the secret the caller
sent (an API key of a service identity, the token of an ``auth: token`` identity, or the
credential ``wardgate login`` issued a person) and sends the statement there
(`wardgate.portclient`). So it is decided, held for review, masked and recorded exactly as from
psql; the route adds nothing and can take nothing away. Configured identities that sign in with
SCRAM have no secret the port accepts besides their password, which the API never sees: their
API credential is refused here with 403.

Reviews answer at once: 403 with SQLSTATE 42501 naming the review; once approved, the same
request (same ``sql`` and ``reason``) runs it. One connection per request, at most 16 at once
per API server (503 past that); a statement is cancelled after 300 s (504); results are capped
(``max_rows``, and about 200,000 characters of row JSON) and the rest cancelled, not buffered.
An agent may name the person it acts for (``on_behalf_of``); anyone else gets 422.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from wardgate.portclient import (
    GatewayLink,
    GatewayTarget,
    LinkError,
    Refused,
    SignInFailed,
    with_reason,
)

from ._deps import Who, credential_of, error_responses, wiring
from ._http import ApiError
from ._models import _Body

__all__ = ["exec_router"]

MAX_CHARS = 200_000
TIMEOUT = 300.0  # seconds; past it the statement is cancelled upstream (the link's abandon path)
MAX_RUNNING = 16  # statements at once through this route, per API server


@contextlib.asynccontextmanager
async def _running(request: Request) -> AsyncIterator[None]:
    """A slot among `MAX_RUNNING`: each holds an upstream connection and result memory."""
    state = request.app.state
    slots: asyncio.Semaphore | None = getattr(state, "exec_slots", None)
    if slots is None:
        slots = state.exec_slots = asyncio.Semaphore(MAX_RUNNING)
    if slots.locked():
        raise ApiError(503, "too many statements running through the API; try again shortly")
    async with slots:
        yield


exec_router = APIRouter(
    prefix="/v1",
    tags=["exec"],
    responses=error_responses(
        "statement",
        (400, "The database refused the statement (syntax, types...): see sqlstate."),
        (502, "The gateway's PostgreSQL port could not be reached or the connection broke."),
        (503, "This API was started without the gateway's port."),
    ),
)


class ExecBody(_Body):
    connection: str = Field(min_length=1, max_length=256, description="The connection's name.")
    sql: str = Field(min_length=1, max_length=1_000_000, description="One SQL statement.")
    reason: str = Field(default="", max_length=500, description="Why: shown to reviewers.")
    max_rows: int = Field(default=100, ge=1, le=10_000)
    on_behalf_of: str | None = Field(
        default=None, max_length=256, description="The person an agent acts for."
    )


class ExecOut(BaseModel):
    columns: list[dict[str, str]]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    status: str | None
    notices: list[str]


class RefusedOut(BaseModel):
    error: str
    sqlstate: str | None
    detail: str | None = None
    hint: str | None = None


@exec_router.post("/exec", response_model=ExecOut)
async def exec_statement(request: Request, who: Who, body: ExecBody) -> Any:
    """Run one statement through the gateway as the caller; masked, decided and recorded there."""
    wired = wiring(request)
    if wired.gateway_port is None:
        raise ApiError(503, "this API was started without the gateway's PostgreSQL port")
    config = wired.config
    ident = config.identity(who.name) if config is not None else None
    if ident is not None and ident.auth == "scram":
        raise ApiError(
            403,
            f"{who.name} signs in to PostgreSQL with a password, which the API never sees;"
            " connect with a PostgreSQL client, or use an identity with 'auth: token'",
        )
    if body.on_behalf_of is not None and who.kind != "agent":
        raise ApiError(422, "only an agent names a person it acts for (on_behalf_of)")
    credential = credential_of(request)
    assert credential is not None  # Who authenticated it
    _, _, secret = credential.rpartition(":")  # Basic name:key, or the bearer token itself
    source = request.client.host if request.client else "?"
    target = GatewayTarget(
        host=_local_address(config.listen.host if config is not None else "127.0.0.1"),
        port=wired.gateway_port(),
        user=who.name,
        secret=secret,
        database=body.connection,
        on_behalf_of=body.on_behalf_of,
        application_name=f"wardgate-api {source}"[:63],
        sslmode="prefer",  # the gateway's own port on this machine: nothing in between
    )
    link = GatewayLink(target)
    sql = with_reason(body.sql, body.reason)
    try:
        async with _running(request):
            shaped = await asyncio.wait_for(link.run(sql, (), body.max_rows, MAX_CHARS), TIMEOUT)
    except Refused as exc:
        code = 403 if exc.sqlstate == "42501" else 400
        out = RefusedOut(error=exc.message, sqlstate=exc.sqlstate, detail=exc.detail, hint=exc.hint)
        return JSONResponse(out.model_dump(), status_code=code)
    except TimeoutError:
        raise ApiError(
            504, f"the statement ran longer than {TIMEOUT:.0f} s and was cancelled"
        ) from None
    except SignInFailed as exc:
        raise ApiError(502, str(exc)) from None
    except LinkError as exc:
        raise ApiError(502, str(exc)) from None
    finally:
        await link.close()
    return ExecOut(**shaped.as_dict())


def _local_address(listen: str) -> str:
    """Where this process reaches the gateway's port: a wildcard listen address means loopback."""
    if listen in ("", "*") or listen == "0.0.0.0":  # noqa: S104  (read, not bound)
        return "127.0.0.1"
    return "::1" if listen == "::" else listen
