"""CloudWatch: the per-minute Bedrock usage series, in one batched GetMetricData call per page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from opspilot.adapters.aws import client, raise_translated
from opspilot.domain.usage import USAGE_METRICS, Series

NAMESPACE = "AWS/Bedrock"


LATENCY_P99 = "InvocationLatency:p99"  # one datapoint: the p99 over the whole window


def _query(query_id: str, model_id: str, name: str, stat: str, period: int) -> dict[str, Any]:
    return {
        "Id": query_id,
        "Label": name,
        "MetricStat": {
            "Metric": {
                "Namespace": NAMESPACE,
                "MetricName": name,
                "Dimensions": [{"Name": "ModelId", "Value": model_id}],
            },
            "Period": period,
            "Stat": stat,
        },
        "ReturnData": True,
    }


def fetch_usage_series(
    model_id: str, end: datetime, days: int = 14, region: str | None = None, cloudwatch: Any | None = None
) -> dict[str, Series]:
    """Per-minute Sum of each usage metric over ``days``, plus the window's p99 latency, all in
    one GetMetricData request (paginated only if CloudWatch splits the answer)."""
    cw = cloudwatch or client("cloudwatch", region)
    keys = {f"m{i}": name for i, name in enumerate(USAGE_METRICS)}
    queries = [_query(qid, model_id, name, "Sum", 60) for qid, name in keys.items()]
    keys["lat"] = LATENCY_P99
    queries.append(_query("lat", model_id, "InvocationLatency", "p99", days * 86400))
    out: dict[str, list[tuple[datetime, float]]] = {name: [] for name in keys.values()}
    try:
        for page in cw.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries,
            StartTime=end - timedelta(days=days),
            EndTime=end,
            ScanBy="TimestampAscending",
        ):
            for result in page["MetricDataResults"]:
                out[keys[result["Id"]]].extend(zip(result["Timestamps"], result["Values"], strict=True))
    except ClientError as exc:
        raise_translated(exc, "GetMetricData")
    return {name: sorted(points) for name, points in out.items()}
