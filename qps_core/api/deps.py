"""The API's dependencies, one style for every router (`Annotated[..., Depends(...)]` aliases):

- `ContextDep`: the app's `ApiContext`, following stored settings (refreshed per request);
- `CallerDep`: any valid bearer token (or none configured); `AdminDep`: an admin token;
- `JsonBody`: the request body as strict JSON (docs/design.md §2), at most `MAX_BODY_BYTES`, sent as
  `application/json` or `application/*+json` (else 415).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request

from .. import jsonstrict
from ..errors import InvalidInput
from .auth import Caller, admin_caller, caller
from .context import ApiContext
from .guard import is_json_type, unsupported
from .problems import ApiProblem

MAX_BODY_BYTES = 1024 * 1024


def current_context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.context
    ctx.refresh()
    return ctx


async def json_body(request: Request) -> Any:
    """The body, parsed as strict JSON; 415 unless sent as JSON, 400 otherwise, 413 past the limit
    (never held whole)."""
    if not is_json_type(request.headers.get("content-type")):
        raise unsupported(request.headers.get("content-type"))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiProblem(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data.strip():
        raise ApiProblem(400, "the body is empty; send a JSON object")
    try:
        return jsonstrict.loads(data)
    except InvalidInput as exc:
        raise ApiProblem(400, str(exc)) from None


def idempotency_header(what: str) -> Any:
    """The `Idempotency-Key` header parameter (docs/api.md)."""
    return Header(
        alias="Idempotency-Key", min_length=1, max_length=255, description=f"{what} Scoped to the caller, kept 48 h."
    )


ContextDep = Annotated[ApiContext, Depends(current_context)]
CallerDep = Annotated[Caller, Depends(caller)]
AdminDep = Annotated[Caller, Depends(admin_caller)]
JsonBody = Annotated[Any, Depends(json_body)]
