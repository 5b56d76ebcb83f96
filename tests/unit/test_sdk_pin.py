"""The function package ships the SDK its calls need.

The alarm sync sends PutMetricAlarm's ``ActionConfiguration.AlarmTagsPropagation`` (tag
propagation), an API member newer than the boto3 the Lambda runtime bundles; botocore refuses a
parameter its model does not know (``ParamValidationError``). So functions/requirements.txt pins
boto3 and botocore, and the tests run against those same versions.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

from opspilot.domain.model_alarms import StackDefaults, create_params, desired_alarms, replace_params
from opspilot.domain.registry import validate_entry

REQUIREMENTS = Path(__file__).parents[2] / "functions" / "requirements.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def _put_metric_alarm() -> Any:
    return botocore.session.get_session().get_service_model("cloudwatch").operation_model("PutMetricAlarm")


def test_the_package_pins_the_sdk_the_tests_run_against() -> None:
    pins = _pins()

    assert (pins["boto3"], pins["botocore"]) == (metadata.version("boto3"), metadata.version("botocore"))


def test_the_pinned_botocore_knows_tag_propagation() -> None:
    config = _put_metric_alarm().input_shape.members["ActionConfiguration"]

    assert config.members["AlarmTagsPropagation"].members["Enabled"].type_name == "boolean"


def test_every_alarm_the_sync_writes_is_a_valid_request_for_that_model() -> None:
    entry = validate_entry(
        {
            "model_id": "amazon.nova-pro-v1:0",
            "display_name": "Nova Pro",
            "environment": "production",
            "owner": "x",
        }
    )
    stack = StackDefaults(
        alarm_name_prefix="opspilot-", threshold_percent=80, increase_percent=50, managed_by="s"
    )
    alarms, _ = desired_alarms(entry, stack, None)
    shape = _put_metric_alarm().input_shape

    for alarm in alarms:
        for params in (
            [create_params(alarm)] if alarm.threshold is not None or not alarm.is_pressure else []
        ) + [replace_params(alarm, keep_threshold=100.0)]:
            assert params["ActionConfiguration"] == {"AlarmTagsPropagation": {"Enabled": True}}
            report = ParamValidator().validate(params, shape)
            assert not report.has_errors(), (alarm.name, report.generate_report())
