"""Bearer tokens by their SHA-256 (docs/design.md §7): 401, 403, admin routes, no token in logs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from qps_core.api.auth import hash_token, mint_token
from qps_core.errors import ConfigError
from qps_core.settings import Settings, load_settings
from tests.api.conftest import Api

API_TOKEN, API_HASH = mint_token()
ADMIN_TOKEN, ADMIN_HASH = mint_token()
BODY = {"source_prefix": "s3://lab-data/instrument-f/batch-0301/", "registry": "lab-packages"}


@pytest.fixture
def secured(make_api: Callable[..., Api], tmp_path: Any) -> Api:
    return make_api(settings=Settings(api_tokens=[API_HASH], admin_tokens=[ADMIN_HASH], data_dir=tmp_path / "d"))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_minted_tokens_are_random_and_only_their_hash_is_configured() -> None:
    token, digest = mint_token()
    assert token != API_TOKEN and digest == hash_token(token) and digest.startswith("sha256:") and len(digest) == 71
    assert token not in digest


@pytest.mark.parametrize("headers", [{}, bearer("wrong"), {"Authorization": API_TOKEN}, {"Authorization": "Bearer "}])
def test_missing_or_wrong_token_is_401(secured: Api, headers: dict[str, str]) -> None:
    for method, path in (("GET", "/v1/jobs"), ("POST", "/v1/packages"), ("GET", "/v1/adapters"), ("POST", "/v1/plan")):
        response = secured.client.request(method, path, headers=headers, json=BODY)
        assert response.status_code == 401, (method, path)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert (
        secured.client.get("/v1/jobs").json()["detail"] == "a bearer token is required (Authorization: Bearer <token>)"
    )


def test_api_and_admin_tokens_are_accepted_and_only_admin_reads_settings(secured: Api) -> None:
    for token in (API_TOKEN, ADMIN_TOKEN):
        response = secured.client.post("/v1/packages?dry_run=true", json=BODY, headers=bearer(token))
        assert response.status_code == 200
    forbidden = secured.client.get("/v1/settings", headers=bearer(API_TOKEN))
    assert forbidden.status_code == 403 and forbidden.headers["content-type"] == "application/problem+json"
    assert secured.client.get("/v1/settings", headers=bearer(ADMIN_TOKEN)).status_code == 200


def test_health_needs_no_token(secured: Api) -> None:
    assert secured.client.get("/v1/health").status_code == 200


def test_idempotency_keys_are_scoped_to_the_caller(secured: Api) -> None:
    one = secured.client.post("/v1/packages", json=BODY, headers={**bearer(API_TOKEN), "Idempotency-Key": "k"})
    two = secured.client.post("/v1/packages", json=BODY, headers={**bearer(ADMIN_TOKEN), "Idempotency-Key": "k"})
    again = secured.client.post("/v1/packages", json=BODY, headers={**bearer(API_TOKEN), "Idempotency-Key": "k"})
    assert one.json()["id"] != two.json()["id"]
    assert again.json()["id"] == one.json()["id"]


def test_no_token_or_body_in_logs_or_errors(secured: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret_body = {**BODY, "metadata": {"patient": "secret-value-123"}}
    responses = [
        secured.client.post("/v1/packages", json=secret_body, headers=bearer(API_TOKEN)),
        secured.client.post("/v1/packages", json={**secret_body, "x": 1}, headers=bearer(API_TOKEN)),
        secured.client.get("/v1/jobs", headers=bearer(API_TOKEN + "x")),
        secured.client.get("/v1/settings", headers=bearer(API_TOKEN)),
    ]
    assert responses[0].status_code == 202
    secured.wait(responses[0].json()["id"])
    logged = caplog.text
    for response in responses[1:]:
        assert API_TOKEN not in response.text and "secret-value-123" not in response.text
    assert API_TOKEN not in logged and "secret-value-123" not in logged


def test_token_settings_take_hashes_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPS_API_TOKENS", f"{API_HASH}, {ADMIN_HASH.upper().replace('SHA256:', 'sha256:')}")
    assert load_settings().api_tokens == [API_HASH, ADMIN_HASH]
    monkeypatch.setenv("QPS_API_TOKENS", API_TOKEN)  # a raw token pasted by mistake
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert API_TOKEN not in str(err.value) and "sha256:<64 hex digits>" in str(err.value)
