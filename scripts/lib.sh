# Shared helpers for the scripts in this folder. Source it: `. "$(dirname "$0")/lib.sh"`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="$(cd "$ROOT/.." && pwd)/shared"

# Debian packages every build and test needs; later features append to this list.
BASE_PACKAGES=(libsodium-dev libssl-dev libcurl4-openssl-dev libhiredis-dev libnghttp2-dev pkg-config
  redis-server redis-tools caddy wrk openssh-server openssh-client bubblewrap tmux iproute2 python3-pip
  curl procps openssl xxd nftables)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ensure_packages PKG...: installs the Debian packages that are not installed yet.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_pip PKG...: installs Python packages that are not importable yet (module name = package
# name with '-' as '_', unless given as module=package).
ensure_pip() {
  for spec in "$@"; do
    local mod="${spec%%=*}" pkg="${spec#*=}"
    python3 -c "import $mod" 2>/dev/null && continue
    log "pip install $pkg"
    # Debian marks its Python externally managed; these are test and benchmark tools only.
    python3 -m pip install -q --break-system-packages "$pkg" 2>/dev/null || python3 -m pip install -q "$pkg"
  done
}

# free_port: prints a TCP port that was free a moment ago.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# SCRATCH: the SwiftPM build directory the scripts share (override with COSMICAC_SCRATCH).
SCRATCH="${COSMICAC_SCRATCH:-$ROOT/.build}"

# SERVICE_EXECUTABLES: every service product, in start order (the CLI `cosmicac` is not a service).
SERVICE_EXECUTABLES=(dht-node wrk-ork wrk-server-k8s-nvidia app-node proxy-inference wrk-agent-instance
  wrk-agent-inference)

# CONTROL_PLANE: the services scripts/dev-up starts itself, in start order; the agents
# (wrk-agent-instance, wrk-agent-inference) are started per job by the worker.
CONTROL_PLANE=(dht-node wrk-ork wrk-server-k8s-nvidia app-node proxy-inference)

# DEV_PRODUCTS: what scripts/dev-up builds: the services, the CLI, and the test engine the local
# rack serves models with on a machine without GPUs.
DEV_PRODUCTS=("${SERVICE_EXECUTABLES[@]}" cosmicac inference-test-engine)

# HTTP_SERVICES: the services with a public HTTP listener (`--http-host`, `--http-port`).
HTTP_SERVICES=(app-node proxy-inference)

# proc_start_time PID: prints the process's start time in clock ticks since boot (field 22 of
# /proc/PID/stat), which with the pid identifies one process even after the pid is reused.
proc_start_time() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  # shellcheck disable=SC2086
  set -- $stat
  echo "${20}"
}

# is_same_process PID START: true when PID is alive and started at START (not a reused pid).
is_same_process() {
  [ -n "$1" ] && [ -n "$2" ] && [ "$(proc_start_time "$1" 2>/dev/null)" = "$2" ]
}

# wait_for_log_line FILE PATTERN... SECONDS PID: waits until one line of FILE contains every
# PATTERN (fixed strings), printing it; fails if PID exits or SECONDS pass first.
wait_for_log_line() {
  local file="$1"; shift
  local pid="${*: -1}"; local seconds="${*: -2:1}"
  local patterns=("${@:1:$#-2}")
  local deadline=$((SECONDS + seconds)) line p
  while [ "$SECONDS" -lt "$deadline" ]; do
    if [ -f "$file" ]; then
      line="$(grep -F -- "${patterns[0]}" "$file" 2>/dev/null || true)"
      for p in "${patterns[@]:1}"; do line="$(printf '%s\n' "$line" | grep -F -- "$p" || true)"; done
      if [ -n "$line" ]; then printf '%s\n' "$line" | head -n 1; return 0; fi
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# json_field LINE KEY: prints the value of a top-level string or number field of a JSON line.
json_field() {
  python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"
}

# http_status URL: prints the HTTP status code of a GET (000 when nothing answers).
http_status() {
  curl -s -o /dev/null -m 5 -w '%{http_code}' "$1" 2>/dev/null || true
}

# run_with_deadline SECONDS LOG COMMAND...: runs COMMAND in a session of its own with its output in
# LOG; after SECONDS the whole session (the command and every child it started) gets SIGTERM, then
# SIGKILL. Whatever is left in that session when the command ends (children orphaned by a crash,
# which may sit in process groups of their own) is killed too. Returns the command's status (124
# after a timeout).
run_with_deadline() {
  local seconds="$1" logfile="$2"; shift 2
  setsid "$@" > "$logfile" 2>&1 < /dev/null &
  local pid=$! ticks=0 rc=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$ticks" -ge $((seconds * 10)) ]; then
      echo "timed out after ${seconds}s" >> "$logfile"
      kill -TERM -- "-$pid" 2>/dev/null || true
      sleep 3
      kill -KILL -- "-$pid" 2>/dev/null || true
      rc=124
      break
    fi
    sleep 0.1
    ticks=$((ticks + 1))
  done
  if [ "$rc" -eq 0 ]; then wait "$pid" || rc=$?; else wait "$pid" 2>/dev/null || true; fi
  kill_session "$pid"
  return "$rc"
}

# kill_session SID: SIGKILLs every process still in session SID (one that run_with_deadline made).
kill_session() {
  local leftover
  leftover="$(ps -eo pid=,sid= | awk -v s="$1" '$2 == s { print $1 }')"
  [ -z "$leftover" ] && return 0
  # shellcheck disable=SC2086
  kill -KILL $leftover 2>/dev/null || true
}
