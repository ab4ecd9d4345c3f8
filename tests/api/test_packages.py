"""The REST API as docs/design.md §7 describes it: a request in, a job out, the package in S3."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
import quilt3

from qps_core.runner import Runner
from qps_core.settings import Settings
from tests.api.conftest import DATA, FILES, FOLDER, REGISTRY, Api

REQUEST = {
    "source_prefix": f"s3://{DATA}/{FOLDER}/",
    "registry": REGISTRY,
    "package_name": FOLDER,
    "metadata": {"instrument": "NovaSeq X", "lanes": [1, 2]},
    "message": "Batch 301 demultiplexed",
}


def jobs_in(api: Api) -> list[dict[str, Any]]:
    return api.client.get("/v1/jobs?limit=100").json()["items"]


def written(s3: Any, bucket: str = REGISTRY) -> int:
    return int(s3.list_objects_v2(Bucket=bucket, Prefix=".quilt/").get("KeyCount", 0))


def test_a_request_becomes_a_job_that_makes_the_package(api: Api) -> None:
    response = api.post("/v1/packages", REQUEST)
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}" == job["links"]["self"]
    assert job["status"] == "queued" and job["trigger"]["kind"] == "api" and job["parent_id"] is None
    assert job["request"]["source_prefix"] == REQUEST["source_prefix"]

    done = api.wait(job["id"])
    assert done["status"] == "succeeded", done
    result = done["result"]
    pkg = quilt3.Package.browse(FOLDER, registry=f"s3://{REGISTRY}")
    assert result["top_hash"] == pkg.top_hash and result["status"] == "created"
    assert result["files"] == len(FILES) and result["bytes"] == sum(len(v) for v in FILES.values())
    assert result["quilt_uri"] == f"quilt+s3://{REGISTRY}#package={FOLDER}@{pkg.top_hash}"
    assert sorted(k for k, _ in pkg.walk()) == sorted(k.removeprefix(f"{FOLDER}/") for k in FILES)
    assert pkg.meta == REQUEST["metadata"]
    assert done["attempts"] == 1 and done["error"] is None
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]

    # the package, read back through the API
    info = api.client.get(done["links"]["package"]).json()
    assert info["top_hash"] == pkg.top_hash and info["files"] == len(FILES)
    assert info["message"] == "Batch 301 demultiplexed" and info["metadata"] == REQUEST["metadata"]
    assert [r["top_hash"] for r in info["revisions"]] == [pkg.top_hash]
    entries: list[str] = []
    cursor = ""
    while True:
        page = api.client.get(
            f"/v1/packages/{REGISTRY}/{FOLDER}/revisions/{pkg.top_hash}", params={"limit": 2, "cursor": cursor or None}
        ).json()
        entries += [e["logical_key"] for e in page["entries"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert entries == sorted(k.removeprefix(f"{FOLDER}/") for k in FILES)


def test_without_a_key_two_identical_requests_make_two_jobs_the_second_unchanged(api: Api) -> None:
    first = api.wait(api.post("/v1/packages", REQUEST).json()["id"])
    second = api.wait(api.post("/v1/packages", REQUEST).json()["id"])
    assert first["id"] != second["id"]
    assert (first["result"]["status"], second["result"]["status"]) == ("created", "unchanged")
    assert first["result"]["top_hash"] == second["result"]["top_hash"]


def test_the_uri_form_and_dry_run(api: Api, s3: Any) -> None:
    response = api.post("/v1/packages?dry_run=true", {"uri": f"s3://{DATA}/{FOLDER}?run=301&lane=1&lane=2"})
    assert response.status_code == 200
    (planned,) = response.json()["packages"]
    assert planned["metadata"] == {"run": "301", "lane": ["1", "2"]}
    assert planned["package_name"] == FOLDER and planned["registry"] == DATA
    assert jobs_in(api) == [] and written(s3, DATA) == 0  # planned only: nothing queued, nothing written


def test_an_empty_folder_is_accepted_and_its_job_fails_for_good(api: Api) -> None:
    response = api.post("/v1/packages", {"source_prefix": f"s3://{DATA}/nothing/here/", "registry": REGISTRY})
    assert response.status_code == 202
    done = api.wait(response.json()["id"])
    assert done["status"] == "failed" and done["result"] is None
    error = done["error"]
    assert error["retryable"] is False and error["status"] == 422 and "nothing/here" in error["detail"]
    assert done["attempts"] == 1  # a permanent failure is not retried


def test_retry_runs_a_failed_job_again_as_a_new_job(api: Api, s3: Any) -> None:
    failed = api.wait(
        api.post("/v1/packages", {"source_prefix": f"s3://{DATA}/late/", "registry": REGISTRY}).json()["id"]
    )
    assert failed["status"] == "failed"
    s3.put_object(Bucket=DATA, Key="late/arrived.txt", Body=b"now it is here")
    response = api.post(f"/v1/jobs/{failed['id']}/retry")
    assert response.status_code == 202
    retried = api.wait(response.json()["id"])
    assert retried["parent_id"] == failed["id"] and retried["status"] == "succeeded"
    assert api.client.get(f"/v1/jobs/{failed['id']}").json()["status"] == "failed"  # the original stays as it was
    conflict = api.post(f"/v1/jobs/{retried['id']}/retry")
    assert conflict.status_code == 409 and conflict.headers["content-type"] == "application/problem+json"
    assert api.post("/v1/jobs/nosuchjob/retry").status_code == 404


# -- validation: 400 / 422 / 403, nothing queued or written ---------------------------------------------------------

INVALID = [
    {"source_prefix": "s3://lab-data/x", "bogus": 1},
    {"source_prefix": "http://lab-data/x"},
    {"source_prefix": "s3://lab-data/x", "package_name": "no-slash"},
    {"source_prefix": "s3://lab-data/x", "message": "a", "commit_message": "b"},
    {"source_prefix": "s3://lab-data/x", "metadata": [1]},
    {"source_prefix": "s3://lab-data/x", "should_copy": "yes"},
    {"source_prefix": "s3://lab-data/x", "metadata_uri": "../../etc/passwd"},
    {"uri": "s3://lab-data/x", "registry": "y"},
    {"registry": REGISTRY},
    ["not", "an", "object"],
]


@pytest.mark.parametrize("body", INVALID, ids=lambda b: json.dumps(b)[:40])
def test_invalid_requests_are_422_with_the_clis_one_line_message(api: Api, s3: Any, body: Any) -> None:
    response = api.post("/v1/packages", body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) == {"type", "title", "status", "detail", "retryable"}
    assert problem["status"] == 422 and problem["retryable"] is False and "\n" not in problem["detail"]
    if isinstance(body, dict):  # what `qps plan` prints for the same body
        (plan,) = Runner(Settings()).plan_value(body)
        assert problem["detail"] == plan.error
    assert jobs_in(api) == [] and written(s3) == 0


@pytest.mark.parametrize(
    "raw",
    [b'{"source_prefix": NaN}', b'{"a": 1, "a": 2}', b'{"source_prefix": "\xff"}', b"[" * 200 + b"]" * 200, b"{", b""],
    ids=["nan", "duplicate-keys", "not-utf8", "too-deep", "truncated", "empty"],
)
@pytest.mark.parametrize("path", ["/v1/packages", "/v1/packages?dry_run=true", "/v1/plan", "/v1/events"])
def test_a_body_that_is_not_strict_json_is_400_everywhere(api: Api, raw: bytes, path: str) -> None:
    response = api.client.post(path, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert jobs_in(api) == []


def test_a_registry_outside_allowed_registries_is_403(make_api: Callable[..., Api], s3: Any, tmp_path: Any) -> None:
    settings = Settings(allowed_registries=[REGISTRY], allowed_sources=[f"s3://{DATA}/"], data_dir=tmp_path / "d")
    api = make_api(settings=settings)
    response = api.post("/v1/packages", {"source_prefix": f"s3://{DATA}/{FOLDER}"})  # registry: the source bucket
    assert response.status_code == 403
    assert response.json()["detail"] == f"registry {DATA!r} is not an allowed registry (allowed: {REGISTRY})"
    assert api.post("/v1/packages?dry_run=true", {"source_prefix": f"s3://{DATA}/{FOLDER}"}).status_code == 403
    assert jobs_in(api) == [] and written(s3, DATA) == 0
    assert api.post("/v1/packages", REQUEST).status_code == 202


# -- Idempotency-Key ---------------------------------------------------------------------------------------------


def test_same_key_and_body_return_the_first_job_and_queue_nothing(api: Api) -> None:
    first = api.post("/v1/packages", REQUEST, headers={"Idempotency-Key": "batch-301"})
    again = api.post("/v1/packages", dict(reversed(list(REQUEST.items()))), headers={"Idempotency-Key": "batch-301"})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert len(jobs_in(api)) == 1
    api.wait(first.json()["id"])
    late = api.post("/v1/packages", REQUEST, headers={"Idempotency-Key": "batch-301"})  # after it finished
    assert late.status_code == 202 and late.json()["status"] == "succeeded" and len(jobs_in(api)) == 1


def test_same_key_with_another_body_is_422(api: Api) -> None:
    assert api.post("/v1/packages", REQUEST, headers={"Idempotency-Key": "k"}).status_code == 202
    other = api.post("/v1/packages", {**REQUEST, "message": "another"}, headers={"Idempotency-Key": "k"})
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    assert len(jobs_in(api)) == 1


def test_two_concurrent_posts_with_one_key_make_one_job(api: Api) -> None:
    barrier = threading.Barrier(8)

    def post(_: int) -> Any:
        barrier.wait()
        return api.post("/v1/packages", REQUEST, headers={"Idempotency-Key": "race"})

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, range(8)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(jobs_in(api)) == 1


def test_a_job_that_cannot_be_queued_is_not_kept(make_api: Callable[..., Api]) -> None:
    class Broken:
        def submit(self, job: Any) -> None:
            raise ConnectionError("queue down")

    api = make_api(dispatcher=Broken())
    response = api.post("/v1/packages", REQUEST, headers={"Idempotency-Key": "k"})
    assert response.status_code == 503 and response.json()["retryable"] is True
    assert "queue down" not in response.text
    assert jobs_in(api) == []
    assert api.pool is not None
    api.context.dispatcher = api.pool  # the queue is back: the same key now makes the job
    assert api.post("/v1/packages", REQUEST, headers={"Idempotency-Key": "k"}).status_code == 202


# -- jobs: list, filters, cursor, 404 -------------------------------------------------------------------------------


def test_jobs_list_filters_and_pages(api: Api) -> None:
    ids = [api.post("/v1/packages", {**REQUEST, "package_name": f"batch/n{n}"}).json()["id"] for n in range(5)]
    failed = api.post("/v1/packages", {"source_prefix": f"s3://{DATA}/empty/", "registry": REGISTRY}).json()["id"]
    for job_id in [*ids, failed]:
        api.wait(job_id)
    seen, cursor = [], None
    while True:
        page = api.client.get("/v1/jobs", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [j["id"] for j in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [failed, *reversed(ids)]
    assert [j["id"] for j in api.client.get("/v1/jobs?status=failed").json()["items"]] == [failed]
    assert [j["id"] for j in api.client.get("/v1/jobs?package_name=batch/n3").json()["items"]] == [ids[3]]
    assert len(api.client.get(f"/v1/jobs?registry={REGISTRY}&status=succeeded").json()["items"]) == 5
    for bad in ("status=done", "limit=0", "limit=101", "cursor=garbage"):
        response = api.client.get(f"/v1/jobs?{bad}")
        assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json", bad
    missing = api.client.get("/v1/jobs/0123456789abcdef")
    assert missing.status_code == 404 and missing.json()["detail"] == "no job '0123456789abcdef'"


def test_unknown_package_and_revision_are_404(api: Api) -> None:
    assert api.client.get(f"/v1/packages/{REGISTRY}/no/such").status_code == 404
    assert api.client.get(f"/v1/packages/{REGISTRY}/no/such/revisions/{'0' * 64}").status_code == 404
    assert api.client.get("/v1/packages/no-such-bucket-here/a/b").status_code == 404
    assert api.client.get(f"/v1/packages/{REGISTRY}/a/b/revisions/xyz").status_code == 422


# -- events and plan ------------------------------------------------------------------------------------------------


def test_events_become_jobs_and_plan_shows_what_qps_plan_says(api: Api) -> None:
    ready = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "package-objects-ready",
        "source": "com.example.lims",
        "time": "2026-12-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": REQUEST,
    }
    other = {
        **ready,
        "id": "x",
        "source": "aws.omics",
        "detail-type": "Run Status Change",
        "detail": {"status": "RUNNING"},
    }
    broken = {**ready, "id": "y", "detail": {"source_prefix": "ftp://nope"}}
    planned = api.post("/v1/plan", [ready, other, broken])
    assert planned.status_code == 200
    expected = [p.as_dict() for p in Runner(Settings()).plan_value([ready, other, broken])]
    assert [{k: v for k, v in r.items() if v not in ([], None)} for r in planned.json()["results"]] == [
        {k: v for k, v in e.items() if v not in ([], None)} for e in expected
    ]
    response = api.post("/v1/events", [ready, other, broken])
    assert response.status_code == 202
    body = response.json()
    assert [len(body[k]) for k in ("jobs", "ignored", "rejected")] == [1, 1, 1]
    (job,) = body["jobs"]
    assert job["trigger"] == {"kind": "eventbridge", "adapter": "description", "event_id": ready["id"]}
    assert api.wait(job["id"])["status"] == "succeeded"
    assert body["rejected"][0]["error"].startswith("source_prefix:")


def ready_events(count: int) -> list[dict[str, Any]]:
    """`count` EventBridge events the description adapter turns into one package request each."""
    return [
        {
            "version": "0",
            "id": f"e{n}",
            "detail-type": "package-objects-ready",
            "source": "com.example.lims",
            "time": "2026-12-01T12:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {**REQUEST, "package_name": f"events/n{n}"},
        }
        for n in range(count)
    ]


class QueueDownAfter:
    """A dispatcher whose queue accepts `ok` jobs, then refuses until `up` is set; records what it queued."""

    def __init__(self, inner: Any, ok: int) -> None:
        self.inner, self.ok, self.up = inner, ok, False
        self.queued: list[str] = []

    def submit(self, job: Any) -> None:
        if not self.up and len(self.queued) >= self.ok:
            raise ConnectionError("queue down")
        self.queued.append(job.id)
        self.inner.submit(job)


def test_events_partly_queued_say_which_and_the_same_key_queues_only_the_rest(api: Api) -> None:
    body = ready_events(3)
    queue = QueueDownAfter(api.pool, ok=1)
    api.context.dispatcher = queue
    failed = api.post("/v1/events", body, headers={"Idempotency-Key": "run-7"})
    assert failed.status_code == 503 and failed.json()["retryable"] is True
    detail = failed.json()["detail"]
    assert detail.startswith(f"1 of 3 jobs were queued ({queue.queued[0]})") and "same Idempotency-Key" in detail
    assert [j["id"] for j in jobs_in(api)] == queue.queued  # the refused ones were not kept
    queue.up = True
    again = api.post("/v1/events", body, headers={"Idempotency-Key": "run-7"})
    assert again.status_code == 202
    ids = [j["id"] for j in again.json()["jobs"]]
    assert len(set(ids)) == 3 and ids[0] == queue.queued[0]
    assert sorted(queue.queued) == sorted(ids)  # each job queued once: the first one not again
    assert sorted(j["id"] for j in jobs_in(api)) == sorted(ids)
    third = api.post("/v1/events", body, headers={"Idempotency-Key": "run-7"})
    assert [j["id"] for j in third.json()["jobs"]] == ids and len(queue.queued) == 3
    assert {api.wait(i)["status"] for i in ids} == {"succeeded"}


def test_events_partly_queued_without_a_key_say_a_resend_repeats_the_jobs(api: Api) -> None:
    api.context.dispatcher = QueueDownAfter(api.pool, ok=2)
    failed = api.post("/v1/events", ready_events(3))
    assert failed.status_code == 503
    assert failed.json()["detail"].startswith("2 of 3 jobs were queued")
    assert "queues every job again" in failed.json()["detail"] and "queue down" not in failed.text


def test_events_with_a_reused_key_and_another_body_are_refused(api: Api) -> None:
    assert api.post("/v1/events", ready_events(1), headers={"Idempotency-Key": "k"}).status_code == 202
    other = api.post("/v1/events", ready_events(2), headers={"Idempotency-Key": "k"})
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    assert len(jobs_in(api)) == 1


def test_events_same_key_after_the_plan_changed_is_refused_never_another_requests_job(api: Api) -> None:
    body = ready_events(3)
    body[0]["detail"] = {**body[0]["detail"], "source_prefix": "s3://elsewhere-bucket/run/"}
    first = api.post("/v1/events", body, headers={"Idempotency-Key": "run-8"})
    assert first.status_code == 202 and len(first.json()["jobs"]) == 3
    # settings change: the first event's folder is no longer allowed, so the same body plans two packages
    patched = api.client.patch("/v1/settings", headers={"If-Match": '"0"'}, json={"allowed_sources": [f"s3://{DATA}/"]})
    assert patched.status_code == 200, patched.text
    again = api.post("/v1/events", body, headers={"Idempotency-Key": "run-8"})
    assert again.status_code == 422 and "now plans other packages" in again.json()["detail"]
    assert len(jobs_in(api)) == 3


def test_events_outside_the_allowed_sources_are_rejected_and_never_queued(api: Api) -> None:
    patched = api.client.patch("/v1/settings", headers={"If-Match": '"0"'}, json={"allowed_sources": [f"s3://{DATA}/"]})
    assert patched.status_code == 200, patched.text
    body = ready_events(2)
    body[1]["detail"] = {**body[1]["detail"], "source_prefix": "s3://elsewhere-bucket/run/"}
    response = api.post("/v1/events", body)
    assert response.status_code == 202
    assert [j["request"]["package_name"] for j in response.json()["jobs"]] == ["events/n0"]
    (refused,) = response.json()["rejected"]
    assert refused["status"] == "rejected" and refused["adapter"] == "description"
    assert refused["error"].startswith("source_prefix s3://elsewhere-bucket/run/ is not an allowed source")
    assert len(jobs_in(api)) == 1


def test_one_key_on_packages_and_on_events_names_two_separate_jobs(api: Api) -> None:
    package = api.post("/v1/packages", REQUEST, headers={"Idempotency-Key": "shared#0"})
    events = api.post("/v1/events", ready_events(1), headers={"Idempotency-Key": "shared"})
    assert package.status_code == 202 and events.status_code == 202
    assert package.json()["id"] != events.json()["jobs"][0]["id"]


def test_adapters_settings_and_health(api: Api) -> None:
    adapters = api.client.get("/v1/adapters").json()["adapters"]
    assert {"description", "mapped", "omics", "rocrate"} <= {a["id"] for a in adapters}
    settings = api.client.get("/v1/settings").json()["settings"]  # with origins (the admin router's)
    assert settings["allowed_registries"]["value"] == [] and "api_tokens" in settings
    health = api.client.get("/v1/health")
    assert health.status_code == 200 and health.json()["jobs"]["ok"] is True


def test_a_body_over_the_limit_is_413_and_nothing_is_queued(api: Api) -> None:
    huge = b'{"source_prefix": "s3://lab-data/x", "metadata": {"x": "' + b"a" * (1024 * 1024) + b'"}}'
    response = api.client.post("/v1/packages", content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.headers["content-type"] == "application/problem+json"
    assert jobs_in(api) == []


def test_a_source_outside_allowed_sources_is_403(make_api: Callable[..., Api], s3: Any, tmp_path: Any) -> None:
    settings = Settings(allowed_sources=[f"s3://{DATA}/instrument-f/"], data_dir=tmp_path / "d")
    api = make_api(settings=settings)
    response = api.post("/v1/packages", {"source_prefix": f"s3://{DATA}/elsewhere/", "registry": REGISTRY})
    assert response.status_code == 403
    assert response.json()["detail"].startswith(f"source_prefix s3://{DATA}/elsewhere/ is not an allowed source")
    outside_meta = {**REQUEST, "metadata": None, "metadata_uri": f"s3://{REGISTRY}/meta.json"}
    assert api.post("/v1/packages", outside_meta).status_code == 403
    assert jobs_in(api) == [] and written(s3) == 0
    assert api.post("/v1/packages", REQUEST).status_code == 202


def test_reading_a_package_makes_no_new_s3_client(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """`GET /v1/packages/...` (and `qps show`, the same reader) reuses one client: quilt3 alone builds a
    boto3 session and client per S3 call (~130 ms each)."""
    import botocore.session

    done = api.wait(api.post("/v1/packages", REQUEST).json()["id"])
    top = done["result"]["top_hash"]
    assert api.client.get(f"/v1/packages/{REGISTRY}/{FOLDER}").status_code == 200  # the first read makes it
    made: list[str] = []
    real = botocore.session.Session.create_client

    def counting(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        made.append(service_name)
        return real(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counting)
    for _ in range(3):
        latest = api.client.get(f"/v1/packages/{REGISTRY}/{FOLDER}")
        revision = api.client.get(f"/v1/packages/{REGISTRY}/{FOLDER}/revisions/{top}")
        assert latest.status_code == revision.status_code == 200
        assert latest.json()["top_hash"] == revision.json()["top_hash"] == top
    assert made == []


def test_revisions_are_listed_newest_first_and_pointers_read_once(api: Api, s3: Any) -> None:

    first = api.wait(api.post("/v1/packages", REQUEST).json()["id"])["result"]["top_hash"]
    s3.put_object(Bucket=DATA, Key=f"{FOLDER}/extra.txt", Body=b"more", ChecksumAlgorithm="SHA256")
    second = api.wait(api.post("/v1/packages", REQUEST).json()["id"])["result"]["top_hash"]
    assert first != second
    info = api.client.get(f"/v1/packages/{REGISTRY}/{FOLDER}").json()
    assert info["top_hash"] == second and [r["top_hash"] for r in info["revisions"]] == [second, first]
    assert all(r["time"] for r in info["revisions"])

    with _reader_calls() as calls:
        again = api.client.get(f"/v1/packages/{REGISTRY}/{FOLDER}").json()
    assert again["revisions"] == info["revisions"]
    reads = [key for operation, key in calls if operation == "GetObject"]
    assert not [k for k in reads if k.startswith(".quilt/named_packages/")]  # pointers come from memory


@contextmanager
def _reader_calls() -> Iterator[list[tuple[str, str]]]:
    """(operation, key) of each S3 call the package reader's shared client makes meanwhile."""
    from qps_core.packaging import reader

    calls: list[tuple[str, str]] = []

    def note(event_name: str, params: dict[str, Any], **_: Any) -> None:
        calls.append((event_name.split(".")[-1], str(params.get("Key", ""))))

    events = reader.shared_client().meta.events
    events.register("before-call.s3", note)
    try:
        yield calls
    finally:
        events.unregister("before-call.s3", note)


def test_a_second_read_of_a_package_costs_one_listing_and_never_serves_a_deleted_one(api: Api, s3: Any) -> None:
    """The summary of a revision is parsed once (a top hash names its content); whether the package
    still exists, and which revision is the latest, is the listing's answer on every read."""
    from qps_core.packaging import reader

    api.wait(api.post("/v1/packages", REQUEST).json()["id"])
    first = reader.read_latest(REGISTRY, FOLDER)
    assert first is not None
    first["metadata"]["changed by a caller"] = True  # what a caller (`qps show`) does to its copy stays its own

    with _reader_calls() as calls:
        again = api.client.get(f"/v1/packages/{REGISTRY}/{FOLDER}").json()
    assert [operation for operation, _ in calls] == ["ListObjectsV2"]
    assert "changed by a caller" not in again["metadata"] and again["top_hash"] == first["top_hash"]

    for obj in s3.list_objects_v2(Bucket=REGISTRY, Prefix=f".quilt/named_packages/{FOLDER}/")["Contents"]:
        s3.delete_object(Bucket=REGISTRY, Key=obj["Key"])
    assert api.client.get(f"/v1/packages/{REGISTRY}/{FOLDER}").status_code == 404
