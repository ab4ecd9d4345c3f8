"""Stored settings in a DynamoDB table (AWS: `QPS_SETTINGS_TABLE`, created by deploy/template.yaml).

Key schema: `pk` (string) and `sk` (string). The document is the item (`settings`, `current`) with
`version` (number) and `vals` (JSON text); each audit entry is an item (`audit`, `<version>#<name>`);
each admin session an item (`session`, <SHA-256 of its id>) until it ends.
A write is one transaction: a conditional update of the document (`version = :expected`) plus
the audit items, so a refused write records nothing.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from .. import aws
from ..errors import ConfigError, TransientError, one_line
from .stored import SESSIONS_AUDIT_NAME, AuditEntry, SessionRecord, StaleVersion, Stored, diff, now

DOC_KEY = {"pk": {"S": "settings"}, "sk": {"S": "current"}}


class DynamoSettingsStore:
    client = aws.LazyClient("dynamodb")

    def __init__(self, table: str, *, endpoint_url: str | None = None, client: Any = None) -> None:
        self.table = table
        self.endpoint_url = endpoint_url
        self._client = client

    def _call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self.client, operation)(**params)
        except Exception as exc:
            code = aws.error_code(exc)
            if code in aws.CONDITION_CODES:
                raise
            message = f"settings table {self.table}: {operation} failed: {one_line(exc)}"
            if aws.is_transient(exc) or not code:
                raise TransientError(message) from None
            raise ConfigError(message) from None

    def read(self) -> Stored:
        item = self._call("get_item", TableName=self.table, Key=DOC_KEY, ConsistentRead=True).get("Item")
        if not item:
            return Stored()
        return Stored(
            json.loads(item["vals"]["S"]),
            int(item["version"]["N"]),
            item.get("updated_at", {}).get("S"),
            item.get("updated_by", {}).get("S"),
        )

    def version(self) -> int:
        item = self._call(
            "get_item", TableName=self.table, Key=DOC_KEY, ConsistentRead=True, ProjectionExpression="version"
        ).get("Item")
        return int(item["version"]["N"]) if item else 0

    def update(self, changes: dict[str, Any], *, expected_version: int, actor: str) -> Stored:
        current = self.read()
        if current.version != expected_version:
            raise StaleVersion(expected_version, current.version)
        values, changed = diff(current.values, changes)
        if not changed:
            return current
        at, version = now(), current.version + 1
        condition: dict[str, Any]
        if expected_version == 0:
            condition = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
            }
        document = {
            **DOC_KEY,
            "version": {"N": str(version)},
            "vals": {"S": json.dumps(values, sort_keys=True)},
            "updated_at": {"S": at},
            "updated_by": {"S": actor},
        }
        items: list[dict[str, Any]] = [{"Put": {"TableName": self.table, "Item": document, **condition}}]
        for name, old, new in changed:
            entry = _audit_item(f"{version:012d}#{name}", at, actor, name, old, new, version)
            items.append({"Put": {"TableName": self.table, "Item": entry}})
        try:
            self._call("transact_write_items", TransactItems=items)
        except Exception as exc:
            reasons = getattr(exc, "response", {}).get("CancellationReasons") or [{}]
            if reasons[0].get("Code") == "ConditionalCheckFailed":
                raise StaleVersion(expected_version, self.version()) from None
            raise TransientError(f"settings table {self.table}: the write was cancelled: {one_line(exc)}") from None
        return Stored(values, version, at, actor)

    def session_secret(self) -> bytes:
        key = {"pk": {"S": "secret"}, "sk": {"S": "session"}}
        item = self._call("get_item", TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        if item:
            return bytes(item["secret"]["B"])
        fresh = secrets.token_bytes(32)
        try:  # the first process to get here creates it; every other one reads that one
            self._call(
                "put_item",
                TableName=self.table,
                Item={**key, "secret": {"B": fresh}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            return fresh
        except Exception as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                raise
        item = self._call("get_item", TableName=self.table, Key=key, ConsistentRead=True)["Item"]
        return bytes(item["secret"]["B"])

    def audit(self, limit: int = 100) -> list[AuditEntry]:
        items = self._call(
            "query",
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "audit"}},
            ScanIndexForward=False,
            Limit=limit,
        ).get("Items", [])
        return [
            AuditEntry(
                i["at"]["S"],
                i["actor"]["S"],
                i["name"]["S"],
                json.loads(i["old"]["S"]),
                json.loads(i["new"]["S"]),
                int(i["version"]["N"]),
            )
            for i in items
        ]

    # -- admin sessions ------------------------------------------------------------------------
    def session_put(self, record: SessionRecord) -> None:
        self._call(
            "put_item",
            TableName=self.table,
            Item={
                "pk": {"S": "session"},
                "sk": {"S": record.id},
                "who": {"S": record.who},
                "created": {"S": record.created},
                "last_seen": {"S": record.last_seen},
                "expires": {"N": str(record.expires)},
            },
        )

    @staticmethod
    def _session(item: dict[str, Any]) -> SessionRecord:
        return SessionRecord(
            item["sk"]["S"], item["who"]["S"], item["created"]["S"], item["last_seen"]["S"], int(item["expires"]["N"])
        )

    def session_get(self, session_id: str) -> SessionRecord | None:
        key = {"pk": {"S": "session"}, "sk": {"S": session_id}}
        item = self._call("get_item", TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        if not item or int(item["expires"]["N"]) <= time.time():
            return None
        return self._session(item)

    def session_list(self) -> list[SessionRecord]:
        found: list[SessionRecord] = []
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "session"}},
            "ConsistentRead": True,
        }
        while True:
            page = self._call("query", **params)
            found += [self._session(i) for i in page.get("Items", []) if int(i["expires"]["N"]) > time.time()]
            if "LastEvaluatedKey" not in page:
                return sorted(found, key=lambda r: r.created)
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def session_end(self, session_ids: list[str] | None, *, actor: str) -> int:
        ids = [r.id for r in self.session_list()] if session_ids is None else session_ids
        ended = 0
        for sid in ids:
            reply = self._call(
                "delete_item",
                TableName=self.table,
                Key={"pk": {"S": "session"}, "sk": {"S": sid}},
                ReturnValues="ALL_OLD",
            )
            ended += 1 if reply.get("Attributes") else 0
        what = "every session" if session_ids is None else "this session"
        self.record(SESSIONS_AUDIT_NAME, actor=actor, old=f"{ended} active", new=f"logged out: {what}")
        return ended

    def record(self, name: str, *, actor: str, old: Any, new: Any) -> None:
        at, version = now(), self.version()
        sort_key = f"{version:012d}#{name}#{at}#{secrets.token_hex(4)}"  # several per version
        self._call("put_item", TableName=self.table, Item=_audit_item(sort_key, at, actor, name, old, new, version))


def _audit_item(sort_key: str, at: str, actor: str, name: str, old: Any, new: Any, version: int) -> dict[str, Any]:
    """One audit entry as the table holds it (partition `audit`, newest version last by sort key)."""
    return {
        "pk": {"S": "audit"},
        "sk": {"S": sort_key},
        "at": {"S": at},
        "actor": {"S": actor},
        "name": {"S": name},
        "old": {"S": json.dumps(old)},
        "new": {"S": json.dumps(new)},
        "version": {"N": str(version)},
    }


def create_table(client: Any, table: str) -> None:
    """The table as deploy/template.yaml creates it (for local endpoints and tests)."""
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
