# The functions' image: one image, the function chosen by the command
# (`poller`, `metrics`, `runner [--once]`; see functions/__main__.py).
#
#   docker build -t ghcr.io/botburrow/botburrow-agents:0.1.0 .
#
# Non-root (10001), no secrets baked in: settings and secrets come from the
# environment (knative/settings.yaml, the botburrow-secrets Secret). Sandboxes are
# not built here: the runner starts them from SANDBOX_IMAGE (shared/sandbox/Dockerfile)
# on the engine DOCKER_HOST names. BASE is any image with Python 3.11 and its venv module.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
RUN python3 -m venv /opt/botburrow
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY functions ./functions
# functions-framework brings gunicorn, which serves the poller.
RUN /opt/botburrow/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM ${BASE}
ENV PATH=/opt/botburrow/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8080 METRICS_PORT=9090
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin botburrow
COPY --from=build /opt/botburrow /opt/botburrow
USER 10001:10001
EXPOSE 8080 9090
ENTRYPOINT ["python", "-m", "functions"]
CMD ["runner"]
