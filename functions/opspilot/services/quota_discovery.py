"""Quota discovery: which Bedrock quotas govern a model, from what AWS returns at run time.

One function for the workflow's Gather Quotas, the alarm sync's callers and ``opspilot quotas
resolve``: an application inference profile is resolved to what it routes to (GetInferenceProfile),
the foundation model's names are read (GetFoundationModel), and the account's Bedrock quotas
(ListServiceQuotas) are matched by name (``domain/quota_resolver.py``). The AWS calls are passed
in, so the CLI can answer them from the shared catalog offline with the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opspilot.domain.quota_resolver import ListedQuota, ModelFacts, Resolution, base_model_id, resolve
from opspilot.domain.quotas import is_application_profile, underlying_model


@dataclass(frozen=True)
class DiscoveryCalls:
    """``profile_models(arn) -> [model ARNs]``, ``foundation_model(id) -> modelDetails`` and
    ``list_quotas() -> ListServiceQuotas Quotas``."""

    profile_models: Callable[[str], list[str]]
    foundation_model: Callable[[str], Mapping[str, Any]]
    list_quotas: Callable[[], Sequence[Mapping[str, Any]]]


def listed_quotas(raw: Sequence[Mapping[str, Any]]) -> list[ListedQuota]:
    """ListServiceQuotas entries as the resolver reads them. ``Value`` is optional in the API: a
    quota without one is kept, with its value unknown."""
    out = []
    for q in raw:
        value = q.get("Value")
        out.append(
            ListedQuota(
                code=str(q["QuotaCode"]),
                name=str(q.get("QuotaName") or ""),
                value=float(value) if value is not None else None,
                adjustable=bool(q.get("Adjustable", False)),
            )
        )
    return out


def quota_model(model_id: str, calls: DiscoveryCalls) -> str:
    """The id whose quotas a model id consumes: an application inference profile's routing
    (``us.X``, ``global.X`` or ``X``), anything else itself."""
    if not is_application_profile(model_id):
        return model_id
    return underlying_model(calls.profile_models(model_id))


def describe(model_id: str, calls: DiscoveryCalls) -> ModelFacts:
    """The facts names are matched on: the id whose quotas apply, and the foundation model's
    ``providerName`` / ``modelName``."""
    quota_id = quota_model(model_id, calls)
    details = calls.foundation_model(base_model_id(quota_id))
    return ModelFacts(quota_id, details.get("providerName"), details.get("modelName"))


def discover(
    model_id: str,
    calls: DiscoveryCalls,
    overrides: Mapping[str, str] | None = None,
    listed: Sequence[ListedQuota] | None = None,
) -> Resolution:
    """Resolve the quotas of ``model_id`` (pass ``listed`` to reuse one ListServiceQuotas)."""
    facts = describe(model_id, calls)
    quotas = listed if listed is not None else listed_quotas(calls.list_quotas())
    return resolve(facts, quotas, dict(overrides or {}))
