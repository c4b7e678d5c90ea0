# Two commands matter: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint bench soak clean-var crisis-model crisis-report

# Every downloaded file, pip included, is checked against requirements-dev.lock's hashes
# (regenerate with scripts/lock after changing constraints.txt). Our own package is local:
# no download, built with the locked setuptools, and `pip check` proves the lock complete.
# Quiet: one line while installing, pip's own output only if something fails (first
# `make run` used to print fifty lines of installer noise before the URLs).
PIP := $(BIN)/python -m pip --disable-pip-version-check -qq
$(STAMP): pyproject.toml constraints.txt requirements-dev.lock
	@echo "installing Python packages into $(VENV) (first run only, a minute or two)…"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(PIP) install --require-hashes --no-deps -r requirements-dev.lock
	@$(PIP) install --no-deps --no-build-isolation -e .
	@$(BIN)/python -m pip check > $(VENV)/pip-check.txt || { cat $(VENV)/pip-check.txt; exit 1; }
	@touch $(STAMP)

# Prints the URLs, the service hours, and how to try it outside them (YIZHAN_OPEN_TIME=00:00).
run: $(STAMP)
	@$(BIN)/yizhan dev

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	scripts/ensure-chromium
	scripts/ensure-deploy-tools
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Everything but the browser and multi-process tests, for a quick loop while coding.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

# The reconnect schedules of the test suite, many more of them (about 20 minutes on two
# cores): SCHEDULES in-process, KILL_SCHEDULES with SIGKILLed node processes. A failure
# names its seed; YIZHAN_SEED=<seed> replays it.
SCHEDULES ?= 3000
KILL_SCHEDULES ?= 200
soak: $(STAMP)
	YIZHAN_SCHEDULES=$(SCHEDULES) YIZHAN_KILL_SCHEDULES=$(KILL_SCHEDULES) \
		$(BIN)/python -m pytest -q tests/chat/test_delivery_random.py tests/chat/test_delivery_kill.py $(PYTEST_ARGS)

# mypy reads its file list and per-package strictness from pyproject.toml ([tool.mypy]).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.run $(if $(QUICK),--quick,)

# The learned crisis layer: trains on tests/data (seeded, deterministic) and writes
# chat_server/crisis/data/crisis_model.tsv.gz; tests/crisis/test_crisis_corpus.py checks the shipped file
# is what this builds. One thread: BLAS threads only oversubscribe a shared 2-core machine.
crisis-model: $(STAMP)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python -m chat_server.crisis.training build

# Leave-one-writer-out figures of docs/CRISIS.md (counts only).
crisis-report: $(STAMP)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python -m chat_server.crisis.training report

clean-var:
	rm -rf var
