"""The one composition root: every process's runner, stores, dispatcher and settings refresh are
wired here, and nowhere else.

- `queue_processor(local=...)`: the queue's Lambda function (`qps_core.lambda_handler`) and
  `qps worker`: a runner that follows stored settings, and the jobs recorder.
- `serve_context(settings)`: `qps serve`: the API context with SQLite jobs and a local worker pool.
- `lambda_api_context()`: the API's Lambda function: DynamoDB jobs and the QuiltPackager queue.
- `open_job_store(settings)`: DynamoDB when `jobs_table` is set, else SQLite in the data directory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..api.context import ApiContext
    from ..jobs.pool import LocalPool
    from ..jobs.store import JobStore
    from ..runner import Runner
    from ..settings import Settings
    from .sqs_batch import BatchProcessor

log = logging.getLogger("qps")


def open_job_store(settings: Settings, *, local: bool = True) -> JobStore | None:
    """DynamoDB when `jobs_table` is set, else SQLite in the data directory (or None when `local`
    is False: a Lambda function without a table records no jobs)."""
    if settings.jobs_table:
        from ..jobs.dynamodb import DynamoJobStore

        return DynamoJobStore(settings.jobs_table, endpoint_url=settings.endpoint_url, ttl_days=settings.job_ttl_days)
    if not local:
        return None
    from ..jobs.sqlite import SqliteJobStore

    return SqliteJobStore(Path(settings.state_dir) / "jobs.sqlite3")


def _report_adapter_errors(runner: Runner) -> None:
    for problem in runner.adapters.errors():
        log.error("%s", problem)


def queue_processor(*, local: bool, config_file: Path | None = None, **overrides: Any) -> BatchProcessor:
    """The SQS batch processor: its runner follows stored settings (within `settings_refresh_seconds`);
    it records a job per planned request when there is a job store (`local`: SQLite without a table)."""
    from ..jobs.recorder import JobRecorder
    from .live import CurrentRunner
    from .sqs_batch import BatchProcessor

    live = CurrentRunner(config_file, **overrides)
    _report_adapter_errors(live.runner)
    settings = live.runner.settings
    try:
        store = open_job_store(settings, local=local)
    except Exception as exc:  # recording never stops packaging
        log.error("jobs will not be recorded: %s", exc)
        store = None
    return BatchProcessor(live.runner, refresh=live.current, jobs=JobRecorder(store, settings.job_max_attempts))


def serve_context(settings: Settings, *, s3_probe: Any = None) -> tuple[ApiContext, LocalPool]:
    """`qps serve`: the API context over SQLite jobs run by a local worker pool (not started)."""
    from ..api.context import ApiContext
    from ..api.prometheus import sink
    from ..jobs.pool import LocalPool
    from ..runner import Runner
    from .live import CurrentRunner

    sink()  # GET /metrics counts from the start
    runner = Runner(settings)
    _report_adapter_errors(runner)
    store = open_job_store(settings)
    assert store is not None
    pool = LocalPool(store, runner, workers=settings.api_workers, max_attempts=settings.job_max_attempts)
    live = CurrentRunner.following(settings, runner)
    return ApiContext(settings, runner, store, pool, s3_probe=s3_probe, live=live), pool


def lambda_api_context(settings: Settings, *, token_auth: bool) -> ApiContext:
    """The API's Lambda function: DynamoDB jobs (`QPS_JOBS_TABLE`), the queue (`QPS_QUEUE_URL`);
    packaging happens in the queue's function, never here."""
    from ..api.context import ApiContext
    from ..jobs.dispatch import QueueDispatcher
    from ..runner import Runner
    from .live import CurrentRunner

    if not settings.jobs_table or not settings.queue_url:
        raise ConfigError("the API function needs QPS_JOBS_TABLE and QPS_QUEUE_URL")
    if token_auth and not (settings.api_tokens or settings.admin_tokens):
        # a Function URL without IAM auth and no token would be open to anyone: refuse to serve
        raise ConfigError("QPS_API_AUTH=token needs QPS_API_TOKENS or QPS_ADMIN_TOKENS")
    store = open_job_store(settings, local=False)
    assert store is not None
    runner = Runner(settings)
    dispatcher = QueueDispatcher(settings.queue_url, endpoint_url=settings.endpoint_url)
    return ApiContext(settings, runner, store, dispatcher, live=CurrentRunner.following(settings, runner))
