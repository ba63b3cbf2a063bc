# syntax=docker/dockerfile:1
#
# initserve image: the build stage makes the wheel and installs it, with its dependencies, into /opt/venv;
# the runtime stage copies only that venv. Both stages share one base image, so the venv's interpreter
# link (/usr/local/bin/python3) is valid in the runtime stage.
#
#   docker build -t initserve .
#   docker run --rm -p 8000:8000 --read-only --tmpfs /tmp --stop-timeout 25 -e INITSERVE_WORKERS=2 initserve
#
# Settings come from INITSERVE_* variables (service/settings.py). Nothing is written to disk at run time,
# so a read-only root filesystem works; only the SVG chart (matplotlib's font cache, MPLCONFIGDIR) needs
# a writable /tmp, hence the tmpfs (without one, that operation alone answers 503); numba keeps the
# framework streams' compiled kernels there too (NUMBA_CACHE_DIR), compiled once per container at start-up. uvicorn drains
# requests for up to 20 s after SIGTERM: give the container a longer stop timeout (Kubernetes:
# terminationGracePeriodSeconds >= 25).
# tests/deploy/ lints this file and runs its install, start and health-check commands.
# numpy is pinned to the version the golden stream hashes are tested with (pyproject's test extra): NumPy keeps
# its random streams only within a version, and every replica must answer the same bytes.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service/ service/
RUN python -m pip wheel --no-deps --wheel-dir /tmp/wheels . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/python -m pip install /tmp/wheels/initserve-*.whl numpy==2.4.6

FROM python:${PYTHON_VERSION}-slim AS runtime
LABEL org.opencontainers.image.title="initserve" \
      org.opencontainers.image.description="A REST service that serves initialized neural-network weight tensors" \
      org.opencontainers.image.licenses="MIT"
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    INITSERVE_HOST=0.0.0.0 \
    INITSERVE_PORT=8000 \
    INITSERVE_WORKERS=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba
RUN groupadd --system --gid 10001 initserve \
    && useradd --system --uid 10001 --gid initserve --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin initserve
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8000
# slim has no curl: the check is Python's urllib; any error or non-2xx answer exits 1 (unhealthy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + (os.environ.get('INITSERVE_PORT') or '8000') + '/healthz', timeout=4)"]
CMD ["initserve", "serve"]
