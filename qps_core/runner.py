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
import time
from typing import TYPE_CHECKING, Any, Protocol

from . import envelopes, logs, metrics
from .errors import IgnoredEvent, InvalidInput, PermanentError, QPSError, TransientError, describe_exception
from .events import Event
from .models import PackageRequest
from .outcomes import Plan, RunOutcome
from .plugins import AdapterSet, load_adapters
from .s3paths import is_quilt_internal
from .settings import Settings, default_settings

if TYPE_CHECKING:
    from .packaging import PackageResult

log = logging.getLogger("qps.runner")


class Packager(Protocol):
    """Builds the package a request describes (`qps_core.packaging.Packager`, or a test double)."""

    def package(self, request: PackageRequest) -> PackageResult: ...


class Notifier(Protocol):
    """Publishes a completion notice per outcome (`qps_core.notices.Notifier`, or a test double)."""

    def publish(self, outcome: RunOutcome) -> None: ...


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
            from .packaging import Packager as S3Packager

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
                requests = [self._with_source_filters(adapter_id, r) for r in requests]
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
                decided = Plan(event, "ignored", adapter=off, reason=switched_off_reason(self.adapters.label(off), off))
            else:
                decided = Plan(event, "ignored", reason=f"no enabled adapter claims this {event.describe()}")
        decided.also_claimed_by = claimants
        decided.adapter_errors = errors
        return decided

    def _with_source_filters(self, adapter_id: str, request: PackageRequest) -> PackageRequest:
        """The `source_filters` setting: the adapter's default include/exclude, unless the request has its own."""
        return request.with_filters(self.settings.source_filters.get(adapter_id))

    def run_event(self, event: Event, *, dry_run: bool = False) -> tuple[Plan, list[RunOutcome]]:
        """Plan one event, package what it implies, and publish a completion notice per request."""
        plan = self.plan_event(event)
        if plan.status in ("ignored", "rejected") and not dry_run:
            metrics.package_outcome(plan.status, plan.adapter)
        if plan.status == "ignored":
            return plan, [RunOutcome("ignored", plan.adapter, reason=plan.reason)]
        if plan.status == "rejected":
            return plan, [RunOutcome("rejected", plan.adapter, error=plan.error)]
        if dry_run:
            return plan, [RunOutcome("planned", plan.adapter, request) for request in plan.requests]
        return plan, [self.package(request, plan.adapter) for request in plan.requests]

    # -- packaging ----------------------------------------------------------------------------
    def package(self, request: PackageRequest, adapter: str | None = None) -> RunOutcome:
        """Package one request (planned by `adapter`, or accepted as a job) and publish its completion
        notice. Never raises for what packaging reports: every end is an outcome."""
        with logs.bound(adapter=adapter, registry=request.registry, package_name=request.package_name):
            return self._package(request, adapter)

    def _package(self, request: PackageRequest, adapter: str | None) -> RunOutcome:
        started = time.monotonic()
        paths: dict[str, int] | None = None
        try:
            request = self.prepare(request, adapter)
            result = self.packager.package(request)
            paths = getattr(result, "checksum_paths", None)
            outcome = RunOutcome.packaged(adapter, result)
        except InvalidInput as exc:
            outcome = RunOutcome("rejected", adapter, request, error=str(exc))
        except QPSError as exc:
            outcome = RunOutcome(
                "failed",
                adapter,
                request,
                error=str(exc),
                retryable=not exc.permanent,
                retry_after=getattr(exc, "retry_after", None),
            )
        except Exception as exc:  # a bug, not the input's fault: report it, keep going
            log.exception("packaging %s failed unexpectedly", request.source_prefix)
            outcome = RunOutcome("failed", adapter, request, error=describe_exception(exc), retryable=True)
        metrics.package_outcome(
            outcome.status,
            adapter,
            seconds=time.monotonic() - started,
            files=outcome.files,
            size=outcome.bytes,
            checksum_paths=paths,
        )
        try:
            self.notifier.publish(outcome)
        except Exception as exc:  # a notice is best effort; the package exists
            metrics.notice_not_published()
            log.warning("could not publish the notice of %s: %s", request.source_prefix, type(exc).__name__)
        return outcome

    def prepare(self, request: PackageRequest, adapter: str | None) -> PackageRequest:
        """The request as the planning adapter completes it at packaging time (its optional
        `qps_prepare_request` hook: I/O allowed, e.g. HealthOmics `GetRun`), checked like any request.
        Raises InvalidInput (rejected) or a QPSError (failed; transient or permanent)."""
        prepare = self.adapters.preparer(adapter)
        if prepare is not None:
            try:
                results = prepare(request=request, settings=self.settings)
            except QPSError:
                raise
            except Exception as exc:  # the adapter's bug: retryable, named, never a traceback
                raise TransientError(_adapter_failure(str(adapter), exc)) from None
            if results:
                prepared = results[0]
                if not isinstance(prepared, PackageRequest):
                    raise PermanentError(f"adapter {adapter!r} prepared {type(prepared).__name__}, not PackageRequest")
                request = PackageRequest.parse(prepared.normalised(), **self.settings.request_context())
                request = request.with_default_message()
        if request.deferred:
            raise InvalidInput(
                f"source_prefix: {request.source_prefix} is a placeholder that adapter {adapter!r} did not "
                "replace with the real folder"
            )
        return request


def switched_off_reason(label: str, adapter_id: str) -> str:
    return f"the {label} source (adapter {adapter_id!r}) is switched off"


def _with_message(adapter_id: str, request: Any) -> PackageRequest:
    if not isinstance(request, PackageRequest):
        raise TypeError(f"adapter {adapter_id!r} returned {type(request).__name__}, not PackageRequest")
    return request.with_default_message()


def _adapter_failure(adapter_id: str, exc: Exception) -> str:
    return f"adapter {adapter_id!r} failed: {describe_exception(exc)}"
