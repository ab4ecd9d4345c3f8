"""POST /admin/sources/{id}/reconcile: "Reconcile now" on the Sources page queues one sweep batch as
jobs (trigger kind `reconcile`) through the jobs intake, as `POST /v1/reconcile` does."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...jobs import intake
from ...reconcile import SOURCES
from ..deps import AdminService
from .common import checked_form, refuse
from .sources import render_sources

router = APIRouter()


@router.post("/sources/{source_id}/reconcile")
async def reconcile_now(request: Request, source_id: str, admin: AdminService) -> Response:
    found, form, refused = await checked_form(request)
    if refused is not None:
        return refused
    if source_id not in SOURCES:
        return refuse(request, 404, f"The source {source_id!r} has no reconcile sweep.")
    body: dict[str, str] = {"source": source_id}
    for name in ("since", "prefix"):
        value = str(form.get(name) or "").strip()
        if value:
            body[name] = value
    status, error, notice = 200, None, None
    try:
        result = intake.accept_reconcile(request.app.state.context, body, scope=f"admin:{found.who}")
    except intake.IntakeError as exc:
        status, error = (503 if isinstance(exc, intake.NotQueued) else 422), str(exc)
    else:
        more = " More remain: press Reconcile now again to go on." if result.next_cursor else ""
        notice = (
            f"Found {result.found}; queued {len(result.jobs)} job(s) (packages that exist come back unchanged), "
            f"{len(result.ignored)} ignored, {len(result.rejected)} rejected.{more}"
        )
    return render_sources(
        request,
        admin,
        found,
        status,
        (source_id, error) if error else None,
        reconciled={source_id: notice} if notice else {},
        values={source_id: body},
    )
