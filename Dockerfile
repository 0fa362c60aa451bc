# syntax=docker/dockerfile:1.7
# Petrosa CIO: one image for every process (web, nurse, celery worker/beat, audit sink);
# the Kubernetes manifests (k8s/) choose the command. Multi-stage and slim, runs as uid
# 1000, needs no writable path but /tmp (an emptyDir in k8s), installs exactly the versions
# and hashes of requirements.lock.
#
#   docker build -t petrosa-cio:0.1.0 .
#   docker run --rm --read-only --tmpfs /tmp -e DATABASE_URL=... petrosa-cio:0.1.0
#
# Needs a Docker (BuildKit) engine; the project's CI machines have only the client, so CI
# checks this file's invariants (tests/ops/test_manifests.py) and validates k8s/ instead.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: resolve the runtime subset of the lock, install it, collect static files -------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 \
    UV_NO_CACHE=1 UV_PYTHON_DOWNLOADS=never
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/tools && /opt/tools/bin/pip install "uv==0.13.9"
WORKDIR /src
COPY pyproject.toml requirements.lock ./
# requirements.lock also pins the dev tools (pytest, mypy, ...). The runtime set is the
# project's own dependencies constrained to the lock's versions; every resulting pin and
# hash must be one requirements.lock holds, else the build stops.
RUN /opt/tools/bin/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes \
        --constraint requirements.lock --output-file /tmp/runtime.lock --quiet \
 && python - <<'PY'
import re, sys
def pins(path):
    text = open(path).read()
    out = {}
    for block in re.split(r"\n(?=\S)", text):
        m = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", block)
        if m:
            out[m.group(1).lower()] = (m.group(2), set(re.findall(r"sha256:[0-9a-f]{64}", block)))
    return out
runtime, lock = pins("/tmp/runtime.lock"), pins("requirements.lock")
bad = [n for n, (v, h) in runtime.items() if n not in lock or lock[n][0] != v or not h <= lock[n][1]]
if bad:
    sys.exit(f"runtime set leaves requirements.lock: {bad}")
print(f"{len(runtime)} runtime packages, all pinned and hashed by requirements.lock")
PY
RUN python -m venv /opt/cio \
 && /opt/tools/bin/uv pip install --python /opt/cio/bin/python --require-hashes --no-deps \
        -r /tmp/runtime.lock
COPY . /src/app
WORKDIR /src/app
# Static files (admin, API docs, dashboard) collected into the image; bytecode compiled now
# because the root filesystem is read-only at run time.
RUN CIO_VAR_DIR=/tmp/build-var CIO_STATIC_ROOT=/opt/static \
        /opt/cio/bin/python manage.py collectstatic --noinput --verbosity 0 \
 && /opt/cio/bin/python -m compileall -q /src/app /opt/cio/lib

# --- runtime -----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 1000 cio \
 && useradd --system --uid 1000 --gid 1000 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin cio
# Code and packages stay owned by root: the process can read them, never change them.
COPY --from=build /opt/cio /opt/cio
COPY --from=build /opt/static /opt/static
COPY --from=build /src/app /app
ENV PATH=/opt/cio/bin:$PATH \
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=cio_site.settings \
    HOME=/tmp CIO_VAR_DIR=/tmp/var \
    CIO_STATIC_ROOT=/opt/static CIO_STATIC_USE_FINDERS=false \
    CIO_LOG_FORMAT=json
WORKDIR /app
USER 1000:1000
EXPOSE 8000 9102
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "cio_site.asgi:application"]
