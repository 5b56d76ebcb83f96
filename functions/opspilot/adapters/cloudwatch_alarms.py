"""CloudWatch alarms the app owns: described in batches of 100 names (boto3's paginator follows
each batch's pages), written one by one, every request (each page too) paced to CloudWatch's
documented rate, and a throttled call backed off and retried (after botocore's own attempts)
before the run gives up."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from opspilot.adapters.aws import TRANSIENT_CODES, client, error_code, raise_translated
from opspilot.domain.threshold_sync import AlarmWriteFailed

DESCRIBE_BATCH = 100  # DescribeAlarms accepts at most 100 names (and returns at most 100 records)
DELETE_BATCH = 100  # DeleteAlarms: at most 100 names per call
# Requests per second per account and Region (AWS General Reference, CloudWatch endpoints and
# quotas, as copied 2026-09-26: PutMetricAlarm 3 (L-0720E68F), DescribeAlarms 9 (L-21CB40A4),
# DeleteAlarms 3, TagResource 20). PutMetricAlarm's is adjustable: raise it here too if you raise it.
DOCUMENTED_RATES = {"PutMetricAlarm": 3.0, "DescribeAlarms": 9.0, "DeleteAlarms": 3.0, "TagResource": 20.0}
BACKOFF_SECONDS = (1.0, 2.0, 4.0)  # after botocore's 3 attempts: 3 more tries, 7 s at most


class Pacer:
    """Spaces the calls of each operation by 1 / its rate, so that a run of thousands of writes
    stays under the account's request rate instead of running into throttling. ``now`` is seconds
    on any steady clock; both callables are injectable (the simulator's clock)."""

    def __init__(
        self,
        rates: Mapping[str, float] = DOCUMENTED_RATES,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rates, self.now, self.sleep = dict(rates), now, sleep
        self._last: dict[str, float] = {}
        self.waited = 0.0

    def wait(self, operation: str) -> None:
        rate = self.rates.get(operation)
        if not rate:
            return
        at = self.now()
        ready = self._last.get(operation, float("-inf")) + 1 / rate
        if at < ready:
            self.sleep(ready - at)
            self.waited += ready - at
            at = ready
        self._last[operation] = at


class CloudWatchAlarms:
    """The four calls the threshold sync makes. ``cloudwatch`` is injectable for tests."""

    def __init__(
        self, region: str | None = None, cloudwatch: Any | None = None, pacer: Pacer | None = None
    ) -> None:
        self.region = region
        self._cw = cloudwatch
        self.pacer = pacer or Pacer()
        self.throttled = 0  # calls throttled beyond botocore's retries, then retried here

    @property
    def cw(self) -> Any:
        if self._cw is None:
            self._cw = client("cloudwatch", self.region)
        return self._cw

    def describe(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The metric alarms among ``names`` that exist, by name: 100 names per batch (the most
        DescribeAlarms takes), each batch read to its last page by boto3's paginator. A batch
        throttled beyond every retry is read again from its first page (reads are idempotent)."""
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(names))
        pages = self.cw.get_paginator("describe_alarms")

        def batch(alarm_names: list[str]) -> dict[str, dict[str, Any]]:
            read = pages.paginate(
                AlarmNames=alarm_names,
                AlarmTypes=["MetricAlarm"],
                PaginationConfig={"PageSize": DESCRIBE_BATCH},
            )
            return {
                alarm["AlarmName"]: alarm
                for page in self._paced(iter(read), "DescribeAlarms")
                for alarm in page.get("MetricAlarms", [])
            }

        try:
            for i in range(0, len(unique), DESCRIBE_BATCH):
                found.update(self._call(partial(batch, unique[i : i + DESCRIBE_BATCH])))
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

    def _paced(self, pages: Iterator[dict[str, Any]], operation: str) -> Iterator[dict[str, Any]]:
        """A paginator's pages, each request waiting its turn: the paginator sends the request
        for a page when it is asked for it, and asks for none after a page without NextToken."""
        while True:
            self.pacer.wait(operation)
            page = next(pages, None)
            if page is None:
                return
            yield page
            if not page.get("NextToken"):
                return

    def _call[T](self, call: Callable[[], T]) -> T:
        """A throttled call is retried after each of :data:`BACKOFF_SECONDS`, then raised."""
        for pause in (*BACKOFF_SECONDS, None):
            try:
                return call()
            except ClientError as exc:
                if error_code(exc) not in TRANSIENT_CODES or pause is None:
                    raise
                self.throttled += 1
                self.pacer.sleep(pause)
        raise AssertionError("unreachable")

    def _write(self, operation: str, call: Callable[..., Any], **params: Any) -> None:
        def paced() -> Any:
            self.pacer.wait(operation)
            return call(**params)

        try:
            self._call(paced)
        except ClientError as exc:
            code = error_code(exc)
            if code in TRANSIENT_CODES or code.startswith("AccessDenied"):
                raise_translated(exc, operation)
            raise AlarmWriteFailed(
                f"{operation}: {code}: {exc.response['Error'].get('Message', '')}"
            ) from exc
