"""The ASGI app: the REST API under /v1, OpenAPI 3.1 at /openapi.json, docs at /docs, and the admin
page under /admin (docs/design.md §7, §8).

`create_app(context)` builds it from an explicit, typed `ApiContext` (settings, runner, job store,
dispatcher), so `qps serve`, the Lambda function (`qps_core.api.lambda_api.handler`) and the tests
all run the same app. Packaging never runs inside a request: requests become jobs. Every request
sees the stored settings (`ApiContext.live`), whether or not the admin page is mounted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI

from .. import __version__
from .context import ApiContext
from .problems import install_handlers

TITLE = "QPS: Quilt Packaging Service"


def create_app(context: ApiContext, *, include_admin: bool = True, hosts: Iterable[str] = ()) -> FastAPI:
    """`hosts`: the address the server listens on (answered besides loopback and `allowed_hosts`)."""
    from ..runtime.live import CurrentRunner
    from . import docs_page, prometheus, routes_jobs, routes_meta, routes_packages, routes_reconcile, routes_registry
    from .guard import Guard

    app = FastAPI(
        title=TITLE,
        version=__version__,
        summary="Package creation as jobs, with a result for every request.",
        description=(
            "Every package request, whatever its trigger (HTTP, SQS, EventBridge, CLI), becomes a job "
            "with a status and a result. Errors are `application/problem+json` (RFC 9457). "
            "Authenticate with `Authorization: Bearer <token>` when tokens are configured."
        ),
        openapi_url="/openapi.json",
        docs_url=None,  # served from vendored files (docs_page), not a CDN
        redoc_url=None,
    )
    if context.live is None:
        context.live = CurrentRunner.following(context.settings, context.runner)
    app.state.context = context
    install_handlers(app)
    app.add_middleware(Guard, bound=tuple(hosts))  # Host allow-list, cross-site refusal, JSON only
    app.include_router(docs_page.router)
    app.include_router(prometheus.router)
    for module in (routes_packages, routes_reconcile, routes_jobs, routes_registry, routes_meta):
        app.include_router(module.router, prefix="/v1")
    _publish_body_schemas(app)
    if include_admin:
        from ..admin.router import mount

        mount(app, context)
    return app


def _publish_body_schemas(app: FastAPI) -> None:
    """Request bodies are read as strict JSON by hand (400 for what is not): publish their models."""
    from pydantic.json_schema import models_json_schema

    from .schemas import PackageDescription, UriRequest

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            _, defs = models_json_schema(
                [(PackageDescription, "validation"), (UriRequest, "validation")],
                ref_template="#/components/schemas/{model}",
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
            _document_protections(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_protections(schema: dict[str, Any]) -> None:
    """What the guard (`api.guard`) and `JsonBody` answer, on every operation: a JSON request body
    (415 for another type), 403 for a cross-site write, 421 for a host the server does not answer."""
    from .problems import problem_responses

    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            extra = [421] + ([403] if method not in ("get", "head", "options") else [])
            body = operation.get("requestBody")
            if body is not None:
                media = body.get("content") or {}
                body["content"] = {"application/json": media.get("application/json") or {"schema": {}}}
                extra.append(415)
            responses = operation.setdefault("responses", {})
            for status, entry in problem_responses(*extra).items():
                responses.setdefault(str(status), {k: v for k, v in entry.items() if k != "model"})
