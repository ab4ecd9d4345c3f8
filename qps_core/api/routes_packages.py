"""POST /v1/packages (create, or dry run), POST /v1/plan, POST /v1/events: thin over the jobs intake."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from ..jobs import intake
from ..jobs.model import Job
from .deps import CallerDep, ContextDep, JsonBody, idempotency_header
from .problems import problem_responses
from .schemas import (
    ANY_EVENT_BODY_SCHEMA,
    PACKAGE_BODY_SCHEMA,
    DryRun,
    EventJobs,
    JobOut,
    PlanResults,
)

router = APIRouter(tags=["packages"])


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
    ctx: ContextDep,
    body: JsonBody,
    who: CallerDep,
    dry_run: Annotated[bool, Query(description="Plan only: validate and show the request; queue nothing.")] = False,
    idempotency_key: Annotated[
        str | None, idempotency_header("Same key and body: the same job, nothing new queued.")
    ] = None,
) -> JSONResponse:
    if dry_run:
        parsed = intake.parse_request(ctx.settings, body)
        return JSONResponse(DryRun(packages=[parsed.normalised()]).model_dump(mode="json"), status_code=200)
    return job_response(intake.accept_request(ctx, body, scope=who.scope, idempotency_key=idempotency_key))


@router.post(
    "/plan",
    response_model=PlanResults,
    summary="What the adapters would do with any event (as `qps plan --json`)",
    responses=problem_responses(400, 401, 413),
    openapi_extra={"requestBody": ANY_EVENT_BODY_SCHEMA},
)
def plan(ctx: ContextDep, body: JsonBody, _who: CallerDep) -> PlanResults:
    return PlanResults.model_validate({"results": [p.as_dict() for p in intake.plan_events(ctx, body)]})


@router.post(
    "/events",
    status_code=202,
    response_model=EventJobs,
    summary="Any event → adapters → one job per planned request",
    responses=problem_responses(400, 401, 413, 422, 503),
    openapi_extra={"requestBody": ANY_EVENT_BODY_SCHEMA},
)
def events(
    ctx: ContextDep,
    body: JsonBody,
    who: CallerDep,
    idempotency_key: Annotated[
        str | None,
        idempotency_header(
            "Same key and body: the same jobs, nothing new queued; after a 503, only the jobs that were not queued are."
        ),
    ] = None,
) -> EventJobs:
    result = intake.accept_events(ctx, body, scope=who.scope, idempotency_key=idempotency_key)
    return EventJobs.model_validate(
        {"jobs": [JobOut.of(j) for j in result.jobs], "ignored": result.ignored, "rejected": result.rejected}
    )
