"""POST /v1/reconcile: one bounded batch of a reconcile sweep queued as jobs (docs/design.md §11)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ..jobs import intake
from .deps import CallerDep, ContextDep, JsonBody
from .problems import problem_responses
from .schemas import JobOut, PlanResult

router = APIRouter(tags=["packages"])

RECONCILE_BODY_SCHEMA: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": False,
                "required": ["source"],
                "properties": {
                    "source": {"enum": ["omics", "rocrate"], "description": "What to sweep."},
                    "since": {"type": "string", "description": "omics: runs that stopped within 7d, 12h, 30m, 2w."},
                    "prefix": {"type": "string", "description": "rocrate: s3://bucket/prefix/ to search for crates."},
                    "cursor": {"type": "string", "description": "The previous batch's next_cursor, to go on."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "Items per batch."},
                },
            },
            "examples": {
                "omics": {"value": {"source": "omics", "since": "7d"}},
                "rocrate": {"value": {"source": "rocrate", "prefix": "s3://lab-data/runs/"}},
            },
        }
    },
}


class ReconcileJobs(BaseModel):
    jobs: list[JobOut]
    ignored: list[PlanResult]
    rejected: list[PlanResult]
    found: int = Field(description="Runs or crates this batch found (each planned like its missed event).")
    next_cursor: str | None = Field(description="Send it back as `cursor` for the next batch; null: sweep complete.")


@router.post(
    "/reconcile",
    status_code=202,
    response_model=ReconcileJobs,
    summary="Sweep a source for what events missed: one job per run or crate (trigger kind reconcile)",
    responses=problem_responses(400, 401, 403, 413, 422, 503),
    openapi_extra={"requestBody": RECONCILE_BODY_SCHEMA},
)
def reconcile(ctx: ContextDep, body: JsonBody, who: CallerDep) -> ReconcileJobs:
    result = intake.accept_reconcile(ctx, body, scope=who.scope)
    return ReconcileJobs.model_validate(
        {
            "jobs": [JobOut.of(j) for j in result.jobs],
            "ignored": result.ignored,
            "rejected": result.rejected,
            "found": result.found,
            "next_cursor": result.next_cursor,
        }
    )
