"""The AWS job store: one DynamoDB table (on-demand, TTL on `expires_at`), as deploy/template.yaml makes it.

Items: a job is `pk = "job#<id>"` with its JSON document, its status, registry and package name for
filters, `gsi_pk = "job"` / `sort_key = "<created_at>#<id>"` for the `by_time` index (newest-first
listing), a `version` for optimistic updates, and `expires_at` once finished. An Idempotency-Key is
`pk = "idem#<caller>\\x1f<key>"` with the body's fingerprint and the job id, written in one
transaction with the job, so two concurrent requests with one key make one job.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from .. import aws
from .model import Job
from .store import (
    IDEMPOTENCY_SECONDS,
    MAX_PAGE,
    BadCursor,
    IdempotencyClaim,
    IdempotencyMismatch,
    JobPage,
    JobStoreError,
    apply_changes,
    with_retries,
)

INDEX = "by_time"


def table_definition(name: str) -> dict[str, Any]:
    """`create_table` arguments; the same shape as the JobsTable in deploy/template.yaml."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "gsi_pk", "AttributeType": "S"},
            {"AttributeName": "sort_key", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": INDEX,
                "KeySchema": [
                    {"AttributeName": "gsi_pk", "KeyType": "HASH"},
                    {"AttributeName": "sort_key", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


class DynamoJobStore:
    db = aws.LazyClient("dynamodb")  # made on first use: boto3 loads only when a job is recorded

    def __init__(
        self, table_name: str, *, endpoint_url: str | None = None, client: Any = None, ttl_days: int = 30
    ) -> None:
        self.table_name = table_name
        self.ttl_seconds = ttl_days * 86400
        self.endpoint_url = endpoint_url
        self._db = client

    def __repr__(self) -> str:
        return f"DynamoJobStore({self.table_name!r})"

    # -- plumbing -----------------------------------------------------------------------------
    def _run(self, what: str, operation: Any) -> Any:
        try:
            return with_retries(operation, is_transient=aws.is_transient, what=what)
        except JobStoreError:
            raise
        except Exception as exc:
            code = aws.error_code(exc)
            if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                raise
            raise JobStoreError(
                f"the job store ({self.table_name}) failed {what}: {code or type(exc).__name__}"
            ) from exc

    def _item(self, job: Job, version: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": {"S": f"job#{job.id}"},
            "gsi_pk": {"S": "job"},
            "sort_key": {"S": f"{job.created_at}#{job.id}"},
            "status": {"S": job.status},
            "doc": {"S": json.dumps(job.as_document(), ensure_ascii=False)},
            "version": {"N": str(version)},
        }
        for name, value in (("registry", job.registry), ("package_name", job.package_name)):
            if value:
                item[name] = {"S": value}
        if job.finished:
            item["expires_at"] = {"N": str(int(time.time()) + self.ttl_seconds)}
        return item

    @staticmethod
    def _job(item: dict[str, Any]) -> Job:
        return Job.model_validate_json(item["doc"]["S"])

    def _get_item(self, pk: str) -> dict[str, Any] | None:
        found = self.db.get_item(TableName=self.table_name, Key={"pk": {"S": pk}}, ConsistentRead=True)
        item: dict[str, Any] | None = found.get("Item")
        return item

    # -- the interface ------------------------------------------------------------------------
    def create(self, job: Job, idempotency: IdempotencyClaim | None = None) -> tuple[Job, bool]:
        put_job = {
            "TableName": self.table_name,
            "Item": self._item(job, 1),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if idempotency is None:
            try:
                self._run("create", lambda: self.db.put_item(**put_job))
            except Exception as exc:
                if aws.error_code(exc) == "ConditionalCheckFailedException":
                    raise JobStoreError(f"a job {job.id!r} exists already") from None
                raise
            return job, True
        now = int(time.time())
        idem_pk = f"idem#{idempotency.store_key}"
        put_key = {
            "TableName": self.table_name,
            "Item": {
                "pk": {"S": idem_pk},
                "fingerprint": {"S": idempotency.fingerprint},
                "job_id": {"S": job.id},
                "expires_at": {"N": str(now + IDEMPOTENCY_SECONDS)},
            },
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
            "ExpressionAttributeValues": {":now": {"N": str(now)}},
        }
        for _ in range(5):
            try:
                self._run(
                    "create", lambda: self.db.transact_write_items(TransactItems=[{"Put": put_key}, {"Put": put_job}])
                )
                return job, True
            except Exception as exc:
                if aws.error_code(exc) != "TransactionCanceledException":
                    raise
            existing = self._run("create", lambda: self._get_item(idem_pk))
            if existing is None:
                continue  # it expired or was removed in between: try again
            if existing["fingerprint"]["S"] != idempotency.fingerprint:
                raise IdempotencyMismatch("the Idempotency-Key was used with a different body")
            found = self.get(existing["job_id"]["S"])
            if found is not None:
                return found, False
            # Claim and job are written in one transaction, so a claim without its job outlived it (the
            # job was removed after a failed hand-over whose claim delete failed, or expired): free it.
            self._drop_claim(idem_pk, existing["job_id"]["S"])
        raise JobStoreError("the Idempotency-Key is being used by a concurrent request; try again")

    def _drop_claim(self, idem_pk: str, job_id: str) -> None:
        """Delete the claim `idem_pk` if it still names `job_id` (else someone re-used it meanwhile)."""

        def op() -> None:
            try:
                self.db.delete_item(
                    TableName=self.table_name,
                    Key={"pk": {"S": idem_pk}},
                    ConditionExpression="job_id = :j",
                    ExpressionAttributeValues={":j": {"S": job_id}},
                )
            except Exception as exc:
                if aws.error_code(exc) != "ConditionalCheckFailedException":
                    raise

        self._run("delete", op)

    def get(self, job_id: str) -> Job | None:
        item = self._run("get", lambda: self._get_item(f"job#{job_id}"))
        return self._job(item) if item else None

    def put(self, job: Job) -> None:
        def op() -> None:
            current = self._get_item(f"job#{job.id}")
            version = int(current["version"]["N"]) + 1 if current else 1
            self.db.put_item(TableName=self.table_name, Item=self._item(job, version))

        self._run("put", op)

    def transition(
        self, job_id: str, expected: Iterable[str], *, when: Callable[[Job], bool] | None = None, **changes: Any
    ) -> Job | None:
        allowed = set(expected)
        for _ in range(10):
            item = self._run("transition", lambda: self._get_item(f"job#{job_id}"))
            if item is None:
                return None
            current = self._job(item)
            if current.status not in allowed or (when is not None and not when(current)):
                return None
            updated = apply_changes(current, changes)
            version = int(item["version"]["N"])
            conditional_put = {
                "TableName": self.table_name,
                "Item": self._item(updated, version + 1),
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(version)}},
            }
            try:
                self._run("transition", lambda args=conditional_put: self.db.put_item(**args))
                return updated
            except Exception as exc:
                if aws.error_code(exc) != "ConditionalCheckFailedException":
                    raise
        raise JobStoreError(f"job {job_id!r} kept changing under a concurrent update")

    def list(
        self,
        *,
        status: str | None = None,
        registry: str | None = None,
        package_name: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        oldest_first: bool = False,
    ) -> JobPage:
        limit = max(1, min(limit, MAX_PAGE))
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": INDEX,
            "KeyConditionExpression": "gsi_pk = :job",
            "ExpressionAttributeValues": {":job": {"S": "job"}},
            "ScanIndexForward": oldest_first,
        }
        filters, names = [], {}
        for n, (name, value) in enumerate((("status", status), ("registry", registry), ("package_name", package_name))):
            if value is not None:
                filters.append(f"#f{n} = :f{n}")
                names[f"#f{n}"] = name
                params["ExpressionAttributeValues"][f":f{n}"] = {"S": value}
        if filters:
            params["FilterExpression"] = " AND ".join(filters)
            params["ExpressionAttributeNames"] = names
        start = self._decode(cursor, oldest_first) if cursor else None
        items: list[dict[str, Any]] = []
        more = False
        while True:
            if start:
                params["ExclusiveStartKey"] = start
            params["Limit"] = max(limit + 1 - len(items), 10)
            page = self._run("list", lambda: self.db.query(**params))
            for item in page.get("Items", []):
                if len(items) == limit:
                    more = True
                    break
                items.append(item)
            start = page.get("LastEvaluatedKey")
            if more or not start:
                break
        next_cursor = self._encode(items[-1], oldest_first) if more else None
        return JobPage([self._job(i) for i in items], next_cursor)

    @staticmethod
    def _encode(item: dict[str, Any], oldest_first: bool) -> str:
        raw = json.dumps([item["pk"]["S"], item["sort_key"]["S"], "asc" if oldest_first else "desc"])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def _decode(cursor: str, oldest_first: bool) -> dict[str, Any]:
        try:
            raw = base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4))
            pk, sort_key, direction = json.loads(raw)
        except (ValueError, TypeError, UnicodeError, binascii.Error):
            raise BadCursor("cursor: is not a cursor this API handed out") from None
        ok = isinstance(pk, str) and pk.startswith("job#") and isinstance(sort_key, str)
        if not ok or direction != ("asc" if oldest_first else "desc"):
            raise BadCursor("cursor: is not a cursor this API handed out")
        return {"pk": {"S": pk}, "gsi_pk": {"S": "job"}, "sort_key": {"S": sort_key}}

    def delete(self, job_id: str, idempotency: IdempotencyClaim | None = None) -> None:
        self._run("delete", lambda: self.db.delete_item(TableName=self.table_name, Key={"pk": {"S": f"job#{job_id}"}}))
        if idempotency is not None:  # if this fails, `create` frees the claim: it names no job
            self._drop_claim(f"idem#{idempotency.store_key}", job_id)

    def ping(self) -> None:
        self._run("ping", lambda: self.db.describe_table(TableName=self.table_name))
