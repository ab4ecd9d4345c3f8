"""GET/POST /admin/try: paste any event and see what the adapters would do (nothing is queued)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ... import jsonstrict
from ...errors import InvalidInput, QPSError, describe_exception
from ..deps import AdminService
from .common import checked_form, gate, render

log = logging.getLogger("qps.admin")
router = APIRouter()


@router.get("/try")
def try_page(request: Request) -> Response:
    found = gate(request)
    if isinstance(found, Response):
        return found
    return render(request, "try.html", session=found, text="", error=None, plans=None)


@router.post("/try")
async def try_submit(request: Request, admin: AdminService) -> Response:
    found, form, refused = await checked_form(request)
    if refused is not None:
        return refused
    text = str(form.get("event") or "")
    plans = error = None
    if not text.strip():
        error = "event: paste an event (JSON)"
    else:
        try:
            value = jsonstrict.loads(text.encode("utf-8"))
            plans = [p.as_dict() | {"index": n} for n, p in enumerate(admin.context.runner.plan_value(value))]
        except InvalidInput as exc:
            error = f"event: {exc}"
        except QPSError as exc:
            error = str(exc)
        except Exception as exc:  # an adapter's bug: one line, never a traceback
            log.exception("planning a pasted event failed")
            error = describe_exception(exc)
    return render(request, "try.html", status=422 if error else 200, session=found, text=text, error=error, plans=plans)
