"""GET /admin/sources (the switches), POST /admin/sources/{id} (switch), POST .../apply (repair drift)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...errors import InvalidInput, QPSError
from ...reconcile import SOURCES
from ...settings import StaleVersion
from ..deps import AdminService
from ..service import Admin, SwitchFailed
from .common import actor, checked_form, gate, refuse, render

router = APIRouter()


@router.get("/sources")
def sources_page(request: Request, admin: AdminService) -> Response:
    found = gate(request)
    if isinstance(found, Response):
        return found
    return render_sources(request, admin, found)


def render_sources(
    request: Request,
    admin: Admin,
    found: Any,
    status: int = 200,
    error: tuple[str, str] | None = None,
    *,
    reconciled: dict[str, str] | None = None,
    values: dict[str, dict[str, str]] | None = None,
) -> HTMLResponse:
    rows = admin.sources()
    if error is not None:
        for row in rows:
            if row.id == error[0]:
                row.error = error[1]
    template = "_sources_body.html" if request.headers.get("hx-request") else "sources.html"
    return render(
        request,
        template,
        status=status,
        session=found,
        rows=rows,
        version=admin.store.version(),
        sweepable=SOURCES,
        reconciled=reconciled or {},
        values=values or {},
    )


@router.post("/sources/{source_id}")
async def switch(request: Request, source_id: str, admin: AdminService) -> Response:
    found, form, refused = await checked_form(request)
    if refused is not None:
        return refused
    enabled = str(form.get("enabled")) == "on"
    try:
        version = int(str(form.get("version")))
        admin.switch(source_id, enabled, expected_version=version, actor=actor(found))
    except KeyError:
        return refuse(request, 404, f"There is no installed adapter {source_id!r}.")
    except InvalidInput as exc:
        return render_sources(request, admin, found, 422, (source_id, str(exc)))
    except (ValueError, StaleVersion):
        return render_sources(
            request,
            admin,
            found,
            409,
            (
                source_id,
                "The settings changed since this page was loaded; the switches show the current state now. Try again.",
            ),
        )
    except (SwitchFailed, QPSError) as exc:
        return render_sources(request, admin, found, 502, (source_id, str(exc)))
    if request.headers.get("hx-request"):
        return render_sources(request, admin, found)
    return RedirectResponse("/admin/sources", status_code=303)


@router.post("/sources/{source_id}/apply")
async def reapply(request: Request, source_id: str, admin: AdminService) -> Response:
    found, _, refused = await checked_form(request)
    if refused is not None:
        return refused
    try:
        admin.reapply(source_id)
    except KeyError:
        return refuse(request, 404, f"There is no installed adapter {source_id!r}.")
    except QPSError as exc:
        return render_sources(request, admin, found, 502, (source_id, str(exc)))
    if request.headers.get("hx-request"):
        return render_sources(request, admin, found)
    return RedirectResponse("/admin/sources", status_code=303)
