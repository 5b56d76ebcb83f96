"""``opspilot models add|list|show|remove`` against the registry table in moto."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_alarm_sync import NOVA, NOVA_RPM, NOVA_RPM_ALARM, Env, env, no_waiting, provisioned

from opspilot_cli.main import main

__all__ = ["env", "no_waiting", "provisioned"]  # fixtures shared with the sync tests


def cli(capsys: pytest.CaptureFixture[str], env: Env, *args: str) -> tuple[int, str, str]:
    status = main(["models", *args, "--table", env.stack.registry_table_name, "--region", "us-east-1"])
    out, err = capsys.readouterr()
    return status, out, err


def test_add_validates_writes_and_says_what_the_sync_will_provision(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = cli(
        capsys,
        env,
        "add",
        NOVA,
        "--name",
        "Nova Pro",
        "--environment",
        "production",
        "--owner",
        "claims-triage",
    )
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"registered {NOVA} (version 1); the stack's sync provisions 7 alarms:"
    assert f"  {NOVA_RPM_ALARM}" in lines
    assert "  rpm-pressure: quota L-F2717A44 = 1,000; threshold at the stack's ThresholdPercent" in lines
    stored = env.store.get_entry(NOVA)
    assert stored and stored.version == 1 and stored.entry["owner"] == "claims-triage"
    assert stored.updated_by.startswith("arn:aws:")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rpm-percent", "120"], "field 'rpm_threshold_percent': must be more than 0 and at most 100"),
        # L-00000000: in no catalog, on purpose (the unknown code the command must refuse)
        (["--rpm-quota-code", "L-00000000"], "field 'quota_codes.rpm': unknown quota code L-00000000"),
        (["--tpm-quota-code", NOVA_RPM], "field 'quota_codes.tpm': quota L-F2717A44 is"),
        (["--set", "rpm-pressure.threshold=5"], "field 'alarms.rpm-pressure.threshold'"),
        (["--environment", "staging"], "field 'environment'"),
    ],
)
def test_a_bad_entry_is_refused_with_the_field_named_and_nothing_is_written(
    env: Env, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    base = ["add", NOVA, "--name", "Nova Pro", "--environment", "production", "--owner", "claims"]
    if "--environment" in args:
        base = base[:4] + base[6:]
    status, out, err = cli(capsys, env, *base, *args)
    assert (status, out) == (2, "")
    assert err.startswith(f"opspilot: models add: {message}")
    assert env.store.get_entry(NOVA) is None


def test_an_unknown_model_prefix_is_refused(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = cli(
        capsys, env, "add", "acme.turbo-v1:0", "--name", "x", "--environment", "pilot", "--owner", "x"
    )
    assert status == 2 and "field 'model_id': unknown model prefix 'acme'" in err


def test_an_application_profile_needs_its_source_model(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
    status, _, err = cli(capsys, env, "add", arn, "--name", "app", "--environment", "pilot", "--owner", "x")
    assert status == 2 and "field 'source_model_id'" in err


def test_adding_twice_needs_replace(env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    entry = tmp_path / "nova.yaml"
    entry.write_text(
        f"model_id: {NOVA}\ndisplay_name: Nova Pro\nenvironment: pilot\nowner: claims\n"
        "alarms:\n  latency: {threshold: 20000}\n"
    )
    assert cli(capsys, env, "add", "--file", str(entry))[0] == 0
    status, _, err = cli(capsys, env, "add", "--file", str(entry))
    assert status == 1 and "already registered (version 1); use --replace" in err
    status, out, _ = cli(capsys, env, "add", "--file", str(entry), "--owner", "fraud", "--replace")
    assert status == 0 and out.startswith(f"replaced {NOVA} (version 2)")
    stored = env.store.get_entry(NOVA)
    assert (
        stored
        and stored.entry["owner"] == "fraud"
        and stored.entry["alarms"] == {"latency": {"threshold": 20000}}
    )


def test_list_show_and_remove_after_a_sync(provisioned: Env, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, provisioned, "list")
    header, *rows = out.splitlines()
    assert status == 0 and header.split() == [
        "MODEL",
        "NAME",
        "ENVIRONMENT",
        "OWNER",
        "RPM",
        "TPM",
        "ALARMS",
        "USD/MONTH",
        "SYNCED",
    ]
    # production: 6 alarms of one metric and the invocations band (3 alarm metrics) = 0.90 USD
    assert rows[0].split()[:8] == [NOVA, NOVA, "production", "claims", "default", "default", "7", "0.90"]
    assert rows[-1].startswith("total: 2 models, 13 alarms, 15 alarm metrics x 0.10 USD = 1.50 USD a month")

    status, out, _ = cli(capsys, provisioned, "show", NOVA)
    assert status == 0
    assert f"  {NOVA_RPM_ALARM}" in out and "threshold 800  = 80% of L-F2717A44 (1,000)" in out
    assert "): 9 alarm metrics x 0.10 USD = 0.90 USD a month (CloudWatch standard-resolution" in out
    assert f"create    {NOVA_RPM_ALARM}  - -> 800, quota L-F2717A44 = 1,000  (registry_change)" in out

    status, out, _ = cli(capsys, provisioned, "remove", NOVA)
    assert status == 0 and out.startswith(f"removed {NOVA} (version 1); the sync deletes its 7 alarms:")
    assert provisioned.store.get_entry(NOVA) is None
    status, _, err = cli(capsys, provisioned, "remove", NOVA)
    assert status == 1 and "is not registered" in err
