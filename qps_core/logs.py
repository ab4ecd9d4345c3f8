"""Log lines with correlation ids (docs/design.md §13).

`with logs.bound(message_id=..., adapter=...):` sets ids once (a `contextvars` context, so threads
started inside see nothing and concurrent requests never mix); every log line written inside carries
them. `configure()` makes the root logger write one JSON object per line (`level`, `message`,
`logger`, `time` and the ids known then) in Lambda, or whenever stderr is not a terminal, and
plain text with the ids appended on a terminal.

Only the ids below and the message are written: never a request body, an object's content or a
setting value (tokens are configured as hashes and never logged anywhere).
Standard library only: Powertools' Logger and Metrics cost 45-85 ms of import per cold start here
against ~0 for this module (logging and json are loaded anyway); see docs/deploy.md.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

#: The correlation ids a line may carry, in the order they are written.
IDS = ("aws_request_id", "message_id", "job_id", "adapter", "registry", "package_name")
HANDLER_NAME = "qps-logs"
_IDS: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("qps_log_ids", default={})  # noqa: B039


def current() -> dict[str, str]:
    """The ids bound now."""
    return dict(_IDS.get())


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Add ids (only those in `IDS`; None leaves one out) for the lines written inside the block."""
    unknown = set(ids) - set(IDS)
    if unknown:
        raise ValueError(f"unknown log ids: {sorted(unknown)}")
    token = _IDS.set(_IDS.get() | {k: str(v) for k, v in ids.items() if v is not None and v != ""})
    try:
        yield
    finally:
        _IDS.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the bound ids, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(_IDS.get())
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`LEVEL logger: message [id=value ...]` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = _IDS.get()
        if ids:
            text += " [" + " ".join(f"{k}={v}" for k, v in ids.items()) + "]"
        return text


def in_lambda() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def configure(
    level: str | int | None = None,
    *,
    json_lines: bool | None = None,
    stream: TextIO | None = None,
    replace: bool = False,
) -> None:
    """Make the root logger write QPS's lines: JSON unless on a terminal outside Lambda (or as told);
    QPS's own loggers at `level` (default `QPS_LOG_LEVEL`, else INFO), libraries at WARNING.

    Replaces a handler it installed before and, in Lambda or with `replace`, every other one (the
    runtime's format has no ids); otherwise other handlers (a test's log capture) are left alone."""
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = in_lambda() or not _is_terminal(stream)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for old in list(root.handlers):
        if replace or old.get_name() == HANDLER_NAME or in_lambda():
            root.removeHandler(old)
    root.addHandler(handler)
    chosen = level or os.environ.get("QPS_LOG_LEVEL", "INFO")
    root.setLevel(logging.WARNING)  # libraries (botocore, quilt3) speak at WARNING and above only
    for name in ("qps", "qps_core"):
        logging.getLogger(name).setLevel(chosen)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
