"""One runner: envelopes → events → enabled adapters → package requests (→ packager).

Dispatch rule (documented in docs/plugins.md): every enabled adapter is asked about every event,
in consultation order (`Settings.adapter_order` first, then pluggy priority: `tryfirst` adapters,
normal ones, `trylast` ones; alphabetical by id within a priority). The first adapter that plans,
rejects or deliberately ignores (`IgnoredEvent`) the event decides it; every later adapter that
would also have planned it is listed in `also_claimed_by`. An adapter that raises an unexpected
exception is reported by id and never stops the others. Events under the bucket-root `.quilt/`
prefix are never offered to adapters.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, Protocol

from . import envelopes
from .errors import IgnoredEvent, InvalidInput, QPSError, describe_exception
from .events import Event
from .models import PackageRequest
from .outcomes import Plan, RunOutcome
from .plugins import AdapterSet, load_adapters
from .s3paths import is_quilt_internal
from .settings import Settings, default_settings

log = logging.getLogger("qps.runner")


class PackagedResult(Protocol):
    """What a packager reports about one request it built or found unchanged."""

    @property
    def status(self) -> Literal["created", "unchanged"]: ...
    @property
    def top_hash(self) -> str: ...
    @property
    def files(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def request(self) -> PackageRequest:
        """The request as packaged (a path naming an object becomes that object's folder)."""
        ...


class Packager(Protocol):
    """Builds the package a request describes (`qps_core.packager.Packager`, or a test double)."""

    def package(self, request: PackageRequest) -> PackagedResult: ...


class Notifier(Protocol):
    """Publishes a completion notice per outcome (`qps_core.notices.Notifier`, or a test double)."""

    def publish(self, outcome: RunOutcome) -> None: ...


def default_message(request: PackageRequest) -> str:
    """The same folder gets the same message whichever event asked for it, so re-deliveries and
    overlapping events (an RO-Crate sentinel and a package-objects-ready event) find it unchanged."""
    return f"QPS: package {request.source_prefix}"


class Runner:
    """Plans events with the enabled adapters. Built once (per process, per Lambda cold start)."""

    def __init__(
        self,
        settings: Settings | None = None,
        adapters: AdapterSet | None = None,
        packager: Packager | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings or default_settings()
        self.adapters = adapters or load_adapters(self.settings)
        self._packager = packager
        self._notifier = notifier

    @property
    def packager(self) -> Packager:
        """The shared packager, created on first use (quilt3 and boto3 load only then)."""
        if self._packager is None:
            from .packager import Packager as S3Packager

            self._packager = S3Packager(self.settings)
        return self._packager

    @property
    def notifier(self) -> Notifier:
        """Completion notices (a no-op unless a bus or topic is set)."""
        if self._notifier is None:
            from .notices import Notifier as BusNotifier

            self._notifier = BusNotifier(self.settings)
        return self._notifier

    # -- planning ---------------------------------------------------------------------------
    def plan_value(self, value: Any) -> list[Plan]:
        return [self.plan_event(e) for e in envelopes.unwrap(value)]

    def plan_bytes(self, data: bytes | str) -> list[Plan]:
        return [self.plan_event(e) for e in envelopes.unwrap_bytes(data)]

    def plan_event(self, event: Event) -> Plan:
        if event.kind == "broken":
            return Plan(event, "rejected", error=event.note or "the record could not be read")
        if event.kind == "skipped":
            return Plan(event, "ignored", reason=event.note)
        s3obj = event.s3_object
        if s3obj is not None and is_quilt_internal(s3obj.key):
            return Plan(event, "ignored", reason=f"{s3obj.key!r} is under .quilt/, where package pushes write")

        decided: Plan | None = None
        claimants: list[str] = []
        errors: list[str] = []
        for adapter_id, describe in self.adapters.implementations():
            try:
                results = describe(event=event, settings=self.settings)  # [] when the adapter returned None
                if not results:
                    continue
                requests = [_with_message(adapter_id, r) for r in results[0]]
            except IgnoredEvent as exc:
                outcome = Plan(event, "ignored", adapter=adapter_id, reason=str(exc))
            except InvalidInput as exc:
                outcome = Plan(event, "rejected", adapter=adapter_id, error=str(exc))
            except Exception as exc:
                message = _adapter_failure(adapter_id, exc)
                log.warning("%s", message)
                errors.append(message)
                continue
            else:
                if requests:
                    outcome = Plan(event, "planned", adapter=adapter_id, requests=requests)
                else:
                    outcome = Plan(event, "ignored", adapter=adapter_id, reason="the adapter found nothing to package")
            if decided is None:
                decided = outcome
            elif outcome.status == "planned":  # a competing plan; a fallback's rejection is no competition
                claimants.append(adapter_id)
        if decided is None:
            if errors:  # it may have been that adapter's event: never drop it silently
                decided = Plan(event, "rejected", error=errors[0])
            elif (off := self.adapters.switched_off_claimant(event)) is not None:
                decided = Plan(event, "ignored", adapter=off, reason=switched_off_reason(off))
            else:
                decided = Plan(event, "ignored", reason=f"no enabled adapter claims this {event.describe()}")
        decided.also_claimed_by = claimants
        decided.adapter_errors = errors
        return decided

    def run_event(self, event: Event, *, dry_run: bool = False) -> tuple[Plan, list[RunOutcome]]:
        """Plan one event, package what it implies, and publish a completion notice per request."""
        plan = self.plan_event(event)
        if plan.status != "planned" or dry_run:
            return plan, execute_plan(plan, None, dry_run=dry_run)
        outcomes = execute_plan(plan, self.packager)
        for outcome in outcomes:
            self.notifier.publish(outcome)
        return plan, outcomes


def switched_off_reason(adapter_id: str) -> str:
    from .sources import source_label

    return f"the {source_label(adapter_id)} source (adapter {adapter_id!r}) is switched off"


def _with_message(adapter_id: str, request: Any) -> PackageRequest:
    if not isinstance(request, PackageRequest):
        raise TypeError(f"adapter {adapter_id!r} returned {type(request).__name__}, not PackageRequest")
    if request.message is None:
        return request.model_copy(update={"message": default_message(request)})
    return request


def _adapter_failure(adapter_id: str, exc: Exception) -> str:
    return f"adapter {adapter_id!r} failed: {describe_exception(exc)}"


def execute_plan(plan: Plan, packager: Packager | None, *, dry_run: bool = False) -> list[RunOutcome]:
    """Package every request of a plan; one outcome per request (or one for an ignored/rejected event).

    Without a packager (or with `dry_run`) every request is reported as planned."""
    if plan.status == "ignored":
        return [RunOutcome("ignored", plan.adapter, reason=plan.reason)]
    if plan.status == "rejected":
        return [RunOutcome("rejected", plan.adapter, error=plan.error)]
    outcomes: list[RunOutcome] = []
    for request in plan.requests:
        if dry_run or packager is None:
            outcomes.append(RunOutcome("planned", plan.adapter, request))
            continue
        try:
            result = packager.package(request)
        except InvalidInput as exc:
            outcomes.append(RunOutcome("rejected", plan.adapter, request, error=str(exc)))
        except QPSError as exc:
            outcomes.append(
                RunOutcome(
                    "failed",
                    plan.adapter,
                    request,
                    error=str(exc),
                    retryable=not exc.permanent,
                    retry_after=getattr(exc, "retry_after", None),
                )
            )
        except Exception as exc:  # a bug, not the input's fault: report it, keep going
            log.exception("packaging %s failed unexpectedly", request.source_prefix)
            outcomes.append(RunOutcome("failed", plan.adapter, request, error=describe_exception(exc), retryable=True))
        else:
            outcomes.append(
                RunOutcome(result.status, plan.adapter, result.request, result.top_hash, result.files, result.bytes)
            )
    return outcomes
