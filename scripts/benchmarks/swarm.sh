#!/usr/bin/env bash
# scripts/bench swarm — the encrypted peer-to-peer transport (bench-swarm, release build) measured in
# one run against its peers on the same machine:
#   1. bulk throughput over loopback, one connection, 64 KiB writes: our secret stream vs `ssh`
#      piping the same bytes to a local sshd (Debian OpenSSH, default cipher) vs plain TCP;
#   2. full handshakes per second (TCP connect + Noise IK + header exchange + first message echoed)
#      vs the ceiling set by libsodium's crypto_scalarmult_ed25519_noclamp measured alongside (an IK
#      handshake needs four per side, so ceiling = scalar multiplications per second / 8);
#   3. HRPC round trips (bench-hrpc), when that benchmark exists.
# Rounds alternate the contenders; each figure is the best of ROUNDS (the machine is shared).
# Environment: ROUNDS (3), BYTES (1 GiB), HS_SECONDS (3), HS_CONCURRENCY (4), SCRATCH (.build).
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"

ROUNDS="${ROUNDS:-3}"
BYTES="${BYTES:-1073741824}"
HS_SECONDS="${HS_SECONDS:-3}"
HS_CONCURRENCY="${HS_CONCURRENCY:-4}"
SCRATCH="${SCRATCH:-$ROOT/.build}"
CORES="$(nproc)"

ensure_packages openssh-server openssh-client || true
command -v ssh >/dev/null || die "ssh is not installed (Debian package 'openssh-client'); the benchmark needs it as its peer"
command -v ssh-keygen >/dev/null || die "ssh-keygen is not installed (Debian package 'openssh-client')"
SSHD="$(command -v sshd || echo /usr/sbin/sshd)"
[ -x "$SSHD" ] || die "sshd is not installed (Debian package 'openssh-server'); the benchmark needs it as its peer"

log "building bench-swarm (release)"
swift build -c release --scratch-path "$SCRATCH" --product bench-swarm >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/bench-swarm"
[ -x "$BIN" ] || die "bench-swarm was not built at $BIN"

TMP="$(mktemp -d)"
SSHD_PID=""
cleanup() {
  if [ -n "$SSHD_PID" ]; then kill "$SSHD_PID" 2>/dev/null || true; wait "$SSHD_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

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
SSHD_PID=$!
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$SSH_PORT") 2>/dev/null && break
  sleep 0.1
done
SSH=(ssh -p "$SSH_PORT" -i "$TMP/client_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  -o BatchMode=yes -o LogLevel=ERROR "$(id -un)@127.0.0.1")
"${SSH[@]}" true 2>"$TMP/ssh.err" || { cat "$TMP/ssh.err" "$TMP/sshd.log" >&2; die "cannot log in to the local sshd"; }
CIPHER="$(ssh -v -p "$SSH_PORT" -i "$TMP/client_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
  -o BatchMode=yes "$(id -un)@127.0.0.1" true 2>&1 | sed -n 's/.*client->server cipher: \([^ ]*\).*/\1/p' | head -1)"

now() { date +%s.%N; }
# best A B: the larger of two numbers (A may be empty).
best() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 > a + 0) print b; else print a }'; }
field() { awk -v k="$1" '$1 == k { print $2 }'; }

# ssh_mbps: BYTES through ssh into `cat > /dev/null` on the sshd side, minus ssh's own connection
# setup (measured with an empty transfer in the same round).
ssh_mbps() {
  local s0 e0 s1 e1
  s0="$(now)"; "${SSH[@]}" 'cat > /dev/null' </dev/null; e0="$(now)"
  s1="$(now)"; head -c "$BYTES" /dev/zero | "${SSH[@]}" 'cat > /dev/null'; e1="$(now)"
  awk -v b="$BYTES" -v t="$(awk -v a="$s1" -v b="$e1" -v c="$s0" -v d="$e0" 'BEGIN { print (b - a) - (d - c) }')" \
    'BEGIN { printf "%.1f", b / t / 1e6 }'
}

log "throughput: $((BYTES >> 20)) MiB in 64 KiB writes, $ROUNDS rounds (ssh cipher: ${CIPHER:-default})"
OURS="" SSHB="" TCP=""
for round in $(seq 1 "$ROUNDS"); do
  o="$("$BIN" throughput --bytes "$BYTES" | field secret_stream_mbps)"
  s="$(ssh_mbps)"
  t="$("$BIN" tcp --bytes "$BYTES" | field tcp_mbps)"
  printf '  round %d: secret-stream %8.1f MB/s   ssh %8.1f MB/s   plain TCP %8.1f MB/s\n' "$round" "$o" "$s" "$t"
  OURS="$(best "$OURS" "$o")"; SSHB="$(best "$SSHB" "$s")"; TCP="$(best "$TCP" "$t")"
done

log "handshakes: $HS_CONCURRENCY concurrent clients for ${HS_SECONDS}s, ceiling from $CORES-thread scalar multiplication"
HS="" SM=""
for round in $(seq 1 "$ROUNDS"); do
  sm="$("$BIN" scalarmult --seconds 2 --concurrency "$CORES" | field scalarmult_per_second)"
  hs="$("$BIN" handshakes --seconds "$HS_SECONDS" --concurrency "$HS_CONCURRENCY" | field handshakes_per_second)"
  c="$(awk -v s="$sm" 'BEGIN { printf "%.1f", s / 8 }')"
  r="$(awk -v h="$hs" -v c="$c" 'BEGIN { printf "%.1f", 100 * h / c }')"
  printf '  round %d: %8.1f handshakes/s   scalarmult %8.1f ops/s -> ceiling %7.1f/s   %5.1f%%\n' \
    "$round" "$hs" "$sm" "$c" "$r"
  HS="$(best "$HS" "$hs")"; SM="$(best "$SM" "$sm")"
done
# Like the throughput figures, both sides of the ratio are the best of their rounds.
CEIL="$(awk -v s="$SM" 'BEGIN { printf "%.1f", s / 8 }')"
RATIO="$(awk -v h="$HS" -v c="$CEIL" 'BEGIN { printf "%.1f", 100 * h / c }')"

verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 >= t + 0) ? "target met" : "BELOW TARGET" }'; }
SSH_RATIO="$(awk -v a="$OURS" -v b="$SSHB" 'BEGIN { printf "%.2f", a / b }')"
TCP_RATIO="$(awk -v a="$OURS" -v b="$TCP" 'BEGIN { printf "%.2f", a / b }')"
echo
echo "swarm benchmark (best of $ROUNDS rounds, $CORES cores)"
printf '  %-42s %10.1f MB/s\n' "secret stream (XChaCha20-Poly1305)" "$OURS"
printf '  %-42s %10.1f MB/s\n' "ssh -> sshd (${CIPHER:-default cipher})" "$SSHB"
printf '  %-42s %10.1f MB/s\n' "plain TCP" "$TCP"
printf '  %-42s %10sx  (target >= 2x: %s)\n' "secret stream / ssh" "$SSH_RATIO" "$(verdict "$SSH_RATIO" 2)"
printf '  %-42s %10sx\n' "secret stream / plain TCP" "$TCP_RATIO"
printf '  %-42s %10.1f /s\n' "IK handshakes + first round trip" "$HS"
printf '  %-42s %10.1f /s\n' "ceiling (scalarmult ops/s / 8)" "$CEIL"
printf '  %-42s %10s%%  (target >= 80%%: %s)\n' "handshakes / ceiling" "$RATIO" "$(verdict "$RATIO" 80)"

# HRPC round trips come from H5's bench-hrpc when it has real sources.
if grep -qsl "func main\|@main" Tests/Bench/bench-hrpc/*.swift; then
  log "building bench-hrpc (release)"
  swift build -c release --scratch-path "$SCRATCH" --product bench-hrpc >&2
  echo
  "$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/bench-hrpc"
else
  echo "bench-hrpc has no sources yet; HRPC round trips not measured" >&2
fi
