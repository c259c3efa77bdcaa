#!/usr/bin/env bash
# scripts/bench dht — the DHT (bench-dht, release build):
#   1. a simulated network of NODES (10,000) nodes running the real node logic over a virtual-time
#      network: median and p99 hops and messages per lookup next to log2(N) (the Kademlia bound),
#      lookup success before and after killing CHURN (20%) of the nodes (target >= 99.9%), and
#      resident memory per simulated node;
#   2. a loopback testnet of TESTNET_NODES (100) real nodes on 127.0.0.1: time from announce until
#      every node finds the record, and lookup latency p50/p99.
# Environment: NODES (10000), LOOKUPS (1000), TOPICS (100), CHURN (0.2), SEED (1), JOIN (0: routing
# tables filled as a settled network's; 1: every node joins through the protocol), TESTNET_NODES
# (100), TESTNET_LOOKUPS (200), SCRATCH (.build).
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"

NODES="${NODES:-10000}"
LOOKUPS="${LOOKUPS:-1000}"
TOPICS="${TOPICS:-100}"
CHURN="${CHURN:-0.2}"
SEED="${SEED:-1}"
JOIN="${JOIN:-0}"
TESTNET_NODES="${TESTNET_NODES:-100}"
TESTNET_LOOKUPS="${TESTNET_LOOKUPS:-200}"
SCRATCH="${SCRATCH:-$ROOT/.build}"

log "building bench-dht (release)"
swift build -c release --scratch-path "$SCRATCH" --product bench-dht >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/bench-dht"
[ -x "$BIN" ] || die "bench-dht was not built at $BIN"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
field() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 >= t + 0) ? "target met" : "BELOW TARGET" }'; }

JOIN_FLAG=()
[ "$JOIN" = "1" ] && JOIN_FLAG=(--join)
log "simulation: $NODES nodes, $TOPICS topics, $LOOKUPS lookups before and after $CHURN churn"
"$BIN" sim --nodes "$NODES" --lookups "$LOOKUPS" --topics "$TOPICS" --churn "$CHURN" --seed "$SEED" \
  "${JOIN_FLAG[@]}" >"$TMP/sim" || { cat "$TMP/sim" >&2; die "bench-dht sim failed"; }
log "loopback testnet: $TESTNET_NODES nodes, $TESTNET_LOOKUPS lookups"
"$BIN" testnet --nodes "$TESTNET_NODES" --lookups "$TESTNET_LOOKUPS" >"$TMP/testnet" \
  || { cat "$TMP/testnet" >&2; die "bench-dht testnet failed"; }

S="$TMP/sim"
T="$TMP/testnet"
CHURN_PCT="$(awk -v c="$CHURN" 'BEGIN { printf "%.0f", c * 100 }')"
echo
echo "dht benchmark"
echo "  simulated network ($(field nodes "$S") nodes, routing tables $(field tables "$S"), build $(field build_seconds "$S") s)"
printf '  %-44s %10s\n' "log2(N) (Kademlia bound on hops)" "$(field log2_nodes "$S")"
printf '  %-44s %10s / %s\n' "hops per lookup, median / p99" "$(field hops_median "$S")" "$(field hops_p99 "$S")"
printf '  %-44s %10s / %s\n' "messages per lookup, median / p99" "$(field messages_median "$S")" "$(field messages_p99 "$S")"
printf '  %-44s %10s%%\n' "lookup success, no churn" "$(field success_rate "$S")"
printf '  %-44s %10s / %s\n' "true 20 closest reached, median / p1" "$(field true_closest_found_median "$S")" \
  "$(field true_closest_found_p1 "$S")"
printf '  %-44s %10s / %s\n' "hops under ${CHURN_PCT}% churn, median / p99" "$(field churn_hops_median "$S")" "$(field churn_hops_p99 "$S")"
printf '  %-44s %10s / %s\n' "messages under ${CHURN_PCT}% churn, median / p99" "$(field churn_messages_median "$S")" "$(field churn_messages_p99 "$S")"
printf '  %-44s %10s%%  (target >= 99.9%%: %s)\n' "lookup success under ${CHURN_PCT}% churn" \
  "$(field churn_success_rate "$S")" "$(verdict "$(field churn_success_rate "$S")" 99.9)"
printf '  %-44s %10s / %s\n' "true 20 closest reached under churn, med / p1" \
  "$(field churn_true_closest_found_median "$S")" "$(field churn_true_closest_found_p1 "$S")"
printf '  %-44s %10s bytes\n' "resident memory per simulated node" "$(field memory_per_node_bytes "$S")"
echo "  loopback testnet ($(field nodes "$T") nodes, started in $(field start_seconds "$T") s)"
printf '  %-44s %10s ms (stored on %s nodes)\n' "announce" "$(field announce_ms "$T")" "$(field announce_stored_at "$T")"
printf '  %-44s %10s ms (%s)\n' "announce until every node finds it" \
  "$(field announce_to_visible_everywhere_ms "$T")" "$(field visible_everywhere "$T")"
printf '  %-44s %10s / %s ms\n' "lookup latency p50 / p99" "$(field lookup_ms_p50 "$T")" "$(field lookup_ms_p99 "$T")"
printf '  %-44s %10s%%\n' "lookup success" "$(field lookup_success_rate "$T")"
