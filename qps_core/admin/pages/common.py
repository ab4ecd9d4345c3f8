"""What every admin page shares: templates, the session gate, checked forms, refusals.

Server-rendered HTML (Jinja2), enhanced by htmx where it helps. Every page works without JavaScript.
Every state-changing form carries the session's CSRF token and is refused without it. Errors are one
line next to the field, never a traceback.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...api.auth import tokens_configured
from .. import session as sessions

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@lru_cache(maxsize=1)
def environment() -> Any:
    """The Jinja2 environment, made on the first page (not at cold start)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("qps_core.admin", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, sort_keys=True)
    env.filters["shown"] = shown_value
    return env


def shown_value(value: Any) -> str:
    """A setting value as the form field shows it (lists comma separated, maps as id=value)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict) and any(isinstance(v, dict | list) for v in value.values()):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))  # nested: JSON, as it is typed
    if isinstance(value, dict):
        return ",".join(f"{k}={'on' if v is True else 'off' if v is False else v}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def field_error(message: str, fields: tuple[str, ...]) -> tuple[str | None, str]:
    """Which form field an error message is about (`field: ...`), if any."""
    head = message.split(":", 1)[0].strip()
    for name in fields:
        if head == name or head.startswith((name + ".", name + "[")):
            return name, message
    return None, message


def render(request: Request, template: str, status: int = 200, session: Any = None, **values: Any) -> HTMLResponse:
    html = (
        environment()
        .get_template(template)
        .render(request=request, session=session, nav=template.split(".")[0], **values)
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def refuse(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "refused.html", status=status, message=message)


def current_session(request: Request) -> sessions.Session | None:
    settings = request.app.state.context.settings
    found = sessions.read(request.cookies.get(sessions.COOKIE))
    if found is None or not sessions.still_valid(found, settings):
        return None
    admin = request.app.state.context.admin
    return found if admin is not None and admin.session_active(found) else None  # not logged out


def start_session(request: Request, who: str, target: str) -> Response:
    session, cookie = sessions.issue(who)
    request.app.state.context.admin.session_started(session)  # its record: logout ends it everywhere
    response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        sessions.COOKIE,
        cookie,
        max_age=sessions.SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def gate(request: Request) -> sessions.Session | Response:
    """The session, or where to go instead: the login form (or, with no tokens configured at all, a
    local session started at once: the server then listens on loopback only)."""
    found = current_session(request)
    if found is not None:
        return found
    settings = request.app.state.context.settings
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not tokens_configured(settings):
        return start_session(request, "local", target)
    return RedirectResponse("/admin/login?" + urlencode({"next": target}), status_code=303)


async def checked_form(request: Request) -> tuple[Any, Any, Response | None]:
    """A state-changing form: the session and the form, or the response that refuses it."""
    found = current_session(request)
    if found is None:
        return None, None, refuse(request, 401, "Your session has ended. Log in again.")
    form = await request.form()
    sent = form.get("csrf") or request.headers.get("x-csrf-token")
    if not sessions.csrf_ok(found, sent if isinstance(sent, str) else None):
        return (
            found,
            form,
            refuse(request, 403, "This form has no valid security token: reload the page and try again."),
        )
    return found, form, None


def actor(found: sessions.Session) -> str:
    return f"admin page ({found.who})"


def safe_next(target: str | None) -> str:
    """Only paths of the admin page itself (no open redirects)."""
    if target and target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return "/admin/sources"
