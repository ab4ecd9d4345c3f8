"""GET/PATCH /v1/settings, /v1/settings/audit, GET/PUT /v1/sources: origins, ETags, If-Match, auth."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.admin.adminhelpers import ADMIN, ADMIN_TOKEN, API_TOKEN, ROCRATE_EVENT
from tests.helpers import LOCAL


@pytest.fixture
def client(make_app: Any) -> TestClient:
    app, _ = make_app()
    return TestClient(app, base_url=LOCAL)


def test_get_settings_shows_origins_and_etag(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPS_QUIET_PERIOD_SECONDS", "4")
    response = client.get("/v1/settings", headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["etag"] == '"0"'
    doc = response.json()
    assert doc["version"] == 0
    assert doc["settings"]["quiet_period_seconds"]["origin"] == "environment"
    assert doc["settings"]["quiet_period_seconds"]["read_only"] is True
    assert doc["settings"]["default_prefix"] == {
        "value": "package",
        "origin": "default",
        "env": "QPS_DEFAULT_PREFIX",
        "description": doc["settings"]["default_prefix"]["description"],
        "read_only": False,
        "read_only_reason": None,
    }
    assert doc["settings"]["admin_tokens"]["value"] == "(1 configured)"  # never the hashes


def test_settings_routes_need_an_admin_token(client: TestClient) -> None:
    assert client.get("/v1/settings").status_code == 401
    api = {"Authorization": f"Bearer {API_TOKEN}"}
    for method, path in [
        ("GET", "/v1/settings"),
        ("PATCH", "/v1/settings"),
        ("GET", "/v1/sources"),
        ("PUT", "/v1/sources/rocrate"),
        ("GET", "/v1/settings/audit"),
    ]:
        response = client.request(method, path, headers=api, json={"enabled": False})
        assert response.status_code == 403, (method, path)
        assert response.headers["content-type"] == "application/problem+json"


def test_patch_needs_if_match_and_refuses_stale(client: TestClient) -> None:
    body = {"default_prefix": "lab"}
    missing = client.patch("/v1/settings", headers=ADMIN, json=body)
    assert missing.status_code == 428 and "If-Match" in missing.json()["detail"]
    ok = client.patch("/v1/settings", headers={**ADMIN, "If-Match": '"0"'}, json=body)
    assert ok.status_code == 200 and ok.headers["etag"] == '"1"'
    assert ok.json()["settings"]["default_prefix"]["origin"] == "stored"
    stale = client.patch("/v1/settings", headers={**ADMIN, "If-Match": '"0"'}, json={"default_prefix": "other"})
    assert stale.status_code == 412 and stale.headers["etag"] == '"1"'
    assert "\n" not in stale.json()["detail"]
    assert client.get("/v1/settings", headers=ADMIN).json()["settings"]["default_prefix"]["value"] == "lab"


def test_patch_invalid_value_is_422_and_writes_nothing(client: TestClient) -> None:
    bad = client.patch("/v1/settings", headers={**ADMIN, "If-Match": '"0"'}, json={"quiet_period_seconds": -1})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("setting quiet_period_seconds:")
    fixed = client.patch("/v1/settings", headers={**ADMIN, "If-Match": '"0"'}, json={"admin_tokens": []})
    assert fixed.status_code == 422 and "environment or the config file only" in fixed.json()["detail"]
    not_json = client.patch(
        "/v1/settings", headers={**ADMIN, "If-Match": '"0"', "Content-Type": "application/json"}, content=b"{nope"
    )
    assert not_json.status_code == 400
    assert client.get("/v1/settings/audit", headers=ADMIN).json() == {"items": []}


def test_audit_records_who_when_old_new(client: TestClient) -> None:
    client.patch("/v1/settings", headers={**ADMIN, "If-Match": '"0"'}, json={"quiet_period_seconds": 9})
    client.patch("/v1/settings", headers={**ADMIN, "If-Match": '"1"'}, json={"quiet_period_seconds": None})
    items = client.get("/v1/settings/audit", headers=ADMIN).json()["items"]
    assert [(i["name"], i["old"], i["new"], i["version"]) for i in items] == [
        ("quiet_period_seconds", 9, None, 2),
        ("quiet_period_seconds", None, 9, 1),
    ]
    assert all(i["actor"].startswith("token:") and ADMIN_TOKEN not in i["actor"] for i in items)


def test_sources_list_built_in_first(client: TestClient) -> None:
    response = client.get("/v1/sources", headers=ADMIN)
    assert response.status_code == 200
    rows = response.json()["sources"]
    assert [r["id"] for r in rows[:2]] == ["omics", "rocrate"]
    assert rows[0]["label"] == "HealthOmics"
    assert rows[0]["description"] == "Create a package when an AWS HealthOmics run completes"
    assert rows[1]["description"] == "Create a package from a folder when an RO-Crate metadata file is written"
    assert {"uri", "edp", "description", "mapped"} <= {r["id"] for r in rows}
    assert all(r["enabled"] and r["rule"] is None for r in rows)


def test_switching_a_source_applies_at_once(client: TestClient) -> None:
    assert client.post("/v1/plan", headers=ADMIN, json=ROCRATE_EVENT).json()["results"][0]["status"] == "planned"
    off = client.put("/v1/sources/rocrate", headers={**ADMIN, "If-Match": '"0"'}, json={"enabled": False})
    assert off.status_code == 200, off.text
    assert off.json()["enabled"] is False and off.json()["runs"] is False
    (result,) = client.post("/v1/events", headers=ADMIN, json=ROCRATE_EVENT).json()["ignored"]
    assert result["reason"] == "the RO-Crate source (adapter 'rocrate') is switched off"
    stale = client.put("/v1/sources/rocrate", headers={**ADMIN, "If-Match": '"0"'}, json={"enabled": True})
    assert stale.status_code == 412
    on = client.put("/v1/sources/rocrate", headers={**ADMIN, "If-Match": off.headers["etag"]}, json={"enabled": True})
    assert on.status_code == 200
    assert client.post("/v1/plan", headers=ADMIN, json=ROCRATE_EVENT).json()["results"][0]["status"] == "planned"


@pytest.mark.parametrize("body", [{}, {"enabled": "no"}, {"enabled": False, "x": 1}, []])
def test_put_source_bad_body(client: TestClient, body: Any) -> None:
    response = client.put("/v1/sources/rocrate", headers={**ADMIN, "If-Match": '"0"'}, json=body)
    assert response.status_code == 422


def test_put_unknown_source_is_404(client: TestClient) -> None:
    response = client.put("/v1/sources/nope", headers={**ADMIN, "If-Match": '"0"'}, json={"enabled": False})
    assert response.status_code == 404


def test_another_process_change_is_picked_up(make_app: Any, app_env: Any) -> None:
    """A change written by another process reaches the API within settings_refresh_seconds (0 here)."""
    from qps_core.settings.sqlite_store import SqliteSettingsStore

    app, _ = make_app(settings_refresh_seconds=0)
    client = TestClient(app, base_url=LOCAL)
    SqliteSettingsStore(app_env / "settings.sqlite3").update(
        {"sources": {"rocrate": False}}, expected_version=0, actor="elsewhere"
    )
    (result,) = client.post("/v1/plan", headers=ADMIN, json=ROCRATE_EVENT).json()["results"]
    assert result["status"] == "ignored" and "switched off" in result["reason"]
