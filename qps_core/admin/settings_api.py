"""JSON routes for settings and sources (admin token): GET/PATCH /v1/settings, GET /v1/settings/audit,
GET /v1/sources, PUT /v1/sources/{id}, POST /v1/sources/{id}/apply. Writes need `If-Match` with the
ETag last read (412 when someone else wrote first, 428 without it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import JSONResponse

from ..api.deps import AdminDep, JsonBody
from ..api.problems import ApiProblem, problem_responses
from ..errors import InvalidInput, QPSError
from ..settings import StaleVersion
from .deps import AdminService
from .eventbridge import RuleError
from .service import Admin, SwitchFailed

SourceId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="Adapter id.")]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description="The ETag of the last read (GET /v1/settings or /v1/sources).")
]


router = APIRouter(tags=["settings"])
JSON_OBJECT_BODY: dict[str, Any] = {
    "required": True,
    "content": {"application/json": {"schema": {"type": "object"}}},
}


def expected_version(if_match: str | None, current: int) -> int:
    if if_match is None:
        raise ApiProblem(
            428,
            "send If-Match with the ETag of your last read (GET first)",
            slug="if-match-required",
            title="If-Match required",
        )
    tag = if_match.strip()
    if tag == "*":
        return current
    tag = tag.removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise ApiProblem(
            412,
            f"If-Match {if_match!r} is not an ETag of the settings",
            slug="stale-settings",
            title="Settings changed",
        )
    return int(tag)


def _stale(exc: StaleVersion) -> ApiProblem:
    return ApiProblem(
        412, str(exc), slug="stale-settings", title="Settings changed", headers={"ETag": f'"{exc.current}"'}
    )


def settings_document(admin: Admin) -> tuple[dict[str, Any], str]:
    effective = admin.effective()
    rows = effective.describe()
    doc = {"version": effective.stored.version, "settings": {r.pop("name"): r for r in rows}}
    return doc, effective.stored.etag


@router.get(
    "/settings",
    summary="Every setting: effective value, origin (environment, stored, config file, default); admin token",
    responses={
        200: {"description": "`{version, settings}`; the ETag is the stored version."},
        **problem_responses(401, 403),
    },
)
def get_settings(_who: AdminDep, admin: AdminService) -> JSONResponse:
    doc, etag = settings_document(admin)
    return JSONResponse(doc, headers={"ETag": etag})


@router.patch(
    "/settings",
    summary="Change stored settings (null removes a stored value); If-Match required; admin token",
    responses=problem_responses(400, 401, 403, 412, 422, 428),
    openapi_extra={"requestBody": JSON_OBJECT_BODY},
)
def patch_settings(who: AdminDep, admin: AdminService, body: JsonBody, if_match: IfMatch = None) -> JSONResponse:
    version = expected_version(if_match, admin.store.version())
    try:
        admin.change(body, expected_version=version, actor=who.scope)
    except StaleVersion as exc:
        raise _stale(exc) from None
    except InvalidInput as exc:
        raise ApiProblem(422, str(exc)) from None
    doc, etag = settings_document(admin)
    return JSONResponse(doc, headers={"ETag": etag})


@router.get(
    "/settings/audit",
    summary="Changes to the stored settings, newest first (who, when, old → new); admin token",
    responses=problem_responses(401, 403),
)
def audit(
    admin: AdminService,
    _who: AdminDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    return {"items": [e.as_dict() for e in admin.store.audit(limit)]}


@router.get(
    "/sources",
    summary="Event sources: switch, what it does, EventBridge rule state and drift, last job; admin token",
    responses=problem_responses(401, 403),
)
def sources(_who: AdminDep, admin: AdminService) -> JSONResponse:
    rows = [r.as_dict() for r in admin.sources()]
    stored = admin.store.read()
    return JSONResponse({"version": stored.version, "sources": rows}, headers={"ETag": stored.etag})


@router.put(
    "/sources/{source_id}",
    summary='Switch a source on or off: body {"enabled": true|false}; If-Match required; admin token',
    responses=problem_responses(400, 401, 403, 404, 412, 422, 428, 502),
    openapi_extra={"requestBody": JSON_OBJECT_BODY},
)
def put_source(
    who: AdminDep, admin: AdminService, source_id: SourceId, body: JsonBody, if_match: IfMatch = None
) -> JSONResponse:
    if not isinstance(body, dict) or set(body) != {"enabled"} or not isinstance(body["enabled"], bool):
        raise ApiProblem(422, 'the body must be {"enabled": true} or {"enabled": false}')
    version = expected_version(if_match, admin.store.version())
    try:
        stored = admin.switch(source_id, body["enabled"], expected_version=version, actor=who.scope)
    except KeyError:
        raise ApiProblem(404, f"no installed adapter {source_id!r}", slug="source-not-found") from None
    except StaleVersion as exc:
        raise _stale(exc) from None
    except InvalidInput as exc:
        raise ApiProblem(422, str(exc)) from None
    except SwitchFailed as exc:
        raise ApiProblem(
            502, str(exc), slug="rule-switch-failed", title="EventBridge rule not switched", retryable=True
        ) from None
    return JSONResponse(admin.source(source_id).as_dict(), headers={"ETag": stored.etag})


@router.post(
    "/sources/{source_id}/apply",
    summary="Set the source's EventBridge rule to its switch again (repairs drift); admin token",
    responses=problem_responses(401, 403, 404, 422, 502),
)
def reapply(_who: AdminDep, admin: AdminService, source_id: SourceId) -> dict[str, Any]:
    try:
        admin.reapply(source_id)
    except KeyError:
        raise ApiProblem(404, f"no installed adapter {source_id!r}", slug="source-not-found") from None
    except InvalidInput as exc:
        raise ApiProblem(422, str(exc)) from None
    except (RuleError, QPSError) as exc:
        raise ApiProblem(
            502, str(exc), slug="rule-switch-failed", title="EventBridge rule not switched", retryable=True
        ) from None
    return admin.source(source_id).as_dict()
