# Audit Layer. The two commands a new user needs:
#   make demo    the whole pipeline on the embedded defaults (real Kafka broker, embedded ClickHouse)
#   make test    unit and integration tests (starts or reuses the local broker)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export KAFKA_PORT ?= 9092

TS     := producer/typescript

.PHONY: help lock install kafka kafka-stop topics demo test test-unit lint verify bench faults clean ts-build ts-test

help:
	@echo "make demo        run the whole pipeline end to end (10,000 audited calls, 3 tenants)"
	@echo "make test        run unit and integration tests against the real broker and embedded ClickHouse"
	@echo "                 (Python, then the TypeScript SDK's; npm dependencies are installed as needed)"
	@echo "make lint        ruff and mypy"
	@echo "make kafka       start (or reuse) the local Kafka broker on 127.0.0.1:$(KAFKA_PORT)"
	@echo "make kafka-stop  stop it"
	@echo "make verify      verify every chain stored in ./data/clickhouse"
	@echo "make bench       SDK added latency, verify throughput, the 10,000-case tamper drill (bench-results/)"
	@echo "make faults      kill -9 drill: 100,000 events, 20+ kills of the workers, exact count and verify"
	@echo "make lock        renew requirements/*.lock from pyproject.toml (newest versions its ranges allow, with hashes)"

$(BIN)/.installed: pyproject.toml producer/pyproject.toml requirements/dev.lock
	bash scripts/system_packages.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the exact versions and hashes of requirements/dev.lock (`make lock` renews it), then the project itself
	$(BIN)/pip install -q --require-hashes -r requirements/dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

# The compiled Avro codec (schemas/avro_native, Rust and PyO3, crates from crates.io at Cargo.lock's versions):
# the workers read and write with it, with fastavro and avro_writer.py where it is not built (native_codec.py;
# BENCHMARKS.md, sixth stop on issue 20)
AVRO_NATIVE := schemas/audit_layer_schemas/_avro_native.so
$(AVRO_NATIVE): $(BIN)/.installed schemas/avro_native/Cargo.toml schemas/avro_native/Cargo.lock $(wildcard schemas/avro_native/src/*.rs)
	@if command -v cargo >/dev/null; then \
	  echo "building the compiled Avro codec (cargo)"; \
	  (cd schemas/avro_native && PYO3_PYTHON=$(abspath $(BIN)/python) cargo build --release --locked --quiet) \
	  && cp schemas/avro_native/target/release/lib_avro_native.so $@; \
	else \
	  echo "warning: no cargo, so the compiled Avro codec is not built: fastavro and the Python writer stand in" \
	       "(slower; make test checks it is built). Rust >= 1.74: https://rustup.rs" >&2; \
	fi

install: $(BIN)/.installed $(AVRO_NATIVE)

# The locks CI, `make install` and the image install from: every version pinned, every file hashed.
# The SDK (producer/pyproject.toml) keeps ranges: an application resolves it with its own dependencies.
LOCK_FLAGS = --universal --python-version 3.11 --generate-hashes --quiet
lock:
	test -x $(BIN)/uv || $(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) --extra dev -o requirements/dev.lock
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) -o requirements/service.lock
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) --extra embedded -o requirements/service-embedded.lock

$(TS)/node_modules/.installed: $(TS)/package.json $(TS)/package-lock.json
	cd $(TS) && npm ci --no-audit --no-fund
	touch $@

ts-build: $(TS)/node_modules/.installed
	cd $(TS) && npm run --silent build

# the TypeScript SDK's own tests: unit, shared vectors, and the real broker
ts-test: ts-build kafka
	cd $(TS) && KAFKA_BOOTSTRAP=$${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$(KAFKA_PORT)} node --test --test-reporter=spec dist/test/

kafka:
	bash scripts/kafka/kafka.sh start

kafka-stop:
	bash scripts/kafka/kafka.sh stop

# the broker `make kafka` started: KAFKA_PORT=29092 make demo runs against 29092, never someone's 9092
BOOTSTRAP = $${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$(KAFKA_PORT)}

topics: install kafka
	$(BIN)/audit-layer topics --bootstrap-servers $(BOOTSTRAP)

demo: install kafka
	$(BIN)/audit-layer demo --bootstrap-servers $(BOOTSTRAP)

verify: install
	$(BIN)/audit-layer verify --bootstrap-servers $(BOOTSTRAP)

test: install kafka ts-build
	bash scripts/system_packages.sh --browser
	KAFKA_BOOTSTRAP_SERVERS=$${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$(KAFKA_PORT)} $(BIN)/pytest
	$(MAKE) --no-print-directory ts-test

test-unit: install
	$(BIN)/pytest tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install kafka
	$(BIN)/python benchmarks/sdk_latency.py --calls 5000 --bootstrap 127.0.0.1:$(KAFKA_PORT)
	$(BIN)/python benchmarks/verify_bench.py --links 1000000
	$(BIN)/python benchmarks/tamper_drill.py --trials 10000
	$(BIN)/python benchmarks/proof_bench.py --links 10000000 --proofs 200
	$(BIN)/python benchmarks/clickhouse_bench.py --events 10000000 --sink-events 200000 --bootstrap 127.0.0.1:$(KAFKA_PORT)
	$(BIN)/python benchmarks/api_bench.py --workers 2 --search-events 10000000 --bootstrap 127.0.0.1:$(KAFKA_PORT)
	$(BIN)/python benchmarks/pipeline_bench.py --events 50000 --fresh-seconds 30 --bootstrap 127.0.0.1:$(KAFKA_PORT)

# fault injection on the real broker and the embedded engine (RELIABILITY.md); a short version runs in `make test`
faults: install kafka
	$(BIN)/python faults/kill_drill.py --events 100000 --rate 1500 --min-kills 20 --bootstrap 127.0.0.1:$(KAFKA_PORT)
	$(BIN)/python faults/kill_drill.py --events 30000 --rate 1000 --min-kills 0 --broker-restarts 2 --broker-down 15 \
		--bootstrap 127.0.0.1:$(KAFKA_PORT) --json bench-results/faults_broker.json
	$(BIN)/python faults/kill_drill.py --events 100000 --rate 1000 --min-kills 0 --broker-restarts 1 --broker-down 60 \
		--bootstrap 127.0.0.1:$(KAFKA_PORT) --json bench-results/faults_broker_60s.json
	$(BIN)/python faults/kill_drill.py --broker-restarts 1 --broker-down 300 \
		--bootstrap 127.0.0.1:$(KAFKA_PORT) --json bench-results/faults_broker_300s.json
	$(BIN)/python faults/scale_drill.py --events 60000 --rate 1500 --start 2 --partitions 6 \
		--bootstrap 127.0.0.1:$(KAFKA_PORT)
	$(BIN)/python faults/kill_drill.py --events 30000 --rate 1500 --min-kills 6 --topology staged \
		--bootstrap 127.0.0.1:$(KAFKA_PORT) --json bench-results/faults_kill_staged.json

clean:
	rm -rf data .pytest_cache .mypy_cache .ruff_cache $(TS)/dist $(TS)/schema
