#!/usr/bin/env bash
# Runs the registry push/pull bench (dist/bench/registry.js) with a private dockerd (Debian's
# docker.io, installed by bench/with-dockerd.sh if missing) as the peer, then stops that dockerd
# and its containerd and removes their directories. The bench starts its own docker-registry
# processes on 127.0.0.1 (one per daemon and run, empty storage) and stops them. Needs root.
#
#   bench/registry-with-dockerd.sh [registry.js options: --size-mb 200 --layers 5 --runs 3 --json]
#   bench/registry-with-dockerd.sh --dockerd-only [...]   dockerd alone (no berthd)
set -euo pipefail
cd "$(dirname "$0")/.."
SOCK=/tmp/bench-reg-dockerd.sock
DATA=/tmp/bench-reg-dockerd
EXEC=/tmp/bench-reg-dockerd-exec
PIDFILE=/tmp/bench-reg-dockerd.pid
LOG=/tmp/bench-reg-dockerd.log
CLI=/usr/local/bin/docker
say() { echo "[registry-with-dockerd] $*" >&2; }
[ -x /usr/bin/docker-registry ] || { say "/usr/bin/docker-registry missing: apt-get install docker-registry"; exit 1; }
extra=()
if [ "${1:-}" = --dockerd-only ]; then extra=(--no-berth); shift; fi

. bench/private-dockerd.sh
start_private_dockerd
npm run build >/tmp/bench-reg-build.log 2>&1 || [ -f dist/bench/registry.js ] || { say "build failed, see /tmp/bench-reg-build.log"; exit 1; }
node dist/bench/registry.js --peer "unix://$SOCK" --peer-name dockerd --docker "$CLI" "${extra[@]}" "$@"
