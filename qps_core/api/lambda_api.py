"""AWS Lambda entry point of the API: `qps_core.api.lambda_api.handler` (Mangum, behind a Function URL).

Built once per cold start by the composition root (`qps_core.runtime.compose.lambda_api_context`).
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

    from .. import logs
    from ..runtime.compose import lambda_api_context
    from ..settings import load_settings
    from .app import create_app

    logs.configure(os.environ.get("QPS_LOG_LEVEL", "INFO"))
    context = lambda_api_context(load_settings(), token_auth=os.environ.get("QPS_API_AUTH") == "token")
    text_types = [*DEFAULT_TEXT_MIME_TYPES, "application/problem+json"]  # errors stay readable, not base64
    return Mangum(create_app(context), lifespan="off", text_mime_types=text_types)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    global _HANDLER
    if _HANDLER is None:
        _HANDLER = build_handler()
    from .. import logs

    with logs.bound(aws_request_id=getattr(context, "aws_request_id", None)):
        result: dict[str, Any] = _HANDLER(event, context)
    return result
