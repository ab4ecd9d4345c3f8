"""Which job store a process uses: DynamoDB when `jobs_table` is set, else SQLite in the data directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import Settings
    from .store import JobStore


def data_dir() -> Path:
    """QPS's data directory: `QPS_DATA_DIR`, else `$XDG_DATA_HOME/qps` (default ~/.local/share/qps)."""
    explicit = os.environ.get("QPS_DATA_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "qps"


def open_job_store(settings: Settings, *, local: bool = True) -> JobStore | None:
    """The configured store: DynamoDB when `jobs_table` is set, else SQLite in the data directory
    (or None when `local` is False: a Lambda function without a table records no jobs)."""
    if settings.jobs_table:
        from .dynamodb import DynamoJobStore

        return DynamoJobStore(settings.jobs_table, endpoint_url=settings.endpoint_url, ttl_days=settings.job_ttl_days)
    if not local:
        return None
    from .sqlite import SqliteJobStore

    path = settings.data_dir or data_dir()
    return SqliteJobStore(Path(path) / "jobs.sqlite3")
