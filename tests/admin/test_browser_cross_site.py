"""A hostile page in a real headless Chromium against a token-less `qps serve` (where every local caller
is an admin): the cross-site POST of the issue's proof of concept (a `text/plain` fetch and a
`text/plain` form that queue a `should_copy` job) and a DNS-rebinding name both fail, while the
server's own origin still works. The hostile page is served from another loopback origin
(`attacker.test`, and 127.0.0.1 on another port); `--host-resolver-rules` plays the rebinding DNS.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from qps_core.demo.endpoint import FAKE_CREDENTIALS, free_port
from tests.admin.test_browser import CHROMIUM_ARGS, _unavailable, chromium_path
from tests.helpers import clean_env

pytestmark = pytest.mark.slow
QPS = str(Path(sys.executable).parent / "qps")
EXFIL = {"source_prefix": "s3://victim/secret/", "registry": "exfil", "should_copy": True}


def attack_page(qps: str) -> str:
    body = json.dumps(EXFIL)
    return f"""<!doctype html><html><body>
<form id="f" method="post" action="{qps}/v1/packages" enctype="text/plain">
  <input name='{body[:-1]},"message":"' value='"}}'>
  <button id="go" type="submit">go</button>
</form>
<script>
window.attempts = Promise.allSettled([
  fetch("{qps}/v1/packages", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
                               body: {json.dumps(body)}}}),
  fetch("{qps}/v1/events", {{method: "POST", mode: "no-cors", body: {json.dumps(body)}}}),
  fetch("{qps}/v1/settings", {{method: "PATCH", mode: "no-cors", body: '{{"quiet_period_seconds": 1}}'}}),
]).then(r => r.map(x => x.status));
</script></body></html>"""


@pytest.fixture(scope="module")
def qps_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    home = tmp_path_factory.mktemp("serve")
    port = free_port()
    process = subprocess.Popen(
        [QPS, "serve", "--port", str(port), "--endpoint-url", "http://127.0.0.1:9"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(home, QPS_DATA_DIR=str(home / "state"), **FAKE_CREDENTIALS),
    )
    deadline = time.monotonic() + 60
    while _get(port, "/v1/health")[0] not in (200, 503):
        assert process.poll() is None and time.monotonic() < deadline, "qps serve did not start"
        time.sleep(0.2)
    try:
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _get(port: int, path: str) -> tuple[int, Any]:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    except OSError:
        return 0, None


@pytest.fixture(scope="module")
def attacker(qps_port: int) -> Iterator[int]:
    """The hostile page, on its own loopback port."""
    page = attack_page(f"http://127.0.0.1:{qps_port}").encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright)")
    rules = "--host-resolver-rules=MAP attacker.test 127.0.0.1, MAP rebind.test 127.0.0.1"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path(), args=[*CHROMIUM_ARGS, rules])
        yield launched
        launched.close()


@pytest.mark.parametrize("origin", ["attacker.test", "127.0.0.1"])
def test_a_page_on_another_origin_cannot_queue_a_job(browser: Any, qps_port: int, attacker: int, origin: str) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://{origin}:{attacker}/")
        statuses = page.evaluate("window.attempts")
        # the two simple POSTs reach the server (opaque answers); the browser itself stops the PATCH
        assert statuses == ["fulfilled", "fulfilled", "rejected"]
        with page.expect_navigation():
            page.click("#go")  # the text/plain form: a top-level cross-site POST
        assert "urn:qps:problem:cross-site" in page.content()
    finally:
        context.close()
    status, jobs = _get(qps_port, "/v1/jobs")
    assert status == 200 and jobs["items"] == []
    status, settings = _get(qps_port, "/v1/settings")
    assert settings["settings"]["quiet_period_seconds"]["origin"] != "stored"


def test_a_rebinding_name_gets_nothing(browser: Any, qps_port: int) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        for path in ("/v1/settings", "/admin/sources", "/docs"):
            response = page.goto(f"http://rebind.test:{qps_port}{path}")
            assert response is not None and response.status == 421, path
            assert "urn:qps:problem:host-not-allowed" in page.content()
        # same-origin to the rebound name: the page's own fetches are refused too
        result = page.evaluate(
            """async () => {
                const r = await fetch("/v1/packages", {method: "POST", headers: {"Content-Type": "application/json"},
                                                      body: JSON.stringify({source_prefix: "s3://victim/x/"})});
                return r.status;
            }"""
        )
        assert result == 421
        assert not [c for c in context.cookies() if c["name"] == "qps_admin"]  # no admin session either
    finally:
        context.close()
    assert _get(qps_port, "/v1/jobs")[1]["items"] == []


def test_the_servers_own_origin_still_works(browser: Any, qps_port: int) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{qps_port}/docs")
        status = page.evaluate(
            """async () => (await fetch("/v1/plan", {method: "POST", headers: {"Content-Type": "application/json"},
                                                     body: JSON.stringify({"any": "event"})})).status"""
        )
        assert status == 200
    finally:
        context.close()
