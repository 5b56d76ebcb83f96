"""Typed, frozen configuration read from each function's environment, at first use.

A missing or malformed variable fails loudly with its name, instead of falling back to a default
resource name.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TypeVar

from pydantic import Field

from opspilot.domain.base import Record, RecordError
from opspilot.domain.kinds import Environment


class _Settings(Record, extra="ignore"):
    """Read from the environment: each field's key is its variable's name."""


class CoreSettings(_Settings):
    """Variables every function has (template Globals)."""

    incident_table_name: str = Field(alias="INCIDENT_TABLE_NAME", min_length=3)
    notification_topic_arn: str = Field(alias="NOTIFICATION_TOPIC_ARN", pattern=r"^arn:aws[a-z-]*:sns:")
    environment: Environment = Field(alias="OPSPILOT_ENVIRONMENT")
    alarm_name_prefix: str = Field(alias="ALARM_NAME_PREFIX")
    incident_retention_days: int = Field(alias="INCIDENT_RETENTION_DAYS", gt=0)
    support_case_lookback_days: int = Field(alias="SUPPORT_CASE_LOOKBACK_DAYS", gt=0)
    # the model registry (issue 6): per-model percents and quota codes win over the stack's
    model_registry_table_name: str = Field(alias="MODEL_REGISTRY_TABLE_NAME", min_length=3)
    # flapping (issue 12): an OK resolves after this quiet period; an ALARM within the cooldown
    # after resolution reopens the same incident (template parameters of the same names)
    recovery_quiet_seconds: int = Field(alias="RECOVERY_QUIET_SECONDS", default=180, ge=0)
    reopen_cooldown_seconds: int = Field(alias="REOPEN_COOLDOWN_SECONDS", default=3600, ge=0)


class DecideSettings(CoreSettings):
    threshold_percent: float = Field(alias="THRESHOLD_PERCENT", gt=0, le=100)
    increase_percent: float = Field(alias="INCREASE_PERCENT", gt=0)
    approval_timeout_seconds: int = Field(alias="APPROVAL_TIMEOUT_SECONDS", gt=0)
    policy_document: str = Field(alias="POLICY_DOCUMENT", default="")


class ApprovalSettings(CoreSettings):
    approval_base_url: str = Field(alias="APPROVAL_BASE_URL", pattern=r"^https?://")
    approver_emails: str = Field(alias="APPROVER_EMAILS", default="")
    escalation_approver_emails: str = Field(alias="ESCALATION_APPROVER_EMAILS", default="")
    approval_timeout_seconds: int = Field(alias="APPROVAL_TIMEOUT_SECONDS", gt=0)
    # Secrets Manager ARNs of chat incoming-webhook URLs; empty turns the channel off
    slack_webhook_secret_arn: str = Field(
        alias="SLACK_WEBHOOK_SECRET_ARN", default="", pattern=r"^$|^arn:aws[a-z-]*:secretsmanager:"
    )
    teams_webhook_secret_arn: str = Field(
        alias="TEAMS_WEBHOOK_SECRET_ARN", default="", pattern=r"^$|^arn:aws[a-z-]*:secretsmanager:"
    )


class GatherQuotasSettings(CoreSettings):
    quota_code_overrides: str = Field(alias="QUOTA_CODE_OVERRIDES", default="{}")


class ActionSettings(CoreSettings):
    dry_run_parameter_name: str = Field(alias="DRY_RUN_PARAMETER_NAME", min_length=1)
    policy_document: str = Field(alias="POLICY_DOCUMENT", default="")  # the governor checks again


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
    slack_webhook_secret_arn: str = Field(
        alias="SLACK_WEBHOOK_SECRET_ARN", pattern=r"^$|^arn:aws[a-z-]*:secretsmanager:"
    )
    teams_webhook_secret_arn: str = Field(
        alias="TEAMS_WEBHOOK_SECRET_ARN", pattern=r"^$|^arn:aws[a-z-]*:secretsmanager:"
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

    registry_table_name: str = Field(alias="REGISTRY_TABLE_NAME", min_length=3)
    threshold_percent: float = Field(alias="THRESHOLD_PERCENT", gt=0, le=100)
    increase_percent: float = Field(alias="INCREASE_PERCENT", gt=0)
    stack_name: str = Field(alias="STACK_NAME", min_length=1)
    # where a run too large for one invocation goes on (AlarmSyncStateMachine); empty: Lambda's retries
    sync_state_machine_arn: str = Field("", alias="SYNC_STATE_MACHINE_ARN")
    anomaly_model_budget: int = Field(400, alias="ANOMALY_MODEL_BUDGET", ge=0, le=500)


@cache
def sync_settings() -> SyncSettings:
    return load_settings(SyncSettings)
