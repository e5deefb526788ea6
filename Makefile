# fraudstream: every command a developer or CI runs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
BROKERS ?= 3
SASL ?=
TLS ?=
CSV ?=
LIMIT ?=
AGAIN ?=
ROWS ?= 20000
RATE ?= 300
REPORT ?= build/detectors.md
# Real PaySim rows to evaluate the detectors on (evaluation only: they train on generated
# rows): CSV=path, else the sample beside the repository, where there is one.
EVAL_CSV = $(or $(CSV),../shared/data/paysim/paysim_head_2688.csv)
TERRAFORM ?= terraform
STACK_ENV = eval "$$($(PY) -m fraudstream.devstack env)"
# What a demo sends: CSV=path (a real PaySim file), else ROWS generated rows, each demo
# new ones; LIMIT=N the first N rows only; AGAIN=1 the file again, though sent before.
DEMO_INPUT = $(if $(CSV),$(CSV),--rows $(ROWS)) $(if $(LIMIT),--limit $(LIMIT)) $(if $(filter 1,$(AGAIN)),--again)

.PHONY: help install check demo demo-live setup confirmation-service report cases models evaluate evaluation-csv test infra-lint infra-validate infra-destroy secrets dist lock unit integration browser postgresql prometheus nginx lint bench bench-kafka bench-producer bench-tls bench-parsing bench-shards bench-consumers bench-latency whole-log stack-up stack-down stack-status docker-up docker-down docker-engine

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --config-settings editable_mode=compat -e '.[dev]'
	touch $@

install: $(INSTALLED) ## create .venv with the project and its tools

demo: stack-up $(if $(filter logreg iforest gbm,$(DETECTOR)),models/$(DETECTOR).onnx) ## start the local stack and run the pipeline (CSV=path for real PaySim data, else ROWS new generated rows; LIMIT=N, AGAIN=1; DETECTOR=rules|gbm|... picks the detector)
	$(STACK_ENV) && $(PY) -m fraudstream demo $(DEMO_INPUT)

demo-live: stack-up $(if $(filter logreg iforest gbm,$(DETECTOR)),models/$(DETECTOR).onnx) ## the demo live: consumers first, then RATE payments a second (300), each sink's latency shown as they go
	$(STACK_ENV) && $(PY) -m fraudstream demo $(DEMO_INPUT) --rate $(RATE)

setup: stack-up ## create the topics, schemas and buckets on the local stack (idempotent)
	$(STACK_ENV) && $(PY) -m fraudstream setup

confirmation-service: setup ## serve the links of the fraud emails on 127.0.0.1:8000, and record the answers in the case table, until Ctrl-C
	$(STACK_ENV) && { METRICS_PORT=9104 $(PY) -m fraudstream consume cases & cases=$$!; \
	  trap 'kill $$cases 2>/dev/null' EXIT; METRICS_PORT=9105 $(PY) -m fraudstream confirmation-service; }

report: stack-up ## write the run report (build/report.html) from the lake and Kafka
	$(STACK_ENV) && $(PY) -m fraudstream report

cases: stack-up ## show the fraud case table: counts by detector and status, the newest cases
	$(STACK_ENV) && $(PY) -m fraudstream cases

# Each model a file, trained again only when what makes it changes: the training code,
# the generator it learns from, or the project's installed version.
MODELS := models/logreg.onnx models/iforest.onnx models/gbm.onnx
TRAINING := $(wildcard fraudstream/detection/*.py fraudstream/paysim/*.py) $(INSTALLED)

models: $(MODELS) ## train the logreg, iforest and gbm detectors on generated rows into models/ (each only when its inputs changed)

models/%.onnx: $(TRAINING)
	$(PY) -m fraudstream train --detector $* --output $@

evaluate: evaluation-csv $(MODELS) ## measure every detector on real PaySim rows (CSV=path; default the shared sample) into build/detectors.md and its figure (REPORT=docs/detectors.md refreshes the published one)
	$(PY) -m fraudstream evaluate $(EVAL_CSV) --all -o $(REPORT)

evaluation-csv:
	@[ -f "$(EVAL_CSV)" ] || { echo "make evaluate: no PaySim CSV at $(EVAL_CSV); give one: make evaluate CSV=path/to/paysim.csv" >&2; exit 2; }

test: lint infra-lint infra-validate browser postgresql prometheus nginx docker-engine ## lint, then every test (two lanes at once, then the engine and latency tiers); starts the local stack if none is running
	PY=$(PY) bash scripts/test.sh

check: lint ## after every edit: ruff, mypy and every test that needs no server (a minute or two)
	$(PY) -m pytest -m "not integration" -q --durations=5

unit: install ## the unit tests only (no network)
	$(PY) -m pytest tests/unit

integration: install browser postgresql prometheus nginx ## the integration tests only, against the local stack
	$(PY) -m pytest tests/integration

postgresql: ## Debian's PostgreSQL server, which the local stack runs for the case table
	bash scripts/install-postgresql.sh

prometheus: ## Debian's Prometheus, which the local stack runs for its dashboard (not started as a service)
	bash scripts/install-prometheus.sh

nginx: ## Debian's nginx and strace, for the tests of the cloud's startup scripts (nginx is not started as a service)
	bash scripts/install-nginx.sh

docker-engine: ## Debian's docker.io and debootstrap, and the compose plugin, for the engine test (the daemon is not started as a service)
	bash scripts/install-docker.sh

browser: ## Debian's chromium, for the test that looks at emails and pages as a customer would
	bash scripts/install-chromium.sh

infra-lint: ## terraform fmt, tflint and checkov over infrastructure/
	bash scripts/infra.sh lint

infra-validate: ## terraform validate and plans with a google provider built from source; plans in build/infra/
	bash scripts/infra.sh validate

secrets: ## draw the cloud deployment's secrets at random into infrastructure/secrets.auto.tfvars.json (kept if there; ROTATE=name draws one anew)
	$(PYTHON) scripts/deployment_secrets.py $(if $(ROTATE),--rotate $(ROTATE))

infra-destroy: ## delete the cloud deployment, buckets and their contents too (Terraform asks before each step)
	$(TERRAFORM) -chdir=infrastructure apply -var force_destroy=true -target=google_storage_bucket.buckets
	$(TERRAFORM) -chdir=infrastructure destroy -var force_destroy=true

dist: install ## the release archive the cloud VMs install: HEAD's source and the wheels requirements.lock pins
	bash scripts/dist.sh

lock: install ## rewrite requirements.lock, the exact packages the cloud VMs install, from pyproject.toml
	$(PY) scripts/vm_wheels.py lock

lint: install ## ruff and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

bench: bench-kafka bench-producer bench-tls bench-parsing bench-shards bench-consumers bench-latency ## every benchmark, each beside its baseline

bench-latency: stack-up ## live runs at 250, 500 and 1,000 payments a second: each sink's latency beside Kafka's own
	$(STACK_ENV) && $(PY) -m bench.latency --rates 250,500,1000 --seconds 60

whole-log: stack-up ## PaySim's whole log, 6,362,620 generated rows (ROWS=N fewer; CSV=path the real file), through the producer, the lake, the emails and the case table, each row checked; figures in build/whole-log/
	$(STACK_ENV) && $(PY) -m bench.whole_log $(if $(CSV),--csv $(CSV)) $(if $(filter command line,$(origin ROWS)),--rows $(ROWS))

bench-kafka: stack-up ## what one producer gets acknowledged: tuned settings beside librdkafka defaults
	$(STACK_ENV) && $(PY) -m bench.kafka_ceiling

bench-producer: stack-up ## the producer on 1 M generated rows beside the straightforward pattern and the ceiling
	$(STACK_ENV) && $(PY) -m bench.producer --rows 1000000

bench-tls: stack-up ## the producer into three plaintext brokers beside three TLS ones, started alike for the run
	$(STACK_ENV) && $(PY) -m bench.tls --rows 500000

bench-parsing: install ## parsing a block: the one pattern a line beside the column-wise checks (no Kafka)
	$(PY) -m bench.parsing

bench-shards: stack-up ## one producer on 1 M generated rows beside two sharing the file (--shard)
	$(STACK_ENV) && $(PY) -m bench.shards --rows 1000000 --shards 2

bench-consumers: stack-up ## lake records/s beside consume-and-decode; emails/s beside the mail server's accept rate
	$(STACK_ENV) && $(PY) -m bench.consumers

stack-up: install postgresql prometheus ## start Kafka, the registry, the GCS emulator, the mail catcher, PostgreSQL and Prometheus (BROKERS=3|1, SASL=1: logins and ACLs, TLS=1: Kafka over TLS)
	$(PY) -m fraudstream.devstack up --brokers $(BROKERS) $(if $(filter 1,$(SASL)),--sasl) $(if $(filter 1,$(TLS)),--tls)

stack-status: install ## show the local stack's processes and health
	$(PY) -m fraudstream.devstack status

stack-down: install ## stop the local stack and discard its data
	$(PY) -m fraudstream.devstack down

COMPOSE := docker compose -f docker/compose.yaml

docker-up: ## the stack and the pipeline under Docker: secrets drawn once into docker/.env, then built and started
	$(PYTHON) scripts/docker_env.py >/dev/null
	$(COMPOSE) up -d --build

docker-down: ## stop and remove the Docker stack's containers (the case table's volume and docker/.env stay)
	$(COMPOSE) down
