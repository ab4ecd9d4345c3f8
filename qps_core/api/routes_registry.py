"""GET /v1/packages/{registry}/{prefix}/{suffix} and .../revisions/{top_hash}."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Path, Query

from .. import packaging
from ..errors import InvalidInput, QPSError
from ..models import normalise_registry, registry_refusal
from ..s3paths import check_package_name
from .deps import CallerDep, ContextDep
from .problems import ApiProblem, problem_responses
from .schemas import PackageInfo, RevisionInfo

router = APIRouter(tags=["packages"])
Registry = Annotated[str, Path(min_length=3, max_length=63, description="The registry's bucket name.")]
Part = Annotated[str, Path(min_length=1, max_length=512, description="One part of the package name.")]
TopHash = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="A revision's top hash.")]


def _checked(ctx: ContextDep, registry: str, prefix: str, suffix: str) -> tuple[str, str]:
    try:
        bucket = normalise_registry(registry)
        name = f"{prefix}/{suffix}"
        check_package_name(name, "package name")
    except InvalidInput as exc:
        raise ApiProblem(422, str(exc)) from None
    refused = registry_refusal(bucket, ctx.settings.allowed_registries)
    if refused is not None:
        raise ApiProblem(403, f"registry: {refused}", slug="registry-not-allowed")
    return bucket, name


def _missing(what: str) -> ApiProblem:
    return ApiProblem(404, f"no package {what}", slug="package-not-found", title="Package not found")


@router.get(
    "/packages/{registry}/{prefix}/{suffix}",
    response_model=PackageInfo,
    summary="A package's latest revision and its list of revisions",
    responses=problem_responses(401, 403, 404, 422, 502, 503),
)
def get_package(ctx: ContextDep, registry: Registry, prefix: Part, suffix: Part, _who: CallerDep) -> PackageInfo:
    bucket, name = _checked(ctx, registry, prefix, suffix)
    try:
        info = packaging.read_latest(bucket, name)
    except QPSError as exc:
        raise ApiProblem(503 if not exc.permanent else 502, str(exc), retryable=not exc.permanent) from None
    if info is None:
        raise _missing(f"{name} in s3://{bucket}")
    return PackageInfo.model_validate(info)


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        value = int(base64.urlsafe_b64decode(cursor.encode("ascii") + b"==").decode("ascii"))
    except (ValueError, binascii.Error, UnicodeError):
        raise ApiProblem(422, "cursor: is not a cursor this API handed out") from None
    if value < 0:
        raise ApiProblem(422, "cursor: is not a cursor this API handed out")
    return value


def _cursor(offset: int | None) -> str | None:
    return None if offset is None else base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


@router.get(
    "/packages/{registry}/{prefix}/{suffix}/revisions/{top_hash}",
    response_model=RevisionInfo,
    summary="One revision with its entries (paginated, in logical-key order)",
    responses=problem_responses(401, 403, 404, 422, 502, 503),
)
def get_revision(
    ctx: ContextDep,
    registry: Registry,
    prefix: Part,
    suffix: Part,
    top_hash: TopHash,
    _who: CallerDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Entries per page.")] = 100,
    cursor: Annotated[str | None, Query(max_length=64, description="`next_cursor` of the previous page.")] = None,
) -> RevisionInfo:
    bucket, name = _checked(ctx, registry, prefix, suffix)
    try:
        info = packaging.read_revision(bucket, name, top_hash, offset=_offset(cursor), limit=limit)
    except QPSError as exc:
        raise ApiProblem(503 if not exc.permanent else 502, str(exc), retryable=not exc.permanent) from None
    if info is None:
        raise _missing(f"{name}@{top_hash[:12]} in s3://{bucket}")
    info["next_cursor"] = _cursor(info.pop("next_offset", None))
    return RevisionInfo.model_validate(info)
