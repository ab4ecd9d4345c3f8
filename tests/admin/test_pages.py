"""The admin pages over HTTP (no browser): login, sessions, CSRF, forms and their errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qps_core.admin import session as sessions
from tests.admin.adminhelpers import ADMIN_TOKEN, API_TOKEN, ROCRATE_EVENT
from tests.helpers import LOCAL


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def version_of(html: str) -> str:
    match = re.search(r'name="version" value="(\d+)"', html)
    assert match
    return match.group(1)


@pytest.fixture
def client(make_app: Any) -> TestClient:
    app, _ = make_app()
    return TestClient(app, base_url=LOCAL, follow_redirects=False)


def login(client: TestClient, token: str = ADMIN_TOKEN) -> Any:
    return client.post("/admin/login", data={"token": token, "next": "/admin/sources"})


def test_pages_redirect_to_login(client: TestClient) -> None:
    for path in ["/admin/sources", "/admin/jobs", "/admin/new", "/admin/try", "/admin/settings"]:
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/admin/login?next=")


def test_login_form_labels_the_token_field(client: TestClient) -> None:
    html = client.get("/admin/login").text
    assert '<label for="token">Admin token</label>' in html
    assert 'type="password"' in html


def test_login_sets_a_strict_httponly_cookie(client: TestClient) -> None:
    response = login(client)
    assert response.status_code == 303 and response.headers["location"] == "/admin/sources"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{sessions.COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert ADMIN_TOKEN not in cookie
    assert client.get("/admin/sources").status_code == 200


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "Enter the admin token."),
        ("wrong", "That is not a valid admin token."),
        (API_TOKEN, "That is an API token; the admin page needs an admin token."),
    ],
)
def test_bad_login_shows_one_line(client: TestClient, token: str, message: str) -> None:
    response = login(client, token)
    assert response.status_code == 401 and message in response.text
    assert "set-cookie" not in response.headers


def test_open_redirects_are_refused(client: TestClient) -> None:
    response = client.post("/admin/login", data={"token": ADMIN_TOKEN, "next": "//evil.example/"})
    assert response.headers["location"] == "/admin/sources"


def test_forged_or_expired_cookie_is_no_session(client: TestClient) -> None:
    _, cookie = sessions.issue("token:0000000000000000")
    client.cookies.set(sessions.COOKIE, cookie)
    assert client.get("/admin/sources").status_code == 303  # that token is not configured
    assert sessions.read(cookie[:-2] + "xx") is None
    _, old = sessions.issue("x", now=0)
    assert sessions.read(old) is None


def test_switch_without_csrf_is_refused_and_changes_nothing(client: TestClient) -> None:
    login(client)
    html = client.get("/admin/sources").text
    refused = client.post("/admin/sources/rocrate", data={"enabled": "off", "version": version_of(html)})
    assert refused.status_code == 403 and "security token" in refused.text
    wrong = client.post("/admin/sources/rocrate", data={"enabled": "off", "version": "0", "csrf": "nope"})
    assert wrong.status_code == 403
    assert (
        'id="switch-rocrate" class="switch" role="switch"\n                aria-checked="true"'
        in client.get("/admin/sources").text
    )


def test_switch_with_csrf(client: TestClient) -> None:
    login(client)
    html = client.get("/admin/sources").text
    response = client.post(
        "/admin/sources/rocrate", data={"enabled": "off", "version": version_of(html), "csrf": csrf_of(html)}
    )
    assert response.status_code == 303
    page = client.get("/admin/sources").text
    assert re.search(r'id="switch-rocrate"[^>]*\s+aria-checked="false"', page)
    # htmx: the table body comes back, a stale version snaps back with the error
    stale = client.post(
        "/admin/sources/omics",
        data={"enabled": "off", "version": "0", "csrf": csrf_of(html)},
        headers={"HX-Request": "true"},
    )
    assert stale.status_code == 409 and stale.text.lstrip().startswith('<tbody id="sources-body">')
    assert "The settings changed since this page was loaded" in stale.text
    assert re.search(r'id="switch-omics"[^>]*\s+aria-checked="true"', stale.text)


def test_logout_needs_csrf_and_ends_the_session(client: TestClient) -> None:
    login(client)
    html = client.get("/admin/sources").text
    assert client.post("/admin/logout").status_code == 403
    out = client.post("/admin/logout", data={"csrf": csrf_of(html)})
    assert out.status_code == 303 and 'qps_admin=""' in out.headers["set-cookie"]
    client.cookies.clear()
    assert client.get("/admin/sources").status_code == 303


EC2_EVENT = {"version": "0", "id": "1", "source": "aws.ec2", "detail-type": "EC2 State", "detail": {}}


def test_try_an_event_shows_plan_and_errors(client: TestClient) -> None:
    import json

    login(client)
    csrf = csrf_of(client.get("/admin/try").text)
    planned = client.post("/admin/try", data={"csrf": csrf, "event": json.dumps(ROCRATE_EVENT)})
    assert planned.status_code == 200 and "planned" in planned.text and "rocrate" in planned.text
    assert "s3://lab-data/study/crate-1/" in planned.text
    bad = client.post("/admin/try", data={"csrf": csrf, "event": '{"a": NaN}'})
    assert bad.status_code == 422 and 'id="event-error"' in bad.text and "Traceback" not in bad.text
    ignored = client.post("/admin/try", data={"csrf": csrf, "event": json.dumps(EC2_EVENT)})
    assert "Ignored:" in ignored.text


def test_new_package_plan_create_and_field_errors(client: TestClient, make_app: Any) -> None:
    login(client)
    csrf = csrf_of(client.get("/admin/new").text)
    form = {
        "csrf": csrf,
        "source_prefix": "s3://lab-data/runs/7/",
        "registry": "",
        "package_name": "",
        "message": "",
        "metadata": '{"a": 1}',
        "workflow": "",
    }
    plan = client.post("/admin/new", data={**form, "action": "plan"})
    assert plan.status_code == 200 and "Plan (dry run)" in plan.text and "runs/7" in plan.text
    created = client.post("/admin/new", data={**form, "action": "create"})
    match = re.search(r'Job queued: <a href="/admin/jobs/([0-9a-f]+)"', created.text)
    assert match, created.text
    job = client.get(f"/admin/jobs/{match.group(1)}")
    assert job.status_code == 200 and "queued" in job.text
    bad_meta = client.post("/admin/new", data={**form, "metadata": "[1", "action": "plan"})
    assert bad_meta.status_code == 422 and 'id="e-metadata"' in bad_meta.text
    bad_name = client.post("/admin/new", data={**form, "package_name": "no slash", "action": "plan"})
    assert bad_name.status_code == 422 and 'id="e-package_name"' in bad_name.text
    missing = client.post("/admin/new", data={**form, "source_prefix": "", "action": "create"})
    assert 'id="e-source_prefix"' in missing.text and "Traceback" not in missing.text


def test_jobs_page_filter(client: TestClient) -> None:
    login(client)
    assert client.get("/admin/jobs?status=failed").status_code == 200
    bad = client.get("/admin/jobs?status=bogus")
    assert bad.status_code == 200 and 'id="status-error"' in bad.text


def test_settings_page_save_error_and_read_only(make_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPS_QUIET_PERIOD_SECONDS", "3")
    client = TestClient(make_app()[0], base_url=LOCAL, follow_redirects=False)
    login(client)
    html = client.get("/admin/settings").text
    assert re.search(r'id="v-quiet_period_seconds" type="text" value="3" readonly', html)
    assert "fixed by the environment variable QPS_QUIET_PERIOD_SECONDS" in html
    data = {"csrf": csrf_of(html), "version": version_of(html), "name": "default_prefix", "action": "save"}
    bad = client.post("/admin/settings", data={**data, "value": "a b"})
    assert bad.status_code == 422 and 'id="e-default_prefix"' in bad.text
    ok = client.post("/admin/settings", data={**data, "value": "lab"})
    assert ok.status_code == 303
    page = client.get("/admin/settings").text
    assert 'value="lab"' in page and "admin page (token:" in page  # the audit names the session
    stale = client.post("/admin/settings", data={**data, "value": "other"})
    assert stale.status_code == 409 and "changed since this page was loaded" in stale.text


def test_static_files_are_served(client: TestClient) -> None:
    js = client.get("/admin/static/htmx.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert client.get("/admin/static/admin.css").status_code == 200
    assert client.get("/admin/static/../router.py").status_code == 404


def test_no_tokens_means_a_local_session_without_login(make_app: Any) -> None:
    app, _ = make_app(tokens=False)
    client = TestClient(app, base_url=LOCAL, follow_redirects=False)
    first = client.get("/admin/sources")
    assert first.status_code == 303 and "HttpOnly" in first.headers["set-cookie"]
    assert client.get("/admin/sources").status_code == 200
