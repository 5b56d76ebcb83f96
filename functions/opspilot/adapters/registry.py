"""The model registry table: entries, what the last sync applied, change records and sync runs.

========================= ============================== =======================================
pk                        sk                             what
========================= ============================== =======================================
REGISTRY                  ENTRY#<model id>               one registry entry, its version, who/when
REGISTRY                  STATE#<model id>               what the last sync applied (JSON string)
CHANGES#<model id>        <time>#<alarm name>#<action>   one alarm change (old -> new, quota, why)
SYNC                      RUN#<time>#<run id>            one sync run's summary and failures
========================= ============================== =======================================

One Query of the ``REGISTRY`` partition reads every entry and state. The table's stream triggers
the sync, filtered to ``ENTRY#`` items, so the sync's own writes never trigger it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from opspilot.adapters.aws import error_code, raise_translated
from opspilot.adapters.items import DynamoTable, from_item, to_item
from opspilot.domain.errors import OpsPilotError
from opspilot.domain.format import iso
from opspilot.domain.registry import ModelEntry
from opspilot.domain.sync_state import ChangeRecord, ModelState

REGISTRY_PK = "REGISTRY"
ENTRY = "ENTRY#"
STATE = "STATE#"
BATCH = 25  # BatchWriteItem's limit


class RegistryConflict(OpsPilotError):
    """The entry changed (or appeared, or vanished) since it was read."""


@dataclass(frozen=True)
class StoredEntry:
    model_id: str
    entry: dict[str, Any]  # as stored: validated on write, validated again before use
    version: int
    updated_at: str
    updated_by: str


@dataclass(frozen=True)
class RegistrySnapshot:
    entries: dict[str, StoredEntry]
    states: dict[str, ModelState]


class RegistryStore(DynamoTable):
    """Reads and writes of the registry table. ``dynamodb`` is injectable for tests."""

    def __init__(self, table_name: str, retention_days: int = 400, dynamodb: Any | None = None) -> None:
        super().__init__(table_name, dynamodb)
        self.retention = timedelta(days=retention_days)

    # ------------------------------------------------------------------ entries
    def load(self) -> RegistrySnapshot:
        """Every entry and every state: one paginated Query."""
        entries: dict[str, StoredEntry] = {}
        states: dict[str, ModelState] = {}
        try:
            pages = self.ddb.get_paginator("query").paginate(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": REGISTRY_PK}},
                ConsistentRead=True,
            )
            for page in pages:
                for raw in page["Items"]:
                    item = from_item(raw)
                    if item["sk"].startswith(ENTRY):
                        stored = _stored(item)
                        entries[stored.model_id] = stored
                    elif item["sk"].startswith(STATE):
                        state = ModelState.parse(json.loads(item["state"]))
                        states[state.model_id] = state
        except ClientError as exc:
            raise_translated(exc, "Query registry")
        return RegistrySnapshot(entries, states)

    def get_entry(self, model_id: str) -> StoredEntry | None:
        item = self._get(ENTRY + model_id)
        return _stored(item) if item else None

    def get_state(self, model_id: str) -> ModelState | None:
        item = self._get(STATE + model_id)
        return ModelState.parse(json.loads(item["state"])) if item else None

    def _get(self, sk: str) -> dict[str, Any] | None:
        return self.read({"pk": REGISTRY_PK, "sk": sk}, "GetItem registry")

    def put_entry(self, entry: ModelEntry, *, expected_version: int | None, by: str, now: datetime) -> int:
        """Write ``entry``; ``expected_version`` None means it must be new. Returns the new version."""
        version = (expected_version or 0) + 1
        item = {
            "pk": REGISTRY_PK,
            "sk": ENTRY + entry.model_id,
            "model_id": entry.model_id,
            "entry": entry.to_json(exclude_defaults=True),
            "version": version,
            "updated_at": iso(now),
            "updated_by": by,
        }
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        if expected_version is not None:
            condition = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(expected_version)}},
            }
        try:
            self.ddb.put_item(TableName=self.table, Item=to_item(item), **condition)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise RegistryConflict(
                    f"{entry.model_id} is already registered"
                    if expected_version is None
                    else f"{entry.model_id} changed since version {expected_version} was read"
                ) from exc
            raise_translated(exc, "PutItem registry entry")
        return version

    def delete_entry(self, model_id: str) -> StoredEntry:
        """Remove the entry; the sync then removes its alarms. Raises if it is not registered."""
        try:
            resp = self.ddb.delete_item(
                TableName=self.table,
                Key=to_item({"pk": REGISTRY_PK, "sk": ENTRY + model_id}),
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise RegistryConflict(f"{model_id} is not registered") from exc
            raise_translated(exc, "DeleteItem registry entry")
        return _stored(from_item(resp["Attributes"]))

    # ------------------------------------------------------------------ sync results
    def save_sync(
        self,
        states: dict[str, ModelState | None],
        changes: Iterable[ChangeRecord],
        now: datetime,
    ) -> int:
        """New states (None deletes one) and change records, in batches of 25. Returns the number
        of BatchWriteItem calls made."""
        ttl = int((now + self.retention).timestamp())
        requests: list[dict[str, Any]] = []
        for model_id, state in states.items():
            key = {"pk": REGISTRY_PK, "sk": STATE + model_id}
            if state is None:
                requests.append({"DeleteRequest": {"Key": to_item(key)}})
            else:
                requests.append(
                    {
                        "PutRequest": {
                            "Item": to_item(
                                key | {"state": json.dumps(state.to_json(), separators=(",", ":"))}
                            )
                        }
                    }
                )
        for change in changes:
            item = {
                "pk": f"CHANGES#{change.model_id}",
                "sk": f"{change.at}#{change.alarm_name}#{change.action}",
                **change.to_json(),
                "ttl": ttl,
            }
            requests.append({"PutRequest": {"Item": to_item(item)}})
        calls = 0
        for i in range(0, len(requests), BATCH):
            calls += self._batch_write(requests[i : i + BATCH])
        return calls

    def _batch_write(self, requests: list[dict[str, Any]]) -> int:
        pending = requests
        for attempt in range(6):
            try:
                resp = self.ddb.batch_write_item(RequestItems={self.table: pending})
            except ClientError as exc:
                raise_translated(exc, "BatchWriteItem registry")
            pending = resp.get("UnprocessedItems", {}).get(self.table, [])
            if not pending:
                return attempt + 1
            time.sleep(min(2.0, 0.05 * 2**attempt))
        raise RuntimeError(f"BatchWriteItem registry: {len(pending)} items still unprocessed")

    def record_run(self, run: dict[str, Any], now: datetime) -> None:
        item = {
            "pk": "SYNC",
            "sk": f"RUN#{iso(now)}#{run['run_id']}",
            **run,
            "ttl": int((now + self.retention).timestamp()),
        }
        try:
            self.ddb.put_item(TableName=self.table, Item=to_item(item))
        except ClientError as exc:
            raise_translated(exc, "PutItem sync run")

    def changes_for(self, model_id: str, limit: int = 20) -> list[dict[str, Any]]:
        """The model's latest change records, newest first."""
        return self._query(f"CHANGES#{model_id}", limit)

    def last_runs(self, limit: int = 5) -> list[dict[str, Any]]:
        return self._query("SYNC", limit)

    def _query(self, pk: str, limit: int) -> list[dict[str, Any]]:
        try:
            resp = self.ddb.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ScanIndexForward=False,
                Limit=limit,
            )
        except ClientError as exc:
            raise_translated(exc, "Query registry")
        return [from_item(i) for i in resp["Items"]]


def _stored(item: dict[str, Any]) -> StoredEntry:
    return StoredEntry(
        model_id=item["model_id"],
        entry=dict(item["entry"]),
        version=int(item["version"]),
        updated_at=str(item.get("updated_at", "")),
        updated_by=str(item.get("updated_by", "")),
    )
