"""Model ids and Bedrock quota names: inference type, model tokens, and the matching quota code."""

from __future__ import annotations

import pytest

from opspilot.domain.quotas import (
    is_application_profile,
    match_quota,
    metric_model_id,
    parse_model_id,
    underlying_model,
)

# A realistic slice of ListServiceQuotas(ServiceCode="bedrock"), with look-alikes next to each other.
CATALOGUE_NAMES = [
    "On-demand model inference requests per minute for Anthropic Claude 3.5 Sonnet",
    "On-demand model inference tokens per minute for Anthropic Claude 3.5 Sonnet",
    "On-demand model inference requests per minute for Anthropic Claude 3.5 Sonnet V2",
    "On-demand model inference tokens per minute for Anthropic Claude 3.5 Sonnet V2",
    "Cross-region model inference requests per minute for Anthropic Claude 3.5 Sonnet",
    "Cross-region model inference tokens per minute for Anthropic Claude 3.5 Sonnet",
    "Cross-region model inference requests per minute for Anthropic Claude 3.5 Sonnet V2",
    "Cross-region model inference tokens per minute for Anthropic Claude 3.5 Sonnet V2",
    "Cross-region model inference requests per minute for Anthropic Claude 3.7 Sonnet V1",
    "Cross-region model inference tokens per minute for Anthropic Claude 3.7 Sonnet V1",
    "Cross-region model inference requests per minute for Anthropic Claude Sonnet 4 V1",
    "Cross-region model inference tokens per minute for Anthropic Claude Sonnet 4 V1",
    "Global cross-region model inference requests per minute for Anthropic Claude Sonnet 4 V1",
    "Global cross-region model inference tokens per minute for Anthropic Claude Sonnet 4 V1",
    "On-demand model inference requests per minute for Anthropic Claude 3 Haiku",
    "On-demand model inference tokens per minute for Anthropic Claude 3 Haiku",
    "On-demand model inference requests per minute for Amazon Nova Pro",
    "On-demand model inference tokens per minute for Amazon Nova Pro",
    "Model invocation max tokens per day for Anthropic Claude 3.5 Sonnet",
    "Batch inference job size (in GB) for Anthropic Claude 3.5 Sonnet",
]
# The names are AWS's; the codes (L-A1B20000 ...) are in no catalog, on purpose: matching goes by
# name, and numbered codes keep each look-alike apart in the assertions
CATALOGUE = [(f"L-{0xA1B20000 + i:08X}", name) for i, name in enumerate(CATALOGUE_NAMES)]
NAME_OF = dict(CATALOGUE)
GEOGRAPHIES = ["us", "eu", "apac", "jp", "au", "ca", "us-gov"]


def quota_name(model_id: str, kind: str, catalogue: list[tuple[str, str]] = CATALOGUE) -> str | None:
    code = match_quota(model_id, kind, catalogue)
    return NAME_OF[code] if code else None


@pytest.mark.parametrize(
    ("model_id", "inference_type", "provider", "tokens"),
    [
        (
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "on_demand",
            "anthropic",
            {"claude", "3", "5", "sonnet"},
        ),
        (
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "on_demand",
            "anthropic",
            {"claude", "3", "5", "sonnet", "v2"},
        ),
        ("anthropic.claude-3-haiku-20240307-v1:0", "on_demand", "anthropic", {"claude", "3", "haiku"}),
        ("amazon.nova-pro-v1:0", "on_demand", "amazon", {"nova", "pro"}),
        ("amazon.titan-text-express-v1", "on_demand", "amazon", {"titan", "text", "express"}),
        ("amazon.titan-embed-text-v2:0", "on_demand", "amazon", {"titan", "embed", "text", "v2"}),
        ("meta.llama3-1-70b-instruct-v1:0", "on_demand", "meta", {"llama3", "1", "70b", "instruct"}),
        ("global.anthropic.claude-sonnet-4-20250514-v1:0", "global", "anthropic", {"claude", "sonnet", "4"}),
        (
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
            "cross_region",
            "anthropic",
            {"claude", "3", "5", "sonnet", "v2"},
        ),
    ],
)
def test_parse_model_id(model_id: str, inference_type: str, provider: str, tokens: set[str]) -> None:
    ref = parse_model_id(model_id)

    assert ref.model_id == model_id
    assert (ref.inference_type, ref.provider, set(ref.tokens)) == (inference_type, provider, tokens)


@pytest.mark.parametrize("geography", GEOGRAPHIES)
def test_every_geography_prefix_is_a_cross_region_profile(geography: str) -> None:
    ref = parse_model_id(f"{geography}.anthropic.claude-3-7-sonnet-20250219-v1:0")

    assert (ref.inference_type, ref.provider, set(ref.tokens)) == (
        "cross_region",
        "anthropic",
        {"claude", "3", "7", "sonnet"},
    )


@pytest.mark.parametrize(
    ("model_id", "kind", "expected"),
    [
        (
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "rpm",
            "On-demand model inference requests per minute for Anthropic Claude 3.5 Sonnet",
        ),
        (
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "tpm",
            "On-demand model inference tokens per minute for Anthropic Claude 3.5 Sonnet",
        ),
        (
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "rpm",
            "On-demand model inference requests per minute for Anthropic Claude 3.5 Sonnet V2",
        ),
        (
            "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
            "rpm",
            "Cross-region model inference requests per minute for Anthropic Claude 3.5 Sonnet",
        ),
        (
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
            "tpm",
            "Cross-region model inference tokens per minute for Anthropic Claude 3.5 Sonnet V2",
        ),
        (
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "tpm",
            "Cross-region model inference tokens per minute for Anthropic Claude 3.7 Sonnet V1",
        ),
        (
            "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "rpm",
            "Cross-region model inference requests per minute for Anthropic Claude 3.7 Sonnet V1",
        ),
        (
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "tpm",
            "Cross-region model inference tokens per minute for Anthropic Claude Sonnet 4 V1",
        ),
        (
            "global.anthropic.claude-sonnet-4-20250514-v1:0",
            "rpm",
            "Global cross-region model inference requests per minute for Anthropic Claude Sonnet 4 V1",
        ),
        (
            "global.anthropic.claude-sonnet-4-20250514-v1:0",
            "tpm",
            "Global cross-region model inference tokens per minute for Anthropic Claude Sonnet 4 V1",
        ),
        (
            "anthropic.claude-3-haiku-20240307-v1:0",
            "tpm",
            "On-demand model inference tokens per minute for Anthropic Claude 3 Haiku",
        ),
        ("amazon.nova-pro-v1:0", "rpm", "On-demand model inference requests per minute for Amazon Nova Pro"),
        # Nothing listed for these: no look-alike may stand in.
        ("anthropic.claude-sonnet-4-20250514-v1:0", "rpm", None),  # only profile quotas listed
        ("global.anthropic.claude-3-7-sonnet-20250219-v1:0", "tpm", None),  # only cross-region listed
        ("anthropic.claude-3-5-haiku-20241022-v1:0", "rpm", None),  # not Claude 3 Haiku
        ("amazon.nova-lite-v1:0", "rpm", None),  # not Nova Pro
        ("anthropic.claude-3-5-sonnet-20241022-v3:0", "rpm", None),  # neither V1 nor V2
    ],
)
def test_match_quota_finds_the_exact_quota(model_id: str, kind: str, expected: str | None) -> None:
    assert quota_name(model_id, kind) == expected


@pytest.mark.parametrize("kind", ["rpm", "tpm"])
@pytest.mark.parametrize("geography", GEOGRAPHIES)
def test_match_quota_for_each_geography(geography: str, kind: str) -> None:
    phrase = "requests" if kind == "rpm" else "tokens"

    assert quota_name(f"{geography}.anthropic.claude-3-5-sonnet-20241022-v2:0", kind) == (
        f"Cross-region model inference {phrase} per minute for Anthropic Claude 3.5 Sonnet V2"
    )


@pytest.mark.parametrize(
    ("model_id", "kind"),
    [
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "rpm"),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "tpm"),
        ("us.anthropic.claude-3-5-sonnet-20240620-v1:0", "tpm"),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "rpm"),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "rpm"),
        ("global.anthropic.claude-sonnet-4-20250514-v1:0", "tpm"),
    ],
)
def test_catalogue_order_does_not_matter(model_id: str, kind: str) -> None:
    forward = match_quota(model_id, kind, CATALOGUE)

    assert forward is not None
    assert match_quota(model_id, kind, list(reversed(CATALOGUE))) == forward


def test_quota_names_are_matched_case_insensitively() -> None:
    shouted = [(code, name.upper()) for code, name in CATALOGUE]

    code = match_quota("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "rpm", shouted)

    assert code is not None
    assert (
        NAME_OF[code] == "Cross-region model inference requests per minute for Anthropic Claude 3.7 Sonnet V1"
    )


def test_override_wins_for_its_kind_only() -> None:
    overrides = {"rpm": "L-0CUSTOM1"}  # in no catalog, on purpose: an override is taken as given
    model_id = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"

    assert match_quota(model_id, "rpm", CATALOGUE, overrides) == "L-0CUSTOM1"
    assert (
        quota_name(model_id, "tpm")
        == "Cross-region model inference tokens per minute for Anthropic Claude 3.7 Sonnet V1"
    )
    assert match_quota(model_id, "tpm", CATALOGUE, overrides) == match_quota(model_id, "tpm", CATALOGUE)


def test_override_applies_even_when_nothing_is_listed() -> None:
    # L-0CUSTOM2: in no catalog, on purpose (an override is taken as given)
    assert match_quota("amazon.nova-lite-v1:0", "tpm", [], {"tpm": "L-0CUSTOM2"}) == "L-0CUSTOM2"


# Regions each geographic system profile is listed in (../shared/aws-reference/inference-profiles.json,
# "prefixes"): an application profile copied from one lists the model once per Region it routes to.
@pytest.mark.parametrize(
    ("regions", "prefix"),
    [
        (["ap-northeast-1", "ap-northeast-3"], "jp"),
        (["ap-southeast-2", "ap-southeast-4"], "au"),
        (["ca-central-1", "ca-west-1"], "ca"),
        (["us-east-1", "us-east-2", "us-west-2", "ca-central-1"], "us"),
        (["eu-central-1", "eu-west-1", "eu-west-3"], "eu"),
        (["ap-northeast-1", "ap-south-1", "ap-southeast-2"], "apac"),
        (["us-east-1", "eu-west-1", "ap-northeast-1"], "global"),
    ],
)
def test_an_application_profile_routes_by_the_region_set_of_its_models(
    regions: list[str], prefix: str
) -> None:
    model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    arns = [f"arn:aws:bedrock:{region}::foundation-model/{model}" for region in regions]
    assert underlying_model(arns) == f"{prefix}.{model}"


def test_cloudwatch_names_an_application_profile_by_its_id() -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/82ey7vcct4m3"
    assert metric_model_id(arn) == "82ey7vcct4m3"
    assert is_application_profile(arn) and is_application_profile("82ey7vcct4m3")
    assert metric_model_id("us.amazon.nova-pro-v1:0") == "us.amazon.nova-pro-v1:0"
    assert not is_application_profile("us.amazon.nova-pro-v1:0")
