"""Effective settings with their origins, and validated writes to the store."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import InvalidInput
from . import (
    NOT_STORABLE,
    Settings,
    SettingsStore,
    Stored,
    env_keys,
    layered_values,
    load_settings,
    load_with_origins,
    open_store,
)

log = logging.getLogger("qps.settings")
SECRET_FIELDS = frozenset({"api_tokens", "admin_tokens"})


@dataclass
class Effective:
    settings: Settings
    origins: dict[str, str]
    stored: Stored

    def describe(self) -> list[dict[str, Any]]:
        """Every setting: effective value, origin, environment variable, and whether it can be changed here."""
        values = self.settings.model_dump(mode="json")
        fixed = env_keys()
        rows = []
        for name, info in Settings.model_fields.items():
            origin = self.origins.get(name, "default")
            value = values.get(name)
            if name in SECRET_FIELDS and value:
                value = f"({len(value)} configured)"
            if name in fixed:
                why = f"fixed by the environment variable QPS_{name.upper()}"
            elif name in NOT_STORABLE:
                why = "set in the environment or the config file only"
            else:
                why = None
            rows.append(
                {
                    "name": name,
                    "value": value,
                    "origin": origin,
                    "env": f"QPS_{name.upper()}",
                    "description": info.description or "",
                    "read_only": why is not None,
                    "read_only_reason": why,
                }
            )
        return rows


def load_effective(
    config_file: str | Path | None = None, store: SettingsStore | None = None, **overrides: Any
) -> Effective:
    """Environment > stored > config file > defaults. The store is located by the other layers."""
    if store is None:
        store = open_store(load_settings(config_file, **overrides))
    stored = store.read()
    settings, origins = load_with_origins(config_file, stored=stored.values, **overrides)
    return Effective(settings, origins, stored)


def overlay(base: Settings, stored: dict[str, Any]) -> Settings:
    """`base` (settings built without the store, e.g. by hand or by `qps serve`) with the stored
    values applied where the environment does not fix them. Invalid stored values are skipped."""
    fixed = env_keys() | NOT_STORABLE
    values = base.model_dump()
    applied = {k: v for k, v in stored.items() if k in Settings.model_fields and k not in fixed}
    while True:
        try:
            return Settings(**{**values, **applied})
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            bad = str(err["loc"][0]) if err["loc"] else ""
            if bad not in applied:
                raise
            log.warning("ignoring the stored value of %s: %s", bad, err["msg"])
            del applied[bad]


def load_with_origins_for(base: Settings, stored: Stored) -> Effective:
    """The effective settings of a process built from `base`, with origins (env/config from the layers)."""
    _, origins = layered_values(stored=stored.values)
    fixed = env_keys() | NOT_STORABLE
    for name in stored.values:
        if name in origins and name not in fixed:
            origins[name] = "stored"
    return Effective(overlay(base, stored.values), origins, stored)


def validate_changes(changes: Any, stored: Stored, config_file: str | Path | None = None) -> dict[str, Any]:
    """Check a settings change (name → value, None to remove the stored value) and return it
    normalised as the settings themselves normalise it. Raises InvalidInput with one line."""
    if not isinstance(changes, dict) or not changes:
        raise InvalidInput("the body must be a JSON object of setting names and values")
    fixed = env_keys()
    for name in changes:
        if name not in Settings.model_fields:
            raise InvalidInput(f"{name!r} is not a setting")
        if name in NOT_STORABLE:
            raise InvalidInput(f"setting {name} can be set in the environment or the config file only")
        if name in fixed:
            raise InvalidInput(f"setting {name} is fixed by the environment variable QPS_{name.upper()}")
    merged = {**stored.values, **changes}
    merged = {k: v for k, v in merged.items() if v is not None}
    values, _ = layered_values(config_file, merged)
    try:
        dumped = Settings(**values).model_dump(mode="json")
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(f"setting {where}: {err['msg']}") from None
    return {name: None if value is None else dumped[name] for name, value in changes.items()}


def apply_changes(
    store: SettingsStore, changes: Any, *, expected_version: int, actor: str, config_file: str | Path | None = None
) -> Stored:
    """Validate, then write with optimistic concurrency (StaleVersion when the version moved)."""
    current = store.read()
    normalised = validate_changes(changes, current, config_file)
    return store.update(normalised, expected_version=expected_version, actor=actor)
