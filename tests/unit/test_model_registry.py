"""Model registry entries: what is refused on write, with the field named."""

from __future__ import annotations

from typing import Any

import pytest

from opspilot.domain.registry import RegistryError, validate_entry

NOVA = {
    "model_id": "amazon.nova-pro-v1:0",
    "display_name": "Nova Pro",
    "environment": "production",
    "owner": "claims",
}
PROFILE = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
QUOTAS = {
    "L-F2717A44": "On-demand model inference requests per minute for Amazon Nova Pro",
    "L-CE33604C": "On-demand model inference tokens per minute for Amazon Nova Pro",
}


def entry(**changes: Any) -> dict[str, Any]:
    return {**NOVA, **changes}


def refused(raw: dict[str, Any], **context: Any) -> RegistryError:
    with pytest.raises(RegistryError) as caught:
        validate_entry(raw, **context)
    return caught.value


@pytest.mark.parametrize(
    ("raw", "field", "says"),
    [
        (entry(model_id="acme.super-model-v1:0"), "model_id", "unknown model prefix 'acme'"),
        (
            entry(model_id="xx.anthropic.claude-3-haiku-20240307-v1:0"),
            "model_id",
            "unknown model prefix 'xx'",
        ),
        (entry(model_id="us.nova"), "model_id", "must be followed by a model id"),
        (entry(model_id="novapro"), "model_id", "is not a model id"),
        (entry(model_id=PROFILE), "source_model_id", "required for an application inference profile"),
        (entry(model_id=PROFILE, source_model_id="acme.x-v1"), "source_model_id", "unknown model prefix"),
        (entry(source_model_id="amazon.nova-lite-v1:0"), "source_model_id", "only an application"),
        (entry(rpm_threshold_percent=0), "rpm_threshold_percent", "more than 0 and at most 100"),
        (entry(tpm_threshold_percent=120), "tpm_threshold_percent", "at most 100 (percent), got 120"),
        (entry(increase_percent=1500), "increase_percent", "at most 1000"),
        (entry(rpm_threshold_percent="eighty"), "rpm_threshold_percent", "must be a number, got a string"),
        (
            entry(environment="staging"),
            "environment",
            "'experimentation', got 'staging'",
        ),
        (entry(owner="claims; drop table"), "owner", "becomes a tag"),
        # lower-case hex: not a code's shape, in no catalog
        (entry(quota_codes={"rpm": "L-1f3a5c7e"}), "quota_codes.rpm", "is not a quota code"),
        (entry(quota_codes={"rpm": "L-F2717A44", "rps": "L-F2717A44"}), "quota_codes.rps", "unknown field"),
        (entry(notify=["arn:aws:sqs:us-east-1:123456789012:q"]), "notify[0]", "is not an SNS topic ARN"),
        (entry(colour="blue"), "colour", "unknown field"),
        (entry(alarms={"latency-p99": {"threshold": 1}}), "alarms.latency-p99", "unknown alarm kind"),
        (
            entry(alarms={"rpm-pressure": {"threshold": 400}}),
            "alarms.rpm-pressure.threshold",
            "follow the quota",
        ),
        (entry(alarms={"latency-anomaly": {"threshold": 4}}), "alarms.latency-anomaly.threshold", "a band"),
        (entry(alarms={"latency": {"band_width": 3}}), "alarms.latency.band_width", "only anomaly alarms"),
        (entry(alarms={"latency": {"statistic": "median"}}), "alarms.latency.statistic", "not a CloudWatch"),
        (
            entry(alarms={"throttles": {"evaluation_periods": 2, "datapoints_to_alarm": 3}}),
            "alarms.throttles.datapoints_to_alarm",
            "more than evaluation_periods (2)",
        ),
        (
            entry(alarms={"throttles": {"evaluation_periods": 0}}),
            "alarms.throttles.evaluation_periods",
            "must be at least 1, got 0",
        ),
    ],
)
def test_a_bad_entry_is_refused_with_the_field_named(raw: dict[str, Any], field: str, says: str) -> None:
    error = refused(raw)
    assert error.field == field
    assert says in error.message
    assert str(error).startswith(f"field '{field}': ")


@pytest.mark.parametrize(
    ("codes", "field", "says"),
    [
        ({"rpm": "L-00000000"}, "quota_codes.rpm", "unknown quota code L-00000000"),  # in no catalog
        ({"tpm": "L-F2717A44"}, "quota_codes.tpm", "not a tokens per minute quota"),
        ({"rpm": "L-CE33604C"}, "quota_codes.rpm", "not a requests per minute quota"),
    ],
)
def test_quota_code_overrides_must_name_a_listed_quota_of_the_right_kind(
    codes: dict[str, str], field: str, says: str
) -> None:
    error = refused(entry(quota_codes=codes), quotas=QUOTAS)
    assert (error.field, says in error.message) == (field, True)


def test_a_valid_entry_keeps_unset_percents_for_the_stack_defaults() -> None:
    valid = validate_entry(entry(quota_codes={"rpm": "L-F2717A44"}), quotas=QUOTAS)
    assert valid.rpm_threshold_percent is None and valid.quota_codes.rpm == "L-F2717A44"
    assert valid.pool == "amazon.nova-pro-v1:0" and not valid.is_application_profile


def test_an_application_profile_counts_against_its_source_models_quota() -> None:
    profile = validate_entry(entry(model_id=PROFILE, source_model_id="us.amazon.nova-pro-v1:0"))
    assert profile.is_application_profile and profile.pool == "us.amazon.nova-pro-v1:0"


def test_two_models_whose_alarm_names_would_collide_are_refused() -> None:
    first = validate_entry(entry(model_id="amazon.nova-pro-v1:0"))
    error = refused(entry(model_id="amazon.nova-pro-v1-0"), others=[first])
    assert error.field == "model_id" and "collide" in error.message


def test_an_alarm_can_sum_at_most_ten_series_of_one_quota() -> None:
    source = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    profiles = [
        validate_entry(entry(model_id=f"{PROFILE[:-12]}{i:012d}", source_model_id=source)) for i in range(9)
    ]
    error = refused(entry(model_id=f"{PROFILE[:-12]}{99:012d}", source_model_id=source), others=profiles)
    assert error.field == "source_model_id" and "at most 10" in error.message


def test_a_prefix_long_enough_to_overflow_alarm_names_is_refused() -> None:
    error = refused(entry(), alarm_name_prefix="p" * 240)
    assert error.field == "model_id" and "255" in error.message
