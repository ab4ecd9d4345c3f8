"""Settings: their fields and layers (`values`: environment > stored > config file > defaults, docs/design.md
§8) and the stored ones that the admin page and `PATCH /v1/settings` change.

Stored settings have one interface and two implementations: SQLite in the data directory (local,
`qps serve`: `sqlite_store`) and DynamoDB (AWS, `QPS_SETTINGS_TABLE`: `dynamodb_store`). The store
holds one versioned document of setting values plus an audit log; every write names the version it
read (optimistic concurrency) and is refused with `StaleVersion` when another write came first.
`effective` shows each value with where it comes from and validates writes.
"""

from __future__ import annotations

from .stored import (
    DEAD_LETTERS_AUDIT_NAME,
    NOT_STORABLE,
    AuditEntry,
    SessionRecord,
    SettingsStore,
    StaleVersion,
    Stored,
    diff,
)
from .values import (
    DEFAULT_SENTINELS,
    Settings,
    default_settings,
    deployment_defaults,
    env_keys,
    environment_values,
    layered_values,
    load_settings,
    load_with_origins,
    read_config_file,
)

__all__ = [
    "DEAD_LETTERS_AUDIT_NAME",
    "DEFAULT_SENTINELS",
    "NOT_STORABLE",
    "AuditEntry",
    "SessionRecord",
    "Settings",
    "SettingsStore",
    "StaleVersion",
    "Stored",
    "default_settings",
    "deployment_defaults",
    "diff",
    "env_keys",
    "environment_values",
    "layered_values",
    "load_settings",
    "load_with_origins",
    "open_store",
    "read_config_file",
]


def open_store(settings: Settings) -> SettingsStore:
    """DynamoDB when `settings_table` is set, else SQLite in the data directory."""
    if settings.settings_table:
        from .dynamodb_store import DynamoSettingsStore

        return DynamoSettingsStore(settings.settings_table, endpoint_url=settings.endpoint_url)
    from .sqlite_store import SqliteSettingsStore

    return SqliteSettingsStore(settings.state_dir / "settings.sqlite3")
