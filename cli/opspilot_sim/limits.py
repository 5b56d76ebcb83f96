"""AWS's documented limits, enforced in the simulated world on a simulated clock.

moto enforces no request rate, no page-size cap, no anomaly detection model quota and no payload
size (``/work/shared/LOCAL-AWS.md``). :class:`Limits` adds them at botocore's ``before-send``
boundary, where :class:`opspilot_sim.fake_aws.SimulatedAws` hands it every request first::

    clock = SimClock()
    world = SimulatedAws(limits=Limits(clock))
    with mock_aws(), installed(world), simulated_time(clock):
        ...  # every call advances the clock; a call over its rate is throttled with AWS's code

What it enforces, each value with the row of ``aws-reference/api-limits.json`` it comes from
(:data:`RATE_LIMITS`, :data:`ANOMALY_MODELS_PER_REGION`, ...):

- **Request rates** per operation, per account and Region, as token buckets on the simulated
  clock. A request over its rate gets the error code AWS sends (CloudWatch ``Throttling``, Service
  Quotas ``TooManyRequestsException``), so botocore's own retry mode and the code's backoff run
  for real; botocore's retry sleeps advance the simulated clock instead of the wall clock
  (:func:`simulated_time`).
- **Page and batch sizes**: every ``max`` constraint of botocore's input shapes for the guarded
  services (botocore validates ``min`` only): ListServiceQuotas ``MaxResults`` <= 100,
  DescribeAlarms ``MaxRecords`` <= 100, DeleteAlarms <= 100 names, Step Functions ``input`` and task
  output <= 262,144 (measured in UTF-8 bytes, as the Step Functions guide states the limit).
- **Anomaly detection models**: 500 per account and Region; the PutMetricAlarm that would need the
  501st gets ``LimitExceeded`` (PutMetricAlarm's only modeled error).
- **Metric math**: an alarm may reference at most 10 metrics.
- **Lambda's 900 s**: :class:`SimLambdaContext` counts the remaining time on the simulated clock and
  :meth:`Limits.invocation` records any invocation that ran past its timeout.
- **Step Functions history**: 25,000 events per execution (:func:`history_within`), checked on the
  history moto's interpreter wrote (the interpreter itself does not stop an execution there).

Modelling choices (AWS does not publish them): every request takes :attr:`Limits.latency` seconds
of simulated time (50 ms); a CloudWatch bucket holds one second of requests (no burst is
documented), a Service Quotas bucket its documented rate plus its documented burst; an anomaly
detection model exists while an alarm uses it (one per metric, dimensions and statistic).
"""

from __future__ import annotations

import json
import re
import threading
import time
import types
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.endpoint
import botocore.session
from botocore.model import Shape

# ---- documented values (aws-reference/api-limits.json; the row's "source" id, and its date) ----

ANOMALY_MODELS_PER_REGION = 500  # "Anomaly detection models", 500 per Region per account (cw-ug-2023)
METRIC_MATH_MAX_METRICS = 10  # "Metrics per metric-math alarm", hard limit (cw-alarm-limits-current)
SFN_PAYLOAD_MAX_BYTES = 262_144  # "Maximum input or output size ..." (sfn-dg-2023, 2022-06-28)
SFN_HISTORY_MAX_EVENTS = 25_000  # "Maximum execution history size (Standard)" (sfn-dg-2023)
LAMBDA_MAX_TIMEOUT_SECONDS = 900  # "Function timeout (max)" (lambda-quotas-current)

# The error codes AWS returns when a request is over its rate. Service Quotas: the modeled
# TooManyRequestsException of botocore's service-quotas model. CloudWatch: no throttling shape is
# modeled; AWS answers "Error Code: Throttling; Status Code: 400", "Rate exceeded" (quoted from
# PutMetricAlarm failures in hortonworks/cloudbreak#10689 and aws/aws-sdk-js#1822).
THROTTLING_CODES = {"cloudwatch": "Throttling", "service-quotas": "TooManyRequestsException"}
# The code of a request that breaks an input constraint: each service's modeled validation error.
VALIDATION_CODES = {
    "cloudwatch": "ValidationError",  # shape ValidationException, code ValidationError
    "service-quotas": "IllegalArgumentException",  # "Invalid input was provided."
    "sfn": "ValidationException",
}
BOTOCORE_NAMES = {"cloudwatch": "cloudwatch", "service-quotas": "service-quotas", "sfn": "stepfunctions"}


@dataclass(frozen=True)
class RateLimit:
    """One operation's documented request rate: ``per_second`` refill, ``burst`` bucket size."""

    service: str  # botocore service id, as in event names: cloudwatch, service-quotas
    operation: str
    per_second: float
    burst: float
    source: str  # the api-limits.json row: item, source id, date


def _cw(
    operation: str, rate: float, source: str = "gr-cw-2026 (cw_region.html copy, 2026-09-26)"
) -> RateLimit:
    return RateLimit("cloudwatch", operation, rate, rate, f"CloudWatch {operation} request rate; {source}")


def _sq(operation: str, rate: float) -> RateLimit:
    source = f"Service Quotas {operation} request rate, {rate:g}/s + burst {rate:g}; sq-ug-2023"
    return RateLimit("service-quotas", operation, rate, 2 * rate, source)


RATE_LIMITS: tuple[RateLimit, ...] = (
    _cw("PutMetricAlarm", 3),  # L-0720E68F, adjustable; also 3 TPS in cw-ug-2023
    _cw("DescribeAlarms", 9),  # L-21CB40A4
    _cw("DeleteAlarms", 3),
    _cw("SetAlarmState", 3),
    _cw("TagResource", 20),
    _cw("UntagResource", 20),
    _cw("ListTagsForResource", 10),
    _cw("DescribeAlarmsForMetric", 9),
    # CONFLICT kept in api-limits.json: 20/s (2026) against 3 TPS (2023); the newer value is used
    _cw("DescribeAlarmHistory", 20),
    # CONFLICT: 500/s (2026, L-5E141212) against 50 TPS (2023); the newer value is used
    _cw("GetMetricData", 500),
    _cw("PutMetricData", 500),
    _cw("PutAnomalyDetector", 10),
    _cw("DescribeAnomalyDetectors", 10),
    _sq("ListServiceQuotas", 10),
    _sq("ListAWSDefaultServiceQuotas", 10),
    _sq("GetServiceQuota", 5),
    _sq("GetAWSDefaultServiceQuota", 5),
    _sq("RequestServiceQuotaIncrease", 3),
    _sq("GetRequestedServiceQuotaChange", 5),
    _sq("ListRequestedServiceQuotaChangeHistory", 5),
    _sq("ListRequestedServiceQuotaChangeHistoryByQuota", 5),
)
GUARDED_SERVICES = frozenset(BOTOCORE_NAMES)


class LimitError(Exception):
    """A request AWS would refuse: ``code`` and ``message`` as AWS sends them."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


class SimClock:
    """Simulated time: starts at ``start`` and moves only when something advances it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start or datetime(2026, 12, 1, tzinfo=UTC)
        self._elapsed = 0.0
        self._lock = threading.Lock()

    @property
    def elapsed(self) -> float:
        """Simulated seconds since the start."""
        with self._lock:
            return self._elapsed

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        with self._lock:
            self._elapsed += seconds

    sleep = advance


class _Bucket:
    def __init__(self, limit: RateLimit, at: float) -> None:
        self.limit, self.tokens, self.at = limit, limit.burst, at

    def take(self, now: float) -> bool:
        self.tokens = min(self.limit.burst, self.tokens + (now - self.at) * self.limit.per_second)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class Invocation:
    """One Lambda invocation timed on the simulated clock."""

    function: str
    seconds: float
    timeout: float

    @property
    def timed_out(self) -> bool:
        return self.seconds > self.timeout


@dataclass
class Limits:
    """The limits of one simulated account. ``rates`` may be replaced to test other values."""

    clock: SimClock
    rates: tuple[RateLimit, ...] = RATE_LIMITS
    latency: float = 0.05  # simulated seconds per request (a modelling choice)
    anomaly_models: int = ANOMALY_MODELS_PER_REGION
    lambda_timeout: float = LAMBDA_MAX_TIMEOUT_SECONDS  # SyncAlarmsFunction's Timeout in template.yaml
    requests: Counter[str] = field(default_factory=Counter)  # "service:Operation" -> requests
    throttled: Counter[str] = field(default_factory=Counter)  # "service:Operation" -> refused
    refused: list[str] = field(default_factory=list)  # other refusals, with the reason
    invocations: list[Invocation] = field(default_factory=list)
    _buckets: dict[tuple[str, str, str], _Bucket] = field(default_factory=dict, repr=False)
    _by_op: dict[tuple[str, str], RateLimit] = field(default_factory=dict, repr=False)
    # region -> alarm name -> its anomaly detection model (namespace, metric, dimensions, stat)
    _anomaly: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def __post_init__(self) -> None:
        self._by_op = {(r.service, r.operation): r for r in self.rates}

    # ---- the before-send hook -----------------------------------------------------------------

    def admit(self, service: str, operation: str, region: str, body: Any) -> LimitError | None:
        """Called once per HTTP attempt. Advances the clock by the request's latency; returns the
        error AWS would answer with, or None when the request goes on."""
        if getattr(self._local, "observing", False):
            return None
        self.clock.advance(self.latency)
        key = f"{service}:{operation}"
        with self._lock:
            self.requests[key] += 1
            rate = self._by_op.get((service, operation))
            if rate is not None:
                bucket = self._buckets.setdefault(
                    (region, service, operation), _Bucket(rate, self.clock.elapsed)
                )
                if not bucket.take(self.clock.elapsed):
                    self.throttled[key] += 1
                    return LimitError(THROTTLING_CODES[service], "Rate exceeded")
            if service not in GUARDED_SERVICES:
                return None
            params = _json(body)
            error = _constraint_error(service, operation, params)
            if error is None and (service, operation) == ("cloudwatch", "PutMetricAlarm"):
                error = self._put_metric_alarm(region, params)
            if error is None and (service, operation) == ("cloudwatch", "DeleteAlarms"):
                for name in params.get("AlarmNames") or []:
                    self._anomaly.get(region, {}).pop(name, None)
            if error is not None:
                self.refused.append(f"{key}: {error.code}: {error.message}")
            return error

    def _put_metric_alarm(self, region: str, params: Mapping[str, Any]) -> LimitError | None:
        queries = params.get("Metrics") or []
        metrics = [q for q in queries if q.get("MetricStat")]
        if len(metrics) > METRIC_MATH_MAX_METRICS:
            return LimitError(
                VALIDATION_CODES["cloudwatch"],
                f"Alarms based on metric math expressions can reference a maximum of "
                f"{METRIC_MATH_MAX_METRICS} metrics; this one references {len(metrics)}.",
            )
        name = str(params.get("AlarmName", ""))
        models = self._anomaly.setdefault(region, {})
        model = _anomaly_model(queries)
        if model is None:
            models.pop(name, None)
            return None
        in_use = set(models.values())
        if model not in in_use and len(in_use) >= self.anomaly_models:
            return LimitError(
                "LimitExceeded",
                f"The quota of {self.anomaly_models} anomaly detection models in {region} has been reached.",
            )
        models[name] = model
        return None

    # ---- what a test or the bench reads ------------------------------------------------------

    @contextmanager
    def observing(self) -> Iterator[None]:
        """Requests this thread makes in the block (a test looking on) take no simulated time and
        count against no limit."""
        self._local.observing = True
        try:
            yield
        finally:
            self._local.observing = False

    def anomaly_models_in_use(self, region: str) -> int:
        with self._lock:
            return len(set(self._anomaly.get(region, {}).values()))

    def unhandled(self) -> list[Invocation]:
        """Invocations that ran past their timeout (Lambda would have stopped them)."""
        return [i for i in self.invocations if i.timed_out]

    def lambda_context(self, function: str, timeout: float | None = None) -> SimLambdaContext:
        """The context of one invocation on the simulated clock; its ``finish()`` records how long
        it ran (``moto_shim`` calls it when the handler returns)."""
        return SimLambdaContext(self.clock, function, timeout or self.lambda_timeout, self._finished)

    def _finished(self, invocation: Invocation) -> None:
        with self._lock:
            self.invocations.append(invocation)

    @contextmanager
    def invocation(self, function: str, timeout: float | None = None) -> Iterator[SimLambdaContext]:
        """One Lambda invocation on the simulated clock: yields its context, records its duration."""
        context = self.lambda_context(function, timeout)
        try:
            yield context
        finally:
            context.finish()


class SimLambdaContext:
    """The Lambda context a handler reads, with its remaining time on the simulated clock."""

    def __init__(
        self,
        clock: SimClock,
        function_name: str,
        timeout: float = LAMBDA_MAX_TIMEOUT_SECONDS,
        on_finish: Callable[[Invocation], None] | None = None,
    ) -> None:
        if timeout > LAMBDA_MAX_TIMEOUT_SECONDS:
            raise ValueError(f"Lambda's timeout is at most {LAMBDA_MAX_TIMEOUT_SECONDS} s")
        self.clock, self.function_name, self.timeout = clock, function_name, timeout
        self.on_finish = on_finish
        self.started = clock.elapsed
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = f"sim-{self.started:.3f}"

    def elapsed(self) -> float:
        return self.clock.elapsed - self.started

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout - self.elapsed()) * 1000))

    def finish(self) -> None:
        if self.on_finish is not None:
            self.on_finish(Invocation(self.function_name, self.elapsed(), self.timeout))


def history_within(events: list[Mapping[str, Any]]) -> bool:
    """Whether an execution history (GetExecutionHistory events) is within Step Functions' limit."""
    return len(events) <= SFN_HISTORY_MAX_EVENTS


@contextmanager
def simulated_time(clock: SimClock, *modules: types.ModuleType) -> Iterator[SimClock]:
    """botocore's retry sleeps (``botocore.endpoint``) advance ``clock`` instead of waiting; so do
    the ``sleep`` and ``now`` of each module in ``modules`` that has them (e.g. a handler)."""
    endpoint: Any = botocore.endpoint
    real = endpoint.time
    endpoint.time = types.SimpleNamespace(
        sleep=clock.sleep, time=lambda: clock.start.timestamp() + clock.elapsed, monotonic=time.monotonic
    )
    saved: list[tuple[types.ModuleType, str, Any]] = []
    for module in modules:
        for attr, value in (("sleep", clock.sleep), ("now", clock.now)):
            if hasattr(module, attr):
                saved.append((module, attr, getattr(module, attr)))
                setattr(module, attr, value)
    try:
        yield clock
    finally:
        endpoint.time = real
        for module, attr, value in saved:
            setattr(module, attr, value)


# ---- helpers ------------------------------------------------------------------------------------

_BAND = re.compile(r"ANOMALY_DETECTION_BAND\(\s*(\w+)")


def _json(body: Any) -> dict[str, Any]:
    if isinstance(body, str):
        body = body.encode()
    if not isinstance(body, bytes) or not body.strip().startswith(b"{"):
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _anomaly_model(queries: list[Mapping[str, Any]]) -> str | None:
    """The anomaly detection model an alarm's band needs: its metric, dimensions and statistic."""
    by_id = {q.get("Id"): q for q in queries}
    for query in queries:
        match = _BAND.search(str(query.get("Expression") or ""))
        if match and (source := by_id.get(match.group(1))) and (stat := source.get("MetricStat")):
            metric = stat.get("Metric") or {}
            dims = sorted((d.get("Name"), d.get("Value")) for d in metric.get("Dimensions") or [])
            return json.dumps([metric.get("Namespace"), metric.get("MetricName"), dims, stat.get("Stat")])
    return None


_SESSION = botocore.session.get_session()
_AT = "Value at '{}' failed to satisfy constraint:"


def _constraint_error(service: str, operation: str, params: Mapping[str, Any]) -> LimitError | None:
    """The first ``max`` constraint of the operation's input shape that ``params`` break."""
    model = _SESSION.get_service_model(BOTOCORE_NAMES[service])
    if operation not in model.operation_names:
        return None
    shape = model.operation_model(operation).input_shape
    if shape is None:
        return None
    problem = _over_max(shape, params, "", in_bytes=service == "sfn")
    if problem is None:
        return None
    return LimitError(VALIDATION_CODES[service], f"1 validation error detected: {problem}")


def _over_max(shape: Shape, value: Any, path: str, *, in_bytes: bool) -> str | None:
    """Step Functions states its payload limit in UTF-8 bytes; other strings count characters."""
    limit = shape.metadata.get("max")
    where = path or "input"
    if shape.type_name == "structure" and isinstance(value, Mapping):
        members = shape.members  # type: ignore[attr-defined]
        for name, member in members.items():
            if name in value and (
                problem := _over_max(member, value[name], f"{path}.{name}".lstrip("."), in_bytes=in_bytes)
            ):
                return problem
        return None
    if shape.type_name == "list" and isinstance(value, list):
        if limit is not None and len(value) > limit:
            return f"{_AT.format(where)} Member must have length less than or equal to {limit}"
        for i, item in enumerate(value):
            if problem := _over_max(shape.member, item, f"{path}[{i}]", in_bytes=in_bytes):  # type: ignore[attr-defined]
                return problem
        return None
    if limit is None:
        return None
    size = (
        len(value.encode())
        if in_bytes and isinstance(value, str)
        else len(value)
        if isinstance(value, str)
        else 0
    )
    if shape.type_name == "string" and isinstance(value, str) and size > limit:
        return f"{_AT.format(where)} Member must have length less than or equal to {limit}"
    if shape.type_name in ("integer", "long") and isinstance(value, int) and value > limit:
        return f"{_AT.format(where)} Member must have value less than or equal to {limit}"
    return None
