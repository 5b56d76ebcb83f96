"""The shared AWS reference catalog (``../shared/aws-reference``): Bedrock's quotas, models and
system inference profiles as AWS lists them, read as the simulator's Bedrock world and by
``opspilot quotas resolve --catalog DIR``.

Files (format described in their own README): ``bedrock-quotas.json`` (model inference quotas:
code, newest name, older aliases, June-2025 defaults per Region, Regions seen),
``bedrock-quotas-other.json`` (every other ``bedrock`` quota: batch, agents, Knowledge Bases ...;
a real ``ListServiceQuotas`` answer holds both), ``bedrock-models.json`` (``providerName`` /
``modelName`` per model id) and ``inference-profiles.json``. Only names, codes, defaults and model
metadata are read; the files' third-party model-to-quota mappings are never used here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

CATALOG_ENV = "OPSPILOT_AWS_REFERENCE"
FILES = ("bedrock-quotas.json", "bedrock-models.json", "inference-profiles.json")


class CatalogError(ValueError):
    """The catalog directory is missing or a file in it cannot be read."""


def default_dir() -> Path:
    """``$OPSPILOT_AWS_REFERENCE``, else ``../shared/aws-reference`` beside the repository (CI
    places a copy of ``shared/`` beside the clone)."""
    if os.environ.get(CATALOG_ENV):
        return Path(os.environ[CATALOG_ENV])
    return Path(__file__).resolve().parents[2].parent / "shared" / "aws-reference"


@dataclass(frozen=True)
class CatalogQuota:
    code: str
    name: str
    aliases: tuple[str, ...] = ()
    adjustable: bool | None = None
    defaults: dict[str, float] = field(default_factory=dict)  # region | each_supported_region | other_regions
    regions: tuple[str, ...] = ()  # where a stored ListServiceQuotas listed it
    inference: bool = True  # from bedrock-quotas.json (False: bedrock-quotas-other.json)

    def default_in(self, region: str) -> float | None:
        for key in (region, "each_supported_region", "other_regions"):
            if key in self.defaults:
                return float(self.defaults[key])
        return None


@dataclass(frozen=True)
class CatalogModel:
    model_id: str
    provider_name: str | None
    model_name: str | None
    inference_types: tuple[str, ...]  # ON_DEMAND, INFERENCE_PROFILE, PROVISIONED
    profile_prefixes: tuple[str, ...]  # system profile prefixes seen (us, eu, global ...)


@dataclass(frozen=True)
class Catalog:
    directory: Path
    quotas: dict[str, CatalogQuota]
    models: dict[str, CatalogModel]
    profiles: dict[str, dict[str, Any]]  # system profile id -> entry
    prefixes: dict[str, tuple[str, ...]]  # profile prefix -> source Regions seen

    def quota(self, code: str) -> CatalogQuota | None:
        return self.quotas.get(code)

    def model(self, model_id: str) -> CatalogModel | None:
        return self.models.get(model_id)

    def default_value(self, code: str, region: str) -> float | None:
        """The quota's June-2025 default in ``region``; for a per-model daily token quota without
        one, the documented default: the model's on-demand tokens-per-minute quota x 24 x 60
        (bedrock-quotas-notes.json, "tokens-per-day"). None when unknown."""
        from opspilot.domain.quota_resolver import parse_quota_name

        quota = self.quotas.get(code)
        if quota is None:
            return None
        if (value := quota.default_in(region)) is not None:
            return value
        daily = parse_quota_name(quota.name)
        if (
            daily is None
            or daily.kind != "tpd"
            or daily.model is None
            or "on_demand" not in daily.inference_types
        ):
            return None
        for other in self.quotas.values():
            minute = parse_quota_name(other.name)
            if (
                minute
                and minute.kind == "tpm"
                and minute.inference_types == ("on_demand",)
                and (minute.model or "").lower() == daily.model.lower()
                and (per_minute := other.default_in(region)) is not None
            ):
                return per_minute * 24 * 60
        return None


def _load(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise CatalogError(f"{path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc


def _quota(raw: dict[str, Any], inference: bool) -> CatalogQuota:
    adjustable = raw.get("adjustable")
    default = raw.get("default")
    values = (default or {}).get("values") if isinstance(default, dict) else None
    seen = raw.get("seen_in_regions")
    return CatalogQuota(
        code=str(raw["code"]),
        name=str(raw["name"]),
        aliases=tuple(str(a["name"] if isinstance(a, dict) else a) for a in raw.get("aliases") or []),
        adjustable=adjustable.get("value") if isinstance(adjustable, dict) else adjustable,
        defaults={str(k): float(v) for k, v in (values or {}).items() if isinstance(v, int | float)},
        regions=tuple((seen or {}).get("regions") or []) if isinstance(seen, dict) else (),
        inference=inference,
    )


def _model(raw: dict[str, Any]) -> CatalogModel:
    types: list[str] = []
    prefixes: list[str] = []
    for seen in raw.get("observations") or []:
        types += [t for t in seen.get("inferenceTypesSupported") or [] if t not in types]
        prefixes += [
            p for p in seen.get("system_profile_prefixes_by_source_region") or {} if p not in prefixes
        ]
    return CatalogModel(
        model_id=str(raw["model_id"]),
        provider_name=raw.get("provider_name"),
        model_name=raw.get("model_name"),
        inference_types=tuple(types),
        profile_prefixes=tuple(prefixes),
    )


@cache
def load_catalog(directory: Path | None = None) -> Catalog:
    """Read the catalog in ``directory`` (default :func:`default_dir`)."""
    where = directory or default_dir()
    if not where.is_dir():
        raise CatalogError(
            f"{where}: no AWS reference catalog here (set {CATALOG_ENV} or pass --catalog DIR)"
        )
    quotas_doc = _load(where / "bedrock-quotas.json")
    quotas = {q.code: q for q in (_quota(raw, True) for raw in quotas_doc.get("quotas") or [])}
    other = where / "bedrock-quotas-other.json"
    if other.exists():
        for raw in _load(other).get("quotas") or []:
            quotas.setdefault(str(raw["code"]), _quota(raw, False))
    models_doc = _load(where / "bedrock-models.json")
    models = {m.model_id: m for m in (_model(raw) for raw in models_doc.get("models") or [])}
    profiles_path = where / "inference-profiles.json"
    profiles_doc = _load(profiles_path) if profiles_path.exists() else {}
    profiles = {str(p["inference_profile_id"]): p for p in profiles_doc.get("profiles") or []}
    prefixes = {
        str(p["prefix"]): tuple(p.get("source_regions_seen") or [])
        for p in profiles_doc.get("prefixes") or []
    }
    return Catalog(where, quotas, models, profiles, prefixes)
