# syntax=docker/dockerfile:1
#
# One image for the API and the worker:
#   docker build -t possync .
#   docker run --rm -p 8000:8000 possync                      # API (embedded SQLite, in-process jobs)
#   docker run --rm -e DATABASE_URL=… -e REDIS_URL=… -e POSSYNC_ENCRYPTION_KEYS=… possync possync worker
# docker-compose.yml runs the whole stack (PostgreSQL, Redis, migrate, API, workers).

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: install the package and its pinned dependencies into a self-contained venv --------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src
# Only what the build needs (see .dockerignore).
COPY pyproject.toml requirements.lock README*.md ./
COPY app ./app
COPY migrations ./migrations
# The lock file as constraints: every transitive version as tested, without the test extras.
RUN pip install --upgrade pip setuptools wheel \
 && pip install -c requirements.lock . \
 && possync --help > /dev/null

# --- final: the venv only, no build tools, no sources, a non-root user ---------------------------
FROM ${PYTHON_IMAGE} AS final

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 possync \
 && useradd --system --uid 10001 --gid possync --home-dir /data --create-home --shell /usr/sbin/nologin possync

# Same base image and same path as in the builder, so the venv's interpreter links stay valid.
COPY --from=builder /opt/venv /opt/venv

# The working folder is where embedded mode keeps its SQLite file and generated key.
WORKDIR /data
USER possync:possync

EXPOSE 8000

# Liveness of the API. The slim image has no curl, so Python asks. (The worker overrides this in
# docker-compose.yml: it serves no HTTP.)
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

CMD ["possync", "serve", "--host", "0.0.0.0", "--port", "8000"]
