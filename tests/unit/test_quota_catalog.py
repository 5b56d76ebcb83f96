"""Conformance over the whole shared catalog (``../shared/aws-reference``): every Bedrock model
inference quota AWS lists is read as exactly one (model, inference type, kind), no batch or agent
quota is ever taken for one, and every model in ``bedrock-models.json`` resolves its quotas for
the inference types it supports, by name, through ``opspilot quotas resolve --catalog``.

The answer key is the catalog's own third-party model-to-quota mapping (``model_ids_third_party``,
LLM-assisted and hand-written, never read by the product). Where it contradicts what AWS names
the model, the key is wrong and is listed in :data:`KEY_ERRORS` with the reason; what the
resolver misses is listed in :data:`KNOWN_MISSES`. docs/quotas.md lists both.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from opspilot.domain.quota_resolver import ListedQuota, ModelFacts, parse_quota_name, resolve
from opspilot.services.quota_discovery import discover, listed_quotas
from opspilot_cli.main import main
from opspilot_cli.quotas_cmd import catalog_calls
from opspilot_sim.catalog import Catalog, default_dir, load_catalog

DOCS = Path(__file__).resolve().parents[2] / "docs" / "quotas.md"
ENDPOINTS = {"on-demand": "on_demand", "cross-region": "cross_region", "global-cross-region": "global"}

# (model id, inference type, kind): why the third-party key is wrong, from AWS's own names.
KEY_ERRORS = {
    (
        "amazon.titan-tg1-large",
        "on_demand",
        "tpm",
    ): "the key gives Titan Image Generator G1's quota to Titan Text Large",
    (
        "amazon.titan-tg1-large",
        "on_demand",
        "rpm",
    ): "the key gives Titan Image Generator G1's quota to Titan Text Large",
    **{
        (
            "anthropic.claude-3-5-haiku-20241022-v1:0",
            itype,
            kind,
        ): "the key gives Claude Haiku 4.5's quota to Claude 3.5 Haiku"
        for itype, kind in (
            ("cross_region", "tpm"),
            ("cross_region", "tpd"),
            ("cross_region", "rpm"),
            ("on_demand", "tpd"),
        )
    },
    **{
        (
            "amazon.titan-embed-g1-text-02",
            "on_demand",
            kind,
        ): "ListFoundationModels names this model 'Titan Text "
        "Embeddings v2'; the key gives it the quota of Titan Text Embeddings (V1)"
        for kind in ("tpm", "rpm")
    },
}
# (model id, inference type, kind) the resolver does not find, and why.
KNOWN_MISSES: dict[tuple[str, str, str], str] = {}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    where = default_dir()
    if not where.is_dir():
        pytest.fail(
            f"the shared AWS reference catalog is missing at {where} (CI copies shared/ beside the clone)"
        )
    return load_catalog(where)


@pytest.fixture(scope="module")
def listing(catalog: Catalog) -> list[ListedQuota]:
    return listed_quotas(catalog_calls(catalog.directory, "us-east-1").list_quotas())


def answer_key(catalog: Catalog) -> dict[tuple[str, str, str], set[str]]:
    raw = json.loads((catalog.directory / "bedrock-quotas.json").read_text())["quotas"]
    key: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for entry in raw:
        parsed = parse_quota_name(entry["name"])
        if parsed is None or parsed.model is None:
            continue
        for mapping in entry.get("model_ids_third_party") or []:
            endpoint = ENDPOINTS.get(mapping.get("endpoint") or entry["category"])
            types = [endpoint] if endpoint else list(parsed.inference_types)
            for itype in types:
                if itype in parsed.inference_types:
                    key[(mapping["model_id"], itype, parsed.kind)].add(entry["code"])
    return key


def resolved(catalog: Catalog, listing: list[ListedQuota], model_id: str, itype: str) -> dict[str, str]:
    model = catalog.model(model_id)
    facts = ModelFacts(model_id, model.provider_name if model else None, model.model_name if model else None)
    result = resolve(facts, listing, inference_type=itype)
    return {q.kind: q.code for q in result.quotas if q.scope == "model"}


def test_only_inference_quotas_are_read_as_inference_quotas(catalog: Catalog) -> None:
    for quota in catalog.quotas.values():
        parsed = parse_quota_name(quota.name)
        if not quota.inference:  # batch, agents, Knowledge Bases, Flows ... (bedrock-quotas-other.json)
            assert parsed is None, quota
    raw = json.loads((catalog.directory / "bedrock-quotas.json").read_text())["quotas"]
    for entry in raw:
        parsed = parse_quota_name(entry["name"])
        if entry["metric"] in ("tpm", "rpm", "tpd"):
            assert parsed is not None and parsed.kind == entry["metric"], entry["name"]
            if parsed.model is not None and entry["category"] in ENDPOINTS:
                assert parsed.inference_types == (ENDPOINTS[entry["category"]],), entry["name"]
        else:
            assert parsed is None, entry["name"]


def test_both_naming_generations_and_any_capitalisation_read_alike(catalog: Catalog) -> None:
    raw = json.loads((catalog.directory / "bedrock-quotas.json").read_text())["quotas"]
    aliased = [
        (e["name"], a["name"] if isinstance(a, dict) else a) for e in raw for a in e.get("aliases") or []
    ]
    assert aliased, "the catalog lists older names"
    for new, old in aliased:
        assert parse_quota_name(new) == parse_quota_name(old), (new, old)
        for variant in (old.upper(), old.lower(), re.sub("(?i)cross-region", "Cross-Region", old)):
            assert parse_quota_name(variant) is not None, variant


def test_every_model_resolves_per_inference_type_and_each_quota_has_one_owner(
    catalog: Catalog, listing: list[ListedQuota]
) -> None:
    owners: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for model in catalog.models.values():
        if ":" in model.model_id.split(":", 1)[-1] or not model.inference_types:  # Provisioned variants
            continue
        types = ["on_demand"] if "ON_DEMAND" in model.inference_types else []
        if "INFERENCE_PROFILE" in model.inference_types:
            types += ["cross_region"] if set(model.profile_prefixes) - {"global"} else []
            types += ["global"] if "global" in model.profile_prefixes else []
        for itype in types:
            for code in resolved(catalog, listing, model.model_id, itype).values():
                owners[code].add(
                    ((model.model_name or model.model_id).lower(), itype)
                )  # same name, same model
    shared = {code: names for code, names in owners.items() if len({n for n, _ in names}) > 1}
    assert not shared, f"one quota taken for several models: {shared}"


def test_the_catalog_resolves_with_no_wrong_code(catalog: Catalog, listing: list[ListedQuota]) -> None:
    key = answer_key(catalog)
    wrong, missed = {}, {}
    per_model: dict[str, list[bool]] = defaultdict(list)
    for (model_id, itype, kind), codes in sorted(key.items()):
        got = resolved(catalog, listing, model_id, itype).get(kind)
        if (model_id, itype, kind) in KEY_ERRORS:
            assert got not in codes, f"{model_id} {itype} {kind}: listed as a key error, but now agrees"
            continue
        if got is not None and got not in codes:
            wrong[(model_id, itype, kind)] = (got, codes)
        elif got is None and (model_id, itype, kind) not in KNOWN_MISSES:
            missed[(model_id, itype, kind)] = codes
        if kind in ("tpm", "tpd"):
            per_model[model_id].append(got in codes)
    assert not wrong, f"wrong codes: {wrong}"
    assert not missed, f"quotas not found: {missed}"
    share = sum(all(v) for v in per_model.values()) / len(per_model)
    assert share >= 0.95, f"{share:.1%} of model ids resolve every TPM and TPD quota"


def test_docs_list_every_key_error_and_miss() -> None:
    text = DOCS.read_text()
    for model_id, _itype, _kind in {*KEY_ERRORS, *KNOWN_MISSES}:
        assert model_id in text, f"docs/quotas.md does not list {model_id}"


def test_the_command_prints_the_resolution_shape(
    capsys: pytest.CaptureFixture[str], catalog: Catalog
) -> None:
    code = main(
        [
            "quotas",
            "resolve",
            "--catalog",
            str(catalog.directory),
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "--json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(doc) == {"model_id", "region", "inference_type", "quotas", "unresolved", "ambiguous"}
    assert doc["inference_type"] == "cross_region" and doc["region"] == "us-east-1"
    by_kind = {(q["kind"], q["scope"]): q["code"] for q in doc["quotas"]}
    assert by_kind[("tpm", "model")] == "L-6E888CC2"  # Cross-region ... Anthropic Claude 3.7 Sonnet V1
    assert by_kind[("rpm", "model")] == "L-3D8CC480"
    assert by_kind[("tpd", "model")] == "L-9EB71894"
    assert by_kind[("tpd", "account")] == "L-E3F10727"  # Cross-Model Max Tokens Per Day
    assert all(set(q) == {"code", "name", "kind", "scope"} for q in doc["quotas"])


def test_a_variant_is_never_the_base_model(catalog: Catalog, listing: list[ListedQuota]) -> None:
    got = resolved(catalog, listing, "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "global")
    names = {catalog.quotas[c].name for c in got.values()}
    assert got["tpm"] == "L-27C57EE8" and not any("1M Context" in n for n in names)


def test_a_model_released_later_resolves_from_its_names_alone() -> None:
    """A model no file knows, with quotas named the way AWS names them: found by name; and a
    model with two fitting quotas is ambiguous, never a silent pick. Acme Rocket 7 and its codes
    are invented on purpose (a model AWS has not released): the names follow the patterns of
    bedrock-quotas.json ("naming_generations_observed")."""
    listing = [
        ListedQuota(
            "L-00000001", "Cross-Region model inference tokens per minute for Acme Rocket 7 V1", 1000.0
        ),
        ListedQuota(
            "L-00000002",
            "Model invocation max tokens per day for Acme Rocket 7 V1 (doubled for cross-region calls)",
        ),
        ListedQuota(
            "L-00000003",
            "Cross-region model inference tokens per minute for Acme Rocket 7 V1 1M Context Length",
        ),
    ]
    result = discover(
        "eu.acme.rocket-7-20270101-v1:0",
        catalog_like(
            {"acme.rocket-7-20270101-v1:0": {"providerName": "Acme", "modelName": "Rocket 7"}}, listing
        ),
    )
    assert [(q.kind, q.code) for q in result.quotas] == [("tpm", "L-00000001"), ("tpd", "L-00000002")]
    assert result.quota("tpd") is not None and result.quota("tpd").value is None  # no Value: no crash
    twice = [
        *listing,
        ListedQuota("L-00000004", "Cross-region InvokeModel tokens per minute for Acme Rocket 7"),
    ]
    ambiguous = resolve(ModelFacts("eu.acme.rocket-7-20270101-v1:0", "Acme", "Rocket 7"), twice)
    assert ambiguous.quota("tpm") is None
    assert [a.kind for a in ambiguous.ambiguous] == ["tpm"] and "quota_codes.tpm" in ambiguous.ambiguous[
        0
    ].fix


def catalog_like(models: dict[str, dict[str, str]], listing: list[ListedQuota]):  # type: ignore[no-untyped-def]
    from opspilot.services.quota_discovery import DiscoveryCalls

    rows = [
        {"QuotaCode": q.code, "QuotaName": q.name, **({"Value": q.value} if q.value else {})} for q in listing
    ]
    return DiscoveryCalls(lambda arn: [], lambda model_id: models.get(model_id, {}), lambda: rows)
