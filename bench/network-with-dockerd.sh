#!/usr/bin/env bash
# Runs the network bench (dist/bench/network.js: `run --rm IMG true` on the default bridge and
# with --network none) on berthd and on a private dockerd with its default bridge, in
# alternating rounds; then stops that dockerd and removes its directories. Benchmark only.
#
#   bench/network-with-dockerd.sh [--runs N]
#
# dockerd gets docker0 on 10.251.0.0/24 without iptables rules (--iptables=false): it does
# less work per container than with NAT, so the comparison leans its way; the host's firewall
# (which other daemons on the machine use) is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
SOCK=/tmp/bench-net-dockerd.sock
DATA=/tmp/bench-net-dockerd
EXEC=/tmp/bench-net-dockerd-exec
PIDFILE=/tmp/bench-net-dockerd.pid
LOG=/tmp/bench-net-dockerd.log
CLI=/usr/local/bin/docker
say() { echo "[network-with-dockerd] $*" >&2; }
if ip link show docker0 >/dev/null 2>&1; then say "docker0 exists (another dockerd?): not starting one"; exit 1; fi
DOCKERD_NET_ARGS="--iptables=false --ip-masq=false --bip 10.251.0.1/24"
. bench/private-dockerd.sh
start_private_dockerd
cleanup_bridge() { stop_all; ip link del docker0 2>/dev/null || true; }
trap cleanup_bridge EXIT
npm run build >/tmp/bench-net-build.log 2>&1 || [ -f dist/bench/network.js ] || { say "build failed"; exit 1; }
node dist/bench/network.js --peer "unix://$SOCK" --peer-name dockerd --docker "$CLI" "$@"
