#!/usr/bin/env bash
# scripts/bench shell — `cosmicac jobs shell` against a real wrk-agent-instance over the swarm
# (loopback DHT from a dht-node, release builds), measured in one run against its peer: `ssh` to a
# private local sshd (Debian OpenSSH, default cipher):
#   1. keystroke round trip: one byte written to `cat` on the remote side and read back, p50 and
#      p99 over KEYS keystrokes (pipes on both sides: `cosmicac jobs shell --no-tty -- cat`,
#      `ssh host cat`);
#   2. bulk output: BYTES of `head -c BYTES /dev/zero` on the remote side into /dev/null locally,
#      minus each tool's own connection setup (an empty command timed in the same round).
# Rounds alternate the contenders; each figure is the best of ROUNDS (the machine is shared).
# Targets (issue 10): latency p50 within 1.2x of OpenSSH, throughput >= 1.5x OpenSSH.
# Environment: ROUNDS (3), BYTES (1 GiB), KEYS (500), SCRATCH (.build).
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"

ROUNDS="${ROUNDS:-3}"
BYTES="${BYTES:-1073741824}"
KEYS="${KEYS:-500}"
SCRATCH="${SCRATCH:-$ROOT/.build}"

ensure_packages openssh-server openssh-client || true
command -v ssh >/dev/null || die "ssh is not installed (Debian package 'openssh-client'); the benchmark needs it as its peer"
command -v ssh-keygen >/dev/null || die "ssh-keygen is not installed (Debian package 'openssh-client')"
command -v openssl >/dev/null || die "openssl is not installed (Debian package 'openssl')"
command -v python3 >/dev/null || die "python3 is needed to time keystrokes"
SSHD="$(command -v sshd || echo /usr/sbin/sshd)"
[ -x "$SSHD" ] || die "sshd is not installed (Debian package 'openssh-server'); the benchmark needs it as its peer"

for product in dht-node wrk-agent-instance cosmicac; do
  log "building $product (release)"
  swift build -c release --scratch-path "$SCRATCH" --product "$product" >&2
done
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)"
for product in dht-node wrk-agent-instance cosmicac; do
  [ -x "$BIN/$product" ] || die "$product was not built at $BIN"
done

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

# Ed25519 public key (hex) of a 32-byte seed (hex), through OpenSSL's PKCS#8 DER form.
public_key() {
  printf '302e020100300506032b657004220420%s' "$1" | xxd -r -p |
    openssl pkey -inform DER -pubout -outform DER | tail -c 32 | xxd -p -c 64
}

# The DHT bootstrap node.
DHT_PORT="$(free_port)"
"$BIN/dht-node" --port "$DHT_PORT" --data-dir "$TMP/dht" >"$TMP/dht.log" 2>&1 &
DHT_PID=$!
PIDS+=("$DHT_PID")
wait_for_log_line "$TMP/dht.log" '"listener":"dht"' 10 "$DHT_PID" >/dev/null || die "dht-node did not start: $(cat "$TMP/dht.log")"

# The agent, admitting the CLI's key (a CLI config directory of its own).
CLIENT_SEED="$(openssl rand -hex 32)"
AGENT_SEED="$(openssl rand -hex 32)"
mkdir -p "$TMP/cli"
printf '%s' "$CLIENT_SEED" >"$TMP/cli/client.key"
chmod 600 "$TMP/cli/client.key"
AGENT_KEY="$(public_key "$AGENT_SEED")"
cat >"$TMP/agent.json" <<AGENT
{"jobId":"job_00000000000bench","node":0,"kind":"gpuContainer","seed":"$AGENT_SEED",
 "authorizedKeys":["$(public_key "$CLIENT_SEED")"],"bootstrap":["127.0.0.1:$DHT_PORT"],
 "workerKey":"$(public_key "$(openssl rand -hex 32)")","gpuCount":1}
AGENT
"$BIN/wrk-agent-instance" --config-file "$TMP/agent.json" --data-dir "$TMP/agent" --listen-host 127.0.0.1 \
  --heartbeat-interval-ms 600000 >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
wait_for_log_line "$TMP/agent.log" '"listener":"swarm"' 15 "$AGENT_PID" >/dev/null || die "the agent did not start: $(cat "$TMP/agent.log")"
OURS=(env COSMICAC_CONFIG_DIR="$TMP/cli" "$BIN/cosmicac" jobs shell --agent-key "$AGENT_KEY"
  --bootstrap "127.0.0.1:$DHT_PORT" --no-tty --)
"${OURS[@]}" true || die "cosmicac jobs shell cannot reach the agent"

# A private sshd on a free port: temporary host key, one authorized client key, nothing else.
SSH_PORT="$(free_port)"
ssh-keygen -q -t ed25519 -N '' -f "$TMP/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$TMP/client_key"
cp "$TMP/client_key.pub" "$TMP/authorized_keys"
chmod 600 "$TMP/host_key" "$TMP/client_key" "$TMP/authorized_keys"
cat >"$TMP/sshd_config" <<SSHD_CONFIG
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $TMP/host_key
AuthorizedKeysFile $TMP/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PidFile $TMP/sshd.pid
SSHD_CONFIG
if [ "$(id -u)" -eq 0 ]; then mkdir -p /run/sshd; fi
"$SSHD" -D -e -f "$TMP/sshd_config" 2>"$TMP/sshd.log" &
PIDS+=($!)
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$SSH_PORT") 2>/dev/null && break
  sleep 0.1
done
SSH=(ssh -p "$SSH_PORT" -i "$TMP/client_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  -o BatchMode=yes -o LogLevel=ERROR "$(id -un)@127.0.0.1")
"${SSH[@]}" true 2>"$TMP/ssh.err" || { cat "$TMP/ssh.err" "$TMP/sshd.log" >&2; die "cannot log in to the local sshd"; }

now() { date +%s.%N; }
best_max() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 > a + 0) print b; else print a }'; }
best_min() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 < a + 0) print b; else print a }'; }

# mbps CMD…: BYTES of zeros produced remotely, read locally, minus the command's own setup.
mbps() {
  local s0 e0 s1 e1
  s0="$(now)"; "$@" true </dev/null; e0="$(now)"
  s1="$(now)"; "$@" head -c "$BYTES" /dev/zero </dev/null >/dev/null; e1="$(now)"
  awk -v b="$BYTES" -v t="$(awk -v a="$s1" -v b="$e1" -v c="$s0" -v d="$e0" 'BEGIN { print (b - a) - (d - c) }')" \
    'BEGIN { printf "%.1f", b / t / 1e6 }'
}

# keystrokes CMD…: "p50 p99" in microseconds of one byte to remote `cat` and back.
keystrokes() {
  python3 - "$KEYS" "$@" <<'PY'
import os, subprocess, sys, time
keys = int(sys.argv[1])
child = subprocess.Popen(sys.argv[2:] + ["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
def round_trip():
    start = time.perf_counter_ns()
    child.stdin.write(b"k")
    got = child.stdout.read(1)
    if got != b"k":
        sys.exit("no echo from the remote cat")
    return (time.perf_counter_ns() - start) / 1000
for _ in range(20):
    round_trip()
samples = sorted(round_trip() for _ in range(keys))
child.stdin.close()
child.wait()
print("%.1f %.1f" % (samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))]))
PY
}

log "keystroke round trips: $KEYS per contender, $ROUNDS rounds"
OP50="" OP99="" SP50="" SP99=""
for round in $(seq 1 "$ROUNDS"); do
  read -r o50 o99 <<<"$(keystrokes "${OURS[@]}")"
  read -r s50 s99 <<<"$(keystrokes "${SSH[@]}")"
  printf '  round %d: cosmicac p50 %8.1f us p99 %8.1f us   ssh p50 %8.1f us p99 %8.1f us\n' \
    "$round" "$o50" "$o99" "$s50" "$s99"
  OP50="$(best_min "$OP50" "$o50")"; OP99="$(best_min "$OP99" "$o99")"
  SP50="$(best_min "$SP50" "$s50")"; SP99="$(best_min "$SP99" "$s99")"
done

log "bulk output: $((BYTES >> 20)) MiB, $ROUNDS rounds"
OT="" ST=""
for round in $(seq 1 "$ROUNDS"); do
  o="$(mbps "${OURS[@]}")"
  s="$(mbps "${SSH[@]}")"
  printf '  round %d: cosmicac %8.1f MB/s   ssh %8.1f MB/s\n' "$round" "$o" "$s"
  OT="$(best_max "$OT" "$o")"; ST="$(best_max "$ST" "$s")"
done

verdict_le() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 <= t + 0) ? "target met" : "MISSES TARGET" }'; }
verdict_ge() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 >= t + 0) ? "target met" : "BELOW TARGET" }'; }
LAT="$(awk -v a="$OP50" -v b="$SP50" 'BEGIN { printf "%.2f", a / b }')"
THR="$(awk -v a="$OT" -v b="$ST" 'BEGIN { printf "%.2f", a / b }')"
echo
echo "shell benchmark (best of $ROUNDS rounds, $(nproc) cores)"
printf '  %-40s %10.1f us  p99 %10.1f us\n' "cosmicac jobs shell keystroke p50" "$OP50" "$OP99"
printf '  %-40s %10.1f us  p99 %10.1f us\n' "ssh -> sshd keystroke p50" "$SP50" "$SP99"
printf '  %-40s %10sx  (target <= 1.2x: %s)\n' "latency cosmicac / ssh (p50)" "$LAT" "$(verdict_le "$LAT" 1.2)"
printf '  %-40s %10.1f MB/s\n' "cosmicac jobs shell bulk output" "$OT"
printf '  %-40s %10.1f MB/s\n' "ssh -> sshd bulk output" "$ST"
printf '  %-40s %10sx  (target >= 1.5x: %s)\n' "throughput cosmicac / ssh" "$THR" "$(verdict_ge "$THR" 1.5)"
