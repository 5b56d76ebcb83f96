"""template.yaml: how approvals are wired (parameters, routes, channels, least privilege)."""

from __future__ import annotations

from typing import Any

from opspilot_sim.template import load_template

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]


def test_the_approval_page_answers_get_head_and_post() -> None:
    events = RESOURCES["ApprovalCallbackFunction"]["Properties"]["Events"].values()
    routes = sorted((e["Properties"]["Method"], e["Properties"]["Path"]) for e in events)
    assert routes == [
        ("GET", "/approvals/{approval_id}"),
        ("HEAD", "/approvals/{approval_id}"),
        ("POST", "/approvals/{approval_id}"),
    ]


def test_escalation_and_chat_are_parameters_wired_to_request_approval() -> None:
    params = TEMPLATE["Parameters"]
    assert params["EscalationApproverEmails"]["Default"] == ""
    for name in ("SlackWebhookSecretArn", "TeamsWebhookSecretArn"):
        assert params[name]["Default"] == "" and params[name]["AllowedPattern"].startswith("^$|^arn:aws")
    variables = RESOURCES["RequestApprovalFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["ESCALATION_APPROVER_EMAILS"] == {"Ref": "EscalationApproverEmails"}
    assert variables["SLACK_WEBHOOK_SECRET_ARN"] == {"Ref": "SlackWebhookSecretArn"}
    assert variables["TEAMS_WEBHOOK_SECRET_ARN"] == {"Ref": "TeamsWebhookSecretArn"}


def test_webhook_secrets_are_readable_only_when_configured_and_only_those() -> None:
    conditional = [
        p["Fn::If"] for p in RESOURCES["RequestApprovalFunction"]["Properties"]["Policies"] if "Fn::If" in p
    ]
    granted: dict[str, Any] = {}
    for condition, policy, otherwise in conditional:
        assert otherwise == {"Ref": "AWS::NoValue"}
        (statement,) = policy["Statement"]
        assert statement["Action"] == "secretsmanager:GetSecretValue"
        granted[condition] = statement["Resource"]
    assert granted == {
        "HasSlackWebhook": {"Ref": "SlackWebhookSecretArn"},
        "HasTeamsWebhook": {"Ref": "TeamsWebhookSecretArn"},
    }
    assert TEMPLATE["Conditions"]["HasSlackWebhook"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "SlackWebhookSecretArn"}, ""]}]
    }


def test_pending_approvals_are_counted_on_the_index_only() -> None:
    for function in ("RequestApprovalFunction", "ApprovalCallbackFunction"):
        statements = [
            s
            for p in RESOURCES[function]["Properties"]["Policies"]
            if "Statement" in p
            for s in p["Statement"]
        ]
        (query,) = [s for s in statements if s["Action"] == "dynamodb:Query"]
        assert query["Resource"] == {"Fn::Sub": "${IncidentTable.Arn}/index/by-model"}


def test_the_shared_email_subscription_does_not_get_other_peoples_links() -> None:
    subscription = RESOURCES["NotificationEmailSubscription"]["Properties"]
    assert subscription["FilterPolicyScope"] == "MessageAttributes"
    when_critical_only, otherwise = subscription["FilterPolicy"]["Fn::If"][1:]
    for policy in (when_critical_only, otherwise):
        assert policy["approver"] == [{"exists": False}]
    assert when_critical_only["$or"] == [
        {"severity": ["critical"]},
        {"severity": [{"exists": False}]},
        {"kind": ["approval_request"]},
    ]


def test_only_the_approval_api_resumes_the_workflow_and_only_with_success_or_failure() -> None:
    """SendTask* have no resource type in IAM's reference, so the statement is on "*": it must stay
    on the one function that holds task tokens, with no heartbeat and nothing else beside it."""
    granted = {
        (logical, action): statement["Resource"]
        for logical, resource in RESOURCES.items()
        for policy in resource.get("Properties", {}).get("Policies", []) or []
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if action.startswith("states:Send")
    }
    assert granted == {
        ("ApprovalCallbackFunction", "states:SendTaskSuccess"): "*",
        ("ApprovalCallbackFunction", "states:SendTaskFailure"): "*",
    }
