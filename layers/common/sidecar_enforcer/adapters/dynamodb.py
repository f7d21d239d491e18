"""The state table (Amazon DynamoDB): versioned JSON documents written with conditional puts.

Key schema: ``pk`` (partition) and ``sk`` (sort), both strings, with TTL on ``expiration`` (the
attribute Powertools idempotency uses for its records, which share the table). Every document
carries a ``version``; :meth:`StateTable.put` writes only if the stored version is still the one
read (``attribute_not_exists(pk)`` for a new document), so of two invocations racing to change a
document exactly one wins and the other reads again. DynamoDB evaluates a condition expression
atomically with the write (DynamoDB developer guide, "Condition expressions").

IAM actions used: ``PERMISSIONS``, on the table.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ..domain.safety.records import Versioned
from ..errors import AwsError, MisconfiguredError, NotFoundError
from .aws import call, translate

PERMISSIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query")


class StateTable:
    durable = True  # what it records outlives the invocation

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    def _missing(self, exc: AwsError) -> AwsError:
        """DynamoDB's ResourceNotFoundException here means the table itself is missing."""
        if isinstance(exc, NotFoundError):
            return MisconfiguredError(f"{exc} (the state table {self.table_name}: check STATE_TABLE_NAME)")
        return exc

    def get(self, pk: str, sk: str) -> Versioned | None:
        try:
            response = call(
                "GetItem",
                self._client.get_item,
                TableName=self.table_name,
                Key=_key(pk, sk),
                ConsistentRead=True,  # the condition of the next put is checked against this version
            )
        except AwsError as exc:
            raise self._missing(exc) from None
        item = response.get("Item")
        return _versioned(item) if item else None

    def put(
        self, pk: str, sk: str, doc: dict[str, Any], expected: int | None, *, expires: float | None = None
    ) -> bool:
        """Write ``doc`` as version ``expected + 1``; False when another writer got there first."""
        item: dict[str, Any] = {
            **_key(pk, sk),
            "version": {"N": str((expected or 0) + 1)},
            "doc": {"S": json.dumps(doc, sort_keys=True, separators=(",", ":"))},
        }
        if expires is not None:
            item["expiration"] = {"N": str(int(expires))}
        if expected is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected)}},
            }
        try:
            self._client.put_item(TableName=self.table_name, Item=item, **condition)
        except Exception as exc:
            if _condition_failed(exc):
                return False
            raise self._missing(translate("PutItem", exc)) from None
        return True

    def delete(self, pk: str, sk: str, expected: int) -> bool:
        try:
            self._client.delete_item(
                TableName=self.table_name,
                Key=_key(pk, sk),
                ConditionExpression="version = :expected",
                ExpressionAttributeValues={":expected": {"N": str(expected)}},
            )
        except Exception as exc:
            if _condition_failed(exc):
                return False
            raise self._missing(translate("DeleteItem", exc)) from None
        return True

    def query(self, pk: str, limit: int) -> list[tuple[str, Versioned]]:
        """The first ``limit`` documents of a partition, by sort key (page after page: a Query
        answers at most 1 MB)."""
        found: list[tuple[str, Versioned]] = []
        start: dict[str, Any] | None = None
        while len(found) < limit:
            more = {"ExclusiveStartKey": start} if start else {}
            try:
                response = call(
                    "Query",
                    self._client.query,
                    TableName=self.table_name,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": pk}},
                    ConsistentRead=True,
                    Limit=limit - len(found),
                    **more,
                )
            except AwsError as exc:
                raise self._missing(exc) from None
            found.extend((item["sk"]["S"], _versioned(item)) for item in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                break
        return found


def _condition_failed(exc: Exception) -> bool:
    """The write's condition did not hold: another writer got there first."""
    code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
    return code == "ConditionalCheckFailedException"


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _versioned(item: dict[str, Any]) -> Versioned:
    return Versioned(int(item["version"]["N"]), json.loads(item["doc"]["S"]))


def create_table(client: Any, table_name: str) -> None:
    """The table as template.yaml declares it (for the demo, local runs and tests)."""
    client.create_table(
        TableName=table_name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )
