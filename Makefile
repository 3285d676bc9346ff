# city-ingest: the single entry point. `make demo` and `make test` set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: help setup servers demo test cluster-test faults lint check bench clean docs secrets certs compose-check

help:
	@echo "make demo   - run a short simulated city end to end and print what landed"
	@echo "make test   - run the test suite against real Mosquitto and InfluxDB"
	@echo "make faults - crash, outage, broker-restart and hostile-input scenarios, as a table"
	@echo "make cluster-test - scale-out on a 3-node NATS cluster (also part of make test)"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - benchmarks, printed as tables"
	@echo "make docs   - regenerate docs/configuration.md from the settings models"
	@echo "make secrets certs - random secrets in ./secrets, a CA and broker certificate in ./certs"
	@echo "make compose-check - the docker compose deployment's checks (tests/deploy)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(STAMP) servers

# The servers the tests and the demo start for real (each on its own free port), and the
# browser the status page's test drives (tests/statuspage).
servers:
	@missing=""; \
	command -v mosquitto >/dev/null || missing="$$missing mosquitto"; \
	command -v mosquitto_sub >/dev/null || missing="$$missing mosquitto-clients"; \
	command -v influxd >/dev/null || missing="$$missing influxdb"; \
	command -v victoria-metrics >/dev/null || missing="$$missing victoria-metrics"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: setup
	$(BIN)/city-ingest demo

# The fault scenarios take minutes: `make faults` runs them (CI runs both).
test: setup
	$(BIN)/pytest -m "not faults"

# Scale-out (tests/cluster, docs/scaling.md): 3 nats-server from the venv, replicas as processes,
# about 1.5 min; the table of scenarios is printed at the end. `make test` runs them too.
cluster-test: setup
	$(BIN)/pytest tests/cluster -m cluster

# Fault scenarios (tests/faults, docs/reliability.md): real processes, a few minutes; the table
# is printed at the end and saved as JSON (CITY_INGEST_FAULTS_REPORT, default in the temp dir).
faults: setup
	$(BIN)/pytest tests/faults -m faults

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint test

bench: setup
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis var

docs: $(STAMP)
	$(BIN)/python -m ingest.configdoc docs/configuration.md

# ---------------------------------------------------------------- docker compose (docs/deploy.md)
# Secrets: one random token per file, never overwritten (InfluxDB reads its admin token only when
# it initialises its volume). The folder is private (0700); the files are 0644 because compose
# bind-mounts them into containers whose users (city-ingest, grafana, mosquitto) differ from
# yours. Both folders ignore themselves in git.
SECRETS_DIR ?= secrets
SECRET_NAMES := influxdb_admin_password influxdb_admin_token grafana_admin_password \
	grafana_influxdb_password mqtt_ingest_password mqtt_tts_password mqtt_chirpstack_password \
	mqtt_kpn_password mqtt_simulator_password pseudonym_key nats_ingest_password \
	nats_network_server_password
CERTS_DIR ?= certs
# The broker certificate's names: the compose service name, and where network servers reach it
# (add your public host name, e.g. CERT_HOSTS=DNS:mqtt.example.org,DNS:mosquitto).
CERT_HOSTS ?= DNS:mosquitto,DNS:localhost,IP:127.0.0.1
CERT_DAYS ?= 825

secrets:
	@mkdir -p $(SECRETS_DIR) && chmod 700 $(SECRETS_DIR) && echo '*' > $(SECRETS_DIR)/.gitignore
	@for name in $(SECRET_NAMES); do \
	  file="$(SECRETS_DIR)/$$name"; \
	  if [ -s "$$file" ]; then echo "kept    $$file"; continue; fi; \
	  openssl rand -hex 32 > "$$file" && chmod 644 "$$file" && echo "created $$file"; \
	done

certs: $(CERTS_DIR)/server.crt

# A private CA (ca.crt goes to each network server's MQTT integration) and the broker's
# certificate signed by it; ECDSA P-256 keys.
$(CERTS_DIR)/server.crt:
	@mkdir -p $(CERTS_DIR) && chmod 700 $(CERTS_DIR) && echo '*' > $(CERTS_DIR)/.gitignore
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 3650 \
	  -subj "/CN=city-ingest MQTT CA" -keyout $(CERTS_DIR)/ca.key -out $(CERTS_DIR)/ca.crt \
	  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -subj "/CN=mosquitto" \
	  -keyout $(CERTS_DIR)/server.key -out $(CERTS_DIR)/server.csr
	openssl x509 -req -in $(CERTS_DIR)/server.csr -CA $(CERTS_DIR)/ca.crt \
	  -CAkey $(CERTS_DIR)/ca.key -CAcreateserial -days $(CERT_DAYS) -out $@ \
	  -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' '$(CERT_HOSTS)')
	@rm -f $(CERTS_DIR)/server.csr $(CERTS_DIR)/ca.srl
	@chmod 600 $(CERTS_DIR)/ca.key && chmod 644 $(CERTS_DIR)/server.key $(CERTS_DIR)/*.crt

# Everything docker-compose.yml uses, checked without a Docker engine; plus `docker compose
# config` where the compose plugin is installed.
compose-check: setup
	$(BIN)/pytest tests/deploy -q
	@if docker compose version >/dev/null 2>&1; then \
	  docker compose --profile demo config --quiet && echo "docker compose config: OK"; \
	else echo "docker compose config: skipped (no compose plugin)"; fi
