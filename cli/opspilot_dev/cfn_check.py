"""Check template.yaml as CloudFormation receives it, not as `sam validate` reads it.

`sam validate --lint` lints the SAM template before the transform, so it cannot see what only the
transform creates: the roles of the functions and the state machine, the HTTP API's integrations,
and with them a circular dependency that CloudFormation rejects at `sam deploy`. This check hands the
template over the way `sam deploy` does, then lints what CloudFormation would get:

1. every state machine's ``DefinitionUri`` file is inlined as its ``Definition`` (`sam deploy`
   uploads the file and CloudFormation reads it back; inlined, cfn-lint checks the ASL too),
2. every ``CodeUri`` / ``ContentUri`` that names a local folder points at an ``s3://`` URI, as the
   packaged template's do,
3. aws-sam-translator's ``transform`` runs with the Region set (the bundled managed-policy map, no
   AWS call),
4. cfn-lint runs on the result (with the cfn-lint-serverless rules when installed); any error fails,
5. every suppression in a resource's Metadata carries its reason: a checkov ``skip`` its
   ``comment``, a cfn-lint ``ignore_checks`` id its entry under ``cfn-lint: reasons:``.

Run with the tools venv's python (`make validate`), which has aws-sam-translator and cfn-lint:

    .venv-sam/bin/python -m opspilot_dev.cfn_check template.yaml --out .aws-sam/cfn/template.json

``--out`` keeps the translated template for checkov. Exit status 0 clean, 1 an error or a warning
found. It imports
nothing from opspilot, opspilot_cli or opspilot_sim: the tools venv does not have them.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REGION = "us-east-1"
PACKAGED_CODE = "s3://opspilot-cfn-check/packaged.zip"  # any s3:// URI; nothing is read from it

# what a serverless resource names a local folder with, per type (sam package replaces each)
_LOCAL_URIS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


def load(path: Path) -> dict[str, Any]:
    from samcli.yamlhelper import yaml_parse  # type: ignore[import-not-found, unused-ignore]

    template = yaml_parse(path.read_text(encoding="utf-8"))
    if not isinstance(template, dict):
        raise ValueError(f"{path}: not a template")
    plain: dict[str, Any] = json.loads(json.dumps(template))  # plain dicts, as CloudFormation's JSON
    return plain


def packaged(template: dict[str, Any], base: Path) -> dict[str, Any]:
    """The template as `sam deploy` hands it over: ASL inlined, local code pointed at S3."""
    out = copy.deepcopy(template)
    function_globals = out.get("Globals", {}).get("Function", {})
    if isinstance(function_globals.get("CodeUri"), str):
        function_globals["CodeUri"] = PACKAGED_CODE
    for resource in out.get("Resources", {}).values():
        props = resource.setdefault("Properties", {})
        key = _LOCAL_URIS.get(resource.get("Type", ""))
        if key and isinstance(props.get(key), str):
            props[key] = PACKAGED_CODE
        if resource.get("Type") == "AWS::Serverless::StateMachine" and isinstance(
            props.get("DefinitionUri"), str
        ):
            props["Definition"] = json.loads((base / props.pop("DefinitionUri")).read_text(encoding="utf-8"))
    return out


def translate(template: dict[str, Any], region: str = REGION) -> dict[str, Any]:
    """aws-sam-translator's transform, offline: the Region is set, managed policies come from the
    map the translator bundles (internal/data/aws_managed_policies.json)."""
    os.environ["AWS_DEFAULT_REGION"] = region
    import samtranslator  # type: ignore[import-not-found, unused-ignore]
    from samtranslator.translator.arn_generator import (  # type: ignore[import-not-found, unused-ignore]
        ArnGenerator,
    )
    from samtranslator.translator.transform import transform  # type: ignore[import-not-found, unused-ignore]

    ArnGenerator.BOTO_SESSION_REGION_NAME = region
    policies = json.loads(
        (Path(samtranslator.__file__).parent / "internal" / "data" / "aws_managed_policies.json").read_text()
    )

    class BundledPolicies:
        def load(self) -> dict[str, str]:
            return dict(policies)

    result: dict[str, Any] = transform(copy.deepcopy(template), {}, BundledPolicies())
    return result


def lint(translated: Path, region: str = REGION) -> tuple[int, str]:
    """cfn-lint on the translated template; (number of findings that fail the check: errors and
    warnings, cfn-lint's own and the serverless rules' (E..., W..., ES..., WS...), not the
    informational I... ones; cfn-lint's report)."""
    # cfn-lint 1.58 validates Fn::Join recursively, one frame per element: the state machine's
    # DefinitionString (SAM joins the inlined ASL line by line) passes Python's default limit of
    # 1,000 at about 970 lines and the lint fails with E1022 "maximum recursion depth exceeded".
    # The same cfn-lint, with room for a workflow of several thousand lines:
    runner = "import sys; sys.setrecursionlimit(20_000); from cfnlint.runner import main; sys.exit(main())"
    command = [str(Path(sys.executable).parent / "python"), "-c", runner]
    command += ["--regions", region, "--format", "parseable"]
    if importlib.util.find_spec("cfn_lint_serverless") is None:  # never skipped silently
        raise RuntimeError(
            "cfn-lint-serverless is not installed in this environment (make validate installs it)"
        )
    command += ["--append-rules", "cfn_lint_serverless.rules"]
    done = subprocess.run([*command, "--", str(translated)], capture_output=True, text=True, check=False)
    if done.returncode not in (0, 2, 4, 6, 8, 10, 12, 14):  # cfn-lint's bit flags: 2 error, 4 warn, 8 info
        raise RuntimeError(f"cfn-lint failed to run (exit {done.returncode}): {done.stderr.strip()}")
    report = done.stdout.strip()
    failing = sum(1 for line in report.splitlines() if _level(line) in {"E", "W"})
    return failing, report


def _level(line: str) -> str:
    # parseable: file:line:col:endline:endcol:RULE:message
    parts = line.split(":")
    return parts[5][:1] if len(parts) > 5 else ""


def suppression_problems(template: dict[str, Any]) -> list[str]:
    """A suppressed check without its reason, per resource (checkov and cfn-lint read the same
    Metadata from the translated template; SAM carries a function's Metadata over)."""
    found = []
    for logical, resource in template.get("Resources", {}).items():
        meta = resource.get("Metadata") or {}
        for skip in (meta.get("checkov") or {}).get("skip", []):
            if not str(skip.get("comment", "")).strip():
                found.append(f"{logical}: checkov skip {skip.get('id')} has no comment (its reason)")
        lint = meta.get("cfn-lint") or {}
        reasons = lint.get("reasons") or {}
        for rule in (lint.get("config") or {}).get("ignore_checks", []):
            if not str(reasons.get(rule, "")).strip():
                found.append(f"{logical}: cfn-lint ignores {rule} without a reason under cfn-lint: reasons:")
    return found


def check(template_path: Path, out: Path | None = None, region: str = REGION) -> tuple[int, str]:
    template = load(template_path)
    unexplained = suppression_problems(template)
    if unexplained:
        return len(unexplained), "\n".join(unexplained)
    translated = translate(packaged(template, template_path.parent), region)
    text = json.dumps(translated, indent=1, sort_keys=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        return lint(out, region)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "template.json"
        target.write_text(text, encoding="utf-8")
        return lint(target, region)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m opspilot_dev.cfn_check", description=__doc__.split("\n")[0]
    )
    parser.add_argument("template", type=Path, nargs="?", default=Path("template.yaml"))
    parser.add_argument("--out", type=Path, help="write the translated template here (for checkov)")
    parser.add_argument("--region", default=REGION)
    args = parser.parse_args(argv)
    try:
        errors, report = check(args.template, args.out, args.region)
    except Exception as exc:  # the transform's own errors (InvalidDocumentException ...) name the resource
        print(f"{args.template}: the SAM transform failed: {exc}", file=sys.stderr)
        return 1
    if report:
        print(report)
    verdict = "OK" if errors == 0 else f"FAILED ({errors} error(s) or warning(s))"
    print(f"{args.template} as CloudFormation receives it (SAM transform, {args.region}): cfn-lint {verdict}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
