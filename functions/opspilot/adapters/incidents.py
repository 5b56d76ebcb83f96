"""The incident table: incidents, their audit trail, alarm pointers and action claims.

Single-table layout (see docs/architecture.md):

==================== ======================= ===============================================
pk                   sk                      what
==================== ======================= ===============================================
INCIDENT#<id>        META                    classification, plan, approval, actions, status
INCIDENT#<id>        AUDIT#<time>#<kind>     one audit-trail entry
INCIDENT#<id>        ACTION#<action id>      the claim that makes an action run at most once
ALARM#<name>         OPEN                    the alarm's open incident (the intake reads it)
==================== ======================= ===============================================

Approvals live in the same table; adapters/approvals.py reads and writes them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from opspilot.adapters.aws import error_code, raise_translated
from opspilot.adapters.items import DynamoTable, from_item, to_item
from opspilot.domain.errors import TransientAwsError
from opspilot.domain.format import iso
from opspilot.domain.lifecycle import statuses_after


def _pointer(alarm_name: str, incident_id: str, now: datetime, hours: int) -> dict[str, Any]:
    """The item that makes an alarm's next ALARM events attach to its open incident (the intake
    reads it), until it expires."""
    expires = now + timedelta(hours=hours)
    return {
        "pk": f"ALARM#{alarm_name}",
        "sk": "OPEN",
        "incident_id": incident_id,
        "opened_at": iso(now),
        "expires_at": iso(expires),
        "repeat_count": 0,
        "ttl": int(expires.timestamp()),
    }


class IncidentStore(DynamoTable):
    """All reads and writes of the incident table. ``dynamodb`` is injectable for tests."""

    def __init__(self, table_name: str, retention_days: int, dynamodb: Any | None = None) -> None:
        super().__init__(table_name, dynamodb)
        self.retention = timedelta(days=retention_days)

    def _ttl(self, now: datetime) -> int:
        return int((now + self.retention).timestamp())

    # ------------------------------------------------------------------ incidents
    def open_incident(
        self,
        incident: dict[str, Any],
        alarm_name: str,
        execution_id: str,
        now: datetime,
        pointer_hours: int = 24,
    ) -> tuple[str, bool]:
        """Create the incident and claim its alarm, atomically. Returns (incident_id, created).

        A retry of the same execution finds its own incident and returns it (``created`` False
        and the same id); an alarm already owned by another open incident returns that incident.
        """
        incident_id = incident["incident_id"]
        meta = {
            "pk": f"INCIDENT#{incident_id}",
            "sk": "META",
            "gsi1pk": f"MODEL#{incident['model_id']}",
            "gsi1sk": incident["opened_at"],
            "status": "open",
            "incident": incident,
            "execution_id": execution_id,
            "alarms": {alarm_name: "ALARM"},
            "updated_at": iso(now),
            "ttl": self._ttl(now),
        }
        pointer = _pointer(alarm_name, incident_id, now, pointer_hours)
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": to_item(meta),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": to_item(pointer),
                            "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                            "ExpressionAttributeValues": {":now": {"S": iso(now)}},
                        }
                    },
                ]
            )
            return incident_id, True
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise_translated(exc, "open incident")
            reasons = {str(r.get("Code")) for r in exc.response.get("CancellationReasons", [])} - {"None"}
            if reasons - {"ConditionalCheckFailed"}:  # throttled or conflicting: worth a retry
                raise TransientAwsError(f"open incident: transaction cancelled ({sorted(reasons)})") from exc
        if self.get_incident(incident_id) is not None:
            return incident_id, False  # our own earlier attempt succeeded
        owner = self.open_incident_for_alarm(alarm_name)
        if owner is None:
            raise RuntimeError(
                f"alarm {alarm_name}: incident {incident_id} could not be opened and has no owner"
            )
        return owner, False

    def record_suppressed(self, incident: dict[str, Any], execution_id: str, now: datetime) -> bool:
        """Write a suppressed state change (status ``suppressed``) once: False when it is
        recorded already. It claims no alarm, so the model's other alarms are still handled."""
        meta = {
            "pk": f"INCIDENT#{incident['incident_id']}",
            "sk": "META",
            "gsi1pk": f"MODEL#{incident['model_id']}",
            "gsi1sk": incident["opened_at"],
            "status": "suppressed",
            "incident": incident,
            "execution_id": execution_id,
            "updated_at": iso(now),
            "ttl": self._ttl(now),
        }
        try:
            self.ddb.put_item(
                TableName=self.table, Item=to_item(meta), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise_translated(exc, "record suppressed")
        return True

    def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        return self.read({"pk": f"INCIDENT#{incident_id}", "sk": "META"}, "get incident")

    def update_incident(
        self, incident_id: str, now: datetime, *, status: str | None = None, **fields: Any
    ) -> bool:
        """Set ``fields`` on an existing incident, and ``status`` only if that moves it forward
        (:mod:`opspilot.domain.lifecycle`). Returns False when the status was left as it was."""
        fields["updated_at"] = iso(now)
        if status is not None:
            try:
                self._set(incident_id, {**fields, "status": status}, not_after=statuses_after(status))
                return True
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise_translated(exc, f"update incident {incident_id}")
            # the incident is already further on (or missing: the write below says which)
        self._set(incident_id, fields, not_after=[])
        return status is None

    def set_fields_write(
        self, incident_id: str, fields: dict[str, Any], not_after: list[str] | None = None
    ) -> dict[str, Any]:
        """The UpdateItem parameters that set ``fields`` on an existing incident (and, with
        ``not_after``, only while its status is none of those); also one TransactWriteItems
        ``Update`` element, so that another table write can be made atomic with it."""
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":v{i}": value for i, value in enumerate(fields.values())}
        condition = "attribute_exists(pk)"
        if not_after:
            names["#status"] = "status"
            values |= {f":later{i}": later for i, later in enumerate(not_after)}
            condition += f" AND NOT #status IN ({', '.join(f':later{i}' for i in range(len(not_after)))})"
        return {
            "TableName": self.table,
            "Key": to_item({"pk": f"INCIDENT#{incident_id}", "sk": "META"}),
            "UpdateExpression": "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(values),
        }

    def _set(self, incident_id: str, fields: dict[str, Any], not_after: list[str]) -> None:
        try:
            self.ddb.update_item(**self.set_fields_write(incident_id, fields, not_after))
        except ClientError as exc:
            if not_after and error_code(exc) == "ConditionalCheckFailedException":
                raise
            raise_translated(exc, f"update incident {incident_id}")

    def put_incident(self, incident_id: str, record: dict[str, Any], now: datetime) -> None:
        """Write a whole incident record (used for incidents that could not be classified)."""
        item = {"pk": f"INCIDENT#{incident_id}", "sk": "META", "updated_at": iso(now), "ttl": self._ttl(now)}
        item.update(record)
        try:
            self.ddb.put_item(TableName=self.table, Item=to_item(item))
        except ClientError as exc:
            raise_translated(exc, f"put incident {incident_id}")

    def audit_write(self, incident_id: str, kind: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
        """The PutItem parameters of one audit-trail entry (also a TransactWriteItems ``Put``)."""
        item = {
            "pk": f"INCIDENT#{incident_id}",
            "sk": f"AUDIT#{iso(now)}#{kind}",
            "kind": kind,
            "at": iso(now),
            "data": data,
            "ttl": self._ttl(now),
        }
        return {"TableName": self.table, "Item": to_item(item)}

    def append_audit(self, incident_id: str, kind: str, data: dict[str, Any], now: datetime) -> None:
        try:
            self.ddb.put_item(**self.audit_write(incident_id, kind, data, now))
        except ClientError as exc:
            raise_translated(exc, f"audit {kind}")

    def audit_trail(self, incident_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        paginator = self.ddb.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :audit)",
            ExpressionAttributeValues={":pk": {"S": f"INCIDENT#{incident_id}"}, ":audit": {"S": "AUDIT#"}},
        ):
            items.extend(from_item(i) for i in page["Items"])
        return items

    def list_incidents(self, model_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first; by model through the ``by-model`` index, else a scan of META items."""
        if model_id:
            resp = self.ddb.query(
                TableName=self.table,
                IndexName="by-model",
                KeyConditionExpression="gsi1pk = :m",
                ExpressionAttributeValues={":m": {"S": f"MODEL#{model_id}"}},
                ScanIndexForward=False,
                Limit=limit,
            )
            return [from_item(i) for i in resp["Items"]]
        items: list[dict[str, Any]] = []
        for page in self.ddb.get_paginator("scan").paginate(
            TableName=self.table,
            FilterExpression="sk = :meta",
            ExpressionAttributeValues={":meta": {"S": "META"}},
        ):
            items.extend(from_item(i) for i in page["Items"])
        items.sort(key=lambda i: str(i.get("gsi1sk", "")), reverse=True)
        return items[:limit]

    # ------------------------------------------------------------------ alarm pointers
    def claim_more_alarms(
        self, incident_id: str, alarm_names: list[str], now: datetime, pointer_hours: int = 24
    ) -> list[str]:
        """Point the model's other alarms in ALARM at this incident too, so their own events attach
        to it and it resolves only when all of them are OK. An alarm another open incident owns
        stays with that incident. Returns the alarms claimed."""
        claimed = []
        for name in alarm_names:
            pointer = _pointer(name, incident_id, now, pointer_hours)
            try:
                self.ddb.put_item(
                    TableName=self.table,
                    Item=to_item(pointer),
                    ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR incident_id = :id",
                    ExpressionAttributeValues={":now": {"S": iso(now)}, ":id": {"S": incident_id}},
                )
                claimed.append(name)
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise_translated(exc, f"claim alarm {name}")
        if claimed:
            names = {f"#a{i}": name for i, name in enumerate(claimed)}
            self.ddb.update_item(
                TableName=self.table,
                Key=to_item({"pk": f"INCIDENT#{incident_id}", "sk": "META"}),
                UpdateExpression="SET " + ", ".join(f"alarms.{k} = :alarm" for k in names),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":alarm": {"S": "ALARM"}},
            )
        return claimed

    def mark_alarm_ok(self, incident_id: str, alarm_name: str, now: datetime) -> dict[str, Any] | None:
        """Set one alarm of the incident to OK, atomically; the incident as it now is, or None when
        it is already resolved (a second OK event, or a retry after resolving)."""
        try:
            resp = self.ddb.update_item(
                TableName=self.table,
                Key=to_item({"pk": f"INCIDENT#{incident_id}", "sk": "META"}),
                UpdateExpression="SET alarms.#a = :ok, updated_at = :now",
                ConditionExpression="attribute_exists(pk) AND #s <> :resolved",
                ExpressionAttributeNames={"#a": alarm_name, "#s": "status"},
                ExpressionAttributeValues=to_item({":ok": "OK", ":now": iso(now), ":resolved": "resolved"}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise_translated(exc, f"mark {alarm_name} OK")
        return from_item(resp["Attributes"])

    def resolve(self, incident_id: str, now: datetime, **fields: Any) -> bool:
        """Mark the incident resolved, once: False when another execution resolved it first."""
        fields = {"status": "resolved", "resolved_at": iso(now), "updated_at": iso(now), **fields}
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = to_item(
            {f":v{i}": value for i, value in enumerate(fields.values())} | {":resolved": "resolved"}
        )
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=to_item({"pk": f"INCIDENT#{incident_id}", "sk": "META"}),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
                ConditionExpression="attribute_exists(pk) AND #f0 <> :resolved",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
            return True
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise_translated(exc, f"resolve incident {incident_id}")

    def open_incident_for_alarm(self, alarm_name: str) -> str | None:
        resp = self.ddb.get_item(
            TableName=self.table,
            Key=to_item({"pk": f"ALARM#{alarm_name}", "sk": "OPEN"}),
            ConsistentRead=True,
        )
        item = resp.get("Item")
        return str(from_item(item)["incident_id"]) if item else None

    def release_alarm(self, alarm_name: str, incident_id: str) -> None:
        """Drop the alarm's pointer if it still points at ``incident_id``."""
        try:
            self.ddb.delete_item(
                TableName=self.table,
                Key=to_item({"pk": f"ALARM#{alarm_name}", "sk": "OPEN"}),
                ConditionExpression="incident_id = :id",
                ExpressionAttributeValues={":id": {"S": incident_id}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise_translated(exc, f"release alarm {alarm_name}")

    # ------------------------------------------------------------------ at-most-once actions
    def claim_action(self, incident_id: str, action_id: str, now: datetime) -> dict[str, Any] | None:
        """Claim an action before acting. Returns None when the claim is ours (go ahead), or the
        stored record when an earlier attempt already claimed it (do not act again)."""
        key = {"pk": f"INCIDENT#{incident_id}", "sk": f"ACTION#{action_id}"}
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=to_item({**key, "status": "in_progress", "claimed_at": iso(now), "ttl": self._ttl(now)}),
                ConditionExpression="attribute_not_exists(pk)",
            )
            return None
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise_translated(exc, f"claim action {action_id}")
        resp = self.ddb.get_item(TableName=self.table, Key=to_item(key), ConsistentRead=True)
        return from_item(resp["Item"])

    def complete_action(
        self, incident_id: str, action_id: str, record: dict[str, Any], now: datetime
    ) -> None:
        key = {"pk": f"INCIDENT#{incident_id}", "sk": f"ACTION#{action_id}"}
        item = {**key, **record, "completed_at": iso(now), "ttl": self._ttl(now)}
        try:
            self.ddb.put_item(TableName=self.table, Item=to_item(item))
        except ClientError as exc:
            raise_translated(exc, f"complete action {action_id}")

    def actions(self, incident_id: str) -> list[dict[str, Any]]:
        resp = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :a)",
            ExpressionAttributeValues={":pk": {"S": f"INCIDENT#{incident_id}"}, ":a": {"S": "ACTION#"}},
            ConsistentRead=True,
        )
        return [from_item(i) for i in resp["Items"]]
