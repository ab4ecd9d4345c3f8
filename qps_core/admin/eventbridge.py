"""The EventBridge rule behind each switchable source (AWS): read its state, enable or disable it.

The stack always creates the HealthOmics and RO-Crate rules and tells QPS their names through the
`source_rules` setting (`QPS_SOURCE_RULES=omics=NAME,rocrate=NAME`). Locally there are none.
"""

from __future__ import annotations

from typing import Any

from .. import aws
from ..errors import QPSError

RuleState = str  # "ENABLED" | "DISABLED" | "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"


class RuleError(QPSError):
    """EventBridge refused or failed (one line, names the rule and the action)."""


class RuleSwitch:
    client = aws.LazyClient("events", connect_timeout=3, read_timeout=5, retries={"max_attempts": 2})

    def __init__(self, settings: Any, client: Any = None) -> None:
        self.rules: dict[str, str] = dict(settings.source_rules)
        self.bus = settings.event_bus_name or "default"
        self.endpoint_url = settings.endpoint_url
        self._client = client

    def state(self, source_id: str) -> RuleState | None:
        """The rule's actual state, or None when the source has no rule here."""
        name = self.rules.get(source_id)
        if name is None:
            return None
        try:
            return str(self.client.describe_rule(Name=name, EventBusName=self.bus)["State"])
        except Exception as exc:
            raise RuleError(f"DescribeRule {name}: {aws.reason(exc)}") from None

    def apply(self, source_id: str, enabled: bool) -> None:
        """Enable or disable the source's rule (nothing to do when it has none)."""
        name = self.rules.get(source_id)
        if name is None:
            return
        action = "EnableRule" if enabled else "DisableRule"
        try:
            call = self.client.enable_rule if enabled else self.client.disable_rule
            call(Name=name, EventBusName=self.bus)
        except Exception as exc:
            raise RuleError(f"{action} {name}: {aws.reason(exc)}") from None


def rule_matches(state: RuleState | None, enabled: bool) -> bool:
    if state is None:
        return True
    return state.startswith("ENABLED") == enabled
