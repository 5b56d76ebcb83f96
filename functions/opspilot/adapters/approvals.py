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

A decision and its consequences in the incident (the approval, the audit entry) are one
TransactWriteItems: all written, or none. The decided request is also the decision's outbox: it
keeps the workflow's output and ``delivery = pending`` until SendTaskSuccess/Failure went through
(``delivered``), so a decision recorded but not delivered is delivered by the next visit to a link.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from opspilot.adapters.aws import error_code, raise_translated
from opspilot.adapters.items import DynamoTable, from_item, to_item
from opspilot.domain.errors import TransientAwsError
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

    def decide(
        self,
        ref: str,
        decision: dict[str, Any],
        now: datetime,
        output: dict[str, Any],
        also: Sequence[dict[str, Any]] = (),
    ) -> bool:
        """PENDING -> DECIDED, once, and only before expiry, in one transaction with ``also``
        (TransactWriteItems elements: the decision's consequences in the incident). False when the
        request can no longer be decided; then nothing is written. The workflow's ``output`` waits
        in the request, ``delivery = pending``, until :meth:`mark_delivered`."""
        return self._transact(
            ref,
            "SET #s = :decided, decision = :d, decided_at = :now, #o = :o, delivery = :dp "
            "REMOVE gsi1pk, gsi1sk",
            "#s = :pending AND expires_at > :now",
            {
                ":decided": "DECIDED",
                ":pending": "PENDING",
                ":d": decision,
                ":now": iso(now),
                ":o": output,
                ":dp": "pending",
            },
            also,
            "decide approval",
        )

    def mark_delivered(self, ref: str, delivery: str = "delivered") -> bool:
        """The decision reached the workflow (``delivered``), or a second delivery found the workflow
        no longer waiting and nobody can tell whether the first one had reached it (``unconfirmed``)."""
        return self._conditional(
            ref,
            "SET delivery = :d",
            "#s = :decided AND delivery = :pending",
            {":d": delivery, ":decided": "DECIDED", ":pending": "pending"},
            "record approval delivery",
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

    def reopen(self, ref: str, decided_at: str, expires_at: str, also: Sequence[dict[str, Any]] = ()) -> bool:
        """DECIDED -> PENDING again, when the decision could not be delivered to the workflow (so
        the approver can simply try again), in one transaction with ``also``. Only the decision made
        at ``decided_at`` is undone."""
        return self._transact(
            ref,
            "SET #s = :pending, gsi1pk = :gpk, gsi1sk = :gsk REMOVE decision, decided_at, #o, delivery",
            "#s = :decided AND decided_at = :at",
            {
                ":pending": "PENDING",
                ":decided": "DECIDED",
                ":at": decided_at,
                ":gpk": PENDING_KEY,
                ":gsk": f"{expires_at}#{ref}",
            },
            also,
            "reopen approval",
        )

    def mark_moved_on(
        self, ref: str, reason: str, now: datetime, also: Sequence[dict[str, Any]] = ()
    ) -> bool:
        """DECIDED -> MOVED_ON: the decision reached a workflow that had stopped waiting; in one
        transaction with ``also``."""
        return self._transact(
            ref,
            "SET #s = :moved, workflow_moved_on = :why REMOVE delivery",
            "#s = :decided",
            {":moved": "MOVED_ON", ":decided": "DECIDED", ":why": {"reason": reason, "at": iso(now)}},
            also,
            "record late decision",
        )

    def _transact(
        self,
        ref: str,
        update: str,
        condition: str,
        values: dict[str, Any],
        also: Sequence[dict[str, Any]],
        what: str,
    ) -> bool:
        """One conditional update of the request and ``also``, all or nothing. False when the
        request's condition failed; a failure of another part raises."""
        if not also:
            return self._conditional(ref, update, condition, values, what)
        names = {k: v for k, v in (("#s", "status"), ("#o", "output")) if k in update + condition}
        request = {
            "TableName": self.table,
            "Key": self._request_key(ref),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": to_item(values),
            **({"ExpressionAttributeNames": names} if names else {}),
        }
        parts = [{"Update": request}] + [
            {"Update" if "UpdateExpression" in part else "Put": part} for part in also
        ]
        try:
            self.ddb.transact_write_items(TransactItems=parts)
            return True
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise_translated(exc, what)
            reasons = [str(r.get("Code")) for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False
            raise TransientAwsError(
                f"{what}: transaction cancelled ({sorted(set(reasons) - {'None'})})"
            ) from exc

    def _conditional(self, ref: str, update: str, condition: str, values: dict[str, Any], what: str) -> bool:
        names = {k: v for k, v in (("#s", "status"), ("#o", "output")) if k in update + condition}
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
        """Every pending request, counted page by page (a Query reads at most 1 MB per call)."""
        return self.pending_summary(now)[0]

    def pending_summary(self, now: datetime) -> tuple[int, str | None]:
        """How many requests are pending and when the oldest of them was asked (its
        ``created_at``), read page by page; only that attribute is returned."""
        total, oldest = 0, None
        more: dict[str, Any] = {"ProjectionExpression": "created_at"}
        while True:
            resp = self._query_pending(now, "count pending approvals", **more)
            total += int(resp["Count"])
            for item in resp["Items"]:
                created = str(from_item(item).get("created_at") or "")
                if created and (oldest is None or created < oldest):
                    oldest = created
            if "LastEvaluatedKey" not in resp:
                return total, oldest
            more["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

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
