"""``opspilot models add|list|show|remove``: edit the model registry of a deployed stack.

Every write is validated first (:func:`opspilot.domain.registry.validate_entry`): an unknown model
prefix, an unknown quota code or a bad percent is refused with the field named, and nothing is
written. The stack's sync (started by the registry table's stream) then provisions, updates or
deletes the model's alarms; ``show`` prints what it applied and every change it recorded.

The registry table is found by ``--table``, else ``$OPSPILOT_REGISTRY_TABLE``, else the output
``ModelRegistryTableName`` of the CloudFormation stack ``--stack`` (default ``opspilot``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

DEFAULT_STACK = "opspilot"
DEFAULT_PREFIX = "opspilot-"


class CliError(Exception):
    """Printed as ``opspilot: <message>``; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def add_parser(sub: Any) -> None:
    models = sub.add_parser("models", help="edit the model registry of a deployed stack")
    verbs = models.add_subparsers(dest="verb", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--table", help="registry table name (default: the stack's ModelRegistryTableName)"
        )
        parser.add_argument(
            "--stack", default=DEFAULT_STACK, help="CloudFormation stack name (default: opspilot)"
        )
        parser.add_argument("--region", help="AWS Region (default: your AWS configuration)")
        parser.add_argument("--json", action="store_true", help="print JSON")

    add = verbs.add_parser("add", help="register a model (validated; --replace to change an entry)")
    add.add_argument("model_id", nargs="?", help="model id, inference profile id or application profile ARN")
    add.add_argument("--file", type=Path, help="the entry as YAML or JSON (flags override its fields)")
    add.add_argument("--name", dest="display_name", help="display name")
    add.add_argument("--environment", help="production, pilot or experimentation")
    add.add_argument("--owner", help="owner or business process (tagged on every alarm)")
    add.add_argument("--source-model-id", help="application profile: the model it was created from")
    add.add_argument(
        "--rpm-percent", type=float, dest="rpm_threshold_percent", help="RPM alarm at this %% of quota"
    )
    add.add_argument(
        "--tpm-percent", type=float, dest="tpm_threshold_percent", help="TPM alarm at this %% of quota"
    )
    add.add_argument(
        "--increase-percent", type=float, help="quota increase to request, %% of the current value"
    )
    add.add_argument("--rpm-quota-code", help="RPM quota code instead of matching by name")
    add.add_argument("--tpm-quota-code", help="TPM quota code instead of matching by name")
    add.add_argument("--tpd-quota-code", help="tokens-per-day quota code instead of matching by name")
    add.add_argument(
        "--notify", action="append", default=None, metavar="TOPIC_ARN", help="SNS topic for alarms"
    )
    add.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KIND.FIELD=VALUE",
        help="alarm override, e.g. latency.threshold=20000 or input-tokens-anomaly.enabled=false",
    )
    add.add_argument("--replace", action="store_true", help="replace an existing entry")
    add.add_argument("--alarm-name-prefix", help="the stack's AlarmNamePrefix (default: read from --stack)")
    common(add)
    add.set_defaults(func=run, verb_handler=_add)

    listing = verbs.add_parser("list", help="list the registered models")
    common(listing)
    listing.set_defaults(func=run, verb_handler=_list)

    show = verbs.add_parser("show", help="one entry, its alarms as last synced, and their changes")
    show.add_argument("model_id")
    show.add_argument("--changes", type=int, default=10, help="how many recent changes (default 10)")
    common(show)
    show.set_defaults(func=run, verb_handler=_show)

    remove = verbs.add_parser("remove", help="unregister a model (the sync deletes its alarms)")
    remove.add_argument("model_id")
    common(remove)
    remove.set_defaults(func=run, verb_handler=_remove)


def run(args: argparse.Namespace) -> int:
    from opspilot.adapters.registry import RegistryConflict
    from opspilot.domain.errors import AwsPermissionError, TransientAwsError
    from opspilot.domain.registry import RegistryError

    try:
        return int(args.verb_handler(args))
    except RegistryError as exc:
        print(f"opspilot: models {args.verb}: {exc}", file=sys.stderr)
        return 2
    except (RegistryConflict, AwsPermissionError, TransientAwsError, CliError) as exc:
        print(f"opspilot: models {args.verb}: {exc}", file=sys.stderr)
        return getattr(exc, "status", 1)


# ---------------------------------------------------------------------------- wiring


def _client(service: str, region: str | None) -> Any:
    import boto3

    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


def _stack_outputs(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str]]:
    from botocore.exceptions import ClientError

    try:
        stack = _client("cloudformation", args.region).describe_stacks(StackName=args.stack)["Stacks"][0]
    except ClientError as exc:
        raise CliError(
            f"stack {args.stack!r}: {exc.response['Error'].get('Message', exc)}; pass --table"
        ) from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    return outputs, parameters


def _store(args: argparse.Namespace) -> Any:
    from opspilot.adapters.registry import RegistryStore

    table = args.table or os.environ.get("OPSPILOT_REGISTRY_TABLE")
    if not table:
        outputs, _ = _stack_outputs(args)
        table = outputs.get("ModelRegistryTableName")
        if not table:
            raise CliError(f"stack {args.stack!r} has no output ModelRegistryTableName; pass --table")
    return RegistryStore(table, dynamodb=_client("dynamodb", args.region))


def _stack_settings(args: argparse.Namespace) -> tuple[str, float | None]:
    """The stack's AlarmNamePrefix and ThresholdPercent (None: unknown without the stack)."""
    if args.table or os.environ.get("OPSPILOT_REGISTRY_TABLE"):
        return args.alarm_name_prefix or DEFAULT_PREFIX, None
    _, parameters = _stack_outputs(args)
    prefix = args.alarm_name_prefix or parameters.get("AlarmNamePrefix") or DEFAULT_PREFIX
    percent = parameters.get("ThresholdPercent")
    return prefix, float(percent) if percent else None


def _caller(region: str | None) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return str(_client("sts", region).get_caller_identity()["Arn"])
    except (BotoCoreError, ClientError):
        return os.environ.get("USER", "unknown")


def _quotas(region: str | None) -> tuple[Any, str | None]:
    """The Bedrock quotas (one paginated listing), or None and why not."""
    from opspilot.adapters.quotas import QuotaLookupUnavailable, list_bedrock_quotas
    from opspilot.domain.model_alarms import QuotaSnapshot

    try:
        listed = list_bedrock_quotas(region, sq=_client("service-quotas", region))
    except QuotaLookupUnavailable as exc:
        return None, str(exc)
    return QuotaSnapshot({q["QuotaCode"]: (q["QuotaName"], float(q.get("Value", 0))) for q in listed}), None


# ---------------------------------------------------------------------------- verbs


def _coerce(text: str) -> Any:
    lowered = text.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _raw_entry(args: argparse.Namespace) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    if args.file:
        try:
            doc = yaml.safe_load(args.file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise CliError(f"{args.file}: {exc}", 2) from exc
        if not isinstance(doc, dict):
            raise CliError(f"{args.file}: expected a mapping of entry fields", 2)
        raw.update(doc)
    for key in (
        "model_id",
        "display_name",
        "environment",
        "owner",
        "source_model_id",
        "rpm_threshold_percent",
        "tpm_threshold_percent",
        "increase_percent",
        "notify",
    ):
        value = getattr(args, key)
        if value is not None:
            raw[key] = value
    codes = dict(raw.get("quota_codes") or {})
    for kind in ("rpm", "tpm", "tpd"):
        if getattr(args, f"{kind}_quota_code"):
            codes[kind] = getattr(args, f"{kind}_quota_code")
    if codes:
        raw["quota_codes"] = codes
    for setting in args.set:
        target, sep, value = setting.partition("=")
        kind, dot, name = target.partition(".")
        if not (sep and dot and kind and name):
            raise CliError(f"--set {setting!r}: expected KIND.FIELD=VALUE, e.g. latency.threshold=20000", 2)
        raw.setdefault("alarms", {}).setdefault(kind, {})[name] = _coerce(value)
    for required in ("model_id", "display_name", "environment", "owner"):
        if required not in raw:
            flag = {"display_name": "--name", "model_id": "MODEL_ID"}.get(required, f"--{required}")
            raise CliError(f"field '{required}': required ({flag} or in --file)", 2)
    return raw


def _resolve_source(raw: dict[str, Any], region: str | None) -> str | None:
    """An application profile without source_model_id: ask Bedrock what it was created from."""
    from opspilot.adapters.models import profile_model_arns
    from opspilot.domain.quotas import underlying_model
    from opspilot.domain.registry import APPLICATION_PROFILE, RegistryError

    if raw.get("source_model_id") or not APPLICATION_PROFILE.match(str(raw["model_id"])):
        return None
    try:
        return underlying_model(
            profile_model_arns(raw["model_id"], region, bedrock=_client("bedrock", region))
        )
    except Exception as exc:  # any failure leaves the field for the person to give
        raise RegistryError(
            "source_model_id", f"not given, and Bedrock could not tell what the profile routes to ({exc})"
        ) from exc


def _add(args: argparse.Namespace) -> int:
    from opspilot.domain.alarm_names import OPTIONAL_QUOTA_KINDS, PRESSURE, alarm_name
    from opspilot.domain.model_alarms import enabled_kinds, quota_code_for
    from opspilot.domain.quotas import pressure_threshold
    from opspilot.domain.registry import RegistryError, validate_entry

    raw = _raw_entry(args)
    store = _store(args)
    prefix, default_percent = _stack_settings(args)
    existing = store.get_entry(str(raw["model_id"]))
    if existing and not args.replace:
        raise CliError(f"{raw['model_id']} is already registered (version {existing.version}); use --replace")
    if args.replace and not existing:
        raise CliError(f"{raw['model_id']} is not registered; drop --replace to add it")
    if source := _resolve_source(raw, args.region):
        raw["source_model_id"] = source
    others = []
    for stored in store.load().entries.values():
        try:
            others.append(validate_entry(stored.entry))
        except RegistryError:
            continue
    quotas, unavailable = _quotas(args.region)
    names = {code: name for code, (name, _) in quotas.quotas.items()} if quotas else None
    if quotas is None and raw.get("quota_codes"):
        raise RegistryError("quota_codes", f"cannot be checked: {unavailable}")
    entry = validate_entry(raw, quotas=names, others=others, alarm_name_prefix=prefix)
    version = store.put_entry(
        entry,
        expected_version=existing.version if existing else None,
        by=_caller(args.region),
        now=datetime.now(UTC),
    )
    kinds = enabled_kinds(entry)
    lines = []
    for kind, quota_kind in PRESSURE.items():
        code = quota_code_for(entry, quota_kind, quotas) if quotas else None
        value = quotas.limit(code, entry.pool) if quotas and code else None
        own = entry.rpm_threshold_percent if quota_kind == "rpm" else entry.tpm_threshold_percent
        percent = own if own is not None else default_percent
        if quotas is None:
            lines.append(f"  {kind}: quotas not checked ({unavailable}); the sync reads them")
        elif code is None and quota_kind in OPTIONAL_QUOTA_KINDS:
            kinds = [k for k in kinds if k != kind]
            lines.append(
                f"  {kind}: Service Quotas lists no {quota_kind.upper()} quota for {entry.pool!r}: no alarm"
            )
        elif code is None or value is None:
            lines.append(
                f"  {kind}: WARNING no {quota_kind.upper()} quota matches {entry.pool!r} by name; "
                f"set --{quota_kind}-quota-code, or this alarm is not created"
            )
        elif percent is None:
            lines.append(
                f"  {kind}: quota {code} = {_number(value)}; threshold at the stack's ThresholdPercent"
            )
        else:
            threshold = pressure_threshold(value, percent)
            lines.append(
                f"  {kind}: {percent:g}% of {code} = {_number(value)} -> threshold {_number(threshold)}"
            )
    alarms = [alarm_name(prefix, entry.model_id, kind) for kind in kinds]
    if args.json:
        print(json.dumps({"model_id": entry.model_id, "version": version, "alarms": alarms}, indent=2))
        return 0
    verb = "replaced" if existing else "registered"
    print(f"{verb} {entry.model_id} (version {version}); the stack's sync provisions {len(alarms)} alarms:")
    print("\n".join(f"  {name}" for name in alarms))
    print("\n".join(lines))
    return 0


def _pool_sizes(entries: dict[str, Any]) -> dict[str, int]:
    """Series per model's quota pool (its pressure alarms sum them), from the valid entries."""
    from opspilot.domain.model_alarms import pool_members, profiles_by_pool
    from opspilot.domain.registry import RegistryError, validate_entry

    valid = []
    for raw in entries.values():
        try:
            valid.append(validate_entry(raw))
        except RegistryError:
            continue
    pools = profiles_by_pool(valid)
    return {e.model_id: len(pool_members(e, pools)) for e in valid}


def _alarm_cost(kinds: list[str], pool_size: int) -> tuple[int, float]:
    """(alarm metrics, USD a month) of a model's alarms, by kind (domain.alarm_cost)."""
    from opspilot.domain.alarm_cost import PRICE_PER_ALARM_METRIC_USD, metrics_of_kind

    metrics = sum(metrics_of_kind(kind, pool_size) for kind in kinds)
    return metrics, round(metrics * PRICE_PER_ALARM_METRIC_USD, 2)


def _cost_note(metrics: int, usd: float) -> str:
    from opspilot.domain.alarm_cost import PRICE_PER_ALARM_METRIC_USD

    return (
        f"{metrics:,} alarm metrics x {PRICE_PER_ALARM_METRIC_USD:.2f} USD = {usd:,.2f} USD a month "
        "(CloudWatch standard-resolution alarms, us-east-1: docs/models.md#what-the-alarms-cost)"
    )


def _list(args: argparse.Namespace) -> int:
    snapshot = _store(args).load()
    pool_sizes = _pool_sizes({m: s.entry for m, s in snapshot.entries.items()})
    rows = []
    for model_id, stored in sorted(snapshot.entries.items()):
        entry, state = stored.entry, snapshot.states.get(model_id)
        kinds = [record.kind for record in state.alarms.values()] if state else []
        metrics, usd = _alarm_cost(kinds, pool_sizes.get(model_id, 1))
        rows.append(
            {
                "model_id": model_id,
                "display_name": entry.get("display_name", ""),
                "environment": entry.get("environment", ""),
                "owner": entry.get("owner", ""),
                "rpm_percent": entry.get("rpm_threshold_percent"),
                "tpm_percent": entry.get("tpm_threshold_percent"),
                "version": stored.version,
                "alarms": len(state.alarms) if state else 0,
                "alarm_metrics": metrics,
                "usd_per_month": usd,
                "synced_at": state.synced_at if state else None,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no models registered")
        return 0

    def pct(value: Any) -> str:
        return "default" if value is None else f"{value:g}%"

    table = [("MODEL", "NAME", "ENVIRONMENT", "OWNER", "RPM", "TPM", "ALARMS", "USD/MONTH", "SYNCED")]
    table += [
        (
            r["model_id"],
            r["display_name"],
            r["environment"],
            r["owner"],
            pct(r["rpm_percent"]),
            pct(r["tpm_percent"]),
            str(r["alarms"]),
            f"{r['usd_per_month']:.2f}",
            (r["synced_at"] or "not yet")[:19].replace("T", " "),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    total_metrics = sum(int(r["alarm_metrics"]) for r in rows)
    total = round(sum(float(r["usd_per_month"]) for r in rows), 2)
    alarms = sum(int(r["alarms"]) for r in rows)
    print(f"\ntotal: {len(rows)} models, {alarms:,} alarms, {_cost_note(total_metrics, total)}")
    return 0


def _number(value: Any) -> str:
    from opspilot.domain.format import number

    return "-" if value is None else number(float(value))


def _show(args: argparse.Namespace) -> int:
    store = _store(args)
    stored = store.get_entry(args.model_id)
    state = store.get_state(args.model_id)
    if stored is None and state is None:
        raise CliError(f"{args.model_id} is not registered")
    changes = store.changes_for(args.model_id, args.changes)
    if args.json:
        doc = {
            "entry": stored.entry if stored else None,
            "version": stored.version if stored else None,
            "updated_at": stored.updated_at if stored else None,
            "updated_by": stored.updated_by if stored else None,
            "state": state.to_json() if state else None,
            "changes": [{k: v for k, v in c.items() if k not in {"pk", "sk", "ttl"}} for c in changes],
        }
        print(json.dumps(doc, indent=2, default=str))
        return 0
    if stored is None:
        print(f"{args.model_id}: not registered (removed); its alarms are deleted by the next sync")
    else:
        print(
            f"{args.model_id}  version {stored.version}, updated {stored.updated_at} by {stored.updated_by}"
        )
        print(yaml.safe_dump(stored.entry, sort_keys=False, default_flow_style=False).rstrip())
    print()
    if state is None:
        print("alarms: not synced yet")
    else:
        siblings = _pool_sizes({m: s.entry for m, s in store.load().entries.items()})
        metrics, usd = _alarm_cost([r.kind for r in state.alarms.values()], siblings.get(args.model_id, 1))
        print(f"alarms (as synced at {state.synced_at}): {_cost_note(metrics, usd)}")
        width = max((len(n) for n in state.alarms), default=0)
        for name, record in sorted(state.alarms.items()):
            basis = ""
            if record.quota_code:
                basis = (
                    f"  = {record.percent:g}% of {record.quota_code} ({_number(record.quota_value)})"
                    if record.percent is not None
                    else ""
                )
            level = (
                "upper anomaly band"
                if record.kind.endswith("-anomaly")
                else f"threshold {_number(record.threshold)}"
            )
            print(f"  {name.ljust(width)}  {level}{basis}")
    if changes:
        print()
        print("recent changes:")
        for c in changes:
            quota = (
                f", quota {c['quota_code']} = {_number(c.get('quota_value'))}" if c.get("quota_code") else ""
            )
            change = f"{_number(c.get('old_threshold'))} -> {_number(c.get('new_threshold'))}"
            print(f"  {c['at']}  {c['action']:<9} {c['alarm_name']}  {change}{quota}  ({c['reason']})")
    return 0


def _remove(args: argparse.Namespace) -> int:
    store = _store(args)
    state = store.get_state(args.model_id)
    removed = store.delete_entry(args.model_id)
    alarms = sorted(state.alarms) if state else []
    if args.json:
        print(
            json.dumps({"model_id": removed.model_id, "version": removed.version, "alarms": alarms}, indent=2)
        )
        return 0
    print(
        f"removed {removed.model_id} (version {removed.version}); the sync deletes its {len(alarms)} alarms:"
    )
    print("\n".join(f"  {name}" for name in alarms))
    return 0
