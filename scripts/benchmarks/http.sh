#!/usr/bin/env bash
# scripts/bench http — our HTTP server (bench-http, release build) against Caddy on the same machine,
# both loaded by wrk in the same run, A/B alternated: a small GET with keep-alive, then a 1 MiB body;
# then server-sent events to many concurrent subscribers measured by bench-http's own load client.
# Environment: ROUNDS (3), DURATION (5s), CONNECTIONS (50), SSE_SUBSCRIBERS (1000), SSE_EVENTS (200),
# SCRATCH (the SwiftPM scratch directory, default .build).
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5s}"
CONNECTIONS="${CONNECTIONS:-50}"
LARGE_CONNECTIONS="${LARGE_CONNECTIONS:-10}"
SSE_SUBSCRIBERS="${SSE_SUBSCRIBERS:-1000}"
SSE_EVENTS="${SSE_EVENTS:-200}"
SCRATCH="${SCRATCH:-$ROOT/.build}"

ensure_packages caddy wrk curl || true
command -v caddy >/dev/null || die "caddy is not installed (Debian package 'caddy'); the benchmark needs it as its peer"
command -v wrk >/dev/null || die "wrk is not installed (Debian package 'wrk'); the benchmark needs it as its load generator"
command -v curl >/dev/null || die "curl is not installed (Debian package 'curl'); the benchmark checks both servers with it"

log "building bench-http (release)"
swift build -c release --scratch-path "$SCRATCH" --product bench-http >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/bench-http"
[ -x "$BIN" ] || die "bench-http was not built at $BIN"

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
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "error: nothing listens on port $1" >&2
  return 1
}

OURS_PORT="$(free_port)"
CADDY_PORT="$(free_port)"
head -c 1048576 /dev/urandom >"$TMP/1m.bin"
cat >"$TMP/Caddyfile" <<CADDY
{
	admin off
	auto_https off
}
http://127.0.0.1:$CADDY_PORT {
	handle /1m {
		root * $TMP
		rewrite * /1m.bin
		file_server
	}
	handle {
		respond "Hello, World!" 200
	}
}
CADDY

"$BIN" server --port "$OURS_PORT" >"$TMP/ours.log" 2>&1 &
PIDS+=($!)
XDG_DATA_HOME="$TMP" XDG_CONFIG_HOME="$TMP" caddy run --config "$TMP/Caddyfile" --adapter caddyfile >"$TMP/caddy.log" 2>&1 &
PIDS+=($!)
wait_port "$OURS_PORT" || { cat "$TMP/ours.log" >&2; exit 1; }
wait_port "$CADDY_PORT" || { tail -5 "$TMP/caddy.log" >&2; exit 1; }
curl -sf "http://127.0.0.1:$OURS_PORT/" >/dev/null || die "our server does not answer GET /"
curl -sf "http://127.0.0.1:$CADDY_PORT/" >/dev/null || die "caddy does not answer GET /"

# to_ms VALUE: converts a wrk latency such as 312.00us, 1.45ms or 1.02s to milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else { printf "%.3f", v }
  }'
}

# run_wrk URL CONNECTIONS: prints "requests_per_second p50_ms p99_ms".
run_wrk() {
  local out
  out="$(wrk -t1 -c"$2" -d"$DURATION" --latency "$1")" || die "wrk failed against $1"
  local rps p50 p99 errors
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  errors="$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")"
  [ -n "$rps" ] && [ -n "$p99" ] || die "could not read wrk's output for $1"
  [ -z "$errors" ] || die "wrk saw $errors non-2xx responses from $1"
  echo "$rps $(to_ms "$p50") $(to_ms "$p99")"
}

# median3: reads lines of three numbers and prints the median of each column.
median3() {
  awk '{ r[NR] = $1; p[NR] = $2; q[NR] = $3 }
    function med(a, n,   i, j, t) {
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END { printf "%.0f %.3f %.3f", med(r, NR), med(p, NR), med(q, NR) }'
}

# compare NAME PATH CONNECTIONS: A/B alternated rounds, then a summary line per server and the ratio.
compare() {
  local name="$1" path="$2" conns="$3"
  local ours=() caddy=()
  log "$name: $ROUNDS rounds of wrk -t1 -c$conns -d$DURATION, alternating ours and caddy"
  for round in $(seq 1 "$ROUNDS"); do
    local a b
    if [ $((round % 2)) -eq 1 ]; then
      a="$(run_wrk "http://127.0.0.1:$OURS_PORT$path" "$conns")"
      b="$(run_wrk "http://127.0.0.1:$CADDY_PORT$path" "$conns")"
    else
      b="$(run_wrk "http://127.0.0.1:$CADDY_PORT$path" "$conns")"
      a="$(run_wrk "http://127.0.0.1:$OURS_PORT$path" "$conns")"
    fi
    printf '  round %d  ours: %s   caddy: %s   (req/s p50ms p99ms)\n' "$round" "$a" "$b"
    ours+=("$a")
    caddy+=("$b")
  done
  # The median of each figure over the rounds (robust against one round disturbed by other load).
  local o c
  o="$(printf '%s\n' "${ours[@]}" | median3)"
  c="$(printf '%s\n' "${caddy[@]}" | median3)"
  read -r orps op50 op99 <<<"$o"
  read -r crps cp50 cp99 <<<"$c"
  printf '%s\n' "$name:"
  printf '  %-6s %10s req/s   p50 %8s ms   p99 %8s ms\n' ours "$orps" "$op50" "$op99"
  printf '  %-6s %10s req/s   p50 %8s ms   p99 %8s ms\n' caddy "$crps" "$cp50" "$cp99"
  awk -v o="$orps" -v c="$crps" -v op="$op99" -v cp="$cp99" 'BEGIN {
    printf "  ratio  %.2fx requests/s (target >= 1.5x), p99 %s\n", o / c, (op <= cp ? "equal or lower" : "HIGHER than caddy")
  }'
}

echo "bench http: ours on :$OURS_PORT, caddy $(caddy version | awk '{print $1}') on :$CADDY_PORT, $(nproc) cores"
compare "small GET (keep-alive)" / "$CONNECTIONS"
compare "1 MiB body" /1m "$LARGE_CONNECTIONS"

log "server-sent events: $SSE_SUBSCRIBERS subscribers x $SSE_EVENTS events, one event to all every 10 ms"
"$BIN" sse --port "$OURS_PORT" --subscribers "$SSE_SUBSCRIBERS" --events "$SSE_EVENTS" ||
  die "the SSE load client did not receive every event"
