#!/usr/bin/env bash
# Makes a Docker engine and Compose available on a Debian machine that has neither (a fresh CI
# machine): installs docker.io, docker-compose and debootstrap from Debian and starts dockerd
# if no engine answers. Sourced by the other compose-*.sh scripts; it defines `compose`, which
# runs Compose v2 (`docker compose`) where installed and Debian's docker-compose 1.29 otherwise.
set -euo pipefail

compose_sudo=""
[ "$(id -u)" -eq 0 ] || compose_sudo="sudo"

compose_missing=()
# a Docker CLI alone (some images ship one in /usr/local/bin) is not an engine: without a daemon
# that answers or a dockerd to start, install Debian's docker.io
if ! command -v docker > /dev/null || { ! docker info > /dev/null 2>&1 && ! command -v dockerd > /dev/null; }; then
  compose_missing+=(docker.io)
fi
command -v debootstrap > /dev/null || compose_missing+=(debootstrap)
if ! docker compose version > /dev/null 2>&1 && ! command -v docker-compose > /dev/null; then
  compose_missing+=(docker-compose)
fi
if [ ${#compose_missing[@]} -gt 0 ]; then
  echo "compose: installing ${compose_missing[*]} (Debian packages)"
  $compose_sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $compose_sudo apt-get install -y -qq --no-install-recommends \
    "${compose_missing[@]}" > /dev/null
fi

if ! docker info > /dev/null 2>&1; then
  echo "compose: starting dockerd (log: /tmp/alforge-dockerd.log)"
  $compose_sudo sh -c 'nohup dockerd > /tmp/alforge-dockerd.log 2>&1 &'
  for _ in $(seq 60); do docker info > /dev/null 2>&1 && break; sleep 1; done
  docker info > /dev/null 2>&1 || { echo "compose: dockerd did not start; see /tmp/alforge-dockerd.log" >&2; exit 1; }
fi

compose() {
  if docker compose version > /dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}
