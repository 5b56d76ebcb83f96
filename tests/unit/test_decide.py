"""Thresholds, the forecast, the scenario and the planned actions under the bundled default policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from opspilot.domain.decide import (
    DecisionSettings,
    days_until_reached,
    decide_scenario,
    desired_value,
    plan_actions,
    threshold,
)
from opspilot.domain.model import (
    ActionType,
    Category,
    Environment,
    Incident,
    PendingRequest,
    Plan,
    QuotaContext,
    QuotaInfo,
    QuotaScope,
    Scenario,
    Severity,
    Signal,
    SupportContext,
    UsageSummary,
)
from opspilot.domain.policy import load_policy

MakeIncident = Callable[..., Incident]
MakeUsage = Callable[..., UsageSummary]
MakeQuotas = Callable[..., QuotaContext]

RPM_CODE, TPM_CODE = "L-3D8CC480", "L-6E888CC2"  # as in conftest.make_quotas
SETTINGS = DecisionSettings(threshold_percent=80, increase_percent=50, approval_timeout_seconds=86400)
BUSINESS = SupportContext(plan="business_or_enterprise")
# With the default quotas (RPM 250, TPM 2,000,000) at 80 %: thresholds 200 RPM and 1,600,000 TPM.
HIGH = {"peak_rpm": 200.0}  # exactly at the RPM threshold
LOW = {"peak_rpm": 199.0, "peak_tpm": 1_599_999.0}  # one below each threshold
NEW = {"datapoints": 0, "steady_rpm": None, "peak_rpm": None, "steady_tpm": None, "peak_tpm": None}


@pytest.mark.parametrize(
    ("quota", "percent", "expected"),
    [
        (250, 80, 200),
        (2_000_000, 80, 1_600_000),
        (333, 80, 266),  # 266.4
        (10, 75, 7),  # 7.5
        (7, 12.5, 1),  # 0.875, but never below 1: a threshold of 0 would always fire
        (100, 100, 100),
        (400, 1, 4),
    ],
)
def test_threshold_is_floor_of_quota_times_percent(quota: float, percent: float, expected: int) -> None:
    assert threshold(quota, percent) == expected


@pytest.mark.parametrize(
    ("current", "percent", "maximum", "expected"),
    [
        (250, 50, None, 375),
        (200, 50, None, 300),
        (333, 50, None, 500),  # 499.5 rounds up
        (3, 50, None, 5),  # 4.5 rounds up
        (2_000_000, 25, None, 2_500_000),
        (250, 20, None, 300),
        (200, 15, None, 230),
        (300, 10, None, 330),
        (200, 50, 250, 250),  # capped at the quota's maximum
        (200, 50, 300, 300),
        (200, 50, 10_000, 300),  # a maximum above the target changes nothing
        (100, 10, None, 110),
        (50, 10, None, 55),
        (400_000, 10, None, 440_000),
    ],
)
def test_desired_value_is_ceil_of_the_increase_capped_at_maximum(
    current: float, percent: float, maximum: float | None, expected: float
) -> None:
    assert desired_value(current, percent, maximum) == expected


@pytest.mark.parametrize(
    ("daily_peaks", "quota", "expected"),
    [
        ([100, 200, 300, 400], 1000, 6.0),  # +100 a day from 400
        ([10, 20, 30, 40, 50], 100, 5.0),
        ([100, 300, 200, 400], 1000, 7.5),  # least-squares slope 80, from the latest peak 400
        ([100, 100, 100], 1000, None),  # flat: not growing
        ([400, 300, 200], 1000, None),  # falling
        ([100, 200, 1000], 1000, 0),  # latest already at the quota
        ([100, 1200], 1000, 0),  # latest above the quota
        ([1200], 1000, None),  # fewer than two days
        ([], 1000, None),
    ],
)
def test_days_until_reached(daily_peaks: list[float], quota: float, expected: float | None) -> None:
    assert days_until_reached(daily_peaks, quota) == expected


def test_non_quota_scope_is_non_quota_whatever_the_usage(
    make_incident: MakeIncident, make_usage: MakeUsage, make_quotas: MakeQuotas
) -> None:
    incident = make_incident(category=Category.FAILURE, quota_scope=QuotaScope.NONE)

    scenario, _ = decide_scenario(incident, make_usage(peak_rpm=250.0), make_quotas(), 80)

    assert scenario is Scenario.NON_QUOTA


@pytest.mark.parametrize(
    ("usage", "quotas", "why"),
    [
        (NEW, {}, "no usage history"),
        ({}, {"unknown_reason": "ListServiceQuotas: AccessDeniedException"}, "AccessDeniedException"),
        ({}, {"rpm": None, "tpm": None}, "no usable quota or usage figure"),
        ({"peak_tpm": None}, {"rpm": None}, "no usable quota or usage figure"),
    ],
    ids=["no-datapoints", "quotas-unreadable", "no-quota-found", "no-figure-for-the-quota-found"],
)
def test_new_model_when_history_or_quotas_are_unknown(
    make_incident: MakeIncident,
    make_usage: MakeUsage,
    make_quotas: MakeQuotas,
    usage: dict[str, Any],
    quotas: dict[str, Any],
    why: str,
) -> None:
    scenario, evidence = decide_scenario(make_incident(), make_usage(**usage), make_quotas(**quotas), 80)

    assert scenario is Scenario.NEW_MODEL
    assert why in evidence["why"]


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"peak_rpm": 200.0}, Scenario.HIGH_USAGE),  # == RPM threshold: inclusive
        ({"peak_rpm": 199.0}, Scenario.LOW_USAGE),
        ({"peak_tpm": 1_600_000.0}, Scenario.HIGH_USAGE),  # == TPM threshold
        ({"peak_tpm": 1_599_999.0}, Scenario.LOW_USAGE),
        ({"peak_rpm": 199.0, "peak_tpm": 1_600_000.0}, Scenario.HIGH_USAGE),  # either quota suffices
        ({"peak_rpm": None, "peak_tpm": 1_600_000.0}, Scenario.HIGH_USAGE),  # unknown figure skipped
    ],
)
def test_high_usage_threshold_is_inclusive(
    make_incident: MakeIncident,
    make_usage: MakeUsage,
    make_quotas: MakeQuotas,
    usage: dict[str, Any],
    expected: Scenario,
) -> None:
    scenario, _ = decide_scenario(
        make_incident(quota_scope=QuotaScope.BOTH), make_usage(**usage), make_quotas(), 80
    )

    assert scenario is expected


def test_scenario_evidence_names_quota_threshold_and_peak(
    make_incident: MakeIncident, make_usage: MakeUsage, make_quotas: MakeQuotas
) -> None:
    _, evidence = decide_scenario(
        make_incident(), make_usage(peak_rpm=200.0, peak_tpm=500_000.0), make_quotas(), 80
    )

    assert evidence == {
        "threshold_percent": 80,
        "rpm_quota": 250,
        "rpm_threshold": 200,
        "peak_rpm": 200.0,
        "tpm_quota": 2_000_000,
        "tpm_threshold": 1_600_000,
        "peak_tpm": 500_000.0,
    }


@pytest.mark.parametrize(
    ("scope", "usage"),
    [
        (QuotaScope.RPM, {"peak_rpm": 100.0, "peak_tpm": 1_600_000.0}),
        (QuotaScope.TPM, {"peak_rpm": 200.0, "peak_tpm": 500_000.0}),
    ],
)
def test_scenario_judges_only_the_quota_the_signal_is_about(
    make_incident: MakeIncident,
    make_usage: MakeUsage,
    make_quotas: MakeQuotas,
    scope: QuotaScope,
    usage: dict[str, Any],
) -> None:
    incident = make_incident(quota_scope=scope, severity=Severity.WARNING)

    plan = plan_actions(incident, make_usage(**usage), make_quotas(), BUSINESS, load_policy(), SETTINGS)

    assert plan.scenario is Scenario.LOW_USAGE
    assert plan.approval_required is True


def _plan(
    incident: Incident,
    usage: UsageSummary,
    quotas: QuotaContext,
    increase_percent: float = 50,
) -> Plan:
    settings = DecisionSettings(
        threshold_percent=80, increase_percent=increase_percent, approval_timeout_seconds=3600
    )
    return plan_actions(incident, usage, quotas, BUSINESS, load_policy(), settings)


RPM_REQUEST, TPM_REQUEST = f"request_quota_increase:{RPM_CODE}", f"request_quota_increase:{TPM_CODE}"
INVESTIGATION = "open_support_case:investigation"


@pytest.mark.parametrize(
    ("environment", "usage", "increase", "rule", "approval", "actions"),
    [
        (Environment.EXPERIMENTATION, HIGH, 50, "experimentation-recommend-only", False, []),
        (Environment.EXPERIMENTATION, LOW, 50, "experimentation-recommend-only", False, []),
        # TPM peak 500,000 of 2,000,000: the governor requests RPM only
        (Environment.PILOT, HIGH, 50, "pilot-approve-every-change", True, [RPM_REQUEST]),
        (Environment.PILOT, LOW, 50, "pilot-approve-every-change", True, [RPM_REQUEST, TPM_REQUEST]),
        # no usage figure to size a request from: nothing is requested, so nothing to approve
        (Environment.PILOT, NEW, 50, "pilot-approve-every-change", False, []),
        (Environment.PRODUCTION, HIGH, 50, "production-high-usage-within-guardrails", False, [RPM_REQUEST]),
        (Environment.PRODUCTION, HIGH, 20, "production-high-usage-within-guardrails", False, [RPM_REQUEST]),
        # the evidence needs 377 of 250 (+50.8 %), inside IncreasePercent 51 but above the guardrail
        (
            Environment.PRODUCTION,
            {"peak_rpm": 251.0},
            51,
            "production-high-usage-within-guardrails",
            True,
            [RPM_REQUEST],
        ),
        (Environment.PRODUCTION, LOW, 50, "production-low-usage-investigate-first", True, [INVESTIGATION]),
        (Environment.PRODUCTION, NEW, 50, "production-new-model", False, []),
    ],
    ids=[
        "experimentation-high",
        "experimentation-low",
        "pilot-high",
        "pilot-low",
        "pilot-new-model",
        "production-high-at-guardrail",
        "production-high-within-guardrail",
        "production-high-above-guardrail",
        "production-low",
        "production-new-model",
    ],
)
def test_plan_per_environment_with_the_default_policy(
    make_incident: MakeIncident,
    make_usage: MakeUsage,
    make_quotas: MakeQuotas,
    environment: Environment,
    usage: dict[str, Any],
    increase: float,
    rule: str,
    approval: bool,
    actions: list[str],
) -> None:
    plan = _plan(make_incident(environment=environment), make_usage(**usage), make_quotas(), increase)

    assert plan.rule == rule
    assert plan.approval_required is approval
    assert [a.action_id for a in plan.actions] == actions
    assert plan.approval_timeout_seconds == 3600


def test_experimentation_still_says_what_it_would_do(
    make_incident: MakeIncident, make_usage: MakeUsage, make_quotas: MakeQuotas
) -> None:
    plan = _plan(make_incident(environment=Environment.EXPERIMENTATION), make_usage(**HIGH), make_quotas())

    assert plan.scenario is Scenario.HIGH_USAGE
    assert plan.summary == "Experimentation never requests quota: notify with recommendations."


def test_new_model_without_any_known_quota_plans_nothing_and_needs_no_approval(
    make_incident: MakeIncident, make_usage: MakeUsage, make_quotas: MakeQuotas
) -> None:
    quotas = make_quotas(rpm=None, tpm=None, unknown_reason="no RPM/TPM quota found for the model")

    plan = _plan(make_incident(environment=Environment.PRODUCTION), make_usage(), quotas)

    assert (plan.scenario, plan.rule, plan.actions, plan.approval_required) == (
        Scenario.NEW_MODEL,
        "production-new-model",
        [],
        False,
    )


@pytest.mark.parametrize(
    ("scope", "codes"),
    [
        (QuotaScope.RPM, [RPM_CODE]),
        (QuotaScope.TPM, [TPM_CODE]),
        (QuotaScope.BOTH, [RPM_CODE, TPM_CODE]),
    ],
)
def test_quota_scope_selects_the_quota_actions(
    make_incident: MakeIncident,
    make_usage: MakeUsage,
    make_quotas: MakeQuotas,
    scope: QuotaScope,
    codes: list[str],
) -> None:
    plan = _plan(
        make_incident(environment=Environment.PILOT, quota_scope=scope),
        make_usage(peak_rpm=200.0, peak_tpm=1_600_000.0),
        make_quotas(),
    )

    assert [a.action_id for a in plan.actions] == [f"request_quota_increase:{code}" for code in codes]


def test_quota_action_params_are_exactly_the_service_quotas_request(
    make_incident: MakeIncident, make_usage: MakeUsage, make_quotas: MakeQuotas
) -> None:
    usage = make_usage(peak_rpm=200.0, peak_tpm=1_700_000.0)
    plan = _plan(make_incident(environment=Environment.PRODUCTION), usage, make_quotas())

    # the peak needs quota / 0.8 x 1.2: 200 -> 300, 1,700,000 -> 2,550,000
    assert [a.params for a in plan.actions] == [
        {"ServiceCode": "bedrock", "QuotaCode": RPM_CODE, "DesiredValue": 300.0, "SupportCaseAllowed": True},
        {
            "ServiceCode": "bedrock",
            "QuotaCode": TPM_CODE,
            "DesiredValue": 2_550_000.0,
            "SupportCaseAllowed": True,
        },
    ]
    assert plan.actions[0].reason.endswith(
        "RPM quota 250 -> 300 (+20%): peak 200 needs 300 to stay 20% below the 80% threshold."
    )


@pytest.mark.parametrize(
    ("tpm", "before", "after"), [(2_000_000, "2000000", "3000000"), (1_234_567, "1234567", "1851851")]
)
def test_quota_action_reason_shows_the_whole_numbers(
    make_incident: MakeIncident,
    make_usage: MakeUsage,
    make_quotas: MakeQuotas,
    tpm: float,
    before: str,
    after: str,
) -> None:
    incident = make_incident(environment=Environment.PILOT, quota_scope=QuotaScope.TPM)

    plan = _plan(incident, make_usage(peak_tpm=tpm * 2), make_quotas(tpm=tpm))  # capped at +50 %

    [action] = plan.actions
    assert f"TPM quota {before} -> {after} (+50%): " in action.reason.replace(",", "")
    assert action.reason.endswith("threshold, capped at the +50% increase.")


@pytest.mark.parametrize(
    ("environment", "severity", "severity_code"),
    [
        (Environment.PRODUCTION, Severity.CRITICAL, "high"),
        (Environment.PILOT, Severity.WARNING, "normal"),
    ],
)
def test_non_quota_failure_plans_an_investigation_case(
    make_incident: MakeIncident,
    make_usage: MakeUsage,
    make_quotas: MakeQuotas,
    environment: Environment,
    severity: Severity,
    severity_code: str,
) -> None:
    incident = make_incident(
        environment=environment,
        category=Category.FAILURE,
        severity=severity,
        quota_scope=QuotaScope.NONE,
        model_id="anthropic.claude-3-5-sonnet-20240620-v1:0",
        alarm_name="opspilot-claude-3-5-sonnet-server-errors",
    )

    plan = _plan(incident, make_usage(server_errors=26.0), make_quotas())

    # production opens the case at once (AWS-side failure, deduplicated, rate-limited); pilot asks
    production = environment is Environment.PRODUCTION
    assert (plan.scenario, plan.rule, plan.approval_required) == (
        Scenario.NON_QUOTA,
        "production-failure-investigate" if production else "failure-investigate",
        not production,
    )
    [action] = plan.actions
    assert action.type is ActionType.OPEN_SUPPORT_CASE
    assert action.action_id == "open_support_case:investigation"
    assert action.params["subject"] == (
        "[OpsPilot] investigation: anthropic.claude-3-5-sonnet-20240620-v1:0 in us-east-1"
    )
    assert action.params["severityCode"] == severity_code
    assert action.params["serviceCode"] == "amazon-bedrock"
    body = action.params["communicationBody"]
    assert "  - opspilot-claude-3-5-sonnet-server-errors: " in body  # each triggering alarm listed
    assert "Server errors / throttles (14 days): 26 / 0" in body
    assert "(inference type: on-demand)" in body
    assert f"incident {incident.incident_id}" in body


def test_experimentation_never_opens_a_case_either(
    make_incident: MakeIncident, make_usage: MakeUsage, make_quotas: MakeQuotas
) -> None:
    incident = make_incident(
        environment=Environment.EXPERIMENTATION, category=Category.FAILURE, quota_scope=QuotaScope.NONE
    )

    plan = _plan(incident, make_usage(), make_quotas())

    assert (plan.scenario, plan.rule, plan.actions) == (
        Scenario.NON_QUOTA,
        "experimentation-recommend-only",
        [],
    )


@pytest.mark.parametrize(
    ("daily_peak_rpm", "forecast"),
    [
        ([100.0, 150.0, 200.0], "quota reached in 1 days at the current trend"),
        ([200.0, 200.0, 200.0], "not growing"),
        ([100.0, 260.0], "quota already reached"),
    ],
)
def test_plan_evidence_carries_the_forecast(
    make_incident: MakeIncident,
    make_usage: MakeUsage,
    make_quotas: MakeQuotas,
    daily_peak_rpm: list[float],
    forecast: str,
) -> None:
    plan = _plan(make_incident(), make_usage(daily_peak_rpm=daily_peak_rpm), make_quotas())

    assert plan.evidence["forecast"] == {"rpm": forecast}
    assert plan.evidence["support_plan"] == "business_or_enterprise"


@pytest.mark.parametrize("environment", list(Environment))
def test_a_traffic_drop_requests_nothing_and_says_where_to_look(
    make_incident: MakeIncident, make_usage: MakeUsage, make_quotas: MakeQuotas, environment: Environment
) -> None:
    drop = make_incident(
        environment=environment,
        category=Category.TRAFFIC_DROP,
        severity=Severity.WARNING,
        quota_scope=QuotaScope.NONE,
        alarm_name="opspilot-nova-lite-invocations-anomaly",
    )

    plan = _plan(drop, make_usage(**HIGH), make_quotas())

    assert (plan.scenario, plan.rule, plan.actions, plan.approval_required) == (
        Scenario.NON_QUOTA,
        "traffic-drop-investigate",
        [],
        False,
    )
    [advice] = [r for r in plan.recommendations if r.code == "investigate_traffic_drop"]
    assert "a client outage, a deployment that broke or stopped the calls" in advice.text
    assert advice.evidence["alarms"] == ["opspilot-nova-lite-invocations-anomaly"]


def test_no_quota_is_requested_for_a_signal_without_quota_scope_whatever_the_policy(
    make_incident: MakeIncident, make_usage: MakeUsage, make_quotas: MakeQuotas
) -> None:
    """A custom policy that asks for quota on everything still asks nothing for a traffic drop."""
    greedy = load_policy(
        '{"version": 1, "guardrails": {"max_auto_increase_percent": 50}, "rules": [{"name": "always-more",'
        ' "when": {}, "actions": ["request_quota_increase"], "approval": "not_required", "summary": "more"}]}'
    )
    drop = make_incident(
        category=Category.TRAFFIC_DROP, severity=Severity.WARNING, quota_scope=QuotaScope.NONE
    )

    plan = plan_actions(drop, make_usage(**HIGH), make_quotas(), BUSINESS, greedy, SETTINGS)

    assert (plan.rule, plan.actions) == ("always-more", [])


# Amazon Nova Pro's quotas, names and codes as the shared catalog lists them
NOVA = "amazon.nova-pro-v1:0"
NOVA_TPD = QuotaInfo(
    kind="tpd",
    quota_code="L-D690997B",
    quota_name="Model invocation max tokens per day for Amazon Nova Pro (doubled for cross-region calls)",
    value=10_000_000,
    adjustable=True,
    doubled_for_cross_region=True,
)
NOVA_XR_TPM = QuotaInfo(
    kind="tpm",
    quota_code="L-C0326783",
    quota_name="Cross-region model inference tokens per minute for Amazon Nova Pro",
    value=800_000,
    adjustable=True,
    inference_type="cross_region",
)


def _daily_plan(
    make_incident: MakeIncident,
    make_usage: MakeUsage,
    tokens_today: float,
    *,
    model_id: str = NOVA,
    tpd: QuotaInfo = NOVA_TPD,
    via: QuotaInfo | None = NOVA_XR_TPM,
    history: list[PendingRequest] | None = None,
) -> Plan:
    incident = make_incident(model_id=model_id, quota_scope=QuotaScope.TPD, severity=Severity.WARNING)
    usage = make_usage(
        model_id=model_id, tokens_today=tokens_today, daily_token_totals=[8_000_000.0] * 7
    )  # a flat week: no forecast, the peak alone sizes the request
    quotas = QuotaContext(
        quotas=[tpd],
        request_quota=via,
        history=history or [],
        pending_requests=[r for r in history or [] if r.status == "PENDING"],
    )
    return _plan(incident, usage, quotas)


def test_a_daily_quota_filed_on_the_cross_region_tpm_quota_is_sized_by_the_governor(
    make_incident: MakeIncident, make_usage: MakeUsage
) -> None:
    plan = _daily_plan(make_incident, make_usage, tokens_today=8_500_000)

    (action,) = plan.actions
    # the daily quota needs 8,500,000 / 0.8 x 1.2 = 12,750,000 (+27.5 %): the request filed on the
    # cross-Region TPM quota asks the same proportion, not the policy's +50 % (1,200,000)
    assert action.params == {
        "ServiceCode": "bedrock",
        "QuotaCode": "L-C0326783",
        "DesiredValue": 1_020_000.0,
        "SupportCaseAllowed": True,
    }
    assert "TPD quota L-D690997B 10,000,000 -> 12,750,000 (peak 8,500,000 needs 12,750,000" in action.reason
    assert "same proportion (+27.5%) on the quota it is filed on" in action.reason


def test_a_daily_request_is_refused_while_one_on_the_quota_it_is_filed_on_is_pending(
    make_incident: MakeIncident, make_usage: MakeUsage
) -> None:
    pending = PendingRequest(
        request_id="req-1",
        quota_code="L-C0326783",
        desired_value=1_000_000,
        status="PENDING",
        created="2026-11-29T08:00:00+00:00",
    )
    plan = _daily_plan(make_incident, make_usage, tokens_today=8_500_000, history=[pending])

    assert plan.actions == []
    (refusal,) = plan.refusals
    assert (refusal["quota_code"], refusal["reason"]) == ("L-C0326783", "pending_request")
    assert "request req-1 for 1,000,000 is still PENDING" in refusal["text"]


def test_a_cross_region_daily_allowance_is_sized_at_the_value_service_quotas_holds(
    make_incident: MakeIncident, make_usage: MakeUsage
) -> None:
    # a cross-Region profile may use twice the listed value: 17,000,000 of 20,000,000 today
    cross = NOVA_TPD.replace(inference_type="cross_region")
    plan = _daily_plan(
        make_incident, make_usage, tokens_today=17_000_000, model_id=f"us.{NOVA}", tpd=cross, via=None
    )

    (action,) = plan.actions
    # 17,000,000 / 2 / 0.8 x 1.2 = 12,750,000 of the listed value (not 25,500,000 capped at +50 %)
    assert (action.params["QuotaCode"], action.params["DesiredValue"]) == ("L-D690997B", 12_750_000.0)


@pytest.mark.parametrize(
    ("as_of", "tokens_today", "forecast"),
    [
        # five minutes past midnight UTC: the one-day alarm's 9,500,000 are mostly yesterday's;
        # at its rate (about 6,597 a minute) today's 10,000,000 are not reached before midnight
        ("2026-12-06T00:05:00+00:00", 0.0, "daily quota not reached today at the alarm's rate"),
        # noon with 6,000,000 already today: today's rate (8,333 a minute) is the higher one
        ("2026-12-06T12:00:00+00:00", 6_000_000.0, "daily quota reached at 20:00 UTC at today's rate"),
    ],
)
def test_the_daily_forecast_takes_the_higher_of_todays_rate_and_the_daily_alarms(
    make_incident: MakeIncident,
    make_usage: MakeUsage,
    make_signal: Callable[..., Signal],
    as_of: str,
    tokens_today: float,
    forecast: str,
) -> None:
    daily_alarm = make_signal(
        "opspilot-nova-daily-tokens",
        Category.QUOTA_PRESSURE,
        Severity.WARNING,
        QuotaScope.TPD,
        metric="EstimatedTPMQuotaUsage",
        model_id=NOVA,
        period=86400,
        reason="Threshold Crossed: 1 datapoint [9500000.0] was >= 8000000.0",
        observed_per_minute=9_500_000 / 1440,
    )
    incident = make_incident(model_id=NOVA, quota_scope=QuotaScope.TPD, signals=[daily_alarm])
    usage = make_usage(
        model_id=NOVA, tokens_today=tokens_today, daily_token_totals=[8_000_000.0] * 7, as_of=as_of
    )
    plan = _plan(incident, usage, QuotaContext(quotas=[NOVA_TPD], request_quota=NOVA_XR_TPM))

    assert plan.evidence["forecast"]["tpd"] == forecast
    assert plan.evidence["tokens_today"] == 9_500_000  # the decision still rests on the alarm's figure
