"""The other events AWS delivers to OpsPilot's functions, as pydantic records: a DynamoDB stream
batch of the model registry, a CloudFormation custom resource request and an SNS notification.

Only the fields OpsPilot reads are modelled, under AWS's names (``alias``); AWS may add others
(``extra="ignore"``). A malformed event raises :class:`~opspilot.domain.base.RecordError` naming
the field by its dotted path (``Records.0.dynamodb.Keys.sk``). Plain pydantic models of the same
shape as Powertools Parser's ``DynamoDBStreamModel`` and ``SnsModel``: the domain stays free of
Powertools, and a handler pays only for the few fields it reads.

Shapes: DynamoDB Streams ``Record``/``StreamRecord`` (botocore ``dynamodbstreams`` service model;
the registry stream is ``KEYS_ONLY``, so ``Keys`` is all a record carries); the custom resource
request fields of the CloudFormation user guide (``RequestType`` Create | Update | Delete,
``ResponseURL``, ``StackId``, ``RequestId``, ``LogicalResourceId``, ``PhysicalResourceId`` on Update
and Delete; https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html);
the SNS event of the Lambda developer guide (``Records[].Sns.Subject``, ``.Message``;
https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from opspilot.domain.base import Record

ENTRY_PREFIX = "ENTRY#"  # the registry table's sort key of a model's entry


class StringAttribute(Record, extra="ignore"):
    s: str = Field(alias="S")


class RegistryKeys(Record, extra="ignore"):
    sk: StringAttribute

    @field_validator("sk")
    @classmethod
    def _an_entry(cls, value: StringAttribute) -> StringAttribute:
        if not value.s.startswith(ENTRY_PREFIX):
            raise ValueError(f"not a registry entry key ({value.s!r})")
        return value


class RegistryChange(Record, extra="ignore"):
    keys: RegistryKeys = Field(alias="Keys")


class RegistryStreamRecord(Record, extra="ignore"):
    event_name: Literal["INSERT", "MODIFY", "REMOVE"] | None = Field(default=None, alias="eventName")
    dynamodb: RegistryChange

    @property
    def model_id(self) -> str:
        return self.dynamodb.keys.sk.s.removeprefix(ENTRY_PREFIX)


class RegistryStreamBatch(Record, extra="ignore"):
    """A batch of the registry table's stream: the models whose entries changed."""

    records: list[RegistryStreamRecord] = Field(alias="Records")

    def model_ids(self) -> list[str]:
        return sorted({r.model_id for r in self.records})


class StackEvent(Record, extra="ignore"):
    """A CloudFormation custom resource request: the stack is created, updated or deleted."""

    request_type: Literal["Create", "Update", "Delete"] = Field(alias="RequestType")
    response_url: str = Field(alias="ResponseURL", min_length=1)
    stack_id: str = Field(alias="StackId", min_length=1)
    request_id: str = Field(alias="RequestId", min_length=1)
    logical_resource_id: str = Field(alias="LogicalResourceId", min_length=1)
    physical_resource_id: str | None = Field(default=None, alias="PhysicalResourceId")


class SnsMessage(Record, extra="ignore"):
    subject: str | None = Field(default=None, alias="Subject")  # null when published without one
    message: str = Field(alias="Message")


class SnsRecord(Record, extra="ignore"):
    sns: SnsMessage = Field(alias="Sns")


class SnsEvent(Record, extra="ignore"):
    """What SNS delivers to a subscribed function."""

    records: list[SnsRecord] = Field(alias="Records")
