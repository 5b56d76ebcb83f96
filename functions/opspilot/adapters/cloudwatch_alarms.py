"""CloudWatch alarms the app owns: described in batches of 100 names, written one by one."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from opspilot.adapters.aws import TRANSIENT_CODES, client, error_code, raise_translated
from opspilot.domain.threshold_sync import AlarmWriteFailed

DESCRIBE_BATCH = 100  # DescribeAlarms accepts at most 100 names (and returns at most 100 records)
DELETE_BATCH = 100  # DeleteAlarms: at most 100 names per call


class CloudWatchAlarms:
    """The four calls the threshold sync makes. ``cloudwatch`` is injectable for tests."""

    def __init__(self, region: str | None = None, cloudwatch: Any | None = None) -> None:
        self.region = region
        self._cw = cloudwatch

    @property
    def cw(self) -> Any:
        if self._cw is None:
            self._cw = client("cloudwatch", self.region)
        return self._cw

    def describe(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The metric alarms among ``names`` that exist, by name: 100 names per request (the most
        DescribeAlarms takes), each followed through its pages by boto3's paginator."""
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(names))
        paginator = self.cw.get_paginator("describe_alarms")
        try:
            for i in range(0, len(unique), DESCRIBE_BATCH):
                pages = paginator.paginate(
                    AlarmNames=unique[i : i + DESCRIBE_BATCH],
                    AlarmTypes=["MetricAlarm"],
                    PaginationConfig={"PageSize": DESCRIBE_BATCH},
                )
                for page in pages:
                    found.update({a["AlarmName"]: a for a in page.get("MetricAlarms", [])})
        except ClientError as exc:
            raise_translated(exc, "DescribeAlarms")
        return found

    def put(self, params: Mapping[str, Any]) -> None:
        self._write("PutMetricAlarm", self.cw.put_metric_alarm, **params)

    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        pairs = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
        self._write("TagResource", self.cw.tag_resource, ResourceARN=arn, Tags=pairs)

    def delete(self, names: Sequence[str]) -> int:
        """Delete existing alarms, 100 names per call. Returns the number of calls."""
        calls = 0
        for i in range(0, len(names), DELETE_BATCH):
            self._write("DeleteAlarms", self.cw.delete_alarms, AlarmNames=list(names[i : i + DELETE_BATCH]))
            calls += 1
        return calls

    def _write(self, operation: str, call: Callable[..., Any], **params: Any) -> None:
        try:
            call(**params)
        except ClientError as exc:
            code = error_code(exc)
            if code in TRANSIENT_CODES or code.startswith("AccessDenied"):
                raise_translated(exc, operation)
            raise AlarmWriteFailed(
                f"{operation}: {code}: {exc.response['Error'].get('Message', '')}"
            ) from exc
