"""Settings: QPS_* environment variables over a TOML/YAML config file (qps_core.settings)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qps_core.errors import ConfigError
from qps_core.settings import DEFAULT_SENTINELS, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("QPS_"):
            monkeypatch.delenv(name)


def config_error(*args: object, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(*args, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert message and "\n" not in message and "Traceback" not in message
    return message


# -- defaults -----------------------------------------------------------------------------------


def test_defaults():
    settings = load_settings()
    assert settings.enable_adapters == [] and settings.disable_adapters == []
    assert settings.adapter_order == []
    assert settings.sentinel_names == DEFAULT_SENTINELS == ["ro-crate-metadata.json", "ro-crate-manifest.json"]
    assert (settings.default_prefix, settings.default_suffix) == ("package", "root")
    assert settings.allowed_registries == []
    assert settings.rules_file is None
    assert settings.max_metadata_bytes == 256 * 1024
    assert settings.quiet_period_seconds == 0


def test_default_sentinels_not_shared_between_instances():
    one = Settings()
    one.sentinel_names.append("x")
    assert Settings().sentinel_names == DEFAULT_SENTINELS


def test_no_list_or_map_default_is_shared_between_instances():
    one, two = Settings(), Settings()
    mutable = [name for name in Settings.model_fields if isinstance(getattr(one, name), list | dict)]
    assert len(mutable) >= 10  # every comma list and map
    assert [name for name in mutable if getattr(one, name) is getattr(two, name)] == []


def test_request_context():
    ctx = Settings(
        default_prefix="p", default_suffix="s", allowed_registries=["a-bkt"], max_metadata_bytes=10
    ).request_context()
    assert ctx == {
        "default_prefix": "p",
        "default_suffix": "s",
        "allowed_registries": ("a-bkt",),
        "max_metadata_bytes": 10,
    }


def test_adapter_enabled_rules():
    assert Settings().adapter_enabled("x")
    assert not Settings(disable_adapters=["x"]).adapter_enabled("x")
    assert Settings(enable_adapters=["x"]).adapter_enabled("x")
    assert not Settings(enable_adapters=["y"]).adapter_enabled("x")
    assert not Settings(enable_adapters=["x"], disable_adapters=["x"]).adapter_enabled("x")


# -- environment --------------------------------------------------------------------------------


def test_env_scalars(monkeypatch):
    monkeypatch.setenv("QPS_DEFAULT_PREFIX", "pkg")
    monkeypatch.setenv("QPS_DEFAULT_SUFFIX", "top")
    monkeypatch.setenv("QPS_MAX_METADATA_BYTES", "1000")
    monkeypatch.setenv("QPS_ENDPOINT_URL", "http://localhost:5000")
    monkeypatch.setenv("QPS_QUIET_PERIOD_SECONDS", "30")
    settings = load_settings()
    assert (settings.default_prefix, settings.default_suffix) == ("pkg", "top")
    assert settings.max_metadata_bytes == 1000
    assert settings.endpoint_url == "http://localhost:5000"
    assert settings.quiet_period_seconds == 30


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("omics,edp", ["omics", "edp"]),
        (" omics , edp ", ["omics", "edp"]),
        ("omics,,edp,", ["omics", "edp"]),
        ("omics", ["omics"]),
        ("", []),
        (" , ", []),
        ('["omics", "edp"]', ["omics", "edp"]),
        (" [] ", []),
    ],
)
def test_env_comma_lists(monkeypatch, raw, parsed):
    for name in ("ENABLE_ADAPTERS", "DISABLE_ADAPTERS", "ADAPTER_ORDER", "ALLOWED_REGISTRIES"):
        monkeypatch.setenv(f"QPS_{name}", raw)
    settings = load_settings()
    assert settings.enable_adapters == parsed
    assert settings.disable_adapters == parsed
    assert settings.adapter_order == parsed
    assert settings.allowed_registries == parsed


def test_env_list_that_is_broken_json_is_one_line_config_error(monkeypatch):
    monkeypatch.setenv("QPS_ADAPTER_ORDER", '["omics", ')
    with pytest.raises(ConfigError, match=r"^setting adapter_order: Value error, is not a valid JSON array$"):
        load_settings()


def test_env_sentinel_names(monkeypatch):
    monkeypatch.setenv("QPS_SENTINEL_NAMES", "crate.json, other.json")
    assert load_settings().sentinel_names == ["crate.json", "other.json"]


def test_env_rules_file(monkeypatch, tmp_path):
    monkeypatch.setenv("QPS_RULES_FILE", str(tmp_path / "rules.yaml"))
    assert load_settings().rules_file == tmp_path / "rules.yaml"


def test_unrelated_qps_env_vars_are_ignored(monkeypatch):
    monkeypatch.setenv("QPS_DEBUG", "1")
    monkeypatch.setenv("QPS_SOMETHING_ELSE", "x")
    assert load_settings().default_prefix == "package"


def test_overrides_win_over_env(monkeypatch):
    monkeypatch.setenv("QPS_DEFAULT_PREFIX", "env")
    assert load_settings(default_prefix="override").default_prefix == "override"


# -- invalid values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("QPS_MAX_METADATA_BYTES", "abc", "max_metadata_bytes"),
        ("QPS_MAX_METADATA_BYTES", "0", "max_metadata_bytes"),
        ("QPS_MAX_METADATA_BYTES", "-5", "max_metadata_bytes"),
        ("QPS_QUIET_PERIOD_SECONDS", "-1", "quiet_period_seconds"),
        ("QPS_QUIET_PERIOD_SECONDS", "soon", "quiet_period_seconds"),
        ("QPS_DEFAULT_PREFIX", "a b", "default_prefix"),
        ("QPS_DEFAULT_PREFIX", "a/b", "default_prefix"),
        ("QPS_DEFAULT_SUFFIX", "", "default_suffix"),
        ("QPS_DEFAULT_SUFFIX", "x.y", "default_suffix"),
    ],
)
def test_invalid_env_value_is_one_line_config_error(monkeypatch, name, value, field):
    monkeypatch.setenv(name, value)
    assert field in config_error()


def test_invalid_override_is_config_error():
    assert "max_metadata_bytes" in config_error(max_metadata_bytes=0)


def test_unknown_override_is_config_error():
    assert "no_such_setting" in config_error(no_such_setting=1)


def test_unicode_word_name_parts_allowed(monkeypatch):
    monkeypatch.setenv("QPS_DEFAULT_PREFIX", "données")
    assert load_settings().default_prefix == "données"


# -- config files -------------------------------------------------------------------------------


TOML = """
enable_adapters = ["omics", "uri"]
disable_adapters = "edp, mapped"
default_prefix = "from-toml"
max_metadata_bytes = 4096
allowed_registries = ["reg-a", "reg-b"]
"""

YAML = """
enable_adapters: [omics, uri]
disable_adapters: edp, mapped
default_prefix: from-yaml
max_metadata_bytes: 4096
allowed_registries:
  - reg-a
  - reg-b
"""


@pytest.mark.parametrize(
    ("suffix", "text", "prefix"),
    [(".toml", TOML, "from-toml"), (".yaml", YAML, "from-yaml"), (".yml", YAML, "from-yaml")],
)
def test_config_file_explicit_path(tmp_path, suffix, text, prefix):
    path = tmp_path / f"qps{suffix}"
    path.write_text(text)
    settings = load_settings(path)
    assert settings.enable_adapters == ["omics", "uri"]
    assert settings.disable_adapters == ["edp", "mapped"]
    assert settings.default_prefix == prefix
    assert settings.max_metadata_bytes == 4096
    assert settings.allowed_registries == ["reg-a", "reg-b"]


def test_config_file_path_as_string(tmp_path):
    path = tmp_path / "qps.toml"
    path.write_text(TOML)
    assert load_settings(str(path)).default_prefix == "from-toml"


@pytest.mark.parametrize(("name", "text"), [("c.toml", TOML), ("c.yaml", YAML)])
def test_config_file_from_qps_config(monkeypatch, tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    monkeypatch.setenv("QPS_CONFIG", str(path))
    assert load_settings().max_metadata_bytes == 4096


def test_explicit_path_wins_over_qps_config(monkeypatch, tmp_path):
    (tmp_path / "env.yaml").write_text("default_prefix: from-env-file\n")
    (tmp_path / "arg.yaml").write_text("default_prefix: from-arg-file\n")
    monkeypatch.setenv("QPS_CONFIG", str(tmp_path / "env.yaml"))
    assert load_settings(tmp_path / "arg.yaml").default_prefix == "from-arg-file"


def test_config_file_qps_table(tmp_path):
    path = tmp_path / "pyproject-like.toml"
    path.write_text('[qps]\ndefault_prefix = "tabled"\n')
    assert load_settings(path).default_prefix == "tabled"


def test_config_file_qps_key_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("qps:\n  default_suffix: nested\n")
    assert load_settings(path).default_suffix == "nested"


def test_empty_yaml_file_means_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_settings(path).default_prefix == "package"


def test_env_wins_over_file(monkeypatch, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(TOML)
    monkeypatch.setenv("QPS_DEFAULT_PREFIX", "from-env")
    monkeypatch.setenv("QPS_DISABLE_ADAPTERS", "omics")
    monkeypatch.setenv("QPS_MAX_METADATA_BYTES", "99")
    settings = load_settings(path)
    assert settings.default_prefix == "from-env"
    assert settings.disable_adapters == ["omics"]
    assert settings.max_metadata_bytes == 99
    assert settings.enable_adapters == ["omics", "uri"]  # not in the environment: from the file


def test_empty_env_list_wins_over_file(monkeypatch, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(TOML)
    monkeypatch.setenv("QPS_ENABLE_ADAPTERS", "")
    assert load_settings(path).enable_adapters == []


def test_invalid_file_value_does_not_matter_when_env_overrides(monkeypatch, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("max_metadata_bytes: 0\n")
    monkeypatch.setenv("QPS_MAX_METADATA_BYTES", "10")
    assert load_settings(path).max_metadata_bytes == 10


def test_rules_file_relative_to_config_file(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    conf.mkdir()
    path = conf / "qps.yaml"
    path.write_text("rules_file: rules/mine.yaml\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_settings(path).rules_file == (conf / "rules" / "mine.yaml").resolve()


def test_rules_file_relative_to_config_file_in_qps_table(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[qps]\nrules_file = "r.toml"\n')
    assert load_settings(path).rules_file == (tmp_path / "r.toml").resolve()


def test_rules_file_absolute_in_config_stays(tmp_path):
    target = tmp_path / "abs" / "r.yaml"
    path = tmp_path / "c.yaml"
    path.write_text(f"rules_file: {target}\n")
    assert load_settings(path).rules_file == target


def test_rules_file_via_qps_config_relative_to_that_file(monkeypatch, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("rules_file: r.yaml\n")
    monkeypatch.setenv("QPS_CONFIG", str(path))
    monkeypatch.chdir("/")
    assert load_settings().rules_file == (tmp_path / "r.yaml").resolve()


def test_env_rules_file_wins_over_file(monkeypatch, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("rules_file: r.yaml\n")
    monkeypatch.setenv("QPS_RULES_FILE", "/env/rules.yaml")
    assert load_settings(path).rules_file == Path("/env/rules.yaml")


# -- invalid config files -----------------------------------------------------------------------


def test_missing_config_file(tmp_path):
    message = config_error(tmp_path / "nope.yaml")
    assert "nope.yaml" in message


def test_missing_config_file_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("QPS_CONFIG", str(tmp_path / "nope.toml"))
    assert "nope.toml" in config_error()


def test_config_path_is_a_directory(tmp_path):
    config_error(tmp_path)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bad.toml", "x = [\n"),
        ("bad.toml", "a = 1\na = 2\n"),
        ("bad.yaml", "a: [\n"),
        ("bad.yaml", "a: b: c\n"),
        ("bad.yaml", "\tfoo: 1\n"),
    ],
)
def test_unparseable_config_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert name in config_error(path)


def test_config_file_not_utf8(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"default_prefix: caf\xe9\n")
    config_error(path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_config_file_not_a_mapping(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert "mapping" in config_error(path)


@pytest.mark.parametrize("text", ["qps: 5\n", "qps: [a, b]\n", "qps: text\n"])
def test_config_file_qps_key_not_a_mapping(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    config_error(path)


def test_unknown_setting_in_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("default_prefx: typo\n")
    assert "default_prefx" in config_error(path)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("max_metadata_bytes: 0\n", "max_metadata_bytes"),
        ("max_metadata_bytes: lots\n", "max_metadata_bytes"),
        ("default_prefix: 'a b'\n", "default_prefix"),
        ("quiet_period_seconds: -3\n", "quiet_period_seconds"),
        ("enable_adapters: 5\n", "enable_adapters"),
    ],
)
def test_invalid_value_in_file(tmp_path, text, field):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert field in config_error(path)


def test_allowed_registries_are_normalised_to_bucket_names(monkeypatch):
    monkeypatch.setenv("QPS_ALLOWED_REGISTRIES", "s3://bkt, other-bkt,s3://third-bkt/")
    assert load_settings().allowed_registries == ["bkt", "other-bkt", "third-bkt"]


def test_allowed_registries_with_a_path_or_a_bad_name_is_a_config_error(monkeypatch):
    monkeypatch.setenv("QPS_ALLOWED_REGISTRIES", "s3://bkt/some/path")
    assert "allowed_registries" in config_error()
    monkeypatch.setenv("QPS_ALLOWED_REGISTRIES", "Not_A_Bucket")
    assert "allowed_registries" in config_error()


def test_sentinel_names_must_be_basenames(monkeypatch):
    monkeypatch.setenv("QPS_SENTINEL_NAMES", "crates/ro-crate-metadata.json")
    assert "sentinel_names" in config_error()


def test_unknown_adapter_ids_in_settings_are_warned_about(monkeypatch, caplog):
    from qps_core.plugins import load_adapters

    monkeypatch.setenv("QPS_DISABLE_ADAPTERS", "omic")
    load_adapters(load_settings())
    assert "'omic'" in caplog.text and "not installed" in caplog.text
