"""An incident's status only moves forward.

``open`` (classified) -> ``planned`` (decided) -> ``awaiting_approval`` -> ``failed`` -> one of
``acted``, ``notified``, ``rejected``, ``approval_expired`` -> ``resolved``. Executions and
callbacks overlap (a recovery resolves an incident while another execution still waits for its
approver), so a late writer must not move an incident back: its other fields are recorded, its
status is not (``IncidentStore.update_incident``). ``unclassifiable`` is only ever written on a
new record.
"""

from __future__ import annotations

STAGES: dict[str, int] = {
    "open": 0,
    "planned": 1,
    "awaiting_approval": 2,
    "failed": 3,  # an execution failed; an outcome or a recovery may still follow
    "acted": 4,
    "notified": 4,
    "rejected": 4,
    "approval_expired": 4,
    "resolved": 5,
}


def statuses_after(status: str) -> list[str]:
    """The statuses an incident must not already have for ``status`` to be written."""
    if status not in STAGES:
        raise ValueError(f"unknown incident status {status!r}")
    return sorted(s for s, stage in STAGES.items() if stage > STAGES[status])
