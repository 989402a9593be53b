# The alforge image: one image for every service in docker-compose.yml (the Prefect server via
# `alforge server`, the worker via `alforge serve`, the dashboard via `alforge dashboard`).
#
#   docker build -t alforge .                                    # CPU (default)
#   docker build -t alforge-gpu --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cuXYZ .
#     (cuXYZ: a CUDA build of torch 2.13.0 that your driver supports; see pytorch.org)
#
# Without an image registry, scripts/compose-images.sh builds a stand-in for python:3.11-slim
# from Debian (BASE_IMAGE) and a host-built wheelhouse in build/wheelhouse; when that folder
# holds wheels, pip installs from it alone (--no-index) and TORCH_INDEX is not used.
ARG BASE_IMAGE=python:3.11-slim

# Stage 1: alforge's dependencies in a virtual environment (the wheels stay behind). Only
# pyproject.toml decides this stage, so editing alforge's code does not reinstall them.
FROM ${BASE_IMAGE} AS dependencies

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/alforge/bin:$PATH

RUN python3 -m venv /opt/alforge

# The wheelhouse, if any (the wildcard copies nothing when build/wheelhouse is absent).
COPY pyproject.toml build/wheelhouse* /tmp/wheels/

# torch first and pinned: a looser requirement resolved with the rest pulls GBs of CUDA wheels.
RUN if ls /tmp/wheels/*.whl > /dev/null 2>&1; then set -- --no-index --find-links /tmp/wheels; \
    else set -- --index-url "${TORCH_INDEX}"; fi \
    && pip install "$@" "torch==${TORCH_VERSION}"

# The rest of the dependencies, through an empty stand-in for the package.
WORKDIR /src
COPY pyproject.toml README.md ./
RUN if ls /tmp/wheels/*.whl > /dev/null 2>&1; then set -- --no-index --find-links /tmp/wheels; fi \
    && mkdir alforge && touch alforge/__init__.py \
    && pip install "$@" setuptools wheel . && pip uninstall -y alforge

# Stage 2: the runtime image.
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    ALFORGE_HOME=/data \
    PREFECT_HOME=/data/prefect \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    PATH=/opt/alforge/bin:$PATH

# OpenMP runtime for PySCF's and torch's threads.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

COPY --from=dependencies /opt/alforge /opt/alforge

# alforge itself (its dependencies are all there: no index, no build isolation).
WORKDIR /app
COPY pyproject.toml README.md /tmp/alforge-src/
COPY alforge /tmp/alforge-src/alforge
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps --no-index --no-build-isolation /tmp/alforge-src \
    && rm -rf /tmp/alforge-src && alforge --help > /dev/null
COPY examples ./examples

RUN useradd --create-home --uid 1000 alforge && mkdir -p /data/prefect && chown -R alforge /data
USER alforge
VOLUME ["/data"]
EXPOSE 4200 8765

CMD ["alforge", "--help"]
