"""One conformance suite for every JobStore (docs/design.md §7): SQLite and DynamoDB (moto)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from qps_core.jobs.model import Job, JobResult, Problem, Trigger, body_fingerprint, new_job_id, queue_job_id
from qps_core.jobs.store import BadCursor, IdempotencyClaim, IdempotencyMismatch, JobStore


def job(n: int = 0, **fields: Any) -> Job:
    request = {"source_prefix": f"s3://data-bucket/run/{n}/", "registry": "reg-bucket", "package_name": f"run/r{n}"}
    request.update(fields.pop("request", {}))
    return Job(id=fields.pop("id", new_job_id()), trigger=Trigger(kind="api"), request=request, **fields)


def claim(key: str = "key-1", body: Any = None, scope: str = "token:abc") -> IdempotencyClaim:
    return IdempotencyClaim(scope, key, body_fingerprint(body if body is not None else {"a": 1}))


def test_create_then_get_returns_the_same_job(store: JobStore) -> None:
    made = job(1, attempts=2, error=Problem(title="t", status=503, detail="d", retryable=True))
    stored, created = store.create(made)
    assert created and stored == made
    assert store.get(made.id) == made
    assert store.get("no-such-job") is None


def test_put_creates_then_overwrites_one_job(store: JobStore) -> None:
    job_id = queue_job_id("msg-1", 0)
    store.put(job(1, id=job_id, status="running"))
    store.put(job(1, id=job_id, status="failed"))
    assert store.get(job_id).status == "failed"
    assert [j.id for j in store.list().items] == [job_id]


def test_transition_applies_only_from_an_expected_status(store: JobStore) -> None:
    made, _ = store.create(job(1))
    assert store.transition(made.id, {"running"}, status="failed") is None
    result = JobResult(
        status="created",
        registry="reg-bucket",
        package_name="run/r1",
        top_hash="a" * 64,
        files=2,
        bytes=10,
        quilt_uri="quilt+s3://reg-bucket#package=run/r1@" + "a" * 64,
    )
    running = store.transition(made.id, {"queued"}, status="running", attempts=1)
    assert running is not None and running.status == "running" and running.attempts == 1
    done = store.transition(made.id, {"running"}, status="succeeded", result=result)
    assert done is not None and done.result == result
    assert store.get(made.id) == done
    assert store.transition("missing", {"queued"}, status="running") is None


def test_concurrent_claims_of_one_job_let_exactly_one_win(store: JobStore) -> None:
    made, _ = store.create(job(1))
    barrier = threading.Barrier(6)

    def grab(_: int) -> Job | None:
        barrier.wait()
        return store.transition(made.id, {"queued"}, status="running")

    with ThreadPoolExecutor(6) as pool:
        winners = [r for r in pool.map(grab, range(6)) if r is not None]
    assert len(winners) == 1


def test_idempotency_key_same_body_returns_the_first_job(store: JobStore) -> None:
    first, created = store.create(job(1), claim())
    again, created_again = store.create(job(2), claim())
    assert created and not created_again
    assert again.id == first.id
    assert len(store.list().items) == 1


def test_idempotency_key_with_another_body_is_refused(store: JobStore) -> None:
    store.create(job(1), claim(body={"a": 1}))
    with pytest.raises(IdempotencyMismatch):
        store.create(job(2), claim(body={"a": 2}))
    assert len(store.list().items) == 1


def test_idempotency_keys_are_scoped_to_the_caller(store: JobStore) -> None:
    a, _ = store.create(job(1), claim(scope="token:aaa"))
    b, created = store.create(job(2), claim(scope="token:bbb"))
    assert created and a.id != b.id


def test_concurrent_creates_with_one_key_make_one_job(store: JobStore) -> None:
    barrier = threading.Barrier(8)

    def create(n: int) -> str:
        barrier.wait()
        return store.create(job(n), claim("race"))[0].id

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(create, range(8)))
    assert len(ids) == 1
    assert [j.id for j in store.list().items] == list(ids)


def test_delete_removes_the_job_and_frees_its_key(store: JobStore) -> None:
    made, _ = store.create(job(1), claim())
    store.delete(made.id, claim())
    assert store.get(made.id) is None
    again, created = store.create(job(2), claim())
    assert created and again.id != made.id


def test_a_key_whose_job_is_gone_makes_a_new_job(store: JobStore) -> None:
    """The job was removed but its claim was not (a failed delete, or the job's TTL ran out first)."""
    made, _ = store.create(job(1), claim())
    store.delete(made.id)  # the job only: the claim stays behind
    again, created = store.create(job(2), claim())
    assert created and again.id != made.id and store.get(again.id) is not None
    assert store.create(job(3), claim())[0].id == again.id  # and the key now names the new job


def test_list_pages_newest_first_without_gaps_or_repeats(store: JobStore) -> None:
    made = [store.create(job(n))[0] for n in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list(limit=3, cursor=cursor)
        assert len(page.items) <= 3
        seen += [j.id for j in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [j.id for j in reversed(made)]
    oldest = store.list(limit=100, oldest_first=True)
    assert [j.id for j in oldest.items] == [j.id for j in made] and oldest.next_cursor is None


def test_list_filters_by_status_registry_and_package(store: JobStore) -> None:
    a, _ = store.create(job(1))
    b, _ = store.create(job(2, request={"registry": "other-bucket"}))
    c, _ = store.create(job(3))
    store.transition(c.id, {"queued"}, status="failed")
    assert [j.id for j in store.list(status="queued").items] == [b.id, a.id]
    assert [j.id for j in store.list(registry="other-bucket").items] == [b.id]
    assert [j.id for j in store.list(package_name="run/r3", status="failed").items] == [c.id]
    assert store.list(status="succeeded").items == []


def test_filtered_pages_cover_every_match(store: JobStore) -> None:
    for n in range(9):
        made, _ = store.create(job(n))
        if n % 3 == 0:
            store.transition(made.id, {"queued"}, status="failed")
    found, cursor = [], None
    while True:
        page = store.list(status="failed", limit=2, cursor=cursor)
        found += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(j.package_name for j in found) == ["run/r0", "run/r3", "run/r6"]  # type: ignore[type-var]


@pytest.mark.parametrize("cursor", ["nonsense", "e30", "WyJhIiwiYiJd"])
def test_a_foreign_cursor_is_refused(store: JobStore, cursor: str) -> None:
    with pytest.raises(BadCursor):
        store.list(cursor=cursor)


def test_a_cursor_is_bound_to_its_direction(store: JobStore) -> None:
    for n in range(3):
        store.create(job(n))
    cursor = store.list(limit=1).next_cursor
    assert cursor
    with pytest.raises(BadCursor):
        store.list(limit=1, cursor=cursor, oldest_first=True)


def test_ping_answers(store: JobStore) -> None:
    store.ping()


def test_a_change_computed_from_the_current_job_is_atomic(store: JobStore) -> None:
    made, _ = store.create(job(1))
    barrier = threading.Barrier(6)

    def bump(_: int) -> None:
        barrier.wait()
        assert store.transition(made.id, {"queued"}, attempts=lambda current: current.attempts + 1) is not None

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(bump, range(6)))
    assert store.get(made.id).attempts == 6


def test_a_transition_can_be_conditional_on_the_current_job(store: JobStore) -> None:
    made, _ = store.create(job(1, attempts=2))
    assert store.transition(made.id, {"queued"}, when=lambda current: current.attempts > 2, status="running") is None
    moved = store.transition(made.id, {"queued"}, when=lambda current: current.attempts == 2, status="running")
    assert moved is not None and store.get(made.id).status == "running"
