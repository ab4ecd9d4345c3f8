"""Stored settings in a SQLite file (local: `qps serve`, `qps worker`, the CLI)."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .stored import SESSIONS_AUDIT_NAME, AuditEntry, SessionRecord, StaleVersion, Stored, diff, now

if TYPE_CHECKING:
    import sqlite3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings_document (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    vals TEXT NOT NULL,
    updated_at TEXT,
    updated_by TEXT
);
CREATE TABLE IF NOT EXISTS settings_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS settings_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    name TEXT NOT NULL,
    old TEXT,
    new TEXT,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS admin_sessions (
    id TEXT PRIMARY KEY,
    who TEXT NOT NULL,
    created TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    expires INTEGER NOT NULL
);
"""


class SqliteSettingsStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        if not create and not self.path.exists():
            return None  # nothing stored (a Lambda without a settings table): sqlite3 is not even imported
        import sqlite3

        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the settings store {self.path}: {exc}") from None
        return conn

    def read(self) -> Stored:
        conn = self._connect(create=False)
        if conn is None:
            return Stored()
        with conn:
            row = conn.execute("SELECT version, vals, updated_at, updated_by FROM settings_document").fetchone()
        conn.close()
        if row is None:
            return Stored()
        return Stored(json.loads(row[1]), row[0], row[2], row[3])

    def version(self) -> int:
        conn = self._connect(create=False)
        if conn is None:
            return 0
        row = conn.execute("SELECT version FROM settings_document").fetchone()
        conn.close()
        return int(row[0]) if row else 0

    def update(self, changes: dict[str, Any], *, expected_version: int, actor: str) -> Stored:
        conn = self._connect(create=True)
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")  # one writer at a time: read-check-write is atomic
            row = conn.execute("SELECT version, vals, updated_at, updated_by FROM settings_document").fetchone()
            current = Stored(json.loads(row[1]), row[0], row[2], row[3]) if row else Stored()
            if current.version != expected_version:
                raise StaleVersion(expected_version, current.version)
            values, changed = diff(current.values, changes)
            if not changed:
                conn.execute("ROLLBACK")
                return current
            at, version = now(), current.version + 1
            conn.execute(
                "INSERT INTO settings_document (id, version, vals, updated_at, updated_by) VALUES (1, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET version = excluded.version, vals = excluded.vals, "
                "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                (version, json.dumps(values, sort_keys=True), at, actor),
            )
            conn.executemany(
                "INSERT INTO settings_audit (at, actor, name, old, new, version) VALUES (?, ?, ?, ?, ?, ?)",
                [(at, actor, name, json.dumps(old), json.dumps(new), version) for name, old, new in changed],
            )
            conn.execute("COMMIT")
            return Stored(values, version, at, actor)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def session_secret(self) -> bytes:
        conn = self._connect(create=True)
        assert conn is not None
        try:
            conn.execute("INSERT OR IGNORE INTO settings_secret (id, secret) VALUES (1, ?)", (secrets.token_bytes(32),))
            return bytes(conn.execute("SELECT secret FROM settings_secret").fetchone()[0])
        finally:
            conn.close()

    def audit(self, limit: int = 100) -> list[AuditEntry]:
        conn = self._connect(create=False)
        if conn is None:
            return []
        rows = conn.execute(
            "SELECT at, actor, name, old, new, version FROM settings_audit ORDER BY seq DESC LIMIT ?", (limit,)
        ).fetchall()
        conn.close()
        return [AuditEntry(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4]), r[5]) for r in rows]

    # -- admin sessions ------------------------------------------------------------------------
    def session_put(self, record: SessionRecord) -> None:
        conn = self._connect(create=True)
        assert conn is not None
        try:
            conn.execute(
                "INSERT INTO admin_sessions (id, who, created, last_seen, expires) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
                (record.id, record.who, record.created, record.last_seen, record.expires),
            )
        finally:
            conn.close()

    def session_get(self, session_id: str) -> SessionRecord | None:
        conn = self._connect(create=False)
        if conn is None:
            return None
        try:
            row = conn.execute(
                "SELECT id, who, created, last_seen, expires FROM admin_sessions WHERE id = ? AND expires > ?",
                (session_id, int(time.time())),
            ).fetchone()
        finally:
            conn.close()
        return SessionRecord(*row) if row else None

    def session_list(self) -> list[SessionRecord]:
        conn = self._connect(create=False)
        if conn is None:
            return []
        try:
            rows = conn.execute(
                "SELECT id, who, created, last_seen, expires FROM admin_sessions WHERE expires > ? ORDER BY created",
                (int(time.time()),),
            ).fetchall()
        finally:
            conn.close()
        return [SessionRecord(*row) for row in rows]

    def record(self, name: str, *, actor: str, old: Any, new: Any) -> None:
        conn = self._connect(create=True)
        assert conn is not None
        try:
            _insert_audit(conn, name, actor, old, new)
        finally:
            conn.close()

    def session_end(self, session_ids: list[str] | None, *, actor: str) -> int:
        conn = self._connect(create=True)
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM admin_sessions WHERE expires <= ?", (int(time.time()),))
            if session_ids is None:
                ended = conn.execute("DELETE FROM admin_sessions").rowcount
            else:
                ended = sum(
                    conn.execute("DELETE FROM admin_sessions WHERE id = ?", (sid,)).rowcount for sid in session_ids
                )
            what = "every session" if session_ids is None else "this session"
            _insert_audit(conn, SESSIONS_AUDIT_NAME, actor, f"{ended} active", f"logged out: {what}")
            conn.execute("COMMIT")
            return int(ended)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()


def _insert_audit(conn: sqlite3.Connection, name: str, actor: str, old: Any, new: Any) -> None:
    """One audit row for an admin action that is not a settings change, at the current version."""
    row = conn.execute("SELECT version FROM settings_document").fetchone()
    conn.execute(
        "INSERT INTO settings_audit (at, actor, name, old, new, version) VALUES (?, ?, ?, ?, ?, ?)",
        (now(), actor, name, json.dumps(old), json.dumps(new), row[0] if row else 0),
    )
