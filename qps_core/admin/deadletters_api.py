"""Admin-only JSON routes for dead letters (docs/design.md §13): GET /v1/dead-letters,
POST /v1/dead-letters/redrive, POST /v1/dead-letters/{id}/retry, DELETE /v1/dead-letters/{id}."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from ..api.auth import Caller
from ..api.context import ApiContext
from ..api.deps import AdminDep, ContextDep
from ..api.problems import ApiProblem, problem_responses
from .deadletters import DeadLetterError, DeadLetterNotFound, DeadLetters, NotConfigured

router = APIRouter(tags=["dead letters"])
MessageId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$", description="Message id.")]
_services: dict[tuple[Any, ...], DeadLetters] = {}
_lock = threading.Lock()


def service_for(ctx: ApiContext) -> DeadLetters:
    """One service (one SQS client) per queue pair and endpoint the settings name, auditing into the
    settings store the app follows."""
    settings = ctx.settings
    store = ctx.live.store if ctx.live is not None else None
    key = (settings.dead_letter_queue_url, settings.queue_url, settings.endpoint_url, id(store))
    with _lock:
        if key not in _services:
            _services[key] = DeadLetters(settings, store=store)
        return _services[key]


def problem(exc: DeadLetterError) -> ApiProblem:
    if isinstance(exc, DeadLetterNotFound):
        return ApiProblem(404, str(exc))
    if isinstance(exc, NotConfigured):
        return ApiProblem(409, str(exc), slug="not-configured", title="No dead-letter queue")
    return ApiProblem(503, str(exc), retryable=True)


def who(caller: Caller) -> str:
    return f"API ({caller.scope})"  # a principal or a token's hash prefix, never the token


@router.get(
    "/dead-letters",
    summary="Queue and dead-letter queue depths, and the first dead letters with their reason",
    responses=problem_responses(401, 403, 409, 503),
)
def list_dead_letters(
    ctx: ContextDep, _who: AdminDep, limit: Annotated[int, Query(ge=0, le=50)] = 10
) -> dict[str, Any]:
    try:
        return service_for(ctx).overview(limit)
    except DeadLetterError as exc:
        raise problem(exc) from None


@router.post(
    "/dead-letters/redrive",
    summary="Every dead letter back to the source queue (SQS StartMessageMoveTask, else moved one by one)",
    status_code=202,
    responses=problem_responses(401, 403, 409, 503),
)
def redrive(ctx: ContextDep, caller: AdminDep) -> dict[str, Any]:
    try:
        return service_for(ctx).redrive(who(caller))
    except DeadLetterError as exc:
        raise problem(exc) from None


@router.post(
    "/dead-letters/{message_id}/retry",
    summary="One dead letter back to the source queue, then deleted from the dead-letter queue",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 409, 503),
)
def retry(ctx: ContextDep, caller: AdminDep, message_id: MessageId) -> Response:
    try:
        service_for(ctx).retry(message_id, who(caller))
    except DeadLetterError as exc:
        raise problem(exc) from None
    return Response(status_code=204)


@router.delete(
    "/dead-letters/{message_id}",
    summary="Delete one dead letter",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 409, 503),
)
def delete(ctx: ContextDep, caller: AdminDep, message_id: MessageId) -> Response:
    try:
        service_for(ctx).delete(message_id, who(caller))
    except DeadLetterError as exc:
        raise problem(exc) from None
    return Response(status_code=204)
