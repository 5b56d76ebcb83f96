"""The decision policy is data: an ordered list of rules (see docs/decisions.md).

``load_policy`` validates a policy document; ``select_rule`` returns the first matching rule.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import Field

from opspilot.domain.base import Record, RecordError
from opspilot.domain.errors import InvalidInput
from opspilot.domain.governor import Rules as GovernorRules
from opspilot.domain.kinds import ActionType, Category, Environment, Scenario


class RuleMatch(Record):
    environment: list[Environment] | None = None
    scenario: list[Scenario] | None = None
    category: list[Category] | None = None


class Rule(Record):
    name: str
    when: RuleMatch
    actions: list[ActionType]
    approval: Literal["required", "not_required", "guardrails"]
    summary: str


class Guardrails(Record):
    max_auto_increase_percent: float = Field(gt=0)
    # the most OpsPilot may ever ask for, per quota code (Service Quotas publishes no maximum):
    # requests are capped here, and a capped request is outside the guardrails (a person approves)
    max_values: dict[str, float] = Field(default_factory=dict)


class GovernorPolicy(Record):
    """What every quota request must pass (domain/governor.py), in Decide and before filing.

    Issue 12's "absolute per-quota ceiling per window" is ``window_ceilings``: per quota code, the
    most the sum of our increases of that quota may reach within ``window_days``, in the quota's
    own unit (``{"L-F2717A44": 1000}``: at most +1,000 requests per minute in 30 days, however many
    requests it takes). Each increase is the request's value less the quota's value when Execute
    Action filed it (recorded in the incident table); a request AWS denied raised nothing. A quota
    without an entry has no window ceiling. ``max_requests_per_window`` is a separate rate limit (a
    count), and ``guardrails.max_values`` the value a quota may never pass, whatever the window."""

    cooldown_days: float = Field(default=7, gt=0)  # no request for a quota requested or raised since
    headroom_percent: float = Field(default=20, ge=0)  # below the pressure threshold, at the demand
    forecast_days: float = Field(default=14, ge=0)  # how far ahead the daily-peak trend is projected
    window_days: float = Field(default=30, gt=0)
    max_requests_per_window: int = Field(default=2, ge=1)  # per quota code, within window_days
    window_ceilings: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)

    def rules(self) -> GovernorRules:
        return GovernorRules(
            self.cooldown_days,
            self.headroom_percent,
            self.forecast_days,
            self.window_days,
            self.max_requests_per_window,
            dict(self.window_ceilings),
        )


class Policy(Record):
    version: Literal[1]
    description: str = ""
    guardrails: Guardrails
    governor: GovernorPolicy = Field(default_factory=GovernorPolicy)
    rules: list[Rule] = Field(min_length=1)


def load_policy(document: str | None = None) -> Policy:
    """Parse a policy JSON document (the bundled default when ``document`` is empty)."""
    text = document or resources.files("opspilot.policy").joinpath("default_policy.json").read_text()
    try:
        raw: Any = json.loads(text)
        return Policy.parse(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"policy: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    except RecordError as exc:
        raise InvalidInput(f"policy field '{exc.field}': {exc.message}") from exc


def select_rule(policy: Policy, environment: Environment, scenario: Scenario, category: Category) -> Rule:
    for rule in policy.rules:
        w = rule.when
        if w.environment is not None and environment not in w.environment:
            continue
        if w.scenario is not None and scenario not in w.scenario:
            continue
        if w.category is not None and category not in w.category:
            continue
        return rule
    # built here rather than at import, where it would build the rules' validation schema in
    # every function that imports the policy
    return Rule(
        name="default-notify-only",
        when=RuleMatch(),
        actions=[],
        approval="not_required",
        summary="No rule matched: notify only.",
    )
