"""What AWS does to a call besides answering it: the simulated world's fault model.

A :class:`FaultPlan` holds the faults queued for (service, operation) pairs; the world's
``before-send`` hook (``fake_aws._ChainedSend``) asks it once per HTTP attempt::

    plan.add("service-quotas", "RequestServiceQuotaIncrease", lost=True)       # filed, response lost
    plan.add("cloudwatch", "GetMetricData", error="InternalServiceError")        # 500, from the model
    plan.add("support", "CreateCase", error="InternalServerError", on_call=3)  # the 3rd attempt fails

Kinds of fault:

- **error**: the attempt never reaches the service; the caller gets ``error``. Its HTTP status
  comes from botocore's service model: the error shape's ``httpStatusCode``, else 500 for a shape
  marked ``fault`` (a server error: ``InternalServerError`` of Support, DynamoDB and SSM,
  ``ServiceException`` of Service Quotas, ``InternalServiceError`` of CloudWatch), else 400. A code
  the model does not know (``ThrottlingException`` on Support, ``Throttling`` on CloudWatch) is
  400 unless ``status`` says otherwise. botocore's standard retry mode retries 500, 502, 503 and
  504 and its list of throttling codes (``botocore/retries/standard.py``).
- **lost**: the attempt reaches the service and takes effect (a quota request is filed, a case is
  opened, an item is written), then the response never arrives: the caller sees botocore's
  ``ReadTimeoutError``, an ``HTTPClientError`` that the standard retry mode retries, so the next
  attempt meets the state the lost one left behind.

Faults count HTTP attempts per (service, operation), botocore's retries included. Without
``on_call`` a fault applies to the next ``times`` attempts not claimed by another fault, in the
order the faults were added. With ``on_call: n`` it applies to the n-th attempt counted from the
moment it was added, and the ``times - 1`` attempts after it. :attr:`FaultPlan.fired` lists
every fault that fired, in order.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Literal, NoReturn

import botocore.session
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ReadTimeoutError

PROTOCOLS = ("json", "rest-json", "query")  # how the world can render an error
Kind = Literal["error", "lost"]


@dataclass(frozen=True)
class ServiceInfo:
    service_id: str  # hyphenized, as in botocore's event names ("service-quotas", "cloudwatch")
    protocol: str
    operations: frozenset[str]
    error_status: dict[str, int]  # error code -> HTTP status, for every modeled error shape


@cache
def service_info(service: str) -> ServiceInfo:
    """What botocore's model of ``service`` (a boto3 client name) says about its errors."""
    session = botocore.session.get_session()
    model = session.get_service_model(service)
    statuses: dict[str, int] = {}
    for name, shape in session.get_service_data(service)["shapes"].items():
        if not shape.get("exception"):
            continue
        error = shape.get("error", {})
        statuses[error.get("code", name)] = int(
            error.get("httpStatusCode") or (500 if shape.get("fault") else 400)
        )
    return ServiceInfo(
        model.service_id.hyphenize(), model.resolved_protocol, frozenset(model.operation_names), statuses
    )


@dataclass
class Fault:
    """One queued fault. ``first`` is the attempt number it starts at (None: next in the queue)."""

    service_id: str
    operation: str
    kind: Kind
    code: str
    message: str
    status: int
    protocol: str
    times: int
    first: int | None = None
    used: int = 0

    def lose(self, request: AWSPreparedRequest) -> NoReturn:
        """The response of a call that took effect never arrives."""
        raise ReadTimeoutError(endpoint_url=request.url, error="simulated: the response was lost")


@dataclass(frozen=True)
class Fired:
    """A fault that fired: which attempt (1-based, per operation) it hit."""

    service_id: str
    operation: str
    kind: Kind
    code: str
    attempt: int


class FaultPlan:
    """Thread-safe queue of faults, consulted once per HTTP attempt."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: list[Fault] = []
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._fired: list[Fired] = []

    def add(
        self,
        service: str,
        operation: str,
        *,
        error: str | None = None,
        lost: bool = False,
        times: int = 1,
        on_call: int | None = None,
        message: str = "Injected fault",
        status: int | None = None,
    ) -> Fault:
        """Queue a fault for ``service`` (boto3 client name) / ``operation``: ``error`` (a code)
        or ``lost`` (the call takes effect, its response is lost), exactly one of them."""
        if (error is None) == (not lost):
            raise ValueError("a fault is either an error code or a lost response")
        if times < 1 or (on_call is not None and on_call < 1):
            raise ValueError("times and on_call count from 1")
        info = service_info(service)
        if operation not in info.operations:
            raise ValueError(f"{service} has no operation {operation!r}")
        if error is not None and info.protocol not in PROTOCOLS:
            raise ValueError(f"cannot inject faults into {service}: protocol {info.protocol}")
        code = error or ""
        resolved = status if status is not None else info.error_status.get(code, 400)
        if error is not None and not 400 <= resolved <= 599:
            raise ValueError(f"an error's HTTP status is 4xx or 5xx, not {resolved}")
        fault = Fault(
            info.service_id,
            operation,
            "lost" if lost else "error",
            code,
            message,
            resolved,
            info.protocol,
            times,
        )
        with self._lock:
            if on_call is not None:
                fault.first = self._attempts[(info.service_id, operation)] + on_call
            self._queued.append(fault)
        return fault

    def take(self, service_id: str, operation: str) -> Fault | None:
        """Count one attempt at ``service_id``/``operation``; the fault it meets, if any."""
        key = (service_id, operation)
        with self._lock:
            self._attempts[key] += 1
            attempt = self._attempts[key]
            mine = [f for f in self._queued if (f.service_id, f.operation) == key]
            fault = next(
                (f for f in mine if f.first is not None and f.first <= attempt < f.first + f.times), None
            ) or next((f for f in mine if f.first is None), None)
            if fault is None:
                return None
            fault.used += 1
            if fault.used >= fault.times:
                self._queued.remove(fault)
            self._fired.append(Fired(service_id, operation, fault.kind, fault.code, attempt))
            return fault

    def attempts(self, service: str, operation: str) -> int:
        """HTTP attempts seen so far at ``service`` (boto3 client name) / ``operation``."""
        with self._lock:
            return self._attempts[(service_info(service).service_id, operation)]

    @property
    def fired(self) -> list[Fired]:
        with self._lock:
            return list(self._fired)

    @property
    def pending(self) -> list[Fault]:
        """Faults still waiting for their attempts."""
        with self._lock:
            return list(self._queued)
