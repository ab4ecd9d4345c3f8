"""GET/POST /admin/settings: every setting with its origin; change or reset a stored one. The admin
sessions (created, last seen, token hash prefix) with "Log out everywhere" (POST /admin/sessions/end)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ...errors import InvalidInput
from ...settings import StaleVersion
from .. import session as session_cookie
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
        sessions=admin.active_sessions(),
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


@router.post("/sessions/end")
async def end_all_sessions(request: Request, admin: AdminService) -> Response:
    """Log out everywhere: every admin session ends, this one too (audited)."""
    found, _, refused = await checked_form(request)
    if refused is not None:
        return refused
    admin.end_sessions(None, actor=actor(found))
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(session_cookie.COOKIE, path="/", httponly=True, samesite="strict")
    return response
