"""SNS notifications, SSM switches and Step Functions callbacks."""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from opspilot.adapters.aws import client, error_code, raise_provider_error, raise_translated
from opspilot.domain.errors import TaskNoLongerWaiting

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

# How long a switch read from SSM is reused by a warm function: flipping the dry-run switch takes
# effect within this many seconds (well within a minute), at one GetParameter per half minute.
SWITCH_MAX_AGE_SECONDS = 30

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


@cache
def _parameters() -> SSMProvider:
    """Powertools' SSM provider on the shared client; it caches each value for its max age."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider  # only where a switch is read

    return SSMProvider(boto3_client=client("ssm"))


def read_flag(parameter_name: str, max_age: int = SWITCH_MAX_AGE_SECONDS) -> bool:
    """An SSM String parameter holding "true" or "false", read through Powertools Parameters and
    reused for ``max_age`` seconds: no redeploy needed, and a change takes effect within that."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        value = _parameters().get(parameter_name, max_age=max_age)
    except GetParameterError as exc:
        raise_provider_error(exc, f"SSM GetParameter {parameter_name}")
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


def deliver_decision(task_token: str, decision: str, output: dict[str, Any]) -> None:
    """An approver's decision to the task that waits for it: ``approve`` resumes it,
    anything else fails it with ``ApprovalRejected``. ``TaskNoLongerWaiting`` when it stopped."""
    if decision == "approve":
        resume_workflow(task_token, output)
    else:
        fail_workflow_task(task_token, "ApprovalRejected", output)
