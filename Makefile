# OpsPilot developer entry points. Everything runs offline.
# Python 3.13 (the Lambda runtime's version): pyenv's build if present, else python3.13 on PATH.
PY313      ?= $(firstword $(wildcard /root/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))
export SAM_CLI_TELEMETRY := 0
VENV       := .venv
TOOLS      := .venv-sam
CHECKOV    := .venv-checkov
CFN_OUT    := .aws-sam/cfn-check/template.json
PY         := $(VENV)/bin/python
SAM        := $(TOOLS)/bin/sam
REGION     := us-east-1
SCENARIOS  := $(sort $(wildcard scenarios/*.yaml))
# AWS's published facts the simulator and the tests are checked against (cli/opspilot_sim/catalog.py
# reads the same place): $OPSPILOT_AWS_REFERENCE, else shared/aws-reference beside the clone
AWS_REFERENCE := $(or $(OPSPILOT_AWS_REFERENCE),$(abspath $(CURDIR)/../shared/aws-reference))

.PHONY: demo test checks reference lint typecheck validate unit workflow integration bench build clean venv chromium

$(VENV)/.installed: pyproject.toml functions/requirements.txt
	$(PY313) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# The SAM CLI (it brings aws-sam-translator and cfn-lint) and cfn-lint's serverless rules
$(TOOLS)/.installed: Makefile
	$(PY313) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip
	$(TOOLS)/bin/pip install --quiet 'aws-sam-cli==1.170.0' 'cfn-lint-serverless==0.3.6'
	touch $@

# checkov pins boto3 to a version the SAM CLI cannot share, so it gets a venv of its own
$(CHECKOV)/.installed: Makefile
	$(PY313) -m venv $(CHECKOV)
	$(CHECKOV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV)/bin/pip install --quiet 'checkov==3.3.30'
	touch $@

node_modules/.installed: package.json
	npm install --silent --no-audit --no-fund
	touch $@

venv: $(VENV)/.installed

## make demo: create the environment, run every bundled scenario, print the incident reports
demo: reference $(VENV)/.installed
	$(VENV)/bin/opspilot simulate $(SCENARIOS)

## make test: lint, types, template and ASL validation, all tests (offline). The checks and the
## installs they need (three venvs, node_modules, chromium) run side by side:
## each output is printed whole when its target ends (--output-sync), and pytest starts only when
## every check has passed.
test: reference
	$(MAKE) --no-print-directory -j4 --output-sync=target checks
	$(PY) -m pytest -q -n auto

checks: chromium lint typecheck validate

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

validate: $(VENV)/.installed $(TOOLS)/.installed $(CHECKOV)/.installed node_modules/.installed
	$(SAM) validate --lint --region $(REGION)
	# the template as CloudFormation receives it: SAM transform, ASL inlined, code on S3, cfn-lint
	# with the serverless rules, every suppression with its reason; then checkov on the same file
	PYTHONPATH=cli $(TOOLS)/bin/python -m opspilot_dev.cfn_check template.yaml --region $(REGION) --out $(CFN_OUT)
	$(CHECKOV)/bin/checkov --file $(CFN_OUT) --framework cloudformation --skip-download --quiet --compact
	$(PY) -m opspilot_dev.asl_check statemachines/incident.asl.json statemachines/alarm_sync.asl.json
	# asl-validator checks the grammar of a literal ARN: the file's arn:$${Partition}:states:::... is
	# rendered for each partition first (the SAM substitution does the same at deploy)
	for p in aws aws-cn aws-us-gov; do \
	  npx --no-install asl-validator --silent \
	    --json-definition "$$(sed "s/[$$]{Partition}/$$p/g" statemachines/incident.asl.json)" || exit 1; \
	done

build: $(TOOLS)/.installed $(VENV)/.installed
	PATH=$(dir $(PY313)):$$PATH $(SAM) build
	$(PY) -m opspilot_dev.check_build .aws-sam/build

bench: $(VENV)/.installed
	$(PY) -m opspilot_dev.bench $(SCENARIOS)

reference:
	@test -d "$(AWS_REFERENCE)/" || { echo "no AWS reference catalog at $(AWS_REFERENCE): put shared/ beside the clone, or set OPSPILOT_AWS_REFERENCE=<dir> (README, Try it)" >&2; exit 1; }

## make chromium: Debian's Chromium for the browser test (tests/browser), when it is missing. Needs
## root (CI runs as root on Debian 12); Playwright drives it and never downloads a browser.
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

clean:
	rm -rf $(VENV) $(TOOLS) $(CHECKOV) node_modules .aws-sam .pytest_cache .mypy_cache .ruff_cache
