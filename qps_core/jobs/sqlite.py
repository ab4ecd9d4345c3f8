"""The local job store: one SQLite file (WAL), safe across threads and processes."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .model import Job
from .store import (
    IDEMPOTENCY_SECONDS,
    MAX_PAGE,
    IdempotencyClaim,
    IdempotencyMismatch,
    JobPage,
    JobStoreError,
    apply_changes,
    decode_cursor,
    encode_cursor,
    with_retries,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,
    registry TEXT,
    package_name TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs (created_at, id);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at, id);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    job_id TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


class SqliteJobStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JobStoreError(f"cannot create the data directory {self.path.parent}: {exc.strerror}") from None
        self._local = threading.local()
        try:
            self._db().executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise JobStoreError(f"cannot open the job store {self.path}: {exc}") from None

    def __repr__(self) -> str:
        return f"SqliteJobStore({str(self.path)!r})"

    # -- plumbing -----------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                raise JobStoreError(f"cannot open the job store {self.path}: {exc}") from None
            self._local.db = db
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _run(self, what: str, operation: Any) -> Any:
        return with_retries(operation, is_transient=_transient, what=what)

    @staticmethod
    def _row(job: Job) -> tuple[Any, ...]:
        return (job.id, job.created_at, job.status, job.registry, job.package_name, json.dumps(job.as_document()))

    @staticmethod
    def _load(doc: str) -> Job:
        return Job.model_validate_json(doc)

    def _get(self, db: sqlite3.Connection, job_id: str) -> Job | None:
        row = db.execute("SELECT doc FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._load(row[0]) if row else None

    # -- the interface ------------------------------------------------------------------------
    def create(self, job: Job, idempotency: IdempotencyClaim | None = None) -> tuple[Job, bool]:
        def op() -> tuple[Job, bool]:
            now = time.time()
            with self._tx() as db:
                if idempotency is not None:
                    db.execute("DELETE FROM idempotency WHERE expires_at < ?", (now,))
                    row = db.execute(
                        "SELECT fingerprint, job_id FROM idempotency WHERE key = ?", (idempotency.store_key,)
                    ).fetchone()
                    if row is not None:
                        if row[0] != idempotency.fingerprint:
                            raise IdempotencyMismatch("the Idempotency-Key was used with a different body")
                        existing = self._get(db, row[1])
                        if existing is not None:
                            return existing, False
                        db.execute("DELETE FROM idempotency WHERE key = ?", (idempotency.store_key,))
                    db.execute(
                        "INSERT INTO idempotency (key, fingerprint, job_id, expires_at) VALUES (?, ?, ?, ?)",
                        (idempotency.store_key, idempotency.fingerprint, job.id, now + IDEMPOTENCY_SECONDS),
                    )
                try:
                    db.execute("INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?)", self._row(job))
                except sqlite3.IntegrityError:
                    raise JobStoreError(f"a job {job.id!r} exists already") from None
            return job, True

        result: tuple[Job, bool] = self._run("create", op)
        return result

    def get(self, job_id: str) -> Job | None:
        found: Job | None = self._run("get", lambda: self._get(self._db(), job_id))
        return found

    def put(self, job: Job) -> None:
        def op() -> None:
            with self._tx() as db:
                db.execute("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?)", self._row(job))

        self._run("put", op)

    def transition(
        self, job_id: str, expected: Iterable[str], *, when: Callable[[Job], bool] | None = None, **changes: Any
    ) -> Job | None:
        allowed = set(expected)

        def op() -> Job | None:
            with self._tx() as db:
                current = self._get(db, job_id)
                if current is None or current.status not in allowed or (when is not None and not when(current)):
                    return None
                updated = apply_changes(current, changes)
                db.execute(
                    "UPDATE jobs SET status = ?, doc = ? WHERE id = ?",
                    (updated.status, json.dumps(updated.as_document()), job_id),
                )
                return updated

        found: Job | None = self._run("transition", op)
        return found

    def list(
        self,
        *,
        status: str | None = None,
        registry: str | None = None,
        package_name: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        oldest_first: bool = False,
    ) -> JobPage:
        limit = max(1, min(limit, MAX_PAGE))
        where, params = [], []
        for column, value in (("status", status), ("registry", registry), ("package_name", package_name)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if cursor:
            created_at, job_id = decode_cursor(cursor, oldest_first)
            where.append("(created_at, id) > (?, ?)" if oldest_first else "(created_at, id) < (?, ?)")
            params += [created_at, job_id]
        order = "ASC" if oldest_first else "DESC"
        sql = "SELECT doc FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += f" ORDER BY created_at {order}, id {order} LIMIT ?"
        rows = self._run("list", lambda: self._db().execute(sql, (*params, limit + 1)).fetchall())
        items = [self._load(r[0]) for r in rows[:limit]]
        more = len(rows) > limit
        return JobPage(items, encode_cursor(items[-1].created_at, items[-1].id, oldest_first) if more else None)

    def delete(self, job_id: str, idempotency: IdempotencyClaim | None = None) -> None:
        def op() -> None:
            with self._tx() as db:
                db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
                if idempotency is not None:
                    db.execute("DELETE FROM idempotency WHERE key = ? AND job_id = ?", (idempotency.store_key, job_id))

        self._run("delete", op)

    def ping(self) -> None:
        self._run("ping", lambda: self._db().execute("SELECT 1 FROM jobs LIMIT 1").fetchall())
