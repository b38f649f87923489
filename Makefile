# Argus — the two commands of the Quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: sftp-client venv browser promtool demo test test-unit test-integration bench-submit bench-sched bench-rejoin bench-cli bench-latency bench-list bench-tick bench-transfer bench-metrics bench-ui clean lint-imports

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m argus.demo

# The SFTP tests drive the real OpenSSH client (sftp, ssh-keygen, ssh-keyscan).
sftp-client:
	@command -v sftp >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-client; } || \
	  echo "warning: install openssh-client (sftp) for the SFTP tests"

# The UI tests drive Debian's chromium through Playwright (Playwright's own browser download
# does not work offline); installed once, skipped when it is already there.
browser:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

# promtool and prometheus (Debian's prometheus package): rule tests and a real scrape test.
promtool:
	@command -v promtool >/dev/null || (apt-get update && apt-get install -y --no-install-recommends prometheus)

# Debian's PostgreSQL server binaries: the tests start their own server from them (as nobody,
# in a temporary directory, on a free port; tests/pgserver.py). Skipped when already there.
.PHONY: postgres
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql)

test: $(STAMP) browser sftp-client promtool postgres
	$(PY) -m pytest -q

test-unit: $(STAMP) browser sftp-client postgres
	$(PY) -m pytest -q -m "not integration and not cluster"

lint-imports: $(STAMP)
	.venv/bin/lint-imports

bench-submit: $(STAMP)
	command -v wrk || (apt-get update && apt-get install -y wrk)
	$(PY) bench/submit.py

bench-sched: $(STAMP)
	$(PY) bench/sched_sim.py

bench-rejoin: $(STAMP)
	$(PY) bench/rejoin.py

bench-transfer: $(STAMP) sftp-client
	$(PY) bench/transfer.py

bench-metrics: $(STAMP)
	$(PY) bench/metrics_scrape.py

bench-cli: $(STAMP)
	$(PY) bench/cli.py

bench-ui: $(STAMP)
	$(PY) bench/ui.py

bench-latency: $(STAMP)
	$(PY) bench/latency.py

bench-list: $(STAMP)
	$(PY) bench/list_scale.py

bench-tick: $(STAMP)
	$(PY) bench/tick_scale.py

clean:
	rm -rf $(VENV) .state .cache .pytest_cache
