"""GET /v1/adapters, GET /v1/health. (GET /v1/settings, with origins, is the admin router's.)"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from .. import __version__
from ..errors import describe_exception
from .deps import CallerDep, ContextDep
from .problems import problem_responses
from .schemas import AdapterList, Check, Health

router = APIRouter(tags=["service"])


@router.get(
    "/adapters",
    response_model=AdapterList,
    summary="Installed adapters (as `qps adapters --json`)",
    responses=problem_responses(401),
)
def adapters(ctx: ContextDep, _who: CallerDep) -> AdapterList:
    from ..plugins import load_adapters

    found = load_adapters(ctx.settings, load_disabled=True)
    order = found.order
    infos = sorted(found.infos.values(), key=lambda i: (order.index(i.id) if i.id in order else len(order), i.id))
    return AdapterList.model_validate({"adapters": [i.as_dict() for i in infos]})


@router.get(
    "/health",
    response_model=Health,
    summary="Liveness, and whether S3 and the job store answer (no token needed)",
    responses={503: {"model": Health, "description": "S3 or the job store does not answer."}},
)
def health(ctx: ContextDep) -> JSONResponse:
    try:
        ctx.jobs.ping()
        jobs = Check(ok=True)
    except Exception as exc:
        jobs = Check(ok=False, detail=describe_exception(exc))
    s3 = Check(ok=True, detail="not checked")
    if ctx.s3_probe is not None:
        problem = ctx.s3_probe()
        s3 = Check(ok=problem is None, detail=problem)
    ok = jobs.ok and s3.ok
    body = Health(status="ok" if ok else "unavailable", version=__version__, s3=s3, jobs=jobs)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)
