"""DynamoDB items as plain JSON-shaped dicts, and the table base every store shares."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from opspilot.adapters.aws import client, raise_translated

_SER = TypeSerializer()
_DESER = TypeDeserializer()


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """A plain dict as a DynamoDB item (floats become Decimals on the way)."""
    plain = json.loads(json.dumps(values), parse_float=Decimal)
    return {k: _SER.serialize(v) for k, v in plain.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as a plain dict: whole Decimals become ints, others floats, sets lists."""
    return {k: _plain(_DESER.deserialize(v)) for k, v in item.items()}


class DynamoTable:
    """One table's name and its DynamoDB client, built at first use (``dynamodb`` is injectable
    for tests)."""

    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self.table = table_name
        self._ddb = dynamodb

    @property
    def ddb(self) -> Any:
        if self._ddb is None:
            self._ddb = client("dynamodb")
        return self._ddb

    def read(self, key: dict[str, str], what: str) -> dict[str, Any] | None:
        """One item by key, read consistently; None when there is none."""
        try:
            resp = self.ddb.get_item(TableName=self.table, Key=to_item(key), ConsistentRead=True)
        except ClientError as exc:
            raise_translated(exc, what)
        item = resp.get("Item")
        return from_item(item) if item else None
