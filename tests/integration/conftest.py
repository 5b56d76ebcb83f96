"""Adapters against moto (and the simulated world where moto has no API)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from opspilot_sim.moto_stack import deployed_stack
from opspilot_sim.stack import SimulatedStack

REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[None]:
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        boto3.DEFAULT_SESSION = None
        yield


@pytest.fixture
def stack(aws: None) -> Iterator[SimulatedStack]:
    """The template's resources in moto, and the functions' environment in this process."""
    from opspilot.adapters import aws as aws_clients
    from opspilot.adapters import messaging, webhooks
    from opspilot.handlers import _approval_runtime, _runtime
    from opspilot.settings import action_settings, approval_settings, core_settings, decide_settings

    caches: list[Any] = [aws_clients.client, _runtime.store, core_settings, decide_settings]
    caches += [messaging._parameters, webhooks._secrets]  # Powertools Parameters' cached values
    caches += [approval_settings, action_settings, _approval_runtime.approvals]
    approvers = {"ApproverEmails": "lead@example.com,oncall@example.com"}
    with deployed_stack(REGION, approvers, caches) as deployed:
        yield deployed
