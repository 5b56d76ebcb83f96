"""Approval requests and their links, in the incident table.

==================== ========== ==========================================================
pk                   sk         what
==================== ========== ==========================================================
APPROVAL#<ref>       REQUEST    one round of one approval: status, task token, form key, the
                                snapshot shown to approvers, the decision. Decided once.
APPROVAL#<sha256>    LINK       one approver's link: which request, which approver
==================== ========== ==========================================================

A pending request is also in the ``by-model`` index under ``gsi1pk = APPROVALS#PENDING`` (sort
key: its expiry), a sparse entry removed when the request is decided or superseded; that is how
pending approvals are listed and counted without a scan.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from opspilot.adapters.aws import error_code, raise_translated
from opspilot.adapters.items import DynamoTable, from_item, to_item
from opspilot.domain.format import iso

PENDING_INDEX = "by-model"
PENDING_KEY = "APPROVALS#PENDING"
KEEP_AFTER_EXPIRY = timedelta(days=7)  # "already decided" / "expired" pages, then "unknown link"


class ApprovalStore(DynamoTable):
    """Reads and writes of approval items. ``dynamodb`` is injectable for tests."""

    @staticmethod
    def _request_key(ref: str) -> dict[str, Any]:
        return to_item({"pk": f"APPROVAL#{ref}", "sk": "REQUEST"})

    @staticmethod
    def _ttl(expires: datetime) -> int:
        return int((expires + KEEP_AFTER_EXPIRY).timestamp())

    # ------------------------------------------------------------------ requests
    def create_request(self, ref: str, record: dict[str, Any], expires: datetime) -> bool:
        """Store a new PENDING request; False when it exists already (a retried invocation)."""
        item = {
            "pk": f"APPROVAL#{ref}",
            "sk": "REQUEST",
            **record,
            "ref": ref,
            "status": "PENDING",
            "expires_at": iso(expires),
            "gsi1pk": PENDING_KEY,
            "gsi1sk": f"{iso(expires)}#{ref}",
            "ttl": self._ttl(expires),
        }
        try:
            self.ddb.put_item(
                TableName=self.table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
            )
            return True
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise_translated(exc, "store approval request")

    def get_request(self, ref: str) -> dict[str, Any] | None:
        return self.read({"pk": f"APPROVAL#{ref}", "sk": "REQUEST"}, "get approval request")

    def replace_task_token(self, ref: str, task_token: str) -> bool:
        """A retried RequestApproval brings a new task token; only a PENDING request takes it."""
        return self._conditional(
            ref,
            "SET task_token = :token",
            "#s = :pending",
            {":token": task_token, ":pending": "PENDING"},
            "replace task token",
        )

    def mark_notified(self, ref: str, channels: list[dict[str, Any]], now: datetime) -> None:
        self._conditional(
            ref,
            "SET channels = :c, notified_at = :now",
            "attribute_exists(pk)",
            {":c": channels, ":now": iso(now)},
            "record approval channels",
        )

    def decide(self, ref: str, decision: dict[str, Any], now: datetime) -> bool:
        """PENDING -> DECIDED, once, and only before expiry. False when that is no longer possible."""
        return self._conditional(
            ref,
            "SET #s = :decided, decision = :d, decided_at = :now REMOVE gsi1pk, gsi1sk",
            "#s = :pending AND expires_at > :now",
            {":decided": "DECIDED", ":pending": "PENDING", ":d": decision, ":now": iso(now)},
            "decide approval",
        )

    def supersede(self, ref: str, now: datetime, by_ref: str) -> bool:
        """PENDING -> SUPERSEDED (escalated: the next round's links replace this round's)."""
        return self._conditional(
            ref,
            "SET #s = :superseded, superseded_at = :now, superseded_by = :by REMOVE gsi1pk, gsi1sk",
            "#s = :pending",
            {":superseded": "SUPERSEDED", ":pending": "PENDING", ":now": iso(now), ":by": by_ref},
            "supersede approval",
        )

    def reopen(self, ref: str, decided_at: str, expires_at: str) -> bool:
        """DECIDED -> PENDING again, when the decision could not be delivered to the workflow (so
        the approver can simply try again). Only the decision made at ``decided_at`` is undone."""
        return self._conditional(
            ref,
            "SET #s = :pending, gsi1pk = :gpk, gsi1sk = :gsk REMOVE decision, decided_at",
            "#s = :decided AND decided_at = :at",
            {
                ":pending": "PENDING",
                ":decided": "DECIDED",
                ":at": decided_at,
                ":gpk": PENDING_KEY,
                ":gsk": f"{expires_at}#{ref}",
            },
            "reopen approval",
        )

    def mark_moved_on(self, ref: str, reason: str, now: datetime) -> None:
        """DECIDED -> MOVED_ON: the decision reached a workflow that had stopped waiting."""
        self._conditional(
            ref,
            "SET #s = :moved, workflow_moved_on = :why",
            "#s = :decided",
            {":moved": "MOVED_ON", ":decided": "DECIDED", ":why": {"reason": reason, "at": iso(now)}},
            "record late decision",
        )

    def _conditional(self, ref: str, update: str, condition: str, values: dict[str, Any], what: str) -> bool:
        names = {"#s": "status"} if "#s" in update + condition else None
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": self._request_key(ref),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": to_item(values),
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            self.ddb.update_item(**kwargs)
            return True
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise_translated(exc, what)

    # ------------------------------------------------------------------ links
    def put_link(self, link_hash: str, record: dict[str, Any], expires: datetime) -> None:
        item = {"pk": f"APPROVAL#{link_hash}", "sk": "LINK", **record, "ttl": self._ttl(expires)}
        try:
            self.ddb.put_item(
                TableName=self.table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            raise_translated(exc, "store approval link")

    def get_link(self, link_hash: str) -> dict[str, Any] | None:
        return self.read({"pk": f"APPROVAL#{link_hash}", "sk": "LINK"}, "get approval link")

    # ------------------------------------------------------------------ pending
    def pending(self, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        """Requests still waiting for a decision (not decided, superseded or expired), soonest
        expiry first. The items carry no task token: the index projects it, so it is dropped."""
        resp = self._query_pending(now, "list pending approvals", Limit=limit)
        items = [from_item(i) for i in resp["Items"]]
        return [{k: v for k, v in i.items() if k not in {"task_token", "form_key"}} for i in items]

    def count_pending(self, now: datetime) -> int:
        return int(self._query_pending(now, "count pending approvals", Select="COUNT")["Count"])

    def _query_pending(self, now: datetime, what: str, **more: Any) -> dict[str, Any]:
        try:
            resp: dict[str, Any] = self.ddb.query(
                TableName=self.table,
                IndexName=PENDING_INDEX,
                KeyConditionExpression="gsi1pk = :p AND gsi1sk > :now",
                ExpressionAttributeValues=to_item({":p": PENDING_KEY, ":now": iso(now)}),
                **more,
            )
        except ClientError as exc:
            raise_translated(exc, what)
        return resp
