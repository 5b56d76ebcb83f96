"""The model registry: which Bedrock models one stack monitors, and how.

An entry names a model (a foundation model id, a system-defined inference profile id, or an
application inference profile ARN), who owns it and in which environment it runs, the percent of
its per-minute quotas at which the pressure alarms fire, optional quota code overrides, where its
alarm notifications go, and per-alarm overrides of the documented defaults
(:mod:`opspilot.domain.model_alarms`).

Pure: no boto3. :func:`validate_entry` is what every write goes through (the CLI, and the sync
before it provisions anything); its errors name the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, Field

from opspilot.domain.alarm_names import DEFAULTS, model_slug, name_problem
from opspilot.domain.base import Record, RecordError
from opspilot.domain.kinds import Environment
from opspilot.domain.quotas import APPLICATION_PROFILE_ARN, GEOGRAPHY_PREFIXES

# Model providers of Amazon Bedrock, as they appear in model ids ("anthropic.claude-...").
KNOWN_PROVIDERS = frozenset(
    {
        "ai21",
        "amazon",
        "anthropic",
        "cohere",
        "deepseek",
        "google",
        "luma",
        "meta",
        "minimax",
        "mistral",
        "moonshot",
        "nvidia",
        "openai",
        "qwen",
        "stability",
        "twelvelabs",
        "writer",
    }
)
INFERENCE_PREFIXES = frozenset({*GEOGRAPHY_PREFIXES, "global"})
APPLICATION_PROFILE = APPLICATION_PROFILE_ARN
QUOTA_CODE = re.compile(r"^L-[0-9A-F]{8}$")
SNS_TOPIC = re.compile(
    r"^arn:aws(-[a-z]+)*:sns:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"
)
# CloudWatch tag values: letters, spaces, numbers and _ . : / = + - @ (the owner becomes a tag).
TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]*$")
MAX_POOL = 10  # an alarm on metric math may reference at most 10 metrics
MAX_NOTIFY = 5  # CloudWatch allows 5 actions per alarm state

AlarmKindName = Literal[
    "server-errors",
    "client-errors",
    "throttles",
    "rpm-pressure",
    "tpm-pressure",
    "latency",
    "invocations-anomaly",
    "input-tokens-anomaly",
    "output-tokens-anomaly",
    "latency-anomaly",
]
ALARM_KINDS: tuple[str, ...] = get_args(AlarmKindName)
PRESSURE_KINDS = frozenset({"rpm-pressure", "tpm-pressure"})
ANOMALY_KINDS = frozenset(
    {"invocations-anomaly", "input-tokens-anomaly", "output-tokens-anomaly", "latency-anomaly"}
)
STATISTIC = re.compile(r"^(Sum|Average|Maximum|Minimum|SampleCount|p\d{1,2}(\.\d{1,2})?)$")


class RegistryError(ValueError):
    """A registry entry that cannot be stored; ``field`` is the dotted path of the bad field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field '{field}': {message}")
        self.field = field
        self.message = message


def _quota_code(value: str) -> str:
    if not QUOTA_CODE.match(value):
        raise ValueError(f"{value!r} is not a quota code (L- and 8 hex digits, e.g. L-3D8CC480)")
    return value


def _not_negative(value: float) -> float:
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _statistic(value: str) -> str:
    if not STATISTIC.match(value):
        raise ValueError(f"{value!r} is not a CloudWatch statistic (Sum, Average, Maximum, p90, ...)")
    return value


def _percent_up_to(upper: float) -> Callable[[float], float]:
    def check(value: float) -> float:
        if not 0 < value <= upper:
            raise ValueError(f"must be more than 0 and at most {upper:g} (percent), got {value:g}")
        return value

    return check


def _tag_value(value: str) -> str:
    if not TAG_VALUE.match(value):
        raise ValueError("may hold letters, digits, spaces and _ . : / = + - @ only (it becomes a tag)")
    return value


QuotaCode = Annotated[str, AfterValidator(_quota_code)]
Statistic = Annotated[str, AfterValidator(_statistic)]
TagValue = Annotated[str, AfterValidator(_tag_value)]
Percent = Annotated[float, AfterValidator(_percent_up_to(100))]
IncreasePercent = Annotated[float, AfterValidator(_percent_up_to(1000))]


class QuotaCodes(Record):
    """Quota codes to use instead of matching the model's quotas by name."""

    rpm: QuotaCode | None = None
    tpm: QuotaCode | None = None
    tpd: QuotaCode | None = None


class AlarmOverride(Record):
    """Per-model changes to one alarm's documented defaults. Unset fields keep the default."""

    enabled: bool | None = None
    threshold: Annotated[float, AfterValidator(_not_negative)] | None = None
    statistic: Statistic | None = None
    evaluation_periods: int | None = Field(None, ge=1, le=1440)
    datapoints_to_alarm: int | None = Field(None, ge=1, le=1440)
    treat_missing_data: Literal["breaching", "notBreaching", "ignore", "missing"] | None = None
    band_width: float | None = Field(None, gt=0, le=10)


class ModelEntry(Record):
    """One monitored model. ``None`` percents take the stack's defaults at sync time."""

    model_id: str = Field(min_length=3, max_length=200)
    display_name: str = Field(min_length=1, max_length=100)
    environment: Environment
    owner: TagValue = Field(min_length=1, max_length=128)
    source_model_id: str | None = None
    rpm_threshold_percent: Percent | None = None
    tpm_threshold_percent: Percent | None = None
    increase_percent: IncreasePercent | None = None
    quota_codes: QuotaCodes = Field(default_factory=QuotaCodes)
    notify: list[str] = Field(default_factory=list)
    alarms: dict[AlarmKindName, AlarmOverride] = Field(default_factory=dict)

    @property
    def is_application_profile(self) -> bool:
        return bool(APPLICATION_PROFILE.match(self.model_id))

    @property
    def pool(self) -> str:
        """The model whose quotas this entry's traffic counts against."""
        return self.source_model_id or self.model_id


def model_prefix_problem(model_id: str) -> str | None:
    """Why ``model_id`` is not a Bedrock model or system-defined inference profile id, or None."""
    parts = model_id.split(".")
    if len(parts) < 2 or not all(parts):
        return f"{model_id!r} is not a model id like 'anthropic.claude-3-haiku-20240307-v1:0'"
    if parts[0] in INFERENCE_PREFIXES:
        if len(parts) < 3:
            return f"{model_id!r}: the inference profile prefix {parts[0]!r} must be followed by a model id"
        provider = parts[1]
    else:
        provider = parts[0]
    if provider not in KNOWN_PROVIDERS:
        return (
            f"unknown model prefix {provider!r} in {model_id!r}: expected a provider "
            f"({', '.join(sorted(KNOWN_PROVIDERS))}), optionally after an inference profile prefix "
            f"({', '.join(sorted(INFERENCE_PREFIXES))})"
        )
    return None


def parse_entry(raw: Any) -> ModelEntry:
    """Shape and value checks only (no registry or quota context)."""
    if not isinstance(raw, Mapping):
        raise RegistryError("<entry>", "expected an object")
    if isinstance(raw.get("alarms"), Mapping):
        for kind in raw["alarms"]:
            if kind not in ALARM_KINDS:
                raise RegistryError(
                    f"alarms.{kind}", f"unknown alarm kind; expected one of {', '.join(ALARM_KINDS)}"
                )
    try:
        return ModelEntry.parse(raw)
    except RecordError as exc:
        raise RegistryError(exc.field, exc.message) from exc


def _quota_kind_problem(kind: str, code: str, quotas: Mapping[str, str]) -> str | None:
    name = quotas.get(code)
    if name is None:
        return f"unknown quota code {code}: Service Quotas lists no Bedrock quota with that code"
    from opspilot.domain.quota_resolver import parse_quota_name

    wanted = {"rpm": "requests per minute", "tpm": "tokens per minute", "tpd": "tokens per day"}[kind]
    parsed = parse_quota_name(name)
    if parsed is None or parsed.kind != kind:
        return f"quota {code} is {name!r}, not a {wanted} quota"
    return None


def validate_entry(
    raw: Any,
    *,
    quotas: Mapping[str, str] | None = None,
    others: Iterable[ModelEntry] = (),
    alarm_name_prefix: str = "opspilot-",
) -> ModelEntry:
    """The entry, checked as a whole: model id, source model, quota codes, alarm overrides, and its
    place among the ``others`` already registered. ``quotas`` maps Bedrock quota codes to names;
    without it quota codes are checked for form only. Raises :class:`RegistryError`."""
    entry = parse_entry(raw)
    if entry.is_application_profile:
        if entry.source_model_id is None:
            raise RegistryError(
                "source_model_id",
                "required for an application inference profile: the model or system-defined "
                "profile it was created from (its quotas apply)",
            )
        if problem := model_prefix_problem(entry.source_model_id):
            raise RegistryError("source_model_id", problem)
    else:
        if problem := model_prefix_problem(entry.model_id):
            raise RegistryError("model_id", problem)
        if entry.source_model_id is not None:
            raise RegistryError("source_model_id", "only an application inference profile has a source model")
    if quotas is not None:
        for kind in ("rpm", "tpm", "tpd"):
            code = getattr(entry.quota_codes, kind)
            if code and (problem := _quota_kind_problem(kind, code, quotas)):
                raise RegistryError(f"quota_codes.{kind}", problem)
    for i, arn in enumerate(entry.notify):
        if not SNS_TOPIC.match(arn):
            raise RegistryError(f"notify[{i}]", f"{arn!r} is not an SNS topic ARN")
    if len(entry.notify) > MAX_NOTIFY:
        raise RegistryError(
            "notify", f"at most {MAX_NOTIFY} topics (CloudWatch's limit of actions per state)"
        )
    for kind, override in entry.alarms.items():
        defaults = DEFAULTS[kind]
        where = f"alarms.{kind}"
        if override.threshold is not None and kind in PRESSURE_KINDS:
            raise RegistryError(
                f"{where}.threshold",
                "pressure thresholds follow the quota: set rpm_threshold_percent or tpm_threshold_percent",
            )
        if override.threshold is not None and kind in ANOMALY_KINDS:
            raise RegistryError(
                f"{where}.threshold", "an anomaly alarm has a band, not a threshold: set band_width"
            )
        if override.band_width is not None and kind not in ANOMALY_KINDS:
            raise RegistryError(f"{where}.band_width", "only anomaly alarms have a band")
        periods = override.evaluation_periods or defaults.evaluation_periods
        datapoints = override.datapoints_to_alarm or min(defaults.datapoints_to_alarm, periods)
        if datapoints > periods:
            raise RegistryError(
                f"{where}.datapoints_to_alarm", f"{datapoints} is more than evaluation_periods ({periods})"
            )
    others = [o for o in others if o.model_id != entry.model_id]
    slug = model_slug(entry.model_id)
    for other in others:
        if model_slug(other.model_id) == slug:
            raise RegistryError("model_id", f"its alarm names would collide with those of {other.model_id!r}")
    if problem := name_problem(alarm_name_prefix, entry.model_id):
        raise RegistryError("model_id", problem)
    siblings = [o for o in others if o.pool == entry.pool and o.is_application_profile]
    members = {entry.pool, *(o.model_id for o in siblings), entry.model_id}
    if len(members) > MAX_POOL:
        raise RegistryError(
            "source_model_id",
            f"{entry.pool!r} would be shared by {len(members)} series; an alarm can sum at most {MAX_POOL}",
        )
    return entry
