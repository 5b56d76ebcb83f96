"""Model ids, inference profiles and pressure thresholds.

The model id says which inference type applies (a geography prefix means a cross-region profile,
``global.`` a global one); an application inference profile consumes the quotas of what it routes
to, and CloudWatch names it by its id. Which quotas govern a model is resolved by name in
:mod:`opspilot.domain.quota_resolver`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
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
    """The quota code for ``kind`` ("rpm" | "tpm" | "tpd") of ``model_id``, from (code, name)
    pairs, read from the model id's words alone (:mod:`opspilot.domain.quota_resolver`; with
    Bedrock's model name, use :func:`~opspilot.domain.quota_resolver.resolve`). None when no
    quota or more than one fits."""
    if overrides and kind in overrides:
        return overrides[kind]
    from opspilot.domain.quota_resolver import ListedQuota, ModelFacts, resolve

    found = resolve(ModelFacts(model_id), [ListedQuota(code, name) for code, name in quotas]).quota(kind)
    return found.code if found else None


APPLICATION_PROFILE = re.compile(r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:application-inference-profile/")
# A whole application inference profile ARN as the registry accepts it; group 3 is the profile id.
APPLICATION_PROFILE_ARN = re.compile(
    r"^arn:aws(-[a-z]+)*:bedrock:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:application-inference-profile/([a-z0-9]{1,64})$"
)
_PROFILE_ID = re.compile(r"^[a-z0-9]{1,64}$")  # an application profile's id; model ids have a "."
_REGION_GEOGRAPHY = (
    ("us-gov-", "us-gov"),
    ("us-", "us"),
    ("eu-", "eu"),
    ("ap-northeast-1", "jp"),
    ("ap-southeast-2", "au"),
    ("ap-", "apac"),
    ("ca-", "ca"),
)
# The Regions each geographic system profile is listed in (inference-profiles.json, "prefixes",
# ListInferenceProfiles per source Region, Apr 2026); the narrowest set holding every Region a
# profile routes to names its geography. The US profiles are also listed in ca-central-1 and
# ca-west-1, the APAC ones in me-central-1.
_GEOGRAPHY_REGIONS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("jp", lambda r: r in {"ap-northeast-1", "ap-northeast-3"}),
    ("au", lambda r: r in {"ap-southeast-2", "ap-southeast-4", "ap-southeast-6"}),
    ("ca", lambda r: r in {"ca-central-1", "ca-west-1"}),
    ("us-gov", lambda r: r.startswith("us-gov-")),
    (
        "us",
        lambda r: (r.startswith("us-") and not r.startswith("us-gov-")) or r in {"ca-central-1", "ca-west-1"},
    ),
    ("eu", lambda r: r.startswith("eu-")),
    ("apac", lambda r: r.startswith("ap-") or r == "me-central-1"),
)


def geography_of(region: str) -> str | None:
    """The cross-region profile prefix that serves a Region (``us-east-1`` -> ``us``)."""
    return next((g for prefix, g in _REGION_GEOGRAPHY if region.startswith(prefix)), None)


def geography_of_regions(regions: Iterable[str]) -> str:
    """The system profile prefix whose Regions hold every one of ``regions``; ``global`` when no
    geography does (a global profile routes to all commercial Regions)."""
    wanted = set(regions)
    return next((g for g, holds in _GEOGRAPHY_REGIONS if all(holds(r) for r in wanted)), "global")


def is_application_profile(model_id: str) -> bool:
    """An application inference profile, by ARN or by its id (the last ARN segment)."""
    return bool(APPLICATION_PROFILE.match(model_id) or _PROFILE_ID.match(model_id))


def metric_model_id(model_id: str) -> str:
    """The value of the ``AWS/Bedrock`` ``ModelId`` dimension for a model id: an application
    inference profile's id (the last segment of its ARN), never its ARN; anything else unchanged
    (inference-profiles.json, ``cloudwatch_modelid_dimension``)."""
    if APPLICATION_PROFILE.match(model_id):
        return model_id.rsplit("/", 1)[1]
    return model_id


def underlying_model(model_arns: list[str]) -> str:
    """The model id whose quotas an application inference profile consumes.

    A profile copied from a foundation model lists that model in one Region: its on-demand id.
    A profile copied from a system-defined cross-region profile lists the model in each Region it
    routes to: the geography whose Regions hold them all (``us.``, ``eu.``, ``apac.``, ``jp.``,
    ``au.``, ``ca.``), else ``global.``. A profile ARN among the models names that profile.
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
    return f"{geography_of_regions(regions)}.{model}"


def pressure_threshold(quota_value: float, percent: float) -> int:
    """``floor(quota x percent / 100)``, never below 1 (a threshold of 0 would always fire).

    Decimal arithmetic, so 0.8 x 1,000,000 is exactly 800,000 (binary floats would floor it to
    799,999)."""
    exact = Decimal(repr(float(quota_value))) * Decimal(repr(float(percent))) / Decimal(100)
    return max(1, int(exact.to_integral_value(rounding=ROUND_FLOOR)))
