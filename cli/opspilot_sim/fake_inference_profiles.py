"""Amazon Bedrock GetInferenceProfile for the simulated world (rest-json, which moto lacks).

Only what OpsPilot reads: an application inference profile's ARN, type and the models it routes
to. ``add`` seeds a profile; requests for unknown ones get ``ResourceNotFoundException`` (404),
as the Bedrock API reference documents.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


def _respond(
    request: AWSPreparedRequest, status: int, body: dict[str, Any], error: str | None = None
) -> AWSResponse:
    headers = HTTPHeaders()
    headers["x-amzn-RequestId"] = str(uuid.uuid4())
    headers["Content-Type"] = "application/json"
    if error:
        headers["x-amzn-ErrorType"] = error
    return AWSResponse(request.url, status, headers, _Body(json.dumps(body).encode()))


class InferenceProfiles:
    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self._lock = threading.Lock()
        self._profiles: dict[str, dict[str, Any]] = {}

    def add(self, region: str, profile_id: str, name: str, model_arns: list[str]) -> str:
        """Seed an application inference profile; returns its ARN."""
        arn = f"arn:aws:bedrock:{region}:{self.account_id}:application-inference-profile/{profile_id}"
        now = datetime.now(UTC).isoformat()
        profile = {
            "inferenceProfileName": name,
            "inferenceProfileArn": arn,
            "inferenceProfileId": profile_id,
            "models": [{"modelArn": m} for m in model_arns],
            "status": "ACTIVE",
            "type": "APPLICATION",
            "createdAt": now,
            "updatedAt": now,
        }
        with self._lock:
            self._profiles[arn] = self._profiles[profile_id] = profile
        return arn

    def answer(self, request: AWSPreparedRequest) -> AWSResponse:
        identifier = unquote(urlsplit(request.url).path.rsplit("/inference-profiles/", 1)[-1])
        with self._lock:
            profile = self._profiles.get(identifier)
        if profile is None:
            return _respond(
                request,
                404,
                {"message": f"Inference profile {identifier} not found"},
                "ResourceNotFoundException",
            )
        return _respond(request, 200, profile)


class FoundationModels:
    """Amazon Bedrock GetFoundationModel: ``modelDetails`` as the API returns it. ``modelName``
    and ``providerName`` are optional in botocore's ``FoundationModelDetails`` shape and left out
    where the catalog has none. Unknown models get ``ResourceNotFoundException`` (404)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, dict[str, Any]] = {}

    def add(
        self,
        region: str,
        model_id: str,
        provider_name: str | None,
        model_name: str | None,
        inference_types: list[str] | None = None,
    ) -> None:
        details: dict[str, Any] = {
            "modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model_id}",
            "modelId": model_id,
            "inferenceTypesSupported": list(inference_types or ["ON_DEMAND"]),
            "modelLifecycle": {"status": "ACTIVE"},
        }
        if provider_name:
            details["providerName"] = provider_name
        if model_name:
            details["modelName"] = model_name
        with self._lock:
            self._models[model_id] = details

    def answer(self, request: AWSPreparedRequest) -> AWSResponse:
        identifier = unquote(urlsplit(request.url).path.rsplit("/foundation-models/", 1)[-1])
        model_id = identifier.rsplit("/", 1)[-1]  # an ARN names the model after "foundation-model/"
        with self._lock:
            details = self._models.get(model_id)
        if details is None:
            return _respond(
                request, 404, {"message": f"Model {identifier} not found"}, "ResourceNotFoundException"
            )
        return _respond(request, 200, {"modelDetails": details})
