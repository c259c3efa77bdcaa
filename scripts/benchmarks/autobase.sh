#!/usr/bin/env bash
# scripts/bench autobase — the Autobase-style linearizer and the HyperDB-style views (bench-autobase,
# release build):
#   1. linearizing 10 writers x 100,000 nodes (x SCALE) — three of them indexers, every node
#      referencing every other writer's latest node — fed 1,000 rounds at a time: nodes/s;
#   2. a view collection with a secondary index holding 1,000,000 records (x SCALE): point read and
#      1,000-row index scan p50/p99;
#   3. the change feed over loopback: two replicated bases exchanging their writer nodes
#      (BaseReplication) over the encrypted TCP transport; latency from `append` on A to the matching
#      view change on B's change feed, p50/p99 over APPENDS appends, one at a time.
# Environment: SCALE (1), APPENDS (2000), SCRATCH (.build).
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"

SCALE="${SCALE:-1}"
APPENDS="${APPENDS:-2000}"
SCRATCH="${SCRATCH:-$ROOT/.build}"

log "building bench-autobase (release)"
swift build -c release --scratch-path "$SCRATCH" --product bench-autobase >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/bench-autobase"
[ -x "$BIN" ] || die "bench-autobase was not built at $BIN"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
field() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/out"; }

log "running bench-autobase (scale $SCALE, $APPENDS appends)"
"$BIN" --scale "$SCALE" --appends "$APPENDS" >"$TMP/out" || { cat "$TMP/out" >&2; die "bench-autobase failed"; }

echo
echo "autobase benchmark"
echo "  linearizer ($(field linearize_writers) writers, $(field linearize_nodes) nodes, $(field linearize_final) final)"
printf '  %-48s %12s nodes/s (%s s)\n' "linearize" "$(field linearize_nodes_per_second)" "$(field linearize_seconds)"
echo "  views ($(field views_records) records, $(field views_keys) keys with the index, filled in $(field views_fill_seconds) s)"
printf '  %-48s %12s / %s us\n' "point read p50 / p99" "$(field views_point_read_us_p50)" "$(field views_point_read_us_p99)"
printf '  %-48s %12s / %s us\n' "1,000-row index scan p50 / p99" "$(field views_index_scan_1000_us_p50)" \
  "$(field views_index_scan_1000_us_p99)"
echo "  change feed over encrypted loopback TCP ($(field feed_appends) appends, one at a time)"
printf '  %-48s %12s / %s us\n' "append on A to view change on B, p50 / p99" "$(field feed_append_to_view_us_p50)" \
  "$(field feed_append_to_view_us_p99)"
printf '  %-48s %12s appends/s\n' "sequential round trips" "$(field feed_appends_per_second)"
