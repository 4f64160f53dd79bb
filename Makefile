# botburrow-agents: `make test` is the one command CI and developers run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lock run test test-fast lint fmt redis postgres browser sandbox mcp-servers mcp-image clis cli-image image-offline bench clean

install: $(STAMP)

# Exactly what uv.lock pins, checked against the lock afterwards (scripts/install); again
# whenever the lock or pyproject.toml changes. A missing or stale lock is an error, never a
# fresh resolve: that is `make lock`. The package itself is editable.
$(STAMP): pyproject.toml $(wildcard uv.lock) scripts/uv-requirements.txt
	@VENV=$(VENV) PYTHON=$(PYTHON) bash scripts/install
	@touch $(STAMP)

# Refresh uv.lock on purpose: `make lock` after changing pyproject.toml keeps every other pin;
# `make lock UPGRADE=all` moves everything within its range; `make lock UPGRADE=NAME` one package.
lock:
	@bash scripts/lock $(if $(UPGRADE),$(if $(filter all,$(UPGRADE)),--upgrade,--upgrade-package $(UPGRADE)))

# A redis-server >= 7.0 on PATH (installed with apt-get when root and missing).
redis:
	@bash scripts/ensure-redis

# PostgreSQL's server binaries (the MCP tests start a private server; apt-get when root and missing).
postgres:
	@bash scripts/ensure-postgres

# Chromium and chromedriver at /usr/bin (the web view's browser test drives them with Selenium,
# offline; apt-get when root and missing). Under CI=true the browser test fails without them.
browser:
	@bash scripts/ensure-browser || { [ "$$CI" != "true" ] && echo "make browser: the browser test will skip" >&2; }

# bubblewrap, a Docker engine and the sandbox image built offline (apt-get and dockerd
# when root). Only CI insists: elsewhere the sandbox tests skip when this cannot be done.
sandbox: install
	@PYTHON=$(BIN)/python bash scripts/ensure-sandbox || { [ "$$CI" != "true" ] && echo "make sandbox: the sandbox tests will skip" >&2; }

# The built-in MCP servers (npm ci and uv sync of mcp-servers/, from their locks; node, npm
# and git with apt-get when root and missing).
mcp-servers: install
	@bash scripts/ensure-mcp-servers

# The image MCP_SANDBOX=docker runs them from, built offline from this host's node, Python and
# git (python -m shared.mcp.image, ~15 s; kept while nothing in it changed). Like the sandbox
# image, only CI insists: elsewhere the Docker MCP tests skip without an engine.
mcp-image: sandbox mcp-servers
	@$(BIN)/python -m shared.mcp.image --servers $(CURDIR)/mcp-servers || { [ "$$CI" != "true" ] && echo "make mcp-image: the Docker MCP tests will skip" >&2; }

# The coding CLIs the executors run (scripts/ensure-clis: npm ci of clis/package-lock.json, uv sync
# of clis/aider/uv.lock; ~20 s, then kept while the locks are unchanged). After mcp-servers, which
# brings node and npm.
clis: mcp-servers
	@bash scripts/ensure-clis

# The image a Docker backend runs the CLIs in (CLI_IMAGE), built offline from the installs above,
# this host's python3, bash, git, tar and busybox (python -m shared.executors.image; ~1.25 GB,
# ~20 s; kept while nothing in it changed). Only CI insists, like the sandbox image.
cli-image: sandbox clis
	@$(BIN)/python -m shared.executors.image --clis $(CURDIR)/clis || { [ "$$CI" != "true" ] && echo "make cli-image: the Docker CLI tests will skip" >&2; }

# The functions image (./Dockerfile) built and checked where no registry is reachable, FROM
# local stand-ins for its bases (scripts/image-offline; root and a Docker engine; ~2 min).
image-offline: install sandbox
	@PYTHON=$(BIN)/python bash scripts/image-offline $(TAG)

# The whole system on this machine (Ctrl-C stops it); ARGS passes options, e.g. ARGS="--agents DIR".
run: install
	$(BIN)/python -m local_emulator $(ARGS)

test: install redis postgres browser sandbox mcp-servers mcp-image clis cli-image
	$(BIN)/pytest $(PYTEST_ARGS)

# The inner loop: everything but the slow suites (emulator, crash, process tests) and the
# tests that need Docker or bubblewrap; Redis is all it needs.
test-fast: install redis
	$(BIN)/pytest -m "not slow and not sandbox" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Format and apply ruff's safe fixes; `make lint` then says what is left.
fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install redis sandbox
	$(BIN)/python -m bench dispatch --json
	$(BIN)/python -m bench recovery --json
	$(BIN)/python -m bench sandbox --json

clean:
	rm -rf $(VENV) .tools mcp-servers/node_modules mcp-servers/.venv clis/node_modules clis/aider/.venv .pytest_cache .mypy_cache .ruff_cache *.egg-info
