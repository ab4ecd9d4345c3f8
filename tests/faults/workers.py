"""Process entry points for the concurrency tests (importable by a spawned interpreter)."""

from __future__ import annotations

from typing import Any


def deliver_in_process(url: str, body: dict[str, Any], barrier: Any, results: Any) -> None:
    from scenario import deliver

    from qps_core.packager import Packager
    from qps_core.settings import Settings

    packager = Packager(Settings(), endpoint_url=url)
    barrier.wait(timeout=120)
    try:
        out = deliver(packager, body)
        results.put((out.statuses, out.notices, out.errors))
    except BaseException as exc:  # reported to the test, never lost
        results.put((["crashed"], [], [repr(exc)]))
