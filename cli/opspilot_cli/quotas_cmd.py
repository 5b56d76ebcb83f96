"""``opspilot quotas resolve MODEL_ID``: which Bedrock quotas govern a model, their values and
whether they are adjustable.

Against AWS (``--region``): GetInferenceProfile for an application inference profile,
GetFoundationModel and ListServiceQuotas for ``bedrock``, exactly as the workflow's Gather Quotas
calls them. With ``--catalog DIR``: the same resolution against files in the format of
``shared/aws-reference`` instead, offline (``bedrock-quotas.json`` with
``bedrock-quotas-other.json`` as the listing, ``bedrock-models.json`` for the model's names).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opspilot.domain.format import number
from opspilot.domain.quota_resolver import Resolution
from opspilot.services.quota_discovery import DiscoveryCalls, discover

DEFAULT_REGION = "us-east-1"


def catalog_calls(directory: Path, region: str) -> DiscoveryCalls:
    """The discovery's AWS calls answered from a catalog directory: ListServiceQuotas as an
    account in ``region`` would list it (newest names, June-2025 defaults where known, no
    ``Value`` otherwise), GetFoundationModel from ``bedrock-models.json``."""
    from opspilot_sim.catalog import load_catalog

    catalog = load_catalog(directory.resolve())

    def list_quotas() -> Sequence[Mapping[str, Any]]:
        listed: list[dict[str, Any]] = []
        for q in catalog.quotas.values():  # its Region lists are incomplete: every quota is listed
            entry: dict[str, Any] = {
                "QuotaCode": q.code,
                "QuotaName": q.name,
                "Adjustable": bool(q.adjustable),
            }
            if (value := q.default_in(region)) is not None:
                entry["Value"] = value
            listed.append(entry)
        return listed

    def foundation_model(model_id: str) -> Mapping[str, Any]:
        model = catalog.model(model_id)
        if model is None:
            return {}
        details = {
            "modelId": model.model_id,
            "providerName": model.provider_name,
            "modelName": model.model_name,
        }
        return {k: v for k, v in details.items() if v}

    def profile_models(profile: str) -> list[str]:
        raise SystemExit(
            f"opspilot: {profile} is an application inference profile; --catalog holds system profiles only. "
            "Resolve what it routes to (us.X, global.X or X) instead."
        )

    return DiscoveryCalls(profile_models, foundation_model, list_quotas)


def aws_calls(region: str | None) -> DiscoveryCalls:
    from opspilot.adapters.models import foundation_model, profile_model_arns
    from opspilot.adapters.quotas import list_bedrock_quotas

    return DiscoveryCalls(
        profile_models=lambda arn: profile_model_arns(arn, region),
        foundation_model=lambda model_id: foundation_model(model_id, region),
        list_quotas=lambda: list_bedrock_quotas(region),
    )


def render(resolution: Resolution, region: str) -> str:
    lines = [f"{resolution.model_id} in {region}: {resolution.inference_type.replace('_', '-')}"]
    for q in resolution.quotas:
        value = "no value listed" if q.value is None else number(q.value)
        adjustable = "adjustable" if q.adjustable else "not adjustable"
        doubled = " (doubled for cross-region calls)" if q.doubled_for_cross_region else ""
        lines.append(f"  {q.kind.upper():3} {q.scope:7} {q.code}  {value}, {adjustable}{doubled}  {q.name}")
    for u in resolution.unresolved:
        lines.append(f"  {u.kind.upper():3} not found: {u.reason}. Fix: {u.fix}")
    for a in resolution.ambiguous:
        names = "; ".join(f"{code} {name}" for code, name in a.candidates)
        lines.append(f"  {a.kind.upper():3} ambiguous: {names}. Fix: {a.fix}")
    return "\n".join(lines)


def _resolve(args: argparse.Namespace) -> int:
    region = args.region or (None if args.catalog else _sdk_region()) or DEFAULT_REGION
    calls = catalog_calls(Path(args.catalog), region) if args.catalog else aws_calls(args.region)
    try:
        resolution = discover(args.model_id, calls)
    except ValueError as exc:
        print(f"opspilot: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(resolution.to_json(region), indent=2))
    else:
        print(render(resolution, region))
    return 0  # what did not resolve is in the answer, with its fix


def _sdk_region() -> str | None:
    import boto3

    return boto3.session.Session().region_name


def register(sub: Any) -> None:
    quotas = sub.add_parser("quotas", help="which Bedrock quotas govern a model")
    actions = quotas.add_subparsers(dest="action", required=True)
    resolve = actions.add_parser("resolve", help="resolve a model's quotas by their names")
    resolve.add_argument(
        "model_id", metavar="MODEL_ID", help="model id, system profile id or application profile ARN"
    )
    resolve.add_argument("--region", help=f"AWS Region (default: the SDK's; {DEFAULT_REGION} with --catalog)")
    resolve.add_argument("--json", action="store_true", help="print the resolution as JSON")
    resolve.add_argument(
        "--catalog",
        metavar="DIR",
        help="resolve against files in the format of shared/aws-reference, offline",
    )
    resolve.set_defaults(func=_resolve)
