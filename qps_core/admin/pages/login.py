"""GET/POST /admin/login (a token or a one-time link), POST /admin/logout (ends the session on the server)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ...api.auth import hash_token, tokens_configured
from .. import session as sessions
from ..deps import AdminService
from .common import actor, checked_form, current_session, render, safe_next, start_session

router = APIRouter()


@router.get("/login")
def login_form(request: Request, admin: AdminService) -> Response:
    code = request.query_params.get("code")
    if code:
        who = admin.login_codes.redeem(code)
        if who is not None:
            return start_session(request, who, "/admin/sources")
        return render(
            request,
            "login.html",
            status=401,
            error="That login link was used already or has expired.",
            next="/admin/sources",
        )
    if current_session(request) is not None:
        return RedirectResponse("/admin/sources", status_code=303)
    return render(request, "login.html", error=None, next=safe_next(request.query_params.get("next")))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    token = str(form.get("token") or "").strip()
    target = safe_next(str(form.get("next") or ""))
    settings = request.app.state.context.settings
    digest = hash_token(token) if token else ""
    if token and digest in settings.admin_tokens:
        return start_session(request, sessions.token_who(digest), target)
    if not tokens_configured(settings):
        return start_session(request, "local", target)
    error = (
        "Enter the admin token."
        if not token
        else (
            "That is an API token; the admin page needs an admin token."
            if digest in settings.api_tokens
            else "That is not a valid admin token."
        )
    )
    return render(request, "login.html", status=401, error=error, next=target)


@router.post("/logout")
async def logout(request: Request) -> Response:
    found, _, refused = await checked_form(request)
    if refused is not None:
        return refused
    request.app.state.context.admin.end_sessions(found, actor=actor(found))  # the cookie is dead everywhere
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict")
    return response
