"""`qps worker`: the Lambda semantics in a long-running process."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Any

import pytest

from qps_core.runner import Runner
from qps_core.runtime.sqs_batch import BatchProcessor
from qps_core.runtime.worker import Worker
from qps_core.settings import load_settings
from tests.packager.pkghelpers import fail_operation
from tests.runtime.rthelpers import Stack


def make_worker(stack: Stack, **kw: Any) -> Worker:
    processor = BatchProcessor(Runner(load_settings()))
    return Worker(processor, stack.queue_url, wait_seconds=0, **kw)


def send(stack: Stack, body: Any) -> str:
    text = body if isinstance(body, str) else json.dumps(body)
    return stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=text)["MessageId"]


def in_flight(stack: Stack) -> int:
    attrs = stack.sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessagesNotVisible"]) + int(attrs["ApproximateNumberOfMessages"])


def test_worker_deletes_done_and_dead_lettered_messages_and_leaves_transient_ones(stack: Stack) -> None:
    worker = make_worker(stack)
    fail_operation(
        worker.processor.runner.packager.s3,
        "ListObjectVersions",
        503,
        "SlowDown",
        when=lambda p: p.get("Prefix") == "runs/run-2/",
    )
    send(stack, {"source_prefix": "s3://lab-data/runs/run-1/"})
    send(stack, "not json at all")
    transient_id = send(stack, {"uri": "s3://lab-data/runs/run-2"})

    assert worker.run(max_polls=1) == 3

    assert in_flight(stack) == 1  # only the transient failure stays on the queue, for SQS to retry
    [dead] = stack.receive(stack.dlq_url)
    assert dead["Body"] == "not json at all"
    assert stack.s3.get_object(Bucket="lab-data", Key=".quilt/named_packages/runs/run-1/latest")
    kinds = sorted(kind for kind, _ in stack.notices())
    assert kinds == ["package-created", "package-failed"]
    assert transient_id


def test_sigterm_finishes_the_current_message_and_releases_the_rest(stack: Stack) -> None:
    worker = make_worker(stack, visibility_timeout=300)
    worker.install_signal_handlers()
    handled: list[str] = []
    real = worker.processor.process_record

    def process_then_get_terminated(record: dict[str, Any]) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while this message is being processed
        result = real(record)
        handled.append(record["messageId"])
        return result

    worker.processor.process_record = process_then_get_terminated  # type: ignore[method-assign]
    try:
        for n in range(3):
            send(stack, {"source_prefix": f"s3://lab-data/runs/run-{1 + n % 2}/"})
        assert worker.run() == 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    assert len(handled) == 1
    # The two unstarted messages were released at once (visible again), not held for 300 s.
    visible = stack.sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10).get("Messages", [])
    assert len(visible) == 2


def test_visibility_is_extended_while_a_package_is_being_built(stack: Stack) -> None:
    worker = make_worker(stack, visibility_timeout=1)
    extensions: list[int] = []
    worker.sqs.meta.events.register(
        "before-parameter-build.sqs.ChangeMessageVisibilityBatch",
        lambda params, **_: extensions.extend(e["VisibilityTimeout"] for e in params["Entries"]),
    )
    real = worker.processor.process_record

    def slow(record: dict[str, Any]) -> Any:
        time.sleep(1.3)
        return real(record)

    worker.processor.process_record = slow  # type: ignore[method-assign]
    send(stack, {"source_prefix": "s3://lab-data/runs/run-1/"})
    assert worker.run(max_polls=1) == 1
    assert extensions and all(v == 1 for v in extensions)
    assert in_flight(stack) == 0


def test_worker_keeps_every_held_message_hidden_no_second_receive(stack: Stack) -> None:
    """Regression (issue 7): only the message being worked on was kept hidden; the rest of the
    batch became visible after the timeout and another consumer received it a second time."""
    worker = make_worker(stack, visibility_timeout=3)  # a heartbeat every 1.5 s: room for a busy machine
    real = worker.processor.process_record
    processed: list[str] = []
    stolen: list[str] = []
    stop = threading.Event()

    def other_consumer() -> None:
        while not stop.is_set():
            got = stack.sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
            stolen.extend(m["MessageId"] for m in got.get("Messages", []))
            stop.wait(0.1)

    thief = threading.Thread(target=other_consumer)

    def slow(record: dict[str, Any]) -> Any:
        if not thief.is_alive() and not stop.is_set():
            thief.start()  # the worker holds the whole batch now: from here on, nobody else may get it
        time.sleep(1.4)
        processed.append(record["messageId"])
        return real(record)

    worker.processor.process_record = slow  # type: ignore[method-assign]
    sent = {send(stack, {"source_prefix": f"s3://lab-data/runs/run-{1 + n % 2}/"}) for n in range(3)}
    try:
        assert worker.run(max_polls=1) == 3  # 4.2 s of work, with a 3 s visibility timeout
    finally:
        stop.set()
        if thief.is_alive():
            thief.join()
    assert sorted(processed) == sorted(sent)
    assert stolen == []
    assert in_flight(stack) == 0


def run_worker_command(*args: str, **env_vars: str) -> Any:
    import subprocess
    import sys
    from pathlib import Path

    qps = Path(sys.executable).parent / "qps"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QPS_")}
    env.update(AWS_MAX_ATTEMPTS="1", **env_vars)
    return subprocess.run(
        [str(qps), "worker", "--wait-seconds", "0", "--max-polls", "1", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_worker_command_stops_with_one_line_on_a_queue_that_does_not_exist() -> None:
    from moto.server import ThreadedMotoServer

    from tests.packager.pkghelpers import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        out = run_worker_command(
            "--queue-url",
            f"http://127.0.0.1:{port}/123456789012/no-such-queue",
            "--endpoint-url",
            f"http://127.0.0.1:{port}",
        )
    finally:
        server.stop()
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    [line] = out.stderr.strip().splitlines()
    assert "no-such-queue" in line


def test_worker_command_survives_an_unreachable_endpoint_with_a_warning() -> None:
    out = run_worker_command("--queue-url", "http://127.0.0.1:9/123456789012/q", "--endpoint-url", "http://127.0.0.1:9")
    assert "Traceback" not in out.stderr
    assert "retrying" in out.stderr
    assert out.returncode == 0


@pytest.fixture(autouse=True)
def _quiet_boto_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


def test_a_failed_delete_is_logged_and_the_worker_goes_on(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    worker = make_worker(stack)
    real_delete = worker.sqs.delete_message
    calls: list[str] = []

    def flaky_delete(**params: Any) -> Any:
        calls.append(params["ReceiptHandle"])
        if len(calls) == 1:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url=stack.queue_url)
        return real_delete(**params)

    worker.sqs.delete_message = flaky_delete  # type: ignore[method-assign]
    send(stack, {"source_prefix": "s3://lab-data/runs/run-1/"})
    send(stack, {"source_prefix": "s3://lab-data/runs/run-2/"})
    assert worker.run(max_polls=1) == 2
    assert len(calls) == 2
    assert "could not delete message" in caplog.text
