#!/usr/bin/env bash
# The entrypoint of ClearFrame's one image: the first argument names the component, and this script execs
# the right command for it (so the component is PID 1 and receives the container's signals).
#
#   scheduler | api-server | dag-processor | triggerer      Airflow's control plane
#   worker-ingest | worker-media | worker-default           a Celery worker for one queue
#   init                                                    migrate the metadata DB, import the source pools,
#                                                           create the admin user (FAB) if CLEARFRAME_ADMIN_PASSWORD
#   clearframe ARGS... | airflow ARGS...                    the CLIs
#   exec COMMAND ARGS...                                    any command (one-off admin tasks, e.g. python -c)
#   healthcheck [COMPONENT]                                 the check that fits the running component
#
# Worker concurrency (task processes per worker), overridable per queue:
#   ingest  CLEARFRAME_INGEST_CONCURRENCY   default 2 x vCPUs (min 4): network-bound (probe, gate, fetch);
#           each task also runs `fetch.workers` threads and the per-source pools cap the fleet's requests.
#   media   CLEARFRAME_MEDIA_CONCURRENCY    default 1 x vCPUs: CPU-bound (decode, validate, shard).
#   default CLEARFRAME_DEFAULT_CONCURRENCY  default 2 x vCPUs: light bookkeeping tasks.
# vCPUs are the container's CPU quota (cgroup cpu.max) when it is set, else `nproc`.
#
# Names and binding: CLEARFRAME_WORKER_NAME names a worker (Celery node `<queue>@<name>`, and the host name
# its task instances record); default the host name. CLEARFRAME_API_HOST (default 0.0.0.0) and
# CLEARFRAME_API_WORKERS (default 2) for the API server.
#
# CLEARFRAME_ENTRYPOINT_DRY_RUN=1 prints each command (one per line, shell-quoted) instead of running it;
# tests/test_dockerfile.py uses it to check every command against the real CLIs without starting anything.
set -euo pipefail

STATE=${CLEARFRAME_COMPONENT_FILE:-/tmp/clearframe-component}
CELERY_APP=airflow.providers.celery.executors.celery_executor.app

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
}

dry() { [ "${CLEARFRAME_ENTRYPOINT_DRY_RUN:-0}" = 1 ]; }

# Run a command (or print it in dry-run mode).
run() {
  if dry; then
    local line
    line=$(printf '%q ' "$@")
    printf '%s\n' "${line% }"
  else
    "$@"
  fi
}

# Replace this shell with the command (or print it in dry-run mode).
run_exec() {
  if dry; then
    run "$@"
    exit 0
  fi
  exec "$@"
}

vcpus() {
  local n quota period
  n=$(nproc)
  if [ -r /sys/fs/cgroup/cpu.max ]; then
    read -r quota period < /sys/fs/cgroup/cpu.max || true
    if [ "${quota:-max}" != max ] && [ "${period:-0}" -gt 0 ]; then
      quota=$(( (quota + period - 1) / period ))
      [ "$quota" -lt "$n" ] && n=$quota
    fi
  fi
  [ "$n" -ge 1 ] || n=1
  echo "$n"
}

# Every Airflow process of the fleet must share the Fernet key and the JWT secret: without them each
# container would generate its own, and tasks could neither read connections nor reach the API server.
# They come from the environment (e.g. Secrets Manager via the task definition), never from the image.
require_shared_secrets() {
  dry && return 0
  local name missing=()
  for name in AIRFLOW__CORE__FERNET_KEY AIRFLOW__API_AUTH__JWT_SECRET; do
    local v=$name c=${name}_CMD s=${name}_SECRET
    if [ -z "${!v:-}" ] && [ -z "${!c:-}" ] && [ -z "${!s:-}" ]; then
      missing+=("$name")
    fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "entrypoint: set ${missing[*]} (or its _CMD/_SECRET form) for every Airflow component;" \
         "the fleet's processes must share them" >&2
    exit 2
  fi
}

prepare() {
  mkdir -p "$(dirname "${AIRFLOW_CONFIG:-/var/lib/clearframe/airflow/airflow.cfg}")" \
           "${AIRFLOW__LOGGING__BASE_LOG_FOLDER:-/var/lib/clearframe/airflow/logs}" 2>/dev/null || true
  dry || printf '%s\n' "$1" > "$STATE"
}

# The worker's name: CLEARFRAME_WORKER_NAME when set (several workers on one host), else the host name.
# With AIRFLOW__CORE__HOSTNAME_CALLABLE=clearframe.fleet.worker_hostname, task instances record the same name.
node_name() {
  echo "${CLEARFRAME_WORKER_NAME:-$(hostname)}"
}

worker() {
  local component=$1 queue=$2 concurrency=$3
  require_shared_secrets
  prepare "$component"
  run_exec airflow celery worker --queues "$queue" --concurrency "$concurrency" \
    --celery-hostname "$queue@$(node_name)" --without-mingle --without-gossip
}

healthcheck() {
  local component=${1:-}
  [ -n "$component" ] || component=$(cat "$STATE" 2>/dev/null || true)
  [ -n "$component" ] || component=clearframe   # nothing recorded yet: the CLI image
  case "$component" in
    scheduler)     run_exec airflow jobs check --job-type SchedulerJob --local ;;
    dag-processor) run_exec airflow jobs check --job-type DagProcessorJob --local ;;
    triggerer)     run_exec airflow jobs check --job-type TriggererJob --local ;;
    api-server)
      # urlopen raises (exit 1) on a non-2xx answer; the API server is healthy when its database is.
      run_exec python -c "import json, sys, urllib.request as u; b = json.load(u.urlopen(sys.argv[1], timeout=10)); sys.exit(b['metadatabase']['status'] != 'healthy')" \
        "http://127.0.0.1:${AIRFLOW__API__PORT:-8080}/api/v2/monitor/health" ;;
    worker-ingest|worker-media|worker-default)
      local queue=${component#worker-}
      [ "$queue" = default ] && queue=${AIRFLOW__OPERATORS__DEFAULT_QUEUE:-default}
      run_exec celery --app "$CELERY_APP" inspect ping --timeout 10 --destination "$queue@$(node_name)" ;;
    clearframe|airflow|init|exec) run_exec clearframe --help ;;
    *) echo "entrypoint: no healthcheck for component '$component'" >&2; exit 2 ;;
  esac
}

component=${1:-}
[ $# -gt 0 ] && shift
case "$component" in
  scheduler|dag-processor|triggerer)
    require_shared_secrets
    prepare "$component"
    run_exec airflow "$component" ;;
  api-server)
    require_shared_secrets
    prepare "$component"
    run_exec airflow api-server --host "${CLEARFRAME_API_HOST:-0.0.0.0}" --port "${AIRFLOW__API__PORT:-8080}" \
      --workers "${CLEARFRAME_API_WORKERS:-2}" --proxy-headers ;;
  worker-ingest)
    n=$(vcpus); d=$((2 * n)); [ "$d" -ge 4 ] || d=4
    worker worker-ingest ingest "${CLEARFRAME_INGEST_CONCURRENCY:-$d}" ;;
  worker-media)
    worker worker-media media "${CLEARFRAME_MEDIA_CONCURRENCY:-$(vcpus)}" ;;
  worker-default)
    worker worker-default "${AIRFLOW__OPERATORS__DEFAULT_QUEUE:-default}" "${CLEARFRAME_DEFAULT_CONCURRENCY:-$((2 * $(vcpus)))}" ;;
  init)
    require_shared_secrets
    prepare init
    pools=${TMPDIR:-/tmp}/clearframe-pools.json
    run airflow db migrate   # with the FAB auth manager, its user tables too
    if dry; then run clearframe pools; else clearframe pools > "$pools"; fi
    run airflow pools import "$pools"
    # The first UI/API user of a production auth manager (FAB): users live in the metadata database, so
    # every API server behind the load balancer knows them. Creating an existing user changes nothing.
    if [ -n "${CLEARFRAME_ADMIN_PASSWORD:-}" ]; then
      run_exec airflow users create --role Admin --username "${CLEARFRAME_ADMIN_USERNAME:-admin}" \
        --password "$CLEARFRAME_ADMIN_PASSWORD" --email "${CLEARFRAME_ADMIN_EMAIL:-admin@localhost}" \
        --firstname ClearFrame --lastname Admin
    fi
    exit 0 ;;
  clearframe|airflow)
    prepare "$component"
    run_exec "$component" "$@" ;;
  exec)
    [ $# -gt 0 ] || { echo "entrypoint: exec needs a command, e.g. exec python -c '...'" >&2; exit 2; }
    prepare exec
    run_exec "$@" ;;
  healthcheck)
    healthcheck "${1:-}" ;;
  ""|-h|--help|help)
    usage; exit 0 ;;
  *)
    echo "entrypoint: unknown component '$component'" >&2
    usage; exit 2 ;;
esac
