"""Start the next rounds of an alarm sync too large for one invocation (AlarmSyncStateMachine)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from opspilot.adapters.aws import client, error_code


class RoundsNotStarted(Exception):
    """StartExecution failed; the caller falls back to Lambda's own retries."""


def start_rounds(state_machine_arn: str, name: str, request: dict[str, Any]) -> str:
    """One execution named ``name`` (a second start with the same name and input is accepted by
    Step Functions as the same execution). Returns its ARN."""
    payload = json.dumps({"request": request, "rounds": 0}, separators=(",", ":"))
    try:
        started = client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn, name=name, input=payload
        )
    except ClientError as exc:
        raise RoundsNotStarted(f"StartExecution: {error_code(exc)}") from exc
    return str(started["executionArn"])
