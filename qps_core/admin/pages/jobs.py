"""GET /admin/jobs (newest first, by status), GET /admin/jobs/{id}, POST /admin/jobs/{id}/retry."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ...errors import QPSError
from ...jobs import intake
from .common import checked_form, gate, refuse, render

router = APIRouter()
JOB_STATUSES = ("queued", "running", "succeeded", "failed")


@router.get("/jobs")
def jobs_page(request: Request) -> Response:
    found = gate(request)
    if isinstance(found, Response):
        return found
    status = request.query_params.get("status") or None
    error = None
    if status is not None and status not in JOB_STATUSES:
        error, status = f"status: choose one of {', '.join(JOB_STATUSES)}", None
    try:
        jobs = request.app.state.context.jobs.list(status=status, limit=50).items
    except QPSError as exc:
        jobs, error = [], str(exc)
    active = any(not j.finished for j in jobs)
    return render(
        request, "jobs.html", session=found, jobs=jobs, chosen=status, statuses=JOB_STATUSES, error=error, active=active
    )


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str) -> Response:
    found = gate(request)
    if isinstance(found, Response):
        return found
    try:
        job = request.app.state.context.jobs.get(job_id)
    except QPSError as exc:
        return refuse(request, 503, str(exc))
    if job is None:
        return refuse(request, 404, f"There is no job {job_id!r}.")
    return render(request, "job.html", session=found, job=job, notice=request.query_params.get("notice"))


_RETRY_REFUSALS: dict[type[intake.IntakeError], int] = {
    intake.JobNotFound: 404,
    intake.JobNotFailed: 409,
    intake.NotQueued: 503,
}


@router.post("/jobs/{job_id}/retry")
async def retry(request: Request, job_id: str) -> Response:
    _, _, refused = await checked_form(request)
    if refused is not None:
        return refused
    try:
        job = intake.retry(request.app.state.context, job_id)
    except intake.IntakeError as exc:
        status = next((code for kind, code in _RETRY_REFUSALS.items() if isinstance(exc, kind)), 422)
        return refuse(request, status, str(exc))
    return RedirectResponse(f"/admin/jobs/{job.id}?notice=retry", status_code=303)
