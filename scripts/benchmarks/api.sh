#!/usr/bin/env bash
# scripts/bench api — app-node's HTTP API (release build) loaded by wrk: `GET /api/v1/jobs?limit=50`
# with 10,000 jobs of the signed-in user in the ops store, and `POST /api/v1/auth/login` (argon2id
# verification and a new Redis session per request). Starts its own redis-server, a dht-node (the
# DHT bootstrap of app-node's cluster node) and app-node with a peers.json from scripts/keygen; the
# jobs are created through the API itself (POST /api/v1/jobs), so the store holds real records.
# Prints requests/s, p50 and p99 for each.
# Environment: JOBS (10000), DURATION (10s), CONNECTIONS (32), LOGIN_CONNECTIONS (8),
# SCRATCH (the SwiftPM scratch directory, default .build), CONFIGURATION (release; debug only to
# check the script quickly, never for figures).
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"

JOBS="${JOBS:-10000}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
LOGIN_CONNECTIONS="${LOGIN_CONNECTIONS:-8}"
SCRATCH="${SCRATCH:-$ROOT/.build}"
CONFIGURATION="${CONFIGURATION:-release}"

ensure_packages wrk redis-server curl openssl || true
command -v wrk >/dev/null || die "wrk is not installed (Debian package 'wrk'); the benchmark needs it as its load generator"
command -v redis-server >/dev/null || die "redis-server is not installed (Debian package 'redis-server'); app-node needs it"
command -v curl >/dev/null || die "curl is not installed (Debian package 'curl')"
command -v python3 >/dev/null || die "python3 is not installed; the benchmark seeds the jobs with it"

log "building app-node and dht-node ($CONFIGURATION)"
swift build -c "$CONFIGURATION" --scratch-path "$SCRATCH" --product app-node >&2
swift build -c "$CONFIGURATION" --scratch-path "$SCRATCH" --product dht-node >&2
BIN="$(swift build -c "$CONFIGURATION" --scratch-path "$SCRATCH" --show-bin-path)"
[ -x "$BIN/app-node" ] || die "app-node was not built at $BIN/app-node"
[ -x "$BIN/dht-node" ] || die "dht-node was not built at $BIN/dht-node"

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

# wait_port PORT: waits until something accepts on 127.0.0.1:PORT.
wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "error: nothing listens on port $1" >&2
  return 1
}

REDIS_PORT="$(free_port)"
DHT_PORT="$(free_port)"
HTTP_PORT="$(free_port)"
ADMIN_PORT="$(free_port)"
mkdir -p "$TMP/redis"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$TMP/redis" --appendonly yes \
  --appendfsync everysec --save "" >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
wait_port "$REDIS_PORT" || { cat "$TMP/redis.log" >&2; die "redis-server did not start"; }

"$ROOT/scripts/keygen" "$TMP/data" --no-rack --bootstrap "127.0.0.1:$DHT_PORT" >"$TMP/keygen.log" 2>&1 ||
  { cat "$TMP/keygen.log" >&2; die "scripts/keygen failed"; }
"$BIN/dht-node" --data-dir "$TMP/data/dht-node" --port "$DHT_PORT" --admin-port 0 >"$TMP/dht.log" 2>&1 &
PIDS+=($!)
sleep 0.5

PASSWORD="bench-password-1"
COSMICAC_ADMIN_PASSWORD="$PASSWORD" "$BIN/app-node" --data-dir "$TMP/data/app-node" \
  --peers "$TMP/data/peers.json" --redis-port "$REDIS_PORT" --http-port "$HTTP_PORT" --admin-port "$ADMIN_PORT" \
  --admin-name bench --requests-per-user 10000000 --requests-per-client 10000000 \
  --login-attempts 10000000 --log-level warning >"$TMP/app-node.log" 2>&1 &
PIDS+=($!)
wait_port "$HTTP_PORT" || { tail -20 "$TMP/app-node.log" >&2; die "app-node did not start"; }
BASE="http://127.0.0.1:$HTTP_PORT/api/v1"

# The served document must be valid OpenAPI 3.1 for an independent validator too (the unit tests
# check its structure and every reply against it).
ensure_pip openapi_spec_validator=openapi-spec-validator || true
curl -sf "$BASE/openapi.json" -o "$TMP/openapi.json" || die "GET /api/v1/openapi.json failed"
if python3 -c 'import openapi_spec_validator' 2>/dev/null; then
  python3 -c 'import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))' \
    "$TMP/openapi.json" || die "the OpenAPI document is not valid OpenAPI 3.1 (openapi-spec-validator)"
  log "openapi.json: valid OpenAPI 3.1 (openapi-spec-validator)"
else
  log "openapi-spec-validator is not installable here; the document was not checked by it"
fi

log "seeding $JOBS jobs for one user through POST /api/v1/jobs"
TOKEN="$(
  python3 - "$HTTP_PORT" "$PASSWORD" "$JOBS" <<'PY'
import http.client, json, sys, time
port, password, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
def call(method, path, body=None, token=None, headers=None):
    h = {"Content-Type": "application/json"}
    if token: h["Authorization"] = "Bearer " + token
    h.update(headers or {})
    conn.request(method, "/api/v1" + path, body=json.dumps(body) if body is not None else None, headers=h)
    r = conn.getresponse()
    return r.status, r.read()
deadline = time.time() + 60
while True:
    status, body = call("POST", "/auth/login", {"name": "bench", "password": password})
    if status == 200: break
    if time.time() > deadline: sys.exit("login failed: %d %s" % (status, body[:200]))
    time.sleep(0.2)
token = json.loads(body)["token"]
while True:
    status, body = call("GET", "/jobs?limit=1", token=token)
    if status == 200: break
    if time.time() > deadline: sys.exit("the control plane did not come up: %d %s" % (status, body[:200]))
    time.sleep(0.2)
spec = {"name": "bench", "tags": ["bench"], "location": "us", "kind": "gpu-container",
        "gpuModel": "H100", "gpuCount": 1, "image": "Ubuntu22.04/CUDA12.8.1", "diskGb": 50}
start = time.time()
for i in range(count):
    spec["name"] = "bench-%d" % i
    status, body = call("POST", "/jobs", spec, token=token, headers={"Idempotency-Key": "seed-%d" % i})
    if status != 201: sys.exit("create %d failed: %d %s" % (i, status, body[:200]))
sys.stderr.write("seeded %d jobs in %.1f s (%.0f creates/s)\n" % (count, time.time() - start, count / (time.time() - start)))
print(token)
PY
)" || die "seeding failed (see the message above)"
[ -n "$TOKEN" ] || die "no session token"
status="$(curl -s -o "$TMP/page.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$BASE/jobs?limit=50")"
[ "$status" = 200 ] || die "GET /jobs answered $status"
items="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["items"]), "next" if d.get("nextCursor") else "last")' "$TMP/page.json")"
[ "$items" = "50 next" ] || die "GET /jobs?limit=50 returned '$items', expected 50 items and a next cursor"

# to_ms VALUE: converts a wrk latency such as 312.00us, 1.45ms or 1.02s to milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else { printf "%.3f", v }
  }'
}

# run_wrk NAME CONNECTIONS ARGS...: runs wrk and prints one summary line.
run_wrk() {
  local name="$1" conns="$2"
  shift 2
  local out
  out="$(wrk -t2 -c"$conns" -d"$DURATION" --latency "$@")" || die "wrk failed ($name)"
  local rps p50 p99 errors
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  errors="$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")"
  [ -n "$rps" ] && [ -n "$p99" ] || die "could not read wrk's output ($name)"
  if [ -n "$errors" ]; then
    grep '^status ' <<<"$out" >&2 || true
    tail -5 "$TMP/app-node.log" >&2
    die "wrk saw $errors non-2xx responses ($name)"
  fi
  printf '  %-40s %10.0f req/s   p50 %8s ms   p99 %8s ms\n' "$name" "$rps" "$(to_ms "$p50")" "$(to_ms "$p99")"
}

# Counts the statuses other than 2xx per thread and prints them at the end ("status N COUNT").
cat >"$TMP/statuses.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body)
  if status >= 300 then statuses[status] = (statuses[status] or 0) + 1 end
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do io.write("status " .. status .. " " .. count .. "\n") end
  end
end
LUA
{
  cat "$TMP/statuses.lua"
  cat <<LUA
wrk.method = "POST"
wrk.body = '{"name":"bench","password":"$PASSWORD"}'
wrk.headers["Content-Type"] = "application/json"
LUA
} >"$TMP/login.lua"

echo "bench api: app-node ($CONFIGURATION) on :$HTTP_PORT, $JOBS jobs of one user in the ops store, $(nproc) cores"
run_wrk "GET /api/v1/jobs?limit=50 (c=$CONNECTIONS)" "$CONNECTIONS" -s "$TMP/statuses.lua" \
  -H "Authorization: Bearer $TOKEN" "$BASE/jobs?limit=50"
run_wrk "POST /api/v1/auth/login (c=$LOGIN_CONNECTIONS)" "$LOGIN_CONNECTIONS" -s "$TMP/login.lua" "$BASE/auth/login"
