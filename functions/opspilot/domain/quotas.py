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
