"""Amazon Bedrock: what an inference profile routes to (GetInferenceProfile) and what a foundation
model is called (GetFoundationModel)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from opspilot.adapters.aws import DENIED_CODES, client, error_code, raise_translated


def profile_model_arns(profile_arn: str, region: str | None = None, bedrock: Any | None = None) -> list[str]:
    api = bedrock or client("bedrock", region)
    try:
        profile = api.get_inference_profile(inferenceProfileIdentifier=profile_arn)
    except ClientError as exc:
        raise_translated(exc, f"GetInferenceProfile {profile_arn}")
    return [m["modelArn"] for m in profile.get("models", [])]


def foundation_model(model_id: str, region: str | None = None, bedrock: Any | None = None) -> dict[str, Any]:
    """GetFoundationModel's ``modelDetails`` (``providerName`` and ``modelName`` are optional in
    the API). A model Bedrock does not know, or a call that is denied, gives ``{}``: quotas are
    then matched on the words of the model id, and the resolution says so."""
    api = bedrock or client("bedrock", region)
    try:
        return dict(api.get_foundation_model(modelIdentifier=model_id).get("modelDetails") or {})
    except ClientError as exc:
        if error_code(exc) in DENIED_CODES | {"ResourceNotFoundException", "ValidationException"}:
            return {}
        raise_translated(exc, f"GetFoundationModel {model_id}")
