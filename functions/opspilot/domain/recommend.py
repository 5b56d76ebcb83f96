"""Recommendations for people, each with the numbers it rests on. Never acted on automatically.

Each rule is a small function of the evidence; the thresholds below are the documented defaults
(docs/decisions.md). A rule that lacks the figures it needs stays silent rather than guess.
"""

from __future__ import annotations

from statistics import median

from opspilot.domain.format import number
from opspilot.domain.model import (
    Category,
    Environment,
    Incident,
    QuotaContext,
    Recommendation,
    Scenario,
    UsageSummary,
)
from opspilot.domain.quotas import geography_of, is_application_profile, parse_model_id

PROMPT_CACHING_MIN_INPUT_TOKENS = 2000  # average input tokens per request
PROMPT_CACHING_MIN_INPUT_OUTPUT_RATIO = 4.0
MAX_TOKENS_ESTIMATE_RATIO = 2.0  # estimated quota usage / tokens actually processed
LOOP_INVOCATION_JUMP = 2.0  # the latest day's requests / the median day's
LOOP_TOKENS_PER_REQUEST_DROP = 0.5  # the latest day's tokens per request / the median day's


def _profile(incident: Incident, quotas: QuotaContext, scenario: Scenario) -> Recommendation | None:
    under_pressure = scenario is Scenario.HIGH_USAGE or any(
        s.metric.name == "InvocationThrottles" for s in incident.signals
    )
    if not under_pressure:
        return None
    evidence = {q.kind: {"quota": q.quota_code, "value": q.value} for q in quotas.quotas}
    if is_application_profile(incident.model_id):  # the quota's inference type says what it uses
        kinds = {q.inference_type for q in quotas.quotas}
        inference_type = kinds.pop() if len(kinds) == 1 else "unknown"
    else:
        inference_type = parse_model_id(incident.model_id).inference_type
    if inference_type == "on_demand":
        geography = geography_of(incident.region)
        example = f" (here: {geography}.<model id>)" if geography else ""
        return Recommendation(
            code="use_cross_region_profile",
            text=f"{incident.model_id} runs on a single-region on-demand quota. A cross-region inference "
            f"profile{example} draws on its own, separate cross-region quota and spreads load across "
            "Regions.",
            evidence=evidence,
        )
    if inference_type == "cross_region":
        return Recommendation(
            code="consider_global_profile",
            text=f"{incident.model_id} is a geographic cross-region profile under pressure. Where data "
            "residency allows, a global inference profile has its own quota and routes across all "
            "commercial Regions.",
            evidence=evidence,
        )
    return None


def _prompt_caching(usage: UsageSummary) -> Recommendation | None:
    tin, tout = usage.avg_input_tokens, usage.avg_output_tokens
    if tin is None or tin < PROMPT_CACHING_MIN_INPUT_TOKENS:
        return None
    if tout and tin / tout < PROMPT_CACHING_MIN_INPUT_OUTPUT_RATIO:
        return None
    return Recommendation(
        code="prompt_caching",
        text=f"Requests carry {number(tin)} input tokens on average against {number(tout or 0)} output "
        "tokens. If a large part of each prompt repeats (system prompt, documents, tools), prompt "
        "caching cuts the tokens billed and counted against the quota.",
        evidence={"avg_input_tokens": tin, "avg_output_tokens": tout},
    )


def _max_tokens(usage: UsageSummary) -> Recommendation | None:
    estimated, generated = usage.peak_tpm, usage.peak_generated_tpm
    if usage.tpm_source != "EstimatedTPMQuotaUsage" or not estimated or not generated:
        return None
    ratio = estimated / generated
    if ratio < MAX_TOKENS_ESTIMATE_RATIO:
        return None
    return Recommendation(
        code="tune_max_tokens",
        text=f"The estimated TPM quota usage peaks at {number(estimated)}, {ratio:.1f}x the tokens actually "
        f"processed ({number(generated)}). Bedrock reserves quota for max_tokens up front: setting "
        "max_tokens close to the real output length frees quota without any increase.",
        evidence={"peak_estimated_tpm": estimated, "peak_processed_tpm": generated, "ratio": round(ratio, 2)},
    )


def _request_loop(usage: UsageSummary) -> Recommendation | None:
    days, per_request = usage.daily_invocations, usage.daily_tokens_per_request
    if len(days) < 4 or len(per_request) != len(days) or not days[-1]:
        return None
    baseline_requests = median(d for d in days[:-1])
    baseline_tokens = [t for t in per_request[:-1] if t is not None]
    latest_tokens = per_request[-1]
    if not baseline_requests or not baseline_tokens or latest_tokens is None:
        return None
    jump = days[-1] / baseline_requests
    drop = latest_tokens / median(baseline_tokens)
    if jump < LOOP_INVOCATION_JUMP or drop > LOOP_TOKENS_PER_REQUEST_DROP:
        return None
    return Recommendation(
        code="suspect_request_loop",
        text=f"Requests in the last 24 hours are {jump:.1f}x the usual day while tokens per request fell to "
        f"{drop:.0%} of usual. That pattern suggests a retry loop, an agent stuck in a cycle, or abuse: "
        "check the callers before asking for more quota.",
        evidence={
            "requests_last_24h": days[-1],
            "median_daily_requests": baseline_requests,
            "tokens_per_request_last_24h": latest_tokens,
            "median_tokens_per_request": median(baseline_tokens),
        },
    )


def _experimentation(incident: Incident) -> Recommendation | None:
    if (
        incident.environment is not Environment.EXPERIMENTATION
        or incident.category is not Category.QUOTA_PRESSURE
    ):
        return None
    return Recommendation(
        code="separate_experimentation_traffic",
        text="An experimentation workload is pressing on this model's quota, which production shares in "
        "this account and Region. Give experiments their own account (quotas are per account) or at "
        "least their own application inference profile so their usage is visible and can be capped.",
        evidence={"environment": incident.environment.value, "owner": incident.owner},
    )


def _traffic_drop(incident: Incident, usage: UsageSummary) -> Recommendation | None:
    """Requests or tokens below the alarm's threshold or band: the callers, not the quota."""
    drops = [s for s in incident.signals if s.category is Category.TRAFFIC_DROP]
    if not drops:
        return None
    evidence: dict[str, object] = {"alarms": [s.alarm_name for s in drops]}
    if usage.steady_rpm is not None:
        evidence["steady_rpm_14d"] = usage.steady_rpm
    return Recommendation(
        code="investigate_traffic_drop",
        text=f"Traffic to {incident.model_id} fell below what {drops[0].alarm_name} expects. Check the "
        "callers before anything else: a client outage, a deployment that broke or stopped the calls, "
        "a routing, credentials or endpoint change. A quota change would not bring the traffic back.",
        evidence=evidence,
    )


def recommend(
    incident: Incident, usage: UsageSummary, quotas: QuotaContext, scenario: Scenario
) -> list[Recommendation]:
    found = [
        _traffic_drop(incident, usage),
        _profile(incident, quotas, scenario),
        _prompt_caching(usage),
        _max_tokens(usage),
        _request_loop(usage),
        _experimentation(incident),
    ]
    return [r for r in found if r is not None]
