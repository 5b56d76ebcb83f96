"""What CloudWatch bills for the alarms OpsPilot provisions (domain/alarm_cost.py)."""

from __future__ import annotations

from opspilot.domain.alarm_cost import alarm_metrics, metrics_of_kind, monthly_cost
from opspilot.domain.model_alarms import StackDefaults, desired_alarms
from opspilot.domain.registry import validate_entry

STACK = StackDefaults("opspilot-", 80, 50, "opspilot")
NOVA = {"model_id": "amazon.nova-pro-v1:0", "display_name": "Nova", "environment": "production", "owner": "o"}


def test_each_kind_costs_its_alarm_metrics() -> None:
    alarms, _ = desired_alarms(validate_entry(NOVA), STACK, None, [])  # quotas unknown: every kind
    by_kind = {a.kind: alarm_metrics(a.params) for a in alarms}
    assert by_kind == {
        "server-errors": 1,
        "client-errors": 1,
        "throttles": 1,
        "rpm-pressure": 1,
        "tpm-pressure": 1,
        "tpd-pressure": 1,
        "latency": 1,
        "invocations-anomaly": 3,  # the metric and the band's two bounds
    }
    assert all(metrics_of_kind(kind) == n for kind, n in by_kind.items())
    assert monthly_cost(a.params for a in alarms) == 1.00


def test_a_pressure_alarm_over_a_pool_is_billed_per_metric() -> None:
    pool = [
        "amazon.nova-pro-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc",
    ]
    alarms, _ = desired_alarms(validate_entry(NOVA), STACK, None, pool)
    rpm = next(a for a in alarms if a.kind == "rpm-pressure")
    assert alarm_metrics(rpm.params) == metrics_of_kind("rpm-pressure", 2) == 2
