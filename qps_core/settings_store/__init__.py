"""Stored settings: what the admin page and `PATCH /v1/settings` change (docs/design.md §8).

One interface, two implementations: SQLite in the data directory (local, `qps serve`) and DynamoDB
(AWS, `QPS_SETTINGS_TABLE`). The store holds one versioned document of setting values plus an
audit log; every write names the version it read (optimistic concurrency) and is refused with
`StaleVersion` when another write came first. Precedence is applied in `qps_core.settings`.
"""

from __future__ import annotations

from typing import Any

from .model import NOT_STORABLE, AuditEntry, SettingsStore, StaleVersion, Stored, diff

__all__ = ["NOT_STORABLE", "AuditEntry", "SettingsStore", "StaleVersion", "Stored", "diff", "open_store"]


def open_store(settings: Any) -> SettingsStore:
    """DynamoDB when `settings_table` is set, else SQLite in the data directory."""
    if settings.settings_table:
        from .dynamodb import DynamoSettingsStore

        return DynamoSettingsStore(settings.settings_table, endpoint_url=settings.endpoint_url)
    from .sqlite import SqliteSettingsStore

    return SqliteSettingsStore(settings.state_dir / "settings.sqlite3")
