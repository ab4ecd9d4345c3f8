"""The testing kit for adapter authors: an event in, its package requests (or rejection) out, no AWS.

    from qps_core.testing import make_runner, only_request, plan_one

    runner = make_runner(plugins={"lims": qps_adapter_lims})  # only the adapter under test
    request = only_request(plan_one(Path("tests/export-completed.json"), runner))
    assert request.package_name == "batches/batch-0412"

Events go through the same envelope unwrapping, dispatch and request validation as `qps plan`,
with settings built from defaults (any `QPS_*` variable of the caller is ignored). Works under any
test runner: failures are plain `AssertionError`s.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest import mock

from .models import PackageRequest
from .outcomes import Plan
from .plugins import load_adapters, new_adapter_set
from .runner import Runner
from .settings import Settings, load_settings

__all__ = [
    "Plan",
    "Runner",
    "fresh_settings",
    "load_event",
    "make_runner",
    "only_request",
    "plan",
    "plan_one",
    "rejection_of",
    "requests_of",
    "sqs_batch",
]


def fresh_settings(**overrides: Any) -> Settings:
    """Settings from the defaults plus `overrides`, ignoring the caller's `QPS_*` variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QPS_")}
    with mock.patch.dict(os.environ, clean, clear=True):
        return load_settings(**overrides)


def load_event(path: str | Path) -> Any:
    """The parsed JSON of an event file (to modify before planning it)."""
    return json.loads(Path(path).read_bytes())


def make_runner(*adapter_ids: str, plugins: Mapping[str, object] | None = None, **overrides: Any) -> Runner:
    """A runner that consults only the adapters under test.

    - `adapter_ids`: installed adapters (entry points in `qps.adapters`), only these;
    - `plugins`: adapter modules or objects by id, registered directly (no install needed);
    - neither: every installed, enabled adapter, as `qps plan` would consult them.

    `overrides` are settings (`default_prefix=...`, `allowed_registries=[...]`). An adapter that fails
    to load fails here, with its one-line error.
    """
    plugins = dict(plugins or {})
    wanted = [*adapter_ids, *plugins]
    if wanted:
        overrides.setdefault("enable_adapters", wanted)
    settings = fresh_settings(**overrides)
    adapters = load_adapters(settings) if adapter_ids or not plugins else new_adapter_set(settings)
    missing = [i for i in adapter_ids if i not in adapters.infos]
    _check(not missing, f"not installed: {', '.join(missing)} (installed: {', '.join(sorted(adapters.infos))})")
    for adapter_id, plugin in plugins.items():
        adapters.register(plugin, adapter_id)
    problems = [f"adapter {i.id!r}: {i.error}" for i in adapters.infos.values() if i.error and i.id in wanted]
    _check(not problems, "; ".join(problems))
    return Runner(settings, adapters)


def plan(source: Path | str | bytes | Any, runner: Runner | None = None) -> list[Plan]:
    """One plan per event in `source`, in order.

    `source` is an event file (`Path`), raw JSON text (`str`/`bytes`, parsed strictly as `qps plan`
    reads files), or an already-parsed value (`dict`/`list`). Envelopes (SQS, SNS, S3 notification
    batches, EventBridge) are unwrapped first. `runner` defaults to every installed adapter.
    """
    runner = runner or make_runner()
    if isinstance(source, Path):
        return runner.plan_bytes(source.read_bytes())
    if isinstance(source, str | bytes):
        return runner.plan_bytes(source)
    return runner.plan_value(source)


def plan_one(source: Path | str | bytes | Any, runner: Runner | None = None) -> Plan:
    """The plan of a source that holds exactly one event."""
    plans = plan(source, runner)
    _check(len(plans) == 1, f"{_label(source)} holds {len(plans)} events, not 1")
    return plans[0]


def requests_of(result: Plan) -> list[PackageRequest]:
    """The requests of a planned event (validated and normalised as the packager receives them)."""
    _check(result.status == "planned", _unexpected(result, "planned"))
    return list(result.requests)


def only_request(result: Plan) -> PackageRequest:
    """The single request of a planned event."""
    requests = requests_of(result)
    _check(len(requests) == 1, f"{len(requests)} requests planned, not 1: {[r.source_prefix for r in requests]}")
    return requests[0]


def rejection_of(result: Plan) -> str:
    """The one-line error of a rejected event (what the sender sees; never retried)."""
    _check(result.status == "rejected", _unexpected(result, "rejected"))
    return result.error or ""


def sqs_batch(*bodies: Any) -> dict[str, Any]:
    """A Lambda SQS batch carrying these message bodies (JSON-encoded unless already strings), shaped
    like the ones the `QuiltPackager` queue delivers: to test an adapter's body arriving through SQS."""
    records = []
    for n, body in enumerate(bodies):
        text = body if isinstance(body, str) else json.dumps(body)
        records.append(
            {
                "messageId": f"00000000-0000-4000-8000-{n:012d}",
                "receiptHandle": "AQEB",
                "body": text,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:quilt-prod-PackagerQueue-1N4X2QZ7RLF3D",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def _check(condition: bool, message: str) -> None:
    if not condition:  # not `assert`: the kit must also fail under `python -O`
        raise AssertionError(message)


def _unexpected(result: Plan, wanted: str) -> str:
    why = result.error or result.reason or ""
    errors = f"; adapter errors: {'; '.join(result.adapter_errors)}" if result.adapter_errors else ""
    return f"expected {wanted}, got {result.status} (adapter {result.adapter}): {why}{errors}"


def _label(source: Any) -> str:
    return str(source) if isinstance(source, Path) else type(source).__name__
