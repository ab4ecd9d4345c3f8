"""GET/POST /admin/settings: every setting with its origin; change or reset a stored one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ...errors import InvalidInput
from ...settings import StaleVersion
from ..deps import AdminService
from ..service import Admin
from .common import actor, checked_form, gate, render

router = APIRouter()


@router.get("/settings")
def settings_page(request: Request, admin: AdminService) -> Response:
    found = gate(request)
    if isinstance(found, Response):
        return found
    return _settings(request, admin, found)


def _settings(
    request: Request,
    admin: Admin,
    found: Any,
    status: int = 200,
    errors: dict[str, str] | None = None,
    edits: dict[str, str] | None = None,
) -> Response:
    effective = admin.effective()
    return render(
        request,
        "settings.html",
        status=status,
        session=found,
        rows=effective.describe(),
        version=effective.stored.version,
        audit=admin.store.audit(50),
        errors=errors or {},
        edits=edits or {},
        notice=None,
    )


@router.post("/settings")
async def settings_submit(request: Request, admin: AdminService) -> Response:
    found, form, refused = await checked_form(request)
    if refused is not None:
        return refused
    name = str(form.get("name") or "")
    raw = str(form.get("value") or "")
    value: Any = None if form.get("action") == "reset" else raw
    try:
        version = int(str(form.get("version")))
        admin.change({name: value}, expected_version=version, actor=actor(found))
    except InvalidInput as exc:
        return _settings(request, admin, found, 422, {name: str(exc)}, edits={name: raw})
    except (ValueError, StaleVersion):
        return _settings(
            request,
            admin,
            found,
            409,
            {name: "The settings changed since this page was loaded (now shown). Not saved: try again."},
            edits={name: raw},
        )
    return RedirectResponse(f"/admin/settings?saved={name}#setting-{name}", status_code=303)
