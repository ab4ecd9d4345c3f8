"""Stored settings: the types both stores share (see `qps_core.settings`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ..errors import QPSError

# Settings that locate the store, wire the deployment or grant access: environment or config file only.
NOT_STORABLE = frozenset(
    {
        "data_dir",
        "settings_table",
        "jobs_table",
        "queue_url",
        "endpoint_url",
        "rules_file",
        "source_rules",
        "api_tokens",
        "admin_tokens",
        "allowed_hosts",
    }
)


class StaleVersion(QPSError):
    """A write named a version that is no longer current: someone else changed the settings first."""

    def __init__(self, expected: int | None, current: int) -> None:
        super().__init__(f"the settings changed since version {expected} (now version {current}); reload and try again")
        self.current = current


@dataclass(frozen=True)
class Stored:
    """The stored document: values by setting name, and its version (0: nothing stored yet)."""

    values: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    updated_at: str | None = None
    updated_by: str | None = None

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


@dataclass(frozen=True)
class AuditEntry:
    """One changed setting: who, when, old → new (None: not stored, i.e. the lower layers apply)."""

    at: str
    actor: str
    name: str
    old: Any
    new: Any
    version: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "actor": self.actor,
            "name": self.name,
            "old": self.old,
            "new": self.new,
            "version": self.version,
        }


@dataclass(frozen=True)
class SessionRecord:
    """An admin page session, kept in the store so that every process sharing it honours a logout.
    `id` is the SHA-256 of the session id the cookie carries (never the id itself); `who` names the
    admin token by the first 16 hex digits of its hash (or `local`); times are ISO 8601 UTC,
    `expires` epoch seconds."""

    id: str
    who: str
    created: str
    last_seen: str
    expires: int


SESSIONS_AUDIT_NAME = "admin sessions"  # the audit entry of a logout (not a setting)
DEAD_LETTERS_AUDIT_NAME = "dead letters"  # the audit entry of a dead letter retried, deleted or redriven


class SettingsStore(Protocol):
    def read(self) -> Stored:
        """The current stored document (version 0 and no values when nothing was ever stored)."""
        ...

    def version(self) -> int:
        """The current version only (cheap: what running workers poll)."""
        ...

    def update(self, changes: dict[str, Any], *, expected_version: int, actor: str) -> Stored:
        """Apply `changes` (a value of None removes the stored value) if the version is still
        `expected_version`; record one audit entry per changed setting; return the new document.
        Raises StaleVersion otherwise. Changes equal to what is stored are not recorded."""
        ...

    def audit(self, limit: int = 100) -> list[AuditEntry]:
        """The most recent changes first."""
        ...

    def record(self, name: str, *, actor: str, old: Any, new: Any) -> None:
        """Record an audit entry for an admin action that is not a settings change (`name` says
        which, e.g. `DEAD_LETTERS_AUDIT_NAME`; `old`/`new` are short JSON values saying what)."""
        ...

    def session_secret(self) -> bytes:
        """A random 32-byte key, created on first use and the same for every process that shares
        the store (admin page sessions are signed with it). Never shown, never audited."""
        ...

    def session_put(self, record: SessionRecord) -> None:
        """Store a session (a new one, or one seen again: same id, later `last_seen`)."""
        ...

    def session_get(self, session_id: str) -> SessionRecord | None:
        """The session with this id, unless it ended (logout) or expired."""
        ...

    def session_list(self) -> list[SessionRecord]:
        """Every session that has not ended or expired, oldest first."""
        ...

    def session_end(self, session_ids: list[str] | None, *, actor: str) -> int:
        """End these sessions (None: every one) and record it in the audit log; returns how many ended."""
        ...


def diff(current: dict[str, Any], changes: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, Any, Any]]]:
    """The new values and the (name, old, new) triples that actually change."""
    values = dict(current)
    changed: list[tuple[str, Any, Any]] = []
    for name, new in sorted(changes.items()):
        old = values.get(name)
        if old == new:
            continue
        changed.append((name, old, new))
        if new is None:
            values.pop(name, None)
        else:
            values[name] = new
    return values, changed


def now() -> str:
    """UTC, millisecond precision, lexically sortable."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
