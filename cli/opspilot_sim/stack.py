"""Deploy ``template.yaml`` into moto: the offline stack.

Creates what the template declares (table, topic, dry-run parameter, functions, the state machine
from the real ASL file with its DefinitionSubstitutions) and returns the wiring the runner needs.
Parameter values come from the template's defaults and the scenario's overrides, as
``sam deploy --parameter-overrides`` would give them.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any

import boto3

from opspilot_sim.template import (
    PROJECT_ROOT,
    Resolver,
    alarm_rule_pattern,
    load_template,
    parameter_defaults,
    resources_of_type,
    substitute_definition,
)

ACCOUNT_ID = "123456789012"  # moto's default account (the AWS documentation's example id)
STACK_NAME = "opspilot-sim"
INBOX_QUEUE = "opspilot-sim-notifications"


@dataclass
class SimulatedStack:
    region: str
    parameters: dict[str, str]
    table_name: str
    topic_arn: str
    inbox_queue_url: str
    state_machine_arn: str
    event_pattern: dict[str, Any]
    handlers: dict[str, str]  # function name -> dotted handler
    function_by_logical_id: dict[str, str]
    environment: dict[str, str] = field(default_factory=dict)
    registry_table_name: str = ""


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("placeholder.py", "# handlers run in-process; see opspilot_sim/moto_shim.py\n")
    return buf.getvalue()


def _create_table(ddb: Any, resources: dict[str, Any], logical_id: str, **more: Any) -> str:
    """One of the template's DynamoDB tables, with its keys (and ``more``: indexes, stream)."""
    props = resources[logical_id]["Properties"]
    name = f"{STACK_NAME}-{logical_id}"
    ddb.create_table(
        TableName=name,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        **more,
    )
    return name


def deploy(region: str, overrides: dict[str, Any], approval_base_url: str | None = None) -> SimulatedStack:
    """Create the stack's resources in the active moto mock. Call inside ``mock_aws``."""
    template = load_template()
    params = parameter_defaults(template)
    unknown = set(overrides) - set(params)
    if unknown:
        raise ValueError(f"parameters: unknown stack parameter(s) {sorted(unknown)}")
    params.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in overrides.items()})
    resources = template["Resources"]
    res = Resolver()
    res.refs.update(params)
    res.refs.update(
        {
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
    )

    # ---- table
    ddb = boto3.client("dynamodb", region_name=region)
    table_props = resources["IncidentTable"]["Properties"]
    table_name = _create_table(
        ddb, resources, "IncidentTable", GlobalSecondaryIndexes=table_props["GlobalSecondaryIndexes"]
    )
    ddb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification=table_props["TimeToLiveSpecification"]
    )
    res.refs["IncidentTable"] = table_name
    res.attrs["IncidentTable.Arn"] = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table_name}"
    # the model registry table (docs/models.md), with its stream
    registry_stream = resources["ModelRegistryTable"]["Properties"]["StreamSpecification"]
    registry_table = _create_table(
        ddb, resources, "ModelRegistryTable", StreamSpecification={"StreamEnabled": True, **registry_stream}
    )
    res.refs["ModelRegistryTable"] = registry_table
    res.attrs["ModelRegistryTable.Arn"] = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{registry_table}"
    res.attrs["ModelRegistryTable.StreamArn"] = f"{res.attrs['ModelRegistryTable.Arn']}/stream/offline"

    # ---- topic, and a queue subscribed to it so the simulator reads what people would receive
    sns = boto3.client("sns", region_name=region)
    topic_arn = sns.create_topic(Name=f"{STACK_NAME}-NotificationTopic")["TopicArn"]
    sqs = boto3.client("sqs", region_name=region)
    queue_url = sqs.create_queue(QueueName=INBOX_QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    res.refs["NotificationTopic"] = topic_arn
    res.attrs["NotificationTopic.TopicName"] = topic_arn.rsplit(":", 1)[1]

    # ---- dry-run switch
    ssm = boto3.client("ssm", region_name=region)
    dry_props = res.resolve(resources["DryRunParameter"]["Properties"])
    ssm.put_parameter(Name=dry_props["Name"], Value=dry_props["Value"], Type=dry_props["Type"])
    res.refs["DryRunParameter"] = dry_props["Name"]

    # ---- approval API (its URL; requests are served by the simulator or `--interactive`)
    res.refs["ApprovalApi"] = "offline"
    res.refs["IncidentStateMachine"] = (
        f"arn:aws:states:{region}:{ACCOUNT_ID}:stateMachine:{STACK_NAME}-IncidentStateMachine"
    )

    # ---- functions
    iam = boto3.client("iam", region_name=region)
    role_arn = iam.create_role(
        RoleName=f"{STACK_NAME}-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    lam = boto3.client("lambda", region_name=region)
    functions = resources_of_type(template, "AWS::Serverless::Function")
    globals_fn = template.get("Globals", {}).get("Function", {})
    handlers: dict[str, str] = {}
    by_logical: dict[str, str] = {}
    for logical, spec in functions.items():
        name = f"{STACK_NAME}-{logical}"
        arn = lam.create_function(
            FunctionName=name,
            Runtime=globals_fn.get("Runtime", "python3.13"),
            Role=role_arn,
            Handler=spec["Properties"]["Handler"],
            Code={"ZipFile": _zip()},
        )["FunctionArn"]
        handlers[name] = spec["Properties"]["Handler"]
        by_logical[logical] = name
        res.refs[logical] = name
        res.attrs[f"{logical}.Arn"] = arn

    # every function's environment (Globals + its own); the simulator runs them in one process
    environment: dict[str, str] = {}
    for logical, spec in functions.items():
        variables = {
            **globals_fn.get("Environment", {}).get("Variables", {}),
            **spec["Properties"].get("Environment", {}).get("Variables", {}),
        }
        for key, value in res.resolve(variables).items():
            if key in environment and environment[key] != str(value):
                raise ValueError(f"template: {logical} sets {key} differently from another function")
            environment[key] = str(value)
    if approval_base_url:
        environment["APPROVAL_BASE_URL"] = approval_base_url

    # ---- the state machine, from the real ASL file
    machine = template["Resources"]["IncidentStateMachine"]["Properties"]
    substitutions = res.resolve(machine["DefinitionSubstitutions"])
    definition = substitute_definition((PROJECT_ROOT / machine["DefinitionUri"]).read_text(), substitutions)
    sfn = boto3.client("stepfunctions", region_name=region)
    machine_arn = sfn.create_state_machine(
        name=f"{STACK_NAME}-IncidentStateMachine",
        definition=definition,
        roleArn=role_arn,
        type=machine["Type"],
    )["stateMachineArn"]
    pattern = alarm_rule_pattern(template, res)

    return SimulatedStack(
        region=region,
        parameters=params,
        table_name=table_name,
        topic_arn=topic_arn,
        inbox_queue_url=queue_url,
        state_machine_arn=machine_arn,
        event_pattern=pattern,
        handlers=handlers,
        function_by_logical_id=by_logical,
        environment=environment,
        registry_table_name=registry_table,
    )


def apply_environment(stack: SimulatedStack) -> dict[str, str | None]:
    """Set the functions' environment in this process; returns what to restore."""
    runtime = {"AWS_REGION": stack.region, "AWS_DEFAULT_REGION": stack.region}  # set by the Lambda runtime
    variables = {**stack.environment, **runtime}
    previous = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    return previous
