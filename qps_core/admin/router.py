"""The admin page and its JSON routes, mounted on the API app by `create_app` (docs/design.md §8):
the settings/sources routes under /v1 (`settings_api`) and the HTML pages under /admin (`pages`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import deadletters_api, pages, settings_api
from .service import Admin

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..api.context import ApiContext


def mount(app: FastAPI, context: ApiContext) -> None:
    """Give the context its admin service and include the admin routes."""
    if context.admin is None:
        context.admin = Admin(context)
    app.include_router(settings_api.router, prefix="/v1")
    app.include_router(deadletters_api.router, prefix="/v1")
    app.include_router(pages.router)
