"""Every value a person may read has its label (domain/labels.py): the enums the messages and
pages show, the quota governor's reasons, Service Quotas' request statuses (botocore's model),
the alarm sync's reasons and the usage figures of a plan's evidence."""

from __future__ import annotations

from typing import get_args

import botocore.session
import pytest

from opspilot.domain import kinds
from opspilot.domain.decide import usage_evidence
from opspilot.domain.format import SEVERITY_ORDER
from opspilot.domain.governor import REASONS
from opspilot.domain.labels import LABELS, label
from opspilot.domain.lifecycle import STAGES
from opspilot.domain.model import UsageSummary
from opspilot.domain.sync_state import Reason


def service_quotas_statuses() -> list[str]:
    model = botocore.session.get_session().get_service_model("service-quotas")
    return list(model.shape_for("RequestStatus").enum)


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("category", [c.value for c in kinds.Category]),
        ("severity", [s.value for s in kinds.Severity]),
        ("scenario", [s.value for s in kinds.Scenario]),
        ("action", [a.value for a in kinds.ActionType]),
        ("action_status", [a.value for a in kinds.ActionStatus]),
        ("refusal", list(REASONS)),
        ("status", list(STAGES)),
        ("quota_request_status", service_quotas_statuses()),
        ("sync_reason", list(get_args(Reason))),
        ("quota_scope", [q.value for q in kinds.QuotaScope]),
        ("case_severity", list(SEVERITY_ORDER)),
        ("approval", ["not_required", "pending", "approved", "rejected", "expired", "escalated"]),
    ],
)
def test_every_value_shown_to_a_person_has_a_label(kind: str, values: list[str]) -> None:
    assert values and sorted(set(values) - set(LABELS[kind])) == []


def test_every_usage_figure_of_the_evidence_has_a_label() -> None:
    """The usage figures a plan's evidence carries (every number of the summary set)."""
    figures = {
        name: 1.0
        for name, field in UsageSummary.model_fields.items()
        if field.annotation in (float, float | None)
    }
    usage = UsageSummary(model_id="m", days=14, datapoints=1, tpm_source=None, **figures)
    shown = {k for k, v in usage_evidence(usage).items() if isinstance(v, float)}
    assert len(shown) >= 9 and sorted(shown - set(LABELS["evidence"])) == []


def test_an_unknown_value_reads_as_words() -> None:
    assert label("category", "some_new_thing") == "Some new thing"


def test_a_service_quotas_status_reads_as_words() -> None:
    assert label("quota_request_status", "CASE_OPENED") == "case opened, AWS is reviewing it"
