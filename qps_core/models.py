"""The package request (docs/design.md §2): its fields, their rules, and the limits checked at plan time.

What the runner reports about requests (`Plan`, `RunOutcome`) lives in `outcomes.py`."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError, model_validator

from . import globs, s3paths
from .errors import InvalidInput, shown
from .jsonstrict import dumps_compact

DEFAULT_MAX_METADATA_BYTES = 256 * 1024
#: Other names a body may use for a field.
ALIASES = {"commit_message": "message"}

#: S3's limit on an object key, in UTF-8 bytes.
MAX_S3_KEY_BYTES = 1024
#: A package's pointers live at `.quilt/named_packages/<name>/<pointer>`, where `<pointer>` is
#: `latest` or a revision timestamp (quilt3 writes epoch seconds; room is left for a finer one).
NAMED_PACKAGES_PREFIX = ".quilt/named_packages/"
POINTER_NAME_ROOM = 32
MAX_PACKAGE_NAME_BYTES = MAX_S3_KEY_BYTES - len(NAMED_PACKAGES_PREFIX) - len("/") - POINTER_NAME_ROOM
#: quilt3 refuses to write a manifest line longer than this (`quilt3.packages.MANIFEST_MAX_RECORD_SIZE`,
#: default 1,000,000 bytes, overridable with QUILT_MANIFEST_MAX_RECORD_SIZE). The first line holds
#: the commit message, the package metadata and the workflow.
DEFAULT_MANIFEST_MAX_RECORD_BYTES = 1_000_000
#: What quilt3 adds to that line for a workflow (its id and the config file's s3:// URI, versioned).
WORKFLOW_RECORD_ROOM = 4096


#: A folder an adapter cannot know while planning (a HealthOmics event without `runOutputUri`) is
#: planned under this bucket, `s3://sthree-qps-deferred/<adapter>/<id>/`, and replaced by the real
#: folder in that adapter's packaging-time hook (`qps_prepare_request`). `sthree-` is a prefix AWS
#: reserves, so no real bucket has this name; a request still deferred when packaged is refused.
DEFERRED_BUCKET = "sthree-qps-deferred"


def manifest_max_record_bytes() -> int:
    """quilt3's limit as the environment sets it (read the same way quilt3 reads it)."""
    try:
        value = int(os.environ.get("QUILT_MANIFEST_MAX_RECORD_SIZE") or DEFAULT_MANIFEST_MAX_RECORD_BYTES)
    except ValueError:
        return DEFAULT_MANIFEST_MAX_RECORD_BYTES
    return value if value > 0 else DEFAULT_MANIFEST_MAX_RECORD_BYTES


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
    include: list[StrictStr] | None = None
    exclude: list[StrictStr] | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any, info: Any) -> Any:
        ctx: Mapping[str, Any] = info.context or {}
        if not isinstance(data, Mapping):
            raise InvalidInput("a package request must be a JSON object")
        unknown = sorted(k for k in data if k not in REQUEST_FIELDS and k not in ALIASES)
        if unknown:
            raise InvalidInput(
                f"unknown field {', '.join(shown(k, 40) for k in unknown[:5])}; allowed fields are: "
                + ", ".join(REQUEST_FIELDS)
                + " (commit_message is an alias of message)"
            )
        out = {k: v for k, v in data.items() if v is not None}
        for name, value in out.items():
            if isinstance(value, str) and not _is_unicode(value):
                raise InvalidInput(f"{ALIASES.get(name, name)}: holds a lone surrogate (not valid Unicode)")
        if "commit_message" in out:
            if "message" in out:
                raise InvalidInput("give either message or its alias commit_message, not both")
            out["message"] = out.pop("commit_message")
        if "source_prefix" not in out:
            raise InvalidInput("source_prefix: is required (an s3:// URI of the folder to package)")
        folder = _parse_source(out["source_prefix"])
        if s3paths.is_quilt_internal(folder.prefix):
            raise InvalidInput("source_prefix: must not be under .quilt/, where package pushes write")
        prefix_bytes = len(folder.prefix.encode("utf-8", "surrogatepass"))
        if prefix_bytes >= MAX_S3_KEY_BYTES:
            raise InvalidInput(
                f"source_prefix: the folder path is {prefix_bytes} bytes; an S3 key is at most {MAX_S3_KEY_BYTES} "
                "bytes, so no object can be inside it"
            )
        out["source_prefix"] = folder.uri

        registry = out.get("registry", folder.bucket)
        deferred = registry == DEFERRED_BUCKET == folder.bucket  # the adapter names the registry when packaging
        out["registry"] = registry if deferred else normalise_registry(registry)
        refused = None if deferred else registry_refusal(out["registry"], ctx.get("allowed_registries") or ())
        if refused is not None:
            raise InvalidInput(f"registry: {refused}")

        if "package_name" in out:
            s3paths.check_package_name(out["package_name"])
        else:
            out["package_name"] = s3paths.derive_package_name(
                folder, ctx.get("default_prefix", "package"), ctx.get("default_suffix", "root")
            )
        name_bytes = len(out["package_name"].encode("utf-8"))
        if name_bytes > MAX_PACKAGE_NAME_BYTES:
            raise InvalidInput(
                f"package_name: is {name_bytes} bytes, over the limit of {MAX_PACKAGE_NAME_BYTES} bytes (its keys "
                f"{NAMED_PACKAGES_PREFIX}<name>/<revision> must fit S3's {MAX_S3_KEY_BYTES}-byte key limit)"
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
            key_bytes = len(out["metadata_uri"].split("/", 3)[3].encode("utf-8", "surrogatepass"))
            if key_bytes > MAX_S3_KEY_BYTES:
                raise InvalidInput(
                    f"metadata_uri: the object key is {key_bytes} bytes, over S3's {MAX_S3_KEY_BYTES}-byte key limit"
                )
        for name in ("message", "workflow"):
            if name in out and not isinstance(out[name], str):
                raise InvalidInput(f"{name}: must be a string")
        if "should_copy" in out and not isinstance(out["should_copy"], bool):
            raise InvalidInput("should_copy: must be a JSON boolean (true or false)")
        for name in globs.FILTER_FIELDS:
            if name in out:
                out[name] = globs.check_patterns(out[name], name)
        _check_manifest_record(out)
        return out

    @classmethod
    def parse(cls, data: Any, **context: Any) -> PackageRequest:
        """Validate a request body; raise InvalidInput with one sentence on any failure."""
        try:
            return cls.model_validate(data, context=context)
        except ValidationError as exc:
            raise InvalidInput(describe_validation_error(exc)) from None

    @classmethod
    def from_body(cls, body: Any, **context: Any) -> PackageRequest:
        """A native body in either form: `{"uri": ...}` (that field only) or a package description.
        The one parser of request bodies (SQS, EventBridge details, REST, CLI, the admin form)."""
        if isinstance(body, Mapping) and "uri" in body:
            extra = sorted(k for k in body if k != "uri")
            if extra:
                raise InvalidInput(
                    f"the uri form takes only the field uri; remove {', '.join(shown(k, 40) for k in extra[:5])} "
                    "or send a package description with source_prefix instead"
                )
            return cls.from_uri(body["uri"], **context)
        return cls.parse(body, **context)

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
        """The request as `qps plan --json` and a job show it; `include`/`exclude` only when they apply."""
        out = self.model_dump(mode="json")
        for name in globs.FILTER_FIELDS:
            if out[name] is None:
                del out[name]
        return out

    def with_default_message(self) -> PackageRequest:
        """The request with its message, the default one when none was given."""
        if self.message is not None:
            return self
        return self.model_copy(update={"message": default_message(self.source_prefix)})

    def with_filters(self, defaults: Mapping[str, Any] | None) -> PackageRequest:
        """The request with a source's default `include`/`exclude` (the `source_filters` setting) where
        it gives none of its own (an explicit field, even `[]`, wins)."""
        if not defaults:
            return self
        update = {
            name: list(defaults[name])
            for name in globs.FILTER_FIELDS
            if getattr(self, name) is None and defaults.get(name) is not None
        }
        return self.model_copy(update=update) if update else self

    @property
    def deferred(self) -> bool:
        """Planned without its folder (see `DEFERRED_BUCKET`): the adapter supplies it when packaging."""
        return self.folder.bucket == DEFERRED_BUCKET

    @property
    def folder(self) -> s3paths.S3Folder:
        bucket, _, prefix = self.source_prefix[5:].partition("/")
        return s3paths.S3Folder(bucket, prefix)


#: The request's fields, in order: the one list (the API schema, the admin form and the rules file follow it).
REQUEST_FIELDS: tuple[str, ...] = tuple(PackageRequest.model_fields)
#: Every key a native body may hold: the request's fields, their aliases, or the URI form's `uri`.
BODY_KEYS: tuple[str, ...] = ("uri", *REQUEST_FIELDS, *ALIASES)


def default_message(source_prefix: str) -> str:
    """The commit message of a request that gives none. The same folder gets the same message whichever
    event asked for it, so re-deliveries and overlapping events (an RO-Crate sentinel and a
    package-objects-ready event) find the package unchanged."""
    return f"QPS: package {source_prefix}"


def _parse_source(uri: Any) -> s3paths.S3Folder:
    """The source folder; the deferred placeholder bucket is accepted here (and only here)."""
    if isinstance(uri, str) and uri.startswith(f"s3://{DEFERRED_BUCKET}/"):
        folder = s3paths.parse_folder(uri.replace(DEFERRED_BUCKET, "deferred", 1), "source_prefix")
        return s3paths.S3Folder(DEFERRED_BUCKET, folder.prefix)
    return s3paths.parse_folder(uri, "source_prefix")


def registry_refusal(registry: str, allowed: tuple[str, ...] | list[str]) -> str | None:
    """Why `allowed_registries` refuses `registry` (one line), or None. The one statement of that rule."""
    if allowed and registry not in allowed:
        return f"{registry!r} is not an allowed registry (allowed: {', '.join(allowed)})"
    return None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_manifest_record(out: dict[str, Any]) -> None:
    """The manifest's first line (message, metadata, workflow) must fit quilt3's record limit."""
    message = out.get("message")
    if message is None:
        message = default_message(out["source_prefix"])
    if not isinstance(message, str) or not isinstance(out.get("metadata", {}), dict):
        return
    try:
        message_bytes = len(message.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput("message: must not hold lone surrogates") from None
    limit = manifest_max_record_bytes()
    if message_bytes > limit:  # cheap first: never serialise a huge message twice
        raise InvalidInput(f"message: is {message_bytes} bytes, over quilt3's manifest-record limit of {limit} bytes")
    record = {"version": "v0", "message": message, "user_meta": out.get("metadata") or {}}
    try:
        size = len(dumps_compact(record).encode("utf-8")) + WORKFLOW_RECORD_ROOM
    except (TypeError, ValueError, UnicodeEncodeError):
        return  # metadata's own check reports it
    if size > limit:
        raise InvalidInput(
            f"message: the commit message ({message_bytes} bytes) and the metadata together are about {size} bytes "
            f"in the manifest, over quilt3's manifest-record limit of {limit} bytes"
        )


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
        raise InvalidInput(f"metadata_uri: scheme {shown(scheme, 40)} is not allowed; use s3:// or a relative path")
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
