"""SNS notifications, SSM switches and Step Functions callbacks."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from opspilot.adapters.aws import client, error_code, raise_translated
from opspilot.domain.errors import TaskNoLongerWaiting

# The task token no longer waits: it timed out, its execution ended, or it never existed.
NOT_WAITING_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


def publish(topic_arn: str, subject: str, message: str, attributes: dict[str, str] | None = None) -> str:
    attrs = {k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()}
    try:
        resp = client("sns").publish(
            TopicArn=topic_arn, Subject=subject[:100], Message=message, MessageAttributes=attrs
        )
    except ClientError as exc:
        raise_translated(exc, "SNS Publish")
    return str(resp["MessageId"])


def read_flag(parameter_name: str) -> bool:
    """An SSM String parameter holding "true" or "false" (read on every call: no redeploy needed)."""
    try:
        value = client("ssm").get_parameter(Name=parameter_name)["Parameter"]["Value"]
    except ClientError as exc:
        raise_translated(exc, f"SSM GetParameter {parameter_name}")
    if value not in {"true", "false"}:
        raise ValueError(f"SSM parameter {parameter_name}: expected 'true' or 'false', got {value!r}")
    return bool(value == "true")


def resume_workflow(task_token: str, output: dict[str, Any]) -> None:
    """SendTaskSuccess. ``TaskNoLongerWaiting`` when the task has stopped waiting."""
    try:
        client("stepfunctions").send_task_success(taskToken=task_token, output=json.dumps(output))
    except ClientError as exc:
        if error_code(exc) in NOT_WAITING_CODES:
            raise TaskNoLongerWaiting(f"SendTaskSuccess: {error_code(exc)}") from exc
        raise_translated(exc, "SendTaskSuccess")


def fail_workflow_task(task_token: str, error: str, cause: dict[str, Any]) -> None:
    """SendTaskFailure. ``TaskNoLongerWaiting`` when the task has stopped waiting."""
    try:
        client("stepfunctions").send_task_failure(taskToken=task_token, error=error, cause=json.dumps(cause))
    except ClientError as exc:
        if error_code(exc) in NOT_WAITING_CODES:
            raise TaskNoLongerWaiting(f"SendTaskFailure: {error_code(exc)}") from exc
        raise_translated(exc, "SendTaskFailure")
