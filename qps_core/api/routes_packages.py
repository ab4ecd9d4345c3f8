"""POST /v1/packages (create, or dry run), POST /v1/plan, POST /v1/events."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from .. import allow_lists, envelopes, jsonstrict
from ..adapter_api import request_from_body
from ..errors import InvalidInput, QPSError
from ..jobs.model import Job, Trigger, body_fingerprint, new_job_id
from ..jobs.store import IdempotencyClaim, IdempotencyMismatch
from ..models import PackageRequest
from ..runner import default_message
from .auth import Caller, caller
from .context import ApiContext
from .problems import ApiProblem, problem_responses
from .schemas import (
    ANY_EVENT_BODY_SCHEMA,
    PACKAGE_BODY_SCHEMA,
    DryRun,
    EventJobs,
    JobOut,
    PlanResults,
)

log = logging.getLogger("qps.api")
router = APIRouter(tags=["packages"])
MAX_BODY_BYTES = 1024 * 1024


async def json_body(request: Request) -> Any:
    """The body, parsed as strict JSON (docs/design.md §2); 400 otherwise."""
    chunks, size = [], 0
    async for chunk in request.stream():  # stop reading at the limit: a huge body is never held whole
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiProblem(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data.strip():
        raise ApiProblem(400, "the body is empty; send a JSON object")
    try:
        return jsonstrict.loads(data)
    except InvalidInput as exc:
        raise ApiProblem(400, str(exc)) from None


def context_of(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.context
    refresh = ctx.extras.get("refresh")  # the admin router: stored settings changes (docs/design.md §8)
    if refresh is not None:
        refresh()
    return ctx


def validate_request(ctx: ApiContext, body: Any) -> PackageRequest:
    """A package description or `{"uri"}` → a request: 422 invalid, 403 registry not allowed."""
    settings = ctx.settings
    if not isinstance(body, dict):
        raise ApiProblem(422, "a package request must be a JSON object")
    unrestricted = settings.model_copy(update={"allowed_registries": []})
    try:
        parsed = request_from_body(body, unrestricted)
    except InvalidInput as exc:
        raise ApiProblem(422, str(exc)) from None
    refused = allow_lists.refusal(settings, parsed)  # what the packager would refuse: 403, nothing queued
    if refused is not None:
        raise ApiProblem(
            403,
            refused.message,
            slug=f"{refused.kind}-not-allowed",
            title="Registry not allowed" if refused.kind == "registry" else "Source not allowed",
        )
    if parsed.message is None:
        parsed = parsed.model_copy(update={"message": default_message(parsed)})
    return parsed


def accept(ctx: ApiContext, job: Job, claim: IdempotencyClaim | None = None, reused: str = "") -> tuple[Job, bool]:
    """Store a queued job and hand it to the dispatcher; undo the store if it cannot be handed over.
    `reused`: what to add to the 422 of a key used with another body."""
    try:
        stored, created = ctx.jobs.create(job, claim)
    except IdempotencyMismatch:
        raise ApiProblem(
            422,
            f"Idempotency-Key: this key was already used with a different body{reused}",
            slug="idempotency-key-reused",
            title="Idempotency-Key reused",
        ) from None
    except QPSError as exc:
        raise ApiProblem(503, str(exc), retryable=True) from None
    if not created:
        return stored, False
    try:
        ctx.dispatcher.submit(stored)
    except Exception as exc:
        log.error("could not queue job %s: %s", stored.id, type(exc).__name__)
        try:
            ctx.jobs.delete(stored.id, claim)
        except Exception:
            log.exception("could not remove job %s that was never queued", stored.id)
        raise ApiProblem(503, "the job could not be queued; nothing was accepted, try again", retryable=True) from None
    return stored, True


def plan_events(ctx: ApiContext, body: Any) -> list[Any]:
    """Every event in the body (at most `max_events_per_input`, as on every entry point), planned."""
    events = envelopes.unwrap(body, max_events=ctx.settings.max_events_per_input)
    return [ctx.runner.plan_event(event) for event in events]


def idempotency_header(what: str) -> Any:
    """The `Idempotency-Key` header parameter (docs/api.md)."""
    return Header(
        alias="Idempotency-Key", min_length=1, max_length=255, description=f"{what} Scoped to the caller, kept 48 h."
    )


def job_response(job: Job, status: int = 202) -> JSONResponse:
    return JSONResponse(
        JobOut.of(job).model_dump(mode="json"), status_code=status, headers={"Location": f"/v1/jobs/{job.id}"}
    )


@router.post(
    "/packages",
    status_code=202,
    response_model=JobOut,
    summary="Create a package (a job), or plan it with dry_run=true",
    responses={
        202: {
            "model": JobOut,
            "description": "Accepted: a queued job (the same job again for a repeated Idempotency-Key).",
            "headers": {"Location": {"description": "/v1/jobs/{id}", "schema": {"type": "string"}}},
        },
        200: {"model": DryRun, "description": "dry_run=true: the request as it would be packaged."},
        **problem_responses(400, 401, 403, 413, 422, 503),
    },
    openapi_extra={"requestBody": PACKAGE_BODY_SCHEMA},
)
def create_package(
    request: Request,
    body: Annotated[Any, Depends(json_body)],
    who: Annotated[Caller, Depends(caller)],
    dry_run: Annotated[bool, Query(description="Plan only: validate and show the request; queue nothing.")] = False,
    idempotency_key: Annotated[
        str | None, idempotency_header("Same key and body: the same job, nothing new queued.")
    ] = None,
) -> JSONResponse:
    ctx = context_of(request)
    parsed = validate_request(ctx, body)
    if dry_run:
        return JSONResponse(DryRun(packages=[parsed.normalised()]).model_dump(mode="json"), status_code=200)
    job = Job(id=new_job_id(), trigger=Trigger(kind="api"), request=parsed.normalised())
    claim = IdempotencyClaim(who.scope, idempotency_key, body_fingerprint(body)) if idempotency_key else None
    stored, _ = accept(ctx, job, claim)
    return job_response(stored)


@router.post(
    "/plan",
    response_model=PlanResults,
    summary="What the adapters would do with any event (as `qps plan --json`)",
    responses=problem_responses(400, 401, 413),
    openapi_extra={"requestBody": ANY_EVENT_BODY_SCHEMA},
)
def plan(
    request: Request, body: Annotated[Any, Depends(json_body)], _who: Annotated[Caller, Depends(caller)]
) -> PlanResults:
    ctx = context_of(request)
    return PlanResults.model_validate({"results": [p.as_dict() for p in plan_events(ctx, body)]})


_TRIGGER_KINDS = {"eventbridge": "eventbridge", "s3": "s3", "body": "api"}


@router.post(
    "/events",
    status_code=202,
    response_model=EventJobs,
    summary="Any event → adapters → one job per planned request",
    responses=problem_responses(400, 401, 413, 422, 503),
    openapi_extra={"requestBody": ANY_EVENT_BODY_SCHEMA},
)
def events(
    request: Request,
    body: Annotated[Any, Depends(json_body)],
    who: Annotated[Caller, Depends(caller)],
    idempotency_key: Annotated[
        str | None,
        idempotency_header(
            "Same key and body: the same jobs, nothing new queued; after a 503, only the jobs that were not queued are."
        ),
    ] = None,
) -> EventJobs:
    ctx = context_of(request)
    plans = plan_events(ctx, body)
    body_print = body_fingerprint(body) if idempotency_key else ""  # once: the body may be 1 MiB
    jobs: list[Job] = []
    ignored, rejected = [], []
    wanted = []
    for p in plans:
        if p.status == "ignored":
            ignored.append(p.as_dict())
        elif p.status == "rejected":
            rejected.append(p.as_dict())
        for req in p.requests if p.status == "planned" else ():
            refused = allow_lists.refusal(ctx.settings, req)  # as the packager would: never queued
            if refused is None:
                wanted.append((p, req))
            else:
                rejected.append({"status": "rejected", "adapter": p.adapter, "packages": [], "error": refused.message})
    for index, (p, req) in enumerate(wanted):
        event_id = p.event.payload.get("id") if isinstance(p.event.payload, dict) else None
        trigger = Trigger(
            kind=_TRIGGER_KINDS.get(p.event.kind, p.event.kind),
            adapter=p.adapter,
            event_id=event_id if isinstance(event_id, str) else None,
        )
        normalised = req.normalised()
        # One claim per planned request, bound to the body and to that request: a retry finds each job
        # it already queued, and if the same body now plans differently (settings changed) it is 422,
        # never another request's job. Their own key space: no clash with POST /v1/packages keys.
        claim = (
            IdempotencyClaim(
                who.scope,
                f"events\x1f{idempotency_key}\x1f{index}",
                body_fingerprint({"body": body_print, "request": normalised}),
            )
            if idempotency_key
            else None
        )
        try:
            stored, _ = accept(
                ctx,
                Job(id=new_job_id(), trigger=trigger, request=normalised),
                claim,
                reused=" (or the same body now plans other packages: settings changed)",
            )
        except ApiProblem as exc:
            if not jobs or exc.status != 503:
                raise
            raise partly_queued(jobs, len(wanted), idempotency_key is not None) from None
        jobs.append(stored)
    return EventJobs.model_validate({"jobs": [JobOut.of(j) for j in jobs], "ignored": ignored, "rejected": rejected})


def partly_queued(queued: list[Job], wanted: int, keyed: bool) -> ApiProblem:
    """503 after some of an event body's jobs were queued: which were, and how to queue the rest."""
    ids = ", ".join(j.id for j in queued[:5]) + (f" and {len(queued) - 5} more" if len(queued) > 5 else "")
    retry = (
        "send the same body with the same Idempotency-Key to queue only the others"
        if keyed
        else "sending the body again queues every job again (packaging them twice changes nothing, but the "
        "jobs repeat): send it with an Idempotency-Key to queue only the others"
    )
    return ApiProblem(
        503, f"{len(queued)} of {wanted} jobs were queued ({ids}); the others could not be: {retry}", retryable=True
    )
