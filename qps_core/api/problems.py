"""RFC 9457 problem details: every error the API returns is `application/problem+json`.

`ApiProblem` is raised by handlers; the exception handlers installed by `install_handlers` turn it,
FastAPI's own validation errors and any unexpected exception into one-line problem bodies (never a
traceback, never the request body, never a token).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import one_line
from ..jobs import intake
from ..jobs.model import Problem

log = logging.getLogger("qps.api")
PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:qps:problem:"  # + a slug; docs/api.md lists them

# type slug, title per status (docs/api.md lists them)
TITLES = {
    400: ("not-json", "Body is not strict JSON"),
    401: ("unauthorized", "Missing or invalid token"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("too-large", "Body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("invalid-request", "Invalid request"),
    500: ("internal", "Internal error"),
    502: ("upstream", "S3 answered with an error"),
    503: ("unavailable", "Service unavailable"),
}


class ApiProblem(Exception):
    """Raise from a handler to answer with a problem+json body."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        retryable: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        default_slug, default_title = TITLES.get(status, ("error", "Error"))
        self.status = status
        self.detail = one_line(detail)
        self.slug = slug or default_slug
        self.title = title or default_title
        self.retryable = retryable
        self.headers = headers

    def problem(self) -> Problem:
        return Problem(
            type=TYPE_BASE + self.slug,
            title=self.title,
            status=self.status,
            detail=self.detail,
            retryable=self.retryable,
        )


def from_intake(exc: intake.IntakeError) -> ApiProblem:
    """The problem a jobs-intake error answers with (the one mapping of domain errors to HTTP)."""
    detail = str(exc)
    if isinstance(exc, intake.NotAllowed):
        title = "Registry not allowed" if exc.kind == "registry" else "Source not allowed"
        return ApiProblem(403, detail, slug=f"{exc.kind}-not-allowed", title=title)
    if isinstance(exc, intake.KeyReused):
        return ApiProblem(422, detail, slug="idempotency-key-reused", title="Idempotency-Key reused")
    if isinstance(exc, intake.NotQueued):
        return ApiProblem(503, detail, retryable=True)
    if isinstance(exc, intake.JobNotFound):
        return ApiProblem(404, detail, slug="job-not-found", title="Job not found")
    if isinstance(exc, intake.JobNotFailed):
        return ApiProblem(409, detail, slug="job-not-failed")
    return ApiProblem(422, detail)  # InvalidRequest


def problem_response(exc: ApiProblem) -> JSONResponse:
    return JSONResponse(
        exc.problem().model_dump(mode="json"),
        status_code=exc.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=exc.headers,
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting problem+json bodies for these statuses."""
    return {
        status: {
            "model": Problem,
            "description": TITLES.get(status, ("", "Error"))[1],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def _validation_detail(exc: RequestValidationError) -> str:
    err = exc.errors()[0] if exc.errors() else {}
    loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "header", "body"))
    return f"{loc or 'request'}: {one_line(err.get('msg', 'is not valid'))}"


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def _problem(_request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(intake.IntakeError)
    async def _intake(_request: Request, exc: intake.IntakeError) -> JSONResponse:
        return problem_response(from_intake(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(ApiProblem(422, _validation_detail(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, ("", "Error"))[1]
        return problem_response(ApiProblem(exc.status_code, detail, headers=getattr(exc, "headers", None)))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
        return problem_response(ApiProblem(500, "internal error; see the server log", retryable=True))
