"""Amazon Bedrock: what an application inference profile routes to (GetInferenceProfile)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from opspilot.adapters.aws import client, raise_translated


def profile_model_arns(profile_arn: str, region: str | None = None, bedrock: Any | None = None) -> list[str]:
    api = bedrock or client("bedrock", region)
    try:
        profile = api.get_inference_profile(inferenceProfileIdentifier=profile_arn)
    except ClientError as exc:
        raise_translated(exc, f"GetInferenceProfile {profile_arn}")
    return [m["modelArn"] for m in profile.get("models", [])]
