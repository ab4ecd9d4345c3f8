"""The admin hook of the API app (`qps_core.api.app.create_app` includes `build_router(context)`):
the settings/sources JSON routes under /v1 and the HTML pages under /admin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from .api import build_api_router
from .pages import build_page_router
from .service import Admin


def build_router(context: Any) -> APIRouter:
    admin = context.extras.get("admin") or Admin(context)
    context.extras["admin"] = admin
    context.extras["refresh"] = admin.refresh  # every request sees stored changes (docs/design.md §8)
    router = APIRouter()
    router.include_router(build_api_router())
    pages = build_page_router()
    router.include_router(pages)
    context.extras["login_codes"] = pages.pages.login_codes  # type: ignore[attr-defined]
    return router
