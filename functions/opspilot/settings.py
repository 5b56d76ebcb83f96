"""Typed, frozen configuration read from each function's environment, at first use.

A missing or malformed variable fails loudly with its name, instead of falling back to a default
resource name.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TypeVar

from opspilot.domain.model import Environment
from opspilot.domain.records import Record, RecordError, spec


class _Settings(Record, extra="ignore"):
    """Read from the environment: each field's key is its variable's name."""


class CoreSettings(_Settings):
    """Variables every function has (template Globals)."""

    incident_table_name: str = spec(key="INCIDENT_TABLE_NAME", min_length=3)
    notification_topic_arn: str = spec(key="NOTIFICATION_TOPIC_ARN", pattern=r"^arn:aws[a-z-]*:sns:")
    environment: Environment = spec(key="OPSPILOT_ENVIRONMENT")
    alarm_name_prefix: str = spec(key="ALARM_NAME_PREFIX")
    incident_retention_days: int = spec(key="INCIDENT_RETENTION_DAYS", gt=0)
    support_case_lookback_days: int = spec(key="SUPPORT_CASE_LOOKBACK_DAYS", gt=0)
    # the model registry (issue 6): per-model percents and quota codes win over the stack's
    model_registry_table_name: str = spec(key="MODEL_REGISTRY_TABLE_NAME", min_length=3)


class DecideSettings(CoreSettings):
    threshold_percent: float = spec(key="THRESHOLD_PERCENT", gt=0, le=100)
    increase_percent: float = spec(key="INCREASE_PERCENT", gt=0)
    approval_timeout_seconds: int = spec(key="APPROVAL_TIMEOUT_SECONDS", gt=0)
    policy_document: str = spec(key="POLICY_DOCUMENT", default="")


class ApprovalSettings(CoreSettings):
    approval_base_url: str = spec(key="APPROVAL_BASE_URL", pattern=r"^https?://")
    approver_emails: str = spec(key="APPROVER_EMAILS", default="")
    escalation_approver_emails: str = spec(key="ESCALATION_APPROVER_EMAILS", default="")
    approval_timeout_seconds: int = spec(key="APPROVAL_TIMEOUT_SECONDS", gt=0)
    # Secrets Manager ARNs of chat incoming-webhook URLs; empty turns the channel off
    slack_webhook_secret_arn: str = spec(
        key="SLACK_WEBHOOK_SECRET_ARN", default="", pattern=r"^$|^arn:aws[a-z-]*:secretsmanager:"
    )
    teams_webhook_secret_arn: str = spec(
        key="TEAMS_WEBHOOK_SECRET_ARN", default="", pattern=r"^$|^arn:aws[a-z-]*:secretsmanager:"
    )


class GatherQuotasSettings(CoreSettings):
    quota_code_overrides: str = spec(key="QUOTA_CODE_OVERRIDES", default="{}")


class ActionSettings(CoreSettings):
    dry_run_parameter_name: str = spec(key="DRY_RUN_PARAMETER_NAME", min_length=1)


S = TypeVar("S", bound=_Settings)


class ConfigurationError(RuntimeError):
    """The function's environment is missing a variable or has a bad value."""


def load_settings[S: _Settings](cls: type[S]) -> S:
    try:
        return cls.parse(dict(os.environ))
    except RecordError as exc:
        raise ConfigurationError(f"environment variable {exc.field}: {exc.message}") from exc


@cache
def core_settings() -> CoreSettings:
    return load_settings(CoreSettings)


@cache
def decide_settings() -> DecideSettings:
    return load_settings(DecideSettings)


@cache
def approval_settings() -> ApprovalSettings:
    return load_settings(ApprovalSettings)


class ChatSettings(CoreSettings):
    slack_webhook_secret_arn: str = spec(
        key="SLACK_WEBHOOK_SECRET_ARN", pattern=r"^$|^arn:aws[a-z-]*:secretsmanager:"
    )
    teams_webhook_secret_arn: str = spec(
        key="TEAMS_WEBHOOK_SECRET_ARN", pattern=r"^$|^arn:aws[a-z-]*:secretsmanager:"
    )


@cache
def chat_settings() -> ChatSettings:
    return load_settings(ChatSettings)


@cache
def gather_quotas_settings() -> GatherQuotasSettings:
    return load_settings(GatherQuotasSettings)


@cache
def action_settings() -> ActionSettings:
    return load_settings(ActionSettings)


class SyncSettings(CoreSettings):
    """The alarm threshold sync (SyncAlarmsFunction)."""

    registry_table_name: str = spec(key="REGISTRY_TABLE_NAME", min_length=3)
    threshold_percent: float = spec(key="THRESHOLD_PERCENT", gt=0, le=100)
    increase_percent: float = spec(key="INCREASE_PERCENT", gt=0)
    stack_name: str = spec(key="STACK_NAME", min_length=1)


@cache
def sync_settings() -> SyncSettings:
    return load_settings(SyncSettings)
