"""AWS Lambda entry point of the API: `qps_core.api.lambda_api.handler` (Mangum, behind a Function URL).

Built once per cold start: settings, runner (adapters), the DynamoDB job store (`QPS_JOBS_TABLE`)
and the queue dispatcher (`QPS_QUEUE_URL`). Packaging happens in the queue's function, never here.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("qps.api")
_HANDLER: Any = None


def build_handler() -> Any:
    from mangum import Mangum
    from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

    from ..errors import ConfigError
    from ..jobs.dispatch import QueueDispatcher
    from ..jobs.opening import open_job_store
    from ..runner import Runner
    from ..settings import load_settings
    from .app import create_app
    from .context import ApiContext

    logging.getLogger().setLevel(os.environ.get("QPS_LOG_LEVEL", "INFO"))
    settings = load_settings()
    if not settings.jobs_table or not settings.queue_url:
        raise ConfigError("the API function needs QPS_JOBS_TABLE and QPS_QUEUE_URL")
    if os.environ.get("QPS_API_AUTH") == "token" and not (settings.api_tokens or settings.admin_tokens):
        # a Function URL without IAM auth and no token would be open to anyone: refuse to serve
        raise ConfigError("QPS_API_AUTH=token needs QPS_API_TOKENS or QPS_ADMIN_TOKENS")
    store = open_job_store(settings, local=False)
    assert store is not None
    dispatcher = QueueDispatcher(settings.queue_url, endpoint_url=settings.endpoint_url)
    context = ApiContext(settings=settings, runner=Runner(settings), jobs=store, dispatcher=dispatcher)
    text_types = [*DEFAULT_TEXT_MIME_TYPES, "application/problem+json"]  # errors stay readable, not base64
    return Mangum(create_app(context), lifespan="off", text_mime_types=text_types)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    global _HANDLER
    if _HANDLER is None:
        _HANDLER = build_handler()
    result: dict[str, Any] = _HANDLER(event, context)
    return result
