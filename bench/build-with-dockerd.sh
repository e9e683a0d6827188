#!/usr/bin/env bash
# Runs the Dockerfile build bench (dist/bench/build.js) with a private dockerd (Debian's docker.io,
# installed by bench/with-dockerd.sh if missing) as the peer, then stops that dockerd and its
# containerd and removes their directories. For the benchmark only; needs root.
#
#   bench/build-with-dockerd.sh [build.js options: --files 1000 --runs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
SOCK=/tmp/bench-build-dockerd.sock
DATA=/tmp/bench-build-dockerd
EXEC=/tmp/bench-build-dockerd-exec
PIDFILE=/tmp/bench-build-dockerd.pid
LOG=/tmp/bench-build-dockerd.log
CLI=/usr/local/bin/docker
say() { echo "[build-with-dockerd] $*" >&2; }

. bench/private-dockerd.sh
start_private_dockerd
npm run build >/tmp/bench-build-build.log 2>&1 || [ -f dist/bench/build.js ] || { say "build failed, see /tmp/bench-build-build.log"; exit 1; }
node dist/bench/build.js --peer "unix://$SOCK" --peer-name dockerd --docker "$CLI" "$@"
