"""The simulator's moto shim keeps long runs bounded (issue 12's 1,000-event storm): a
transaction still writes all or nothing, and what moto keeps of a finished execution is released
once it was read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table
from moto.stepfunctions.parser.utils import TMP_THREADS

from opspilot_sim import moto_shim
from opspilot_sim.runner import MOTO_CONFIG, run_scenario
from opspilot_sim.scenario import validate

REGION = "us-east-1"


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws(), moto_shim.installed(moto_shim.ShimState()):
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName="t",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}})
        yield ddb


def _items(ddb: Any) -> list[dict[str, Any]]:
    return sorted(ddb.scan(TableName="t")["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def test_a_cancelled_transaction_writes_nothing(table: Any) -> None:
    before = _items(table)
    with pytest.raises(ClientError, match="TransactionCanceled"):
        table.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": "t",
                        "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                        "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}, "sk": {"S": "1"}}}},
                {
                    "Put": {
                        "TableName": "t",
                        "Item": {"pk": {"S": "a"}, "sk": {"S": "2"}},
                        "ConditionExpression": "attribute_exists(pk)",  # fails: nothing there
                    }
                },
            ]
        )
    assert _items(table) == before, "the update and the put before the failed condition are undone"


def test_a_transaction_that_succeeds_writes_everything(table: Any) -> None:
    table.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": "t",
                    "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                    "UpdateExpression": "SET n = :two",
                    "ExpressionAttributeValues": {":two": {"N": "2"}},
                }
            },
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}, "sk": {"S": "1"}}}},
        ]
    )
    assert _items(table) == [
        {"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "2"}},
        {"pk": {"S": "b"}, "sk": {"S": "1"}},
    ]


def test_the_runner_releases_what_moto_keeps_of_finished_executions() -> None:
    """After each execution was read, moto holds no finished execution, no finished worker
    thread and no table it tracked (a copy of the whole table per transaction, before: the storm
    grew by megabytes per event)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    from opspilot_sim.stack import ACCOUNT_ID

    kept: dict[str, int] = {}

    def look(_table: str) -> None:
        backend = stepfunctions_parser_backends[ACCOUNT_ID][REGION]
        kept["executions"] = sum(len(sm.executions) for sm in backend.state_machines)
        kept["dead threads"] = sum(1 for t in TMP_THREADS if not t.is_alive())
        kept["tracked tables"] = len(Table.instances_tracked)  # type: ignore[attr-defined]

    scenario = {
        "name": "release",
        "parameters": {"Environment": "experimentation", "DryRun": True},
        "models": [{"model_id": "amazon.nova-pro-v1:0", "usage": {"rpm_steady": 400, "rpm_peak": 950}}],
        "alarms": [
            {"name": "opspilot-nova-rpm", "metric": "Invocations", "model_id": "amazon.nova-pro-v1:0"}
        ],
        "events": [
            {"alarm": "opspilot-nova-rpm", "state": "ALARM"},
            {"alarm": "opspilot-nova-rpm", "state": "OK"},
        ],
    }
    assert MOTO_CONFIG["stepfunctions"]["execute_state_machine"]
    report = run_scenario(validate(scenario), then=look)

    assert len(report["incidents"]) == 2, "both executions ran and were reported"
    assert kept == {"executions": 0, "dead threads": 0, "tracked tables": 0}
