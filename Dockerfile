# The alforge image: one image for every service in docker-compose.yml (the Prefect server via
# `alforge server`, the worker via `alforge serve`, the dashboard via `alforge dashboard`).
#
#   docker build -t alforge .                                    # CPU (default)
#   docker build -t alforge-gpu --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cuXYZ .
#     (cuXYZ: a CUDA build of torch 2.13.0 that your driver supports; see pytorch.org)
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMP_NUM_THREADS=1 \
    ALFORGE_HOME=/data \
    PREFECT_HOME=/data/prefect \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

# OpenMP runtime for PySCF's and torch's threads.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

# torch first and pinned: a looser requirement resolved with the rest pulls GBs of CUDA wheels.
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"

WORKDIR /app
COPY pyproject.toml README.md ./
COPY alforge ./alforge
RUN pip install . && alforge --help > /dev/null
COPY examples ./examples

RUN useradd --create-home --uid 1000 alforge && mkdir -p /data/prefect && chown -R alforge /data
USER alforge
VOLUME ["/data"]
EXPOSE 4200 8765

CMD ["alforge", "--help"]
