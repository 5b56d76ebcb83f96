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


def test_the_dashboard_is_json_and_shows_what_operations_needs() -> None:
    titles = " | ".join(w["properties"].get("title", "") for w in dashboard()["widgets"]).lower()
    for shown in (
        "incident workflow executions",
        "incidents opened",
        "actions and outcomes",
        "approvals pending",
        "approval decisions",
        "dead-letter queues",
        "alarm sync",
        "health alarms",
        "per model id",
    ):
        assert shown in titles, shown


def test_the_approval_metrics_are_the_ones_the_code_emits() -> None:
    """Namespace OpsPilot, dimension service=opspilot (Powertools, POWERTOOLS_SERVICE_NAME)."""
    sources = "\n".join(p.read_text() for p in (ROOT / "functions" / "opspilot").rglob("*.py"))
    charted = set()
    for widget in dashboard()["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            if metric and metric[0] in ("OpsPilot", ".") and isinstance(metric[1], str):
                charted.add(metric[1])
    approvals = {m for m in charted if "Approval" in m}
    assert approvals >= {"PendingApprovals", "ApprovalsRequested", "ApprovalsApproved", "ApprovalsRejected"}
    assert all(f'"{name}"' in sources for name in approvals), approvals
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert (variables["POWERTOOLS_METRICS_NAMESPACE"], variables["POWERTOOLS_SERVICE_NAME"]) == (
        "OpsPilot",
        "opspilot",
    )


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
