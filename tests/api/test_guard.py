"""The guard's parts (api/guard.py) in process; tests/test_serve_protections.py runs them through a real server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from qps_core.api.guard import host_allowed, is_json_type, split_host
from qps_core.settings import Settings
from tests.api.conftest import Api


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("application/json", True),
        ("Application/JSON; charset=UTF-8", True),
        ("application/problem+json", True),
        ("application/vnd.api+json;charset=utf-8", True),
        ("text/plain", False),
        ("application/jsonx", False),
        ("text/json", False),
        ("application/x-www-form-urlencoded", False),
        ("", False),
        (None, False),
    ],
)
def test_json_media_types(value: str | None, ok: bool) -> None:
    assert is_json_type(value) is ok


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("127.0.0.1:8000", ("127.0.0.1", 8000)),
        ("LOCALHOST", ("localhost", None)),
        ("localhost.", ("localhost", None)),
        ("[::1]:8000", ("::1", 8000)),
        ("qps.example.org", ("qps.example.org", None)),
        ("evil.example:80:80", None),
        ("[::1", None),
        ("a b", None),
        ("host:99999", None),
        ("", None),
    ],
)
def test_host_headers(value: str, parsed: tuple[str, int | None] | None) -> None:
    assert split_host(value) == parsed


def test_allowed_host_rules() -> None:
    assert host_allowed("qps.example.org", ["qps.example.org"])
    assert host_allowed("a.example.org", [".example.org"]) and host_allowed("example.org", [".example.org"])
    assert not host_allowed("evilexample.org", [".example.org"])
    assert host_allowed("anything", ["*"]) and not host_allowed("x", [])


def test_settings_refuse_a_url_as_a_host() -> None:
    with pytest.raises(ValueError, match="not a host name"):
        Settings(allowed_hosts="https://qps.example.org/")
    assert Settings(allowed_hosts="QPS.example.org., *").allowed_hosts == ["qps.example.org", "*"]


def test_an_origin_named_in_allowed_hosts_counts_as_own_behind_a_proxy(
    make_api: Callable[..., Api], tmp_path: Path
) -> None:
    """A proxy that passes no Host on: the app sees Host 127.0.0.1, the browser sends its public Origin."""
    api = make_api(settings=Settings(data_dir=tmp_path / "data", allowed_hosts=["qps.example.org"]))
    body = {"any": "event"}
    assert api.client.post("/v1/plan", json=body, headers={"Origin": "https://qps.example.org"}).status_code == 200
    refused = api.client.post("/v1/plan", json=body, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403 and refused.json()["type"] == "urn:qps:problem:cross-site"
    wildcard = make_api(settings=Settings(data_dir=tmp_path / "data2", allowed_hosts=["*"]))
    assert wildcard.client.post("/v1/plan", json=body, headers={"Origin": "https://evil.example"}).status_code == 403
