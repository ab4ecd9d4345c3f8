"""Stored settings in a DynamoDB table (AWS: `QPS_SETTINGS_TABLE`, created by deploy/template.yaml).

Key schema: `pk` (string) and `sk` (string). The document is the item (`settings`, `current`) with
`version` (number) and `vals` (JSON text); each audit entry is an item (`audit`, `<version>#<name>`).
A write is one transaction: a conditional update of the document (`version = :expected`) plus
the audit items, so a refused write records nothing.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from .. import aws
from ..errors import ConfigError, TransientError, one_line
from .stored import AuditEntry, StaleVersion, Stored, diff, now

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
            entry = {
                "pk": {"S": "audit"},
                "sk": {"S": f"{version:012d}#{name}"},
                "at": {"S": at},
                "actor": {"S": actor},
                "name": {"S": name},
                "old": {"S": json.dumps(old)},
                "new": {"S": json.dumps(new)},
                "version": {"N": str(version)},
            }
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
