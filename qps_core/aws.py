"""AWS in one place: clients made on first use, and what an AWS failure means.

Light at import (no boto3 or botocore until a client is made or an exception is classified), so
modules that may talk to AWS cost nothing at a cold start that does not.

- `client(service, endpoint_url=None, **config)`: a boto3 client; the normal credential chain,
  `AWS_ENDPOINT_URL` honoured by boto3 when `endpoint_url` is None; `config` goes to botocore's Config.
- `LazyClient(service, **config)`: a class attribute that makes that client on first use, from the
  instance's `endpoint_url`, and keeps it in `_<name>` (which a constructor may set instead).
- `error_code`, `http_status`, `is_transient`, `is_not_found`, `reason`: reading an exception.
- `classify(exc, action, uri)`: a one-line `PermanentError` or `TransientError` naming action and URI.
"""

from __future__ import annotations

from typing import Any

from .errors import PackagingError, PermanentError, TransientError, one_line

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "SlowDown",
        "EC2ThrottledException",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "InternalError",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "OperationAborted",
        "TransactionConflictException",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "RequestTimeTooSkewed",
        "IDPCommunicationError",
        "500",
        "502",
        "503",
        "504",
    }
)
DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AllAccessDisabled",
        "AccountProblem",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "UnauthorizedOperation",
        "403",
        "Forbidden",
    }
)
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})
MISSING_CODES = NOT_FOUND_CODES | {"NoSuchBucket"}  # reading a package: no such package, or no such registry
CHANGED_CODES = frozenset({"PreconditionFailed", "412", "InvalidObjectState"})
QUEUE_MISSING_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "InvalidAddress"})
CONDITION_CODES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})  # DynamoDB


def client(service: str, endpoint_url: str | None = None, **config: Any) -> Any:
    """A boto3 client for `service` (boto3 loads here, on the first call)."""
    import boto3

    kwargs: dict[str, Any] = {}
    if config:
        from botocore.config import Config

        kwargs["config"] = Config(**config)
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    return boto3.client(service, **kwargs)


def endpoint_for(service: str) -> str | None:
    """The endpoint the environment sets for `service`, as boto3 reads it: `AWS_ENDPOINT_URL_<SERVICE>`
    (e.g. `AWS_ENDPOINT_URL_OMICS`), else `AWS_ENDPOINT_URL`; None for AWS's own endpoint."""
    import os

    specific = os.environ.get("AWS_ENDPOINT_URL_" + service.upper().replace("-", "_").replace(" ", "_"))
    return specific or os.environ.get("AWS_ENDPOINT_URL") or None


def service_client(service: str, **config: Any) -> Any:
    """A client for `service` that honours `AWS_ENDPOINT_URL(_<SERVICE>)`. With an endpoint set it does
    not inject the API's host prefix (HealthOmics prepends `workflows-` to the host), so a local or
    private endpoint receives the request as addressed."""
    endpoint = endpoint_for(service)
    if endpoint:
        config = {"inject_host_prefix": False, **config}
    return client(service, endpoint, **config)


class LazyClient:
    """`sqs = LazyClient("sqs")` in a class body: `obj.sqs` is made on first use from `obj.endpoint_url`
    and kept in `obj._sqs`; a constructor that sets `self._sqs = given` injects one instead."""

    def __init__(self, service: str, **config: Any) -> None:
        self.service = service
        self.config = config
        self.slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        made = getattr(obj, self.slot, None)
        if made is None:
            made = client(self.service, getattr(obj, "endpoint_url", None), **self.config)
            setattr(obj, self.slot, made)
        return made


def error_code(exc: BaseException) -> str:
    """The AWS error code of a client error (its HTTP status when it has no code), else ""."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    err = response.get("Error") or {}
    return str(err.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")


def error_code_in_chain(exc: BaseException) -> str:
    """The first error code along `exc` and its causes (quilt3 wraps botocore's errors)."""
    seen: BaseException | None = exc
    for _ in range(20):
        if seen is None:
            break
        code = error_code(seen)
        if code:
            return code
        seen = seen.__cause__ or seen.__context__
    return ""


def http_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") if isinstance(response, dict) else None
    try:
        return int(status) if status is not None else 0
    except (TypeError, ValueError):
        return 0


def is_transient_code(code: str) -> bool:
    return code in THROTTLING_CODES or code in TRANSIENT_CODES


def is_missing_code(code: str) -> bool:
    return code in MISSING_CODES


def reason(exc: BaseException) -> str:
    """`Code: message` of a client error, else the exception in one line."""
    response = getattr(exc, "response", None)
    err = (response.get("Error") or {}) if isinstance(response, dict) else {}
    if err.get("Code"):
        return f"{err['Code']}: {one_line(err.get('Message', ''))}".rstrip(": ")
    return one_line(exc) or type(exc).__name__


def _cut_off() -> tuple[type[BaseException], ...]:
    """A response cut off mid-body surfaces from urllib3 / http.client, not always wrapped by botocore."""
    import http.client

    import urllib3.exceptions

    return (urllib3.exceptions.HTTPError, http.client.HTTPException)


def is_connection_failure(exc: BaseException) -> bool:
    """No answer, or a broken one: connection errors, timeouts, truncated bodies."""
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.ClientError):
        return False
    return isinstance(exc, (botocore.exceptions.BotoCoreError, ConnectionError, TimeoutError, *_cut_off())) and not (
        isinstance(
            exc,
            botocore.exceptions.NoCredentialsError
            | botocore.exceptions.PartialCredentialsError
            | botocore.exceptions.ParamValidationError,
        )
    )


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: throttled, a transient code or status, or a connection failure."""
    code = error_code(exc)
    if is_transient_code(code):
        return True
    status = http_status(exc)
    if status >= 500 or status in (408, 429):
        return True
    return is_connection_failure(exc)


def is_not_found(exc: BaseException) -> bool:
    """No such key or version (a missing bucket is not "not found": it is a configuration error)."""
    import botocore.exceptions

    return isinstance(exc, botocore.exceptions.ClientError) and (
        error_code(exc) in NOT_FOUND_CODES or (http_status(exc) == 404 and error_code(exc) != "NoSuchBucket")
    )


def find_client_error(exc: BaseException) -> BaseException | None:
    """The botocore error behind an exception (quilt3 wraps some of them), if any."""
    import botocore.exceptions

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, botocore.exceptions.ClientError | botocore.exceptions.BotoCoreError):
            return current
        current = current.__cause__ or current.__context__
    return None


def find_failure(exc: BaseException) -> BaseException | None:
    """The AWS error or connection failure (reset, cut-off body) behind an exception that a library
    (quilt3) raised or wrapped, if any: what `classify` should judge instead of the wrapper."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if find_client_error(current) is current or is_connection_failure(current):
            return current
        current = current.__cause__ or current.__context__
    return None


def classify(exc: BaseException, action: str, uri: str) -> PackagingError:
    """A botocore failure as a one-line PermanentError or TransientError naming action and URI."""
    import botocore.exceptions

    where = f"{action} on {uri}"
    if isinstance(exc, PackagingError):
        return exc
    if isinstance(exc, botocore.exceptions.ClientError):
        code = error_code(exc)
        status = http_status(exc)
        message = one_line((exc.response.get("Error") or {}).get("Message") or "")
        detail = f" ({code}: {message})" if message else f" ({code})" if code else ""
        if code == "NoSuchBucket":
            return PermanentError(f"{where}: no such bucket")
        if code in DENIED_CODES or status == 403:
            return PermanentError(f"{where}: access denied{detail}")
        if code in NOT_FOUND_CODES or status == 404:
            return PermanentError(f"{where}: no such object{detail}")
        if code in THROTTLING_CODES or status == 429:
            return TransientError(f"{where}: throttled, retry later{detail}")
        if code in CHANGED_CODES or status == 412:
            return TransientError(f"{where}: the object changed while it was being packaged{detail}")
        if code in TRANSIENT_CODES or status >= 500 or status == 408:
            return TransientError(f"{where}: temporary S3 failure{detail}")
        return PermanentError(f"{where}: S3 refused the request{detail}")
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return PermanentError(f"{where}: no AWS credentials ({one_line(exc)})")
    if isinstance(exc, botocore.exceptions.ParamValidationError):
        return PermanentError(f"{where}: invalid request ({one_line(exc)})")
    if is_connection_failure(exc):
        return TransientError(f"{where}: connection failed, retry later ({type(exc).__name__}: {one_line(exc)})")
    return PermanentError(f"{where}: {type(exc).__name__}: {one_line(exc)}")
