"""GET /v1/jobs, GET /v1/jobs/{id}, POST /v1/jobs/{id}/retry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from ..errors import QPSError
from ..jobs import intake
from ..jobs.model import JobStatus
from ..jobs.store import BadCursor
from .deps import CallerDep, ContextDep
from .problems import ApiProblem, problem_responses
from .routes_packages import job_response
from .schemas import JobList, JobOut

router = APIRouter(tags=["jobs"])
JobId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="A job id.")]


@router.get("/jobs/{job_id}", response_model=JobOut, summary="One job", responses=problem_responses(401, 404, 422, 503))
def get_job(ctx: ContextDep, job_id: JobId, _who: CallerDep) -> JobOut:
    return JobOut.of(intake.get(ctx, job_id))


@router.get(
    "/jobs",
    response_model=JobList,
    summary="Jobs, newest first, filtered and paginated",
    responses=problem_responses(401, 422, 503),
)
def list_jobs(
    ctx: ContextDep,
    _who: CallerDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs with this status.")] = None,
    registry: Annotated[str | None, Query(max_length=255, description="Only jobs writing to this bucket.")] = None,
    package_name: Annotated[str | None, Query(max_length=1024, description="Only jobs for this package.")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many items.")] = 50,
    cursor: Annotated[str | None, Query(max_length=2048, description="`next_cursor` of the previous page.")] = None,
) -> JobList:
    try:
        page = ctx.jobs.list(status=status, registry=registry, package_name=package_name, limit=limit, cursor=cursor)
    except BadCursor as exc:
        raise ApiProblem(422, str(exc)) from None
    except QPSError as exc:
        raise ApiProblem(503, str(exc), retryable=True) from None
    return JobList(items=[JobOut.of(j) for j in page.items], next_cursor=page.next_cursor)


@router.post(
    "/jobs/{job_id}/retry",
    status_code=202,
    response_model=JobOut,
    summary="Run a failed job again, as a new job whose parent_id is the failed one",
    responses={
        202: {
            "model": JobOut,
            "description": "The new, queued job.",
            "headers": {"Location": {"description": "/v1/jobs/{id}", "schema": {"type": "string"}}},
        },
        **problem_responses(401, 404, 409, 422, 503),
    },
)
def retry_job(ctx: ContextDep, job_id: JobId, _who: CallerDep) -> JSONResponse:
    return job_response(intake.retry(ctx, job_id))
