"""Settings store conformance: the same behaviour from SQLite and DynamoDB (moto)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from qps_core.settings import StaleVersion


def test_empty_store_reads_version_zero(store: Any) -> None:
    stored = store.read()
    assert (stored.values, stored.version, stored.etag) == ({}, 0, '"0"')
    assert store.version() == 0
    assert store.audit() == []


def test_write_bumps_version_and_records_audit(store: Any) -> None:
    first = store.update({"quiet_period_seconds": 60}, expected_version=0, actor="admin:ab12")
    assert (first.values, first.version, first.updated_by) == ({"quiet_period_seconds": 60}, 1, "admin:ab12")
    second = store.update({"sources": {"rocrate": False}, "quiet_period_seconds": 5}, expected_version=1, actor="b")
    assert second.version == 2
    assert store.read().values == {"quiet_period_seconds": 5, "sources": {"rocrate": False}}
    assert store.version() == 2
    entries = [(e.name, e.old, e.new, e.version, e.actor) for e in store.audit()]
    assert sorted(entries[:2]) == [
        ("quiet_period_seconds", 60, 5, 2, "b"),
        ("sources", None, {"rocrate": False}, 2, "b"),
    ]
    assert entries[2] == ("quiet_period_seconds", None, 60, 1, "admin:ab12")
    assert all(e.at.endswith("Z") for e in store.audit())


def test_stale_write_is_refused_and_changes_nothing(store: Any) -> None:
    store.update({"quiet_period_seconds": 1}, expected_version=0, actor="a")
    with pytest.raises(StaleVersion) as info:
        store.update({"quiet_period_seconds": 2}, expected_version=0, actor="b")
    assert info.value.current == 1
    assert "\n" not in str(info.value) and "version 0" in str(info.value)
    assert store.read().values == {"quiet_period_seconds": 1}
    assert [e.actor for e in store.audit()] == ["a"]


def test_none_removes_the_stored_value(store: Any) -> None:
    store.update({"default_prefix": "lab"}, expected_version=0, actor="a")
    after = store.update({"default_prefix": None}, expected_version=1, actor="a")
    assert after.values == {} and after.version == 2
    assert (store.audit()[0].old, store.audit()[0].new) == ("lab", None)


def test_unchanged_values_write_nothing(store: Any) -> None:
    store.update({"default_prefix": "lab"}, expected_version=0, actor="a")
    same = store.update({"default_prefix": "lab", "default_suffix": None}, expected_version=1, actor="a")
    assert same.version == 1
    assert len(store.audit()) == 1


def test_audit_limit_newest_first(store: Any) -> None:
    for n in range(5):
        store.update({"quiet_period_seconds": n + 1}, expected_version=n, actor=f"u{n}")
    assert [e.new for e in store.audit(limit=3)] == [5, 4, 3]


def test_concurrent_writers_of_one_version_exactly_one_wins(store: Any) -> None:
    barrier = threading.Barrier(6)
    won: list[int] = []
    lost: list[int] = []

    def write(n: int) -> None:
        barrier.wait()
        try:
            store.update({"quiet_period_seconds": n + 1}, expected_version=0, actor=f"u{n}")
            won.append(n)
        except StaleVersion:
            lost.append(n)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 5
    assert store.read().values == {"quiet_period_seconds": won[0] + 1}
    assert store.version() == 1 and len(store.audit()) == 1


def test_session_secret_is_created_once_and_shared(store: Any) -> None:
    first = store.session_secret()
    assert isinstance(first, bytes) and len(first) == 32
    assert store.session_secret() == first
    assert store.read().values == {} and store.audit() == []  # not a setting, never audited


def test_admin_sessions_are_kept_until_they_end_and_the_end_is_audited(store: Any) -> None:
    import time

    from qps_core.settings import SessionRecord

    later = int(time.time()) + 3600
    a = SessionRecord("a" * 64, "token:0123456789abcdef", "2026-12-01T10:00:00.000Z", "2026-12-01T10:00:00.000Z", later)
    b = SessionRecord("b" * 64, "local", "2026-12-01T11:00:00.000Z", "2026-12-01T11:00:00.000Z", later)
    old = SessionRecord("c" * 64, "local", "2026-11-01T11:00:00.000Z", "2026-11-01T11:00:00.000Z", int(time.time()) - 1)
    for record in (a, b, old):
        store.session_put(record)
    assert store.session_get(a.id) == a and store.session_get(old.id) is None  # expired
    assert [r.id for r in store.session_list()] == [a.id, b.id]
    seen = SessionRecord(a.id, a.who, a.created, "2026-12-01T12:00:00.000Z", later)
    store.session_put(seen)
    assert store.session_get(a.id) == seen
    assert store.read().values == {} and store.version() == 0  # not a setting

    assert store.session_end([a.id], actor="admin page (token:0123456789abcdef)") == 1
    assert store.session_get(a.id) is None and [r.id for r in store.session_list()] == [b.id]
    assert store.session_end(None, actor="admin page (local)") == 1
    assert store.session_list() == [] and store.session_get(b.id) is None
    entries = [(e.name, e.actor, e.new) for e in store.audit()]
    assert entries == [
        ("admin sessions", "admin page (local)", "logged out: every session"),
        ("admin sessions", "admin page (token:0123456789abcdef)", "logged out: this session"),
    ]
