"""The admin page's HTML routes under /admin, one module per page (docs/design.md §8):
`login`, `sources` (and `reconcile`, its "Reconcile now" buttons), `jobs`, `new`, `try_event`,
`settings`, `dead_letters`; what they share is in `common`."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from . import dead_letters, jobs, login, new, reconcile, settings, sources, try_event

STATIC = {"htmx.min.js": "text/javascript", "admin.css": "text/css", "confirm.js": "text/javascript"}
router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("")
@router.get("/")
def home() -> Response:
    return RedirectResponse("/admin/sources", status_code=303)


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    data = resources.files("qps_core.admin").joinpath("static", name).read_bytes()
    return Response(
        data,
        media_type=STATIC[name],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


for page in (login, sources, reconcile, jobs, new, try_event, settings, dead_letters):
    router.include_router(page.router)
