"""The ASGI app: the REST API under /v1, OpenAPI 3.1 at /openapi.json, docs at /docs (docs/design.md §7).

`create_app(context)` builds it from an explicit `ApiContext` (settings, runner, job store,
dispatcher), so `qps serve`, the Lambda handler (`qps_core.api.lambda_api.handler`) and the tests
all run the same app. Packaging never runs inside a request: requests become jobs.

Admin hook: if the module `qps_core.admin.router` exists, its `build_router(context) -> APIRouter`
is included as it is (its routes carry their own paths, e.g. `/admin`, `/v1/settings` writes). It
should protect its routes with `qps_core.api.auth.admin_caller` (or its own session check built on
`qps_core.api.auth.authenticate`). Nothing here depends on it.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from fastapi import FastAPI

from .. import __version__
from .context import ApiContext
from .problems import install_handlers

ADMIN_ROUTER_MODULE = "qps_core.admin.router"


def create_app(context: ApiContext, *, include_admin: bool = True) -> FastAPI:
    from . import docs_page, routes_jobs, routes_meta, routes_packages, routes_registry

    app = FastAPI(
        title="QPS: Quilt Packaging Service",
        version=__version__,
        summary="Package creation as jobs, with a result for every request.",
        description=(
            "Every package request, whatever its trigger (HTTP, SQS, EventBridge, CLI), becomes a job "
            "with a status and a result. Errors are `application/problem+json` (RFC 9457). "
            "Authenticate with `Authorization: Bearer <token>` when tokens are configured."
        ),
        openapi_url="/openapi.json",
        docs_url=None,  # served from vendored files below, not a CDN
        redoc_url=None,
    )
    app.state.context = context
    install_handlers(app)
    app.include_router(docs_page.build_router(app.title, "/openapi.json"))
    for module in (routes_packages, routes_jobs, routes_registry, routes_meta):
        app.include_router(module.router, prefix="/v1")
    _publish_body_schemas(app)
    if include_admin:
        admin = admin_router(context)
        if admin is not None:
            app.include_router(admin)
    return app


def admin_router(context: ApiContext) -> Any:
    """The admin page's router when that module is installed, else None."""
    if importlib.util.find_spec(ADMIN_ROUTER_MODULE.rsplit(".", 1)[0]) is None:
        return None
    if importlib.util.find_spec(ADMIN_ROUTER_MODULE) is None:
        return None
    module = importlib.import_module(ADMIN_ROUTER_MODULE)
    return module.build_router(context)


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
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
