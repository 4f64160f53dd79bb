# botburrow-agents: `make test` is the one command CI and developers run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint redis sandbox bench clean

install: $(STAMP)

# Re-install only when the dependency list changes; the package itself is editable.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# A redis-server >= 7.0 on PATH (installed with apt-get when root and missing).
redis:
	@bash scripts/ensure-redis

# bubblewrap, a Docker engine and the sandbox image built offline (apt-get and dockerd
# when root). Only CI insists: elsewhere the sandbox tests skip when this cannot be done.
sandbox: install
	@PYTHON=$(BIN)/python bash scripts/ensure-sandbox || { [ "$$CI" != "true" ] && echo "make sandbox: the sandbox tests will skip" >&2; }

# The whole system on this machine (Ctrl-C stops it); ARGS passes options, e.g. ARGS="--agents DIR".
run: install
	$(BIN)/python -m local_emulator $(ARGS)

test: install redis sandbox
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install redis sandbox
	$(BIN)/python -m bench dispatch --json
	$(BIN)/python -m bench recovery --json
	$(BIN)/python -m bench sandbox --json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
