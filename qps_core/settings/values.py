"""One settings object: environment variables `QPS_*` over an optional TOML/YAML config file."""

from __future__ import annotations

import json
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..envelopes import DEFAULT_MAX_EVENTS
from ..errors import ConfigError
from ..models import DEFAULT_MAX_METADATA_BYTES

# Lists and maps come from the environment and config files as "a,b" / "a=x,b=y" (or JSON) strings.
CommaList = list[str]
CommaMap = dict[str, Any]
DEFAULT_SENTINELS = ["ro-crate-metadata.json", "ro-crate-manifest.json"]


class Settings(BaseModel):
    """Effective QPS settings. Environment (`QPS_<FIELD>`) wins over the config file (`QPS_CONFIG`).

    A plain pydantic model that reads its own `QPS_*` variables (`_environment`): pydantic-settings
    would do the same but costs a Lambda cold start ~60 ms of imports (asyncio, dotenv, argparse)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    enable_adapters: CommaList = Field(
        default=[], description="Only these adapter ids run (empty: every installed adapter)."
    )
    disable_adapters: CommaList = Field(default=[], description="Adapter ids that never run.")
    adapter_order: CommaList = Field(
        default=[],
        description="Adapter ids consulted first, in this order, when several claim one event.",
    )
    sentinel_names: CommaList = Field(
        default_factory=lambda: list(DEFAULT_SENTINELS),
        description="Basenames of RO-Crate sentinel files that trigger packaging of their folder.",
    )
    default_prefix: str = Field("package", description="Name prefix when a folder has one component.")
    default_suffix: str = Field("root", description="Name suffix for a folder at the bucket root.")
    allowed_registries: CommaList = Field(default=[], description="Registries (buckets) QPS may write to (empty: any).")
    allowed_sources: CommaList = Field(
        default=[],
        description=(
            "Buckets or s3://bucket/prefix/ QPS may package or read metadata_uri from "
            "(empty: the allowed registries when set, else any)."
        ),
    )
    rules_file: Path | None = Field(None, description="YAML or TOML file of JMESPath rules for `mapped`.")
    max_metadata_bytes: int = Field(DEFAULT_MAX_METADATA_BYTES, gt=0, description="Metadata size limit.")
    endpoint_url: str | None = Field(None, description="S3/AWS endpoint (else AWS_ENDPOINT_URL or AWS).")
    dead_letter_queue_url: str | None = Field(None, description="SQS queue for permanent failures.")
    event_bus_name: str | None = Field(None, description="EventBridge bus for completion notices.")
    notice_topic_arn: str | None = Field(None, description="SNS topic for completion notices.")
    quiet_period_seconds: int = Field(0, ge=0, description="Wait while any object is younger than this.")
    # RO-Crate packages follow the crate (docs/design.md, "RO-Crate packages").
    rocrate_contents: Literal["parts", "folder"] = Field(
        "parts",
        description="A folder with a sentinel RO-Crate at its root: package the crate's parts (hasPart) and the "
        "crate file, or the whole folder.",
    )
    rocrate_validation: Literal["warn", "strict"] = Field(
        "warn",
        description="RO-Crate validation: warn records issues in the package metadata; strict also rejects a crate "
        "with an error-level issue (missing part, wrong contentSize or sha256).",
    )
    rocrate_missing_part_seconds: int = Field(
        900,
        ge=0,
        description="A crate part listed but not in S3 is retried (the crate may be ahead of its files) until this "
        "many seconds after the crate file's LastModified, then a permanent error.",
    )
    # Hashing (docs/design.md §9): one hash type per registry; what S3 computes instead of us reading.
    hash_type: Literal["sha2-256-chunked", "CRC64NVME"] = Field(
        "sha2-256-chunked", description="quilt3 hash type of package entries (CRC64NVME needs quilt3 >= 7.2)."
    )
    server_checksum_threshold: int = Field(
        32 * 1024 * 1024,
        ge=0,
        description="Objects this large or larger with no reusable S3 checksum are checksummed by S3 "
        "(a scratch copy under the registry's .quilt/), never read; smaller ones are read.",
    )
    max_objects: int = Field(
        1_000_000, gt=0, description="Largest folder (objects) one packaging call accepts; more fails at once."
    )
    # Runtime bounds (issue 7).
    max_events_per_input: int = Field(
        DEFAULT_MAX_EVENTS, gt=0, description="Events one input (file, direct event, SQS message) may hold."
    )
    # The REST API and jobs (docs/design.md §7)
    api_tokens: CommaList = Field(default=[], description="Accepted API tokens, as sha256:<hex>.")
    admin_tokens: CommaList = Field(default=[], description="Admin tokens (every route), as sha256:<hex>.")
    allowed_hosts: CommaList = Field(
        default=[],
        description=(
            "Host names the API answers besides loopback and the address it listens on (a real name "
            "behind a proxy; .example.org for its subdomains; * for any). Others get 421."
        ),
    )
    data_dir: Path | None = Field(
        None, description="Local state: jobs and stored settings (default: $XDG_DATA_HOME/qps)."
    )
    jobs_table: str | None = Field(None, description="DynamoDB jobs table (AWS); else SQLite in data_dir.")
    queue_url: str | None = Field(None, description="The QuiltPackager queue the API sends jobs to (AWS).")
    api_workers: int = Field(2, ge=1, le=64, description="Jobs run at once by `qps serve`.")
    job_max_attempts: int = Field(3, ge=1, le=20, description="Tries of a transiently failing job.")
    job_ttl_days: int = Field(30, ge=1, description="Finished jobs are kept this long (DynamoDB TTL).")
    sources: CommaMap = Field(
        default={},
        description="Source switches: adapter id = on/off (an adapter not listed is on), e.g. omics=off,rocrate=on.",
    )
    source_rules: CommaMap = Field(
        default={},
        description="EventBridge rule of each switchable source (adapter id = rule name); set by the stack.",
    )
    source_filters: dict[str, dict[str, list[str]]] = Field(
        default={},
        description="Default include/exclude glob patterns per source, as a JSON object: adapter id -> "
        '{"include": [...], "exclude": [...]}, e.g. {"rocrate": {"exclude": ["work/", "*.tmp"]}}. Applied to the '
        "requests that adapter plans; a request's own include/exclude wins.",
    )
    settings_table: str | None = Field(None, description="DynamoDB table of stored settings (else SQLite in data_dir).")
    settings_refresh_seconds: int = Field(
        30, ge=0, description="Running workers re-read the stored settings this often (seconds)."
    )

    @field_validator(
        "enable_adapters",
        "disable_adapters",
        "adapter_order",
        "sentinel_names",
        "allowed_registries",
        "allowed_sources",
        "api_tokens",
        "admin_tokens",
        "allowed_hosts",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        """`a,b` or a JSON array (environment variables and config files)."""
        if not isinstance(value, str):
            return value
        if value.strip().startswith("["):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("is not a valid JSON array") from None
        return [part.strip() for part in value.split(",") if part.strip()]

    @field_validator("sources", "source_rules", mode="before")
    @classmethod
    def _split_pairs(cls, value: Any) -> Any:
        """`a=x,b=y` or a JSON object (environment variables and config files)."""
        if not isinstance(value, str):
            return value
        if value.strip().startswith("{"):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("is not a valid JSON object") from None
        pairs: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            key, sep, val = part.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"{part!r} is not id=value")
            pairs[key.strip()] = val.strip()
        return pairs

    @field_validator("source_filters", mode="before")
    @classmethod
    def _filters(cls, value: Any) -> Any:
        """A JSON object (string or mapping): adapter id -> {"include": [...], "exclude": [...]}."""
        from ..errors import InvalidInput
        from ..globs import FILTER_FIELDS, check_patterns

        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError('is not a JSON object (adapter id -> {"include": [...], "exclude": [...]})') from None
        if not isinstance(value, dict):
            raise ValueError('must be a JSON object (adapter id -> {"include": [...], "exclude": [...]})')
        out: dict[str, dict[str, list[str]]] = {}
        for source, filters in value.items():
            if not isinstance(filters, dict) or not filters or set(filters) - set(FILTER_FIELDS):
                raise ValueError(f"source {source!r}: give an object with include and/or exclude (lists of patterns)")
            try:
                out[source] = {k: check_patterns(v, k) for k, v in filters.items() if v is not None}
            except InvalidInput as exc:
                raise ValueError(f"source {source!r}: {exc}") from None
        return out

    @field_validator("sources")
    @classmethod
    def _switches(cls, value: dict[str, Any]) -> dict[str, bool]:
        out: dict[str, bool] = {}
        for key, state in value.items():
            if isinstance(state, bool):
                out[key] = state
            elif isinstance(state, str) and state.lower() in _SWITCH_WORDS:
                out[key] = _SWITCH_WORDS[state.lower()]
            else:
                raise ValueError(f"source {key!r}: {state!r} is not on or off")
        return out

    @field_validator("source_rules")
    @classmethod
    def _rule_names(cls, value: dict[str, Any]) -> dict[str, str]:
        bad = [k for k, v in value.items() if not isinstance(v, str) or not v]
        if bad:
            raise ValueError(f"source {bad[0]!r}: the rule name must be a non-empty string")
        return {k: str(v) for k, v in value.items()}

    @field_validator("allowed_registries")
    @classmethod
    def _registries(cls, value: list[str]) -> list[str]:
        from ..errors import InvalidInput
        from ..models import normalise_registry

        try:
            return [normalise_registry(v) for v in value]
        except InvalidInput as exc:
            raise ValueError(str(exc).removeprefix("registry: ")) from None

    @field_validator("allowed_sources")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        from ..errors import InvalidInput
        from ..s3paths import check_bucket, parse_folder

        out = []
        for entry in value:
            try:
                out.append(
                    parse_folder(entry, "allowed_sources").uri if "://" in entry else f"s3://{check_bucket(entry)}/"
                )
            except InvalidInput as exc:
                raise ValueError(f"{entry!r}: {str(exc).split(': ', 1)[-1]}") from None
        return out

    def source_allow_list(self) -> list[str]:
        """`s3://bucket/` or `s3://bucket/prefix/` entries; empty means any source."""
        return self.allowed_sources or [f"s3://{b}/" for b in self.allowed_registries]

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        hosts = [item.strip().lower().rstrip(".") or item for item in value]
        for host in hosts:
            if host != "*" and (not host or any(c in host for c in "/@ ?#")):
                raise ValueError(f"{host!r} is not a host name (no scheme, path or port; * for any)")
        return hosts

    @field_validator("api_tokens", "admin_tokens")
    @classmethod
    def _token_hashes(cls, value: list[str]) -> list[str]:
        for item in value:
            hexpart = item.lower().removeprefix("sha256:")
            if not item.lower().startswith("sha256:") or len(hexpart) != 64 or hexpart.strip("0123456789abcdef"):
                raise ValueError("list tokens by their hash, sha256:<64 hex digits> (`qps token` prints one)")
        return [item.lower() for item in value]

    @field_validator("sentinel_names")
    @classmethod
    def _basenames(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if "/" in v]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a file name (sentinels are matched on the key's basename)")
        return value

    @field_validator("default_prefix", "default_suffix")
    @classmethod
    def _name_part(cls, value: str) -> str:
        from ..s3paths import valid_name_part

        if not valid_name_part(value):
            raise ValueError(f"{value!r} is not a valid package name part ([\\w-]+)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _environment(cls, data: Any) -> Any:
        """`QPS_<NAME>` variables fill what the caller did not give (the caller's values win)."""
        if not isinstance(data, dict):
            return data
        return {**environment_values(), **data}

    def request_context(self) -> dict[str, Any]:
        """What PackageRequest validation needs from the settings."""
        return {
            "default_prefix": self.default_prefix,
            "default_suffix": self.default_suffix,
            "allowed_registries": tuple(self.allowed_registries),
            "max_metadata_bytes": self.max_metadata_bytes,
        }

    def adapter_enabled(self, adapter_id: str) -> bool:
        if adapter_id in self.disable_adapters or self.sources.get(adapter_id) is False:
            return False
        return not self.enable_adapters or adapter_id in self.enable_adapters

    def switched_off(self, adapter_id: str) -> bool:
        """True when the adapter's source switch (the `sources` setting) is off."""
        return self.sources.get(adapter_id) is False

    @property
    def state_dir(self) -> Path:
        """Where local state (stored settings, jobs) lives."""
        if self.data_dir is not None:
            return self.data_dir
        if os.environ.get("QPS_DATA_DIR"):  # set after these settings were read
            return Path(os.environ["QPS_DATA_DIR"])
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(base) / "qps"


_SWITCH_WORDS = {
    "on": True,
    "true": True,
    "yes": True,
    "1": True,
    "off": False,
    "false": False,
    "no": False,
    "0": False,
}


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8") from None
    try:
        if path.suffix == ".toml":
            import tomllib

            data: Any = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    except Exception as exc:
        raise ConfigError(f"config file {path} is not valid: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings")
    data = data.get("qps", data)
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: 'qps' must hold a mapping of settings")
    if data.get("rules_file"):
        data["rules_file"] = str((path.parent / str(data["rules_file"])).resolve())
    return dict(data)


Origin = str  # "environment" | "stored" | "config file" | "deployment default" | "default" | "override"
DEPLOYMENT_DEFAULTS_VARIABLE = "QPS_DEFAULTS"


def environment_values() -> dict[str, str]:
    """Settings given by `QPS_<NAME>` environment variables (the name upper-cased), unparsed."""
    variables = {name: f"QPS_{name.upper()}" for name in Settings.model_fields}
    return {name: os.environ[var] for name, var in variables.items() if var in os.environ}


def env_keys() -> set[str]:
    """Settings fixed by a `QPS_<NAME>` environment variable."""
    return set(environment_values())


def deployment_defaults() -> dict[str, Any]:
    """`QPS_DEFAULTS`: a JSON object of settings at the level of the defaults (a stack's initial values:
    anything stored, in a config file or in the environment overrides them)."""
    text = os.environ.get(DEPLOYMENT_DEFAULTS_VARIABLE, "").strip()
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError(f"{DEPLOYMENT_DEFAULTS_VARIABLE} is not valid JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{DEPLOYMENT_DEFAULTS_VARIABLE} must be a JSON object of settings")
    return data


def layered_values(
    config_file: str | Path | None = None, stored: dict[str, Any] | None = None, **overrides: Any
) -> tuple[dict[str, Any], dict[str, Origin]]:
    """The values given to `Settings` and where each came from: overrides > environment > stored >
    config file > deployment defaults > defaults (environment values are read by `Settings` itself)."""
    config_file = config_file or os.environ.get("QPS_CONFIG")
    layers: list[tuple[Origin, dict[str, Any]]] = [
        ("deployment default", deployment_defaults()),
        ("config file", read_config_file(Path(config_file)) if config_file else {}),
        ("stored", dict(stored or {})),
    ]
    fixed = env_keys()
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {name: "default" for name in Settings.model_fields}
    for origin, layer in layers:
        for key, value in layer.items():
            if key not in fixed:
                values[key] = value
                origins[key] = origin
    for key in fixed:
        origins[key] = "environment"
    values.update(overrides)
    origins.update({key: "override" for key in overrides if key in origins})
    return values, origins


def _build(values: dict[str, Any]) -> Settings:
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"setting {where}: {err['msg']}") from None


def load_settings(
    config_file: str | Path | None = None, *, stored: dict[str, Any] | None = None, **overrides: Any
) -> Settings:
    """Build the settings: explicit overrides, then `QPS_*` variables, then stored values (the admin
    page / API), then the config file, then the defaults."""
    return load_with_origins(config_file, stored=stored, **overrides)[0]


def load_with_origins(
    config_file: str | Path | None = None, *, stored: dict[str, Any] | None = None, **overrides: Any
) -> tuple[Settings, dict[str, Origin]]:
    """`load_settings`, plus where each value came from. A stored value that is no longer valid is
    skipped with a warning rather than stopping the service."""
    stored = dict(stored or {})
    while True:
        values, origins = layered_values(config_file, stored, **overrides)
        try:
            return _build(values), origins
        except ConfigError as exc:
            bad = [
                k
                for k, o in origins.items()
                if o == "stored" and str(exc).startswith((f"setting {k}:", f"setting {k}."))
            ]
            if not bad:
                raise
            logging.getLogger("qps.settings").warning("ignoring the stored value of %s: %s", bad[0], exc)
            del stored[bad[0]]


@lru_cache(maxsize=1)
def default_settings() -> Settings:
    return load_settings()
