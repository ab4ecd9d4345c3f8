"""The admin page: server-rendered HTML (Jinja2), enhanced by htmx where it helps (switches, live job
lists). Every page works without JavaScript. Every state-changing form carries the session's CSRF
token and is refused without it. Errors are one line next to the field, never a traceback."""

from __future__ import annotations

import json
import logging
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from .. import jsonstrict
from ..api.auth import hash_token, tokens_configured
from ..api.problems import ApiProblem
from ..errors import InvalidInput, QPSError, describe_exception
from ..settings_store import StaleVersion
from . import session as sessions
from .service import Admin, SwitchFailed

log = logging.getLogger("qps.admin")
STATIC = {"htmx.min.js": "text/javascript", "admin.css": "text/css"}
JOB_STATUSES = ("queued", "running", "succeeded", "failed")
REQUEST_FIELDS = ("source_prefix", "registry", "package_name", "message", "metadata", "workflow", "should_copy")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("qps_core.admin", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, sort_keys=True)
    env.filters["shown"] = _shown
    return env


def _shown(value: Any) -> str:
    """A setting value as the form field shows it (lists comma separated, maps as id=value)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ",".join(f"{k}={'on' if v is True else 'off' if v is False else v}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def field_error(message: str, fields: tuple[str, ...]) -> tuple[str | None, str]:
    """Which form field an error message is about (`field: ...`), if any."""
    head = message.split(":", 1)[0].strip()
    for name in fields:
        if head == name or head.startswith(name + "."):
            return name, message
    return None, message


class Pages:
    def __init__(self) -> None:
        self._env: Any = None  # Jinja2 loads on the first page, not at cold start
        self.login_codes = sessions.LoginCodes()

    @property
    def env(self) -> Any:
        if self._env is None:
            self._env = _environment()
        return self._env

    # -- plumbing -----------------------------------------------------------------------------
    def admin(self, request: Request) -> Admin:
        admin: Admin = request.app.state.context.extras["admin"]
        admin.refresh()
        return admin

    def render(
        self, request: Request, template: str, status: int = 200, session: Any = None, **values: Any
    ) -> HTMLResponse:
        html = self.env.get_template(template).render(
            request=request, session=session, nav=template.split(".")[0], **values
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def current_session(self, request: Request) -> sessions.Session | None:
        settings = request.app.state.context.settings
        found = sessions.read(request.cookies.get(sessions.COOKIE))
        if found is not None and sessions.still_valid(found, settings):
            return found
        return None

    def start_session(self, request: Request, who: str, target: str) -> Response:
        _, cookie = sessions.issue(who)
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

    def gate(self, request: Request) -> sessions.Session | Response:
        """The session, or where to go instead: the login form (or, with no tokens configured at all,
        a local session started at once: the server then listens on loopback only)."""
        found = self.current_session(request)
        if found is not None:
            return found
        settings = request.app.state.context.settings
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if not tokens_configured(settings):
            return self.start_session(request, "local", target)
        return RedirectResponse("/admin/login?" + urlencode({"next": target}), status_code=303)

    async def checked_form(self, request: Request) -> tuple[Any, Any, Response | None]:
        """A state-changing form: the session and the form, or the response that refuses it."""
        found = self.current_session(request)
        if found is None:
            return None, None, self.refuse(request, 401, "Your session has ended. Log in again.")
        form = await request.form()
        sent = form.get("csrf") or request.headers.get("x-csrf-token")
        if not sessions.csrf_ok(found, sent if isinstance(sent, str) else None):
            return (
                found,
                form,
                self.refuse(request, 403, "This form has no valid security token: reload the page and try again."),
            )
        return found, form, None

    def refuse(self, request: Request, status: int, message: str) -> HTMLResponse:
        return self.render(request, "refused.html", status=status, message=message)

    def actor(self, found: sessions.Session) -> str:
        return f"admin page ({found.who})"

    # -- login / logout -----------------------------------------------------------------------
    def login_form(self, request: Request) -> Response:
        code = request.query_params.get("code")
        if code:
            who = self.login_codes.redeem(code)
            if who is not None:
                return self.start_session(request, who, "/admin/sources")
            return self.render(
                request,
                "login.html",
                status=401,
                error="That login link was used already or has expired.",
                next="/admin/sources",
            )
        if self.current_session(request) is not None:
            return RedirectResponse("/admin/sources", status_code=303)
        return self.render(request, "login.html", error=None, next=_safe_next(request.query_params.get("next")))

    async def login(self, request: Request) -> Response:
        form = await request.form()
        token = str(form.get("token") or "").strip()
        target = _safe_next(str(form.get("next") or ""))
        settings = request.app.state.context.settings
        digest = hash_token(token) if token else ""
        if token and digest in settings.admin_tokens:
            return self.start_session(request, sessions.token_who(digest), target)
        if not tokens_configured(settings):
            return self.start_session(request, "local", target)
        error = (
            "Enter the admin token."
            if not token
            else (
                "That is an API token; the admin page needs an admin token."
                if digest in settings.api_tokens
                else "That is not a valid admin token."
            )
        )
        return self.render(request, "login.html", status=401, error=error, next=target)

    async def logout(self, request: Request) -> Response:
        _, _, refused = await self.checked_form(request)
        if refused is not None:
            return refused
        response = RedirectResponse("/admin/login", status_code=303)
        response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict")
        return response

    # -- sources ------------------------------------------------------------------------------
    def sources_page(self, request: Request, status: int = 200, error: tuple[str, str] | None = None) -> Response:
        found = self.gate(request)
        if isinstance(found, Response):
            return found
        return self._sources(request, found, status, error)

    def _sources(
        self, request: Request, found: Any, status: int = 200, error: tuple[str, str] | None = None
    ) -> HTMLResponse:
        admin = self.admin(request)
        rows = admin.sources()
        if error is not None:
            for row in rows:
                if row.id == error[0]:
                    row.error = error[1]
        template = "_sources_body.html" if request.headers.get("hx-request") else "sources.html"
        return self.render(request, template, status=status, session=found, rows=rows, version=admin.store.version())

    async def switch(self, request: Request, source_id: str) -> Response:
        found, form, refused = await self.checked_form(request)
        if refused is not None:
            return refused
        admin = self.admin(request)
        enabled = str(form.get("enabled")) == "on"
        try:
            version = int(str(form.get("version")))
            admin.switch(source_id, enabled, expected_version=version, actor=self.actor(found))
        except KeyError:
            return self.refuse(request, 404, f"There is no installed adapter {source_id!r}.")
        except InvalidInput as exc:
            return self._sources(request, found, 422, (source_id, str(exc)))
        except (ValueError, StaleVersion):
            return self._sources(
                request,
                found,
                409,
                (
                    source_id,
                    "The settings changed since this page was loaded; the switches show the current state now. "
                    "Try again.",
                ),
            )
        except (SwitchFailed, QPSError) as exc:
            return self._sources(request, found, 502, (source_id, str(exc)))
        if request.headers.get("hx-request"):
            return self._sources(request, found)
        return RedirectResponse("/admin/sources", status_code=303)

    async def reapply(self, request: Request, source_id: str) -> Response:
        found, _, refused = await self.checked_form(request)
        if refused is not None:
            return refused
        try:
            self.admin(request).reapply(source_id)
        except KeyError:
            return self.refuse(request, 404, f"There is no installed adapter {source_id!r}.")
        except QPSError as exc:
            return self._sources(request, found, 502, (source_id, str(exc)))
        if request.headers.get("hx-request"):
            return self._sources(request, found)
        return RedirectResponse("/admin/sources", status_code=303)

    # -- jobs ---------------------------------------------------------------------------------
    def jobs_page(self, request: Request) -> Response:
        found = self.gate(request)
        if isinstance(found, Response):
            return found
        status = request.query_params.get("status") or None
        error = None
        if status is not None and status not in JOB_STATUSES:
            error, status = f"status: choose one of {', '.join(JOB_STATUSES)}", None
        ctx = request.app.state.context
        try:
            jobs = ctx.jobs.list(status=status, limit=50).items
        except QPSError as exc:
            jobs, error = [], str(exc)
        active = any(not j.finished for j in jobs)
        return self.render(
            request,
            "jobs.html",
            session=found,
            jobs=jobs,
            chosen=status,
            statuses=JOB_STATUSES,
            error=error,
            active=active,
        )

    def job_page(self, request: Request, job_id: str) -> Response:
        found = self.gate(request)
        if isinstance(found, Response):
            return found
        try:
            job = request.app.state.context.jobs.get(job_id)
        except QPSError as exc:
            return self.refuse(request, 503, str(exc))
        if job is None:
            return self.refuse(request, 404, f"There is no job {job_id!r}.")
        return self.render(request, "job.html", session=found, job=job, notice=request.query_params.get("notice"))

    async def retry(self, request: Request, job_id: str) -> Response:
        from ..api.routes_jobs import retry_job

        _, _, refused = await self.checked_form(request)
        if refused is not None:
            return refused
        try:
            response = retry_job(request, job_id, None)  # type: ignore[arg-type]
        except ApiProblem as exc:
            return self.refuse(request, exc.status, exc.detail)
        new_id = json.loads(bytes(response.body))["id"]
        return RedirectResponse(f"/admin/jobs/{new_id}?notice=retry", status_code=303)

    # -- new package --------------------------------------------------------------------------
    def new_page(self, request: Request) -> Response:
        found = self.gate(request)
        if isinstance(found, Response):
            return found
        return self.render(request, "new.html", session=found, values={}, errors={}, error=None, planned=None, job=None)

    async def new_submit(self, request: Request) -> Response:
        from ..api.routes_packages import accept, validate_request
        from ..jobs.model import Job, Trigger, new_job_id

        found, form, refused = await self.checked_form(request)
        if refused is not None:
            return refused
        values = {name: str(form.get(name) or "") for name in REQUEST_FIELDS}
        body, errors = _request_body(values)
        planned = job = None
        general = None
        ctx = request.app.state.context
        if not errors:
            try:
                parsed = validate_request(ctx, body)
                if form.get("action") == "create":
                    job, _ = accept(
                        ctx,
                        Job(id=new_job_id(), trigger=Trigger(kind="api"), request=parsed.normalised()),
                    )
                else:
                    planned = parsed.normalised()
            except ApiProblem as exc:
                name, message = field_error(exc.detail, REQUEST_FIELDS)
                if name:
                    errors[name] = message
                else:
                    general = message
        status = 422 if errors or general else 200
        return self.render(
            request,
            "new.html",
            status=status,
            session=found,
            values=values,
            errors=errors,
            error=general,
            planned=planned,
            job=job,
        )

    # -- try an event -------------------------------------------------------------------------
    def try_page(self, request: Request) -> Response:
        found = self.gate(request)
        if isinstance(found, Response):
            return found
        return self.render(request, "try.html", session=found, text="", error=None, plans=None)

    async def try_submit(self, request: Request) -> Response:
        found, form, refused = await self.checked_form(request)
        if refused is not None:
            return refused
        text = str(form.get("event") or "")
        plans = error = None
        if not text.strip():
            error = "event: paste an event (JSON)"
        else:
            try:
                value = jsonstrict.loads(text.encode("utf-8"))
                plans = [
                    p.as_dict() | {"index": n}
                    for n, p in enumerate(self.admin(request).context.runner.plan_value(value))
                ]
            except InvalidInput as exc:
                error = f"event: {exc}"
            except QPSError as exc:
                error = str(exc)
            except Exception as exc:  # an adapter's bug: one line, never a traceback
                log.exception("planning a pasted event failed")
                error = describe_exception(exc)
        return self.render(
            request, "try.html", status=422 if error else 200, session=found, text=text, error=error, plans=plans
        )

    # -- settings -----------------------------------------------------------------------------
    def settings_page(
        self,
        request: Request,
        status: int = 200,
        errors: dict[str, str] | None = None,
        found: Any = None,
        notice: str | None = None,
        edits: dict[str, str] | None = None,
    ) -> Response:
        if found is None:
            gate = self.gate(request)
            if isinstance(gate, Response):
                return gate
            found = gate
        admin = self.admin(request)
        effective = admin.effective()
        return self.render(
            request,
            "settings.html",
            status=status,
            session=found,
            rows=effective.describe(),
            version=effective.stored.version,
            audit=admin.store.audit(50),
            errors=errors or {},
            edits=edits or {},
            notice=notice,
        )

    async def settings_submit(self, request: Request) -> Response:
        found, form, refused = await self.checked_form(request)
        if refused is not None:
            return refused
        name = str(form.get("name") or "")
        raw = str(form.get("value") or "")
        value: Any = None if form.get("action") == "reset" else raw
        admin = self.admin(request)
        try:
            version = int(str(form.get("version")))
            admin.change({name: value}, expected_version=version, actor=self.actor(found))
        except InvalidInput as exc:
            return self.settings_page(request, 422, {name: str(exc)}, found, edits={name: raw})
        except (ValueError, StaleVersion):
            return self.settings_page(
                request,
                409,
                {name: "The settings changed since this page was loaded (now shown). Not saved: try again."},
                found,
                edits={name: raw},
            )
        return RedirectResponse(f"/admin/settings?saved={name}#setting-{name}", status_code=303)

    def static(self, name: str) -> Response:
        if name not in STATIC:
            return Response("not found", status_code=404, media_type="text/plain")
        data = resources.files("qps_core.admin").joinpath("static", name).read_bytes()
        return Response(
            data,
            media_type=STATIC[name],
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )


def _safe_next(target: str | None) -> str:
    """Only paths of the admin page itself (no open redirects)."""
    if target and target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return "/admin/sources"


def _request_body(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The package form as a package description (empty fields left out)."""
    body: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in ("source_prefix", "registry", "package_name", "message", "workflow"):
        if values[name].strip():
            body[name] = values[name].strip()
    if not body.get("source_prefix"):
        errors["source_prefix"] = "source_prefix: enter the folder to package (s3://bucket/path/)"
    if values["metadata"].strip():
        try:
            body["metadata"] = jsonstrict.loads(values["metadata"].encode("utf-8"))
        except InvalidInput as exc:
            errors["metadata"] = f"metadata: {exc}"
    if values["should_copy"]:
        body["should_copy"] = True
    return body, errors


def build_page_router() -> APIRouter:
    pages = Pages()
    router = APIRouter(prefix="/admin", include_in_schema=False)
    router.add_api_route("", lambda: RedirectResponse("/admin/sources", status_code=303), methods=["GET"])
    router.add_api_route("/", lambda: RedirectResponse("/admin/sources", status_code=303), methods=["GET"])
    router.add_api_route("/static/{name}", pages.static, methods=["GET"])
    router.add_api_route("/login", pages.login_form, methods=["GET"])
    router.add_api_route("/login", pages.login, methods=["POST"])
    router.add_api_route("/logout", pages.logout, methods=["POST"])
    router.add_api_route("/sources", pages.sources_page, methods=["GET"])
    router.add_api_route("/sources/{source_id}", pages.switch, methods=["POST"])
    router.add_api_route("/sources/{source_id}/apply", pages.reapply, methods=["POST"])
    router.add_api_route("/jobs", pages.jobs_page, methods=["GET"])
    router.add_api_route("/jobs/{job_id}", pages.job_page, methods=["GET"])
    router.add_api_route("/jobs/{job_id}/retry", pages.retry, methods=["POST"])
    router.add_api_route("/new", pages.new_page, methods=["GET"])
    router.add_api_route("/new", pages.new_submit, methods=["POST"])
    router.add_api_route("/try", pages.try_page, methods=["GET"])
    router.add_api_route("/try", pages.try_submit, methods=["POST"])
    router.add_api_route("/settings", pages.settings_page, methods=["GET"])
    router.add_api_route("/settings", pages.settings_submit, methods=["POST"])
    router.pages = pages  # type: ignore[attr-defined]
    return router
