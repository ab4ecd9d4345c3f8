"""The admin routes' dependency: `AdminService`, the app's `Admin` with the current stored settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .service import Admin


def admin_service(request: Request) -> Admin:
    admin: Admin | None = request.app.state.context.admin
    assert admin is not None, "the admin routes are mounted with their service (admin.router.mount)"
    admin.refresh()
    return admin


AdminService = Annotated[Admin, Depends(admin_service)]
