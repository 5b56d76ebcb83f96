"""template.yaml: wiring, least privilege and the ASL it deploys."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from opspilot_dev.asl_check import check_file
from opspilot_dev.cfn_check import suppression_problems
from opspilot_sim.eventpattern import matches
from opspilot_sim.template import Resolver, load_template, resources_of_type

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template()
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")

# Actions that change nothing. Anything else on Resource "*" is a defect...
READ_ONLY_PREFIXES = ("Get", "List", "Describe")
# ...except these, for which IAM's service authorization reference lists no resource type, so
# Resource "*" is the only value IAM accepts: CloudWatch Logs log delivery (Step Functions execution
# logging), AWS Support case actions and the Step Functions callbacks of the approval API. Each is
# listed in docs/architecture.md.
DOCUMENTED_STAR_EXCEPTIONS = {
    "logs:CreateLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:PutResourcePolicy",
    "support:CreateCase",
    "support:AddCommunicationToCase",
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
}


def statements() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for logical, resource in TEMPLATE["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []) or []:
            if isinstance(policy, dict) and "Statement" in policy:
                found += [(logical, s) for s in policy["Statement"]]
    return found


@pytest.mark.parametrize(("logical", "statement"), statements())
def test_no_star_resource_on_anything_that_changes_state(logical: str, statement: dict[str, Any]) -> None:
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    if "*" not in resources:
        return
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    for action in actions:
        verb = action.split(":", 1)[1]
        assert verb.startswith(READ_ONLY_PREFIXES) or action in DOCUMENTED_STAR_EXCEPTIONS, (logical, action)
    assert not any(a.endswith("*") for a in actions), (logical, actions)


@pytest.mark.parametrize("logical", sorted(FUNCTIONS))
def test_every_function_handler_imports(logical: str) -> None:
    module, _, attr = FUNCTIONS[logical]["Properties"]["Handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module), attr))


# What a handler may load: the standard library, what the Lambda runtime provides (boto3 and its
# dependencies) and what functions/requirements.txt ships (Powertools, pydantic and their dependencies).
LAMBDA_RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six", "certifi"}
SHIPPED = {
    "opspilot",
    "aws_lambda_powertools",
    "typing_extensions",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_inspection",
}


def test_handlers_load_only_what_the_lambda_package_ships() -> None:
    """A fresh process imports every handler: nothing outside the package (no moto,
    no yaml) may come along, or the deployed function fails or its cold start grows."""
    modules = sorted({f["Properties"]["Handler"].rpartition(".")[0] for f in FUNCTIONS.values()})
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\nprint(*sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", code, *modules], check=True, capture_output=True, text=True
    ).stdout.split()
    tops = {name.partition(".")[0] for name in loaded}
    venv_hooks = {
        t for t in tops if t.startswith(("__editable__", "_distutils_hack", "__m", "_sysconfigdata"))
    }  # and __main__
    assert tops - sys.stdlib_module_names - LAMBDA_RUNTIME - SHIPPED - venv_hooks == set()
    assert "opspilot" in tops and "aws_lambda_powertools" in tops  # the check saw the handlers


def test_functions_share_one_code_package_on_the_right_runtime() -> None:
    globals_fn = TEMPLATE["Globals"]["Function"]
    assert (globals_fn["Runtime"], globals_fn["Architectures"], globals_fn["CodeUri"]) == (
        "python3.13",
        ["arm64"],
        "functions/",
    )
    assert all("CodeUri" not in f["Properties"] for f in FUNCTIONS.values())


def test_every_function_is_packaged_with_its_bytecode_by_the_functions_makefile() -> None:
    assert {
        logical: f.get("Metadata", {}).get("BuildMethod") for logical, f in FUNCTIONS.items()
    } == dict.fromkeys(FUNCTIONS, "makefile")
    makefile = (ROOT / "functions" / "Makefile").read_text()
    assert "build-%:" in makefile and "--invalidation-mode unchecked-hash" in makefile


def test_the_asl_passes_our_checks() -> None:
    assert check_file(ROOT / "statemachines" / "incident.asl.json") == []


def test_the_asl_check_catches_a_dangling_next(tmp_path: Path) -> None:
    machine = json.loads((ROOT / "statemachines" / "incident.asl.json").read_text())
    machine["States"]["Decide"]["Next"] = "NoSuchState"
    broken = tmp_path / "incident.asl.json"
    broken.write_text(json.dumps(machine))
    assert any("NoSuchState" in p for p in check_file(broken))


def task_resources(machine: dict[str, Any]) -> list[str]:
    """Every Task's Resource, in branches and Map item processors too."""
    found = []
    for state in machine["States"].values():
        if state["Type"] == "Task":
            found.append(state["Resource"])
        for inner in [*state.get("Branches", []), *filter(None, [state.get("ItemProcessor")])]:
            found += task_resources(inner)
    return found


def test_no_arn_assumes_the_aws_partition() -> None:
    """Every ARN the stack writes takes its partition from AWS::Partition, so the same template
    deploys in aws, aws-cn and aws-us-gov."""
    assert "arn:aws:" not in (ROOT / "statemachines" / "incident.asl.json").read_text()
    assert "arn:aws:" not in (ROOT / "template.yaml").read_text()
    machine = TEMPLATE["Resources"]["IncidentStateMachine"]["Properties"]
    assert machine["DefinitionSubstitutions"]["Partition"] == {"Ref": "AWS::Partition"}


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_every_service_integration_is_a_valid_arn_in_each_partition(partition: str) -> None:
    """asl-validator can only check the ARN grammar of a rendered definition, so check it here."""
    text = (ROOT / "statemachines" / "incident.asl.json").read_text()
    resources = task_resources(json.loads(text.replace("${Partition}", partition)))
    integrations = [r for r in resources if not re.fullmatch(r"\$\{[A-Za-z0-9]+FunctionArn\}", r)]
    assert len(integrations) == text.count('"Resource": "arn:${Partition}:states:::') > 0
    grammar = rf"arn:{partition}:states:::[a-z0-9-]+(:[A-Za-z0-9]+)+(\.(sync(:2)?|waitForTaskToken))?"
    assert [r for r in integrations if not re.fullmatch(grammar, r)] == []


def event(alarm: str, state: str = "ALARM", source: str = "aws.cloudwatch") -> dict[str, Any]:
    return {
        "source": source,
        "detail-type": "CloudWatch Alarm State Change",
        "detail": {"alarmName": alarm, "state": {"value": state}},
    }


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (event("opspilot-nova-throttles"), True),
        (event("opspilot-nova-throttles", "OK"), True),
        (event("opspilot-nova-throttles", "INSUFFICIENT_DATA"), False),
        (event("billing-total"), False),
        (event("opspilot-nova-throttles", source="aws.ec2"), False),
    ],
)
def test_the_rule_only_starts_the_workflow_for_owned_alarms(
    candidate: dict[str, Any], expected: bool
) -> None:
    resolver = Resolver(refs={"AlarmNamePrefix": TEMPLATE["Parameters"]["AlarmNamePrefix"]["Default"]})
    rule = TEMPLATE["Resources"]["IncidentStateMachine"]["Properties"]["Events"]["AlarmStateChange"][
        "Properties"
    ]
    assert matches(resolver.resolve(rule["Pattern"]), candidate) is expected
    assert rule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["AlarmEventDeadLetterQueue", "Arn"]}}
    assert rule["RetryPolicy"]["MaximumRetryAttempts"] > 0


def policy_statements(logical: str) -> list[dict[str, Any]]:
    return [s for owner, s in statements() if owner == logical]


QUOTA_ARN = {"Fn::Sub": "arn:${AWS::Partition}:servicequotas:${AWS::Region}:${AWS::AccountId}:bedrock/*"}


# IAM authorizes each item of a DynamoDB transaction by its own action
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html)
TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def _dynamodb_actions_of(states: dict[str, Any]) -> set[str]:
    """The DynamoDB actions the state machine's own tasks make, in every branch and Map."""
    needed: set[str] = set()
    for state in states.values():
        resource = str(state.get("Resource", ""))
        if resource.endswith(":states:::dynamodb:updateItem"):
            needed.add("dynamodb:UpdateItem")
        elif resource.endswith(":states:::aws-sdk:dynamodb:transactWriteItems"):
            for item in state["Parameters"]["TransactItems"]:
                needed |= {TRANSACT_ITEM_ACTIONS[kind] for kind in item}
        else:
            assert ":dynamodb:" not in resource, f"a DynamoDB task this test does not know: {resource}"
        for branch in state.get("Branches", []):
            needed |= _dynamodb_actions_of(branch["States"])
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                needed |= _dynamodb_actions_of(state[key]["States"])
    return needed


def test_the_incident_state_machine_may_make_exactly_the_dynamodb_writes_its_tasks_make() -> None:
    """Least privilege: RecordRepeatedState's transaction is two Updates (it was a ConditionCheck
    and an Update, and dynamodb:ConditionCheckItem stayed granted), the notice records are
    updateItem tasks."""
    machine = json.loads((ROOT / "statemachines" / "incident.asl.json").read_text())
    granted = {
        action
        for s in policy_statements("IncidentStateMachine")
        for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        if action.startswith("dynamodb:")
    }
    assert granted == _dynamodb_actions_of(machine["States"]) == {"dynamodb:UpdateItem"}


@pytest.mark.parametrize("action", ["GetServiceQuota", "ListRequestedServiceQuotaChangeHistoryByQuota"])
def test_quota_reads_that_take_a_quota_arn_are_granted_on_bedrock_quotas_only(action: str) -> None:
    """IAM's reference gives both the resource type quota (arn:...:servicequotas:<region>:
    <account>:<service code>/<quota code>): no "*" for them."""
    granted = [
        (logical, s["Resource"])
        for logical, s in statements()
        if f"servicequotas:{action}" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert granted and all(resource == QUOTA_ARN for _, resource in granted), granted


def test_the_registry_stream_is_read_on_that_stream_only() -> None:
    """No SAM DynamoDB event (it would attach AWSLambdaDynamoDBExecutionRole, stream reads on "*"):
    the mapping is written out and the role reads that one stream."""
    sync = TEMPLATE["Resources"]["SyncAlarmsFunction"]["Properties"]
    assert all(e["Type"] != "DynamoDB" for e in sync["Events"].values())
    mapping = TEMPLATE["Resources"]["SyncAlarmsFunctionRegistryChange"]
    assert mapping["Type"] == "AWS::Lambda::EventSourceMapping"
    stream = {"Fn::GetAtt": ["ModelRegistryTable", "StreamArn"]}
    assert mapping["Properties"]["EventSourceArn"] == stream
    (reads,) = [s for s in policy_statements("SyncAlarmsFunction") if s["Sid"] == "ReadRegistryStream"]
    assert reads["Resource"] == stream
    assert sorted(reads["Action"]) == [
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
    ]


def test_failed_sync_runs_and_undelivered_notifications_land_in_a_queue() -> None:
    resources = TEMPLATE["Resources"]
    sync = resources["SyncAlarmsFunction"]["Properties"]
    failures = {"Fn::GetAtt": ["SyncFailureQueue", "Arn"]}
    assert sync["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"] == failures
    assert all(e["Properties"]["DeadLetterConfig"]["Arn"] == failures for e in sync["Events"].values())
    mapping = resources["SyncAlarmsFunctionRegistryChange"]["Properties"]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == failures
    undelivered = {"Fn::GetAtt": ["NotificationDeadLetterQueue", "Arn"]}
    assert resources["NotificationEmailSubscription"]["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": undelivered
    }
    forwarder = resources["ChatForwarderFunction"]["Properties"]
    assert (
        forwarder["Events"]["Notifications"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]
        == undelivered
    )
    assert forwarder["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"] == undelivered


def test_every_suppressed_check_carries_its_reason() -> None:
    assert suppression_problems(TEMPLATE) == []
    skips = [
        skip["id"]
        for resource in TEMPLATE["Resources"].values()
        for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", [])
    ]
    assert "CKV_AWS_95" not in skips  # the approval API's access log is on, not suppressed
    unexplained = {
        "Resources": {
            "Queue": {"Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_27"}]}}},
            "Table": {"Metadata": {"cfn-lint": {"config": {"ignore_checks": ["ES6000"]}}}},
        }
    }
    assert suppression_problems(unexplained) == [
        "Queue: checkov skip CKV_AWS_27 has no comment (its reason)",
        "Table: cfn-lint ignores ES6000 without a reason under cfn-lint: reasons:",
    ]


def test_the_approval_api_logs_every_request_without_the_approval_id_and_is_throttled() -> None:
    api = TEMPLATE["Resources"]["ApprovalApi"]["Properties"]
    logs = api["AccessLogSettings"]
    assert logs["DestinationArn"] == {"Fn::GetAtt": ["ApprovalApiAccessLogGroup", "Arn"]}
    fields = json.loads(logs["Format"])
    assert fields["routeKey"] == "$context.routeKey" and fields["status"] == "$context.status"
    assert not any("path" in v.lower() or "querystring" in v.lower() for v in fields.values())
    group = TEMPLATE["Resources"]["ApprovalApiAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    throttling = api["DefaultRouteSettings"]
    assert throttling == {
        "ThrottlingBurstLimit": {"Ref": "ApprovalApiBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ApprovalApiRateLimit"},
    }
    params = TEMPLATE["Parameters"]
    assert params["ApprovalApiBurstLimit"]["Default"] >= params["ApprovalApiRateLimit"]["Default"] >= 1
