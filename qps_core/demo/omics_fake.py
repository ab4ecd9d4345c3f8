"""A small local HealthOmics endpoint: `GetRun` and `ListRuns` (paginated) in the service's REST-JSON
shapes (botocore's omics service model is the reference), since moto has no HealthOmics.

Used by the demo (its HealthOmics run is enriched from here) and by the tests, which also make it
answer each documented failure: `failures[run_id]` (or `failures["*list*"]` for ListRuns) is one of
`denied` (403 AccessDeniedException), `throttled` (429 ThrottlingException), `500`
(InternalServerException) or `reset` (the connection is reset without an answer). A run id that is
not in `runs` is 404 ResourceNotFoundException. Loopback only; a daemon thread, stopped with `stop()`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LIST_KEY = "*list*"
ECR = "public.ecr.aws/biocontainers"
LOGS = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/omics/WorkflowLog"
#: ListRuns items carry these fields of a run (RunListItem in the service model).
LIST_FIELDS = (
    "arn",
    "id",
    "status",
    "workflowId",
    "batchId",
    "name",
    "priority",
    "storageCapacity",
    "creationTime",
    "startTime",
    "stopTime",
    "storageType",
    "workflowVersionName",
    "workflowName",
)
#: In ListRuns' items but not in GetRun's answer (the service model's GetRunResponse has no such member).
LIST_ONLY = ("workflowName",)
ERRORS = {
    "denied": (403, "AccessDeniedException", "User is not authorized to perform: omics:GetRun"),
    "throttled": (429, "ThrottlingException", "Rate exceeded"),
    "500": (500, "InternalServerException", "An unexpected error occurred"),
}


def demo_run(run_id: str = "3395667", bucket: str = "qps-demo-data", prefix: str = "omics-quilt") -> dict[str, Any]:
    """A COMPLETED nf-core/rnaseq run as GetRun returns it (JSON on the wire: timestamps ISO 8601), plus
    `workflowName`, which only ListRuns' items carry."""
    return {
        "arn": f"arn:aws:omics:us-east-1:123456789012:run/{run_id}",
        "id": run_id,
        "uuid": "1e250c70-dff6-4e52-8690-a9c144e7cf0f",
        "status": "COMPLETED",
        "workflowId": "9520411",
        "workflowType": "PRIVATE",
        "workflowName": "nf-core-rnaseq",
        "workflowVersionName": "3.14.0",
        "workflowUuid": "0b0c7e4e-4a2f-4d8e-9a55-3f6c3a8e2d11",
        "workflowOwnerId": "123456789012",
        "name": f"rnaseq-{run_id}",
        "roleArn": "arn:aws:iam::123456789012:role/OmicsWorkflowRole",
        "runGroupId": "5843627",
        "priority": 100,
        "digest": "sha256:5d3b8a1f0c6e4b2a9d7f1e3c5b7a9d1f3e5c7b9a1d3f5e7c9b1a3d5f7e9c1b3a",
        "parameters": {"input": "s3://qps-demo-data/samplesheet.csv", "genome": "GRCh38", "aligner": "star_salmon"},
        "storageType": "DYNAMIC",
        "outputUri": f"s3://{bucket}/{prefix}/",
        "runOutputUri": f"s3://{bucket}/{prefix}/{run_id}",
        "logLevel": "ALL",
        "resourceDigests": {
            f"{ECR}/salmon:1.10.1--h7e5ed60_0": "sha256:" + hashlib.sha256(b"salmon").hexdigest(),
            f"{ECR}/star:2.7.10a--h9ee0642_0": "sha256:" + hashlib.sha256(b"star").hexdigest(),
        },
        "startedBy": "arn:aws:sts::123456789012:assumed-role/ResearchRole/alice",
        "creationTime": "2025-03-14T09:58:01.123Z",
        "startTime": "2025-03-14T10:02:45.000Z",
        "stopTime": "2025-03-14T11:02:40.000Z",
        "tags": {"project": "rnaseq-pilot", "cost-center": "genomics"},
        "logLocation": {"runLogStream": f"{LOGS}:log-stream:run/{run_id}"},
        "retentionMode": "RETAIN",
    }


@dataclass
class FakeOmics:
    """`with FakeOmics(runs={...}) as fake:` serves at `fake.url` until the block ends."""

    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    page_size: int = 100
    calls: list[str] = field(default_factory=list)
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def start(self) -> FakeOmics:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                return

            def do_GET(self) -> None:
                fake._answer(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="fake-omics", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOmics:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answers ----------------------------------------------------------------------------
    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path = unquote(parts.path).rstrip("/")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if path == "/run":
            self.calls.append("ListRuns" + (f" {query['startingToken']}" if "startingToken" in query else ""))
            if self._fail(handler, self.failures.get(LIST_KEY)):
                return
            self._list_runs(handler, query)
            return
        if path.startswith("/run/") and path.count("/") == 2:
            run_id = path.rsplit("/", 1)[1]
            self.calls.append(f"GetRun {run_id}")
            if self._fail(handler, self.failures.get(run_id)):
                return
            run = self.runs.get(run_id)
            if run is None:
                _send(handler, 404, {"message": f"Run {run_id} not found"}, "ResourceNotFoundException")
                return
            _send(handler, 200, {k: v for k, v in run.items() if k not in LIST_ONLY})
            return
        _send(handler, 404, {"message": "Unknown operation"}, "UnknownOperationException")

    def _fail(self, handler: BaseHTTPRequestHandler, kind: str | None) -> bool:
        if kind is None:
            return False
        if kind == "reset":  # RST instead of an answer: SO_LINGER 0, then close
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            return True
        status, code, message = ERRORS[kind]
        _send(handler, status, {"message": message}, code)
        return True

    def _list_runs(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        runs = sorted(
            self.runs.values(), key=lambda r: (str(r.get("creationTime", "")), str(r.get("id"))), reverse=True
        )
        if "status" in query:
            runs = [r for r in runs if r.get("status") == query["status"]]
        if "name" in query:
            runs = [r for r in runs if r.get("name") == query["name"]]
        try:
            start = int(base64.urlsafe_b64decode(query["startingToken"]).decode()) if "startingToken" in query else 0
        except ValueError:
            _send(handler, 400, {"message": "Invalid startingToken"}, "ValidationException")
            return
        size = min(int(query.get("maxResults") or self.page_size), self.page_size)
        page = runs[start : start + size]
        body: dict[str, Any] = {"items": [{k: r[k] for k in LIST_FIELDS if k in r} for r in page]}
        if start + size < len(runs):
            body["nextToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        _send(handler, 200, body)


def _send(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any], error_type: str = "") -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
    if error_type:
        handler.send_header("x-amzn-ErrorType", f"{error_type}:http://internal.amazon.com/coral/com.amazonaws.omics/")
    handler.end_headers()
    handler.wfile.write(data)
