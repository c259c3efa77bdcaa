#!/usr/bin/env bash
# scripts/bench kube — the Kubernetes provider's control path (bench-kube, release build) against
# the in-process fake API server (KubeTesting) and its simulated KubeVirt/CDI controller:
#   1. JOBS GPU Container jobs applied through the job runtime (server-side apply of each job's
#      graph, CONCURRENCY at a time): API calls per job, seconds until every job is running (root
#      disk import, VMI scheduling and boot simulated), the process's resident memory (worker and
#      fake server together), watch events delivered;
#   2. watch events per second one informer processes (EVENTS updates of one object).
# There is no external peer: the fake API server is in-process and is measured with the worker.
# Environment: JOBS (1000), CONCURRENCY (32), EVENTS (100000), SCRATCH (.build).
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"

SCRATCH="${SCRATCH:-$ROOT/.build}"
log "building bench-kube (release)"
swift build -c release --scratch-path "$SCRATCH" --product bench-kube >&2 \
  || die "bench-kube did not build (is its target in Package.swift?)"
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/bench-kube"
[ -x "$BIN" ] || die "bench-kube was not built at $BIN"
JOBS="${JOBS:-1000}" CONCURRENCY="${CONCURRENCY:-32}" EVENTS="${EVENTS:-100000}" "$BIN"
