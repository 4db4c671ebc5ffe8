"""A held statement's way through review: ask, tell the client, wait, and say whether it runs.

The session calls `settle` with the enforcer's `Held`; it returns None when an approved review of
exactly this statement was consumed (the statement then runs once), or the ErrorResponse the
client gets instead. Anything that goes wrong on the way (store down, a bug) refuses: a statement
never runs unreviewed.

Waiting: ``hold`` sends a NoticeResponse at once naming the review and how to approve it, then
waits on the approvals service (other sessions are not slowed: each session is its own task).
``retry`` refuses at once with the review's id; the same statement sent again after approval
runs. A review already approved for this exact statement is consumed either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from wardgate import pgwire as pw
from wardgate.approvals import Approvals, Review, ReviewError, ReviewRequest, requester_reason
from wardgate.config import ConnectionConfig
from wardgate.pgwire import _sqlstate as sqlstate

from .enforce import Held
from .preview import impact

__all__ = ["ReviewContext", "settle", "wait_mode_option"]

log = logging.getLogger("wardgate.proxy")


@dataclass(slots=True, kw_only=True)
class ReviewContext:
    approvals: Approvals | None
    requester: str
    requester_kind: str
    on_behalf_of: str | None
    connection: ConnectionConfig
    session_id: str | None
    wait: str | None  # the client's own choice (startup option), else the policy's
    public_url: str | None
    notice: Callable[[pw.NoticeResponse], None]
    max_message_size: int


def wait_mode_option(options: str | None) -> str | None:
    """``-c wardgate.review_wait=retry`` (or ``hold``) among the client's startup options."""
    value = pw.startup_setting(options, "wardgate.review_wait")
    return value if value in ("hold", "retry") else None


def _refusal(
    message: str, *, detail: str | None = None, hint: str | None = None
) -> pw.ErrorResponse:
    return pw.ErrorResponse.build(
        sqlstate.INSUFFICIENT_PRIVILEGE, message, detail=detail, hint=hint
    )


def _how_to_approve(review: Review, ctx: ReviewContext) -> str:
    where = f"wardgate review approve {review.id}"
    if ctx.public_url:
        where += f" (or {ctx.public_url.rstrip('/')}/v1/reviews/{review.id})"
    return f"approvers ({', '.join(review.approvers)}) can run: {where}"


async def settle(held: Held, ctx: ReviewContext) -> tuple[pw.ErrorResponse | None, str | None]:
    """(None, review id) when the statement may run now; (error, review id or None) if not."""
    approvals = ctx.approvals
    if approvals is None:
        return _refusal(
            f"statement requires approval (rules: {held.rules}), and this gateway has no "
            "approvals service",
        ), None
    requirements = held.requirements
    wait = ctx.wait or ("retry" if any(r.wait == "retry" for r in requirements) else "hold")
    request = ReviewRequest(
        requester=ctx.requester,
        requester_kind=ctx.requester_kind,
        on_behalf_of=ctx.on_behalf_of,
        connection=ctx.connection.name,
        statement=held.sql,
        parameters=held.parameters,
        rules=tuple(r.rule for r in requirements),
        approvers=tuple(dict.fromkeys(g for r in requirements for g in r.approvers)),
        approvals=max(r.approvals for r in requirements),
        quorum=tuple((r.approvers, r.approvals) for r in requirements),
        grant_ttl=min(r.grant_ttl for r in requirements),
        expires_in=min(r.expires for r in requirements),
        wait="retry" if wait == "retry" else "hold",
        policy_version=held.policy_version,
        session_id=ctx.session_id,
        reason=requester_reason(held.sql) or held.reason,
    )
    try:
        review = await approvals.request(request)
        if review.status == "approved":
            await approvals.consume(review.id, request.binding)
            return None, review.id
        if review.preview is None and not review.verdicts:
            _start_preview(approvals, review, held, ctx)
        if wait == "retry":
            return _refusal(
                f"statement requires approval: review {review.id} is pending; once it is "
                "approved, send the same statement again to run it",
                detail=f"rules: {held.rules}",
                hint=_how_to_approve(review, ctx),
            ), review.id
        message = (
            f"waiting for approval: review {review.id} ({review.approvals}/"
            f"{review.approvals_needed} approvals); {_how_to_approve(review, ctx)}"
        )
        fields = (("S", "NOTICE"), ("V", "NOTICE"), ("C", "01000"), ("M", message))
        ctx.notice(pw.NoticeResponse(fields=fields))
        review = await approvals.wait(review.id)
        if review.status == "approved":
            await approvals.consume(review.id, request.binding)
            return None, review.id
        return _refusal(_why_not(review)), review.id
    except ReviewError as exc:
        return _refusal(f"statement not run: {exc}"), None
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("review of a held statement failed, statement refused: %s", exc)
        return _refusal(
            "statement requires approval and the approvals store is unavailable: it was not run"
        ), None


def _why_not(review: Review) -> str:
    if review.status == "rejected":
        last = next((v for v in reversed(review.verdicts) if v.verdict == "reject"), None)
        by = f" by {last.approver}: {last.reason}" if last else ""
        return f"review {review.id} was rejected{by}"
    if review.status == "cancelled":
        return f"review {review.id} was cancelled"
    if review.status == "expired":
        return f"review {review.id} expired without a decision"
    return f"review {review.id} is {review.status}"


def _start_preview(approvals: Approvals, review: Review, held: Held, ctx: ReviewContext) -> None:
    """Estimate the statement's impact for the reviewers, without holding anyone up."""
    modes = {r.preview for r in held.requirements}
    mode = "count" if modes == {"count"} else ("plan" if "plan" in modes or modes else "none")
    if mode == "none":
        return

    async def run() -> None:
        text = await impact(
            ctx.connection, held.sql, held.parameters, held.kinds, mode, ctx.max_message_size
        )
        try:
            await approvals.set_preview(review.id, text)
        except ReviewError as exc:  # decided meanwhile: the preview no longer matters
            log.debug("preview of %s not stored: %s", review.id, exc)

    approvals.spawn(run())
