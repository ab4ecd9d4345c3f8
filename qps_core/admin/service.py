"""What the admin page and the settings/sources API do, independent of HTML or JSON.

One `Admin` per app (`ApiContext.admin`): the settings store the app follows (`ApiContext.live`:
stored changes reach the API, its worker pool and, within `settings_refresh_seconds`, every other
process), the EventBridge rules and the one-time login codes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, QPSError
from ..plugins import AdapterInfo, load_adapters
from ..settings import SessionRecord, Settings, SettingsStore, Stored, env_keys
from ..settings.effective import Effective, apply_changes, load_with_origins_for
from ..settings.stored import now
from .eventbridge import RuleError, RuleSwitch, rule_matches
from .session import LoginCodes, Session, use_shared_key

if TYPE_CHECKING:
    from ..api.context import ApiContext

log = logging.getLogger("qps.admin")
SEEN_EVERY_SECONDS = 60  # a session's "last seen" is written at most this often


@dataclass
class SourceRow:
    id: str
    label: str
    does: str
    enabled: bool  # desired state: the switch
    locked: str | None  # why the switch cannot be changed here (environment), else None
    runs: bool  # whether the runtime runs the adapter now (switch and disable/enable_adapters)
    rule: str | None  # the EventBridge rule name, when the source has one
    rule_state: str | None
    rule_error: str | None
    drift: bool
    last_job: Any = None
    error: str | None = None  # after a failed switch

    def as_dict(self) -> dict[str, Any]:
        last = self.last_job
        return {
            "id": self.id,
            "label": self.label,
            "description": self.does,
            "enabled": self.enabled,
            "locked": self.locked,
            "runs": self.runs,
            "rule": self.rule,
            "rule_state": self.rule_state,
            "rule_error": self.rule_error,
            "drift": self.drift,
            "last_job": None
            if last is None
            else {
                "id": last.id,
                "status": last.status,
                "created_at": last.created_at,
                "links": {"self": f"/v1/jobs/{last.id}"},
            },
        }


class SwitchFailed(QPSError):
    """The rule could not be switched; the stored switch was put back."""


class Admin:
    def __init__(self, context: ApiContext, rules: RuleSwitch | None = None) -> None:
        if context.live is None:
            raise ValueError("the admin page needs an ApiContext that follows stored settings (context.live)")
        self.context = context
        self.live = context.live
        self.store: SettingsStore = context.live.store
        self.login_codes = LoginCodes()
        self._rules = rules
        self._rules_for: Any = context.settings if rules is not None else None
        use_shared_key(self.store.session_secret)  # read on the first login, not at cold start

    # -- live settings ------------------------------------------------------------------------
    def refresh(self, *, force: bool = False) -> None:
        self.context.refresh(force=force)

    @property
    def settings(self) -> Settings:
        return self.context.settings

    @property
    def rules(self) -> RuleSwitch:
        """The EventBridge rules as the current settings name them."""
        if self._rules is None or self._rules_for is not self.settings:
            self._rules = RuleSwitch(self.settings)
            self._rules_for = self.settings
        return self._rules

    # -- settings -----------------------------------------------------------------------------
    def effective(self) -> Effective:
        stored = self.store.read()
        return load_with_origins_for(self.live.base or self.settings, stored)

    def change(self, changes: Any, *, expected_version: int, actor: str) -> Stored:
        stored = apply_changes(self.store, changes, expected_version=expected_version, actor=actor)
        self.refresh(force=True)
        return stored

    # -- admin sessions (records in the settings store: a logout holds in every process) -------
    def session_started(self, session: Session) -> None:
        at = now()
        self.store.session_put(SessionRecord(session.record_id, session.who, at, at, session.expires))

    def session_active(self, session: Session) -> bool:
        """Whether the session's record is still there (not logged out); notes when it was last seen.
        A store that does not answer ends nothing but lets no one in (fails closed)."""
        try:
            record = self.store.session_get(session.record_id)
            if record is None:
                return False
            seen = datetime.fromisoformat(record.last_seen.replace("Z", "+00:00"))
            if (datetime.now(UTC) - seen).total_seconds() >= SEEN_EVERY_SECONDS:
                self.store.session_put(replace(record, last_seen=now()))
            return True
        except QPSError as exc:
            log.warning("admin sessions: the settings store did not answer: %s", exc)
            return False

    def active_sessions(self) -> list[SessionRecord]:
        return self.store.session_list()

    def end_sessions(self, session: Session | None, *, actor: str) -> int:
        """Log out `session`, or every session (None); recorded in the audit log."""
        return self.store.session_end(None if session is None else [session.record_id], actor=actor)

    # -- sources ------------------------------------------------------------------------------
    def adapter_infos(self) -> dict[str, AdapterInfo]:
        return load_adapters(self.settings.model_copy(update={"sources": {}}), load_disabled=True).infos

    def sources(self, *, with_rules: bool = True, with_jobs: bool = True) -> list[SourceRow]:
        infos = self.adapter_infos()
        last_jobs = self._last_jobs() if with_jobs else {}
        return [self.source_row(i, infos[i], with_rules, last_jobs.get(i)) for i in ordered(infos)]

    def source(self, source_id: str) -> SourceRow:
        infos = self.adapter_infos()
        if source_id not in infos:
            raise KeyError(source_id)
        return self.source_row(source_id, infos[source_id], True, self._last_jobs().get(source_id))

    def source_row(self, source_id: str, info: AdapterInfo, with_rules: bool, last_job: Any) -> SourceRow:
        settings = self.settings
        enabled = settings.sources.get(source_id, True)
        locked = None
        if "sources" in env_keys():
            locked = "fixed by the environment variable QPS_SOURCES"
        elif source_id in settings.disable_adapters:
            locked = "turned off by the disable_adapters setting"
        elif settings.enable_adapters and source_id not in settings.enable_adapters:
            locked = "not in the enable_adapters setting"
        rule = settings.source_rules.get(source_id)
        state = error = None
        if rule and with_rules:
            try:
                state = self.rules.state(source_id)
            except RuleError as exc:
                error = str(exc)
        drift = bool(rule and state is not None and not rule_matches(state, enabled))
        return SourceRow(
            source_id,
            info.label,
            info.switch_description or info.description or f"The {source_id} adapter",
            enabled,
            locked,
            settings.adapter_enabled(source_id),
            rule,
            state,
            error,
            drift,
            last_job,
        )

    def _last_jobs(self) -> dict[str, Any]:
        """The newest job each adapter produced (among the last 100 jobs)."""
        found: dict[str, Any] = {}
        try:
            page = self.context.jobs.list(limit=100)
        except Exception as exc:
            log.warning("could not list jobs: %s", exc)
            return found
        for job in page.items:
            adapter = job.trigger.adapter
            if adapter and adapter not in found:
                found[adapter] = job
        return found

    def switch(self, source_id: str, enabled: bool, *, expected_version: int, actor: str) -> Stored:
        """Store the switch (optimistic concurrency), then set the source's rule. If the rule cannot
        be set, the stored switch is put back and SwitchFailed says why."""
        infos = self.adapter_infos()
        if source_id not in infos:
            raise KeyError(source_id)
        current = self.store.read()
        old = dict(self.settings.sources)
        new = {**old, source_id: enabled}
        stored = self.change({"sources": new}, expected_version=expected_version, actor=actor)
        try:
            self.rules.apply(source_id, enabled)
        except RuleError as exc:
            previous = current.values.get("sources")
            try:
                self.store.update({"sources": previous}, expected_version=stored.version, actor=f"{actor} (undo)")
            except QPSError as undo:  # someone changed the settings meanwhile: the page shows the drift
                log.warning("could not put the switch of %s back: %s", source_id, undo)
            self.refresh(force=True)
            word = "on" if enabled else "off"
            raise SwitchFailed(f"could not switch {infos[source_id].label} {word}: {exc}") from None
        return stored

    def reapply(self, source_id: str) -> None:
        """Set the rule to the stored switch again (after drift)."""
        row = self.source(source_id)
        if row.rule is None:
            raise InvalidInput(f"source {source_id!r} has no EventBridge rule here")
        self.rules.apply(source_id, row.enabled)


def ordered(infos: dict[str, AdapterInfo]) -> list[str]:
    """Sources that name themselves (`LABEL`) first, by label, then the rest by id."""
    labelled = sorted((i for i in infos.values() if i.label != i.id), key=lambda i: (i.label.lower(), i.id))
    first = [i.id for i in labelled]
    return first + sorted(i for i in infos if i not in first)
