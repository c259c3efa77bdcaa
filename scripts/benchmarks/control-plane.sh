#!/usr/bin/env bash
# scripts/bench control-plane — the whole control plane on this machine with the local provider
# (scripts/dev-up in a temporary data directory: redis, dht-node, wrk-ork, the worker, app-node,
# proxy-inference; release build unless CONFIG=debug), driven through app-node's HTTP API:
#   1. create -> running latency: JOBS (50) GPU Container jobs created one after another, each
#      waited for; p50/p99 of the time from the create request until the API shows it running
#      (client side, polled every 10 ms) and from its create event to its `started` event (the
#      services' own timestamps);
#   2. CONCURRENT (500) creates at once (CLIENTS (64) connections): the time until every job runs,
#      that every job converged (none lost, none placed twice: one `placed` event each), and the
#      peak memory (VmHWM) of each service and the agents' total resident memory.
# Environment: JOBS (50), CONCURRENT (500), CLIENTS (64), CONFIG (release|debug), TIMEOUT (600 s per
# phase), KEEP (1: keep the data directory and logs), COSMICAC_SCRATCH (the build directory dev-up
# uses).
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"

JOBS="${JOBS:-50}"
CONCURRENT="${CONCURRENT:-500}"
CLIENTS="${CLIENTS:-64}"
CONFIG="${CONFIG:-release}"
TIMEOUT="${TIMEOUT:-600}"
case "$CONFIG" in release | debug) ;; *) die "CONFIG must be release or debug" ;; esac

TMP="$(mktemp -d)"
data="$TMP/data"
cleanup() {
  "$ROOT/scripts/dev-down" --data-dir "$data" > "$TMP/down.log" 2>&1 || cat "$TMP/down.log" >&2
  if [ "${KEEP:-0}" = 1 ]; then echo "logs kept in $data/logs" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

up_args=(--data-dir "$data")
[ "$CONFIG" = debug ] && up_args+=(--debug)
log "starting the control plane (scripts/dev-up, $CONFIG build)"
# One GPU per job: the local rack holds every job of both phases. The API's per-user and
# per-client request limits are lifted: the benchmark is one user creating and polling fast.
if ! COSMICAC_PORT="$(free_port)" COSMICAC_LOCAL_GPUS=$((JOBS + CONCURRENT)) \
  COSMICAC_REQUESTS_PER_USER=10000000 COSMICAC_REQUESTS_PER_CLIENT=10000000 \
  "$ROOT/scripts/dev-up" "${up_args[@]}" > "$TMP/up.log" 2>&1; then
  tail -n 30 "$TMP/up.log" >&2
  die "scripts/dev-up failed (the control plane must run for this benchmark)"
fi
line="$(grep -F '"msg":"listening"' "$data/logs/app-node.log" | grep -F '"listener":"http"' | head -n 1)"
app_port="$(json_field "$line" port)"
[ -n "$app_port" ] || die "app-node has no HTTP listener (see $data/logs/app-node.log)"

python3 - "$app_port" "$(cat "$data/admin-password")" "$JOBS" "$CONCURRENT" "$CLIENTS" "$TIMEOUT" \
  "$data/run/processes" "$data" > "$TMP/result" <<'PY' || { cat "$TMP/result" >&2; die "the benchmark driver failed"; }
import concurrent.futures, datetime, json, math, os, sys, time, urllib.error, urllib.request

port, password, jobs, concurrent_jobs, clients, timeout, processes, data = sys.argv[1:9]
jobs, concurrent_jobs, clients, timeout = int(jobs), int(concurrent_jobs), int(clients), float(timeout)
base = f"http://127.0.0.1:{port}/api/v1"


def call(method, path, body=None, token=None, headers=None):
    request = urllib.request.Request(base + path, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(5):
        try:
            with urllib.request.urlopen(request, data=data, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            if error.code in (429, 503) and attempt < 4:
                time.sleep(0.2 * (attempt + 1))
                continue
            raise SystemExit(f"{method} {path}: HTTP {error.code}: {text}")


def stamp(iso):
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


token = call("POST", "/auth/login", {"name": "admin", "password": password})["token"]
spec = {"tags": ["bench"], "location": "local", "kind": "gpu-container", "gpuModel": "local", "gpuCount": 1,
        "image": "Ubuntu22.04/CUDA12.8.1", "diskGb": 10}


def create(name):
    body = dict(spec, name=name)
    return call("POST", "/jobs", body, token, {"Idempotency-Key": name})["id"]


def detail(job_id):
    return call("GET", f"/jobs/{job_id}", token=token)


def all_jobs():
    items, cursor = [], None
    while True:
        path = "/jobs?limit=200&tag=bench" + (f"&cursor={cursor}" if cursor else "")
        page = call("GET", path, token=token)
        items += page["items"]
        cursor = page.get("nextCursor")
        if not cursor:
            return items


# 1. Sequential creates: create -> running latency.
client_ms, server_ms = [], []
for i in range(jobs):
    start = time.monotonic()
    job_id = create(f"latency-{i}")
    deadline = start + timeout
    while True:
        job = detail(job_id)
        if job["phase"] == "running":
            break
        if job["phase"] == "failed" or time.monotonic() > deadline:
            raise SystemExit(f"job {job_id} did not run: phase {job['phase']}, message {job.get('message')}")
        time.sleep(0.01)
    client_ms.append((time.monotonic() - start) * 1000)
    started = next(e for e in job["events"] if e["phase"] == "running")
    server_ms.append((stamp(started["at"]) - stamp(job["createdAt"])) * 1000)

# 2. Concurrent creates: all converge.
start = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as pool:
    ids = list(pool.map(create, [f"burst-{i}" for i in range(concurrent_jobs)]))
created_s = time.monotonic() - start
wanted = set(ids)
deadline = start + timeout
while True:
    running = {j["id"] for j in all_jobs() if j["id"] in wanted and j["phase"] == "running"}
    if running == wanted:
        break
    if time.monotonic() > deadline:
        raise SystemExit(f"only {len(running)} of {len(wanted)} jobs ran within {timeout} s")
    time.sleep(0.25)
converged_s = time.monotonic() - start
listed = [j for j in all_jobs() if j["name"].startswith("burst-")]
with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as pool:
    details = list(pool.map(detail, ids))
placed_twice = sum(1 for d in details if sum(1 for e in d["events"] if e["event"] == "placed") != 1)
# Where the burst's time went: wrk-ork's share (create -> placed) and the worker's (placed -> running).
to_placed, to_running = [], []
for d in details:
    created = stamp(d["createdAt"])
    placed = next((stamp(e["at"]) for e in d["events"] if e["event"] == "placed"), None)
    running = next((stamp(e["at"]) for e in d["events"] if e["phase"] == "running"), None)
    if placed is not None and running is not None:
        to_placed.append((placed - created) * 1000)
        to_running.append((running - placed) * 1000)


def vm_hwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None


print(f"jobs {jobs}")
print(f"latency_client_ms_p50 {percentile(client_ms, 50):.0f}")
print(f"latency_client_ms_p99 {percentile(client_ms, 99):.0f}")
print(f"latency_server_ms_p50 {percentile(server_ms, 50):.0f}")
print(f"latency_server_ms_p99 {percentile(server_ms, 99):.0f}")
print(f"concurrent {concurrent_jobs}")
print(f"created_seconds {created_s:.2f}")
print(f"converged_seconds {converged_s:.2f}")
print(f"listed {len(listed)}")
print(f"running {len([j for j in listed if j['phase'] == 'running'])}")
print(f"placed_not_once {placed_twice}")
if to_placed:
    print(f"burst_placed_ms_p50 {percentile(to_placed, 50):.0f}")
    print(f"burst_placed_ms_p99 {percentile(to_placed, 99):.0f}")
    print(f"burst_running_ms_p50 {percentile(to_running, 50):.0f}")
    print(f"burst_running_ms_p99 {percentile(to_running, 99):.0f}")
with open(processes) as recorded:
    for line in recorded:
        name, pid = line.split()[:2]
        kb = vm_hwm_kb(pid)
        if kb is not None:
            print(f"peak_kb_{name} {kb}")
# The agents run inside bubblewrap sandboxes whose command lines name the data directory; the
# agent processes are their descendants.
parents, commands = {}, {}
for entry in os.listdir("/proc"):
    if not entry.isdigit():
        continue
    try:
        with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
            commands[entry] = cmdline.read().decode(errors="replace").split("\0")
        with open(f"/proc/{entry}/stat") as stat:
            parents[entry] = stat.read().rsplit(")", 1)[1].split()[1]
    except OSError:
        pass


def sandboxed(pid):
    seen = set()
    while pid in parents and pid not in seen:
        seen.add(pid)
        args = commands.get(pid, [])
        if args and os.path.basename(args[0]) == "bwrap" and any(data in arg for arg in args):
            return True
        pid = parents[pid]
    return False


agents_kb, agents = 0, 0
for pid, args in commands.items():
    if args and os.path.basename(args[0]) == "wrk-agent-instance" and sandboxed(pid):
        kb = None
        try:
            with open(f"/proc/{pid}/status") as status:
                kb = next((int(l.split()[1]) for l in status if l.startswith("VmRSS:")), None)
        except OSError:
            pass
        if kb is not None:
            agents_kb += kb
            agents += 1
print(f"agents {agents}")
print(f"agents_rss_kb {agents_kb}")
PY

R="$TMP/result"
field() { awk -v k="$1" '$1 == k { print $2 }' "$R"; }
mb() { awk -v kb="$(field "$1")" 'BEGIN { if (kb == "") print "-"; else printf "%.1f MB", kb / 1024 }'; }
echo
echo "control-plane benchmark (local provider, $CONFIG build)"
printf '  %-46s %s / %s ms\n' "create -> running, API view, p50 / p99" \
  "$(field latency_client_ms_p50)" "$(field latency_client_ms_p99)"
printf '  %-46s %s / %s ms\n' "create event -> started event, p50 / p99" \
  "$(field latency_server_ms_p50)" "$(field latency_server_ms_p99)"
printf '  %-46s %s jobs, one at a time\n' "measured over" "$(field jobs)"
printf '  %-46s %s s (creates answered in %s s)\n' "$(field concurrent) concurrent creates, all running after" \
  "$(field converged_seconds)" "$(field created_seconds)"
printf '  %-46s %s of %s running, %s not placed exactly once\n' "converged" "$(field running)" \
  "$(field concurrent)" "$(field placed_not_once)"
printf '  %-46s %s / %s ms\n' "  create -> placed (wrk-ork), p50 / p99" \
  "$(field burst_placed_ms_p50)" "$(field burst_placed_ms_p99)"
printf '  %-46s %s / %s ms\n' "  placed -> running (worker, agent), p50 / p99" \
  "$(field burst_running_ms_p50)" "$(field burst_running_ms_p99)"
for name in "${CONTROL_PLANE[@]}" redis; do
  printf '  %-46s %s\n' "peak memory (VmHWM) $name" "$(mb "peak_kb_$name")"
done
printf '  %-46s %s (%s agents)\n' "agents' resident memory in total" "$(mb agents_rss_kb)" "$(field agents)"
if [ "$(field running)" != "$(field concurrent)" ] || [ "$(field placed_not_once)" != 0 ]; then
  die "not every job converged exactly once"
fi
