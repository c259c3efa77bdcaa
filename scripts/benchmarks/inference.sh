#!/usr/bin/env bash
# scripts/bench inference — proxy-inference (release build; API-key authentication and token
# metering on) in front of wrk-agent-inference running inference-test-engine, reached over the
# encrypted swarm as in production, against calling the same engine directly, and side by side in
# the same run: vllm-router (PyPI `vllm-router`, --policy round_robin) and LiteLLM's proxy (PyPI
# `litellm[proxy]`) in front of that engine. Measures with wrk: latency p50/p99 at one connection
# (the added latency is the difference to the engine), requests/s at CONNECTIONS connections,
# streamed requests/s at STREAMS concurrent streams with the proxy's memory, and time to first
# token of a stream at one connection.
# The proxy stack runs inside the InferenceTests test bundle (its InferenceBenchmarkFixture, built
# in release), which serves until the script tells it to stop.
# Environment: ROUNDS (2), DURATION (5s), CONNECTIONS (64), STREAMS (256), TOKENS (16),
# TTFT_REQUESTS (200), SCRATCH (the SwiftPM scratch directory, default .build).
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"

ROUNDS="${ROUNDS:-2}"
DURATION="${DURATION:-5s}"
CONNECTIONS="${CONNECTIONS:-64}"
STREAMS="${STREAMS:-256}"
TOKENS="${TOKENS:-16}"
TTFT_REQUESTS="${TTFT_REQUESTS:-200}"

ensure_packages wrk curl python3-pip || true
command -v wrk >/dev/null || die "wrk is not installed (Debian package 'wrk'); the benchmark needs it as its load generator"
ensure_pip vllm_router=vllm-router "litellm=litellm[proxy]" || true
command -v vllm-router >/dev/null || die "vllm-router is not installed (pip install vllm-router); it is a peer of this benchmark"
command -v litellm >/dev/null || die "litellm is not installed (pip install 'litellm[proxy]'); it is a peer of this benchmark"

TMP="$(mktemp -d)"
PIDS=()
STACK_PIDS=()
cleanup() {
  # The fixture stops its stack when it sees the stop file; then stop whatever is left.
  touch "$TMP/stop"
  for _ in $(seq 1 100); do
    alive=0
    for pid in "${STACK_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}" "${STACK_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building and starting the proxy stack (release test bundle; the first build takes a while)"
COSMICAC_INFERENCE_BENCH_DIR="$TMP" swift test -c release --scratch-path "$SCRATCH" \
  --filter InferenceBenchmarkFixture >"$TMP/fixture.log" 2>&1 &
FIXTURE=$!
PIDS+=("$FIXTURE")
for _ in $(seq 1 3600); do
  [ -s "$TMP/stack.json" ] && break
  kill -0 "$FIXTURE" 2>/dev/null || { tail -n 30 "$TMP/fixture.log" >&2; die "the proxy stack did not start"; }
  sleep 1
done
[ -s "$TMP/stack.json" ] || die "the proxy stack did not start within an hour"
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$TMP/stack.json" "$1"; }
PROXY_PORT="$(field proxyPort)"
ENGINE_PORT="$(field enginePort)"
KEY="$(field key)"
MODEL="$(field model)"
PROXY_PID="$(field proxyPid)"
STACK_PIDS=("$PROXY_PID" "$(field agentPid)")

ROUTER_PORT="$(free_port)"
vllm-router --host 127.0.0.1 --port "$ROUTER_PORT" --worker-urls "http://127.0.0.1:$ENGINE_PORT" \
  --policy round_robin --log-level warning >"$TMP/router.log" 2>&1 &
PIDS+=($!)
LITELLM_PORT="$(free_port)"
LITELLM_KEY="sk-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
cat >"$TMP/litellm.yaml" <<YAML
general_settings:
  master_key: $LITELLM_KEY
model_list:
  - model_name: $MODEL
    litellm_params:
      model: openai/$MODEL
      api_base: http://127.0.0.1:$ENGINE_PORT/v1
      api_key: unused
YAML
litellm --config "$TMP/litellm.yaml" --host 127.0.0.1 --port "$LITELLM_PORT" --num_workers 1 \
  >"$TMP/litellm.log" 2>&1 &
PIDS+=($!)

BODY="{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"benchmark prompt words\"}],\"max_tokens\":$TOKENS}"
STREAM_BODY="{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"benchmark prompt words\"}],\"max_tokens\":$TOKENS,\"stream\":true}"
declare -A KEYS=([engine]="$KEY" [proxy-inference]="$KEY" [vllm-router]="$KEY" [litellm]="$LITELLM_KEY")
declare -A URL=(
  [engine]="http://127.0.0.1:$ENGINE_PORT"
  [proxy-inference]="http://127.0.0.1:$PROXY_PORT"
  [vllm-router]="http://127.0.0.1:$ROUTER_PORT"
  [litellm]="http://127.0.0.1:$LITELLM_PORT"
)
TARGETS=(engine proxy-inference vllm-router litellm)

answers() {
  curl -sf -m 10 "$1/v1/chat/completions" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    -d "$BODY" | grep -q '"completion_tokens"'
}
for target in "${TARGETS[@]}"; do
  ok=0
  for _ in $(seq 1 120); do
    if answers "${URL[$target]}" "${KEYS[$target]}"; then ok=1; break; fi
    sleep 1
  done
  [ "$ok" = 1 ] || { for f in "$TMP"/*.log; do echo "== $f" >&2; tail -n 20 "$f" >&2; done; die "$target does not answer a chat completion"; }
done

# wrk_script FILE BODY KEY: a wrk Lua script posting BODY with the API key.
wrk_script() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
path, body, key = sys.argv[1:4]
with open(path, "w") as f:
    f.write("wrk.method = \"POST\"\n")
    f.write("wrk.body = " + json.dumps(body) + "\n")
    f.write("wrk.headers[\"Content-Type\"] = \"application/json\"\n")
    f.write("wrk.headers[\"Authorization\"] = \"Bearer " + key + "\"\n")
PY
}
for target in "${TARGETS[@]}"; do
  wrk_script "$TMP/chat-$target.lua" "$BODY" "${KEYS[$target]}"
  wrk_script "$TMP/stream-$target.lua" "$STREAM_BODY" "${KEYS[$target]}"
done

# to_ms VALUE: a wrk latency (312.00us, 1.45ms, 1.02s) in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else printf "nan" }'
}
# run_wrk URL SCRIPT CONNECTIONS: prints "p50_ms p99_ms requests_per_s non2xx".
run_wrk() {
  local threads=2
  [ "$3" -lt 2 ] && threads=1
  local out
  out="$(wrk -t"$threads" -c"$3" -d"$DURATION" --latency -s "$2" "$1/v1/chat/completions" 2>&1)"
  local p50 p99 rps bad
  p50="$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")"
  p99="$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")"
  rps="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")"
  bad="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")"
  echo "$p50 $p99 ${rps:-0} ${bad:-0}"
}
rss_mb() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

declare -A P50 P99 RPS SRPS BAD
for round in $(seq 1 "$ROUNDS"); do
  for target in "${TARGETS[@]}"; do
    log "round $round: $target"
    read -r p50 p99 _ bad1 < <(run_wrk "${URL[$target]}" "$TMP/chat-$target.lua" 1)
    read -r _ _ rps bad2 < <(run_wrk "${URL[$target]}" "$TMP/chat-$target.lua" "$CONNECTIONS")
    read -r _ _ srps bad3 < <(run_wrk "${URL[$target]}" "$TMP/stream-$target.lua" "$STREAMS")
    P50[$target]+="$p50 "
    P99[$target]+="$p99 "
    RPS[$target]+="$rps "
    SRPS[$target]+="$srps "
    BAD[$target]=$(( ${BAD[$target]:-0} + bad1 + bad2 + bad3 ))
  done
done
PROXY_RSS="$(rss_mb "$PROXY_PID")"

# median of the rounds' values.
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else print v[int((NR + 1) / 2)] }'; }

log "time to first token ($TTFT_REQUESTS streamed requests at one connection each)"
declare -A TTFT
for target in "${TARGETS[@]}"; do
  TTFT[$target]="$(python3 - "${URL[$target]}" "${KEYS[$target]}" "$STREAM_BODY" "$TTFT_REQUESTS" <<'PY'
import http.client, sys, time, urllib.parse
url, key, body, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
parts = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
samples = []
for _ in range(count):
    start = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body=body,
                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + key})
    response = conn.getresponse()
    first = None
    while True:
        line = response.readline()
        if not line:
            break
        if first is None and line.startswith(b"data:") and b'"content":"' in line and b'"content":""' not in line:
            first = time.perf_counter() - start
        if line.startswith(b"data: [DONE]"):
            break
    response.read()
    if first is not None:
        samples.append(first * 1000)
samples.sort()
if not samples:
    print("nan nan")
else:
    print("%.3f %.3f" % (samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))]))
PY
)"
done

touch "$TMP/stop"
wait "$FIXTURE" 2>/dev/null || true
records="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["usageRecords"])' "$TMP/summary.json" 2>/dev/null || echo "?")"

ENGINE_P50="$(median "${P50[engine]}")"
printf '\nInference proxies in front of the same test engine (%s tokens per reply), %s rounds of %s, median:\n' \
  "$TOKENS" "$ROUNDS" "$DURATION"
printf '%-16s %10s %10s %12s %12s %14s %12s %10s\n' target "p50 ms" "p99 ms" "added p50" "req/s@$CONNECTIONS" \
  "streams/s@$STREAMS" "TTFT p50" "non-2xx"
for target in "${TARGETS[@]}"; do
  p50="$(median "${P50[$target]}")"
  added="$(awk -v a="$p50" -v b="$ENGINE_P50" 'BEGIN { printf "%.3f", a - b }')"
  [ "$target" = engine ] && added="-"
  read -r ttft _ <<<"${TTFT[$target]}"
  printf '%-16s %10s %10s %12s %12s %14s %12s %10s\n' "$target" "$p50" "$(median "${P99[$target]}")" "$added" \
    "$(median "${RPS[$target]}")" "$(median "${SRPS[$target]}")" "$ttft" "${BAD[$target]}"
done
printf '\nproxy-inference: authentication and token metering on (%s usage records written); the proxy stack\n' "$records"
printf 'process (proxy, its DHT node and loopback DHT) held %s MB RSS after the %s-stream runs.\n' "$PROXY_RSS" "$STREAMS"
printf 'The engine and proxy-inference paths include the agent hop (swarm, Noise-encrypted) that production has.\n'
