"""The incident table: incidents, their audit trail, alarm pointers and action claims.

Single-table layout (see docs/architecture.md):

==================== ======================= ===============================================
pk                   sk                      what
==================== ======================= ===============================================
INCIDENT#<id>        META                    classification, plan, approval, actions, status
INCIDENT#<id>        AUDIT#<time>#<kind>     one audit-trail entry
INCIDENT#<id>        ACTION#<action id>      the claim that makes an action run at most once
ALARM#<name>         OPEN                    the alarm's open incident (the intake reads it)
ALARM#<name>         STATE                   the alarm's newest state change we took in
MODEL#<region>#<id>  OPEN                    the model's incident: open, or resolved (reopens)
QUOTA#<region>#<code> REQUEST#<request id>   a quota increase we filed: its value and the quota's before
EVENT#<event id>     INTAKE                  what the intake made of one event, once
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


def _expiry(now: datetime, hours: int) -> dict[str, Any]:
    expires = now + timedelta(hours=hours)
    return {"expires_at": iso(expires), "ttl": int(expires.timestamp())}


def _model_key(model_id: str, region: str) -> dict[str, str]:
    return {"pk": f"MODEL#{region}#{model_id}", "sk": "OPEN"}


class IncidentStore(DynamoTable):
    """All reads and writes of the incident table. ``dynamodb`` is injectable for tests."""

    def __init__(self, table_name: str, retention_days: int, dynamodb: Any | None = None) -> None:
        super().__init__(table_name, dynamodb)
        self.retention = timedelta(days=retention_days)

    def _ttl(self, now: datetime) -> int:
        return int((now + self.retention).timestamp())

    # ------------------------------------------------------------------ intake
    def event_intake(self, event_id: str) -> dict[str, Any] | None:
        """What the intake made of this event, if an execution took it in already."""
        return self.read({"pk": f"EVENT#{event_id}", "sk": "INTAKE"}, "read event intake")

    def _intake_put(self, event_id: str, intake: dict[str, Any], now: datetime) -> dict[str, Any]:
        item = {"pk": f"EVENT#{event_id}", "sk": "INTAKE", "at": iso(now), "ttl": self._ttl(now), **intake}
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def record_intake(self, event_id: str, intake: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        """Record what the intake made of an event that touches no incident (stale, refused, an
        OK). None when recorded; the record already there when another execution took it in."""
        try:
            self.ddb.put_item(**self._intake_put(event_id, intake, now)["Put"])
            return None
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise_translated(exc, "record event intake")
        return self.event_intake(event_id)

    def record_alarm_state(
        self, alarm_name: str, state: str, changed_at: str, event_id: str, now: datetime
    ) -> dict[str, Any] | None:
        """Take in the alarm's state change if it is newer than the one on record (or is that one
        again: a retry, a duplicate). None when taken in; else the newer change on record, which
        makes this event stale. ``changed_at`` is an ``iso`` string: they compare in time order."""
        key = {"pk": f"ALARM#{alarm_name}", "sk": "STATE"}
        item: dict[str, Any] = {**key, "state": state, "changed_at": changed_at, "event_id": event_id}
        item |= {"recorded_at": iso(now), "ttl": self._ttl(now)}
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(pk) OR changed_at < :at OR event_id = :id",
                ExpressionAttributeValues=to_item({":at": changed_at, ":id": event_id}),
            )
            return None
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise_translated(exc, f"record the state of {alarm_name}")
        return self.read(key, "read alarm state") or {}

    def model_pointer(self, model_id: str, region: str) -> dict[str, Any] | None:
        """The model's incident in this Region: open, or resolved (it may reopen)."""
        return self.read(_model_key(model_id, region), "read model pointer")

    def open_incident(
        self,
        incident: dict[str, Any],
        alarm_names: list[str],
        execution_id: str,
        event_id: str,
        now: datetime,
        *,
        intake: dict[str, Any],
        replaces: str | None = None,
        pointer_hours: int = 24,
    ) -> str | None:
        """Open the model's incident, atomically with its pointers and the event's intake record:
        the model's pointer is taken only if the model has none, or it expired, or it still points
        at ``replaces`` (a resolved incident past its cooldown). Returns None when opened, else
        why not: ``"event"`` (this event was taken in already) or ``"model"`` (another incident
        of the model got there first)."""
        incident_id = incident["incident_id"]
        meta = {
            "pk": f"INCIDENT#{incident_id}",
            "sk": "META",
            "gsi1pk": f"MODEL#{incident['model_id']}",
            "gsi1sk": incident["opened_at"],
            "status": "open",
            "incident": incident,
            "execution_id": execution_id,
            "alarms": dict.fromkeys(alarm_names, "ALARM"),
            "version": 1,
            "updated_at": iso(now),
            "ttl": self._ttl(now),
        }
        model = {**_model_key(incident["model_id"], incident["region"]), **_expiry(now, pointer_hours)}
        model["incident_id"] = incident_id
        return self._transact(
            [
                self._intake_put(event_id, intake, now),
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": to_item(model),
                        "ConditionExpression": (
                            "attribute_not_exists(pk) OR expires_at < :now OR incident_id = :replaces"
                        ),
                        "ExpressionAttributeValues": to_item(
                            {":now": iso(now), ":replaces": replaces or "-"}
                        ),
                    }
                },
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": to_item(meta),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ],
            ["event", "model", "incident"],
            "open incident",
        )

    def join_incident(
        self,
        record: dict[str, Any],
        incident: dict[str, Any],
        alarm_names: list[str],
        intake: dict[str, Any],
        event_id: str,
        now: datetime,
        *,
        reopen_after: str | None = None,
        pointer_hours: int = 24,
    ) -> str | None:
        """Join the model's open incident (or, with ``reopen_after``, reopen it if it resolved at
        or after that time): its alarms and reclassified ``incident`` are written only if no other
        writer changed the record since it was read (its ``version``), atomically with the event's
        intake record and the model pointer's new expiry. Returns None when done, else what
        stopped it: ``"event"`` (taken in already) or ``"incident"`` (changed meanwhile: read
        again)."""
        incident_id = record["incident"]["incident_id"]
        version = int(record.get("version") or 0)
        names = {f"#a{i}": name for i, name in enumerate(alarm_names)}
        names |= {"#s": "status", "#v": "version", "#inc": "incident"}
        values: dict[str, Any] = {":alarm": "ALARM", ":v": version, ":next": version + 1, ":inc": incident}
        values |= {":now": iso(now), ":resolved": "resolved"}
        sets = [f"alarms.{k} = :alarm" for k in names if k.startswith("#a")]
        sets += ["#inc = :inc", "#v = :next", "updated_at = :now"]
        current = "#v = :v" if version else "attribute_not_exists(#v)"
        if reopen_after is None:
            condition = f"attribute_exists(pk) AND #s <> :resolved AND {current}"
            removes = ""
        else:
            condition = f"#s = :resolved AND resolved_at >= :after AND {current}"
            values |= {":after": reopen_after, ":open": "open", ":zero": 0, ":one": 1}
            sets += [
                "#s = :open",
                "reopened_at = :now",
                "reopen_count = if_not_exists(reopen_count, :zero) + :one",
            ]
            removes = " REMOVE resolved_at, resolved_by_execution, recovery"
        model = _model_key(incident["model_id"], incident["region"])
        expiry = _expiry(now, pointer_hours)
        return self._transact(
            [
                self._intake_put(event_id, intake, now),
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": to_item({"pk": f"INCIDENT#{incident_id}", "sk": "META"}),
                        "UpdateExpression": "SET " + ", ".join(sets) + removes,
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": to_item(values),
                    }
                },
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": to_item(model),
                        "UpdateExpression": "SET expires_at = :e, #ttl = :t",
                        "ConditionExpression": "incident_id = :id",
                        "ExpressionAttributeNames": {"#ttl": "ttl"},
                        "ExpressionAttributeValues": to_item(
                            {":e": expiry["expires_at"], ":t": expiry["ttl"], ":id": incident_id}
                        ),
                    }
                },
            ],
            ["event", "incident", "incident"],
            "join incident",
        )

    def _transact(self, items: list[dict[str, Any]], stops: list[str], what: str) -> str | None:
        """One transaction; None when written, else the ``stops`` entry of the first item whose
        condition failed. Throttling and conflicts are a ``TransientAwsError`` (retried)."""
        try:
            self.ddb.transact_write_items(TransactItems=items)
            return None
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise_translated(exc, what)
            codes = [str(r.get("Code")) for r in exc.response.get("CancellationReasons", [])]
            if set(codes) - {"None", "ConditionalCheckFailed"}:  # throttled or conflicting
                raise TransientAwsError(f"{what}: transaction cancelled ({sorted(set(codes))})") from exc
            for stop, code in zip(stops, codes, strict=False):
                if code == "ConditionalCheckFailed":
                    return stop
            raise TransientAwsError(f"{what}: transaction cancelled without a reason") from exc

    def point_alarms(self, incident_id: str, alarm_names: list[str], now: datetime, hours: int = 24) -> None:
        """Point the alarms at the model's incident, so their repeated ALARM events attach to it in
        the intake. The model's pointer decides which incident is open; these only follow it."""
        for name in alarm_names:
            try:
                self.ddb.put_item(TableName=self.table, Item=to_item(_pointer(name, incident_id, now, hours)))
            except ClientError as exc:
                raise_translated(exc, f"point alarm {name}")

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
            # here, not at the top: the rest of lifecycle (the intake's rules) imports classification
            # and the event models, which a handler that only moves a status need not load
            from opspilot.domain.lifecycle import statuses_after

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

    def audit_write(
        self, incident_id: str, kind: str, data: dict[str, Any], now: datetime, key: str | None = None
    ) -> dict[str, Any]:
        """The PutItem parameters of one audit-trail entry (also a TransactWriteItems ``Put``).
        With ``key``, its sort key ends in it: two entries of one kind at the same millisecond stay
        apart."""
        item = {
            "pk": f"INCIDENT#{incident_id}",
            "sk": f"AUDIT#{iso(now)}#{kind}",
            "kind": kind,
            "at": iso(now),
            "data": data,
            "ttl": self._ttl(now),
        }
        if key is not None:
            item["sk"] = f"{item['sk']}#{key}"
        return {"TableName": self.table, "Item": to_item(item)}

    def append_audit(
        self, incident_id: str, kind: str, data: dict[str, Any], now: datetime, key: str | None = None
    ) -> None:
        """One audit entry. With ``key`` (the event id, or the execution id for a step that runs
        once per execution) it is written once: a retried step whose first attempt wrote it (and
        whose response was lost) does not write a second one."""
        write = self.audit_write(incident_id, kind, data, now, key)
        if key is None:
            try:
                self.ddb.put_item(**write)
            except ClientError as exc:
                raise_translated(exc, f"audit {kind}")
            return
        item = from_item(write["Item"])
        marker = {"pk": item["pk"], "sk": f"AUDITKEY#{kind}#{key}", "ttl": item["ttl"], "at": item["at"]}
        self._transact(
            [
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": to_item(marker),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {"Put": write},
            ],
            ["written"],
            f"audit {kind}",
        )

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

    def resolve(self, incident_id: str, now: datetime, *, version: int | None = None, **fields: Any) -> bool:
        """Mark the incident resolved, once: False when another execution resolved it first, or,
        with ``version``, when an alarm joined or the incident reopened since it was read."""
        fields = {"status": "resolved", "resolved_at": iso(now), "updated_at": iso(now), **fields}
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":v{i}": value for i, value in enumerate(fields.values())} | {":resolved": "resolved"}
        sets = [f"#f{i} = :v{i}" for i in range(len(fields))]
        condition = "attribute_exists(pk) AND #f0 <> :resolved"
        if version is not None:
            names["#ver"] = "version"
            values |= {":ver": version, ":next": version + 1}
            sets.append("#ver = :next")
            condition += " AND #ver = :ver" if version else " AND attribute_not_exists(#ver)"
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=to_item({"pk": f"INCIDENT#{incident_id}", "sk": "META"}),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(values),
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

    # ------------------------------------------------------------------ our quota requests
    def record_quota_request(
        self, region: str, quota_code: str, request_id: str, previous: float, desired: float, now: datetime
    ) -> None:
        """Our ledger of the increases we filed (the quota governor's window ceiling): Service
        Quotas' history gives a request's value, not the quota's value when it was filed."""
        item = {
            "pk": f"QUOTA#{region}#{quota_code}",
            "sk": f"REQUEST#{request_id}",
            "request_id": request_id,
            "previous_value": previous,
            "desired_value": desired,
            "filed_at": iso(now),
            "ttl": self._ttl(now),
        }
        try:
            self.ddb.put_item(TableName=self.table, Item=to_item(item))
        except ClientError as exc:
            raise_translated(exc, f"record quota request {request_id}")

    def quota_ledger(self, region: str, quota_code: str) -> dict[str, float]:
        """Request id -> the quota's value when we filed it, for every request of ours we keep."""
        out: dict[str, float] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :r)",
            "ExpressionAttributeValues": to_item({":pk": f"QUOTA#{region}#{quota_code}", ":r": "REQUEST#"}),
            "ConsistentRead": True,
        }
        while True:
            try:
                resp = self.ddb.query(**kwargs)
            except ClientError as exc:
                raise_translated(exc, f"read the requests of {quota_code}")
            for raw in resp.get("Items", []):
                item = from_item(raw)
                out[str(item["request_id"])] = float(item["previous_value"])
            if not resp.get("LastEvaluatedKey"):
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

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
