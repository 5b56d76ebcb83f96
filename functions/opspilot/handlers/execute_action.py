"""Execute Action: the adapter of :mod:`opspilot.services.actions` (one planned action, checked
before it acts, at most once per incident)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from opspilot.adapters import quotas, support
from opspilot.adapters.aws import error_code
from opspilot.adapters.messaging import read_flag
from opspilot.domain.model import PlannedAction
from opspilot.domain.ops_metrics import action_outcome
from opspilot.domain.policy import Policy, load_policy
from opspilot.handlers._metrics import count_by
from opspilot.handlers._runtime import bind_execution, logger, now, parse, state_part, store
from opspilot.services.actions import QUOTA_REQUEST_REFUSALS, ActionDependencies, AwsRefusal, execute_action
from opspilot.settings import action_settings


def _refusals[**P, R](call: Callable[P, R], codes: frozenset[str] | None = None) -> Callable[P, R]:
    """``call`` with a ClientError of one of ``codes`` (of any code when None) raised as
    :class:`AwsRefusal`, which the service reads; any other ClientError propagates as it is."""

    def translated(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return call(*args, **kwargs)
        except ClientError as exc:
            if codes is not None and error_code(exc) not in codes:
                raise
            raise AwsRefusal(error_code(exc), exc.response["Error"].get("Message", "")) from exc

    return translated


@cache
def policy() -> Policy:
    """The policy Decide planned with (the same POLICY_DOCUMENT): the governor checks again."""
    return load_policy(action_settings().policy_document)


def _count_action(record: dict[str, Any]) -> None:
    """The Actions metric: one per finished action, by its kind and outcome (ops_metrics)."""
    count_by({"action": str(record.get("type")), "outcome": action_outcome(record)}, {"Actions": 1})


def _dependencies() -> ActionDependencies:
    return ActionDependencies(
        store=store(),
        get_quota=quotas.get_quota,
        quota_history=quotas.requests_for,
        request_increase=_refusals(quotas.request_increase, QUOTA_REQUEST_REFUSALS),
        open_cases=lambda at: support.open_opspilot_cases(at, action_settings().support_case_lookback_days),
        add_communication=support.add_communication,
        case_communications=support.communications_since,
        severity_codes=support.severity_codes,
        create_case=_refusals(support.create_case),
        dry_run=lambda: read_flag(action_settings().dry_run_parameter_name),
        policy=policy(),
        now=now,
        log=logger,
        record_outcome=_count_action,
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    incident_id = str(state_part(event, "incident_id"))
    action = parse(PlannedAction, state_part(event, "action"), "action")
    return execute_action(incident_id, action, event.get("approval"), _dependencies())
