"""CloudWatch: the per-minute Bedrock usage series, in one batched GetMetricData call per page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from opspilot.adapters.aws import client, raise_translated
from opspilot.domain.usage import USAGE_METRICS, Series

NAMESPACE = "AWS/Bedrock"


def fetch_usage_series(
    model_id: str, end: datetime, days: int = 14, region: str | None = None, cloudwatch: Any | None = None
) -> dict[str, Series]:
    """Per-minute Sum of each usage metric over ``days``, all metrics in the same request."""
    cw = cloudwatch or client("cloudwatch", region)
    queries = [
        {
            "Id": f"m{i}",
            "Label": name,
            "MetricStat": {
                "Metric": {
                    "Namespace": NAMESPACE,
                    "MetricName": name,
                    "Dimensions": [{"Name": "ModelId", "Value": model_id}],
                },
                "Period": 60,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }
        for i, name in enumerate(USAGE_METRICS)
    ]
    out: dict[str, list[tuple[datetime, float]]] = {name: [] for name in USAGE_METRICS}
    try:
        for page in cw.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries,
            StartTime=end - timedelta(days=days),
            EndTime=end,
            ScanBy="TimestampAscending",
        ):
            for result in page["MetricDataResults"]:
                name = USAGE_METRICS[int(result["Id"][1:])]
                out[name].extend(zip(result["Timestamps"], result["Values"], strict=True))
    except ClientError as exc:
        raise_translated(exc, "GetMetricData")
    return {name: sorted(points) for name, points in out.items()}
