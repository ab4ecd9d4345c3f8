"""The jobs intake: a package request, an event body or a retry becomes stored, queued jobs
(docs/design.md §7).

The REST routes and the admin pages both call these functions and nothing else to make jobs. They
raise `IntakeError`s (domain errors, one line each); the API maps them to problem+json in one
handler (`qps_core/api/problems.py`), the admin pages show them next to the form.

A request is parsed once, here (`PackageRequest.from_body`), with the allow-lists checked by
`allow_lists.refusal`, the same test the packager makes; the job holds the normalised request, and
the worker that runs it hands it to `Runner.package` as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .. import allow_lists, envelopes, metrics
from ..errors import InvalidInput, QPSError
from ..models import PackageRequest
from .model import Job, Trigger, body_fingerprint, new_job_id
from .store import IdempotencyClaim, IdempotencyMismatch

if TYPE_CHECKING:
    from ..outcomes import Plan
    from ..runner import Runner
    from ..settings import Settings
    from .store import JobStore

log = logging.getLogger("qps.jobs")


class Dispatcher(Protocol):
    """Hands a stored `queued` job to whatever runs it.

    `LocalPool` (jobs/pool.py) wakes its worker threads; `QueueDispatcher` (jobs/dispatch.py) sends
    the request to the QuiltPackager queue with the job id as a message attribute. `submit` raises
    when the job could not be handed over: the intake then removes the job again and raises
    `NotQueued`, so nothing is left queued that nobody will run.
    """

    def submit(self, job: Job) -> None: ...


class Services(Protocol):
    """What the intake works with (the API context is one): current settings and runner, the job
    store and the dispatcher."""

    @property
    def settings(self) -> Settings: ...
    @property
    def runner(self) -> Runner: ...
    @property
    def jobs(self) -> JobStore: ...
    @property
    def dispatcher(self) -> Dispatcher: ...


# -- domain errors ----------------------------------------------------------------------------------
class IntakeError(QPSError):
    """Why nothing (or not everything) was accepted: one line."""


class InvalidRequest(IntakeError, InvalidInput):
    """The body is not a valid package request (names the field)."""


class NotAllowed(IntakeError):
    """An allow-list refuses the request: nothing is queued."""

    def __init__(self, message: str, kind: Literal["registry", "source"]) -> None:
        super().__init__(message)
        self.kind = kind


class KeyReused(IntakeError):
    """The Idempotency-Key was used before with another body."""


class NotQueued(IntakeError):
    """The job store or the dispatcher failed: try again."""

    permanent = False


class PartlyQueued(NotQueued):
    """Some of an event body's jobs were queued, the others could not be."""

    def __init__(self, message: str, queued: list[Job]) -> None:
        super().__init__(message)
        self.queued = queued


class JobNotFound(IntakeError):
    """No job with that id."""


class JobNotFailed(IntakeError):
    """Only a failed job can be retried."""


# -- requests ---------------------------------------------------------------------------------------
def parse_request(settings: Settings, body: Any) -> PackageRequest:
    """A package description or `{"uri"}` → the request as it will be packaged (default message set).

    `NotAllowed` wins over `InvalidRequest` for a registry outside the allow-list, so the caller
    learns which list to change."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("a package request must be a JSON object")
    context = {**settings.request_context(), "allowed_registries": ()}  # refused below, as NotAllowed
    try:
        parsed = PackageRequest.from_body(body, **context)
    except InvalidInput as exc:
        raise InvalidRequest(str(exc)) from None
    refused = allow_lists.refusal(settings, parsed)
    if refused is not None:
        raise NotAllowed(refused.message, refused.kind)
    return parsed.with_default_message()


def accept_request(
    svc: Services, body: Any, *, scope: str, idempotency_key: str | None = None, kind: str = "api"
) -> Job:
    """Parse `body` and queue it as a job (the same job again for a repeated key and body)."""
    parsed = parse_request(svc.settings, body)
    claim = IdempotencyClaim(scope, idempotency_key, body_fingerprint(body)) if idempotency_key else None
    job, _ = _queue(svc, Job(id=new_job_id(), trigger=Trigger(kind=kind), request=parsed.normalised()), claim)
    return job


def retry(svc: Services, job_id: str) -> Job:
    """A new queued job for a failed one (its `parent_id`), with the same trigger and request."""
    failed = get(svc, job_id)
    if failed.status != "failed":
        raise JobNotFailed(f"job {job_id!r} is {failed.status}, not failed")
    job, _ = _queue(svc, Job(id=new_job_id(), parent_id=failed.id, trigger=failed.trigger, request=failed.request))
    return job


def get(svc: Services, job_id: str) -> Job:
    try:
        job = svc.jobs.get(job_id)
    except QPSError as exc:
        raise NotQueued(str(exc)) from None
    if job is None:
        raise JobNotFound(f"no job {job_id!r}")
    return job


# -- event bodies -----------------------------------------------------------------------------------
def plan_events(svc: Services, body: Any) -> list[Plan]:
    """Every event in the body (at most `max_events_per_input`, as on every entry point), planned."""
    events = envelopes.unwrap(body, max_events=svc.settings.max_events_per_input)
    return [svc.runner.plan_event(event) for event in events]


@dataclass
class EventIntake:
    """What became of an event body: a job per planned request, and what was ignored or rejected."""

    jobs: list[Job] = field(default_factory=list)
    ignored: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


_TRIGGER_KINDS = {"eventbridge": "eventbridge", "s3": "s3", "body": "api"}


def accept_events(svc: Services, body: Any, *, scope: str, idempotency_key: str | None = None) -> EventIntake:
    """Plan every event of `body`; queue a job per planned request the allow-lists let through."""
    return accept_plans(svc, plan_events(svc, body), body, scope=scope, idempotency_key=idempotency_key)


def accept_plans(
    svc: Services,
    plans: list[Plan],
    body: Any = None,
    *,
    scope: str,
    idempotency_key: str | None = None,
    trigger_kind: str | None = None,
) -> EventIntake:
    """Queue a job per planned request of `plans` the allow-lists let through (`trigger_kind`: the
    trigger's kind, else the event's entry point)."""
    result = EventIntake()
    wanted = []
    for p in plans:
        if p.status == "ignored":
            result.ignored.append(p.as_dict())
            metrics.package_outcome("ignored", p.adapter)
        elif p.status == "rejected":
            result.rejected.append(p.as_dict())
            metrics.package_outcome("rejected", p.adapter)
        for req in p.requests if p.status == "planned" else ():
            refused = allow_lists.refusal(svc.settings, req)  # as the packager would: never queued
            if refused is None:
                wanted.append((p, req))
            else:
                metrics.package_outcome("rejected", p.adapter)
                result.rejected.append(
                    {"status": "rejected", "adapter": p.adapter, "packages": [], "error": refused.message}
                )
    body_print = body_fingerprint(body) if idempotency_key else ""  # once: the body may be 1 MiB
    for index, (p, req) in enumerate(wanted):
        event_id = p.event.payload.get("id") if isinstance(p.event.payload, dict) else None
        trigger = Trigger(
            kind=trigger_kind or _TRIGGER_KINDS.get(p.event.kind, p.event.kind),
            adapter=p.adapter,
            event_id=event_id if isinstance(event_id, str) else None,
        )
        normalised = req.normalised()
        # One claim per planned request, bound to the body and to that request: a retry finds each job
        # it already queued, and if the same body now plans differently (settings changed) it is
        # refused, never another request's job. Their own key space: no clash with request keys.
        claim = (
            IdempotencyClaim(
                scope,
                f"events\x1f{idempotency_key}\x1f{index}",
                body_fingerprint({"body": body_print, "request": normalised}),
            )
            if idempotency_key
            else None
        )
        try:
            stored, _ = _queue(
                svc,
                Job(id=new_job_id(), trigger=trigger, request=normalised),
                claim,
                reused=" (or the same body now plans other packages: settings changed)",
            )
        except NotQueued:
            if not result.jobs:
                raise
            raise _partly_queued(result.jobs, len(wanted), idempotency_key is not None) from None
        result.jobs.append(stored)
    return result


# -- reconcile sweeps --------------------------------------------------------------------------------
class SweepUnavailable(NotQueued):
    """Listing the source failed for a while (throttled, 5xx, no connection): try again."""


class SweepRefused(IntakeError):
    """Listing the source was refused (denied, no such bucket) or the sweep is not valid."""


@dataclass
class ReconcileIntake(EventIntake):
    """What a reconcile batch queued, how many items it found, and where the next batch starts."""

    found: int = 0
    next_cursor: str | None = None


RECONCILE_FIELDS = ("source", "since", "prefix", "cursor", "limit")


def accept_reconcile(svc: Services, body: Any, *, scope: str) -> ReconcileIntake:
    """One bounded batch of a reconcile sweep (docs/design.md §11) → a job per package request it
    implies (trigger kind `reconcile`). Body: `{"source": "omics", "since": "7d"}` or
    `{"source": "rocrate", "prefix": "s3://bucket/prefix/"}`, plus `cursor` (from the previous
    batch's `next_cursor`) and `limit` (items per batch, default 200, at most 1000)."""
    from .. import reconcile
    from ..envelopes import unwrap

    source, since, prefix, cursor, limit = _reconcile_body(body)
    try:
        if source == "omics":
            window = reconcile.parse_duration(since) if since else None
            sweep = reconcile.sweep_omics(since=window, cursor=cursor, limit=limit)
        else:
            from .. import aws

            folder = _allowed_prefix(svc.settings, prefix)
            s3 = aws.client("s3", svc.settings.endpoint_url)
            sweep = reconcile.sweep_rocrate(folder, svc.settings.sentinel_names, cursor=cursor, limit=limit, client=s3)
    except IntakeError:
        raise
    except InvalidInput as exc:
        raise InvalidRequest(str(exc)) from None
    except QPSError as exc:
        raise (SweepRefused(str(exc)) if exc.permanent else SweepUnavailable(str(exc))) from None
    plans = [svc.runner.plan_event(event) for _, value in sweep.found for event in unwrap(value)]
    queued = accept_plans(svc, plans, scope=scope, trigger_kind="reconcile")
    return ReconcileIntake(queued.jobs, queued.ignored, queued.rejected, len(sweep.found), sweep.cursor)


def _reconcile_body(body: Any) -> tuple[str, str | None, str | None, str | None, int]:
    from ..reconcile import DEFAULT_LIMIT, MAX_LIMIT, SOURCES

    if not isinstance(body, Mapping):
        raise InvalidRequest("a reconcile request must be a JSON object")
    unknown = sorted(str(k) for k in body if k not in RECONCILE_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}; allowed fields are: {', '.join(RECONCILE_FIELDS)}")
    source = body.get("source")
    if source not in SOURCES:
        raise InvalidRequest(f"source: must be one of {', '.join(SOURCES)}")
    texts = {}
    for name in ("since", "prefix", "cursor"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidRequest(f"{name}: must be a string")
        texts[name] = value
    if source == "rocrate" and not texts["prefix"]:
        raise InvalidRequest("prefix: is required for rocrate (s3://bucket/prefix/ to search for RO-Crates)")
    if source == "omics" and texts["prefix"]:
        raise InvalidRequest("prefix: applies to rocrate only")
    if source == "rocrate" and texts["since"]:
        raise InvalidRequest("since: applies to omics only")
    limit = body.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit: must be an integer from 1 to {MAX_LIMIT}")
    return source, texts["since"], texts["prefix"], texts["cursor"], limit


def _allowed_prefix(settings: Settings, prefix: str | None) -> str:
    from ..s3paths import parse_folder

    try:
        folder = parse_folder(prefix, "prefix")
    except InvalidInput as exc:
        raise InvalidRequest(str(exc)) from None
    if not allow_lists.source_allowed(settings, folder.bucket, folder.prefix):
        raise NotAllowed(f"prefix {folder.uri} is not an allowed source", "source")
    return folder.uri


def _partly_queued(queued: list[Job], wanted: int, keyed: bool) -> PartlyQueued:
    ids = ", ".join(j.id for j in queued[:5]) + (f" and {len(queued) - 5} more" if len(queued) > 5 else "")
    retry = (
        "send the same body with the same Idempotency-Key to queue only the others"
        if keyed
        else "sending the body again queues every job again (packaging them twice changes nothing, but the "
        "jobs repeat): send it with an Idempotency-Key to queue only the others"
    )
    return PartlyQueued(f"{len(queued)} of {wanted} jobs were queued ({ids}); the others could not be: {retry}", queued)


# -- storing and handing over -----------------------------------------------------------------------
def _queue(svc: Services, job: Job, claim: IdempotencyClaim | None = None, reused: str = "") -> tuple[Job, bool]:
    """Store a queued job and hand it to the dispatcher; undo the store if it cannot be handed over.
    `reused`: what to add to the error of a key used with another body."""
    try:
        stored, created = svc.jobs.create(job, claim)
    except IdempotencyMismatch:
        raise KeyReused(f"Idempotency-Key: this key was already used with a different body{reused}") from None
    except QPSError as exc:
        raise NotQueued(str(exc)) from None
    if not created:
        return stored, False
    try:
        svc.dispatcher.submit(stored)
    except Exception as exc:
        log.error("could not queue job %s: %s", stored.id, type(exc).__name__)
        try:
            svc.jobs.delete(stored.id, claim)
        except Exception:
            log.exception("could not remove job %s that was never queued", stored.id)
        raise NotQueued("the job could not be queued; nothing was accepted, try again") from None
    return stored, True
