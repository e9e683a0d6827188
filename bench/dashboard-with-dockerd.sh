#!/usr/bin/env bash
# Points `berth dashboard` at a private dockerd (Debian's docker.io; bench/with-dockerd.sh installs
# it if missing) and checks that its main pages load there, with headless chromium: the same
# bench as dist/bench/dashboard.js, against dockerd instead of a berthd. Stops dockerd and its
# containerd at the end and removes their directories. For the benchmark only; needs root.
#
#   bench/dashboard-with-dockerd.sh [--containers 20]
set -euo pipefail
cd "$(dirname "$0")/.."
SOCK=/tmp/bench-dash-dockerd.sock
DATA=/tmp/bench-dash-dockerd
EXEC=/tmp/bench-dash-dockerd-exec
PIDFILE=/tmp/bench-dash-dockerd.pid
LOG=/tmp/bench-dash-dockerd.log
CLI=/usr/local/bin/docker
say() { echo "[dashboard-with-dockerd] $*" >&2; }

. bench/private-dockerd.sh
start_private_dockerd
npm run build >/tmp/bench-dash-build.log 2>&1 || [ -f dist/bench/dashboard.js ] || { say "build failed, see /tmp/bench-dash-build.log"; exit 1; }
node dist/bench/dashboard.js --host "unix://$SOCK" --docker "$CLI" --containers 20 "$@"
