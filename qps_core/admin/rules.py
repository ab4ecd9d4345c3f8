"""The EventBridge rule behind each switchable source (AWS): read its state, enable or disable it.

The stack always creates the HealthOmics and RO-Crate rules and tells QPS their names through the
`source_rules` setting (`QPS_SOURCE_RULES=omics=NAME,rocrate=NAME`). Locally there are none.
"""

from __future__ import annotations

from typing import Any

from ..errors import QPSError, one_line

RuleState = str  # "ENABLED" | "DISABLED" | "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"


class RuleError(QPSError):
    """EventBridge refused or failed (one line, names the rule and the action)."""


class RuleSwitch:
    def __init__(self, settings: Any, client: Any = None) -> None:
        self.rules: dict[str, str] = dict(settings.source_rules)
        self.bus = settings.event_bus_name or "default"
        self._endpoint_url = settings.endpoint_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            cfg = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 2})
            self._client = boto3.client("events", endpoint_url=self._endpoint_url, config=cfg)
        return self._client

    def has_rule(self, source_id: str) -> bool:
        return source_id in self.rules

    def state(self, source_id: str) -> RuleState | None:
        """The rule's actual state, or None when the source has no rule here."""
        name = self.rules.get(source_id)
        if name is None:
            return None
        try:
            return str(self.client.describe_rule(Name=name, EventBusName=self.bus)["State"])
        except Exception as exc:
            raise RuleError(f"DescribeRule {name}: {_reason(exc)}") from None

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
            raise RuleError(f"{action} {name}: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    error = getattr(exc, "response", {}).get("Error", {})
    if error.get("Code"):
        return f"{error['Code']}: {one_line(error.get('Message', ''))}".rstrip(": ")
    return one_line(exc) or type(exc).__name__


def rule_matches(state: RuleState | None, enabled: bool) -> bool:
    if state is None:
        return True
    return state.startswith("ENABLED") == enabled
