"""The answer to a CloudFormation custom resource request: a PUT of a JSON document to the request's
pre-signed S3 URL (CloudFormation waits for it)."""

from __future__ import annotations

import json
from typing import Any

from opspilot.domain.aws_events import StackEvent


def respond(
    event: StackEvent, status: str, physical_id: str, reason: str = "", data: dict[str, Any] | None = None
) -> None:
    import urllib.request  # only stack create, update and delete need it

    body = json.dumps(
        {
            "Status": status,  # SUCCESS | FAILED
            "Reason": reason[:1000] or status,
            "PhysicalResourceId": physical_id,
            "StackId": event.stack_id,
            "RequestId": event.request_id,
            "LogicalResourceId": event.logical_resource_id,
            "Data": data or {},
        }
    ).encode()
    request = urllib.request.Request(
        event.response_url, data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30):
        pass
