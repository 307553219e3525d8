#!/usr/bin/env bash
# Runs the embedded Temporal dev server (gRPC + Web UI, SQLite persistence) for this project.
#
#   ./temporal-dev.sh up       start in the background, wait until healthy, register search attributes
#   ./temporal-dev.sh down     stop the server this script started (by its recorded PID)
#   ./temporal-dev.sh status   say whether it is running
#   ./temporal-dev.sh env      print `export` lines for clients, workers and the `temporal` CLI (no encryption)
#   ./temporal-dev.sh env --encrypted   the same, plus JOBLEDGER_CODEC_KEYS: use it for every worker and client, or for none
#   ./temporal-dev.sh logs     print the server log (add -f to follow)
#
# Settings (environment, with defaults):
#   TEMPORAL_PORT=7233          gRPC port, bound to 127.0.0.1
#   TEMPORAL_UI_PORT=8233       Web UI port, bound to 127.0.0.1
#   TEMPORAL_NAMESPACE=default  namespace the jobs run in
#   TEMPORAL_RETENTION=72h      closed-workflow retention set on that namespace
#   TEMPORAL_STATE_DIR=.temporal  where the SQLite file, PID file and log live
#   TEMPORAL_CODEC=on           also run the codec server (codec/main.ts) and point the Web UI at it; `off` to skip
#   TEMPORAL_CODEC_PORT=8081    codec server port, bound to 127.0.0.1
#
# Payload encryption: on the first `up`, .temporal/codec.env is created (mode 600) with a fresh AES-256
# key and two bearer tokens (auditor, viewer). Plain `env` does not turn encryption on: a worker started
# without the eval (`npm run worker` in another terminal) and a CLI started with it would otherwise disagree,
# and every job the CLI submits would wait for a worker that cannot decode it. Both default to the same
# settings as `env` prints, so they agree with or without the eval. `env --encrypted` also exports
# JOBLEDGER_CODEC_KEYS from codec.env: eval it in the worker's terminal and the CLI's alike (a mismatch
# is reported as a blocked job by `jobledger status`, `diagnose` and `doctor`). The codec server runs
# either way: the local Web UI sends no token, so this script turns on anonymous decoding for it
# (JOBLEDGER_CODEC_ANONYMOUS_ROLE=viewer: PII masked, clear-text payloads included; off by default anywhere
# else). Encoding (start, signal, update with a payload) needs the auditor token, so the Web UI cannot send
# payloads; use the CLI:
#   temporal workflow show -w ID --codec-endpoint http://127.0.0.1:8081 --codec-auth "Bearer <auditor token>"
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
codec="${TEMPORAL_CODEC:-on}"
codec_port="${TEMPORAL_CODEC_PORT:-8081}"
codec_env="$state/codec.env"
codec_pid_file="$state/codec.pid"

cli() {
  if [ -z "${resolved_cli:-}" ]; then resolved_cli="$("$root/scripts/resolve-temporal.sh" cli)"; fi
  echo "$resolved_cli"
}

# Prints the PID recorded in file $1 if that process is alive.
alive_pid() {
  [ -f "$1" ] || return 1
  local pid
  pid="$(cat "$1")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}
running_pid() { alive_pid "$pid_file"; }

codec_enabled() { [ "$codec" = "on" ] && [ -x "$root/node_modules/.bin/tsx" ]; }

# Creates the codec keys and tokens once; they stay in $state, readable by this user only.
ensure_codec_env() {
  [ -f "$codec_env" ] && return 0
  (umask 077 && node -e '
    const { randomBytes } = require("node:crypto");
    const keys = JSON.stringify({ current: "k1", keys: { k1: randomBytes(32).toString("base64") } });
    const tokens = JSON.stringify({ [randomBytes(24).toString("hex")]: "auditor", [randomBytes(24).toString("hex")]: "viewer" });
    console.log(`JOBLEDGER_CODEC_KEYS='"'"'${keys}'"'"'`);
    console.log(`JOBLEDGER_CODEC_TOKENS='"'"'${tokens}'"'"'`);
  ' >"$codec_env")
}

codec_up() {
  codec_enabled || return 0
  alive_pid "$codec_pid_file" >/dev/null && return 0
  ensure_codec_env
  # The log is appended to across runs: only a "url" line written after this offset means this start is up.
  local offset=0
  [ -f "$state/codec.log" ] && offset="$(wc -c <"$state/codec.log")"
  (
    set -a
    # shellcheck disable=SC1090
    source "$codec_env"
    export TEMPORAL_UI_URL="http://127.0.0.1:$ui_port"
    # Local dev only: the Web UI sends no token, so requests without one may decode, PII masked.
    export JOBLEDGER_CODEC_ANONYMOUS_ROLE=viewer
    export JOBLEDGER_JOBS_MODULE="${JOBLEDGER_JOBS_MODULE:-examples/jobs/index.ts}"
    cd "$root"
    nohup node_modules/.bin/tsx codec/main.ts --port "$codec_port" >>"$state/codec.log" 2>&1 </dev/null &
    echo $! >"$codec_pid_file"
  )
  for _ in $(seq 1 60); do
    [[ "$(tail -c +"$((offset + 1))" "$state/codec.log" 2>/dev/null)" == *'"url"'* ]] && return 0
    alive_pid "$codec_pid_file" >/dev/null || break
    sleep 0.25
  done
  echo "codec server did not start (log: $state/codec.log)" >&2
  exit 1
}

stop_pid_file() {
  local pid
  if pid="$(alive_pid "$1")"; then
    kill "$pid"
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    echo "$pid"
  fi
  rm -f "$1"
}

healthy() { "$(cli)" operator cluster health --address "$address" >/dev/null 2>&1; }

# KEY=Type pairs from the project's one list of search attributes.
search_attributes() {
  node -e 'const a = require(process.argv[1]).attributes; for (const [k, t] of Object.entries(a)) console.log(`${k}=${t}`)' \
    "$root/common/search-attributes.json"
}

up() {
  mkdir -p "$state"
  codec_up
  if pid="$(running_pid)"; then
    echo "Temporal dev server already running (pid $pid) on $address"
    return 0
  fi
  local args=(server start-dev --ip 127.0.0.1 --port "$port" --ui-port "$ui_port"
    --db-filename "$state/temporal.sqlite" --namespace "$namespace"
    --log-format json --log-level warn --ui-disable-news-fetch)
  while read -r sa; do args+=(--search-attribute "$sa"); done < <(search_attributes)
  if codec_enabled; then args+=(--ui-codec-endpoint "http://127.0.0.1:$codec_port"); fi
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
  if codec_enabled; then echo "Codec server running (pid $(cat "$codec_pid_file")): http://127.0.0.1:$codec_port (keys and tokens in $codec_env)"; fi
}

down() {
  local pid
  pid="$(stop_pid_file "$codec_pid_file")" && [ -n "$pid" ] && echo "Codec server stopped (pid $pid)"
  pid="$(stop_pid_file "$pid_file")"
  if [ -n "$pid" ]; then echo "Temporal dev server stopped (pid $pid)"; else echo "Temporal dev server is not running"; fi
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
  if codec_enabled && [ -f "$codec_env" ]; then
    echo "export JOBLEDGER_CODEC_ENDPOINT=http://127.0.0.1:$codec_port"
  fi
  case "${1:-}" in
    "") ;;
    --encrypted)
      if ! codec_enabled || [ ! -f "$codec_env" ]; then
        echo "no encryption keys: run ./temporal-dev.sh up with TEMPORAL_CODEC=on first" >&2
        exit 1
      fi
      echo "export $(grep '^JOBLEDGER_CODEC_KEYS=' "$codec_env")"
      ;;
    *)
      echo "usage: $0 env [--encrypted]" >&2
      exit 2
      ;;
  esac
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) env_lines "${2:-}" ;;
  logs) if [ "${2:-}" = "-f" ]; then tail -f "$log_file"; else cat "$log_file"; fi ;;
  *)
    echo "usage: $0 up|down|status|env [--encrypted]|logs [-f]" >&2
    exit 2
    ;;
esac
