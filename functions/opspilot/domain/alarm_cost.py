"""What CloudWatch charges per month for the alarms OpsPilot provisions. Pure: no boto3.

CloudWatch bills a metric alarm per *alarm metric* and month (https://aws.amazon.com/cloudwatch/pricing/,
us-east-1, standard resolution: 0.10 USD per alarm metric; the page's alarm table as quoted in
search index file id 59290068177 and the same figures in file id 71542691887):

- an alarm on one metric is one alarm metric;
- an alarm on metric math is billed for every metric it references;
- an anomaly detection alarm is billed as three: the metric and the band's upper and lower bounds.

Every OpsPilot alarm evaluates one-minute periods (standard resolution). The first 10 alarm
metrics of an account are free (AWS Free Tier); the figures here leave that out, and other Regions'
prices can differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PRICE_PER_ALARM_METRIC_USD = 0.10  # standard resolution, per month, us-east-1
PRICING_SOURCE = "https://aws.amazon.com/cloudwatch/pricing/ (us-east-1, standard resolution)"


def alarm_metrics(params: Mapping[str, Any]) -> int:
    """The alarm metrics CloudWatch bills for one alarm, from its PutMetricAlarm (or DescribeAlarms)
    parameters."""
    queries = params.get("Metrics") or []
    if not queries:
        return 1
    metrics = sum(1 for q in queries if q.get("MetricStat"))
    bands = sum(1 for q in queries if "ANOMALY_DETECTION_BAND" in str(q.get("Expression") or ""))
    return metrics + 2 * bands


def metrics_of_kind(kind: str, pool_size: int = 1) -> int:
    """Alarm metrics of one OpsPilot alarm kind (model_alarms.DEFAULTS): a band is three, a pressure
    alarm sums every series of its quota pool (one metric each), the others watch one metric."""
    if kind.endswith("-anomaly"):
        return 3
    if kind in ("rpm-pressure", "tpm-pressure"):
        return pool_size
    return 1


def monthly_cost(alarms: Iterable[Mapping[str, Any]]) -> float:
    """USD per month for alarms given by their parameters."""
    return round(sum(alarm_metrics(a) for a in alarms) * PRICE_PER_ALARM_METRIC_USD, 2)


def usd(amount: float) -> str:
    return f"{amount:,.2f} USD"
