# The functions' image: one image, the function chosen by the command
# (`poller`, `ingest`, `metrics`, `runner [--once]`; see functions/__main__.py).
#
#   docker build -t ghcr.io/botburrow/botburrow-agents:0.1.0 .
#
# Non-root (10001), no secrets baked in: settings and secrets come from the
# environment (knative/settings.yaml, the botburrow-secrets Secret). Sandboxes are
# not built here: the runner starts them from SANDBOX_IMAGE (shared/sandbox/Dockerfile)
# on the engine DOCKER_HOST names. BASE is any image with Python 3.11 (under /usr) and its
# venv module; NODE is any image with a node 20 binary at /usr/local/bin/node.
#
# The built-in MCP servers (mcp-servers/, from their locks) are in /opt/mcp-servers. This
# image is also MCP_IMAGE: with MCP_SANDBOX=docker (the manifests) each server is a container
# of it on the pod's engine, its workspace a volume over /workspace (owned by 10001 here, so
# the volume is); with MCP_SANDBOX=bwrap the runner starts them in bubblewrap (installed here
# with git). See README, "MCP servers". The coding CLIs are in /opt/botburrow/clis (README,
# "Coding CLIs").
ARG BASE=python:3.11-slim-bookworm
ARG NODE=node:20-bookworm-slim

FROM ${NODE} AS node

FROM ${BASE} AS build
WORKDIR /src
# uv at the version the lock was made with, checked by hash; it stays in this stage.
COPY scripts/uv-requirements.txt ./
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes --only-binary :all: \
        -r uv-requirements.txt
COPY pyproject.toml uv.lock README.md ./
COPY shared ./shared
COPY functions ./functions
# Exactly what uv.lock pins, without the dev extras; the project itself as a wheel, not editable.
# functions-framework brings gunicorn, which serves the poller and ingest.
RUN UV_PROJECT_ENVIRONMENT=/opt/botburrow UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1 \
    /opt/uv/bin/uv sync --locked --no-editable --compile-bytecode --python python3
# The MCP servers: node ones with npm ci (package-lock.json), Python ones with uv (mcp-servers/uv.lock).
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
COPY mcp-servers/package.json mcp-servers/package-lock.json mcp-servers/postgres.mjs /opt/mcp-servers/
COPY mcp-servers/pyproject.toml mcp-servers/uv.lock /opt/mcp-servers/
RUN cd /opt/mcp-servers \
    && node /usr/local/lib/node_modules/npm/bin/npm-cli.js ci --omit=dev --no-audit --no-fund \
    && UV_PROJECT_ENVIRONMENT=/opt/mcp-servers/.venv UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1 \
        /opt/uv/bin/uv sync --locked --compile-bytecode --python python3

# The coding CLIs (clis/, from their locks): Claude Code's and OpenCode's linux-x64 builds with
# npm ci, aider with uv on this image's python3. This image is also CLI_IMAGE: each CLI runs in a
# container of it, from /opt/botburrow/clis, behind /opt/botburrow/forward.py (shared/executors).
COPY clis/package.json clis/package-lock.json /opt/botburrow/clis/
COPY clis/aider/pyproject.toml clis/aider/uv.lock /opt/botburrow/clis/aider/
RUN cd /opt/botburrow/clis \
    && node /usr/local/lib/node_modules/npm/bin/npm-cli.js ci --no-audit --no-fund \
    && cd aider && UV_PROJECT_ENVIRONMENT=/opt/botburrow/clis/aider/.venv UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1 \
        /opt/uv/bin/uv sync --locked --compile-bytecode --python python3
COPY shared/executors/forward.py /opt/botburrow/forward.py

FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap git util-linux \
    && rm -rf /var/lib/apt/lists/*
ENV PATH=/opt/botburrow/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8080 METRICS_PORT=9090
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin botburrow \
    && install -d -m 700 -o 10001 -g 10001 /workspace
COPY --from=build /opt/botburrow /opt/botburrow
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=build /opt/mcp-servers /opt/mcp-servers
USER 10001:10001
EXPOSE 8080 9090
ENTRYPOINT ["python", "-m", "functions"]
CMD ["runner"]
