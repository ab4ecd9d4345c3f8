"""Request and response bodies of the REST API, as pydantic models (they make the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from ..globs import MAX_PATTERN_CHARS, MAX_PATTERNS
from ..jobs.model import Job, JobResult, JobStatus, Problem, Trigger

#: A glob pattern of `include` / `exclude` (docs/design.md §12), as the OpenAPI schema states it.
GlobPattern = Annotated[str, Field(min_length=1, max_length=MAX_PATTERN_CHARS)]
GLOB_HELP = (
    "Glob patterns relative to the folder (`*`, `?`, `[abc]` within a path segment, `**` across `/`; "
    "a pattern without `/` matches at any depth, as in .gitignore; a pattern matching a folder matches "
    "everything under it). At most 100 patterns of at most 1,024 characters."
)


class PackageDescription(BaseModel):
    """A package request in the native format (docs/design.md §2)."""

    model_config = ConfigDict(extra="forbid")

    source_prefix: str = Field(
        description="s3://bucket/folder to package (always a folder).",
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
        examples=["s3://lab-data/instrument-f/batch-0301/"],
    )
    registry: str | None = Field(
        None,
        description="Bucket name or s3://bucket; default: the source bucket.",
        pattern=r"^(s3://)?[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/?$",
        examples=["lab-packages"],
    )
    package_name: str | None = Field(
        None,
        description="prefix/suffix; default: derived from the folder.",
        pattern=r"^[\w-]+/[\w-]+$",
        examples=["instrument-f/batch-0301"],
    )
    metadata: dict[str, Any] | None = Field(None, description="Package-level metadata (a JSON object).")
    metadata_uri: str | None = Field(None, description="A JSON object read from S3 (relative to the folder).")
    message: str | None = Field(None, description="Commit message (alias: commit_message).")
    commit_message: str | None = Field(None, description="Alias of message.")
    workflow: str | None = Field(None, description='quilt3 workflow id; "" for none; absent: the default.')
    should_copy: bool | None = Field(None, description="Copy the objects into the registry (default false).")
    include: list[GlobPattern] | None = Field(
        None,
        max_length=MAX_PATTERNS,
        description="Package only objects matching one of these. " + GLOB_HELP,
        examples=[["data/**", "*.csv"]],
    )
    exclude: list[GlobPattern] | None = Field(
        None,
        max_length=MAX_PATTERNS,
        description="Leave out objects matching any of these (the RO-Crate metadata file is always kept). " + GLOB_HELP,
        examples=[["work/", "*.tmp"]],
    )


class UriRequest(BaseModel):
    """The URI form: the folder, with query parameters as metadata."""

    model_config = ConfigDict(extra="forbid")

    uri: str = Field(
        description="s3://bucket/folder?key=value&key2=value2",
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$",
        examples=["s3://lab-data/instrument-f/batch-0301?run=301"],
    )


PACKAGE_BODY_SCHEMA: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/PackageDescription"},
                    {"$ref": "#/components/schemas/UriRequest"},
                ]
            }
        }
    },
}
ANY_EVENT_BODY_SCHEMA: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": {"description": "Any event, in any envelope QPS unwraps (docs/design.md §3)."}}
    },
}


class NormalisedRequest(BaseModel):
    """A validated package request, as `qps plan --json` prints it."""

    source_prefix: str
    registry: str
    package_name: str
    metadata: dict[str, Any] | None = None
    metadata_uri: str | None = None
    message: str | None = None
    workflow: str | None = None
    should_copy: bool = False
    include: list[str] | None = Field(None, description="Present only when set (as `qps plan --json`).")
    exclude: list[str] | None = Field(None, description="Present only when set (as `qps plan --json`).")

    @model_serializer(mode="wrap")
    def _filters_when_set(self, handler: SerializerFunctionWrapHandler):
        """`include`/`exclude` only when set, as `PackageRequest.normalised()` (no return annotation: the
        schema stays this model's)."""
        out = handler(self)
        for name in ("include", "exclude"):
            if out.get(name) is None:
                out.pop(name, None)
        return out


class JobLinks(BaseModel):
    self: str = Field(description="This job.")
    package: str = Field(description="The package it makes (latest revision).")


class JobOut(BaseModel):
    """One package request and what became of it."""

    id: str
    status: JobStatus
    created_at: str
    started_at: str | None
    finished_at: str | None
    attempts: int
    parent_id: str | None = Field(description="The failed job this one retries, else null.")
    trigger: Trigger
    request: dict[str, Any] = Field(description="The normalised package request.")
    result: JobResult | None
    error: Problem | None
    links: JobLinks

    @classmethod
    def of(cls, job: Job) -> JobOut:
        data = job.model_dump(exclude={"run_after"})
        registry, name = job.registry or "", job.package_name or ""
        data["links"] = {"self": f"/v1/jobs/{job.id}", "package": f"/v1/packages/{registry}/{name}"}
        return cls.model_validate(data)


class JobList(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class DryRun(BaseModel):
    packages: list[NormalisedRequest]


class PlanResult(BaseModel):
    """What the adapters decided about one event (as `qps plan --json`)."""

    status: Literal["planned", "ignored", "rejected"]
    adapter: str | None
    packages: list[NormalisedRequest]
    reason: str | None = None
    error: str | None = None
    also_claimed_by: list[str] = Field(default_factory=list)
    adapter_errors: list[str] = Field(default_factory=list)


class PlanResults(BaseModel):
    results: list[PlanResult]


class EventJobs(BaseModel):
    jobs: list[JobOut]
    ignored: list[PlanResult]
    rejected: list[PlanResult]


class Revision(BaseModel):
    top_hash: str
    time: str | None = Field(description="When the revision was pushed (ISO 8601, UTC).")


class PackageInfo(BaseModel):
    registry: str
    package_name: str
    top_hash: str
    message: str | None
    metadata: dict[str, Any] | None
    files: int
    bytes: int
    revisions: list[Revision] = Field(description="Newest first.")


class Entry(BaseModel):
    logical_key: str
    size: int
    hash: str
    physical_key: str


class RevisionInfo(BaseModel):
    registry: str
    package_name: str
    top_hash: str
    message: str | None
    metadata: dict[str, Any] | None
    files: int
    bytes: int
    entries: list[Entry]
    next_cursor: str | None


class AdapterOut(BaseModel):
    id: str
    distribution: str
    version: str
    enabled: bool
    loaded: bool
    description: str
    priority: str
    module: str
    error: str | None


class AdapterList(BaseModel):
    adapters: list[AdapterOut]


class Check(BaseModel):
    ok: bool
    detail: str | None = None


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    version: str
    s3: Check
    jobs: Check
