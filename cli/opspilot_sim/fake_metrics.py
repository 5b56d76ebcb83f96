"""CloudWatch metric data for the simulated world: PutMetricData and GetMetricData.

moto stores datapoints in one list and, for each period of a GetMetricData query, scans all of
them: 14 days of per-minute periods over a few thousand datapoints took over a minute. This store
keeps each series sorted and answers a query with one pass over the points in range, so a
scenario runs in seconds. Alarms (PutMetricAlarm, DescribeAlarms, SetAlarmState) stay with moto.

Semantics follow the CloudWatch API reference: periods start at StartTime and are ``Period``
seconds long; only periods with data are returned; ``Sum``, ``Average``, ``Minimum``,
``Maximum``, ``SampleCount`` and ``pNN`` statistics; ``ScanBy`` orders timestamps; metric-math
expressions are not evaluated (their result has status ``Complete`` and no values, like a query
over a metric with no data, plus a message saying so).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

SeriesKey = tuple[str, str, frozenset[tuple[str, str]]]


def _key(namespace: str, name: str, dimensions: Iterable[dict[str, str]]) -> SeriesKey:
    return namespace, name, frozenset((d["Name"], d["Value"]) for d in dimensions)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.replace(tzinfo=value.tzinfo or UTC).timestamp()
    return float(value)


def _statistic(stat: str, values: list[float]) -> float:
    if stat == "Sum":
        return sum(values)
    if stat == "Average":
        return sum(values) / len(values)
    if stat == "Minimum":
        return min(values)
    if stat == "Maximum":
        return max(values)
    if stat == "SampleCount":
        return float(len(values))
    if stat.startswith("p"):
        ordered = sorted(values)
        rank = max(0, math.ceil(float(stat[1:]) / 100 * len(ordered)) - 1)
        return ordered[rank]
    raise ValueError(stat)


class MetricStore:
    """Thread-safe, sorted per-series datapoints."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: dict[SeriesKey, list[float]] = defaultdict(list)
        self._values: dict[SeriesKey, list[float]] = defaultdict(list)

    def put(
        self, namespace: str, name: str, dimensions: Iterable[dict[str, str]], when: Any, value: float
    ) -> None:
        key = _key(namespace, name, dimensions)
        at = _epoch(when)
        with self._lock:
            i = bisect.bisect_right(self._times[key], at)
            self._times[key].insert(i, at)
            self._values[key].insert(i, float(value))

    # ---- API operations (region, params) -> response --------------------------------------
    def put_metric_data(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        for datum in params.get("MetricData", []):
            when = datum.get("Timestamp", datetime.now(UTC).timestamp())
            values = datum.get("Values") or [datum.get("Value", 0.0)]
            for value in values:
                self.put(params["Namespace"], datum["MetricName"], datum.get("Dimensions", []), when, value)
        return {}

    def get_metric_data(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        start, end = _epoch(params["StartTime"]), _epoch(params["EndTime"])
        descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        results: list[dict[str, Any]] = []
        messages: list[dict[str, str]] = []
        for query in params["MetricDataQueries"]:
            if "MetricStat" not in query:
                messages.append(
                    {"Code": "Unsupported", "Value": f"{query['Id']}: expressions are not simulated"}
                )
                results.append(
                    {
                        "Id": query["Id"],
                        "Label": query.get("Label", query["Id"]),
                        "Timestamps": [],
                        "Values": [],
                        "StatusCode": "Complete",
                    }
                )
                continue
            stat = query["MetricStat"]
            metric = stat["Metric"]
            key = _key(metric["Namespace"], metric["MetricName"], metric.get("Dimensions", []))
            period = int(stat["Period"])
            with self._lock:
                times, values = self._times.get(key, []), self._values.get(key, [])
                lo, hi = bisect.bisect_left(times, start), bisect.bisect_left(times, end)
                window = list(zip(times[lo:hi], values[lo:hi], strict=True))
            buckets: dict[int, list[float]] = defaultdict(list)
            for at, value in window:
                buckets[int((at - start) // period)].append(value)
            ordered = sorted(buckets, reverse=descending)
            results.append(
                {
                    "Id": query["Id"],
                    "Label": query.get("Label", metric["MetricName"]),
                    "Timestamps": [start + b * period for b in ordered],
                    "Values": [_statistic(stat["Stat"], buckets[b]) for b in ordered],
                    "StatusCode": "Complete",
                }
            )
        return {"MetricDataResults": results, "Messages": messages}
