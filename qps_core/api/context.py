"""What the API app is built from: one typed object, so the same app runs under `qps serve` (SQLite
and an in-process worker pool), in Lambda (DynamoDB and the QuiltPackager queue) and in tests.
`qps_core.runtime.compose` builds it for the first two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..admin.service import Admin
    from ..jobs.intake import Dispatcher
    from ..jobs.store import JobStore
    from ..runner import Runner
    from ..runtime.live import CurrentRunner
    from ..settings import Settings


@dataclass
class ApiContext:
    """Everything a request handler needs. Built once per process (per Lambda cold start).

    `live` follows the stored settings (the admin page's, `PATCH /v1/settings`): `refresh()` swaps in
    the current runner and settings before each request; `create_app` sets it up when it is None.
    `admin` is the admin page's service, set when its router is mounted."""

    settings: Settings
    runner: Runner
    jobs: JobStore
    dispatcher: Dispatcher
    s3_probe: Callable[[], str | None] | None = None  # None when S3 answers, else a one-line reason
    live: CurrentRunner | None = None
    admin: Admin | None = None

    def refresh(self, *, force: bool = False) -> None:
        """Use the runner for the current stored settings (re-read now when `force`)."""
        if self.live is None:
            return
        runner = self.live.force() if force else self.live.current()
        if runner is self.runner:
            return
        self.runner = runner
        self.settings = runner.settings
        if hasattr(self.dispatcher, "runner"):  # the local worker pool runs jobs with it
            self.dispatcher.runner = runner
