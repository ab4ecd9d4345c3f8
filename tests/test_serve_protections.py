"""`qps serve` as a real subprocess over loopback HTTP: what a web page, a rebinding DNS name or a
copied cookie can no longer do (docs/api.md "Protections"). Raw `http.client` requests, so the
`Host`, `Origin` and `Sec-Fetch-Site` headers are exactly what a browser or an attacker would send."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from qps_core.api.auth import mint_token
from qps_core.demo.endpoint import FAKE_CREDENTIALS, free_port
from tests.helpers import clean_env

pytestmark = pytest.mark.slow
QPS = str(Path(sys.executable).parent / "qps")
PROBLEM = "application/problem+json"
ADMIN_TOKEN, ADMIN_HASH = mint_token()
EVENT = {"source_prefix": "s3://qps-demo-data/lims/batch-0301/", "registry": "qps-demo-packages"}
EXFIL = {"source_prefix": "s3://victim/secret/", "registry": "exfil", "should_copy": True}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def problem(self) -> dict[str, Any]:
        assert self.headers.get("content-type") == PROBLEM, (self.status, self.headers, self.body[:300])
        found: dict[str, Any] = self.json()
        assert found["status"] == self.status
        return found


@dataclass
class Served:
    port: int
    process: subprocess.Popen[str]

    def call(self, method: str, path: str, body: bytes | str | None = None, **headers: str) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = {k.replace("_", "-"): v for k, v in headers.items()}
        sent.setdefault("Host", f"127.0.0.1:{self.port}")
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        conn.close()
        return reply

    def jobs(self, **headers: str) -> list[Any]:
        return list(self.call("GET", "/v1/jobs", **headers).json()["items"])


def _serve(tmp_path: Path, **env: str) -> Iterator[Served]:
    port = free_port()
    process = subprocess.Popen(
        [QPS, "serve", "--port", str(port), "--endpoint-url", "http://127.0.0.1:9", "--grace-seconds", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(tmp_path, QPS_DATA_DIR=str(tmp_path / "state"), **FAKE_CREDENTIALS, **env),
    )
    served = Served(port, process)
    deadline = time.monotonic() + 60
    while True:
        try:
            if served.call("GET", "/v1/health").status in (200, 503):
                break
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "qps serve did not start"
        time.sleep(0.2)
    try:
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        assert "Traceback" not in err, err[-3000:]


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Token-less, on loopback: every local caller is an admin, so these are the checks that matter."""
    yield from _serve(tmp_path_factory.mktemp("open"))


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """An admin token configured and a real name allowed (as behind a proxy)."""
    yield from _serve(
        tmp_path_factory.mktemp("tokens"), QPS_ADMIN_TOKENS=ADMIN_HASH, QPS_ALLOWED_HOSTS="qps.example.org"
    )


# ------------------------------------------------------------------ 1. JSON routes take JSON only


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_a_body_that_is_not_sent_as_json_is_415_and_queues_nothing(
    open_server: Served, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    for path in ("/v1/packages", "/v1/events", "/v1/plan"):
        reply = open_server.call("POST", path, json.dumps(EXFIL), **headers)
        assert reply.status == 415, (path, reply)
        assert reply.problem["type"] == "urn:qps:problem:unsupported-media-type"
    assert open_server.call("POST", "/v1/packages", **headers).status == 415  # no body at all
    assert open_server.jobs() == []


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/merge-patch+json"]
)
def test_json_media_types_are_accepted(open_server: Served, content_type: str) -> None:
    reply = open_server.call("POST", "/v1/packages?dry_run=true", json.dumps(EVENT), Content_Type=content_type)
    assert reply.status == 200, reply
    assert reply.json()["packages"][0]["registry"] == "qps-demo-packages"


# ------------------------------------------------------------------ 2. cross-site requests are refused


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},  # another loopback origin (port) is another site
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_cross_site_write_without_a_token_is_403_and_changes_nothing(
    open_server: Served, headers: dict[str, str]
) -> None:
    sent = {k.replace("-", "_"): v for k, v in headers.items()}
    for method, path, body in [
        ("POST", "/v1/packages", EXFIL),
        ("POST", "/v1/events", EVENT),
        ("PATCH", "/v1/settings", {"quiet_period_seconds": 1}),
        ("PUT", "/v1/sources/rocrate", {"enabled": False}),
        ("POST", "/v1/jobs/00000000000000000000000000/retry", None),
    ]:
        reply = open_server.call(
            method, path, None if body is None else json.dumps(body), Content_Type="application/json", **sent
        )
        assert reply.status == 403, (method, path, reply)
        assert reply.problem["type"] == "urn:qps:problem:cross-site"
    assert open_server.jobs() == []
    settings = open_server.call("GET", "/v1/settings").json()["settings"]
    assert settings["quiet_period_seconds"]["origin"] != "stored"
    assert open_server.call("GET", "/v1/sources").json()["sources"][0]["enabled"] is True


def test_same_origin_and_fetch_metadata_of_the_page_itself_pass(open_server: Served) -> None:
    own = f"http://127.0.0.1:{open_server.port}"
    reply = open_server.call(
        "POST",
        "/v1/plan",
        json.dumps({"anything": 1}),
        Content_Type="application/json",
        Origin=own,
        Sec_Fetch_Site="same-origin",
    )
    assert reply.status == 200, reply


def _admin_form(served: Served, cookie: str, page: str = "/admin/settings") -> tuple[str, str]:
    html = served.call("GET", page, Cookie=cookie).body.decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    version = re.search(r'name="version" value="(\d+)"', html)
    assert csrf and version, html[:500]
    return csrf.group(1), version.group(1)


def _local_session(served: Served) -> str:
    reply = served.call("GET", "/admin/settings")
    assert reply.status == 303 and "set-cookie" in reply.headers
    return reply.headers["set-cookie"].split(";", 1)[0]


def test_an_admin_form_from_another_site_is_refused_even_with_session_and_csrf(open_server: Served) -> None:
    cookie = _local_session(open_server)
    csrf, version = _admin_form(open_server, cookie)
    form = urlencode({"csrf": csrf, "version": version, "name": "quiet_period_seconds", "value": "7"})
    for headers in ({"Origin": "https://evil.example"}, {"Sec_Fetch_Site": "cross-site"}):
        reply = open_server.call(
            "POST", "/admin/settings", form, Content_Type="application/x-www-form-urlencoded", Cookie=cookie, **headers
        )
        assert reply.status == 403 and reply.problem["type"] == "urn:qps:problem:cross-site"
    assert open_server.call("GET", "/v1/settings").json()["settings"]["quiet_period_seconds"]["origin"] != "stored"
    # the same form from the page itself (a browser sends its own origin) is saved
    reply = open_server.call(
        "POST",
        "/admin/settings",
        form,
        Content_Type="application/x-www-form-urlencoded",
        Cookie=cookie,
        Origin=f"http://127.0.0.1:{open_server.port}",
        Sec_Fetch_Site="same-origin",
    )
    assert reply.status == 303, reply
    assert open_server.call("GET", "/v1/settings").json()["settings"]["quiet_period_seconds"]["value"] == 7


# ------------------------------------------------------------------ 3. Host allow-list


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}", "10.0.0.5"])
def test_a_host_the_server_is_not_meant_for_is_421(open_server: Served, host: str) -> None:
    host = host.format(port=open_server.port)
    for method, path in [("GET", "/v1/settings"), ("GET", "/admin/sources"), ("GET", "/docs"), ("GET", "/v1/health")]:
        reply = open_server.call(method, path, Host=host)
        assert reply.status == 421, (path, reply)
        assert reply.problem["type"] == "urn:qps:problem:host-not-allowed"
        assert "set-cookie" not in reply.headers
    reply = open_server.call("POST", "/v1/packages", json.dumps(EXFIL), Host=host, Content_Type="application/json")
    assert reply.status == 421 and open_server.jobs() == []


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST", "localhost."])
def test_loopback_names_are_answered(open_server: Served, host: str) -> None:
    assert open_server.call("GET", "/v1/adapters", Host=host.format(port=open_server.port)).status == 200


def test_allowed_hosts_adds_a_real_name_and_applies_with_tokens_too(token_server: Served) -> None:
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert token_server.call("GET", "/v1/settings", Host="qps.example.org", **auth).status == 200
    reply = token_server.call("GET", "/v1/settings", Host="evil.example", **auth)
    assert reply.status == 421 and reply.problem["type"] == "urn:qps:problem:host-not-allowed"
    # a bearer token is no browser's cross-site request: the Origin check does not apply to it
    reply = token_server.call(
        "POST", "/v1/plan", json.dumps({"x": 1}), Content_Type="application/json", Origin="https://ci.example", **auth
    )
    assert reply.status == 200, reply


# ------------------------------------------------------------------ 4. sessions end when they should


def _login(served: Served) -> str:
    form = urlencode({"token": ADMIN_TOKEN, "next": "/admin/settings"})
    reply = served.call("POST", "/admin/login", form, Content_Type="application/x-www-form-urlencoded")
    assert reply.status == 303, reply
    return reply.headers["set-cookie"].split(";", 1)[0]


def _logged_in(served: Served, cookie: str) -> bool:
    reply = served.call("GET", "/admin/settings", Cookie=cookie)
    return reply.status == 200


def test_logout_ends_the_session_on_the_server_and_log_out_everywhere_ends_all(token_server: Served) -> None:
    first, second = _login(token_server), _login(token_server)
    assert _logged_in(token_server, first) and _logged_in(token_server, second)
    page = token_server.call("GET", "/admin/settings", Cookie=first).body.decode()
    assert "Admin sessions" in page and "Log out everywhere" in page
    assert page.count(f"token:{ADMIN_HASH[7:23]}") >= 2 and "this session" in page

    csrf, version = _admin_form(token_server, first)
    reply = token_server.call(
        "POST",
        "/admin/logout",
        urlencode({"csrf": csrf}),
        Content_Type="application/x-www-form-urlencoded",
        Cookie=first,
    )
    assert reply.status == 303
    # the copied cookie no longer works: not for a page, not for a form
    assert not _logged_in(token_server, first)
    form = urlencode({"csrf": csrf, "version": version, "name": "quiet_period_seconds", "value": "9"})
    reply = token_server.call(
        "POST", "/admin/settings", form, Content_Type="application/x-www-form-urlencoded", Cookie=first
    )
    assert reply.status == 401
    assert _logged_in(token_server, second)  # only that session ended

    third = _login(token_server)
    csrf, _ = _admin_form(token_server, second)
    reply = token_server.call(
        "POST",
        "/admin/sessions/end",
        urlencode({"csrf": csrf}),
        Content_Type="application/x-www-form-urlencoded",
        Cookie=second,
    )
    assert reply.status == 303
    assert not _logged_in(token_server, second) and not _logged_in(token_server, third)
    audit = token_server.call("GET", "/v1/settings/audit", Authorization=f"Bearer {ADMIN_TOKEN}").json()["items"]
    ended = [e for e in audit if e["name"] == "admin sessions"]
    assert [e["new"] for e in ended] == ["logged out: every session", "logged out: this session"]
    assert (
        token_server.call("GET", "/v1/settings", Authorization=f"Bearer {ADMIN_TOKEN}").json()["settings"][
            "quiet_period_seconds"
        ]["origin"]
        != "stored"
    )


# ------------------------------------------------------------------ 7. protocol errors


def test_oversized_headers_are_400_problem_json(open_server: Served) -> None:
    """A 1 MB header: 400 problem+json (not uvicorn's text/plain), and the client gets to read it."""
    request = (
        f"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{open_server.port}\r\nX-Big: {'a' * 1024 * 1024}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", open_server.port), timeout=30) as sock:
        sender = threading.Thread(target=_send_all, args=(sock, request), daemon=True)
        sender.start()
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), data[:300]
    assert b"content-type: application/problem+json" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 400 and "headers are larger than" in problem["detail"]
    assert open_server.call("GET", "/v1/health").status in (200, 503)  # the server goes on


def _send_all(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the server stops reading once it has answered
        sock.sendall(data)
