"""Reconcile sweeps (docs/design.md §11): ListRuns (every page) and sentinel listings become the events
that were missed; bounded batches continue from a cursor; `qps reconcile` runs them like `qps replay`."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from qps_core import reconcile
from qps_core.demo.endpoint import FAKE_CREDENTIALS
from qps_core.demo.omics_fake import LIST_KEY, FakeOmics, demo_run
from qps_core.errors import InvalidInput, PermanentError, TransientError
from qps_core.testing import make_runner, only_request
from tests.helpers import clean_env

NOW = dt.datetime(2025, 3, 20, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)


def add_runs(fake: FakeOmics, count: int, *, status: str = "COMPLETED", start: int = 1000000, day: int = 14) -> None:
    for n in range(start, start + count):
        run = demo_run(str(n))
        run.update(
            status=status, stopTime=f"2025-03-{day:02d}T11:00:00.000Z", creationTime=f"2025-03-{day:02d}T09:00:00Z"
        )
        fake.runs[str(n)] = run


def test_parse_duration() -> None:
    assert reconcile.parse_duration("7d") == dt.timedelta(days=7)
    assert reconcile.parse_duration("12h") == dt.timedelta(hours=12)
    assert reconcile.parse_duration("2w") == dt.timedelta(weeks=2)
    for bad in ("7", "d", "-1d", "0d", "7 days", ""):
        with pytest.raises(InvalidInput, match="since: "):
            reconcile.parse_duration(bad)


def test_sweep_omics_reads_every_page_and_keeps_completed_runs_in_the_window(
    _omics_endpoint_is_local: FakeOmics,
) -> None:
    fake = _omics_endpoint_is_local
    fake.page_size = 100
    add_runs(fake, 120, day=18)  # in a 7-day window
    add_runs(fake, 60, day=1, start=2000000)  # too old
    add_runs(fake, 30, status="FAILED", start=3000000, day=18)
    everything = reconcile.sweep_omics()
    assert len(everything.found) == 180 and everything.cursor is None
    assert fake.calls.count("ListRuns") == 1 and len(fake.calls) == 2  # 180 COMPLETED: two pages
    recent = reconcile.sweep_omics(since=dt.timedelta(days=7), now=lambda: NOW)
    assert sorted(label for label, _ in recent.found) == sorted(f"omics run {n}" for n in range(1000000, 1000120))


def test_swept_run_is_planned_like_the_event_it_stands_for(_omics_endpoint_is_local: FakeOmics) -> None:
    add_runs(_omics_endpoint_is_local, 1)
    [(label, event)] = reconcile.sweep_omics().found
    assert label == "omics run 1000000"
    assert event["detail"] == {
        "arn": "arn:aws:omics:us-east-1:123456789012:run/1000000",
        "runId": "1000000",
        "status": "COMPLETED",
    }
    assert (event["account"], event["region"], event["time"]) == ("123456789012", "us-east-1", "2025-03-14T11:00:00Z")
    plan = make_runner().plan_value(event)[0]
    assert (plan.status, plan.adapter) == ("planned", "omics")
    assert only_request(plan).deferred  # the folder comes from GetRun when it is packaged


def test_ten_thousand_runs_in_bounded_batches_that_continue_from_a_cursor(_omics_endpoint_is_local: FakeOmics) -> None:
    # A 10,000-run sweep: 100 ListRuns pages. Each batch stops after the page that reaches `limit`
    # and hands back ListRuns' own token; the next batch starts there. Nothing is found twice.
    fake = _omics_endpoint_is_local
    add_runs(fake, 10_000)
    seen: list[str] = []
    cursor: str | None = None
    batches = 0
    while True:
        batch = reconcile.sweep_omics(cursor=cursor, limit=2500)
        batches += 1
        assert len(batch.found) == 2500  # whole pages of 100
        seen += [label for label, _ in batch.found]
        cursor = batch.cursor
        if cursor is None:
            break
    assert batches == 4 and len(seen) == len(set(seen)) == 10_000
    assert len([c for c in fake.calls if c.startswith("ListRuns")]) == 100


@pytest.mark.parametrize(
    ("failure", "error"),
    [("denied", PermanentError), ("throttled", TransientError), ("500", TransientError), ("reset", TransientError)],
    ids=["AccessDeniedException", "ThrottlingException", "500", "connection-reset"],
)
def test_listruns_failures(_omics_endpoint_is_local: FakeOmics, failure: str, error: type[Exception]) -> None:
    _omics_endpoint_is_local.failures[LIST_KEY] = failure
    with pytest.raises(error, match=r"^HealthOmics ListRuns: ") as caught:
        reconcile.sweep_omics()
    assert "\n" not in str(caught.value)


def test_sweep_rocrate_finds_every_sentinel_under_the_prefix_across_pages() -> None:
    import boto3
    import moto

    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="lab")
        keys = [
            "runs/a/ro-crate-metadata.json",
            "runs/b/deep/ro-crate-metadata.json",
            "runs/b/deep/data.csv",
            "runs/c d/ro-crate-metadata.json",  # a space: form-encoded in the event, as S3 sends it
            "runs/e/x-ro-crate-metadata.json",  # detached crate: not a sentinel
            "runs/f/ro-crate-manifest.json",
            "other/g/ro-crate-metadata.json",  # outside the prefix
        ]
        for key in keys:
            s3.put_object(Bucket="lab", Key=key, Body=b"{}")
        sentinels = make_runner().settings.sentinel_names
        found: list[str] = []
        cursor = None
        pages = 0
        while True:
            batch = reconcile.sweep_rocrate("s3://lab/runs/", sentinels, cursor=cursor, limit=1, client=s3, page_size=2)
            pages += 1
            found += [label for label, _ in batch.found]
            cursor = batch.cursor
            if cursor is None:
                break
        assert found == [
            "s3://lab/runs/a/ro-crate-metadata.json",
            "s3://lab/runs/b/deep/ro-crate-metadata.json",
            "s3://lab/runs/c d/ro-crate-metadata.json",
            "s3://lab/runs/f/ro-crate-manifest.json",
        ]
        assert pages >= 3
        events = reconcile.sweep_rocrate("s3://lab/runs/", sentinels, client=s3).found
        folders = [only_request(make_runner().plan_value(e)[0]).source_prefix for _, e in events]
        assert folders == ["s3://lab/runs/a/", "s3://lab/runs/b/deep/", "s3://lab/runs/c d/", "s3://lab/runs/f/"]
        with pytest.raises(PermanentError, match="no such bucket"):
            reconcile.sweep_rocrate("s3://missing-bucket/x/", sentinels, client=s3)


def qps(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    program = Path(sys.executable).parent / "qps"
    return subprocess.run([str(program), *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow  # end to end: moto's server, the HealthOmics fake, quilt3 pushes, twice
def test_qps_reconcile_packages_what_was_missed_then_finds_it_unchanged(tmp_path: Path) -> None:
    import boto3

    from qps_core.demo import DATA_BUCKET, seed
    from qps_core.demo.endpoint import LocalEndpoint

    with LocalEndpoint.start() as s3_endpoint, FakeOmics(runs={"3395667": demo_run()}) as fake:
        add_runs(fake, 2, status="RUNNING", start=5000000)
        seed(boto3.client("s3", endpoint_url=s3_endpoint.url, region_name="us-east-1", **_keys()))
        env = clean_env(tmp_path, **FAKE_CREDENTIALS)
        common = ["--json", "--endpoint-url", s3_endpoint.url]
        dry = qps("reconcile", "omics", "--dry-run", "--omics-endpoint-url", fake.url, *common, env=env)
        assert dry.returncode == 0, dry.stderr
        assert [json.loads(line)["status"] for line in dry.stdout.splitlines()] == ["planned"]
        assert [c for c in fake.calls if c.startswith("GetRun")] == []  # dry run: nothing read, nothing written
        first = qps("reconcile", "omics", "--since", "5000d", "--omics-endpoint-url", fake.url, *common, env=env)
        again = qps("reconcile", "omics", "--omics-endpoint-url", fake.url, *common, env=env)
        assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
        [one], [two] = (list(map(json.loads, out.stdout.splitlines())) for out in (first, again))
        assert (one["status"], two["status"]) == ("created", "unchanged")
        assert (one["registry"], one["package_name"]) == (DATA_BUCKET, "omics-quilt/3395667")
        assert one["top_hash"] == two["top_hash"]
        shown = qps("show", f"s3://{DATA_BUCKET}", "omics-quilt/3395667", "--json", *common[1:], env=env)
        omics = json.loads(shown.stdout)["metadata"]["omics"]
        assert (omics["enrichment"], omics["workflowVersionName"], omics["uuid"]) == (
            "GetRun",
            "3.14.0",
            "1e250c70-dff6-4e52-8690-a9c144e7cf0f",
        )
        crates = qps("reconcile", "rocrate", f"s3://{DATA_BUCKET}/nextflow/", *common, env=env)
        crates_again = qps("reconcile", "rocrate", f"s3://{DATA_BUCKET}/nextflow/", *common, env=env)
        assert crates.returncode == 0, crates.stderr
        assert [json.loads(x)["status"] for x in crates.stdout.splitlines()] == ["created"]
        assert [json.loads(x)["status"] for x in crates_again.stdout.splitlines()] == ["unchanged"]
        fake.failures[LIST_KEY] = "denied"
        denied = qps("reconcile", "omics", "--omics-endpoint-url", fake.url, *common, env=env)
        assert denied.returncode == 2 and denied.stdout == ""
        assert denied.stderr.startswith("qps: error: HealthOmics ListRuns: AccessDeniedException")
        assert len(denied.stderr.strip().splitlines()) == 1


def _keys() -> dict[str, Any]:
    return {
        "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def test_scheduled_sweep_continues_in_a_new_invocation_when_time_runs_short(
    _omics_endpoint_is_local: FakeOmics, tmp_path: Path
) -> None:
    from qps_core import reconcile_lambda
    from qps_core.jobs.sqlite import SqliteJobStore
    from qps_core.settings import Settings

    class Services:
        settings = Settings(data_dir=tmp_path)
        runner = make_runner()
        jobs = SqliteJobStore(tmp_path / "jobs.sqlite3")

        class dispatcher:
            sent: ClassVar[list[Any]] = []

            @classmethod
            def submit(cls, job: Any) -> None:
                cls.sent.append(job)

    add_runs(_omics_endpoint_is_local, 2500)
    continued: list[dict[str, Any]] = []
    clock: Iterator[int] = itertools.chain(
        [10**9] * 12, [1000]
    )  # plenty for 12 batches of 200, then nearly out of time
    out = reconcile_lambda.run(
        {"sweeps": [{"source": "omics"}, {"source": "omics", "since": "1d"}]},
        lambda: next(clock),
        continued.append,
        svc=Services(),
    )
    assert out == {"found": 2500, "queued": 2500, "continued": True}
    assert {j.trigger.kind for j in Services.dispatcher.sent} == {"reconcile"}
    [rest] = continued  # the first sweep is done (12 x 200 + 100); the second waits its turn
    assert rest == {"sweeps": [{"source": "omics", "since": "1d"}]}
    # a sweep cut mid-way resumes from its cursor
    clock = iter([1000])
    continued.clear()
    reconcile_lambda.run({"sweeps": [{"source": "omics"}]}, lambda: next(clock), continued.append, svc=Services())
    assert continued and continued[0]["sweeps"][0]["cursor"]
    done = reconcile_lambda.run(continued[0], lambda: 10**9, continued.append, svc=Services())
    assert done == {"found": 2300, "queued": 2300, "continued": False}
