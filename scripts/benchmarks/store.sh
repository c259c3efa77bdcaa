#!/usr/bin/env bash
# scripts/bench store — the durable signed log (bench-store, release build) measured in one run
# against SQLite on the same machine and filesystem:
#   1. durable appends/s for one writer, 200-byte records, batches of 1 and of 100: our log
#      (acknowledged after fdatasync of data and tree and a signed header) vs SQLite (Debian's
#      libsqlite3) in WAL mode with synchronous=FULL, one transaction per batch, through a tiny C
#      peer compiled here with gcc;
#   2. replication catch-up of BLOCKS blocks between two replicas over the encrypted TCP transport
#      on loopback (blocks/s and MB/s, until the replica's copy is durable).
# Rounds alternate the contenders; each figure is the best of ROUNDS (the machine is shared).
# Environment: ROUNDS (3), SECONDS_PER_RUN (3), BLOCKS (1000000), SIZE (200), SCRATCH (.build),
# BENCH_DIR (a directory on the disk to measure; default: a temporary directory under $ROOT).
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"

ROUNDS="${ROUNDS:-3}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-3}"
BLOCKS="${BLOCKS:-1000000}"
SIZE="${SIZE:-200}"
SCRATCH="${SCRATCH:-$ROOT/.build}"

ensure_packages libsqlite3-dev gcc || true
command -v gcc >/dev/null || die "gcc is not installed (Debian package 'gcc'); the SQLite peer needs it"
[ -f /usr/include/sqlite3.h ] || die "sqlite3.h is missing (Debian package 'libsqlite3-dev'); the benchmark needs SQLite as its peer"

log "building bench-store (release)"
swift build -c release --scratch-path "$SCRATCH" --product bench-store >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/bench-store"
[ -x "$BIN" ] || die "bench-store was not built at $BIN"

TMP="$(mktemp -d)"
WORK="${BENCH_DIR:-$(mktemp -d "$ROOT/.bench-store.XXXXXX")}"
cleanup() { rm -rf "$TMP" "$WORK"; }
trap cleanup EXIT

# The SQLite peer: inserts 200-byte records, BATCH per transaction, for SECONDS; prints rows/s.
cat >"$TMP/sqlite_peer.c" <<'C'
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void check(int rc, sqlite3 *db, const char *what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    fprintf(stderr, "sqlite %s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: sqlite_peer DB BATCH SECONDS SIZE\n"); return 2; }
  const char *path = argv[1];
  int batch = atoi(argv[2]);
  double seconds = atof(argv[3]);
  int size = atoi(argv[4]);
  sqlite3 *db;
  check(sqlite3_open(path, &db), db, "open");
  check(sqlite3_exec(db, "PRAGMA journal_mode=WAL", 0, 0, 0), db, "wal");
  check(sqlite3_exec(db, "PRAGMA synchronous=FULL", 0, 0, 0), db, "synchronous");
  check(sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, data BLOB NOT NULL)", 0, 0, 0),
        db, "create");
  sqlite3_stmt *insert;
  check(sqlite3_prepare_v2(db, "INSERT INTO log (data) VALUES (?)", -1, &insert, 0), db, "prepare");
  unsigned char *payload = calloc(1, size);
  long rows = 0;
  double start = now();
  while (now() - start < seconds) {
    check(sqlite3_exec(db, "BEGIN", 0, 0, 0), db, "begin");
    for (int i = 0; i < batch; i++) {
      payload[rows % size]++;
      sqlite3_bind_blob(insert, 1, payload, size, SQLITE_STATIC);
      check(sqlite3_step(insert), db, "insert");
      sqlite3_reset(insert);
      rows++;
    }
    check(sqlite3_exec(db, "COMMIT", 0, 0, 0), db, "commit");
  }
  double elapsed = now() - start;
  printf("rows %ld\nrows_per_second %.1f\n", rows, rows / elapsed);
  sqlite3_finalize(insert);
  sqlite3_close(db);
  return 0;
}
C
gcc -O2 -o "$TMP/sqlite_peer" "$TMP/sqlite_peer.c" -lsqlite3 || die "cannot compile the SQLite peer"

best() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 > a + 0) print b; else print a }'; }
field() { awk -v k="$1" '$1 == k { print $2 }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 >= t + 0) ? "target met" : "BELOW TARGET" }'; }

declare -A OURS SQL
for batch in 1 100; do
  log "durable appends, batch $batch, ${SECONDS_PER_RUN}s per run, $ROUNDS rounds, in $WORK"
  for round in $(seq 1 "$ROUNDS"); do
    o="$("$BIN" appends --dir "$WORK/log" --batch "$batch" --seconds "$SECONDS_PER_RUN" --size "$SIZE" | field rows_per_second)"
    rm -f "$WORK/sqlite.db" "$WORK/sqlite.db-wal" "$WORK/sqlite.db-shm"
    s="$("$TMP/sqlite_peer" "$WORK/sqlite.db" "$batch" "$SECONDS_PER_RUN" "$SIZE" | field rows_per_second)"
    printf '  round %d: log %10.1f rows/s   SQLite %10.1f rows/s\n' "$round" "$o" "$s"
    OURS[$batch]="$(best "${OURS[$batch]:-}" "$o")"
    SQL[$batch]="$(best "${SQL[$batch]:-}" "$s")"
  done
done

log "replication catch-up of $BLOCKS blocks of $SIZE bytes over loopback (encrypted TCP)"
REPL="$("$BIN" replicate --blocks "$BLOCKS" --size "$SIZE" --dir "$WORK/replication")"

R1="$(awk -v a="${OURS[1]}" -v b="${SQL[1]}" 'BEGIN { printf "%.2f", a / b }')"
R100="$(awk -v a="${OURS[100]}" -v b="${SQL[100]}" 'BEGIN { printf "%.2f", a / b }')"
echo
echo "store benchmark (best of $ROUNDS rounds, $(nproc) cores, ${SIZE}-byte records)"
printf '  %-44s %12.1f rows/s\n' "log, batch 1 (durable)" "${OURS[1]}"
printf '  %-44s %12.1f rows/s\n' "SQLite WAL synchronous=FULL, batch 1" "${SQL[1]}"
printf '  %-44s %12sx  (target >= 0.5x: %s)\n' "log / SQLite, batch 1" "$R1" "$(verdict "$R1" 0.5)"
printf '  %-44s %12.1f rows/s\n' "log, batch 100 (durable)" "${OURS[100]}"
printf '  %-44s %12.1f rows/s\n' "SQLite WAL synchronous=FULL, batch 100" "${SQL[100]}"
printf '  %-44s %12sx  (target >= 1x: %s)\n' "log / SQLite, batch 100" "$R100" "$(verdict "$R100" 1)"
printf '  %-44s %12s\n' "replication catch-up, blocks" "$(echo "$REPL" | field blocks)"
printf '  %-44s %12s s\n' "replication catch-up, time" "$(echo "$REPL" | field seconds)"
printf '  %-44s %12s blocks/s\n' "replication catch-up" "$(echo "$REPL" | field blocks_per_second)"
printf '  %-44s %12s MB/s\n' "replication catch-up" "$(echo "$REPL" | field mb_per_second)"

# The linearizer, the views and the change feed (replicated store II) belong to the same benchmark.
echo
bash "$ROOT/scripts/benchmarks/autobase.sh"
