"""The package request (docs/design.md §2): its fields, validation, defaults and normal form.

What the runner reports about requests (`Plan`, `RunOutcome`) lives in `outcomes.py`."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError, model_validator

from . import s3paths
from .errors import InvalidInput, shown
from .jsonstrict import dumps_compact

DEFAULT_MAX_METADATA_BYTES = 256 * 1024
REQUEST_FIELDS = (
    "source_prefix",
    "registry",
    "package_name",
    "metadata",
    "metadata_uri",
    "message",
    "workflow",
    "should_copy",
)
_ALIASES = {"commit_message": "message"}


class PackageRequest(BaseModel):
    """One package to build: a source folder in S3 and where and how to record it.

    Validate with `PackageRequest.parse(data, ...)`, which turns every failure into one
    `InvalidInput` sentence naming the field.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    source_prefix: StrictStr
    registry: StrictStr
    package_name: StrictStr
    metadata: dict[str, Any] | None = None
    metadata_uri: StrictStr | None = None
    message: StrictStr | None = None
    workflow: StrictStr | None = None
    should_copy: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any, info: Any) -> Any:
        ctx: Mapping[str, Any] = info.context or {}
        if not isinstance(data, Mapping):
            raise InvalidInput("a package request must be a JSON object")
        unknown = sorted(k for k in data if k not in REQUEST_FIELDS and k not in _ALIASES)
        if unknown:
            raise InvalidInput(
                f"unknown field {', '.join(shown(k, 40) for k in unknown[:5])}; allowed fields are: "
                + ", ".join(REQUEST_FIELDS)
                + " (commit_message is an alias of message)"
            )
        out = {k: v for k, v in data.items() if v is not None}
        if "commit_message" in out:
            if "message" in out:
                raise InvalidInput("give either message or its alias commit_message, not both")
            out["message"] = out.pop("commit_message")
        if "source_prefix" not in out:
            raise InvalidInput("source_prefix: is required (an s3:// URI of the folder to package)")
        folder = s3paths.parse_folder(out["source_prefix"], "source_prefix")
        if s3paths.is_quilt_internal(folder.prefix):
            raise InvalidInput("source_prefix: must not be under .quilt/, where package pushes write")
        out["source_prefix"] = folder.uri

        registry = out.get("registry", folder.bucket)
        out["registry"] = normalise_registry(registry)
        allowed = ctx.get("allowed_registries") or ()
        if allowed and out["registry"] not in allowed:
            raise InvalidInput(
                f"registry: {out['registry']!r} is not an allowed registry (allowed: {', '.join(allowed)})"
            )

        if "package_name" in out:
            s3paths.check_package_name(out["package_name"])
        else:
            out["package_name"] = s3paths.derive_package_name(
                folder, ctx.get("default_prefix", "package"), ctx.get("default_suffix", "root")
            )

        if "metadata" in out:
            if "metadata_uri" in out:
                raise InvalidInput("give either metadata or metadata_uri, not both")
            meta = out["metadata"]
            if not isinstance(meta, dict):
                raise InvalidInput("metadata: must be a JSON object")
            limit = ctx.get("max_metadata_bytes", DEFAULT_MAX_METADATA_BYTES)
            try:
                size = len(dumps_compact(meta).encode("utf-8"))
            except (TypeError, ValueError, UnicodeEncodeError):
                raise InvalidInput("metadata: must be plain JSON (no NaN, Infinity or lone surrogates)") from None
            if size > limit:
                raise InvalidInput(f"metadata: is {size} bytes as compact JSON, over the limit of {limit} bytes")
        if "metadata_uri" in out:
            out["metadata_uri"] = resolve_metadata_uri(out["metadata_uri"], folder)
        for name in ("message", "workflow"):
            if name in out and not isinstance(out[name], str):
                raise InvalidInput(f"{name}: must be a string")
        if "should_copy" in out and not isinstance(out["should_copy"], bool):
            raise InvalidInput("should_copy: must be a JSON boolean (true or false)")
        return out

    @classmethod
    def parse(cls, data: Any, **context: Any) -> PackageRequest:
        """Validate a request body; raise InvalidInput with one sentence on any failure."""
        try:
            return cls.model_validate(data, context=context)
        except ValidationError as exc:
            raise InvalidInput(describe_validation_error(exc)) from None

    @classmethod
    def from_uri(cls, uri: Any, **context: Any) -> PackageRequest:
        """The URI form `s3://bucket/folder?k=v`: query parameters become metadata."""
        bucket, path, query = s3paths.split_s3_uri(uri, "uri", allow_query=True)
        if not path.strip("/"):
            raise InvalidInput("uri: must name a folder inside the bucket, not only the bucket")
        body: dict[str, Any] = {}
        metadata = query_to_metadata(query)
        if metadata:
            body["metadata"] = metadata
        body["source_prefix"] = s3paths.folder_uri(bucket, path)
        return cls.parse(body, **context)

    def normalised(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def folder(self) -> s3paths.S3Folder:
        bucket, _, prefix = self.source_prefix[5:].partition("/")
        return s3paths.S3Folder(bucket, prefix)


def query_to_metadata(query: str) -> dict[str, Any]:
    """Form-decode a query string; a repeated key becomes the list of its values."""
    if not query:
        return {}
    try:
        parsed = parse_qs(query, keep_blank_values=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("uri: the query string is not valid form-encoded UTF-8") from None
    return {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}


def normalise_registry(registry: Any) -> str:
    if not isinstance(registry, str):
        raise InvalidInput("registry: must be a string (a bucket name or s3://bucket)")
    if registry.startswith("s3://"):
        bucket, path, _ = s3paths.split_s3_uri(registry, "registry")
        if path.strip("/"):
            raise InvalidInput("registry: must be a bucket, without a key path")
        return bucket
    if "://" in registry:
        raise InvalidInput("registry: must be a bucket name or an s3:// URI of a bucket")
    return s3paths.check_bucket(registry, "registry")


def resolve_metadata_uri(value: Any, folder: s3paths.S3Folder) -> str:
    """Absolute s3:// URIs stand; relative ones resolve inside the source folder (never above it)."""
    if not isinstance(value, str) or not value:
        raise InvalidInput("metadata_uri: must be a non-empty string")
    if "://" in value or value.startswith("s3:"):
        bucket, path, _ = s3paths.split_s3_uri(value, "metadata_uri")
        if not path or path.endswith("/"):
            raise InvalidInput("metadata_uri: must name an object, not a folder")
        return f"s3://{bucket}/{path}"
    if ":" in value.split("/", 1)[0]:
        scheme = value.split(":", 1)[0]
        raise InvalidInput(f"metadata_uri: scheme {scheme!r} is not allowed; use s3:// or a relative path")
    if "?" in value or "#" in value:
        raise InvalidInput("metadata_uri: must not contain '?' or '#'; percent-encode them as %3F and %23")
    try:
        path = unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise InvalidInput("metadata_uri: the path is not valid percent-encoded UTF-8") from None
    if path.startswith("/") or path.endswith("/") or "//" in path or any(ord(c) < 0x20 for c in path):
        raise InvalidInput("metadata_uri: a relative path must name an object inside the source folder")
    depth = 0
    for segment in path.split("/"):
        depth += -1 if segment == ".." else 0 if segment == "." else 1
        if depth < 0:
            raise InvalidInput("metadata_uri: a relative path must stay inside the source folder")
    if depth == 0:
        raise InvalidInput("metadata_uri: a relative path must name an object inside the source folder")
    joined = posixpath.normpath(folder.prefix + path)
    return f"s3://{folder.bucket}/{joined}"


_TYPE_MESSAGES = {
    "string_type": "must be a string",
    "bool_type": "must be a JSON boolean (true or false)",
    "dict_type": "must be a JSON object",
    "missing": "is required",
}


def describe_validation_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, InvalidInput):
        return str(cause)
    loc = ".".join(str(p) for p in err["loc"]) or "request"
    msg = _TYPE_MESSAGES.get(err["type"], err["msg"])
    return f"{loc}: {msg}"
