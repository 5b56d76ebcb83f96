"""Classify: take the alarm event in. Refused when its stamp is implausible, stale when older
than what we know of the alarm, else it opens, joins or reopens the model's one incident
(domain/lifecycle.py). Every write is keyed by the event, so a retry after a lost response
finishes the first attempt's work instead of skipping it. A silenced alarm's change is recorded
and announced once; a Metrics Insights alarm's own change counts through its contributors."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.adapters import alarm_state
from opspilot.domain import messages
from opspilot.domain.classify import (
    MODEL_DIMENSION,
    alarm_key,
    alarm_signal,
    build_incident,
    cloudwatch_time,
    event_signal,
    handled_per_contributor,
    incident_model,
    suppression_id,
    suppression_of,
    triggering_alarms,
)
from opspilot.domain.errors import TransientAwsError, UnclassifiableSignal
from opspilot.domain.events import AlarmStateChangeEvent, parse_alarm_event
from opspilot.domain.format import iso
from opspilot.domain.lifecycle import decisive, reclassify, refusal, within_cooldown
from opspilot.domain.model import Category, Disposition, Environment, Incident, QuotaScope, Severity, Signal
from opspilot.handlers._metrics import count_by
from opspilot.handlers._runtime import bind_execution, logger, now, state_part, store
from opspilot.settings import core_settings

# Writers that race for the model's incident each win or read again; a storm settles in a few.
TAKE_IN_ATTEMPTS = 8
# OpsPilot's metrics of incidents taken in (docs/operations.md#metrics); joins are not incidents
TAKEN_IN_METRICS = {"opened": "IncidentsOpened", "reopened": "IncidentsReopened"}


def triggering_signals(alarm: AlarmStateChangeEvent) -> list[Signal]:
    """The event's own alarm; for a composite alarm, the alarms it reports as triggering it."""
    own = event_signal(alarm)
    if own is not None:
        return [own]
    detail = alarm.detail
    names = triggering_alarms(detail.alarm_name, detail.state.reason_data)
    found = alarm_state.describe(names, alarm.region)
    if not found:
        raise UnclassifiableSignal(
            f"composite alarm '{detail.alarm_name}': its alarms {names} were not found"
        )
    return [alarm_signal(d.name, "ALARM", d.metrics, d.reason, d.reason_data, d.comparison) for d in found]


def other_alarms_of(
    model_id: str, seen: set[str], region: str, firing: list[alarm_state.AlarmDefinition] | None = None
) -> list[Signal]:
    """The model's other alarms now in ALARM: the incident is classified from all of them."""
    signals = []
    if firing is None:
        firing = alarm_state.in_alarm(core_settings().alarm_name_prefix, region)
    for definition in firing:
        if definition.name in seen:
            continue
        try:
            signal = alarm_signal(
                definition.name,
                "ALARM",
                definition.metrics,
                definition.reason,
                definition.reason_data,
                definition.comparison,
            )
        except UnclassifiableSignal as exc:
            logger.info("skipping an alarm OpsPilot cannot classify", extra={"reason": str(exc)})
            continue
        if signal.metric.dimensions.get(MODEL_DIMENSION) == model_id:
            signals.append(signal)
    return signals


def alarm_tags(alarm: AlarmStateChangeEvent) -> dict[str, str]:
    """The alarm's tags: the event's when tag propagation is on, else one ListTagsForResource,
    so an alarm created by hand with the right tags is read the same way."""
    if alarm.detail.alarm_tags is not None:
        return alarm.tags
    return alarm_state.tags_of(alarm.alarm_arn, alarm.region)


def model_and_tags(alarm: AlarmStateChangeEvent, first: Signal) -> tuple[str, dict[str, str]]:
    """The incident's model and the alarm's tags. A recovery reads the tags only when its model
    depends on them (no ``ModelId`` dimension)."""
    if first.category is Category.RECOVERY and alarm.detail.alarm_tags is None:
        try:
            return incident_model(alarm, first, {}), {}
        except UnclassifiableSignal:
            pass
    tags = alarm_tags(alarm)
    return incident_model(alarm, first, tags), tags


def per_contributor(alarm: AlarmStateChangeEvent, environment: Environment) -> dict[str, Any]:
    """A Metrics Insights alarm's own state change: nothing to open, its contributors count."""
    logger.info("handled per contributor", extra={"alarm": alarm.detail.alarm_name})
    return Incident(
        incident_id="",
        model_id="",
        region=alarm.region,
        account=alarm.account,
        environment=environment,
        category=Category.ANOMALY,
        severity=Severity.WARNING,
        quota_scope=QuotaScope.NONE,
        alarm_name=alarm.detail.alarm_name,
        signals=[],
        opened_at=alarm.detail.state.timestamp,
        disposition=Disposition.PER_CONTRIBUTOR,
    ).to_json()


def record_suppressed(incident: Incident, execution_id: str) -> dict[str, Any]:
    """Record the silenced state change once and announce it once; act on nothing."""
    at = now()
    created = store().record_suppressed(incident.to_json(), execution_id, at)
    if not created:  # a repeat within the same silence, EventBridge's second delivery, or a retry
        recorded = store().get_incident(incident.incident_id) or {}
        if recorded.get("execution_id") != execution_id:
            # keyed by the execution: a retry after a lost response does not write it twice
            store().append_audit(
                incident.incident_id, "attached", {"alarm": incident.alarm_name}, at, key=execution_id
            )
            return incident.replace(attached=True).to_json()
    # keyed by the execution: a retry of the attempt that recorded it (its audit write failed or
    # its response was lost) writes it now, once
    store().append_audit(
        incident.incident_id,
        "suppressed",
        {
            "signals": [s.to_json() for s in incident.signals],
            "suppression": incident.suppression.to_json() if incident.suppression else None,
        },
        at,
        key=execution_id,
    )
    return incident.replace(opened_notice=messages.suppressed(incident.to_json())).to_json()


def current_state(
    alarm: AlarmStateChangeEvent, stamped: datetime
) -> tuple[list[alarm_state.AlarmDefinition] | None, str | None]:
    """CloudWatch's own view of the alarm, where it is cheap: an ALARM event reads every alarm in
    ALARM anyway (the model's other alarms), and only when its own alarm is not among them is it
    described (one call); an OK event describes its alarm (one call). The alarms in ALARM, and
    why the event is stale when the alarm has since entered another state."""
    detail = alarm.detail
    firing = None
    if detail.state.value == "ALARM":
        firing = alarm_state.in_alarm(core_settings().alarm_name_prefix, alarm.region)
        if any(d.name == detail.alarm_name for d in firing):
            return firing, None
    now_in = alarm_state.describe([detail.alarm_name], alarm.region)
    for definition in now_in:
        if definition.state != detail.state.value and definition.updated and definition.updated > stamped:
            return firing, (
                f"stale: {detail.alarm_name} {detail.state.value} stamped {iso(stamped)}, but CloudWatch "
                f"has it in {definition.state} since {iso(definition.updated)}"
            )
    return firing, None


def _set_aside(
    alarm: AlarmStateChangeEvent, disposition: Disposition, reason: str, execution_id: str, at: datetime
) -> dict[str, Any]:
    """A refused or stale event changes nothing; its intake record says why, once."""
    result = {
        "incident_id": None,
        "alarm_name": alarm_key(alarm),
        "event_id": alarm.id,
        "disposition": disposition.value,
        "reason": reason,
        "attached": False,
    }
    intake = {"disposition": disposition.value, "execution_id": execution_id, "result": result}
    prior = store().record_intake(alarm.id, intake, at)
    if prior is not None:
        return _again(alarm, prior, execution_id)
    logger.warning("event set aside", extra={"disposition": disposition.value, "reason": reason})
    return result


def _follow_up(intake: dict[str, Any]) -> None:
    """The intake's writes after the transaction: the alarm pointers and the audit entry. Each is
    keyed by the event, so the retry of a step whose response was lost writes them again, once."""
    result = intake["result"]
    incident_id = result.get("incident_id")
    disposition = intake["disposition"]
    if not incident_id or disposition not in {"opened", "joined", "revised", "reopened"}:
        return
    at = datetime.fromisoformat(intake["at"].replace("Z", "+00:00"))
    store().point_alarms(incident_id, list(intake.get("alarms") or []), at)
    data: dict[str, Any] = {"event_id": intake["event_id"], "alarm": intake.get("alarm")}
    if disposition == "opened":
        data["signals"] = result.get("signals")
    if result.get("rose"):
        data["rose"] = result["rose"]
    store().append_audit(incident_id, disposition, data, at, key=intake["event_id"])


def _again(alarm: AlarmStateChangeEvent, prior: dict[str, Any], execution_id: str) -> dict[str, Any]:
    """The event was taken in already. By this execution: a retry, which finishes the first
    attempt's work and answers as it did. By another: a duplicate delivery, which attaches."""
    if prior.get("execution_id") == execution_id:
        _follow_up(prior)
        return dict(prior["result"])
    result = dict(prior["result"])
    if result.get("disposition") in {Disposition.STALE, Disposition.REFUSED}:
        return result  # the same verdict for the same event
    if result.get("disposition") == Disposition.RECOVERY:
        # an OK names no incident at intake (Recover finds the model's): its id is the unsaved
        # one build_incident made, so nothing is written under it and the duplicate names none
        return result | {"incident_id": "", "attached": True, "disposition": Disposition.DUPLICATE.value}
    incident_id = result.get("incident_id")
    if incident_id:
        at = datetime.fromisoformat(prior["at"].replace("Z", "+00:00"))
        data = {"event_id": alarm.id, "alarm": alarm_key(alarm), "execution_id": execution_id}
        store().append_audit(incident_id, "duplicate", data, at, key=f"{alarm.id}#{execution_id}")
    return result | {"attached": True, "disposition": Disposition.DUPLICATE.value, "opened_notice": None}


def _known_actions(record: dict[str, Any]) -> list[str]:
    planned = [a.get("action_id") for a in (record.get("plan") or {}).get("actions") or []]
    done = [a.get("action_id") for a in record.get("actions") or []]
    return sorted({str(a) for a in planned + done if a})


def _known_params(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What each known action asked for, as planned (an approver may have approved less: the
    plan is what a revision is compared with)."""
    done = {
        str(a["action_id"]): decisive(a.get("params") or {})
        for a in record.get("actions") or []
        if a.get("action_id")
    }
    planned = {
        str(a["action_id"]): decisive(a.get("params") or {})
        for a in (record.get("plan") or {}).get("actions") or []
        if a.get("action_id")
    }
    return done | planned


def _take_in(
    alarm: AlarmStateChangeEvent,
    built: Incident,
    signals: list[Signal],
    execution_id: str,
    at: datetime,
) -> dict[str, Any]:
    """Open, join or reopen the model's incident: one transaction per attempt, read again when
    another writer got there first."""
    settings = core_settings()
    names = [alarm_key(alarm)] if alarm.is_composite else [s.alarm_name for s in signals]
    base = {
        "event_id": alarm.id,
        "alarm": alarm_key(alarm),
        "alarms": names,
        "execution_id": execution_id,
    }
    for _ in range(TAKE_IN_ATTEMPTS):
        pointer = store().model_pointer(built.model_id, built.region)
        record = store().get_incident(str(pointer["incident_id"])) if pointer else None
        status = (record or {}).get("status")
        expired = pointer is not None and str(pointer.get("expires_at", "")) < iso(at)
        reopen = status == "resolved" and within_cooldown(
            record.get("resolved_at") if record else None, at, settings.reopen_cooldown_seconds
        )
        if (
            record is None
            or status in {"failed", "unclassifiable"}
            or (expired and status != "resolved")
            or (status == "resolved" and not reopen)
        ):
            result = built.replace(disposition=Disposition.OPENED)
            result = result.replace(opened_notice=messages.opened(result.to_json()))
            intake: dict[str, Any] = {
                **base,
                "disposition": "opened",
                "incident_id": built.incident_id,
                "result": result.to_json(),
            }
            stop = store().open_incident(
                built.to_json(),
                names,
                execution_id,
                alarm.id,
                at,
                replaces=str(pointer["incident_id"]) if pointer else None,
                intake=intake,
            )
        else:
            assert record is not None
            current = Incident.parse(record["incident"], "incident")
            revised, rose = reclassify(current, signals)
            if reopen:
                disposition = Disposition.REOPENED
            else:
                disposition = Disposition.REVISED if rose else Disposition.JOINED
            first = [s for s in revised.signals if s.alarm_name in {x.alarm_name for x in signals[:1]}]
            result = revised.replace(
                alarm_name=alarm_key(alarm),
                signals=first + [s for s in revised.signals if s not in first],
                disposition=disposition,
                rose=rose,
                attached=disposition is Disposition.JOINED,
                known_actions=_known_actions(record) if disposition is not Disposition.JOINED else [],
                known_params=_known_params(record) if disposition is not Disposition.JOINED else {},
            )
            if disposition is Disposition.REVISED:
                result = result.replace(opened_notice=messages.revised(result.to_json(), rose))
            elif disposition is Disposition.REOPENED:
                result = result.replace(opened_notice=messages.reopened(result.to_json()))
            intake = {**base, "disposition": disposition.value, "incident_id": current.incident_id}
            intake["result"] = result.to_json()
            stop = store().join_incident(
                record,
                revised.to_json(),
                names,
                intake,
                alarm.id,
                at,
                reopen_after=iso(at - timedelta(seconds=settings.reopen_cooldown_seconds))
                if reopen
                else None,
            )
        if stop is None:
            intake["at"] = iso(at)
            # counted once, as soon as the transaction took the event in: a retry is answered by
            # _again, so a follow-up write that fails (throttled) must not lose the count
            if intake["disposition"] in TAKEN_IN_METRICS:
                count_by({}, {TAKEN_IN_METRICS[intake["disposition"]]: 1})
            _follow_up(intake)
            logger.info(
                "taken in", extra={"disposition": intake["disposition"], "incident_id": intake["incident_id"]}
            )
            taken: dict[str, Any] = intake["result"]
            return taken
        if stop == "event":  # another execution took this very event in meanwhile
            prior = store().event_intake(alarm.id)
            if prior is not None:
                return _again(alarm, prior, execution_id)
    raise TransientAwsError(f"model {built.model_id}: its incident kept changing; try again")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    execution_id = str(event["execution_id"])
    alarm = parse_alarm_event(state_part(event, "state"))
    if handled_per_contributor(alarm):
        return per_contributor(alarm, core_settings().environment)
    at = now()
    prior = store().event_intake(alarm.id)
    if prior is not None:
        return _again(alarm, prior, execution_id)
    detail = alarm.detail
    signals = triggering_signals(alarm)  # an event about no Bedrock alarm fails as unclassifiable
    model_id, tags = model_and_tags(alarm, signals[0])
    stamped = cloudwatch_time(alarm.detail.state.timestamp)
    reason = refusal(stamped, at)
    if reason is not None:
        return _set_aside(alarm, Disposition.REFUSED, f"event refused: {reason}", execution_id, at)
    firing = None
    if not alarm.is_composite and not alarm.is_contributor:  # CloudWatch's view first: a stale
        # event is not taken in (a contributor's state is not the alarm's, which DescribeAlarms has)
        firing, newer_state = current_state(alarm, stamped)
        if newer_state is not None:
            return _set_aside(alarm, Disposition.STALE, newer_state, execution_id, at)
    newer = store().record_alarm_state(alarm_key(alarm), detail.state.value, iso(stamped), alarm.id, at)
    if newer is not None:
        reason = (
            f"stale: {alarm_key(alarm)} {detail.state.value} stamped {iso(stamped)} is older than its "
            f"{newer.get('state')} stamped {newer.get('changed_at')} already taken in"
        )
        return _set_aside(alarm, Disposition.STALE, reason, execution_id, at)
    recovery = signals[0].category is Category.RECOVERY
    suppression = None if recovery or alarm.detail.state.value != "ALARM" else suppression_of(alarm)
    if not recovery and suppression is None:
        signals += other_alarms_of(model_id, {s.alarm_name for s in signals}, alarm.region, firing)
    incident = build_incident(alarm, model_id, signals, core_settings().environment, tags)
    logger.info(
        "classified", extra={"category": incident.category, "model_id": model_id, "signals": len(signals)}
    )
    if incident.category is Category.RECOVERY:
        result = incident.replace(disposition=Disposition.RECOVERY).to_json()
        intake = {
            "disposition": "recovery",
            "execution_id": execution_id,
            "event_id": alarm.id,
            "result": result,
        }
        prior = store().record_intake(alarm.id, intake, at)
        return result if prior is None else _again(alarm, prior, execution_id)
    if suppression is not None:
        silenced = incident.replace(
            incident_id=suppression_id(alarm, suppression),
            disposition=Disposition.SUPPRESSED,
            suppression=suppression,
        )
        return record_suppressed(silenced, execution_id)
    return _take_in(alarm, incident, signals, execution_id, at)
