"""Settings precedence: environment > stored > config file > deployment defaults > defaults, with origins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qps_core.cli import app
from qps_core.errors import InvalidInput
from qps_core.settings import Stored, load_with_origins
from qps_core.settings.effective import apply_changes, load_effective, validate_changes
from qps_core.settings.sqlite_store import SqliteSettingsStore


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "qps.toml"
    path.write_text('default_prefix = "fromfile"\ndefault_suffix = "filesuffix"\nquiet_period_seconds = 7\n')
    return path


def test_each_layer_wins_over_the_next(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPS_DEFAULTS", json.dumps({"sources": {"omics": False}, "default_suffix": "deploy"}))
    monkeypatch.setenv("QPS_QUIET_PERIOD_SECONDS", "3")
    stored = {"default_prefix": "stored", "quiet_period_seconds": 99}
    settings, origins = load_with_origins(config, stored=stored)
    assert settings.quiet_period_seconds == 3 and origins["quiet_period_seconds"] == "environment"
    assert settings.default_prefix == "stored" and origins["default_prefix"] == "stored"
    assert settings.default_suffix == "filesuffix" and origins["default_suffix"] == "config file"
    assert settings.sources == {"omics": False} and origins["sources"] == "deployment default"
    assert settings.max_metadata_bytes == 256 * 1024 and origins["max_metadata_bytes"] == "default"


def test_switched_off_source_disables_its_adapter() -> None:
    settings, _ = load_with_origins(stored={"sources": {"rocrate": False, "omics": True}})
    assert not settings.adapter_enabled("rocrate") and settings.switched_off("rocrate")
    assert settings.adapter_enabled("omics") and settings.adapter_enabled("uri")


def test_sources_from_environment_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPS_SOURCES", "omics=off, rocrate=on")
    settings, origins = load_with_origins()
    assert settings.sources == {"omics": False, "rocrate": True} and origins["sources"] == "environment"


def test_an_invalid_stored_value_is_skipped_not_fatal(config: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings, origins = load_with_origins(config, stored={"quiet_period_seconds": -5, "default_prefix": "ok"})
    assert settings.quiet_period_seconds == 7 and origins["quiet_period_seconds"] == "config file"
    assert settings.default_prefix == "ok"
    assert "ignoring the stored value of quiet_period_seconds" in caplog.text


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"nope": 1}, "'nope' is not a setting"),
        ({"data_dir": "/x"}, "data_dir can be set in the environment or the config file only"),
        ({"quiet_period_seconds": -1}, "setting quiet_period_seconds: Input should be greater than or equal to 0"),
        ({"sources": "omics=maybe"}, "setting sources: Value error, source 'omics': 'maybe' is not on or off"),
        ({"default_prefix": "a/b"}, "setting default_prefix"),
        ([], "the body must be a JSON object"),
        ({}, "the body must be a JSON object"),
    ],
)
def test_invalid_changes_are_one_line_errors(changes: object, expected: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_changes(changes, Stored())
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_environment_fixed_settings_cannot_be_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPS_DEFAULT_PREFIX", "env")
    with pytest.raises(InvalidInput, match="fixed by the environment variable QPS_DEFAULT_PREFIX"):
        validate_changes({"default_prefix": "x"}, Stored())


def test_changes_are_normalised_before_storing(tmp_path: Path) -> None:
    store = SqliteSettingsStore(tmp_path / "s.sqlite3")
    after = apply_changes(
        store, {"sources": "rocrate=off", "allowed_registries": "s3://reg-a, reg-b"}, expected_version=0, actor="t"
    )
    assert after.values == {"sources": {"rocrate": False}, "allowed_registries": ["reg-a", "reg-b"]}
    assert store.read().values == after.values


def test_invalid_change_writes_nothing(tmp_path: Path) -> None:
    store = SqliteSettingsStore(tmp_path / "s.sqlite3")
    with pytest.raises(InvalidInput):
        apply_changes(store, {"quiet_period_seconds": "soon"}, expected_version=0, actor="t")
    assert store.read().version == 0 and store.audit() == []


def test_qps_settings_shows_stored_origin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPS_DATA_DIR", str(tmp_path / "state"))
    store = SqliteSettingsStore(tmp_path / "state" / "settings.sqlite3")
    store.update({"default_prefix": "lab", "sources": {"omics": False}}, expected_version=0, actor="t")
    effective = load_effective()
    assert effective.origins["default_prefix"] == "stored" and effective.stored.version == 1
    result = CliRunner().invoke(app, ["settings", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["version"] == 1
    assert doc["settings"]["default_prefix"] == {
        "value": "lab",
        "origin": "stored",
        "env": "QPS_DEFAULT_PREFIX",
        "description": doc["settings"]["default_prefix"]["description"],
        "read_only": False,
        "read_only_reason": None,
    }
    assert doc["settings"]["data_dir"]["origin"] == "environment" and doc["settings"]["data_dir"]["read_only"]
    text = CliRunner().invoke(app, ["settings"]).output
    line = next(x for x in text.splitlines() if x.startswith("sources "))
    assert "omics=off" in line and "stored" in line
