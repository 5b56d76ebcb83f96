"""The decision policy: the bundled document, custom documents, validation, and rule selection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opspilot.domain.errors import InvalidInput
from opspilot.domain.model import ActionType, Category, Environment, Scenario
from opspilot.domain.policy import load_policy, select_rule


def document(**changes: Any) -> dict[str, Any]:
    """A small valid policy document; ``rules`` or top-level fields replaced by keyword."""
    doc: dict[str, Any] = {
        "version": 1,
        "description": "test policy",
        "guardrails": {"max_auto_increase_percent": 25},
        "rules": [
            {
                "name": "production-auto",
                "when": {"environment": ["production"], "scenario": ["high_usage", "low_usage"]},
                "actions": ["request_quota_increase"],
                "approval": "not_required",
                "summary": "Production: always request, never ask.",
            }
        ],
    }
    doc.update(changes)
    return doc


def rule(name: str, approval: str = "required", **when: list[str]) -> dict[str, Any]:
    return {"name": name, "when": when, "actions": [], "approval": approval, "summary": name}


def test_bundled_policy_loads() -> None:
    policy = load_policy()

    assert policy.version == 1
    assert policy.guardrails.max_auto_increase_percent == 50
    assert [r.name for r in policy.rules] == [
        "traffic-drop-investigate",
        "experimentation-recommend-only",
        "production-failure-investigate",
        "failure-investigate",
        "pilot-approve-every-change",
        "production-high-usage-within-guardrails",
        "production-low-usage-investigate-first",
        "production-new-model",
    ]


def test_empty_document_means_the_bundled_policy() -> None:
    assert load_policy("") == load_policy()


def test_custom_document_replaces_the_rules() -> None:
    policy = load_policy(json.dumps(document()))

    chosen = select_rule(policy, Environment.PRODUCTION, Scenario.LOW_USAGE, Category.ANOMALY)

    assert policy.guardrails.max_auto_increase_percent == 25
    assert (chosen.name, chosen.approval, chosen.actions) == (
        "production-auto",
        "not_required",
        [ActionType.REQUEST_QUOTA_INCREASE],
    )
    # The bundled rules are gone: pilot no longer matches anything.
    assert select_rule(policy, Environment.PILOT, Scenario.HIGH_USAGE, Category.QUOTA_PRESSURE).name == (
        "default-notify-only"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "policy: not valid JSON"),
        (json.dumps(document(rules=[])), "policy field 'rules'"),
        (json.dumps(document(rules=[rule("r", approval="sometimes")])), "policy field 'rules.0.approval'"),
        (
            json.dumps(document(rules=[rule("r", environment=["staging"])])),
            "policy field 'rules.0.when.environment.0'",
        ),
        (
            json.dumps(document(rules=[rule("r", scenario=["busy"])])),
            "policy field 'rules.0.when.scenario.0'",
        ),
        (
            json.dumps(document(rules=[{**rule("r"), "actions": ["delete_model"]}])),
            "policy field 'rules.0.actions.0'",
        ),
        (json.dumps(document(rules=[{**rule("r"), "whenever": {}}])), "policy field 'rules.0.whenever'"),
        (json.dumps(document(version=2)), "policy field 'version'"),
        (
            json.dumps(document(guardrails={"max_auto_increase_percent": 0})),
            "guardrails.max_auto_increase_percent",
        ),
        (json.dumps([]), "must be an object, got a list"),
    ],
    ids=[
        "bad-json",
        "empty-rules",
        "unknown-approval",
        "unknown-environment",
        "unknown-scenario",
        "unknown-action",
        "unknown-key",
        "unknown-version",
        "zero-guardrail",
        "not-an-object",
    ],
)
def test_invalid_documents_name_the_field(text: str, expected: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_policy(text)

    assert expected in str(caught.value)


def test_first_matching_rule_wins() -> None:
    both = [rule("narrow", environment=["production"], scenario=["high_usage"]), rule("broad")]

    forward = load_policy(json.dumps(document(rules=both)))
    backward = load_policy(json.dumps(document(rules=list(reversed(both)))))

    args = (Environment.PRODUCTION, Scenario.HIGH_USAGE, Category.QUOTA_PRESSURE)
    assert select_rule(forward, *args).name == "narrow"
    assert select_rule(backward, *args).name == "broad"


@pytest.mark.parametrize(
    ("environment", "scenario", "category", "expected"),
    [
        (Environment.PRODUCTION, Scenario.HIGH_USAGE, Category.QUOTA_PRESSURE, "all-three"),
        (Environment.PRODUCTION, Scenario.HIGH_USAGE, Category.ANOMALY, "default-notify-only"),
        (Environment.PILOT, Scenario.HIGH_USAGE, Category.QUOTA_PRESSURE, "default-notify-only"),
        (Environment.PRODUCTION, Scenario.LOW_USAGE, Category.QUOTA_PRESSURE, "default-notify-only"),
    ],
)
def test_every_condition_of_a_rule_must_match(
    environment: Environment, scenario: Scenario, category: Category, expected: str
) -> None:
    policy = load_policy(
        json.dumps(
            document(
                rules=[
                    rule(
                        "all-three",
                        environment=["production"],
                        scenario=["high_usage"],
                        category=["quota_pressure"],
                    )
                ]
            )
        )
    )

    assert select_rule(policy, environment, scenario, category).name == expected


def test_no_match_is_notify_only() -> None:
    policy = load_policy(json.dumps(document()))

    chosen = select_rule(policy, Environment.EXPERIMENTATION, Scenario.NEW_MODEL, Category.FAILURE)

    assert (chosen.name, chosen.actions, chosen.approval) == ("default-notify-only", [], "not_required")


def test_an_empty_when_matches_everything() -> None:
    policy = load_policy(json.dumps(document(rules=[rule("catch-all")])))

    for environment in Environment:
        for scenario in Scenario:
            assert select_rule(policy, environment, scenario, Category.FAILURE).name == "catch-all"


def test_a_traffic_drop_is_never_a_quota_request_whatever_the_environment() -> None:
    policy = load_policy()

    for environment in Environment:
        for scenario in Scenario:
            chosen = select_rule(policy, environment, scenario, Category.TRAFFIC_DROP)
            assert (chosen.name, chosen.actions) == ("traffic-drop-investigate", [])
