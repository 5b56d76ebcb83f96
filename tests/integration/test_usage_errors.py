"""GetMetricData errors as the simulated CloudWatch returns them (codes and statuses from botocore's
cloudwatch model): a 5xx is retried, a denial is a denial, never "no usage history"."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from opspilot.adapters.metrics import fetch_usage_series
from opspilot.domain.errors import AwsPermissionError, TransientAwsError
from opspilot_sim.fake_aws import SimulatedAws, installed

END = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatedAws]:
    monkeypatch.setattr(time, "sleep", lambda _seconds: None)  # botocore's retry backoff
    with mock_aws(), installed(SimulatedAws()) as world:
        yield world


def test_cloudwatchs_internal_service_error_is_transient(world: SimulatedAws) -> None:
    # InternalServiceFault in the model: code InternalServiceError, HTTP 500; botocore tries 3 times
    world.fail_next("cloudwatch", "GetMetricData", "InternalServiceError", times=3)
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")

    with pytest.raises(TransientAwsError, match="GetMetricData: InternalServiceError"):
        fetch_usage_series("amazon.nova-pro-v1:0", END, cloudwatch=cloudwatch)

    assert [f.attempt for f in world.faults.fired] == [1, 2, 3]


def test_a_denied_metric_read_is_a_permission_error(world: SimulatedAws) -> None:
    world.fail_next("cloudwatch", "GetMetricData", "AccessDenied", status=403)
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")

    with pytest.raises(AwsPermissionError, match="GetMetricData: AccessDenied"):
        fetch_usage_series("amazon.nova-pro-v1:0", END, cloudwatch=cloudwatch)
