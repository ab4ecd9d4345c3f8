"""User rules: JMESPath expressions that match events and build package requests from them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..adapter_api import (
    Event,
    PackageRequest,
    RejectedEvent,
    Settings,
    hookimpl,
    request_from_body,
)

if TYPE_CHECKING:
    from .jmespath_rules import Rule

_LOADED: dict[Path, list[Rule]] = {}


def rules_for(settings: Settings) -> list[Rule]:
    """The compiled rules of `settings.rules_file`, read once per process (at `qps_startup`)."""
    path = settings.rules_file
    if path is None:
        return []
    if path not in _LOADED:
        from .jmespath_rules import load_rules

        _LOADED[path] = load_rules(Path(path))
    return _LOADED[path]


def event_view(event: Event) -> dict[str, Any]:
    """What rule expressions see: the raw event plus a decoded, shape-independent `s3` view."""
    s3obj = event.s3_object
    return {
        "kind": event.kind,
        "event": event.payload,
        "source": event.source,
        "detail_type": event.detail_type,
        "detail": event.detail,
        "s3": s3obj.as_dict() if s3obj else None,
    }


@hookimpl
def qps_startup(settings: Settings) -> None:
    rules_for(settings)


@hookimpl(tryfirst=True)
def qps_describe_event(event: Event, settings: Settings) -> list[PackageRequest] | None:
    rules = rules_for(settings)
    if not rules:
        return None
    data = event_view(event)
    requests: list[PackageRequest] = []
    for rule in rules:
        if not rule.matches(data):
            continue
        try:
            request = request_from_body(rule.build(data), settings)
        except RejectedEvent as exc:
            text = str(exc)
            raise RejectedEvent(text if text.startswith("rule ") else f"rule {rule.name!r}: {text}") from None
        if request not in requests:
            requests.append(request)
    return requests or None
