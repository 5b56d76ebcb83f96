"""Which Bedrock quotas govern a model, resolved from the names AWS returns at run time.

Inputs are what a deployed stack can read: the model's own metadata (Bedrock ``GetFoundationModel``:
``providerName`` and ``modelName``; the model id; the inference type its id or profile says) and
the account's ``ListServiceQuotas(ServiceCode="bedrock")``. There is no table of model ids to
quota codes: a model AWS releases next month resolves as soon as its quotas are listed.

Quota names seen from AWS (``../shared/aws-reference/bedrock-quotas.json``, naming generations):

- ``On-demand model inference tokens per minute for X`` (ListServiceQuotas, Nov 2025 - Apr 2026)
  and the older ``On-demand InvokeModel tokens per minute for X`` (General Reference, June 2025);
  the same with ``Cross-region`` / ``Cross-Region`` and ``Global cross-region``; ``requests``
  instead of ``tokens`` for the RPM quotas.
- ``Model invocation max tokens per day for X (doubled for cross-region calls)`` (older rows lack
  the suffix): the daily token quota of on-demand and cross-Region calls;
  ``Global cross-region model inference tokens per day for X`` for global profiles.
- ``Cross-Model Max Tokens Per Day``: one daily token quota for the whole account and Region.

``X`` names the model in AWS's own wording (``Anthropic Claude 3.7 Sonnet V1``, ``Meta Llama 3.1
70B Instruct``, ``Amazon Titan Text Embeddings V2``, ``... Sonnet 4.5 V1 1M Context Length``). It
is compared with the model's name as a set of words: provider words in front are dropped, ``V1``
and a trailing ``.0`` are implied, ``+`` is ``plus``, ``embed`` and ``embeddings`` are one word.
Sets must be equal: a variant (``1M Context Length``) or another version is a different quota,
never the base model's. Two quotas for one slot are reported as ambiguous, none as not found,
each with the override that settles it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

KINDS = ("tpm", "tpd", "rpm")
INFERENCE_TYPES = ("on_demand", "cross_region", "global")
GEOGRAPHY_PREFIXES = ("us-gov", "us", "eu", "apac", "jp", "au", "ca")

_TYPE_WORDS = {"on-demand": "on_demand", "cross-region": "cross_region", "global cross-region": "global"}
_PER_MINUTE = re.compile(
    r"^(?P<type>on-demand|cross-region|global cross-region)\s+(?:model inference|invokemodel)\s+"
    r"(?P<unit>requests|tokens)\s+per\s+minute\s+for\s+(?P<model>.+)$",
    re.IGNORECASE,
)
_GLOBAL_PER_DAY = re.compile(
    r"^global cross-region\s+(?:model inference|invokemodel)\s+tokens\s+per\s+day\s+for\s+(?P<model>.+)$",
    re.IGNORECASE,
)
_PER_DAY = re.compile(
    r"^model invocation max tokens per day for\s+(?P<model>.+?)"
    r"(?P<doubled>\s*\(doubled for cross-region calls\))?$",
    re.IGNORECASE,
)
_ACCOUNT_PER_DAY = re.compile(r"^cross-model max tokens per day$", re.IGNORECASE)


@dataclass(frozen=True)
class QuotaName:
    """What a Bedrock quota name says: the kind, the inference types it governs, the model words."""

    kind: str  # tpm | tpd | rpm
    inference_types: tuple[str, ...]
    model: str | None  # the model part of the name; None for the account-wide quota
    doubled_for_cross_region: bool = False

    @property
    def scope(self) -> str:
        return "account" if self.model is None else "model"


@lru_cache(maxsize=4096)
def parse_quota_name(name: str) -> QuotaName | None:
    """The inference quota a name describes, or None for anything else (batch, agents,
    concurrency, Provisioned Throughput, Knowledge Bases ...)."""
    text = " ".join(name.split())
    if m := _PER_MINUTE.match(text):
        kind = "rpm" if m["unit"].lower() == "requests" else "tpm"
        return QuotaName(kind, (_TYPE_WORDS[m["type"].lower()],), m["model"].strip())
    if m := _GLOBAL_PER_DAY.match(text):
        return QuotaName("tpd", ("global",), m["model"].strip())
    if m := _PER_DAY.match(text):
        return QuotaName("tpd", ("on_demand", "cross_region"), m["model"].strip(), bool(m["doubled"]))
    if _ACCOUNT_PER_DAY.match(text):
        return QuotaName("tpd", INFERENCE_TYPES, None)
    return None


_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)*")
_SYNONYMS = {"embeddings": "embed", "embedding": "embed"}
_IMPLIED = frozenset({"v1", "1"})  # a first version is what an unversioned name means


def _word(token: str) -> str:
    if re.fullmatch(r"\d+(?:\.\d+)+", token):
        token = re.sub(r"(?:\.0)+$", "", token)  # "3.0" is "3", "1.0" is "1"
    if doubled := re.fullmatch(r"(\d+(?:x\d+)?b)b", token):
        token = doubled[1]  # "8X7BB": ListServiceQuotas spells Mixtral 8x7B so (bedrock-quotas.json)
    return _SYNONYMS.get(token, token)


def words(text: str, provider_words: Iterable[str] = ()) -> frozenset[str]:
    """The model words of a name: lower case, provider words in front dropped, implied ones too."""
    return _words(text, frozenset(provider_words))


@lru_cache(maxsize=16384)
def _words(text: str, provider_words: frozenset[str]) -> frozenset[str]:
    tokens = [_word(t) for t in _WORD.findall(text.lower().replace("+", " plus "))]
    drop = set(provider_words)
    while tokens and tokens[0] in drop:
        tokens.pop(0)
    return frozenset(t for t in tokens if t not in _IMPLIED)


def provider_words(provider_name: str | None, model_id: str) -> frozenset[str]:
    """Words that name the provider (``Mistral AI``, ``Stability.ai``, the id's ``mistral.``)."""
    found = set(_WORD.findall((provider_name or "").lower()))
    found.add(base_model_id(model_id).split(".", 1)[0])
    return frozenset(found)


_DATE = re.compile(r"^\d{8}$")
_SPLIT_FAMILY = re.compile(r"^([a-z]{3,})(\d+)$")  # "llama3" -> "llama", "3"; not "v2", "g1", "r1"


def id_text(model_id: str) -> str:
    """A model id read as a name (``meta.llama3-1-70b-instruct-v1:0`` -> ``llama 3.1 70b instruct
    v1``): the fallback when Bedrock gives no model name."""
    base = base_model_id(model_id)
    name = base.split(".", 1)[1] if "." in base else base
    name = re.sub(r":.*$", "", name)  # ":0", ":1", ":28k" (Provisioned Throughput variants)
    parts: list[str] = []
    for raw in re.split(r"[-_.]+", name.lower()):
        if not raw or _DATE.match(raw):
            continue
        split = _SPLIT_FAMILY.match(raw)
        parts.extend([split[1], split[2]] if split else [raw])
    joined: list[str] = []
    for part in parts:  # "3", "7" -> "3.7": ids spell versions with dashes
        if re.fullmatch(r"\d{1,2}", part) and joined and re.fullmatch(r"\d{1,2}", joined[-1]):
            joined[-1] = f"{joined[-1]}.{part}"
        else:
            joined.append(part)
    return " ".join(joined)


def base_model_id(model_id: str) -> str:
    """The foundation model id inside a system inference profile id (``us.X`` -> ``X``)."""
    first, _, rest = model_id.partition(".")
    if first in ("global", *GEOGRAPHY_PREFIXES) and rest.count(".") >= 1:
        return rest
    return model_id


def inference_type_of(model_id: str) -> str:
    first, _, rest = model_id.partition(".")
    if first == "global" and "." in rest:
        return "global"
    if first in GEOGRAPHY_PREFIXES and "." in rest:
        return "cross_region"
    return "on_demand"


@dataclass(frozen=True)
class ModelFacts:
    """What Bedrock says about a model: its id (a foundation model or system profile id) and,
    where known, ``providerName`` / ``modelName`` from GetFoundationModel."""

    model_id: str
    provider_name: str | None = None
    model_name: str | None = None

    def descriptions(self) -> list[tuple[str, frozenset[str]]]:
        """The model's word sets, most authoritative first: its name, its name without a
        parenthesised qualifier (``Mistral Large (24.02)``), the words of its id."""
        providers = provider_words(self.provider_name, self.model_id)
        out: list[tuple[str, frozenset[str]]] = []
        if self.model_name:
            out.append(("model name", words(self.model_name, providers)))
            bare = re.sub(r"\([^)]*\)", " ", self.model_name)
            if bare != self.model_name:
                out.append(("model name without its qualifier", words(bare, providers)))
        out.append(("model id", words(id_text(self.model_id), providers)))
        return [(how, w) for how, w in out if w]


@dataclass(frozen=True)
class ListedQuota:
    """One ListServiceQuotas entry. ``value`` None: the API returned no Value (it is optional)."""

    code: str
    name: str
    value: float | None = None
    adjustable: bool = False


@dataclass(frozen=True)
class Resolved:
    code: str
    name: str
    kind: str
    scope: str  # model | account
    value: float | None
    adjustable: bool
    doubled_for_cross_region: bool = False
    matched_by: str = ""  # which description of the model matched (or "override")


@dataclass(frozen=True)
class Unresolved:
    kind: str
    reason: str
    fix: str


@dataclass(frozen=True)
class Ambiguous:
    kind: str
    candidates: tuple[tuple[str, str], ...]  # (code, name)
    fix: str


@dataclass(frozen=True)
class Resolution:
    model_id: str
    inference_type: str
    quotas: list[Resolved] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    ambiguous: list[Ambiguous] = field(default_factory=list)

    def quota(self, kind: str, scope: str = "model") -> Resolved | None:
        return next((q for q in self.quotas if q.kind == kind and q.scope == scope), None)

    def to_json(self, region: str) -> dict[str, object]:
        """The shape ``opspilot quotas resolve --json`` prints."""
        return {
            "model_id": self.model_id,
            "region": region,
            "inference_type": self.inference_type,
            "quotas": [
                {"code": q.code, "name": q.name, "kind": q.kind, "scope": q.scope} for q in self.quotas
            ],
            "unresolved": [{"kind": u.kind, "reason": u.reason, "fix": u.fix} for u in self.unresolved],
            "ambiguous": [
                {
                    "kind": a.kind,
                    "candidates": [{"code": c, "name": n} for c, n in a.candidates],
                    "fix": a.fix,
                }
                for a in self.ambiguous
            ],
        }


# A model's per-minute token quota must exist; a daily quota is listed for some models only, and
# RPM quotas only where AWS still lists them (docs/decisions.md, "RPM and daily token quotas").
REQUIRED_KINDS = ("tpm",)
OVERRIDE_FIELDS = {"tpm": "quota_codes.tpm", "tpd": "quota_codes.tpd", "rpm": "quota_codes.rpm"}


def override_hint(model_id: str, kind: str) -> str:
    return (
        f"set {OVERRIDE_FIELDS[kind]} in the model's registry entry (opspilot models add {model_id} "
        f'--{kind}-quota-code L-...), or QuotaCodeOverrides {{"{model_id}": {{"{kind}": "L-..."}}}}'
    )


def resolve(
    facts: ModelFacts,
    listed: Sequence[ListedQuota],
    overrides: dict[str, str] | None = None,
    inference_type: str | None = None,
) -> Resolution:
    """Every quota that governs ``facts.model_id`` for its inference type: TPM, TPD and RPM of
    the model (each where listed), and the account-wide daily token quota."""
    itype = inference_type or inference_type_of(facts.model_id)
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    by_code = {q.code: q for q in listed}
    parsed = [(q, p) for q in listed if (p := parse_quota_name(q.name)) is not None]
    result = Resolution(facts.model_id, itype)
    # Exact word sets first; then names that leave out only the model's size or "Instruct"
    # (``Meta Llama 4 Scout V1`` for Llama 4 Scout 17B Instruct), never a version.
    descriptions = [(how, w, False) for how, w in facts.descriptions()]
    descriptions += [(f"{how}, size and Instruct left out", w, True) for how, w in facts.descriptions()]
    providers = provider_words(facts.provider_name, facts.model_id)
    for kind in KINDS:
        if kind in overrides:
            code = overrides[kind]
            q = by_code.get(code)
            if q is None:
                result.unresolved.append(
                    Unresolved(
                        kind,
                        f"the override {code} is not listed by Service Quotas for bedrock",
                        override_hint(facts.model_id, kind),
                    )
                )
                continue
            note = parse_quota_name(q.name)
            result.quotas.append(
                Resolved(
                    code,
                    q.name,
                    kind,
                    "model",
                    q.value,
                    q.adjustable,
                    bool(note and note.doubled_for_cross_region),
                    "override",
                )
            )
            continue
        slot = [
            (q, p) for q, p in parsed if p.kind == kind and p.model is not None and itype in p.inference_types
        ]
        found: list[tuple[ListedQuota, QuotaName]] = []
        how = ""
        for described_as, described, loose in descriptions:
            found = [(q, p) for q, p in slot if _fits(words(p.model or "", providers), described, loose)]
            if found:
                how = described_as
                break
        if not found:
            how, found = _by_release(facts, slot, providers)
        codes = {q.code for q, _ in found}
        if len(codes) == 1:
            q, p = found[0]
            result.quotas.append(
                Resolved(
                    q.code, q.name, kind, "model", q.value, q.adjustable, p.doubled_for_cross_region, how
                )
            )
        elif len(codes) > 1:
            result.ambiguous.append(
                Ambiguous(
                    kind,
                    tuple(sorted((q.code, q.name) for q, _ in found)),
                    override_hint(facts.model_id, kind),
                )
            )
        elif kind in REQUIRED_KINDS or (kind == "tpd" and _daily_expected(parsed, itype)):
            label = {"tpm": "tokens-per-minute", "tpd": "tokens-per-day", "rpm": "requests-per-minute"}[kind]
            named = facts.model_name or facts.model_id
            result.unresolved.append(
                Unresolved(
                    kind,
                    f"no {itype.replace('_', '-')} {label} quota named for {named} among {len(slot)} listed",
                    override_hint(facts.model_id, kind),
                )
            )
    for q, p in parsed:
        if p.scope == "account":
            result.quotas.append(
                Resolved(q.code, q.name, "tpd", "account", q.value, q.adjustable, False, "name")
            )
    return result


_DESCRIPTOR = re.compile(r"^(?:\d+(?:\.\d+)?[bm]|instruct)$")


def _fits(quota_words: frozenset[str], model_words: frozenset[str], loose: bool) -> bool:
    if quota_words == model_words:
        return True
    if not loose or not quota_words or not quota_words < model_words:
        return False
    return all(_DESCRIPTOR.match(extra) for extra in model_words - quota_words)


_RELEASE = re.compile(r"^\d{4}$")  # Mistral's YYMM release ids: Voxtral Mini 3B 2507
_VERSIONED = re.compile(r"\b(?:\d+\.\d+|v\d+)\b", re.IGNORECASE)


def _by_release(
    facts: ModelFacts, slot: Sequence[tuple[ListedQuota, QuotaName]], providers: frozenset[str]
) -> tuple[str, list[tuple[ListedQuota, QuotaName]]]:
    """A model named by a release id (``Voxtral Mini 3B 2507``, ``Magistral Small 2509``) and a
    quota named by a version (``Voxtral Mini 1.0``, ``Magistral Small 1.2``): the same model when
    the words other than the release, the size and the version agree, and one quota fits. A quota
    name without a version (``Mistral AI Mistral Large``) is never taken for a release."""
    for how, described in facts.descriptions():
        if not any(_RELEASE.match(w) for w in described):
            continue
        core = frozenset(w for w in described if not _RELEASE.match(w) and not _DESCRIPTOR.match(w))
        found = [
            (q, p)
            for q, p in slot
            if p.model
            and _VERSIONED.search(p.model)
            and frozenset(
                w for w in words(_VERSIONED.sub(" ", p.model), providers) if not _DESCRIPTOR.match(w)
            )
            == core
        ]
        if found:
            return f"{how}, release id for the version in the quota name", found
    return "", []


def _daily_expected(parsed: Sequence[tuple[ListedQuota, QuotaName]], itype: str) -> bool:
    """A missing daily quota is worth naming only where the account lists daily quotas per model
    for this inference type at all."""
    return any(p.kind == "tpd" and p.scope == "model" and itype in p.inference_types for _, p in parsed)
