"""template.yaml: the OpsPilot dashboard, the metrics it reads and the health alarms."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from opspilot_sim.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
HANDLERS = ROOT / "functions" / "opspilot" / "handlers"


def dashboard() -> dict[str, Any]:
    body, names = RESOURCES["OpsPilotDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    text = re.sub(r"\$\{[^}]+\}", "x", body)  # every substitution, as CloudFormation makes it
    for name in names:
        assert f"${{{name}}}" in body
    parsed: dict[str, Any] = json.loads(text)
    return parsed


OWN = "OpsPilot/${AWS::StackName}"  # OpsPilot's namespace: one per stack


def widgets() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = dashboard()["widgets"]
    return found


def charted() -> dict[str, set[str]]:
    """Namespace -> the metric names the dashboard reads there, from metric rows (with "."
    repeating the row above) and from SEARCH expressions, before CloudFormation's substitution."""
    body = RESOURCES["OpsPilotDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    found: dict[str, set[str]] = {}
    for namespace, name in re.findall(
        r'SEARCH\(\'\{\\?"?([^,"\\]+)\\?"?,[^}]*\} MetricName=\\"(\w+)\\"', body
    ):
        found.setdefault(namespace, set()).add(name)
    for widget in json.loads(re.sub(r"\$\{[^}]+\}", "x", body.replace(OWN, "OWN")))["widgets"]:
        previous: list[Any] = []
        for row in widget["properties"].get("metrics", []):
            if not isinstance(row[0], str):
                continue
            row = [p if p != "." else previous[i] for i, p in enumerate(row) if isinstance(p, str)]
            previous = row
            found.setdefault(OWN if row[0] == "OWN" else row[0], set()).add(row[1])
    return found


def test_the_dashboard_is_json_and_shows_what_operations_needs() -> None:
    titles = " | ".join(w["properties"].get("title", "") for w in widgets()).lower()
    for shown in (
        "incident workflow executions",
        "incidents opened and resolved",
        "actions by outcome",
        "approvals pending and the oldest one's age",
        "approval decisions",
        "dead-letter queues",
        "alarm sync: changes and problems",
        "health alarms",
        "requests per minute against the rpm quota",
        "quota tokens per minute against the tpm quota",
        "quota tokens per day against the daily quota",
    ):
        assert shown in titles, shown
    assert charted()[OWN] >= {
        "IncidentsOpened",
        "IncidentsResolved",
        "Actions",
        "PendingApprovals",
        "OldestPendingApprovalAge",
        "AlarmSyncChanges",
        "AlarmSyncIncomplete",
        "ModelQuotaRPM",
        "ModelQuotaTPM",
        "ModelQuotaTPD",
    }


def test_each_quota_line_repeats_the_last_value_the_sync_wrote() -> None:
    """The sync writes ModelQuota* only when it runs: each quota SEARCH is filled with REPEAT, so
    the widget draws a step line instead of a point a day."""
    quota_lines = [
        row[0]["expression"]
        for widget in widgets()
        for row in widget["properties"].get("metrics", [])
        if isinstance(row[0], dict) and "ModelQuota" in row[0]["expression"]
    ]
    assert len(quota_lines) == 3
    for expression in quota_lines:
        assert re.fullmatch(r"FILL\(SEARCH\('[^']+', '\w+', \d+\), REPEAT\)", expression), expression


def test_every_opspilot_metric_charted_is_one_the_code_or_a_metric_filter_writes() -> None:
    """Namespace OpsPilot/<stack> (POWERTOOLS_METRICS_NAMESPACE), dimension service=opspilot."""
    sources = "\n".join(p.read_text() for p in (ROOT / "functions" / "opspilot").rglob("*.py"))
    filtered = {
        t["MetricName"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::Logs::MetricFilter"
        for t in r["Properties"]["MetricTransformations"]
    }
    ours = charted()[OWN]
    assert not set(charted()) - {OWN, "AWS/States", "AWS/Lambda", "AWS/ApiGateway", "AWS/SQS", "AWS/Bedrock"}
    for name in ours - filtered:
        assert f'"{name}"' in sources, f"{name} is charted but no code writes it"
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert (variables["POWERTOOLS_METRICS_NAMESPACE"], variables["POWERTOOLS_SERVICE_NAME"]) == (
        {"Fn::Sub": OWN},
        "opspilot",
    )


def test_every_metric_of_opspilot_carries_the_stack_name() -> None:
    """Two stacks in one account and Region keep their metrics apart: the metric filters, the
    alarms and the dashboard all read and write OpsPilot/<stack>, nothing the bare OpsPilot."""
    text = (ROOT / "template.yaml").read_text()
    assert not re.search(r"Namespace: OpsPilot\s*$", text, re.MULTILINE)
    for logical, resource in RESOURCES.items():
        if resource["Type"] == "AWS::Logs::MetricFilter":
            for transformation in resource["Properties"]["MetricTransformations"]:
                assert transformation["MetricNamespace"] == {"Fn::Sub": OWN}, logical
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            for query in resource["Properties"].get("Metrics", []):
                namespace = query.get("MetricStat", {}).get("Metric", {}).get("Namespace")
                if namespace is not None:
                    assert namespace == {"Fn::Sub": OWN} or str(namespace).startswith("AWS/"), logical
    body = RESOURCES["OpsPilotDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    assert '"OpsPilot"' not in body and "{OpsPilot," not in body


def test_the_metric_filters_match_log_lines_the_handlers_still_write() -> None:
    filters = {k: r["Properties"] for k, r in RESOURCES.items() if r["Type"] == "AWS::Logs::MetricFilter"}
    assert len(filters) >= 4
    sources = {p.name: p.read_text() for p in HANDLERS.glob("*.py")}
    for logical, props in filters.items():
        (message,) = re.findall(r'\$\.message = "([^"]+)"', props["FilterPattern"])
        assert any(f'"{message}"' in text for text in sources.values()), (logical, message)
        assert props["LogGroupName"] == {"Ref": "FunctionLogGroup"}
    assert 'extra={"sync":' in sources["sync_alarms.py"]  # $.sync.changes_total, $.sync.reason
    assert '"category": incident.category' in sources["classify.py"]  # $.category


HEALTH_ALARMS = {
    "AlarmEventsUndeliveredAlarm": "alarm-events-undelivered",
    "NotificationsUndeliveredAlarm": "notifications-undelivered",
    "ExecutionsFailedAlarm": "executions-failed",
    "ApprovalApi5xxAlarm": "approval-api-5xx",
    "SyncFailuresAlarm": "sync-failures",
}


def test_every_health_alarm_notifies_the_topic_and_is_in_the_operations_guide() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    for logical, suffix in HEALTH_ALARMS.items():
        props = RESOURCES[logical]["Properties"]
        assert props["AlarmName"] == {"Fn::Sub": f"${{AWS::StackName}}-{suffix}"}
        assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "NotificationTopic"}]
        assert props["TreatMissingData"] == "notBreaching"
        assert f"`<stack>-{suffix}`" in guide, suffix
    alarms = {r["Type"] for r in RESOURCES.values()}
    assert "AWS::CloudWatch::Alarm" in alarms


def test_cloudwatch_may_publish_to_the_encrypted_topic() -> None:
    """An AWS managed key (alias/aws/sns) cannot let CloudWatch alarms publish: the topic has a key
    whose policy names cloudwatch.amazonaws.com, for this stack's alarms only."""
    assert RESOURCES["NotificationTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "NotificationTopicKey"}
    statements = RESOURCES["NotificationTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    (cloudwatch,) = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(
        ":alarm:${AWS::StackName}-*"
    )


def _alarm_metrics(logical: str) -> tuple[str, dict[str, tuple[str, str, Any]]]:
    """The alarm's expression and, per query id, (namespace, metric name, dimensions)."""
    queries = RESOURCES[logical]["Properties"]["Metrics"]
    (expression,) = [q["Expression"] for q in queries if "Expression" in q]
    stats = {
        q["Id"]: (
            q["MetricStat"]["Metric"]["Namespace"],
            q["MetricStat"]["Metric"]["MetricName"],
            q["MetricStat"]["Metric"].get("Dimensions"),
        )
        for q in queries
        if "MetricStat" in q
    }
    return expression, stats


def test_the_sync_failures_alarm_counts_failed_timed_out_and_aborted_rounds() -> None:
    """A sync handed to AlarmSyncStateMachine that ends in SyncRoundFailed or SyncNotConverging
    (or times out, or is stopped) fires the sync-failures alarm, like a failed run in the queue."""
    expression, stats = _alarm_metrics("SyncFailuresAlarm")
    rounds = {
        name: query
        for query, (namespace, name, dimensions) in stats.items()
        if namespace == "AWS/States"
        and dimensions == [{"Name": "StateMachineArn", "Value": {"Ref": "AlarmSyncStateMachine"}}]
    }
    assert set(rounds) == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    for query in stats:  # every metric counts, none missing data makes the sum missing
        assert f"FILL({query}, 0)" in expression, query
    assert {n for _, n, _ in stats.values()} >= {
        "ApproximateNumberOfMessagesVisible",
        "AlarmSyncFailedStackRequests",
    }
    queries = RESOURCES["SyncFailuresAlarm"]["Properties"]["Metrics"]
    assert [q["Id"] for q in queries if q.get("ReturnData", True)] == ["failures"]
    (sync_widget,) = [w for w in widgets() if "alarm sync" in w["properties"].get("title", "").lower()]
    rows = [r for r in sync_widget["properties"]["metrics"] if isinstance(r[0], str)]
    assert rows[-3][:4] == ["AWS/States", "ExecutionsFailed", "StateMachineArn", "x"]
    guide = (ROOT / "docs" / "operations.md").read_text()
    assert "SyncNotConverging" in guide and "SyncRoundFailed" in guide
