"""Sync Alarms: provision every registered model's alarms and keep their thresholds in line with
the current quotas. Runs daily, on every registry change (DynamoDB stream), on stack create,
update and delete (custom resource), and when invoked with ``{"reason": "quota_increase",
"quota_codes": [...]}`` after an approved quota increase.

A run that cannot finish within the invocation (CloudWatch allows 3 PutMetricAlarm a second: a
thousand models' alarms take over half an hour) saves what it did and starts the
AlarmSyncStateMachine, which invokes this function again round after round, each round starting
after the last model the previous one finished (docs/models.md#scale)."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.adapters.cloudwatch_alarms import CloudWatchAlarms, Pacer
from opspilot.adapters.messaging import publish
from opspilot.adapters.quotas import QuotaLookupUnavailable, list_bedrock_quotas
from opspilot.adapters.registry import RegistryStore
from opspilot.adapters.stack_response import respond
from opspilot.adapters.sync_rounds import RoundsNotStarted, start_rounds
from opspilot.domain.aws_events import StackEvent
from opspilot.domain.errors import InvalidInput
from opspilot.domain.model_alarms import QuotaSnapshot, StackDefaults
from opspilot.domain.ops_metrics import quota_gauges
from opspilot.domain.registry import ModelEntry
from opspilot.domain.threshold_sync import QuotaLookupFailed, SyncIncomplete, SyncRequest, request_from_event
from opspilot.handlers._metrics import count_by
from opspilot.handlers._runtime import bind_execution, logger, now
from opspilot.services.alarm_sync import SyncDependencies, SyncReport, run_sync
from opspilot.settings import sync_settings

sleep = time.sleep  # the pacing and backoff wait; the simulator puts its clock here (and in ``now``)


@cache
def registry() -> RegistryStore:
    settings = sync_settings()
    return RegistryStore(settings.registry_table_name, settings.incident_retention_days)


def _quotas() -> list[dict[str, Any]]:
    try:
        return list_bedrock_quotas()
    except QuotaLookupUnavailable as exc:
        raise QuotaLookupFailed(str(exc)) from exc


def _report_failure(subject: str, message: str) -> None:
    publish(sync_settings().notification_topic_arn, subject, message, {"kind": "alarm_sync"})


def _seconds() -> float:
    return now().timestamp()


def _record_quotas(entries: list[ModelEntry], quotas: QuotaSnapshot) -> None:
    """The ModelQuota* metrics: one EMF line per registered model, dimension ModelId. A metric
    never fails the run: what cannot be worked out is logged and left out."""
    try:
        gauges = quota_gauges(entries, quotas)
    except Exception as exc:  # a metric never fails the step
        logger.warning("quota metrics not written", extra={"error": str(exc)[:300]})
        return
    for model_id, values in sorted(gauges.items()):
        count_by({"ModelId": model_id}, values, MetricUnit.Count)


def dependencies(context: LambdaContext) -> SyncDependencies:
    return SyncDependencies(
        registry=registry(),
        alarms=CloudWatchAlarms(pacer=Pacer(now=_seconds, sleep=lambda s: sleep(s))),
        list_quotas=_quotas,
        now=now,
        remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000,
        report_failure=_report_failure,
        record_quotas=_record_quotas,
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    try:
        request, stack_event = request_from_event(event)
    except InvalidInput as exc:
        _refuse_stack_request(event, str(exc))
        raise  # after Lambda's retries the event lands in SyncFailureQueue, whole
    settings = sync_settings()
    stack = StackDefaults(
        settings.alarm_name_prefix,
        settings.threshold_percent,
        settings.increase_percent,
        settings.stack_name,
        settings.anomaly_model_budget,
    )
    physical_id = f"{settings.stack_name}-model-alarms"
    try:
        report = run_sync(request, stack, dependencies(context))
    except Exception as exc:
        if stack_event is None:
            raise
        logger.exception("sync failed during a stack request")
        respond(
            stack_event, "SUCCESS" if request.reason == "stack_update" else "FAILED", physical_id, str(exc)
        )
        return {"reason": request.reason, "error": str(exc)}
    summary = report.summary()
    logger.info("alarm sync", extra={"sync": {k: v for k, v in summary.items() if not isinstance(v, list)}})
    if request.continued:  # a round of the state machine: it reads complete and resume_after
        return summary
    if not report.complete and request.reason != "stack_delete":
        try:
            summary["rounds_execution"] = _go_on(request, report)
        except SyncIncomplete:
            if stack_event is None:
                raise  # a stack request is answered below all the same: the next run goes on
    if stack_event is not None:  # never block a deploy; never leave alarms behind on delete
        failed = request.reason == "stack_delete" and (report.failures or not report.complete)
        status, why = ("FAILED", "; ".join(report.failures)[:900]) if failed else ("SUCCESS", "")
        respond(stack_event, status, physical_id, why, {"Alarms": str(report.created + report.deleted)})
    return summary


def _refuse_stack_request(event: Any, why: str) -> None:
    """A custom resource request that does not read is still answered (FAILED, with the field at
    fault) when it carries what an answer needs, so that CloudFormation does not wait an hour."""
    keys = ("ResponseURL", "StackId", "RequestId", "LogicalResourceId")
    if not (isinstance(event, dict) and "RequestType" in event):
        return
    if not all(isinstance(event.get(k), str) and event[k] for k in keys):
        return
    answer = StackEvent.model_construct(
        request_type="Create",  # not read by respond
        response_url=event["ResponseURL"],
        stack_id=event["StackId"],
        request_id=event["RequestId"],
        logical_resource_id=event["LogicalResourceId"],
        physical_resource_id=None,
    )
    physical = event.get("PhysicalResourceId")
    try:
        respond(
            answer,
            "FAILED",
            physical if isinstance(physical, str) else f"{sync_settings().stack_name}-model-alarms",
            why,
        )
    except Exception:  # the raise that follows still keeps the event
        logger.exception("unreadable stack request not answered")


def _go_on(request: SyncRequest, report: SyncReport) -> str:
    """Hand the rest of the run to the state machine; without one (or if it cannot start), fail
    with SyncIncomplete so that Lambda's retries (and the stream's) go on from the saved states."""
    arn = sync_settings().sync_state_machine_arn
    why = f"sync {report.run_id} stopped early: {report.failures[-1:] or 'time budget'}"
    if not arn:
        raise SyncIncomplete(why)
    rest = request.replace(start_after=report.resume_after, continued=True)
    try:
        return start_rounds(arn, f"alarm-sync-{report.run_id}", rest.to_json(exclude_none=True))
    except RoundsNotStarted as exc:
        raise SyncIncomplete(f"{why}; {exc}") from exc
