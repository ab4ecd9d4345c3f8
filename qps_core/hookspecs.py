"""The QPS hook specification: how an adapter turns an event into package requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .events import Event
    from .models import PackageRequest
    from .settings import Settings

PROJECT = "qps"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def qps_describe_event(event: Event, settings: Settings) -> list[PackageRequest] | None:
    """Turn one event into the package requests it implies.

    Return `None` when the event is not this adapter's (another adapter may claim it).
    Return a list (possibly empty) of requests when the adapter claims it.
    Raise `qps_core.errors.RejectedEvent` when the event is this adapter's but invalid (never retried),
    or `qps_core.errors.IgnoredEvent` to claim it and deliberately do nothing, with a reason.
    """


@hookspec
def qps_startup(settings: Settings) -> None:
    """Called once after the adapter is loaded, before any event.

    Load and check configuration here (rules files, lookups). Raise `qps_core.errors.ConfigError`
    to disable this adapter with a one-line reason; the other adapters go on.
    """


@hookspec
def qps_prepare_request(request: PackageRequest, settings: Settings) -> PackageRequest | None:
    """Optional, packaging-time: complete a request this adapter planned, just before it is packaged.

    Called only for the adapter that planned the request (also when it comes back as a job), never
    while planning (`qps plan` stays offline). It may do I/O: look up what the thin event did not
    carry (HealthOmics `GetRun`, an ELN entry) and return the enriched request, or `None` to package
    it as it is. A request planned with a deferred folder (`adapter_api.deferred_request`) must be
    returned with its real folder. Raise `qps_core.errors.TransientError` to retry later,
    `PermanentError` or `RejectedEvent` to fail the request for good. Keep the result deterministic
    (no lookup times, no request ids): the same run must give the same package (`unchanged`).
    """
