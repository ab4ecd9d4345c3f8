"""Dead letters (docs/design.md §13): the admin-only API routes and the admin page's forms, against
moto's SQS in process: depths, reasons, bodies, retry one, delete one, redrive all (moved one by one
where StartMessageMoveTask is unavailable, the move task where it is), nothing lost if interrupted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from qps_core.admin import deadletters_api
from qps_core.demo import local_queues
from tests.admin.adminhelpers import ADMIN, API_TOKEN
from tests.helpers import LOCAL

API = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def queues(mock_aws: None) -> Iterator[tuple[Any, str, str]]:
    deadletters_api._services.clear()  # one SQS client per test's moto
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue, dlq = local_queues(sqs)
    yield sqs, queue, dlq
    deadletters_api._services.clear()


def dead_letter(sqs: Any, dlq: str, body: str, reason: str, job_id: str | None = None) -> str:
    attributes = {"qps-error": {"DataType": "String", "StringValue": reason}}
    if job_id:
        attributes["qps-job-id"] = {"DataType": "String", "StringValue": job_id}
    return str(sqs.send_message(QueueUrl=dlq, MessageBody=body, MessageAttributes=attributes)["MessageId"])


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for _ in range(5):
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, MessageAttributeNames=["All"]
        ).get("Messages", [])
        for m in batch:
            found[m["MessageId"]] = m
    return list(found.values())


def depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


@pytest.fixture
def client(queues: tuple[Any, str, str], make_app: Any) -> TestClient:
    _, queue, dlq = queues
    app, _ = make_app(queue_url=queue, dead_letter_queue_url=dlq)
    return TestClient(app, base_url=LOCAL)


def test_the_first_dead_letters_with_their_reason_body_and_time(client: TestClient, queues: Any) -> None:
    sqs, queue, dlq = queues
    first = dead_letter(sqs, dlq, '{"uri": "s3://lab-data/empty/"}', "s3://lab-data/empty/ holds no objects")
    dead_letter(sqs, dlq, "x" * 5000, "not JSON")

    reply = client.get("/v1/dead-letters", headers=ADMIN)

    assert reply.status_code == 200
    body = reply.json()
    assert body["dead_letter_queue"]["url"] == dlq and body["dead_letter_queue"]["visible"] == 2
    assert body["queue"]["url"] == queue and body["queue"]["visible"] == 0
    items = {i["id"]: i for i in body["items"]}
    assert items[first]["reason"] == "s3://lab-data/empty/ holds no objects"
    assert items[first]["body"] == '{"uri": "s3://lab-data/empty/"}'
    assert items[first]["sent_at"].endswith("Z")
    long = next(i for i in items.values() if i["id"] != first)
    assert len(long["body"]) == 4096 and long["truncated"] is True
    assert depth(sqs, dlq) == 2  # looking hid nothing for long: they are visible again


def test_admin_only(client: TestClient) -> None:
    assert client.get("/v1/dead-letters").status_code == 401
    assert client.get("/v1/dead-letters", headers=API).status_code == 403
    assert client.post("/v1/dead-letters/redrive", headers=API).status_code == 403
    assert client.delete("/v1/dead-letters/abc", headers=API).status_code == 403


def test_retry_one_sends_it_back_with_its_job_then_deletes_it(client: TestClient, queues: Any) -> None:
    sqs, queue, dlq = queues
    one = dead_letter(sqs, dlq, '{"uri": "s3://lab-data/runs/run-1/"}', "transient: throttled", job_id="job-1")
    other = dead_letter(sqs, dlq, '{"uri": "s3://lab-data/runs/run-2/"}', "denied")

    assert client.post(f"/v1/dead-letters/{one}/retry", headers=ADMIN).status_code == 204

    [back] = drain(sqs, queue)
    assert back["Body"] == '{"uri": "s3://lab-data/runs/run-1/"}'
    attrs = back["MessageAttributes"]
    assert attrs["qps-job-id"]["StringValue"] == "job-1"  # the API's job is updated when it runs again
    assert attrs["qps-redriven-from"]["StringValue"] == one
    assert "qps-error" not in attrs
    assert [m["MessageId"] for m in drain(sqs, dlq)] == [other]


def test_delete_one_and_unknown_ids(client: TestClient, queues: Any) -> None:
    sqs, queue, dlq = queues
    one = dead_letter(sqs, dlq, "{}", "rejected")
    assert client.delete("/v1/dead-letters/nope", headers=ADMIN).status_code == 404
    assert client.delete(f"/v1/dead-letters/{one}", headers=ADMIN).status_code == 204
    assert depth(sqs, dlq) == 0 and depth(sqs, queue) == 0
    reply = client.post(f"/v1/dead-letters/{one}/retry", headers=ADMIN)
    assert reply.status_code == 404 and reply.headers["content-type"] == "application/problem+json"


def test_redrive_moves_every_message_where_the_move_task_is_unavailable(client: TestClient, queues: Any) -> None:
    sqs, queue, dlq = queues
    bodies = {json.dumps({"uri": f"s3://lab-data/runs/run-{n}/"}) for n in range(23)}
    for body in bodies:
        dead_letter(sqs, dlq, body, "failed")

    reply = client.post("/v1/dead-letters/redrive", headers=ADMIN)

    assert reply.status_code == 202
    assert reply.json() == {"method": "moved", "task_handle": None, "moved": 23}
    assert sorted(m["Body"] for m in drain(sqs, queue)) == sorted(bodies)  # each once
    assert depth(sqs, dlq) == 0


def test_not_configured_is_a_clear_conflict(make_app: Any, mock_aws: None) -> None:
    deadletters_api._services.clear()
    app, _ = make_app()
    reply = TestClient(app, base_url=LOCAL).get("/v1/dead-letters", headers=ADMIN)
    assert reply.status_code == 409 and "QPS_DEAD_LETTER_QUEUE_URL" in reply.json()["detail"]


class Flaky:
    """An SQS client whose DeleteMessage fails after `deletes` successes (an interrupted move)."""

    def __init__(self, client: Any, deletes: int) -> None:
        self._client = client
        self.deletes = deletes

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name != "delete_message":
            return method

        def delete(**params: Any) -> Any:
            if self.deletes <= 0:
                raise ConnectionError("interrupted")
            self.deletes -= 1
            return method(**params)

        return delete


def test_an_interrupted_redrive_loses_nothing_and_a_fifo_queue_gets_no_duplicate(mock_aws: None) -> None:
    from qps_core.admin.deadletters import DeadLetterError, DeadLetters
    from qps_core.settings import load_settings

    sqs = boto3.client("sqs", region_name="us-east-1")
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    dlq = sqs.create_queue(QueueName="qps-dlq.fifo", Attributes=fifo)["QueueUrl"]
    queue = sqs.create_queue(QueueName="qps.fifo", Attributes=fifo)["QueueUrl"]
    for n in range(5):
        sqs.send_message(QueueUrl=dlq, MessageBody=f"body-{n}", MessageGroupId="g", MessageDeduplicationId=f"d{n}")
    settings = load_settings(queue_url=queue, dead_letter_queue_url=dlq, endpoint_url="http://127.0.0.1:1")

    with pytest.raises(DeadLetterError, match="interrupted"):
        DeadLetters(settings, sqs=Flaky(sqs, deletes=2)).redrive("test")
    # the third message was sent but not deleted: it is in both queues, none is lost
    assert depth(sqs, dlq) == 3 and depth(sqs, queue) == 3

    done = DeadLetters(settings, sqs=sqs).redrive("test")

    assert done["moved"] == 3
    bodies = [m["Body"] for m in drain(sqs, queue)]
    assert sorted(bodies) == [f"body-{n}" for n in range(5)]  # each exactly once: the resend was deduplicated


def test_in_aws_redrive_starts_the_move_task(queues: Any) -> None:
    from qps_core.admin.deadletters import DeadLetters
    from qps_core.settings import load_settings

    sqs, queue, dlq = queues
    dead_letter(sqs, dlq, "{}", "failed")
    calls: list[dict[str, Any]] = []

    class MoveTask:
        def __getattr__(self, name: str) -> Any:
            return getattr(sqs, name)

        def start_message_move_task(self, **params: Any) -> dict[str, Any]:
            calls.append(params)
            return {"TaskHandle": "task-1"}

    settings = load_settings(queue_url=queue, dead_letter_queue_url=dlq)
    done = DeadLetters(settings, sqs=MoveTask()).redrive("test")

    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert calls == [{"SourceArn": arn, "DestinationArn": source}]
    assert done == {"method": "move-task", "task_handle": "task-1", "moved": None}
    assert depth(sqs, dlq) == 1  # SQS moves them, not QPS


def test_admin_page_lists_escaped_bodies_and_refuses_forms_without_csrf(client: TestClient, queues: Any) -> None:
    sqs, _, dlq = queues
    one = dead_letter(sqs, dlq, '<script>alert("x")</script>', "bad <b>input</b>")
    client.post("/admin/login", data={"token": ADMIN["Authorization"].split()[1]})

    page = client.get("/admin/dead-letters")

    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
    assert "bad &lt;b&gt;input&lt;/b&gt;" in page.text
    assert 'href="/admin/dead-letters" aria-current="page"' in page.text
    refused = client.post(f"/admin/dead-letters/{one}/delete", data={"csrf": "wrong"})
    assert refused.status_code == 403
    assert depth(sqs, dlq) == 1


def test_each_action_is_in_the_admin_audit_log(client: TestClient, queues: Any) -> None:
    """Retry, delete and redrive each leave an entry in the settings store's audit log (the one the
    Settings page and GET /v1/settings/audit show), naming who did it."""
    sqs, _, dlq = queues
    one, two = (dead_letter(sqs, dlq, json.dumps({"uri": f"s3://lab-data/{n}/"}), "failed") for n in "ab")
    dead_letter(sqs, dlq, "{}", "rejected")
    assert client.post(f"/v1/dead-letters/{one}/retry", headers=ADMIN).status_code == 204
    assert client.delete(f"/v1/dead-letters/{two}", headers=ADMIN).status_code == 204
    assert client.post("/v1/dead-letters/redrive", headers=ADMIN).status_code == 202
    entries = [
        e for e in client.get("/v1/settings/audit", headers=ADMIN).json()["items"] if e["name"] == "dead letters"
    ]
    assert [e["new"] for e in entries] == [
        "1 dead letter(s) moved back to the queue",
        f"dead letter {two} deleted",
        f"dead letter {one} sent back to the queue",
    ]
    assert all(e["actor"].startswith("API (") and API_TOKEN not in e["actor"] for e in entries)
