"""The admin page in a real headless Chromium (Python playwright driving Debian's `chromium`), against a
live `qps serve --embedded` (uvicorn on loopback, a moto S3 endpoint with the demo data).

Outside CI, without a browser or playwright, these tests are skipped with the reason; in CI
(`CI` set, as `.ci/run` does) they fail instead. Screenshots of each page go to the test's tmp dir
(and, with ADMIN_DOCS_SCREENSHOT=1, the Sources page to docs/admin-sources.png and the Dead letters
page to docs/img/dead-letters.png).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from qps_core.demo.endpoint import free_port

ROOT = Path(__file__).resolve().parents[2]
ROCRATE_EVENT = json.loads((ROOT / "qps_core" / "demo" / "events" / "rocrate-object-created.json").read_text())
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/lib/chromium/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.slow


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


def chromium_path() -> str:
    for candidate in (os.environ.get("CHROMIUM_PATH"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    _unavailable("no Chromium found (apt-get install -y chromium, or set CHROMIUM_PATH)")


@dataclass
class Server:
    base: str
    token: str
    login_url: str
    process: subprocess.Popen[str]
    endpoint: str = ""  # the embedded moto endpoint (S3 and SQS)
    queue_url: str = ""
    dlq_url: str = ""

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`qps serve --embedded` in a subprocess, as `make serve` runs it (its own data dir)."""
    home = tmp_path_factory.mktemp("serve")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QPS_", "AWS_"))}
    env.update(
        QPS_DATA_DIR=str(home / "state"),
        QPS_SETTINGS_REFRESH_SECONDS="1",
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_STATE_HOME=str(home / "xdgstate"),
        QUILT_DISABLE_USAGE_METRICS="true",
        PYTHONUNBUFFERED="1",
    )
    port = free_port()
    qps = str(Path(sys.executable).with_name("qps"))
    process = subprocess.Popen(
        [qps, "serve", "--embedded", "--port", str(port), "--grace-seconds", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 90
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Ctrl-C"):
            break
    text = "".join(lines)
    login = re.search(r"Log in:\s+(\S+)", text)
    token = re.search(r"Admin token for this run .*: (\S+)", text)
    if not (login and token):
        process.kill()
        pytest.fail(f"qps serve did not start:\n{text}")
    queues = re.search(r"Queues:\s+(\S+) \(dead letters: (\S+)\).*?--endpoint-url (\S+)", text, re.S)
    try:
        yield Server(
            f"http://127.0.0.1:{port}",
            token.group(1),
            login.group(1),
            process,
            *((queues.group(3), queues.group(1), queues.group(2)) if queues else ()),
        )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright)")
    path = chromium_path()
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


def _shot(page: Any, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000


def _switch(page: Any, label: str) -> Any:
    return page.get_by_role("switch", name=label, exact=True)


def test_admin_page_end_to_end(server: Server, page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    shots = tmp_path / "screenshots"
    shots.mkdir()

    # log in with the admin token
    page.goto(server.base + "/admin")
    expect(page).to_have_url(re.compile(r"/admin/login"))
    _shot(page, shots, "login")
    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("That is not a valid admin token.")
    page.get_by_label("Admin token").fill(server.token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Sources", exact=True)).to_be_visible()
    expect(page.locator("tbody th .label").first).to_have_text("HealthOmics")
    expect(page.locator("tbody th .label").nth(1)).to_have_text("RO-Crate")
    expect(page.get_by_text("Create a package when an AWS HealthOmics run completes")).to_be_visible()
    rocrate = _switch(page, "RO-Crate")
    expect(rocrate).to_have_attribute("aria-checked", "true")
    _shot(page, shots, "sources")
    if os.environ.get("ADMIN_DOCS_SCREENSHOT"):
        page.screenshot(path=str(ROOT / "docs" / "admin-sources.png"))

    # switch RO-Crate off with the keyboard; it stays off after a reload
    rocrate.focus()
    page.keyboard.press("Enter")
    expect(_switch(page, "RO-Crate")).to_have_attribute("aria-checked", "false")
    expect(_switch(page, "RO-Crate")).to_be_focused()
    page.reload()
    expect(_switch(page, "RO-Crate")).to_have_attribute("aria-checked", "false")
    expect(_switch(page, "HealthOmics")).to_have_attribute("aria-checked", "true")

    # an RO-Crate event through the API is ignored, saying why
    status, body = server.api("POST", "/v1/events", ROCRATE_EVENT)
    assert status == 202 and body["jobs"] == []
    (ignored,) = body["ignored"]
    assert ignored["reason"] == "the RO-Crate source (adapter 'rocrate') is switched off"

    # switch it on (mouse); the same event makes a package
    _switch(page, "RO-Crate").click()
    expect(_switch(page, "RO-Crate")).to_have_attribute("aria-checked", "true")
    status, body = server.api("POST", "/v1/events", ROCRATE_EVENT)
    assert status == 202, body
    (job,) = body["jobs"]

    # the job appears on the Jobs page as succeeded with its top hash (the page refreshes itself)
    page.get_by_role("link", name="Jobs").click()
    row = page.locator("#job-rows tr", has=page.locator(f'a[href="/admin/jobs/{job["id"]}"]'))
    expect(row.locator(".badge")).to_have_text("succeeded", timeout=60_000)
    status, finished = server.api("GET", f"/v1/jobs/{job['id']}")
    top_hash = finished["result"]["top_hash"]
    assert re.fullmatch(r"[0-9a-f]{64}", top_hash)
    expect(row.locator(".hash")).to_have_attribute("title", top_hash)
    _shot(page, shots, "jobs")
    row.get_by_role("link").click()
    expect(page.locator(".hash").first).to_have_text(top_hash)
    _shot(page, shots, "job")

    # the Sources page names the last job
    page.get_by_role("link", name="Sources").click()
    expect(page.locator("#source-rocrate").get_by_role("link")).to_have_attribute("href", f"/admin/jobs/{job['id']}")

    # Try an event shows the plan
    page.get_by_role("link", name="Try an event").click()
    page.get_by_label("Event (JSON)").fill(json.dumps(ROCRATE_EVENT))
    page.get_by_role("button", name="Plan").click()
    expect(page.locator("article.plan .badge")).to_have_text("planned")
    expect(page.locator("article.plan h3 code")).to_have_text("rocrate")
    expect(page.locator("article.plan pre")).to_contain_text("s3://qps-demo-data/nextflow/rnaseq-nf-20250314/")
    _shot(page, shots, "try")
    page.get_by_label("Event (JSON)").fill('{"broken": ')
    page.get_by_role("button", name="Plan").click()
    expect(page.locator("#event-error")).to_contain_text("event:")
    expect(page.locator("body")).not_to_contain_text("Traceback")

    # New package: Plan (dry run), then a field error shown next to its field
    page.get_by_role("link", name="New package").click()
    page.get_by_label("Source folder", exact=True).fill("s3://qps-demo-data/lims/batch-0301/")
    page.get_by_label("Registry", exact=True).fill("qps-demo-packages")
    page.get_by_role("button", name="Plan").click()
    expect(page.get_by_role("heading", name="Plan (dry run)")).to_be_visible()
    _shot(page, shots, "new-package")
    page.get_by_label("Package name", exact=True).fill("not a name")
    page.get_by_role("button", name="Plan").click()
    expect(page.locator("#e-package_name")).to_be_visible()

    # Settings: origins shown, audit records the switches
    page.get_by_role("link", name="Settings").click()
    expect(page.locator("#setting-sources .origin")).to_have_text("stored")
    expect(page.locator("#setting-data_dir .origin")).to_have_text("environment")
    expect(page.locator("table.audit tbody tr")).to_have_count(2)
    _shot(page, shots, "settings")

    # a form post without the CSRF token is refused (same browser session, same cookie)
    version = page.locator('#setting-default_prefix input[name="version"]').get_attribute("value")
    refused = page.context.request.post(
        server.base + "/admin/sources/rocrate", form={"enabled": "off", "version": version or "0"}
    )
    assert refused.status == 403 and "security token" in refused.text()
    page.goto(server.base + "/admin/sources")
    expect(_switch(page, "RO-Crate")).to_have_attribute("aria-checked", "true")

    # log out: the pages need a login again
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/admin/login"))
    page.goto(server.base + "/admin/jobs")
    expect(page).to_have_url(re.compile(r"/admin/login"))


def test_one_time_login_link(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(server.login_url)
    expect(page.get_by_role("heading", name="Sources", exact=True)).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "qps_admin")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    other = page.context.browser.new_context()
    try:
        second = other.new_page()
        second.goto(server.login_url)  # used already
        expect(second.get_by_role("alert")).to_have_text("That login link was used already or has expired.")
    finally:
        other.close()


def _worker(server: Server, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`qps worker` against the embedded queues, once (as the serve banner says to run it)."""
    from qps_core.demo.endpoint import FAKE_CREDENTIALS

    env = {k: v for k, v in os.environ.items() if not k.startswith(("QPS_", "AWS_"))}
    env.update(
        FAKE_CREDENTIALS,
        QPS_DEAD_LETTER_QUEUE_URL=server.dlq_url,
        QPS_DATA_DIR=str(tmp_path / "worker"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        QUILT_DISABLE_USAGE_METRICS="true",
    )
    qps = str(Path(sys.executable).with_name("qps"))
    command = [qps, "worker", "--queue-url", server.queue_url, "--endpoint-url", server.endpoint]
    command += ["--max-polls", "1", "--wait-seconds", "1"]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=True)


def test_dead_letters_page(server: Server, page: Any, tmp_path: Path) -> None:
    """Dead letters made by `qps worker` on the local queues, then retried, deleted and redriven from
    the page (each button confirmed in the browser), against moto's SQS."""
    import boto3
    from playwright.sync_api import expect

    from qps_core.demo.endpoint import FAKE_CREDENTIALS

    assert server.queue_url and server.dlq_url, "qps serve --embedded names its local queues"
    sqs = boto3.client(
        "sqs",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    empty = {"source_prefix": "s3://qps-demo-data/nothing-here/", "registry": "qps-demo-packages"}
    sqs.send_message(QueueUrl=server.queue_url, MessageBody=json.dumps(empty))
    sqs.send_message(QueueUrl=server.queue_url, MessageBody="<script>alert(1)</script>")
    sqs.send_message(QueueUrl=server.queue_url, MessageBody=json.dumps({"uri": "s3://qps-demo-data/lims/none/"}))
    worked = _worker(server, tmp_path)
    logged = [json.loads(line) for line in worked.stderr.splitlines() if line.startswith("{")]
    assert any(line.get("message_id") and line["level"] == "WARNING" for line in logged), worked.stderr
    emf = [json.loads(line) for line in worked.stdout.splitlines()]
    assert {line.get("Status") for line in emf if "Packages" in line} >= {"failed", "rejected"}

    def depth(url: str) -> int:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    assert depth(server.dlq_url) == 3 and depth(server.queue_url) == 0

    page.goto(server.base + "/admin")
    page.get_by_label("Admin token").fill(server.token)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Dead letters").click()
    expect(page.get_by_role("heading", name="Dead letters", exact=True)).to_be_visible()
    expect(page.locator("#dlq-depth")).to_have_text("3")
    expect(page.locator("#queue-depth")).to_have_text("0")
    rows = page.locator("table.dead-letters tbody tr")
    expect(rows).to_have_count(3)
    script_row = rows.filter(has_text="<script>alert(1)</script>")  # shown as text, never run
    expect(script_row).to_have_count(1)
    expect(rows.filter(has_text="nothing-here").locator("td.error")).to_contain_text("s3://qps-demo-data/nothing-here/")
    page.screenshot(path=str(tmp_path / "dead-letters.png"), full_page=True)
    if os.environ.get("ADMIN_DOCS_SCREENSHOT"):
        (ROOT / "docs" / "img").mkdir(exist_ok=True)
        page.screenshot(path=str(ROOT / "docs" / "img" / "dead-letters.png"), full_page=True)

    asked: list[str] = []

    def answer(accept: bool) -> None:
        def on_dialog(dialog: Any) -> None:
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        page.once("dialog", on_dialog)

    # delete: cancelled at the confirmation, nothing happens; confirmed, it is gone
    answer(False)
    script_row.get_by_role("button", name="Delete").click()
    expect(page.locator("#dlq-depth")).to_have_text("3")
    assert asked == ["Delete this message for good?"]
    answer(True)
    script_row.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("deleted")
    expect(page.locator("#dlq-depth")).to_have_text("2")

    # retry one: back on the queue
    answer(True)
    rows.filter(has_text="nothing-here").get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_contain_text("sent back to the queue")
    expect(page.locator("#dlq-depth")).to_have_text("1")
    expect(page.locator("#queue-depth")).to_have_text("1")

    # redrive all (moto has no StartMessageMoveTask: moved one by one)
    answer(True)
    page.get_by_role("button", name="Redrive all").click()
    expect(page.get_by_role("status")).to_contain_text("Redrive done: 1 dead letter(s)")
    expect(page.locator("#dlq-depth")).to_have_text("0")
    expect(page.locator("#queue-depth")).to_have_text("2")
    expect(rows).to_have_text(["No dead letters."])
    assert asked[1:] == ["Delete this message for good?", "Send this message back to the queue?",
                         "Send every dead letter back to the queue?"]  # fmt: skip
    back = sqs.receive_message(QueueUrl=server.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    bodies = sorted(m["Body"] for m in back["Messages"])
    assert bodies == sorted([json.dumps(empty), json.dumps({"uri": "s3://qps-demo-data/lims/none/"})])
    assert all("qps-error" not in (m.get("MessageAttributes") or {}) for m in back["Messages"])


def test_reconcile_now_per_source_queues_the_sweep_as_jobs(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(server.base + "/admin/login")
    page.get_by_label("Admin token").fill(server.token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Sources", exact=True)).to_be_visible()

    # RO-Crate: every crate under the prefix (the demo has one), queued as a job
    page.get_by_label("Prefix to search").fill("s3://qps-demo-data/nextflow/")
    page.locator("#reconcile-rocrate").click()
    expect(page.locator("#reconciled-rocrate")).to_contain_text("Found 1; queued 1 job(s)")

    # HealthOmics: the demo's local endpoint lists one COMPLETED run (stopped 2025-03-14)
    page.get_by_label("Runs that stopped within").fill("5000d")
    page.locator("#reconcile-omics").click()
    expect(page.locator("#reconciled-omics")).to_contain_text("Found 1; queued 1 job(s)")

    # a bad window is one line next to the button; nothing queued
    page.get_by_label("Runs that stopped within").fill("soon")
    page.locator("#reconcile-omics").click()
    expect(page.locator("#error-omics")).to_contain_text("since: 'soon' is not a duration")

    # the jobs carry the trigger kind and end with a package
    status, listed = server.api("GET", "/v1/jobs?limit=100")
    assert status == 200
    swept = [j for j in listed["items"] if j["trigger"]["kind"] == "reconcile"]
    assert {j["trigger"]["adapter"] for j in swept} == {"rocrate", "omics"}
    deadline = time.monotonic() + 60
    done: list[Any] = []
    while time.monotonic() < deadline:
        done = [server.api("GET", f"/v1/jobs/{j['id']}")[1] for j in swept]
        if all(j["status"] in ("succeeded", "failed") for j in done):
            break
        time.sleep(0.5)
    assert [j["status"] for j in done] == ["succeeded", "succeeded"], done

    # without the CSRF token the form is refused
    refused = page.context.request.post(server.base + "/admin/sources/omics/reconcile", form={"since": "7d"})
    assert refused.status == 403
