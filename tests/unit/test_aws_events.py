"""The alarm events AWS documents, read the way a person would read them.

``events/aws/`` holds AWS's own examples, verbatim (``../shared/aws-reference/
cloudwatch-alarm-events.json``, from the CloudWatch user guide's "Alarm events and EventBridge"
page). ``events/aws-*.json`` are the same events about Bedrock: AWS's structure, ids, timestamps
and placeholder account, with the alarm, metric and figures of a Bedrock workload. The workflow
tests run those through the state machine (tests/workflow/test_aws_example_events.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from opspilot.domain.classify import (
    TOKENS_SUM,
    alarm_key,
    event_signal,
    fires_below,
    handled_per_contributor,
    incident_model,
    suppression_id,
    suppression_of,
)
from opspilot.domain.errors import InvalidAlarmEvent, UnclassifiableSignal
from opspilot.domain.events import parse_alarm_event
from opspilot.domain.model import Category, MetricRef, QuotaScope
from opspilot_sim.catalog import default_dir
from opspilot_sim.eventpattern import matches
from opspilot_sim.template import Resolver, alarm_rule_pattern, load_template

LoadEvent = Callable[[str], dict[str, Any]]
ROOT = Path(__file__).parents[2]
REFERENCE = default_dir() / "cloudwatch-alarm-events.json"  # $OPSPILOT_AWS_REFERENCE or ../shared
AWS_DIR = ROOT / "events" / "aws"

CLAUDE_37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
NOVA_PRO = "amazon.nova-pro-v1:0"

# Each Bedrock fixture and the AWS example whose structure it keeps.
DERIVED = {
    "aws-single-metric.json": "awsdocs2023-single-metric-state-change",
    "aws-single-metric-muted.json": "awsdocs2023-single-metric-state-change",
    "aws-metric-math-tokens.json": "awsdocs2023-metric-math-state-change",
    "aws-anomaly-drop.json": "awsdocs2023-anomaly-detection-state-change",
    "aws-composite-suppressed.json": "awsdocs2023-composite-with-suppressor-state-change",
    "aws-metrics-insights-alarm.json": "doc2026-metrics-insights-alarm",
    "aws-contributor-claude.json": "doc2026-metrics-insights-contributor",
    "aws-contributor-nova.json": "doc2026-metrics-insights-contributor",
    "aws-contributor-muted.json": "doc2026-metrics-insights-contributor",
    "aws-contributor-claude-ok.json": "doc2026-metrics-insights-contributor",
}
# The mute fragment the current page adds to its state-change samples (the reference's facts).
MUTE_PATHS = {
    "detail.muteDetail",
    *(f"detail.muteDetail.{k}" for k in ("mutedByArn", "muteWindowStart", "muteWindowEnd")),
}


def _reference() -> dict[str, Any]:
    assert REFERENCE.exists(), f"{REFERENCE} is missing: make test needs the AWS reference (README)"
    document: dict[str, Any] = json.loads(REFERENCE.read_text())
    return document


def _aws(example_id: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((AWS_DIR / f"{example_id}.json").read_text())
    return document


def _kinds() -> dict[str, str]:
    """AWS example id -> its event_kind, from the fixture names (no reference needed)."""
    kinds = {}
    for path in sorted(AWS_DIR.glob("*.json")):
        detail_type = json.loads(path.read_text())["detail-type"]
        kinds[path.stem] = detail_type
    return kinds


def _paths(value: Any, prefix: str = "") -> Iterator[str]:
    """Every key path; the keys of dimension and attribute maps are data (``*``), not shape."""
    if isinstance(value, dict):
        for key, inner in value.items():
            name = "*" if prefix.endswith((".dimensions", ".attributes")) else key
            path = f"{prefix}.{name}" if prefix else name
            yield path
            yield from _paths(inner, path)
    elif isinstance(value, list):
        for inner in value:
            yield from _paths(inner, f"{prefix}[]")


STATE_CHANGES = sorted(k for k, t in _kinds().items() if t != "CloudWatch Alarm Configuration Change")
CONFIGURATION_CHANGES = sorted(k for k, t in _kinds().items() if t == "CloudWatch Alarm Configuration Change")


def test_events_aws_holds_every_reference_example_verbatim() -> None:
    reference = _reference()
    assert {e["id"] for e in reference["events"]} == set(_kinds())
    for example in reference["events"]:
        assert _aws(example["id"]) == example["event"], example["id"]
    # the placeholder account of AWS's examples; 12 digits is an account id's length, so the
    # mute rule ARN's 10-digit "1234567890" is no account at all
    assert {example["event"]["account"] for example in reference["events"]} == {"123456789012"}


@pytest.mark.parametrize(("fixture", "example_id"), sorted(DERIVED.items()))
def test_bedrock_fixtures_keep_the_shape_of_the_aws_example(
    load_event: LoadEvent, fixture: str, example_id: str
) -> None:
    ours, theirs = load_event(fixture), _aws(example_id)

    extra = set(_paths(ours)) - set(_paths(theirs))
    assert extra <= MUTE_PATHS, extra
    missing = set(_paths(theirs)) - set(_paths(ours))
    assert missing <= MUTE_PATHS | {"previousState"}, missing
    assert (ours["account"], ours["region"], ours["detail-type"]) == (
        theirs["account"],
        theirs["region"],
        theirs["detail-type"],
    )


@pytest.mark.parametrize("example_id", STATE_CHANGES)
def test_every_aws_state_change_example_parses(example_id: str) -> None:
    event = parse_alarm_event(_aws(example_id))

    assert event.account == "123456789012"
    assert event.detail.state.value == "ALARM"


@pytest.mark.parametrize("example_id", CONFIGURATION_CHANGES)
def test_a_configuration_change_is_refused_by_name(example_id: str) -> None:
    refused = r"field 'detail-type'.*CloudWatch Alarm Configuration Change"
    with pytest.raises(InvalidAlarmEvent, match=refused):
        parse_alarm_event(_aws(example_id))


@pytest.mark.parametrize(
    ("example_id", "namespace"),
    [
        ("awsdocs2023-single-metric-state-change", "AWS/EC2"),
        ("awsdocs2023-metric-math-state-change", "AWS/EC2"),
        ("awsdocs2023-anomaly-detection-state-change", "AWS/EC2"),
        ("doc2026-metrics-insights-contributor", "AWS/DynamoDB"),
    ],
)
def test_aws_examples_about_other_services_are_not_bedrock_signals(example_id: str, namespace: str) -> None:
    with pytest.raises(UnclassifiableSignal, match=re.escape(namespace)):
        event_signal(parse_alarm_event(_aws(example_id)))


def test_aws_anomaly_example_is_a_drop_below_its_band() -> None:
    """0.0 against a band of [0.0206, 0.3007]: the datapoint left the band from below."""
    event = parse_alarm_event(_aws("awsdocs2023-anomaly-detection-state-change"))
    band = MetricRef(namespace="AWS/EC2", name="CPUUtilization", stat="Average", period=60, anomaly_band=True)

    assert fires_below(band, None, event.detail.state.reason, event.detail.state.reason_data)


def test_aws_contributor_example_fires_below_its_threshold() -> None:
    """ "1 datapoint was less than the threshold (1.0)": the reason says which way."""
    event = parse_alarm_event(_aws("doc2026-metrics-insights-contributor"))
    metric = MetricRef(namespace="AWS/DynamoDB", name="ConsumedWriteCapacityUnits", stat="Average", period=60)

    assert fires_below(metric, None, event.detail.state.reason)


def test_aws_suppressed_composite_example_names_its_suppressor() -> None:
    event = parse_alarm_event(_aws("awsdocs2023-composite-with-suppressor-state-change"))

    suppression = suppression_of(event)

    assert suppression is not None
    assert (suppression.kind, suppression.by, suppression.suppressed_by) == (
        "suppressor_alarm",
        "ServiceMaintenanceAlarm",
        "WaitPeriod",
    )
    assert suppression.reason == "Actions suppressed by WaitPeriod (suppressor alarm ServiceMaintenanceAlarm)"


def test_aws_metrics_insights_alarm_example_is_handled_per_contributor() -> None:
    assert handled_per_contributor(parse_alarm_event(_aws("doc2026-metrics-insights-alarm")))
    assert not handled_per_contributor(parse_alarm_event(_aws("doc2026-metrics-insights-contributor")))


# ------------------------------------------------------------------ the same events about Bedrock


def test_single_metric_over_five_minutes_is_rpm_pressure_per_minute(load_event: LoadEvent) -> None:
    signal = event_signal(parse_alarm_event(load_event("aws-single-metric.json")))

    assert signal is not None
    assert (signal.category, signal.quota_scope) == (Category.QUOTA_PRESSURE, QuotaScope.RPM)
    assert (signal.observed_per_minute, signal.threshold_per_minute) == (422.0, 400.0)


def test_metric_math_over_input_and_output_tokens_is_tpm_pressure(load_event: LoadEvent) -> None:
    event = parse_alarm_event(load_event("aws-metric-math-tokens.json"))

    signal = event_signal(event)

    assert signal is not None
    assert (signal.category, signal.quota_scope, signal.metric.name) == (
        Category.QUOTA_PRESSURE,
        QuotaScope.TPM,
        TOKENS_SUM,
    )
    assert signal.metric.expression == "SUM(METRICS())"
    assert (signal.observed_per_minute, signal.threshold_per_minute) == (907_300.0, 800_000.0)
    assert incident_model(event, signal, {}) == CLAUDE_37


def test_tokens_of_two_different_models_are_not_one_tpm(load_event: LoadEvent) -> None:
    raw = load_event("aws-metric-math-tokens.json")
    raw["detail"]["configuration"]["metrics"][2]["metricStat"]["metric"]["dimensions"] = {"ModelId": NOVA_PRO}

    signal = event_signal(parse_alarm_event(raw))

    assert signal is not None
    # two models summed: the first names the alarm's model unless its tag says otherwise
    assert signal.metric.inputs == 2


def test_a_ratio_of_tokens_is_not_read_as_tpm(load_event: LoadEvent) -> None:
    raw = load_event("aws-metric-math-tokens.json")
    raw["detail"]["configuration"]["metrics"][0]["expression"] = "m2 / m1"

    with pytest.raises(UnclassifiableSignal, match="'m2 / m1' is not a sum of its series"):
        event_signal(parse_alarm_event(raw))


def test_a_drop_below_the_anomaly_band_is_a_traffic_drop_never_quota(load_event: LoadEvent) -> None:
    signal = event_signal(parse_alarm_event(load_event("aws-anomaly-drop.json")))

    assert signal is not None
    assert (signal.category, signal.quota_scope) == (Category.TRAFFIC_DROP, QuotaScope.NONE)


def test_a_spike_above_the_same_band_is_still_rpm_anomaly(load_event: LoadEvent) -> None:
    raw = load_event("aws-anomaly-drop.json")
    data = json.loads(raw["detail"]["state"]["reasonData"])
    data["recentDatapoints"] = [880.0]
    raw["detail"]["state"]["reasonData"] = json.dumps(data)

    signal = event_signal(parse_alarm_event(raw))

    assert signal is not None
    assert (signal.category, signal.quota_scope) == (Category.ANOMALY, QuotaScope.RPM)


@pytest.mark.parametrize(
    ("comparison", "below"),
    [
        ("LessThanLowerThreshold", True),
        ("LessThanThreshold", True),
        ("LessThanOrEqualToThreshold", True),
        ("GreaterThanUpperThreshold", False),
        ("GreaterThanOrEqualToThreshold", False),
    ],
)
def test_the_alarms_comparison_operator_decides_the_direction(comparison: str, below: bool) -> None:
    """DescribeAlarms gives the operator (the composite's children, the model's other alarms)."""
    band = MetricRef(namespace="AWS/Bedrock", name="Invocations", stat="Sum", period=60, anomaly_band=True)

    assert fires_below(band, comparison) is below


def test_a_static_threshold_reason_says_less_than(load_event: LoadEvent) -> None:
    raw = load_event("aws-single-metric.json")
    raw["detail"]["state"]["reason"] = (
        "Threshold Crossed: 1 out of the last 1 datapoints [3.0 (02/10/19 16:59:00)] was less than the "
        "threshold (50.0) (minimum 1 datapoint for OK -> ALARM transition)."
    )

    signal = event_signal(parse_alarm_event(raw))

    assert signal is not None
    assert signal.category is Category.TRAFFIC_DROP


def test_a_muted_alarm_names_its_mute_rule_and_window(load_event: LoadEvent) -> None:
    event = parse_alarm_event(load_event("aws-single-metric-muted.json"))

    suppression = suppression_of(event)

    assert suppression is not None
    assert (suppression.kind, suppression.by) == ("mute_rule", "testMute")
    assert suppression.reason == (
        "muted by alarm mute rule testMute (2026-01-01T10:00:00.000+0000 to 2026-01-01T12:00:00.000+0000)"
    )
    assert suppression_of(parse_alarm_event(load_event("aws-single-metric.json"))) is None


def test_repeats_within_one_mute_window_share_one_record(load_event: LoadEvent) -> None:
    first = parse_alarm_event(load_event("aws-single-metric-muted.json"))
    raw = load_event("aws-single-metric-muted.json")
    raw["id"] = "5f0e2c1d-3b4a-4e6f-8a9b-0c1d2e3f4a5b"
    raw["detail"]["state"]["timestamp"] = "2026-01-01T11:00:00.000+0000"
    repeat = parse_alarm_event(raw)
    suppression = suppression_of(first)
    assert suppression is not None

    assert suppression_id(first, suppression) == suppression_id(repeat, suppression)


def test_the_suppressed_composite_names_its_suppressor_alarm(load_event: LoadEvent) -> None:
    event = parse_alarm_event(load_event("aws-composite-suppressed.json"))

    suppression = suppression_of(event)

    assert event_signal(event) is None  # its children are read, as for any composite in ALARM
    assert suppression is not None
    assert (suppression.by, suppression.suppressed_by) == ("opspilot-maintenance-window", "WaitPeriod")


@pytest.mark.parametrize(
    ("fixture", "model_id"),
    [("aws-contributor-claude.json", CLAUDE_37), ("aws-contributor-nova.json", NOVA_PRO)],
)
def test_each_contributor_is_classified_as_its_own_model(
    load_event: LoadEvent, fixture: str, model_id: str
) -> None:
    event = parse_alarm_event(load_event(fixture))

    signal = event_signal(event)

    assert signal is not None
    assert (signal.metric.namespace, signal.metric.name, signal.metric.stat) == (
        "AWS/Bedrock",
        "InvocationThrottles",
        "Sum",
    )
    assert (signal.category, signal.quota_scope) == (Category.QUOTA_PRESSURE, QuotaScope.BOTH)
    assert incident_model(event, signal, {}) == model_id
    assert (
        signal.alarm_name
        == alarm_key(event)
        == f"opspilot-throttles-by-model [{event.detail.alarm_contributor.id}]"
    )  # type: ignore[union-attr]


def test_a_contributor_recovers_by_its_own_key(load_event: LoadEvent) -> None:
    ok = parse_alarm_event(load_event("aws-contributor-claude-ok.json"))
    alarm = parse_alarm_event(load_event("aws-contributor-claude.json"))

    signal = event_signal(ok)

    assert signal is not None
    assert signal.category is Category.RECOVERY
    assert alarm_key(ok) == alarm_key(alarm)


def test_a_contributor_event_without_its_contributor_is_refused(load_event: LoadEvent) -> None:
    raw = load_event("aws-contributor-nova.json")
    del raw["detail"]["alarmContributor"]

    with pytest.raises(InvalidAlarmEvent, match=r"field 'detail\.alarmContributor': is required"):
        parse_alarm_event(raw)


def test_the_metrics_insights_alarm_itself_opens_nothing(load_event: LoadEvent) -> None:
    assert handled_per_contributor(parse_alarm_event(load_event("aws-metrics-insights-alarm.json")))


# ------------------------------------------------------------------ the rule (template.yaml)


def _pattern(prefix: str) -> dict[str, Any]:
    return alarm_rule_pattern(load_template(), Resolver(refs={"AlarmNamePrefix": prefix}))


def test_the_rule_passes_every_state_change_and_contributor_event() -> None:
    pattern = _pattern("")  # a prefix every alarm name has: only the event's kind decides

    assert [e for e in STATE_CHANGES if not matches(pattern, _aws(e))] == []


def test_the_rule_never_passes_a_configuration_change() -> None:
    pattern = _pattern("")

    assert len(CONFIGURATION_CHANGES) == 6
    assert [e for e in CONFIGURATION_CHANGES if matches(pattern, _aws(e))] == []


def test_the_rule_passes_the_bedrock_events_and_not_aws_examples_under_other_names(
    load_event: LoadEvent,
) -> None:
    pattern = _pattern("opspilot-")

    assert [f for f in DERIVED if not matches(pattern, load_event(f))] == []
    assert [e for e in STATE_CHANGES if matches(pattern, _aws(e))] == []
