# syntax=docker/dockerfile:1
# prober: synthetic probes and black-box SLIs. Build with
#   docker build -t prober:0.1.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
# Runs `prober run -c /etc/prober/probes.yaml --listen 0.0.0.0:9477` as UID 10001;
# mount the config there (the Helm chart in helm/prober does). The image ships the
# repository's probes.yaml at that path as an example.
# tests/test_dockerfile.py checks this file against the chart and prober (no engine
# needed), and lints it with hadolint.

ARG PYTHON_IMAGE=python:3.11-slim-trixie

# --- builder: wheels for prober and every dependency, installed into a venv ----------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the wheel is built from (.dockerignore keeps the rest out of the context).
COPY pyproject.toml README.md ./
COPY prober/ prober/
# Dependencies resolve within the ranges pinned in pyproject.toml.
RUN pip wheel --wheel-dir /wheels . \
 && python -m venv /opt/prober \
 && /opt/prober/bin/pip install --no-index --find-links /wheels /wheels/prober-*.whl

# --- runtime ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
# The repository URL, e.g. --build-arg SOURCE=https://git.example.com/sre/prober
ARG SOURCE=""
LABEL org.opencontainers.image.title="prober" \
      org.opencontainers.image.description="Synthetic probe agent: HTTP probes, Prometheus metrics and SLO rules" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# No .pyc writes at run time (the venv is compiled at install), unbuffered JSON
# logs, and nothing written outside /tmp, so a read-only root filesystem works.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/prober/bin:$PATH \
    HOME=/tmp \
    TMPDIR=/tmp

RUN groupadd --system --gid 10001 prober \
 && useradd --system --no-log-init --uid 10001 --gid 10001 \
      --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin prober

COPY --from=builder /opt/prober /opt/prober
COPY probes.yaml /etc/prober/probes.yaml

# Relative paths (`prober check`, `prober once` default to probes.yaml) find the config.
WORKDIR /etc/prober
USER 10001:10001
EXPOSE 9477

# Docker only; Kubernetes ignores it and uses the chart's /healthz and /ready probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9477/healthz', timeout=3)"]

ENTRYPOINT ["prober", "run"]
CMD ["-c", "/etc/prober/probes.yaml", "--listen", "0.0.0.0:9477"]
