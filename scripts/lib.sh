# Shared helpers for the scripts in this folder. Source it: `. "$(dirname "$0")/lib.sh"`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="$(cd "$ROOT/.." && pwd)/shared"

# Debian packages every build and test needs; later features append to this list.
BASE_PACKAGES=(libsodium-dev libssl-dev libcurl4-openssl-dev libhiredis-dev libnghttp2-dev pkg-config
  redis-server caddy wrk openssh-server openssh-client bubblewrap tmux iproute2 python3-pip)

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
    python3 -c "import $mod" 2>/dev/null || { log "pip install $pkg"; python3 -m pip install -q "$pkg"; }
  done
}

# free_port: prints a TCP port that was free a moment ago.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
