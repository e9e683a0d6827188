#!/usr/bin/env bash
# Runs the container-lifecycle bench (dist/bench/lifecycle.js: exec, logs, logs --tail, cp) with
# a private dockerd (Debian's docker.io, installed by bench/with-dockerd.sh if missing) as the
# peer, then stops that dockerd and its containerd and removes their directories. Needs root.
#
#   bench/lifecycle-with-dockerd.sh [lifecycle.js options: --runs 20 --tail-runs 200 --cp-runs 5 --log-mb 100 --cp-mb 100]
set -euo pipefail
cd "$(dirname "$0")/.."
SOCK=/tmp/bench-life-dockerd.sock
DATA=/tmp/bench-life-dockerd
EXEC=/tmp/bench-life-dockerd-exec
PIDFILE=/tmp/bench-life-dockerd.pid
LOG=/tmp/bench-life-dockerd.log
CLI=/usr/local/bin/docker
say() { echo "[lifecycle-with-dockerd] $*" >&2; }

. bench/private-dockerd.sh
start_private_dockerd
npm run build >/tmp/bench-life-build.log 2>&1 || [ -f dist/bench/lifecycle.js ] || { say "build failed, see /tmp/bench-life-build.log"; exit 1; }
node dist/bench/lifecycle.js --peer "unix://$SOCK" --peer-name dockerd --docker "$CLI" "$@"
