#!/usr/bin/env bash
# Smoke test of docker-compose.yml on a machine with nothing but Debian (Docker is installed and
# started by scripts/compose-docker.sh; images come from scripts/compose-images.sh when
# ALFORGE_SMOKE_REGISTRY is unset, else `docker compose build` from the public images).
#
#   scripts/compose-smoke.sh           # the whole smoke test (~6 min once the images are built)
#   scripts/compose-smoke.sh --short   # images, config, stack up and healthy, down
#   scripts/compose-smoke.sh --ci      # the form that fits CI's budget: Docker, the compose file
#                                      # as Compose reads it, the Debian PostgreSQL image up and
#                                      # healthy with both databases and password login, down;
#                                      # no alforge image (its cold build alone takes 6-12 min)
#
# The whole test: bring the stack up under a project name of its own on free host ports; wait on
# the services' health checks; POST examples/water.toml to the dashboard with the token and wait
# for the worker to run it to the end (converged, or stopped if the rules changed); read the
# result from the dashboard's JSON API; run a second water campaign (seed 1), restart the worker
# while it runs, resubmit it and check that it completes with no structure labelled twice and no
# label recomputed; bring the stack down with its volumes and check that nothing is left.
# Prints the timings of each phase. Exit status 0 only if every check passed.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=full
case "${1:-}" in
  --short) mode=short ;;
  --ci) mode=ci ;;
  "") ;;
  *) echo "usage: scripts/compose-smoke.sh [--short | --ci]" >&2; exit 2 ;;
esac

say() { printf '%s smoke: %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() { printf '%s smoke: FAILED: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }
now() { date +%s; }
timings=()
timed() { timings+=("$(printf '%-28s %5d s' "$1" "$2")"); }

t=$(now)
source scripts/compose-docker.sh
timed "docker engine" $(($(now) - t))

# --- a project of its own, free ports, fresh secrets -----------------------------------------
project=alforge-smoke-$$
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ALFORGE_PREFECT_PORT=$(free_port)
ALFORGE_DASHBOARD_PORT=$(free_port)
POSTGRES_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
ALFORGE_DASHBOARD_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
export ALFORGE_PREFECT_PORT ALFORGE_DASHBOARD_PORT POSTGRES_PASSWORD ALFORGE_DASHBOARD_TOKEN
dashboard=http://127.0.0.1:$ALFORGE_DASHBOARD_PORT
prefect=http://127.0.0.1:$ALFORGE_PREFECT_PORT/api
logs=build/compose-logs/smoke-$project.log
mkdir -p build/compose-logs
dc() { compose -p "$project" "$@"; }

cleanup() {
  local status=$?
  [ $status -eq 0 ] || { dc logs --no-color > "$logs" 2>&1 || true; echo "smoke: service logs in $logs" >&2; }
  local t0
  t0=$(now)
  dc down -v --remove-orphans -t 60 > /dev/null 2>&1 || true
  local left
  left=$(docker ps -aq --filter "label=com.docker.compose.project=$project")
  left+=$(docker volume ls -q --filter "label=com.docker.compose.project=$project")
  left+=$(docker network ls -q --filter "label=com.docker.compose.project=$project")
  if [ -n "$left" ]; then
    echo "smoke: FAILED: containers, volumes or networks of $project are left after down" >&2
    status=1
  else
    say "stack down, nothing of $project left ($(($(now) - t0)) s)"
  fi
  if [ ${#timings[@]} -gt 0 ]; then
    echo "smoke: timings ($mode)"
    printf '  %s\n' "${timings[@]}"
  fi
  [ $status -eq 0 ] && say "PASSED ($mode)" || say "FAILED ($mode)"
  exit $status
}
trap cleanup EXIT

# --- images ----------------------------------------------------------------------------------
t=$(now)
if [ "$mode" = ci ]; then
  [ -n "${ALFORGE_SMOKE_REGISTRY:-}" ] || eval "$(scripts/compose-images.sh --postgres)"
elif [ -z "${ALFORGE_SMOKE_REGISTRY:-}" ]; then
  eval "$(scripts/compose-images.sh)"
else
  dc build
fi
timed "images (build)" $(($(now) - t))

# --- up, and healthy -------------------------------------------------------------------------
# wait_healthy TIMEOUT_S [N]: until N (4) containers report their health checks healthy.
wait_healthy() {
  local deadline=$(($(now) + $1)) states
  while true; do
    states=$(dc ps -q | xargs docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}no-healthcheck{{end}}')
    if [ "$(echo "$states" | grep -c ' running healthy$')" -eq "${2:-4}" ]; then return 0; fi
    if echo "$states" | grep -q -E ' unhealthy$| exited | dead '; then fail "a service is down or unhealthy: $(echo "$states" | tr '\n' ';')"; fi
    [ "$(now)" -lt "$deadline" ] || fail "not healthy after $1 s: $(echo "$states" | tr '\n' ';')"
    sleep 2
  done
}
sql() { dc exec -T postgres psql -U alforge -d alforge -tA -F ' ' -c "$1"; }

dc config -q
t=$(now)
if [ "$mode" = ci ]; then
  say "bringing up postgres of $project"
  dc up -d postgres > build/compose-logs/up.log 2>&1 || { cat build/compose-logs/up.log >&2; fail "docker compose up postgres"; }
  wait_healthy 120 1
  timed "start-up (postgres healthy)" $(($(now) - t))
  databases=$(sql "select string_agg(datname, ',' order by datname) from pg_database where not datistemplate")
  [ "$databases" = "alforge,postgres,prefect" ] || fail "databases: $databases (wanted alforge, postgres, prefect)"
  dc exec -T -e PGPASSWORD="$POSTGRES_PASSWORD" postgres psql -h 127.0.0.1 -U alforge -d prefect -tAc 'select 1' > /dev/null \
    || fail "password login over TCP to the prefect database"
  if dc exec -T -e PGPASSWORD=wrong postgres psql -h 127.0.0.1 -U alforge -d prefect -tAc 'select 1' > /dev/null 2>&1; then
    fail "a wrong password was accepted over TCP"
  fi
  say "postgres healthy; databases $databases; password login over TCP works, a wrong one is refused"
  exit 0
fi
say "bringing up $project (Prefect on :$ALFORGE_PREFECT_PORT, dashboard on :$ALFORGE_DASHBOARD_PORT)"
dc up -d > build/compose-logs/up.log 2>&1 || { cat build/compose-logs/up.log >&2; fail "docker compose up"; }
wait_healthy 300
timed "start-up (up to healthy)" $(($(now) - t))
say "all four services healthy"
curl -fsS "$dashboard/api/health" > /dev/null || fail "dashboard /api/health from the host"
curl -fsS "$prefect/health" > /dev/null || fail "Prefect /api/health from the host"

if [ "$mode" = short ]; then
  exit 0
fi

# --- campaigns -------------------------------------------------------------------------------
# json EXPRESSION: evaluate a Python expression over the JSON document on stdin (bound to d).
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

# submit NAME SEED: POST examples/water.toml, renamed and reseeded, with the token; the flow run id.
submit() {
  local body run
  body=$(python3 -c 'import json, sys, tomllib
spec = tomllib.load(open("examples/water.toml", "rb"))
spec.update(name=sys.argv[1], seed=int(sys.argv[2]))
print(json.dumps(spec))' "$1" "$2")
  run=$(curl -fsS -X POST -H "Authorization: Bearer $ALFORGE_DASHBOARD_TOKEN" -H "Content-Type: application/json" \
    --data "$body" "$dashboard/api/campaigns") || fail "POST /api/campaigns for $1"
  [ "$(echo "$run" | json 'd["run"]["mode"]')" = prefect ] || fail "the dashboard did not submit $1 to Prefect: $run"
  echo "$run" | json 'd["run"]["flow_run"]["flow_run_id"]'
}
# flow_state ID: the Prefect flow run's state type (SCHEDULED, PENDING, RUNNING, COMPLETED, ...).
flow_state() { curl -fsS "$prefect/flow_runs/$1" | json 'd["state"]["type"]'; }
# wait_flow ID TIMEOUT_S: until the flow run is in a final state; prints it.
wait_flow() {
  local deadline=$(($(now) + $2)) state
  while true; do
    state=$(flow_state "$1")
    case "$state" in COMPLETED | FAILED | CANCELLED | CRASHED) echo "$state"; return 0 ;; esac
    [ "$(now)" -lt "$deadline" ] || fail "flow run $1 still $state after $2 s"
    sleep 2
  done
}
campaign() { curl -fsS "$dashboard/api/campaigns/$1"; }
summary() { campaign "$1" | json '"{state}: {complete_generations} generations, {labels} labels, force MAE {force_mae_eV_per_A} eV/A; {message}".format(**d)'; }
check_finished() {
  local state
  state=$(campaign "$1" | json 'd["state"]')
  case "$state" in
    converged) ;;
    stopped) say "NOTE: $1 stopped rather than converged (the stopping rules may have changed): $(summary "$1")" ;;
    *) fail "$1 ended $state: $(summary "$1")" ;;
  esac
}

t=$(now)
say "submitting water (POST /api/campaigns)"
run=$(submit water 0)
[ "$(wait_flow "$run" 1200)" = COMPLETED ] || fail "flow run of water: $(flow_state "$run")"
check_finished water
timed "campaign water" $(($(now) - t))
say "water: $(summary water)"
campaign water | json '"\n".join("  generation {}: {}, {} labels, {}".format(g["index"], g["state"], g["labels"], g["decision"]) for g in d["generation_rows"])'
curl -fsS "$dashboard/api/campaigns/water/learning-curve" > /dev/null || fail "GET .../water/learning-curve"

# The restart: a second campaign, the worker restarted once its first generation is done.
t=$(now)
say "submitting water-restart (seed 1); restarting the worker after its first generation"
run=$(submit water-restart 1)
deadline=$(($(now) + 600))
until [ "$(campaign water-restart 2> /dev/null | json 'd["complete_generations"]' 2> /dev/null || echo 0)" -ge 1 ]; do
  [ "$(now)" -lt "$deadline" ] || fail "water-restart: no generation completed in 600 s"
  sleep 1
done
sql "select id || ' ' || finished_at from calculations where status = 'ok' order by id" > build/compose-logs/labels-before-restart.txt
before=$(wc -l < build/compose-logs/labels-before-restart.txt)
tr=$(now)
dc restart -t 60 worker > /dev/null 2>&1
wait_healthy 300
timed "worker restart to healthy" $(($(now) - tr))
state=$(wait_flow "$run" 120)
say "worker restarted with $before labels in the database; the interrupted flow run ended $state, campaign: $(summary water-restart)"
if [ "$(campaign water-restart | json 'd["state"]')" = converged ]; then
  fail "water-restart converged before the worker was restarted; nothing was interrupted"
fi
run=$(submit water-restart 1)
[ "$(wait_flow "$run" 1200)" = COMPLETED ] || fail "flow run of the resumed water-restart: $(flow_state "$run")"
check_finished water-restart
timed "campaign with restart" $(($(now) - t))
say "water-restart: $(summary water-restart)"

# No repeated labels: one calculation per structure and level, none finished before the
# restart finished again after it, no structure selected twice by the campaign.
repeated=$(sql "select count(*) from (select 1 from calculations group by structure_id, level_hash having count(*) > 1) r")
sql "select id || ' ' || finished_at from calculations where status = 'ok' order by id" > build/compose-logs/labels-after.txt
relabelled=$(comm -23 <(sort build/compose-logs/labels-before-restart.txt) <(sort build/compose-logs/labels-after.txt) | wc -l)
read -r selected distinct <<< "$(sql "select count(*), count(distinct c.structure_id) from candidates c
  join generations g on g.id = c.generation_id join campaigns k on k.id = g.campaign_id
  where k.name = 'water-restart' and c.selected")"
read -r calculations structures <<< "$(sql "select count(*), count(distinct structure_id) from calculations")"
say "labels: $calculations oracle calculations on $structures structures (both campaigns); structures with more than one calculation: $repeated"
say "water-restart: $selected labels selected on $distinct distinct structures; labels from before the restart recomputed: $relabelled of $before"
[ "$repeated" -eq 0 ] || fail "$repeated structures were labelled more than once"
[ "$relabelled" -eq 0 ] || fail "$relabelled labels finished before the restart were recomputed"
[ "$selected" -eq "$distinct" ] || fail "water-restart selected a structure more than once"
