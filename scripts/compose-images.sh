#!/usr/bin/env bash
# Builds every image docker-compose.yml needs when no image registry is reachable:
#   alforge-local/debian:bookworm  debootstrap --variant=minbase bookworm | docker import
#   alforge-local/python:3.11      Debian's python3 + venv, standing in for python:3.11-slim
#   alforge-local/postgres:15      Debian's postgresql package, standing in for postgres:15
#   alforge:latest                 the Dockerfile on alforge-local/python:3.11, from a host-built
#                                  wheelhouse (build/wheelhouse) so the build needs no index
# and prints the two variables that point docker-compose.yml at them; nothing else differs:
#   eval "$(scripts/compose-images.sh)"; docker compose up -d
# With --postgres, only the first and the third (for scripts/compose-smoke.sh --ci).
# Torch in the wheelhouse comes from pip's configured indexes, or TORCH_INDEX when set
# (e.g. https://download.pytorch.org/whl/cpu): install it pinned, never via a loose requirement.
set -euo pipefail
cd "$(dirname "$0")/.."
only_postgres=false
case "${1:-}" in
  --postgres) only_postgres=true ;;
  "") ;;
  *) echo "usage: scripts/compose-images.sh [--postgres]" >&2; exit 2 ;;
esac
source scripts/compose-docker.sh
log() { echo "compose-images: $*" >&2; }
nice=(nice -n "${ALFORGE_NICE:-10}")
mkdir -p build/compose-logs
# build TAG CONTEXT [docker build options]: the full output goes to build/compose-logs/.
build() {
  local tag=$1 context=$2 logfile start=$SECONDS
  shift 2
  logfile=build/compose-logs/$(echo "$tag" | tr '/:' '__').log
  if ! "${nice[@]}" docker build --force-rm -t "$tag" "$@" "$context" > "$logfile" 2>&1; then
    tail -n 30 "$logfile" >&2
    echo "compose-images: building $tag failed; see $logfile" >&2
    exit 1
  fi
  log "built $tag in $((SECONDS - start)) s (log: $logfile)"
}

debian=alforge-local/debian:bookworm
python_image=alforge-local/python:3.11
postgres_image=alforge-local/postgres:15
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if ! docker image inspect "$debian" > /dev/null 2>&1; then
  start=$SECONDS
  rootfs=$(mktemp -d /tmp/alforge-rootfs.XXXXXX)
  $compose_sudo "${nice[@]}" debootstrap --variant=minbase bookworm "$rootfs" "$mirror" > /dev/null
  $compose_sudo tar -C "$rootfs" -c . | docker import - "$debian" > /dev/null
  $compose_sudo rm -rf "$rootfs"
  log "imported $debian (debootstrap bookworm from $mirror) in $((SECONDS - start)) s"
fi

build "$postgres_image" scripts -f - <<DOCKERFILE
FROM $debian
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql \\
    && pg_dropcluster 15 main && rm -rf /var/lib/apt/lists/* \\
    && mkdir -p /docker-entrypoint-initdb.d
ENV PATH=/usr/lib/postgresql/15/bin:\$PATH PGDATA=/var/lib/postgresql/data
COPY compose-postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
DOCKERFILE

if $only_postgres; then
  echo "export ALFORGE_POSTGRES_IMAGE=$postgres_image"
  exit 0
fi

build "$python_image" - <<DOCKERFILE
FROM $debian
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \\
    && rm -rf /var/lib/apt/lists/* && ln -s /usr/bin/python3 /usr/local/bin/python
CMD ["python3"]
DOCKERFILE

wheelhouse=build/wheelhouse
if [ ! -f "$wheelhouse/.complete" ] || [ pyproject.toml -nt "$wheelhouse/.complete" ]; then
  host_python=${PYTHON:-python3}
  "$host_python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
    echo "compose-images: the wheelhouse needs a host Python 3.11 (the images' Python); set PYTHON" >&2; exit 1; }
  start=$SECONDS
  rm -rf "$wheelhouse" && mkdir -p "$wheelhouse"
  torch_index=()
  [ -z "${TORCH_INDEX:-}" ] || torch_index=(--index-url "$TORCH_INDEX")
  "${nice[@]}" "$host_python" -m pip wheel -q --wheel-dir "$wheelhouse" "${torch_index[@]}" "torch==2.13.0" 2> >(grep -v "^WARNING: Location" >&2)
  # async-timeout: redis needs it on Python < 3.11.3 (Debian's 3.11.2), which a newer host skips.
  "${nice[@]}" "$host_python" -m pip wheel -q --wheel-dir "$wheelhouse" "torch==2.13.0" "setuptools>=68" wheel \
    "async-timeout>=4.0.3" . \
    --find-links "$wheelhouse" 2> >(grep -v "^WARNING: Location" >&2)
  rm -f "$wheelhouse"/alforge-*.whl
  touch "$wheelhouse/.complete"
  log "built the wheelhouse $wheelhouse in $((SECONDS - start)) s"
fi

build alforge:latest . --build-arg "BASE_IMAGE=$python_image"

echo "export ALFORGE_BASE_IMAGE=$python_image ALFORGE_POSTGRES_IMAGE=$postgres_image"
