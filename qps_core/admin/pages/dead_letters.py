"""GET /admin/dead-letters (queue and DLQ depths, the first dead letters with their reason and body),
POST /admin/dead-letters/redrive, POST /admin/dead-letters/{id}/retry, POST /admin/dead-letters/{id}/delete.

Every button asks for confirmation in the browser, carries the session's CSRF token and is audited
(a log line naming the admin session), as the API routes (`deadletters_api`) are."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..deadletters import DeadLetterError, DeadLetterNotFound, NotConfigured
from ..deadletters_api import service_for
from .common import actor, checked_form, gate, refuse, render

router = APIRouter()
SHOWN = 20


def _back(notice: str) -> Response:
    return RedirectResponse("/admin/dead-letters?" + urlencode({"notice": notice}), status_code=303)


@router.get("/dead-letters")
def dead_letters_page(request: Request) -> Response:
    found = gate(request)
    if isinstance(found, Response):
        return found
    overview, error, configured = None, None, True
    try:
        overview = service_for(request.app.state.context).overview(SHOWN)
    except NotConfigured as exc:
        configured, error = False, str(exc)
    except DeadLetterError as exc:
        error = str(exc)
    return render(
        request,
        "dead-letters.html",
        session=found,
        overview=overview,
        configured=configured,
        error=error,
        notice=request.query_params.get("notice"),
        shown=SHOWN,
    )


async def _act(request: Request, what: str, message_id: str | None = None) -> Response:
    found, _, refused = await checked_form(request)
    if refused is not None:
        return refused
    service = service_for(request.app.state.context)
    try:
        if what == "redrive":
            done = service.redrive(actor(found))
            if done["method"] == "move-task":
                return _back("Redrive started: SQS moves the dead letters back to the queue.")
            return _back(f"Redrive done: {done['moved']} dead letter(s) sent back to the queue.")
        assert message_id is not None
        if what == "retry":
            service.retry(message_id, actor(found))
            return _back(f"Dead letter {message_id} sent back to the queue.")
        service.delete(message_id, actor(found))
        return _back(f"Dead letter {message_id} deleted.")
    except DeadLetterNotFound as exc:
        return refuse(request, 404, str(exc))
    except NotConfigured as exc:
        return refuse(request, 409, str(exc))
    except DeadLetterError as exc:
        return refuse(request, 503, str(exc))


@router.post("/dead-letters/redrive")
async def redrive(request: Request) -> Response:
    return await _act(request, "redrive")


@router.post("/dead-letters/{message_id}/retry")
async def retry(request: Request, message_id: str) -> Response:
    return await _act(request, "retry", message_id)


@router.post("/dead-letters/{message_id}/delete")
async def delete(request: Request, message_id: str) -> Response:
    return await _act(request, "delete", message_id)
