"""Find a model's Bedrock per-minute quotas among the Service Quotas by their names.

Bedrock names its quotas like ``On-demand model inference requests per minute for Anthropic Claude
3.5 Sonnet`` or ``Cross-region model inference tokens per minute for ...``. The model id says which
inference type applies (a geography prefix means a cross-region profile, ``global.`` a global one)
and which model; both must match the quota name exactly, token for token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

GEOGRAPHY_PREFIXES = ("us-gov", "us", "eu", "apac", "jp", "au", "ca")
_TYPE_PHRASE = {
    "on_demand": "on-demand model inference",
    "cross_region": "cross-region model inference",
    "global": "global cross-region model inference",
}
_KIND_PHRASE = {"rpm": "requests per minute for ", "tpm": "tokens per minute for "}
_VERSION = re.compile(r"(-\d{8})?-v(\d+)(:\d+)?$|:\d+$")


@dataclass(frozen=True)
class ModelRef:
    model_id: str
    inference_type: str  # on_demand | cross_region | global
    provider: str
    tokens: frozenset[str]


def _tokens(text: str) -> frozenset[str]:
    return frozenset(t for t in re.split(r"[^a-z0-9]+", text.lower()) if t)


def parse_model_id(model_id: str) -> ModelRef:
    """``us.anthropic.claude-3-5-sonnet-20241022-v2:0`` -> cross_region, anthropic, {claude,3,5,sonnet,v2}."""
    parts = model_id.split(".")
    inference_type = "on_demand"
    if parts[0] == "global":
        inference_type, parts = "global", parts[1:]
    elif parts[0] in GEOGRAPHY_PREFIXES and len(parts) > 2:
        inference_type, parts = "cross_region", parts[1:]
    provider, name = parts[0], ".".join(parts[1:]) or parts[0]
    version = _VERSION.search(name)
    tokens = set(_tokens(_VERSION.sub("", name)))
    if version and version.group(2) and int(version.group(2)) > 1:
        tokens.add(f"v{version.group(2)}")
    return ModelRef(model_id, inference_type, provider, frozenset(tokens))


def match_quota(
    model_id: str, kind: str, quotas: Iterable[tuple[str, str]], overrides: Mapping[str, str] | None = None
) -> str | None:
    """The quota code for ``kind`` ("rpm" | "tpm") of ``model_id``, from (code, name) pairs."""
    if overrides and kind in overrides:
        return overrides[kind]
    ref = parse_model_id(model_id)
    prefix = f"{_TYPE_PHRASE[ref.inference_type]} {_KIND_PHRASE[kind]}"
    for code, name in quotas:
        lowered = name.lower()
        if not lowered.startswith(prefix):
            continue
        named = _tokens(lowered[len(prefix) :]) - {ref.provider}
        if named == ref.tokens:
            return code
    return None


APPLICATION_PROFILE = re.compile(r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:application-inference-profile/")
# A whole application inference profile ARN as the registry accepts it; group 3 is the profile id.
APPLICATION_PROFILE_ARN = re.compile(
    r"^arn:aws(-[a-z]+)*:bedrock:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:application-inference-profile/([a-z0-9]{1,64})$"
)
_REGION_GEOGRAPHY = (
    ("us-gov-", "us-gov"),
    ("us-", "us"),
    ("eu-", "eu"),
    ("ap-northeast-1", "jp"),
    ("ap-southeast-2", "au"),
    ("ap-", "apac"),
    ("ca-", "ca"),
)


def geography_of(region: str) -> str | None:
    """The cross-region profile prefix that serves a Region (``us-east-1`` -> ``us``)."""
    return next((g for prefix, g in _REGION_GEOGRAPHY if region.startswith(prefix)), None)


def is_application_profile(model_id: str) -> bool:
    return bool(APPLICATION_PROFILE.match(model_id))


def underlying_model(model_arns: list[str]) -> str:
    """The model id whose quotas an application inference profile consumes.

    A profile copied from a foundation model lists that model in one Region: its on-demand id.
    A profile copied from a system-defined cross-region profile lists the model in several
    Regions: the geography's cross-region id (``us.``, ``eu.``, ...). A profile ARN among the
    models (copied from a system profile) names that profile directly.
    """
    if not model_arns:
        raise ValueError("inference profile lists no models")
    for arn in model_arns:
        if ":inference-profile/" in arn:
            return arn.rsplit("/", 1)[1]
    ids = {arn.rsplit("/", 1)[1] for arn in model_arns}
    regions = {arn.split(":")[3] for arn in model_arns}
    if len(ids) != 1:
        raise ValueError(f"inference profile routes to several models: {sorted(ids)}")
    (model,) = ids
    if len(regions) <= 1:
        return model
    geographies = {next((g for prefix, g in _REGION_GEOGRAPHY if r.startswith(prefix)), "") for r in regions}
    if len(geographies) == 1 and "" not in geographies:
        return f"{geographies.pop()}.{model}"
    return f"global.{model}"


def pressure_threshold(quota_value: float, percent: float) -> int:
    """``floor(quota x percent / 100)``, never below 1 (a threshold of 0 would always fire).

    Decimal arithmetic, so 0.8 x 1,000,000 is exactly 800,000 (binary floats would floor it to
    799,999)."""
    exact = Decimal(repr(float(quota_value))) * Decimal(repr(float(percent))) / Decimal(100)
    return max(1, int(exact.to_integral_value(rounding=ROUND_FLOOR)))
