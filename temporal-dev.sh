#!/usr/bin/env bash
# Runs the embedded Temporal dev server (gRPC + Web UI, SQLite persistence) for this project.
#
#   ./temporal-dev.sh up       start in the background, wait until healthy, register search attributes
#   ./temporal-dev.sh down     stop the server this script started (by its recorded PID)
#   ./temporal-dev.sh status   say whether it is running
#   ./temporal-dev.sh env      print `export` lines for clients, workers and the `temporal` CLI
#   ./temporal-dev.sh logs     print the server log (add -f to follow)
#
# Settings (environment, with defaults):
#   TEMPORAL_PORT=7233          gRPC port, bound to 127.0.0.1
#   TEMPORAL_UI_PORT=8233       Web UI port, bound to 127.0.0.1
#   TEMPORAL_NAMESPACE=default  namespace the jobs run in
#   TEMPORAL_RETENTION=72h      closed-workflow retention set on that namespace
#   TEMPORAL_STATE_DIR=.temporal  where the SQLite file, PID file and log live
#   TEMPORAL_CODEC_ENDPOINT=    remote codec endpoint for the Web UI (empty: none)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="${TEMPORAL_PORT:-7233}"
ui_port="${TEMPORAL_UI_PORT:-8233}"
namespace="${TEMPORAL_NAMESPACE:-default}"
retention="${TEMPORAL_RETENTION:-72h}"
state="${TEMPORAL_STATE_DIR:-$root/.temporal}"
pid_file="$state/server.pid"
log_file="$state/server.log"
address="127.0.0.1:$port"

cli() {
  if [ -z "${resolved_cli:-}" ]; then resolved_cli="$("$root/scripts/resolve-temporal.sh" cli)"; fi
  echo "$resolved_cli"
}

running_pid() {
  [ -f "$pid_file" ] || return 1
  local pid
  pid="$(cat "$pid_file")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

healthy() { "$(cli)" operator cluster health --address "$address" >/dev/null 2>&1; }

# KEY=Type pairs from the project's one list of search attributes.
search_attributes() {
  node -e 'const a = require(process.argv[1]).attributes; for (const [k, t] of Object.entries(a)) console.log(`${k}=${t}`)' \
    "$root/common/search-attributes.json"
}

up() {
  mkdir -p "$state"
  if pid="$(running_pid)"; then
    echo "Temporal dev server already running (pid $pid) on $address"
    return 0
  fi
  local args=(server start-dev --ip 127.0.0.1 --port "$port" --ui-port "$ui_port"
    --db-filename "$state/temporal.sqlite" --namespace "$namespace"
    --log-format json --log-level warn --ui-disable-news-fetch)
  while read -r sa; do args+=(--search-attribute "$sa"); done < <(search_attributes)
  if [ -n "${TEMPORAL_CODEC_ENDPOINT:-}" ]; then args+=(--ui-codec-endpoint "$TEMPORAL_CODEC_ENDPOINT"); fi
  local bin
  bin="$(cli)"
  nohup "$bin" "${args[@]}" >>"$log_file" 2>&1 </dev/null &
  echo $! >"$pid_file"
  for _ in $(seq 1 120); do
    if healthy; then break; fi
    if ! running_pid >/dev/null; then
      echo "Temporal dev server exited during start; last log lines:" >&2
      tail -n 20 "$log_file" >&2
      exit 1
    fi
    sleep 0.5
  done
  healthy || { echo "Temporal dev server did not become healthy in 60s (log: $log_file)" >&2; exit 1; }
  "$bin" operator namespace update --address "$address" --namespace "$namespace" --retention "$retention" >/dev/null
  echo "Temporal dev server running (pid $(cat "$pid_file")): gRPC $address, Web UI http://127.0.0.1:$ui_port, namespace $namespace, retention $retention"
}

down() {
  local pid
  if ! pid="$(running_pid)"; then
    echo "Temporal dev server is not running"
    rm -f "$pid_file"
    return 0
  fi
  kill "$pid"
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  rm -f "$pid_file"
  echo "Temporal dev server stopped (pid $pid)"
}

status() {
  local pid
  if pid="$(running_pid)" && healthy; then
    echo "running (pid $pid) on $address, Web UI http://127.0.0.1:$ui_port"
  else
    echo "not running"
    return 3
  fi
}

env_lines() {
  echo "export TEMPORAL_ADDRESS=$address"
  echo "export TEMPORAL_NAMESPACE=$namespace"
  echo "export TEMPORAL_CLI=$(cli)"
  echo "export TEMPORAL_UI_URL=http://127.0.0.1:$ui_port"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) env_lines ;;
  logs) if [ "${2:-}" = "-f" ]; then tail -f "$log_file"; else cat "$log_file"; fi ;;
  *)
    echo "usage: $0 up|down|status|env|logs [-f]" >&2
    exit 2
    ;;
esac
