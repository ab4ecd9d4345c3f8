"""GET/POST /admin/new: a package request from a form, planned or queued as a job."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ... import jsonstrict
from ...errors import InvalidInput
from ...jobs import intake
from ...models import REQUEST_FIELDS
from .common import checked_form, field_error, gate, render

router = APIRouter()
FORM_FIELDS = tuple(name for name in REQUEST_FIELDS if name != "metadata_uri")  # the form's fields, in order
TEXT_FIELDS = ("source_prefix", "registry", "package_name", "message", "workflow")


@router.get("/new")
def new_page(request: Request) -> Response:
    found = gate(request)
    if isinstance(found, Response):
        return found
    return render(request, "new.html", session=found, values={}, errors={}, error=None, planned=None, job=None)


@router.post("/new")
async def new_submit(request: Request) -> Response:
    found, form, refused = await checked_form(request)
    if refused is not None:
        return refused
    values = {name: str(form.get(name) or "") for name in FORM_FIELDS}
    body, errors = request_body(values)
    planned = job = None
    general = None
    ctx = request.app.state.context
    if not errors:
        try:
            if form.get("action") == "create":
                job = intake.accept_request(ctx, body, scope=f"admin:{found.who}")
            else:
                planned = intake.parse_request(ctx.settings, body).normalised()
        except intake.IntakeError as exc:
            name, message = field_error(str(exc), FORM_FIELDS)
            if name:
                errors[name] = message
            else:
                general = message
    status = 422 if errors or general else 200
    return render(
        request,
        "new.html",
        status=status,
        session=found,
        values=values,
        errors=errors,
        error=general,
        planned=planned,
        job=job,
    )


def request_body(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The package form as a package description (empty fields left out)."""
    body: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in TEXT_FIELDS:
        if values[name].strip():
            body[name] = values[name].strip()
    if not body.get("source_prefix"):
        errors["source_prefix"] = "source_prefix: enter the folder to package (s3://bucket/path/)"
    if values["metadata"].strip():
        try:
            body["metadata"] = jsonstrict.loads(values["metadata"].encode("utf-8"))
        except InvalidInput as exc:
            errors["metadata"] = f"metadata: {exc}"
    if values["should_copy"]:
        body["should_copy"] = True
    body.update(filter_fields(values))
    return body, errors


def filter_fields(values: dict[str, str]) -> dict[str, list[str]]:
    """`include` / `exclude`: one glob pattern per line (blank lines skipped); empty fields left out."""
    out: dict[str, list[str]] = {}
    for name in ("include", "exclude"):
        patterns = [line.strip() for line in values.get(name, "").splitlines() if line.strip()]
        if patterns:
            out[name] = patterns
    return out
