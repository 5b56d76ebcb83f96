"""The simulated Bedrock (GetFoundationModel, GetInferenceProfile) answers in the shapes of
botocore's own service model, for every model of the shared catalog, and the production adapters
read it unchanged."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.loaders import Loader
from moto import mock_aws

from opspilot.adapters.models import foundation_model, profile_model_arns
from opspilot_sim.catalog import load_catalog
from opspilot_sim.fake_aws import SimulatedAws, installed
from opspilot_sim.world import seed_bedrock

REGION = "us-east-1"
MODEL = Loader().load_service_model("bedrock", "service-2")
# Values AWS returns that botocore's enum does not list: ListFoundationModels output stored in
# ../shared/aws-reference/bedrock-models.json ("lfm-apse1-thirdparty", verbatim) lists
# inferenceTypesSupported "INFERENCE_PROFILE"; botocore's InferenceType has ON_DEMAND, PROVISIONED.
BEYOND_THE_MODEL = {"InferenceType": ("INFERENCE_PROFILE",)}
SCALARS = {"string": str, "boolean": bool, "integer": int, "long": int, "timestamp": (str, int, float)}


def conforms(value: Any, shape_name: str, where: str = "") -> list[str]:
    """What in ``value`` (the JSON body) does not fit botocore's shape: unknown or missing
    required members, wrong types, enum values and string patterns it does not list."""
    shape = MODEL["shapes"][shape_name]
    kind = shape["type"]
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        problems = [f"{where}.{m}: required" for m in shape.get("required", []) if m not in value]
        for key, item in value.items():
            member = shape["members"].get(key)
            if member is None:
                problems.append(f"{where}.{key}: not in the shape")
            else:
                problems += conforms(item, member["shape"], f"{where}.{key}")
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        return [
            p
            for i, item in enumerate(value)
            for p in conforms(item, shape["member"]["shape"], f"{where}[{i}]")
        ]
    if not isinstance(value, SCALARS[kind]):
        return [f"{where}: not a {kind}"]
    if "enum" in shape and value not in shape["enum"] and value not in BEYOND_THE_MODEL.get(shape_name, ()):
        return [f"{where}: {value!r} is not one of {shape['enum']}"]
    return []


@pytest.fixture
def world() -> Any:
    sim = SimulatedAws()
    with mock_aws(), installed(sim):
        seed_bedrock({"quotas": []}, sim, REGION)
        yield sim


def raw_body(world: SimulatedAws, operation: str, url: str) -> dict[str, Any]:
    from botocore.awsrequest import AWSPreparedRequest

    request = AWSPreparedRequest("GET", url, {}, None, None)
    answer = world.foundation_models if operation == "GetFoundationModel" else world.inference_profiles
    response = answer.answer(request)
    return dict(json.loads(b"".join(response.raw.stream())))


def test_every_catalog_model_answers_in_botocores_shape(world: SimulatedAws) -> None:
    base = f"https://bedrock.{REGION}.amazonaws.com/foundation-models/"
    problems = []
    for model_id in load_catalog().models:
        body = raw_body(world, "GetFoundationModel", base + model_id)
        problems += conforms(body, MODEL["operations"]["GetFoundationModel"]["output"]["shape"], model_id)
    assert problems == []


def test_the_adapters_read_the_simulated_bedrock(world: SimulatedAws) -> None:
    bedrock = boto3.client("bedrock", region_name=REGION)
    details = foundation_model("anthropic.claude-3-7-sonnet-20250219-v1:0", REGION, bedrock)
    assert (details["providerName"], details["modelName"]) == ("Anthropic", "Claude 3.7 Sonnet")
    assert foundation_model("acme.unknown-v1:0", REGION, bedrock) == {}  # ResourceNotFoundException
    fm = f"arn:aws:bedrock:{REGION}::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0"
    arn = world.inference_profiles.add(REGION, "82ey7vcct4m3", "claims", [fm])
    body = raw_body(
        world, "GetInferenceProfile", f"https://bedrock.{REGION}.amazonaws.com/inference-profiles/{arn}"
    )
    assert conforms(body, MODEL["operations"]["GetInferenceProfile"]["output"]["shape"]) == []
    assert profile_model_arns("82ey7vcct4m3", REGION, bedrock) == [fm]  # by id, as by ARN
